"""Keys where kube-apiserver keeps them (#14), and the move from kubeward's earlier layout: a data
directory written before (grouped kinds under their group, nodes, services and endpoints under
their plain names) is moved at start, every object kept with its uid."""

import json
import sqlite3
from contextlib import closing

from harness import Server

# The earlier layout of each kind whose key moved (new prefix → old prefix).
EARLIER = [
    ("/registry/clusterroles/", "/registry/rbac.authorization.k8s.io/clusterroles/"),
    ("/registry/clusterrolebindings/", "/registry/rbac.authorization.k8s.io/clusterrolebindings/"),
    ("/registry/roles/", "/registry/rbac.authorization.k8s.io/roles/"),
    ("/registry/rolebindings/", "/registry/rbac.authorization.k8s.io/rolebindings/"),
    ("/registry/leases/", "/registry/coordination.k8s.io/leases/"),
    ("/registry/endpointslices/", "/registry/discovery.k8s.io/endpointslices/"),
    ("/registry/minions/", "/registry/nodes/"),
    ("/registry/services/specs/", "/registry/services/"),
    ("/registry/services/endpoints/", "/registry/endpoints/"),
    ("/registry/ipaddresses/", "/registry/networking.k8s.io/ipaddresses/"),
]


def live_keys(db):
    """Every key whose newest row is not a deletion."""
    with closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT key, deleted FROM kv k WHERE rev = (SELECT MAX(rev) FROM kv WHERE key = k.key)").fetchall()
    return {k for k, deleted in rows if not deleted}


def uids(s, *what):
    return {o["metadata"]["name"]: o["metadata"]["uid"]
            for o in json.loads(s.kubectl("1.33", "get", *what, "-o", "json").stdout)["items"]}


def cluster_ips(s):
    items = json.loads(s.kubectl("1.33", "get", "services", "-A", "-o", "json").stdout)["items"]
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"]["clusterIP"] for o in items}


def test_keys_are_kube_apiservers_and_an_earlier_layout_moves_at_start():
    s = Server()
    try:
        k = lambda *a: s.kubectl("1.33", *a)
        k("create", "clusterrole", "legacy", "--verb=get", "--resource=pods")
        k("create", "role", "legacy", "--verb=get", "--resource=pods")
        k("create", "rolebinding", "legacy", "--role=legacy", "--user=ann")
        k("create", "service", "clusterip", "web", "--tcp=80:8080")
        # A Service in a namespace named `specs`: in the earlier layout its key was
        # /registry/services/specs/web, which the new layout's prefix also starts with.
        k("create", "namespace", "specs")
        k("create", "service", "clusterip", "web", "-n", "specs", "--tcp=80:8080")
        status, _, _ = s.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        assert status == 201
        status, _, _ = s.request("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases",
                                 {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "held"}})
        assert status == 201
        before = {what: uids(s, *what) for what in [("clusterroles",), ("roles",), ("rolebindings",), ("nodes",),
                                                      ("services", "-A"), ("leases", "-A")]}
        ips = cluster_ips(s)

        s.stop()
        db = s.data_dir / "state.db"
        # The server holds its database file locked: read it while the server is down.
        keys = live_keys(db)
        # Upstream's ExpectedEtcdPath for each.
        for key in ["/registry/clusterroles/legacy", "/registry/clusterroles/admin", "/registry/roles/default/legacy",
                    "/registry/rolebindings/default/legacy", "/registry/minions/n1", "/registry/services/specs/default/web",
                    "/registry/services/specs/specs/web", "/registry/services/endpoints/default/kubernetes",
                    "/registry/endpointslices/default/kubernetes", "/registry/leases/default/held",
                    "/registry/serviceaccounts/default/default", "/registry/namespaces/default"]:
            assert key in keys, sorted(keys)
        assert any(key.startswith("/registry/ipaddresses/") for key in keys)
        assert not any(key.startswith("/registry/rbac.authorization.k8s.io/") for key in keys)
        # Rewrite the whole history into the earlier layout, as an earlier kubeward wrote it.
        with closing(sqlite3.connect(db)) as c:
            for new, old in EARLIER:
                c.execute("UPDATE kv SET key = ? || substr(key, ?) WHERE key LIKE ? || '%'", (old, len(new) + 1, new))
            c.commit()
        earlier = live_keys(db)
        assert "/registry/rbac.authorization.k8s.io/clusterroles/legacy" in earlier
        assert "/registry/services/specs/web" in earlier and "/registry/services/default/web" in earlier

        s.start()
        assert "keys moved to kube-apiserver's layout" in s.server_log()
        for what, was in before.items():
            assert uids(s, *what) == was, what  # moved, not made again
        assert cluster_ips(s) == ips
        # The moved policy still decides: ann may get pods, not list them.
        assert k("auth", "can-i", "get", "pods", "--as", "ann").stdout.strip() == "yes"
        # A new Service does not take a moved Service's address.
        k("create", "service", "clusterip", "api", "--tcp=80:8080")
        api_ip = json.loads(k("get", "service", "api", "-o", "json").stdout)["spec"]["clusterIP"]
        assert api_ip not in ips.values()
        s.stop()
        assert live_keys(db) == keys | {"/registry/services/specs/default/api", f"/registry/ipaddresses/{api_ip}"}
        # A second start moves nothing.
        s.start()
        assert s.server_log().count("keys moved to kube-apiserver's layout") == 1
    finally:
        s.stop()
