"""`kubeward audit-rbac` on manifests with planted escalation paths: one binding per rule
family, three multi-hop chains of 1, 2 and 3 hops to a cluster-admin service account, and a
clean set (the bootstrap policy and ordinary app roles) that yields nothing above info."""

import json
import pathlib
import subprocess

import pytest

from harness import KUBEWARD

ROLES = (pathlib.Path(__file__).parent / "rbac_planted.yaml").read_text()


def binding(kind, name, ns, role, subject):
    b = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
         "subjects": [subject]}
    if ns:
        b["metadata"]["namespace"] = ns
    return b


def user(name):
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def sa(ns, name):
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


# (user, role, namespace or None for cluster-wide, the finding expected, its severity)
FAMILIES = [
    ("u-secrets", "read-secrets", "app", "KW001", "high"),
    ("u-pods", "create-pods", "app", "KW002", "high"),
    ("u-exec", "exec", "app", "KW003", "high"),
    ("u-bind", "binder", None, "KW004", "critical"),
    ("u-imp", "impersonator", None, "KW005", "critical"),
    ("u-token", "token-minter", "app", "KW006", "high"),
    ("u-star", "star", "app", "KW007", "high"),
    ("u-node", "node-proxy", None, "KW008", "critical"),
    ("u-csr", "csr-approver", None, "KW009", "high"),
    ("u-webhook", "webhooks", None, "KW010", "high"),
]


def planted():
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ["app", "ops", "a", "b"]]
    for u, role, ns, _, _ in FAMILIES:
        objs.append(binding("RoleBinding" if ns else "ClusterRoleBinding", f"{u}-binding", ns, role, user(u)))
    objs.append(binding("RoleBinding", "anonymous-reads", "app", "configmap-reader",
                        {"kind": "User", "name": "system:anonymous", "apiGroup": "rbac.authorization.k8s.io"}))
    # The chains' end: a service account that is cluster-admin.
    objs.append(binding("ClusterRoleBinding", "deployer-admin", None, "cluster-admin", sa("ops", "deployer")))
    # 1 hop: dev1 creates pods in ops (and so acts as ops:deployer).
    objs.append(binding("RoleBinding", "dev1-pods", "ops", "create-pods", user("dev1")))
    # 2 hops: dev2 creates pods in a; a:builder mints tokens in ops.
    objs.append(binding("RoleBinding", "dev2-pods", "a", "create-pods", user("dev2")))
    objs.append(binding("RoleBinding", "builder-tokens", "ops", "token-minter", sa("a", "builder")))
    # 3 hops: dev3 execs into pods in b; b:runner creates pods in a.
    objs.append(binding("RoleBinding", "dev3-exec", "b", "exec", user("dev3")))
    objs.append(binding("RoleBinding", "runner-pods", "a", "create-pods", sa("b", "runner")))
    # 1 hop through a legacy token Secret: dev4 reads secrets in ops.
    objs.append(binding("RoleBinding", "dev4-secrets", "ops", "read-secrets", user("dev4")))
    # To kube-system's secrets: dev5 creates pods in c, where c:backup reads kube-system's secrets.
    objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}})
    objs.append(binding("RoleBinding", "dev5-pods", "c", "create-pods", user("dev5")))
    objs.append(binding("RoleBinding", "backup-secrets", "kube-system", "read-secrets", sa("c", "backup")))
    # Regressions of other tools' bugs: a grant limited by resourceNames is limited (kubescape
    # #3201 ignored them); a RoleBinding's Role is its own namespace's (kubescape #2579 matched
    # another namespace's).
    objs.append(binding("ClusterRoleBinding", "named-impersonation", None, "impersonate-one", user("u-named")))
    wrong = binding("RoleBinding", "wrong-namespace", "b", "star-role", user("u-wrongns"))
    wrong["roleRef"]["kind"] = "Role"
    objs.append(wrong)
    return ROLES + "\n---\n" + "\n---\n".join(json.dumps(o) for o in objs) + "\n"


CLEAN = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-editor, namespace: shop}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-config, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-editor}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: team-view, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, name: shop-team, apiGroup: rbac.authorization.k8s.io}]
"""


def audit(*args, input=None):
    return subprocess.run([str(KUBEWARD), "audit-rbac", *args], capture_output=True, text=True, input=input, timeout=60)


@pytest.fixture(scope="module")
def found():
    got = audit("-f", "-", "-o", "json", input=planted())
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout)["findings"]


def test_every_planted_family_is_found_with_its_path(found):
    for u, role, ns, check, severity in FAMILIES:
        mine = [f for f in found if f["subject"] == u and f["id"] == check]
        assert mine, f"{check} for {u} not found"
        f = mine[0]
        assert f["severity"] == severity, f
        kind = "RoleBinding" if ns else "ClusterRoleBinding"
        assert f["path"][:3] == [{"kind": "User", "namespace": "", "name": u},
                                 {"kind": kind, "namespace": ns or "", "name": f"{u}-binding"},
                                 {"kind": "ClusterRole", "namespace": "", "name": role}], f["path"]
        assert f["path"][3]["kind"] == "Rule"
    anonymous = [f for f in found if f["id"] == "KW011"]
    assert [(f["subject"], f["severity"]) for f in anonymous] == [("system:anonymous", "high")]
    # Exact on wildcards: `*` on `*` is every family at once, and `*/exec` is exec.
    star = {f["id"] for f in found if f["subject"] == "u-star"}
    assert {"KW001", "KW002", "KW003", "KW006", "KW007"} <= star
    # Nobody is found holding what the planted roles do not grant.
    assert not [f for f in found if f["subject"] == "u-secrets" and f["id"] != "KW001"]


def test_resource_names_and_role_namespaces_count_as_rbac_counts_them(found):
    named = [f for f in found if f["subject"] == "u-named"]
    single = [f for f in named if f["id"] == "KW005"]
    assert [(f["severity"], "only for the names u-bind" in f["message"]) for f in single] == [("medium", True)]
    # Impersonating u-bind, who may bind any role, is a path to cluster-admin's powers.
    (path,) = [f for f in named if f["id"] == "KW100"]
    assert [s["name"] for s in path["path"] if s["kind"] == "User"] == ["u-named", "u-bind"]
    assert not [f for f in found if f["subject"] == "u-wrongns"]


def test_the_three_chains_are_found_shortest_first(found):
    paths = {f["subject"]: f for f in found if f["id"] == "KW100"}
    for who, hops in [("dev1", 1), ("dev2", 2), ("dev3", 3)]:
        f = paths[who]
        assert f["severity"] == "critical"
        assert f"in {hops} hop(s)" in f["message"], f["message"]
        subjects = [(s["kind"], s["namespace"], s["name"]) for s in f["path"] if s["kind"] in ("User", "ServiceAccount")]
        assert subjects[0] == ("User", "", who)
        assert subjects[-1] == ("ServiceAccount", "ops", "deployer"), f["path"]
        assert len(subjects) == hops + 1, f["path"]
    assert [s["name"] for s in paths["dev3"]["path"] if s["kind"] == "ServiceAccount"] == ["runner", "builder", "deployer"]
    # kube-system's secrets are a sink too.
    five = paths["dev5"]["message"]
    assert "reaches ServiceAccount system:serviceaccount:c:backup (holding read-secrets in kube-system (KW001))" in five, five
    assert "in 1 hop(s): create-pods (KW002)" in five
    assert "reaches ServiceAccount system:serviceaccount:ops:deployer (holding everything (KW007))" in paths["dev1"]["message"]
    # Reading a namespace's secrets reads its service accounts' legacy token Secrets.
    assert "in 1 hop(s): read-secrets (KW001)" in paths["dev4"]["message"], paths["dev4"]["message"]
    assert paths["dev4"]["path"][1] == {"kind": "RoleBinding", "namespace": "ops", "name": "dev4-secrets"}
    # Who is critical on its own (impersonating anyone) needs no path; who cannot climb is
    # not reported as climbing.
    assert "u-imp" not in paths and "u-csr" not in paths and "u-secrets" not in paths


def test_a_clean_set_has_nothing_above_info_and_fail_on_gates_ci():
    clean = audit("-f", "-", "--fail-on", "low", input=CLEAN)
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.strip().endswith("0 findings: 0 critical, 0 high, 0 medium, 0 low")
    info = json.loads(audit("-f", "-", "--show-info", "-o", "json", input=CLEAN).stdout)["findings"]
    assert info and all(f["severity"] == "info" for f in info)
    assert any(f["subject"] == "system:masters" for f in info)
    gated = audit("-f", "-", "--fail-on", "critical", input=planted())
    assert gated.returncode == 1
    assert gated.stdout.splitlines()[0].startswith("CRITICAL")
    # A bootstrap binding the manifests change is no longer expected.
    widened = CLEAN + """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cluster-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: Group, name: system:masters, apiGroup: rbac.authorization.k8s.io}
- {kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}
"""
    mallory = json.loads(audit("-f", "-", "-o", "json", input=widened).stdout)["findings"]
    assert {f["id"] for f in mallory if f["subject"] == "mallory"} >= {"KW001", "KW004", "KW007"}
    assert {f["severity"] for f in mallory if f["subject"] == "mallory"} == {"critical", "high"}


def test_baseline_allow_list_and_sarif(tmp_path):
    (tmp_path / "rbac.yaml").write_text(planted())
    first = audit("-f", str(tmp_path), "-o", "json")
    (tmp_path / "baseline.json").write_text(first.stdout)
    assert json.loads(first.stdout)["findings"]
    # Against its own baseline nothing is new, so CI passes ...
    again = audit("-f", str(tmp_path), "--baseline", str(tmp_path / "baseline.json"), "--fail-on", "low", "-o", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["findings"] == []
    # ... until a new grant comes in: only it is reported.
    (tmp_path / "new.yaml").write_text(json.dumps(binding("ClusterRoleBinding", "newcomer", None, "read-secrets", user("eve"))))
    new = audit("-f", str(tmp_path), "--baseline", str(tmp_path / "baseline.json"), "--fail-on", "high", "-o", "json")
    assert new.returncode == 1
    assert {(f["id"], f["subject"]) for f in json.loads(new.stdout)["findings"]} == {("KW001", "eve")}
    # An accepted finding is not listed (a missing namespace matches any).
    (tmp_path / "allow.yaml").write_text("- {id: KW001, subject: eve}\n")
    accepted = audit("-f", str(tmp_path), "--baseline", str(tmp_path / "baseline.json"),
                     "--allow", str(tmp_path / "allow.yaml"), "-o", "json")
    assert json.loads(accepted.stdout)["findings"] == []
    # SARIF 2.1.0 for code scanning: a rule per check, each result at its binding's manifest.
    report = json.loads(audit("-f", str(tmp_path), "-o", "sarif").stdout)
    assert report["version"] == "2.1.0"
    run = report["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {f"KW{n:03}" for n in range(1, 12)} | {"KW100"}
    eve = [r for r in run["results"] if "eve" in r["message"]["text"]]
    assert eve[0]["level"] == "error" and eve[0]["ruleId"] == "KW001"
    loc = eve[0]["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == str(tmp_path / "new.yaml")
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "ClusterRoleBinding//newcomer"
