"""The node agent in fake mode (kwok's job): a Node registers and heartbeats, pods are bound
to it and reported Running with the kubelet's conditions, deletions wait out their grace
period, and the agent's own identity is held to what the Node authorizer and NodeRestriction
allow a kubelet."""

import json
import pathlib

import pytest

from harness import Server, eventually

NODE = "kw-node"
AS_NODE = ["--as", f"system:node:{NODE}", "--as-group", "system:nodes"]
AS_OTHER = ["--as", "system:node:other", "--as-group", "system:nodes"]


@pytest.fixture(scope="module")
def fake():
    s = Server(args=["--node-agent", "fake", "--node-name", NODE])
    yield s
    s.stop()


def get(server, *args):
    return json.loads(server.kubectl("1.33", "get", *args, "-o", "json").stdout)


def children(pid):
    """Every descendant of a process, by /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in pathlib.Path(f"/proc/{p}/task").iterdir():
            kids = (task / "children").read_text().split()
            out += kids
            todo += [int(k) for k in kids]
    return out


def test_the_node_registers_ready_with_a_heartbeat_lease(fake):
    node = get(fake, "node", NODE, "--show-managed-fields")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert [c["type"] for c in node["status"]["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert int(node["status"]["capacity"]["cpu"]) >= 1
    assert node["status"]["capacity"]["pods"] == "110"
    assert node["status"]["nodeInfo"]["operatingSystem"] == "linux"
    # Written by the kubelet's identity, as managedFields tell.
    managers = {m["manager"] for m in node["metadata"]["managedFields"]}
    assert managers == {"kubelet"}, managers
    lease = get(fake, "-n", "kube-node-lease", "lease", NODE)
    assert lease["spec"]["holderIdentity"] == NODE
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    wide = fake.kubectl("1.27", "get", "nodes", "-o", "wide").stdout
    assert NODE in wide and "Ready" in wide and "v1.33.0" in wide


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_a_hundred_pods_run_with_the_kubelets_conditions_and_no_process(fake, version):
    ns = "fake-" + version.replace(".", "")
    fake.kubectl(version, "create", "ns", ns)
    docs = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": ns},
             "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}
            for i in range(100)]
    fake.kubectl(version, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def all_running():
        items = get(fake, "-n", ns, "pods")["items"]
        return len(items) == 100 and all(p["status"].get("phase") == "Running" for p in items)

    eventually(all_running, 30.0, "100 pods Running")
    for p in get(fake, "-n", ns, "pods")["items"]:
        s = p["status"]
        assert p["spec"]["nodeName"] == NODE
        assert [(c["type"], c["status"]) for c in s["conditions"]] == [
            ("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", "True"),
            ("ContainersReady", "True"), ("PodScheduled", "True")]
        assert s["hostIP"] == s["podIP"] == "127.0.0.1"
        assert s["startTime"]
        (cs,) = s["containerStatuses"]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
        assert cs["state"]["running"]["startedAt"]
    table = fake.kubectl(version, "-n", ns, "get", "pods").stdout
    assert table.count("Running") == 100 and table.count("1/1") == 100
    # Fake mode starts nothing.
    assert children(fake.proc.pid) == []


def test_a_pod_for_another_node_or_scheduler_stays_pending(fake):
    fake.kubectl("1.33", "create", "ns", "pending")
    docs = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "elsewhere", "namespace": "pending"},
         "spec": {"nodeName": "other-node", "containers": [{"name": "c", "image": "busybox"}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "custom", "namespace": "pending"},
         "spec": {"schedulerName": "my-scheduler", "containers": [{"name": "c", "image": "busybox"}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mine", "namespace": "pending"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    ]
    for d in docs:
        fake.kubectl("1.33", "apply", "-f", "-", input=json.dumps(d))
    eventually(lambda: get(fake, "-n", "pending", "pod", "mine")["status"]["phase"] == "Running", 10.0, "mine Running")
    # Watched by the same agent and binder as "mine", which is done: they had their chance.
    assert get(fake, "-n", "pending", "pod", "elsewhere")["status"]["phase"] == "Pending"
    custom = get(fake, "-n", "pending", "pod", "custom")
    assert custom["status"]["phase"] == "Pending" and "nodeName" not in custom["spec"]


def test_deletion_waits_out_the_grace_period_then_the_pod_goes(fake):
    fake.kubectl("1.33", "create", "ns", "grace")
    fake.kubectl("1.33", "-n", "grace", "run", "g", "--image=busybox", "--restart=Never")
    eventually(lambda: get(fake, "-n", "grace", "pod", "g")["status"]["phase"] == "Running", 10.0, "Running")
    # Without waiting: the object stays, Terminating, with deletionTimestamp ahead.
    fake.kubectl("1.33", "-n", "grace", "delete", "pod", "g", "--grace-period=3", "--wait=false")
    pod = get(fake, "-n", "grace", "pod", "g")
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 3
    assert "Terminating" in fake.kubectl("1.33", "-n", "grace", "get", "pod", "g").stdout
    # A longer grace period does not lengthen it; the agent removes it when it is over.
    fake.kubectl("1.33", "-n", "grace", "delete", "pod", "g", "--grace-period=60", "--wait=false")
    assert get(fake, "-n", "grace", "pod", "g")["metadata"]["deletionGracePeriodSeconds"] == 3
    eventually(lambda: fake.kubectl("1.33", "-n", "grace", "get", "pod", "g", check=False).returncode != 0, 10.0, "pod gone")
    # A pod bound to no node (its scheduler is not running) goes at once; one bound to a
    # node without an agent waits, as upstream, until that kubelet (or a forced delete).
    fake.kubectl("1.33", "-n", "grace", "apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nowhere"},
         "spec": {"schedulerName": "absent", "containers": [{"name": "c", "image": "busybox"}]}}))
    fake.kubectl("1.33", "-n", "grace", "apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan"},
         "spec": {"nodeName": "other-node", "containers": [{"name": "c", "image": "busybox"}]}}))
    fake.kubectl("1.33", "-n", "grace", "delete", "pod", "orphan", "--wait=false")
    assert get(fake, "-n", "grace", "pod", "orphan")["metadata"]["deletionGracePeriodSeconds"] == 30
    fake.kubectl("1.33", "-n", "grace", "delete", "pod", "orphan", "--grace-period=0", "--force")
    assert fake.kubectl("1.33", "-n", "grace", "get", "pod", "orphan", check=False).returncode != 0
    out = fake.kubectl("1.33", "-n", "grace", "delete", "pod", "nowhere", "--wait=false").stdout
    assert "deleted" in out
    assert fake.kubectl("1.33", "-n", "grace", "get", "pod", "nowhere", check=False).returncode != 0


def test_the_node_identity_gets_what_the_node_authorizer_allows_and_no_more(fake):
    ns = "nodeauthz"
    fake.kubectl("1.33", "create", "ns", ns)
    for name in ["mounted", "unrelated"]:
        fake.kubectl("1.33", "-n", ns, "create", "secret", "generic", name, "--from-literal=k=v")
    fake.kubectl("1.33", "-n", ns, "apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}],
                  "volumes": [{"name": "v", "secret": {"secretName": "mounted"}}]}}))
    eventually(lambda: get(fake, "-n", ns, "pod", "user")["spec"].get("nodeName") == NODE, 10.0, "bound")

    def as_node(*args, who=AS_NODE):
        return fake.kubectl("1.33", "-n", ns, *args, *who, check=False)

    eventually(lambda: as_node("get", "secret", "mounted").returncode == 0, 5.0, "mounted secret readable by its node")
    p = as_node("get", "secret", "unrelated")
    assert p.returncode != 0
    assert (f'secrets "unrelated" is forbidden: User "system:node:{NODE}" cannot get resource "secrets" in API group "" '
            f"in the namespace \"{ns}\": no relationship found between node '{NODE}' and this object") in p.stderr
    # Another node may not read it, nor touch this node's pods or Node.
    assert as_node("get", "secret", "mounted", who=AS_OTHER).returncode != 0
    p = as_node("delete", "pod", "user", who=AS_OTHER)
    assert 'node "other" can only delete pods with spec.nodeName set to itself' in p.stderr
    p = as_node("label", "node", NODE, "x=y", who=AS_OTHER)
    assert "only its own Node object" in p.stderr
    p = fake.kubectl("1.33", "-n", ns, "get", "pods", *AS_NODE, check=False)
    assert "can only list/watch pods with spec.nodeName field selector" in p.stderr
    listed = fake.kubectl("1.33", "get", "pods", "-A", f"--field-selector=spec.nodeName={NODE}", *AS_NODE)
    assert "user" in listed.stdout
    # Tokens: only bound to its own pods, for their account.
    pod = get(fake, "-n", ns, "pod", "user")
    req = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
           "spec": {"audiences": [], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "user", "uid": pod["metadata"]["uid"]}}}
    user = ("system:node:" + NODE, ["system:nodes"])
    path = f"/api/v1/namespaces/{ns}/serviceaccounts/default/token"
    headers = {"Impersonate-User": user[0], "Impersonate-Group": user[1][0]}
    status, _, body = fake.request("POST", path, req, headers)
    assert status == 201, body
    assert body["status"]["token"]
    unbound = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": []}}
    status, _, body = fake.request("POST", path, unbound, headers)
    assert status == 403 and "node requested token not bound to a pod" in body["message"], body
    # kubectl auth can-i agrees (SelfSubjectAccessReview through the same chain).
    assert as_node("auth", "can-i", "get", "secret/mounted").stdout.split()[0] == "yes"
    assert as_node("auth", "can-i", "get", "secret/unrelated").stdout.split()[0] == "no"


def test_the_nodes_own_credential_is_a_client_certificate(fake):
    """`DIR/kubelet.kubeconfig`: the node's identity over TLS, as a kubelet's after bootstrap."""
    kc = str(fake.data_dir / "kubelet.kubeconfig")
    who = json.loads(fake.kubectl("1.33", "auth", "whoami", "-o", "json", kubeconfig=kc).stdout)
    assert who["status"]["userInfo"]["username"] == f"system:node:{NODE}"
    assert who["status"]["userInfo"]["groups"] == ["system:nodes", "system:authenticated"]
    assert fake.kubectl("1.27", "get", "node", NODE, "-o", "name", kubeconfig=kc).stdout.strip() == f"node/{NODE}"
    fake.kubectl("1.33", "create", "secret", "generic", "not-for-nodes", "--from-literal=k=v")
    r = fake.kubectl("1.33", "get", "secret", "not-for-nodes", kubeconfig=kc, check=False)
    assert f"no relationship found between node '{NODE}' and this object" in r.stderr, r.stderr
    mode = (fake.data_dir / "kubelet.kubeconfig").stat().st_mode & 0o777
    assert mode == 0o600
