"""`kubeward suggest-role` on an audit log recorded from a scripted workload: a controller-like
client (list, watch, get and patch of a config map) and a job creating secrets, run under
audit with broad rights; the suggestion, applied to a fresh server where the workload is first
refused, lets the same workload run with no 403, and the access matrix afterwards is exactly
what it did. `--missing-only` then suggests nothing. Upstream's event format (lines and an
EventList) parses."""

import json
import subprocess

import pytest
import yaml

from harness import KUBEWARD, Server, eventually, user_kubeconfig
from test_authn import token_kubeconfig

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
    omitStages: ["RequestReceived"]
"""

SA = "system:serviceaccount:app:worker"


def suggest(*args, input=None):
    return subprocess.run([str(KUBEWARD), "suggest-role", *args], capture_output=True, text=True, input=input,
                          timeout=60)


def workload(server, kubeconfig, run):
    """What the worker does; each step's kubectl result."""
    k = lambda *a: server.kubectl("1.33", *a, kubeconfig=kubeconfig, check=False)
    return [
        k("get", "configmaps", "-n", "app"),
        k("get", "configmap", "settings", "-n", "app", "-o", "name"),
        k("label", "configmap", "settings", "-n", "app", f"run={run}", "--overwrite"),
        k("get", "--raw", "/api/v1/namespaces/app/configmaps?watch=true&timeoutSeconds=1"),
        k("create", "secret", "generic", f"job-output-{run}", "-n", "app", "--from-literal=a=b"),
        k("get", "namespace", "app"),
    ]


def worker_on(server):
    """The namespace, the worker and its config map; the worker's kubeconfig (a token)."""
    server.kubectl("1.33", "create", "namespace", "app")
    server.kubectl("1.33", "create", "serviceaccount", "worker", "-n", "app")
    server.kubectl("1.33", "create", "configmap", "settings", "-n", "app", "--from-literal=k=v")
    token = server.kubectl("1.33", "create", "token", "worker", "-n", "app", "--duration=1h").stdout.strip()
    return token_kubeconfig(server, token, "worker")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    d = tmp_path_factory.mktemp("suggest")
    (d / "policy.yaml").write_text(POLICY)
    log = d / "audit.log"
    s = Server(args=["--audit-log-path", str(log), "--audit-policy-file", str(d / "policy.yaml")])
    kubeconfig = worker_on(s)
    s.kubectl("1.33", "create", "clusterrolebinding", "worker-records", "--clusterrole=cluster-admin",
              "--serviceaccount=app:worker")
    ran = workload(s, kubeconfig, 1)
    assert all(r.returncode == 0 for r in ran), [r.stderr for r in ran]

    def logged():
        lines = log.read_text().splitlines() if log.exists() else []
        mine = [json.loads(l) for l in lines if SA in l]
        return any(e.get("objectRef", {}).get("resource") == "namespaces" for e in mine) and mine
    eventually(logged, timeout=10, what="the worker's requests in the audit log")
    yield log, s
    s.stop()


@pytest.fixture
def fresh(tmp_path):
    s = Server(data_dir=tmp_path)
    yield s, worker_on(s)
    s.stop()


def matrix(server):
    got = subprocess.run([str(KUBEWARD), "access-matrix", "--as", SA, "-n", "app", "--kubeconfig", server.kubeconfig,
                          "-o", "json"], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    return {r: v for r, v in json.loads(got.stdout)["resources"].items() if v}


def test_the_suggestion_lets_the_workload_run_and_grants_only_what_it_did(recorded, fresh):
    log, _ = recorded
    got = suggest("--serviceaccount", "app:worker", "--audit-log", str(log))
    assert got.returncode == 0, got.stderr
    docs = [d for d in yaml.safe_load_all(got.stdout) if d]
    kinds = sorted((d["kind"], d["metadata"].get("namespace", "")) for d in docs)
    assert kinds == [("ClusterRole", ""), ("ClusterRoleBinding", ""), ("Role", "app"), ("RoleBinding", "app")], kinds
    role = next(d for d in docs if d["kind"] == "Role")
    rules = {(tuple(r["resources"]), tuple(sorted(r["verbs"])), tuple(r.get("resourceNames", []))) for r in role["rules"]}
    assert (("configmaps",), ("list", "watch"), ()) in rules, rules
    assert (("configmaps",), ("get", "patch"), ("settings",)) in rules, rules
    # Never resourceNames on create.
    assert (("secrets",), ("create",), ()) in rules, rules
    # A namespace's own object is asked about in that namespace, so its Role may grant it.
    assert (("namespaces",), ("get",), ("app",)) in rules, rules
    # kubectl's discovery: non-resource URLs, cluster-wide.
    cluster = next(d for d in docs if d["kind"] == "ClusterRole")
    assert all(set(r) == {"nonResourceURLs", "verbs"} for r in cluster["rules"]), cluster
    assert "/api" in sum((r["nonResourceURLs"] for r in cluster["rules"]), [])
    # A comment on each rule: how many requests it covers.
    assert "# 3 requests\n- apiGroups: [\"\"]\n  resources: [\"configmaps\"]\n  resourceNames: [\"settings\"]" in got.stdout, got.stdout
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "worker", "namespace": "app"}]

    server, kubeconfig = fresh
    refused = workload(server, kubeconfig, 2)
    assert all("forbidden" in r.stderr.lower() for r in refused), [r.stderr for r in refused]
    before = matrix(server)
    server.kubectl("1.33", "apply", "-f", "-", input=got.stdout)
    ran = workload(server, kubeconfig, 3)
    assert all(r.returncode == 0 for r in ran), [r.stderr for r in ran]
    # Exactly what it did: the names it used are not in the matrix (it asks without one).
    after = matrix(server)
    assert {r: v for r, v in after.items() if before.get(r) != v} == {"configmaps": ["list", "watch"], "secrets": ["create"]}, (before, after)
    # Now nothing is missing: the server's bindings cover every logged request.
    missing = suggest("--serviceaccount", "app:worker", "--audit-log", str(log), "--missing-only", "--kubeconfig",
                      server.kubeconfig)
    assert missing.returncode == 0 and missing.stdout == "", missing.stdout + missing.stderr


def test_widening_names_and_namespaces(recorded):
    log, _ = recorded
    wide = suggest("--serviceaccount", "app:worker", "--audit-log", str(log), "--widen-names", "--widen-namespaces")
    docs = [d for d in yaml.safe_load_all(wide.stdout) if d]
    assert [d["kind"] for d in docs] == ["ClusterRole", "ClusterRoleBinding"]
    rules = docs[0]["rules"]
    assert not any("resourceNames" in r for r in rules)
    cm = next(r for r in rules if r.get("resources") == ["configmaps"])
    assert sorted(cm["verbs"]) == ["get", "list", "patch", "watch"]
    assert docs[1]["subjects"][0]["kind"] == "ServiceAccount"
    # Only one namespace's requests; and a named Role.
    only = suggest("--serviceaccount", "app:worker", "--audit-log", str(log), "-n", "app", "--name", "worker-needs")
    docs = [d for d in yaml.safe_load_all(only.stdout) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [("Role", "worker-needs"), ("RoleBinding", "worker-needs")]


# An event as kube-apiserver's log backend writes it (audit.k8s.io/v1, every field upstream
# sets at Metadata level), and the same as an EventList.
UPSTREAM = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
    "auditID": "6a8e1c52-6e6f-4a36-9a3c-2d0a0c6f1d11", "stage": "ResponseComplete",
    "requestURI": "/apis/apps/v1/namespaces/shop/deployments/web/scale", "verb": "patch",
    "user": {"username": "alice", "groups": ["devs", "system:authenticated"]},
    "sourceIPs": ["10.0.0.7"], "userAgent": "kubectl/v1.33.0 (linux/amd64) kubernetes/abc1234",
    "objectRef": {"resource": "deployments", "namespace": "shop", "name": "web", "apiGroup": "apps",
                  "apiVersion": "v1", "subresource": "scale"},
    "responseStatus": {"metadata": {}, "code": 200},
    "requestReceivedTimestamp": "2025-05-01T10:00:00.000000Z", "stageTimestamp": "2025-05-01T10:00:00.010000Z",
    "annotations": {"authorization.k8s.io/decision": "allow",
                    "authorization.k8s.io/reason": "RBAC: allowed by RoleBinding \"devs/shop\" of ClusterRole \"edit\" to Group \"devs\""},
}
NON_RESOURCE = dict(UPSTREAM, auditID="7b", requestURI="/version?timeout=32s", verb="get", objectRef=None)


def test_upstream_events_parse_and_bad_input_is_named():
    lines = json.dumps(UPSTREAM) + "\n\n" + json.dumps({**NON_RESOURCE, "objectRef": None}) + "\n"
    got = suggest("--user", "alice", "--audit-log", "-", input=lines)
    assert got.returncode == 0, got.stderr
    docs = [d for d in yaml.safe_load_all(got.stdout) if d]
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["metadata"] == {"name": "suggested-alice", "namespace": "shop"}
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "resourceNames": ["web"], "verbs": ["patch"]}]
    cluster = next(d for d in docs if d["kind"] == "ClusterRole")
    assert cluster["rules"] == [{"nonResourceURLs": ["/version"], "verbs": ["get"]}]
    as_list = suggest("--group", "devs", "--audit-log", "-",
                      input=json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [UPSTREAM]}))
    docs = [d for d in yaml.safe_load_all(as_list.stdout) if d]
    assert docs[1]["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]
    # An EventList written over many lines (as kubectl get -o json would) reads the same.
    pretty = suggest("--group", "devs", "--audit-log", "-",
                     input=json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [UPSTREAM]}, indent=2))
    assert pretty.returncode == 0 and pretty.stdout == as_list.stdout, pretty.stderr
    broken = suggest("--user", "alice", "--audit-log", "-", input="{\n  \"kind\": \"EventList\",\n")
    assert broken.returncode == 2 and "-:1: not an audit.k8s.io/v1 event" in broken.stderr, broken.stderr
    # Somebody else's log: nothing to suggest.
    assert suggest("--user", "bob", "--audit-log", "-", input=lines).stdout == ""
    bad = suggest("--user", "alice", "--audit-log", "-", input=json.dumps(UPSTREAM) + "\nnot json\n")
    assert bad.returncode == 2 and "-:2: not an audit.k8s.io/v1 event" in bad.stderr, bad.stderr
    none = suggest("--audit-log", "-", input=lines)
    assert none.returncode == 2 and "--user, --group or --serviceaccount" in none.stderr, none.stderr
    sa = suggest("--serviceaccount", "nocolon", "--audit-log", "-", input=lines)
    assert sa.returncode == 2 and "want NAMESPACE:NAME" in sa.stderr


UNUSED_RBAC = """
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: worker-extra, namespace: app}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: worker-extra, namespace: app}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: worker-extra}
subjects: [{kind: ServiceAccount, name: worker, namespace: app}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: someone-else, namespace: app}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]
"""


def test_unused_rights_from_the_same_log(recorded, tmp_path):
    log, _ = recorded
    (tmp_path / "rbac.yaml").write_text(UNUSED_RBAC)
    got = subprocess.run([str(KUBEWARD), "unused", "--audit-log", str(log), "-f", str(tmp_path), "-o", "json"],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    out = json.loads(got.stdout)
    assert out["window"]["requests"] > 6 and out["window"]["from"] <= out["window"]["to"]
    extra = {r["ruleIndex"]: r for r in out["rules"] if r["binding"]["name"] == "worker-extra"}
    # list, get, label's get and the watch: delete was never used; pods never at all.
    assert (extra[0]["requests"], extra[0]["never"]) == (4, ["delete configmaps"]), extra[0]
    assert (extra[1]["requests"], extra[1]["never"]) == (0, ["get pods"]), extra[1]
    # carol made no request: everything view grants her is unused; the bootstrap policy's own
    # bindings are left out unless --all.
    carol = [r for r in out["rules"] if r["binding"]["name"] == "someone-else"]
    assert carol and all(r["requests"] == 0 for r in carol)
    assert not [r for r in out["rules"] if r["binding"]["name"] == "cluster-admin"]
    # One subject, as text.
    text = subprocess.run([str(KUBEWARD), "unused", "--audit-log", str(log), "-f", str(tmp_path),
                           "--serviceaccount", "app:worker"], capture_output=True, text=True, timeout=60).stdout
    lines = text.splitlines()
    assert lines[0].startswith("the log covers ") and lines[0].endswith(f"{out['window']['requests']} requests")
    assert lines[1] == "ServiceAccount app/worker, through RoleBinding app/worker-extra → Role worker-extra:"
    assert lines[2] == "  rule 0 (get,list,watch,delete on configmaps): 4 requests; never: delete configmaps"
    assert lines[3] == "  rule 1 (get on pods): never used"
    assert "carol" not in text


def test_the_servers_own_log_read_through_the_api(recorded, fresh, tmp_path):
    log, server = recorded
    # The same suggestion from the server's log (GET /logs/audit, as the kubeconfig's user) as
    # from the file: the worker's requests are the same, whatever else was logged since.
    from_file = suggest("--serviceaccount", "app:worker", "--audit-log", str(log))
    from_server = suggest("--serviceaccount", "app:worker", "--server", "--kubeconfig", server.kubeconfig)
    assert from_server.returncode == 0, from_server.stderr
    assert from_server.stdout == from_file.stdout and "kind: Role" in from_server.stdout
    (tmp_path / "rbac.yaml").write_text(UNUSED_RBAC)
    unused = lambda *src: json.loads(subprocess.run(
        [str(KUBEWARD), "unused", *src, "-f", str(tmp_path), "--serviceaccount", "app:worker", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=True).stdout)["rules"]
    assert unused("--server", "--kubeconfig", server.kubeconfig) == unused("--audit-log", str(log))
    # The log is the server's to give: a user RBAC does not let get /logs/audit is refused in
    # kubectl's words; a server that keeps no log file says how to start one.
    nobody = user_kubeconfig(server, "nobody")
    refused = suggest("--user", "alice", "--server", "--kubeconfig", nobody)
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"kubeward suggest-role: reading the audit log of {server.url}: Error from server (Forbidden): "
        'forbidden: User "nobody" cannot get path "/logs/audit"'), refused.stderr
    other, _ = fresh
    none = suggest("--user", "alice", "--server", "--kubeconfig", other.kubeconfig)
    assert none.returncode == 2 and "this server keeps no audit log file: start it with --audit-log-path" in none.stderr
    # One source, not both, not neither.
    both = suggest("--user", "alice", "--server", "--audit-log", str(log))
    assert both.returncode == 2 and "cannot be used with" in both.stderr
