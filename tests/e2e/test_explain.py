"""`kubeward explain` on manifests, checked against a real server through real kubectl: its
answer equals `kubectl auth can-i` on a server holding the same manifests, the misses name
what is lacking, and the suggested Role and binding, applied with kubectl, allow exactly the
request (nothing near it that was denied before becomes allowed)."""

import json
import subprocess

import pytest
import yaml

from harness import KUBEWARD, Server

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: dev}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [web-tls]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: ci, namespace: dev}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops-edit, namespace: prod}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: prod}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: not-there}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
"""

# An aggregated ClusterRole and a v1beta1 List, to show both are read as a server reads them.
MORE = """
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1beta1
  kind: ClusterRole
  metadata: {name: monitoring}
  aggregationRule:
    clusterRoleSelectors: [{matchLabels: {kubeward.test/aggregate-to-monitoring: "true"}}]
- apiVersion: rbac.authorization.k8s.io/v1beta1
  kind: ClusterRole
  metadata:
    name: metrics-reader
    labels: {kubeward.test/aggregate-to-monitoring: "true"}
  rules:
  - nonResourceURLs: [/metrics]
    verbs: [get]
- apiVersion: rbac.authorization.k8s.io/v1beta1
  kind: ClusterRoleBinding
  metadata: {name: prometheus}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: monitoring}
  subjects: [{kind: User, name: prometheus, apiGroup: rbac.authorization.k8s.io}]
"""

# (kubectl auth can-i arguments, kubeward explain arguments): each pair asks the same thing.
CASES = [
    ("get pods -n dev --as alice", "get pods -n dev --as alice"),
    ("delete pods/web -n dev --as alice", "delete pods web -n dev --as alice"),
    ("get pods/log -n dev --as alice", "get pods/log -n dev --as alice"),
    ("get secrets/web-tls -n dev --as alice", "get secrets web-tls -n dev --as alice"),
    ("get secrets/db -n dev --as alice", "get secrets db -n dev --as alice"),
    ("list secrets -n dev --as alice", "list secrets -n dev --as alice"),
    ("get pods -n prod --as alice", "get pods -n prod --as alice"),
    # (Served kinds only: for a type the server lacks, kubectl sends "deployments.apps" as the
    # resource, unsplit, so a server without apps answers another question.)
    ("create configmaps -n prod --as bob --as-group ops", "create configmaps -n prod --as bob --as-group ops"),
    ("create configmaps -n dev --as bob --as-group ops", "create configmaps -n dev --as bob --as-group ops"),
    ("create rolebindings.rbac.authorization.k8s.io -n prod --as bob --as-group ops",
     "create rolebindings.rbac.authorization.k8s.io -n prod --as bob --as-group ops"),
    ("get sa -n prod --as bob --as-group ops", "get sa -n prod --as bob --as-group ops"),
    ("watch pods -n dev --as system:serviceaccount:dev:ci", "watch pods -n dev --as system:serviceaccount:dev:ci"),
    ("create pods/exec -n dev --as system:serviceaccount:dev:ci", "create pods/exec -n dev --as system:serviceaccount:dev:ci"),
    # -A as kubectl auth can-i takes it: the request in every namespace at once.
    ("get pods -A --as alice", "get pods -A --as alice"),
    ("get configmaps -A --as bob --as-group ops", "get configmaps -A --as bob --as-group ops"),
    ("list namespaces -A --as system:serviceaccount:kube-system:namespace-controller",
     "list namespaces -A --as system:serviceaccount:kube-system:namespace-controller"),
    ("get /metrics --as prometheus", "get /metrics --as prometheus"),
    ("get /metrics --as alice", "get /metrics --as alice"),
    ("get /healthz --as alice", "get /healthz --as alice"),
    ("create selfsubjectaccessreviews.authorization.k8s.io --as alice", "create selfsubjectaccessreviews.authorization.k8s.io --as alice"),
]


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    d = tmp_path_factory.mktemp("manifests")
    (d / "rbac.yaml").write_text(MANIFESTS)
    (d / "more").mkdir()
    (d / "more" / "monitoring.yml").write_text(MORE)
    (d / "notes.txt").write_text("not a manifest: a directory's other files are skipped\n")
    return d


def explain(*args, input=None):
    return subprocess.run([str(KUBEWARD), "explain", *args], capture_output=True, text=True, input=input, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory, manifests):
    s = Server(data_dir=tmp_path_factory.mktemp("explain-server"))
    s.kubectl("1.33", "apply", "-f", str(manifests / "rbac.yaml"))
    # kubectl (1.33) no longer sends v1beta1 RBAC; the server takes the same roles as v1.
    more = yaml.safe_load(MORE)
    for item in more["items"]:
        item["apiVersion"] = "rbac.authorization.k8s.io/v1"
    s.kubectl("1.33", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": more["items"]}))
    yield s
    s.stop()


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_explain_agrees_with_the_servers_answer(server, manifests, version):
    for can_i, ask in CASES:
        truth = server.kubectl(version, "auth", "can-i", *can_i.split(), check=False)
        answer = truth.stdout.split()[0] if truth.stdout else ""
        assert answer in ("yes", "no"), truth.stderr
        got = explain(*ask.split(), "-f", str(manifests))
        assert got.returncode in (0, 1), got.stderr
        assert (got.returncode == 0) == (answer == "yes"), f"{ask}:\n{got.stdout}"
        assert got.stdout.startswith("yes: " if got.returncode == 0 else "no: "), got.stdout


def test_grants_and_misses_name_bindings_roles_and_what_is_lacking(manifests):
    ok = explain("get", "pods", "-n", "dev", "--as", "alice", "-f", str(manifests), "-o", "json")
    e = json.loads(ok.stdout)
    assert ok.returncode == 0 and e["allowed"] is True
    assert [(g["binding"]["name"], g["role"]["name"], g["ruleIndex"]) for g in e["grants"]] == [("alice-reads", "pod-reader", 0)]
    # A name the Role does not list: the nearest miss says exactly that.
    no = json.loads(explain("get", "secrets", "db", "-n", "dev", "--as", "alice", "-f", str(manifests), "-o", "json").stdout)
    assert no["allowed"] is False
    first = no["misses"][0]
    assert (first["binding"]["name"], first["ruleIndex"], first["lacks"]) == ("alice-reads", 1, [{"lacks": "resourceName"}])
    # In another namespace: the binding in dev is named as bound there; the dangling one as missing its role.
    elsewhere = json.loads(explain("get", "pods", "-n", "prod", "--as", "alice", "-f", str(manifests), "-o", "json").stdout)
    lacks = {m["binding"]["name"]: m["lacks"] for m in elsewhere["misses"]}
    assert {"lacks": "namespace", "boundIn": "dev"} in lacks["alice-reads"]
    assert lacks["dangling"] == [{"lacks": "role", "message": 'role.rbac.authorization.k8s.io "not-there" not found'}]
    # The aggregated ClusterRole holds the labelled role's rule, as the server's controller makes it.
    prom = json.loads(explain("get", "/metrics", "--as", "prometheus", "-f", str(manifests), "-o", "json").stdout)
    assert prom["grants"][0]["role"]["name"] == "monitoring"
    # Text for a terminal; YAML on request; the exit code as kubectl auth can-i's.
    text = explain("delete", "pods", "web", "-n", "dev", "--as", "alice", "-f", str(manifests))
    assert text.returncode == 1
    assert 'no: alice may not delete pods "web" in namespace "dev"' in text.stdout
    assert 'lacks the verb "delete"' in text.stdout
    as_yaml = yaml.safe_load(explain("get", "pods", "-n", "dev", "--as", "alice", "-f", str(manifests), "-o", "yaml").stdout)
    assert as_yaml["allowed"] is True


def test_stdin_no_defaults_and_refused_manifests(manifests):
    # From standard input, without the bootstrap policy: system:basic-user is not there.
    with_defaults = explain("create", "selfsubjectaccessreviews.authorization.k8s.io", "--as", "alice", "-f", str(manifests))
    assert with_defaults.returncode == 0
    bare = explain("create", "selfsubjectaccessreviews.authorization.k8s.io", "--as", "alice", "--no-defaults", "-f", "-",
                   input=MANIFESTS)
    assert bare.returncode == 1, bare.stdout
    # An object the server would refuse is refused here too, naming the file and object.
    bad = explain("get", "pods", "--as", "alice", "-f", "-",
                  input="apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: no-verbs, namespace: dev}\n"
                        "rules: [{apiGroups: [\"\"], resources: [pods]}]\n")
    assert bad.returncode == 2
    assert '<stdin>: Role "no-verbs"' in bad.stderr, bad.stderr
    assert "rules[0].verbs: Required value" in bad.stderr, bad.stderr
    odd = explain("get", "pods", "--as", "alice", "-f", "-",
                  input="apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: not-an-object\n")
    assert odd.returncode == 2 and "metadata must be an object" in odd.stderr, odd.stderr
    broken = explain("get", "pods", "--as", "alice", "-f", "-", input="kind: [unclosed\n")
    assert broken.returncode == 2 and "<stdin>" in broken.stderr


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_the_suggestion_allows_exactly_the_request(tmp_path, manifests, version):
    s = Server(data_dir=tmp_path)
    try:
        s.kubectl(version, "apply", "-f", str(manifests / "rbac.yaml"))
        denied = explain("delete", "pods", "web", "-n", "dev", "--as", "alice", "-f", str(manifests / "rbac.yaml"), "-o", "json")
        assert denied.returncode == 1
        objects = json.loads(denied.stdout)["suggestion"]
        near = [
            "delete pods/web -n dev --as alice",
            "delete pods/other -n dev --as alice",
            "delete pods -n dev --as alice",
            "delete pods/web -n prod --as alice",
            "delete pods/web -n dev --as bob",
            "deletecollection pods -n dev --as alice",
            "delete secrets/web -n dev --as alice",
            "update pods/web -n dev --as alice",
        ]
        def can_i(c):
            return s.kubectl(version, "auth", "can-i", *c.split(), check=False).stdout.split()[0]
        before = {c: can_i(c) for c in near}
        assert before["delete pods/web -n dev --as alice"] == "no"
        s.kubectl(version, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        after = {c: can_i(c) for c in near}
        assert after["delete pods/web -n dev --as alice"] == "yes"
        changed = {c for c in near if before[c] != after[c]}
        assert changed == {"delete pods/web -n dev --as alice"}, (before, after)
        # The matrix (every served resource × verb, without names) is the same before and
        # after: the grant is for the one name only.
        def matrix(*files):
            args = [str(KUBEWARD), "access-matrix", "--as", "alice", "-n", "dev", "-o", "json"]
            for f in files:
                args += ["-f", str(f)]
            return json.loads(subprocess.run(args, capture_output=True, text=True, timeout=60).stdout)["resources"]
        (tmp_path / "fix.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        assert matrix(manifests / "rbac.yaml") == matrix(manifests / "rbac.yaml", tmp_path / "fix.json")
        # And explain, given the suggestion too, now says yes through it.
        now = explain("delete", "pods", "web", "-n", "dev", "--as", "alice", "-f", str(manifests / "rbac.yaml"),
                      "-f", str(tmp_path / "fix.json"), "-o", "json")
        assert now.returncode == 0
        assert json.loads(now.stdout)["grants"][0]["binding"]["name"] == objects[1]["metadata"]["name"]
    finally:
        s.stop()


def who_can(*args):
    got = subprocess.run([str(KUBEWARD), "who-can", *args, "-o", "json"], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout)["allowed"]


@pytest.mark.parametrize("ask", ["get pods -n dev", "get secrets web-tls -n dev", "create configmaps -n prod",
                                 "get /metrics", "list secrets -n dev"])
def test_who_can_lists_subjects_the_server_allows(server, manifests, ask):
    allowed = who_can(*ask.split(), "-f", str(manifests))
    assert allowed[0] == {"subject": {"kind": "Group", "name": "system:masters"}, "name": "system:masters", "privileged": True}
    verb, resource, *rest = ask.split()
    name = [rest.pop(0)] if rest and not rest[0].startswith("-") else []
    target = f"{resource}/{name[0]}" if name else resource
    for row in allowed[1:]:
        s = row["subject"]
        who = ["--as", row["name"]] if s["kind"] != "Group" else ["--as", "member", "--as-group", s["name"]]
        answer = server.kubectl("1.33", "auth", "can-i", verb, target, *rest, *who, check=False).stdout.split()[0]
        assert answer == "yes", (ask, row)
    names = {r["name"] for r in allowed}
    # And those it leaves out are refused.
    for who in ["alice", "bob", "system:serviceaccount:dev:ci", "system:serviceaccount:prod:default"]:
        if who in names:
            continue
        answer = server.kubectl("1.33", "auth", "can-i", verb, target, *rest, "--as", who, check=False).stdout.split()[0]
        assert answer == "no", (ask, who)


def test_who_can_in_any_namespace(server, manifests):
    # kubectl-who-can's -A: whoever may do it in some namespace, each with the binding (and
    # so the namespace) that grants it; the server agrees about each, there.
    rows = who_can("get", "pods", "-A", "-f", str(manifests))
    listed = {(r["subject"]["kind"], r["name"], r["binding"]["namespace"]) for r in rows if "binding" in r}
    assert {("User", "alice", "dev"), ("ServiceAccount", "system:serviceaccount:dev:ci", "dev"),
            ("Group", "ops", "prod")} <= listed, listed
    for kind, name, ns in listed:
        where = ["-n", ns] if ns else ["-A"]
        who = ["--as", "member", "--as-group", name] if kind == "Group" else ["--as", name]
        answer = server.kubectl("1.33", "auth", "can-i", "get", "pods", *where, *who, check=False).stdout.split()[0]
        assert answer == "yes", (name, ns)
    # Without -A, only the cluster-wide grants: alice's RoleBinding in dev does not count.
    cluster = {r["name"] for r in who_can("get", "pods", "-f", str(manifests))}
    assert "alice" not in cluster and "alice" in {n for _, n, _ in listed}
    table = subprocess.run([str(KUBEWARD), "who-can", "get", "pods", "-A", "-f", str(manifests)],
                           capture_output=True, text=True, timeout=60).stdout
    assert table.splitlines()[0] == "who may get pods in any namespace:"
    urls = subprocess.run([str(KUBEWARD), "who-can", "get", "/metrics", "-A", "-f", str(manifests)],
                          capture_output=True, text=True, timeout=60)
    assert urls.returncode == 2 and "a non-resource URL has no namespace" in urls.stderr
    both = subprocess.run([str(KUBEWARD), "who-can", "get", "pods", "-A", "-n", "dev", "-f", str(manifests)],
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "cannot be used with" in both.stderr


def test_who_can_names_bindings_and_reads_well(manifests):
    rows = who_can("get", "secrets", "web-tls", "-n", "dev", "-f", str(manifests))
    mine = [r for r in rows if r["name"] == "alice"]
    assert [(r["binding"]["name"], r["role"]["name"], r["ruleIndex"]) for r in mine] == [("alice-reads", "pod-reader", 1)]
    assert "alice" not in {r["name"] for r in who_can("get", "secrets", "db", "-n", "dev", "-f", str(manifests))}
    table = subprocess.run([str(KUBEWARD), "who-can", "get", "pods", "-n", "dev", "-f", str(manifests)],
                           capture_output=True, text=True, timeout=60).stdout
    lines = table.splitlines()
    assert lines[0] == 'who may get pods in namespace "dev":'
    assert lines[1].split() == ["SUBJECT", "BINDING", "ROLE"]
    assert any(l.split()[:2] == ["ServiceAccount", "dev/ci"] and "RoleBinding dev/alice-reads" in l for l in lines)
    # Columns line up.
    starts = {l.index("RoleBinding dev/alice-reads") for l in lines if "RoleBinding dev/alice-reads" in l}
    assert len(starts) == 1 and lines[1].index("BINDING") in starts


@pytest.mark.parametrize("who,ns", [(["--as", "alice"], "dev"), (["--as", "bob", "--as-group", "ops"], "prod"),
                                    (["--as", "system:serviceaccount:dev:ci"], "dev"),
                                    (["--as", "system:serviceaccount:kube-system:namespace-controller"], None)])
def test_the_access_matrix_equals_the_servers_answer_per_cell(server, manifests, who, ns):
    args = ["access-matrix", *who, "-f", str(manifests)] + (["-n", ns] if ns else [])
    got = subprocess.run([str(KUBEWARD), *args, "-o", "json"], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    m = json.loads(got.stdout)
    assert len(m["resources"]) >= 10
    user = who[1]
    groups = who[3:4] + ["system:authenticated"]
    if user.startswith("system:serviceaccount:"):
        groups += ["system:serviceaccounts", "system:serviceaccounts:" + user.split(":")[2]]
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
    allowed_somewhere = 0
    for name, held in m["resources"].items():
        main, _, sub = name.partition("/")
        resource, _, group = main.partition(".")
        for verb in verbs:
            attrs = {"verb": verb, "group": group, "resource": resource, "subresource": sub}
            if ns:
                attrs["namespace"] = ns
            sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                   "spec": {"user": user, "groups": groups, "resourceAttributes": attrs}}
            status, _, answer = server.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
            assert status == 201
            assert answer["status"]["allowed"] == (verb in held), (name, verb, who, ns)
            allowed_somewhere += verb in held
    assert allowed_somewhere > 0
    table = subprocess.run([str(KUBEWARD), *args], capture_output=True, text=True, timeout=60).stdout
    assert table.splitlines()[1].split() == ["NAME"] + [v.upper() for v in verbs]


def test_colour_only_on_a_terminal(manifests):
    import os
    import pty

    def on_a_tty(env):
        master, slave = pty.openpty()
        subprocess.run([str(KUBEWARD), "access-matrix", "--as", "alice", "-n", "dev", "-f", str(manifests)],
                       stdout=slave, stderr=subprocess.PIPE, timeout=60, env=env)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return out
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert b"\x1b[32m\xe2\x9c\x94\x1b[0m" in on_a_tty(env)  # a green check mark
    assert b"\x1b[" not in on_a_tty(dict(env, NO_COLOR="1"))
    piped = subprocess.run([str(KUBEWARD), "access-matrix", "--as", "alice", "-n", "dev", "-f", str(manifests)],
                           capture_output=True, timeout=60).stdout
    assert b"\x1b[" not in piped and "✔".encode() in piped
