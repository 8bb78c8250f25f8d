"""The RBAC commands without -f: the policy is read from the server the kubeconfig names, as
kubectl reaches it (KUBECONFIG's files merged, --context, client certificates, bearer tokens,
tls-server-name, insecure-skip-tls-verify), and every answer equals the answer on the same
objects as manifests."""

import base64
import json
import pathlib
import subprocess

import pytest
import yaml

from harness import KUBEWARD, Server, user_kubeconfig
from test_audit_rbac import ROLES as PLANTED
from test_explain import CASES, MANIFESTS, MORE


def run(*args, env=None):
    return subprocess.run([str(KUBEWARD), *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    d = tmp_path_factory.mktemp("online-manifests")
    (d / "rbac.yaml").write_text(MANIFESTS)
    (d / "more.yaml").write_text(MORE)
    (d / "planted.yaml").write_text(PLANTED)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory, manifests):
    s = Server(data_dir=tmp_path_factory.mktemp("online-server"))
    s.kubectl("1.33", "apply", "-f", str(manifests / "rbac.yaml"))
    more = yaml.safe_load(MORE)
    for item in more["items"]:
        item["apiVersion"] = "rbac.authorization.k8s.io/v1"
    s.kubectl("1.33", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": more["items"]}))
    s.kubectl("1.33", "apply", "-f", str(manifests / "planted.yaml"))
    yield s
    s.stop()


def test_every_command_answers_as_on_the_same_manifests(server, manifests):
    offline = ["-f", str(manifests)]
    online = ["--kubeconfig", server.kubeconfig]
    for _, ask in CASES:
        a, b = run("explain", *ask.split(), *offline, "-o", "json"), run("explain", *ask.split(), *online, "-o", "json")
        assert a.returncode in (0, 1) and (a.returncode, a.stdout) == (b.returncode, b.stdout), (ask, b.stderr)
    for ask in ["get pods -n dev", "get secrets web-tls -n dev", "create pods/exec -n dev", "get /metrics", "impersonate users"]:
        a, b = run("who-can", *ask.split(), *offline, "-o", "json"), run("who-can", *ask.split(), *online, "-o", "json")
        assert a.returncode == 0 and a.stdout == b.stdout, (ask, b.stderr)
        assert len(json.loads(b.stdout)["allowed"]) > 1
    for who in [["--as", "alice", "-n", "dev"], ["--as", "bob", "--as-group", "ops", "-n", "prod"], ["--as", "prometheus"]]:
        a, b = run("access-matrix", *who, *offline, "-o", "json"), run("access-matrix", *who, *online, "-o", "json")
        assert a.returncode == 0 and a.stdout == b.stdout, (who, b.stderr)
    a, b = run("audit-rbac", *offline, "-o", "json"), run("audit-rbac", *online, "-o", "json")
    assert a.returncode == 0 and a.stdout == b.stdout, b.stderr
    ids = {f["id"] for f in json.loads(b.stdout)["findings"]}
    assert {"KW001", "KW002", "KW100"} <= ids, ids
    # Online findings have no manifest to point at; SARIF names the binding only.
    sarif = json.loads(run("audit-rbac", *online, "-o", "sarif").stdout)
    located = [r["locations"][0] for r in sarif["runs"][0]["results"] if "locations" in r]
    assert located and all("physicalLocation" not in loc and loc["logicalLocations"] for loc in located)


def test_kubeconfig_as_kubectl_reads_it(server, tmp_path):
    cfg = yaml.safe_load(pathlib.Path(server.kubeconfig).read_text())
    # A second file that names a dead server as its current context, and the working context
    # under another name: KUBECONFIG's first file sets the current context, --context picks.
    dead = {
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": cfg["users"][0]["name"]}},
                     {"name": "live", "context": cfg["contexts"][0]["context"]}],
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1", "certificate-authority-data":
                                                  cfg["clusters"][0]["cluster"]["certificate-authority-data"]}}],
    }
    (tmp_path / "dead").write_text(yaml.safe_dump(dead))
    env = dict(__import__("os").environ, KUBECONFIG=f"{tmp_path / 'missing'}:{tmp_path / 'dead'}:{server.kubeconfig}")
    down = run("who-can", "get", "pods", env=env)
    assert down.returncode == 2 and "connecting to https://127.0.0.1:1" in down.stderr, down.stderr
    up = run("who-can", "get", "pods", "--context", "live", env=env)
    assert up.returncode == 0 and "ClusterRoleBinding cluster-admin" in up.stdout, up.stderr
    # -f and --kubeconfig do not mix.
    both = run("who-can", "get", "pods", "-f", "x.yaml", "--kubeconfig", server.kubeconfig)
    assert both.returncode == 2 and both.stderr.strip() == (
        "kubeward who-can: --kubeconfig names the server to read instead of -f: give one or the other"), both.stderr

    # Files beside the kubeconfig, named relative to it; tls-server-name checked against the
    # serving certificate's names; a CA that did not sign it refused.
    pki = server.data_dir / "pki"
    (tmp_path / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    (tmp_path / "admin.crt").write_bytes((pki / "admin.crt").read_bytes())
    (tmp_path / "admin.key").write_bytes((pki / "admin.key").read_bytes())
    port = cfg["clusters"][0]["cluster"]["server"].rsplit(":", 1)[1]

    def config(cluster):
        return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"client-certificate": "admin.crt", "client-key": "admin.key"}}]}

    def who_can(cluster):
        (tmp_path / "cfg").write_text(yaml.safe_dump(config(cluster)))
        return run("who-can", "get", "pods", "--kubeconfig", str(tmp_path / "cfg"))

    ok = who_can({"server": f"https://localhost:{port}", "certificate-authority": "ca.crt", "tls-server-name": "127.0.0.1"})
    assert ok.returncode == 0, ok.stderr
    wrong_name = who_can({"server": f"https://127.0.0.1:{port}", "certificate-authority": "ca.crt",
                          "tls-server-name": "elsewhere.example"})
    assert wrong_name.returncode == 2 and "certificate" in wrong_name.stderr.lower(), wrong_name.stderr
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(other / "k"), "-out", str(tmp_path / "other-ca.crt"), "-subj", "/CN=other", "-days", "1"],
                   check=True, capture_output=True)
    untrusted = who_can({"server": f"https://127.0.0.1:{port}", "certificate-authority": "other-ca.crt"})
    assert untrusted.returncode == 2 and "UnknownIssuer" in untrusted.stderr, untrusted.stderr
    insecure = who_can({"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True})
    assert insecure.returncode == 0, insecure.stderr


def test_the_callers_own_rights_decide(server, tmp_path):
    # A user who may not list RBAC objects is told so, in kubectl's words.
    carol = user_kubeconfig(server, "carol")
    denied = run("who-can", "get", "pods", "--kubeconfig", carol)
    assert denied.returncode == 2
    assert "listing clusterroles.rbac.authorization.k8s.io: Error from server (Forbidden)" in denied.stderr, denied.stderr
    assert 'User "carol" cannot list resource "clusterroles"' in denied.stderr
    # A service account's token (tokenFile), allowed to list them, reads the same policy.
    server.kubectl("1.33", "create", "serviceaccount", "auditor", "-n", "default")
    server.kubectl("1.33", "create", "clusterrole", "rbac-reader", "--verb=list",
                   "--resource=roles.rbac.authorization.k8s.io,clusterroles.rbac.authorization.k8s.io,"
                   "rolebindings.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io")
    server.kubectl("1.33", "create", "clusterrolebinding", "auditor-reads", "--clusterrole=rbac-reader",
                   "--serviceaccount=default:auditor")
    token = server.kubectl("1.33", "create", "token", "auditor", "-n", "default").stdout.strip()
    (tmp_path / "token").write_text(token + "\n")
    cfg = yaml.safe_load(pathlib.Path(server.kubeconfig).read_text())
    cfg["users"][0]["user"] = {"tokenFile": "token"}
    (tmp_path / "cfg").write_text(yaml.safe_dump(cfg))
    got = run("who-can", "list", "clusterroles.rbac.authorization.k8s.io", "--kubeconfig", str(tmp_path / "cfg"), "-o", "json")
    assert got.returncode == 0, got.stderr
    names = {r["name"] for r in json.loads(got.stdout)["allowed"]}
    assert "system:serviceaccount:default:auditor" in names
    # A token that is not one: 401, said as kubectl says it.
    cfg["users"][0]["user"] = {"token": base64.b64encode(b"not a token").decode()}
    (tmp_path / "bad").write_text(yaml.safe_dump(cfg))
    bad = run("who-can", "get", "pods", "--kubeconfig", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "Error from server (Unauthorized)" in bad.stderr, bad.stderr


def create(server, version, obj, kubeconfig=None):
    # A user other than the administrator may not list CRDs, which kubectl 1.27-1.33 does before
    # it creates a kind with no PATCH (as against kube-apiserver): --validate=false skips that.
    validate = ["--validate=false"] if kubeconfig else []
    return server.kubectl(version, "create", "-f", "-", *validate, "-o", "json", input=json.dumps(obj), check=False,
                          kubeconfig=kubeconfig)


def who_can_review(attrs):
    key = "nonResourceAttributes" if "path" in attrs else "resourceAttributes"
    return {"apiVersion": "access.kubeward.io/v1alpha1", "kind": "WhoCanReview", "spec": {key: attrs}}


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_who_can_and_the_matrix_through_the_api(server, manifests, version):
    # Any client asks the server: the rows are the CLI's, from the server's own index.
    for ask, attrs in [("get pods -n dev", {"verb": "get", "resource": "pods", "namespace": "dev"}),
                       ("get secrets web-tls -n dev", {"verb": "get", "resource": "secrets", "name": "web-tls", "namespace": "dev"}),
                       ("get /metrics", {"verb": "get", "path": "/metrics"}),
                       ("create rolebindings.rbac.authorization.k8s.io -n prod",
                        {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "rolebindings", "namespace": "prod"})]:
        got = create(server, version, who_can_review(attrs))
        assert got.returncode == 0, got.stderr
        status = json.loads(got.stdout)["status"]
        cli = json.loads(run("who-can", *ask.split(), "-f", str(manifests), "-o", "json").stdout)["allowed"]
        assert status["subjects"] == cli and status["hiddenSubjects"] == 0, ask
    for user, groups, ns in [("alice", [], "dev"), ("bob", ["ops"], "prod"), ("prometheus", [], "")]:
        spec = {"user": user, "groups": groups + ["system:authenticated"]}
        if ns:
            spec["resourceAttributes"] = {"namespace": ns}
        got = create(server, version, {"apiVersion": "access.kubeward.io/v1alpha1", "kind": "AccessMatrixReview", "spec": spec})
        assert got.returncode == 0, got.stderr
        status = json.loads(got.stdout)["status"]
        args = ["--as", user] + sum((["--as-group", g] for g in groups), []) + (["-n", ns] if ns else [])
        cli = json.loads(run("access-matrix", *args, "-f", str(manifests), "-o", "json").stdout)
        assert status["resources"] == cli["resources"] and status["namespace"] == ns, user
        assert status["verbs"][0] == "get"
        # (prometheus holds only /metrics: an empty row everywhere.)
        assert any(status["resources"].values()) == (user != "prometheus")


def test_the_api_is_authorized_and_shows_only_visible_bindings(server):
    carol = user_kubeconfig(server, "carol-api", name="carol-api")
    review = who_can_review({"verb": "get", "resource": "pods", "namespace": "dev"})
    denied = create(server, "1.33", review, kubeconfig=carol)
    assert denied.returncode != 0
    assert ('whocanreviews.access.kubeward.io is forbidden: User "carol-api" cannot create resource "whocanreviews" '
            'in API group "access.kubeward.io" at the cluster scope') in denied.stderr, denied.stderr
    # Allowed to ask, and to get the RoleBindings of dev only: the cluster-wide rows are hidden
    # and counted, dev's shown.
    server.kubectl("1.33", "create", "clusterrole", "who-can-asker", "--verb=create",
                   "--resource=whocanreviews.access.kubeward.io,accessmatrixreviews.access.kubeward.io")
    server.kubectl("1.33", "create", "clusterrolebinding", "carol-asks", "--clusterrole=who-can-asker", "--user=carol-api")
    server.kubectl("1.33", "create", "role", "binding-reader", "-n", "dev", "--verb=get",
                   "--resource=rolebindings.rbac.authorization.k8s.io")
    server.kubectl("1.33", "create", "rolebinding", "carol-reads", "-n", "dev", "--role=binding-reader", "--user=carol-api")
    full = json.loads(create(server, "1.33", review).stdout)["status"]
    mine = create(server, "1.33", review, kubeconfig=carol)
    assert mine.returncode == 0, mine.stderr
    status = json.loads(mine.stdout)["status"]
    shown = [r for r in full["subjects"] if r.get("privileged") or r["binding"]["namespace"] == "dev"]
    assert status["subjects"] == shown
    assert status["hiddenSubjects"] == len(full["subjects"]) - len(shown) > 0
    assert {r["binding"]["name"] for r in shown if "binding" in r} == {"alice-reads"}
    # A who-can review names no user; a matrix names one, and is for resources only.
    bad = create(server, "1.33", {**review, "spec": {**review["spec"], "user": "alice"}})
    assert bad.returncode != 0 and "spec.user: Invalid value" in bad.stderr, bad.stderr
    no_user = create(server, "1.33", {"apiVersion": "access.kubeward.io/v1alpha1", "kind": "AccessMatrixReview", "spec": {}})
    assert no_user.returncode != 0 and "at least one of user or group must be specified" in no_user.stderr
    urls = create(server, "1.33", {"apiVersion": "access.kubeward.io/v1alpha1", "kind": "AccessMatrixReview",
                                   "spec": {"user": "alice", "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}})
    assert urls.returncode != 0 and "spec.nonResourceAttributes" in urls.stderr
