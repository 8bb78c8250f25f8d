"""RBAC with real kubectl: a user with a client certificate, bound by a RoleBinding."""

import json

import pytest

from harness import eventually, user_kubeconfig

ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: {ns}
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: alice-reads-pods
  namespace: {ns}
subjects:
- kind: User
  name: alice
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: Role
  name: pod-reader
  apiGroup: rbac.authorization.k8s.io
"""


@pytest.fixture(scope="module")
def alice(server):
    for ns in ["rbac-a", "rbac-b"]:
        server.kubectl("1.33", "create", "ns", ns)
    server.kubectl("1.33", "create", "-f", "-", input=ROLE.format(ns="rbac-a"))
    return user_kubeconfig(server, "alice", ["devs"])


def test_role_binding_grants_only_its_namespace(server, version, alice):
    ok = server.kubectl(version, "get", "pods", "-n", "rbac-a", kubeconfig=alice)
    assert "No resources found in rbac-a namespace." in ok.stderr
    other = server.kubectl(version, "get", "pods", "-n", "rbac-b", kubeconfig=alice, check=False)
    assert other.returncode == 1
    assert 'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "rbac-b"' in other.stderr
    cluster = server.kubectl(version, "get", "pods", "-A", kubeconfig=alice, check=False)
    assert 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" at the cluster scope' in cluster.stderr
    secrets = server.kubectl(version, "get", "secret", "x", "-n", "rbac-a", kubeconfig=alice, check=False)
    assert 'secrets "x" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "rbac-a"' in secrets.stderr


def test_auth_can_i(server, version, alice):
    yes = server.kubectl(version, "auth", "can-i", "list", "pods", "-n", "rbac-a", kubeconfig=alice)
    assert yes.stdout.strip() == "yes"
    no = server.kubectl(version, "auth", "can-i", "list", "pods", "-n", "rbac-b", kubeconfig=alice, check=False)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    assert server.kubectl(version, "auth", "can-i", "get", "/healthz", kubeconfig=alice).stdout.strip() == "yes"
    listed = server.kubectl(version, "auth", "can-i", "--list", "-n", "rbac-a", kubeconfig=alice).stdout
    rows = [line.split() for line in listed.splitlines()]
    assert ["pods", "[]", "[]", "[get", "list", "watch]"] in rows
    assert ["selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]"] in rows
    assert server.kubectl(version, "auth", "can-i", "create", "clusterroles").stdout.strip() == "yes", "the admin may"


def test_a_new_binding_takes_effect_through_the_watch(server, alice):
    server.kubectl("1.33", "create", "ns", "rbac-late")
    before = server.kubectl("1.33", "get", "cm", "-n", "rbac-late", kubeconfig=alice, check=False)
    assert before.returncode == 1
    server.kubectl("1.33", "create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice", "-n", "rbac-late")
    eventually(lambda: server.kubectl("1.33", "get", "cm", "-n", "rbac-late", kubeconfig=alice, check=False).returncode == 0, 2.0, "the binding")
    server.kubectl("1.33", "delete", "rolebinding", "alice-view", "-n", "rbac-late")
    eventually(lambda: server.kubectl("1.33", "get", "cm", "-n", "rbac-late", kubeconfig=alice, check=False).returncode == 1, 2.0, "the removal")


def test_aggregated_view_picks_up_a_new_role(server, alice):
    server.kubectl("1.33", "create", "clusterrole", "widget-viewer", "--verb=get,list", "--resource=leases.coordination.k8s.io")
    server.kubectl("1.33", "label", "clusterrole", "widget-viewer", "rbac.authorization.k8s.io/aggregate-to-view=true")

    def aggregated():
        view = json.loads(server.kubectl("1.33", "get", "clusterrole", "view", "-o", "json").stdout)
        return any("leases" in r.get("resources", []) and r.get("apiGroups") == ["coordination.k8s.io"] for r in view["rules"])

    eventually(aggregated, 5.0, "aggregation into view")
    edit = json.loads(server.kubectl("1.33", "get", "clusterrole", "edit", "-o", "json").stdout)
    assert any(r.get("verbs") == ["get", "list"] and "leases" in r.get("resources", []) for r in edit["rules"]), "edit aggregates view"


def test_v1beta1_rbac_manifests_and_kubectl_create_generators(server, version, tmp_path):
    f = tmp_path / "legacy.yaml"
    f.write_text(f"""\
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: ClusterRole
metadata:
  name: legacy-reader-{version}
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: ClusterRoleBinding
metadata:
  name: legacy-reader-{version}
subjects:
- kind: ServiceAccount
  name: default
  namespace: default
roleRef:
  kind: ClusterRole
  name: legacy-reader-{version}
  apiGroup: rbac.authorization.k8s.io
""")
    out = server.kubectl(version, "create", "-f", str(f)).stdout.splitlines()
    assert out == [f"clusterrole.rbac.authorization.k8s.io/legacy-reader-{version} created", f"clusterrolebinding.rbac.authorization.k8s.io/legacy-reader-{version} created"]
    role = f"gen-{version.replace('.', '')}"
    server.kubectl(version, "create", "clusterrole", role, "--verb=get,list", "--resource=pods,secrets")
    server.kubectl(version, "create", "clusterrolebinding", role, f"--clusterrole={role}", "--user=bob", "--group=ops", "--serviceaccount=default:bot")
    wide = server.kubectl(version, "get", "clusterrolebinding", role, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1].split()[:2] == [role, f"ClusterRole/{role}"] and wide[1].split()[-3:] == ["bob", "ops", "default/bot"]
    dry = server.kubectl(version, "create", "role", "r", "--verb=get", "--resource=pods", "-n", "default", "--dry-run=server", "-o", "yaml").stdout
    assert "kind: Role" in dry and server.kubectl(version, "get", "role", "r", "-n", "default", check=False).returncode == 1


def test_rbac_validation_messages(server):
    bad = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Foo", "name": "x"}, "subjects": [{"kind": "Robot", "name": "r"}]}
    status, _, err = server.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", bad)
    assert status == 422
    assert err["message"].startswith('RoleBinding.rbac.authorization.k8s.io "rb" is invalid: [roleRef.kind: Unsupported value: "Foo": supported values: "Role", "ClusterRole", subjects[0].kind: Unsupported value: "Robot"')
    good = dict(bad, roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}, subjects=[{"kind": "User", "name": "u"}])
    status, _, rb = server.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", good)
    assert status == 201 and rb["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io", "subject apiGroup defaulted"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "urls"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}
    status, _, err = server.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", role)
    assert status == 422
    assert err["message"] == 'Role.rbac.authorization.k8s.io "urls" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs'
    rb["roleRef"]["name"] = "edit"
    status, _, err = server.request("PUT", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/rb", rb)
    assert status == 422
    assert err["message"] == 'RoleBinding.rbac.authorization.k8s.io "rb" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef'


def test_escalation_is_refused_without_escalate_or_bind(server, version):
    ns = "esc-" + version.replace(".", "")
    # A user no other test binds: what it holds comes from this test alone.
    who = "eve-" + version.replace(".", "")
    server.kubectl("1.33", "create", "ns", ns)
    server.kubectl("1.33", "-n", ns, "create", "role", "rbac-writer", "--verb=create,get,list", "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io")
    server.kubectl("1.33", "-n", ns, "create", "rolebinding", "bob-writes-rbac", "--role=rbac-writer", f"--user={who}")
    bob = user_kubeconfig(server, who)

    refused = server.kubectl(version, "-n", ns, "create", "role", "pod-getter", "--verb=get", "--resource=pods", kubeconfig=bob, check=False)
    assert refused.returncode == 1
    assert (
        f'roles.rbac.authorization.k8s.io "pod-getter" is forbidden: user "{who}" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["get"]}'
    ) in refused.stderr
    # Holding the permissions is enough: a role that grants only what bob has is accepted.
    server.kubectl(version, "-n", ns, "create", "role", "rbac-reader", "--verb=get", "--resource=roles.rbac.authorization.k8s.io", kubeconfig=bob)

    server.kubectl("1.33", "-n", ns, "create", "role", "escalator", "--verb=escalate", "--resource=roles.rbac.authorization.k8s.io")
    server.kubectl("1.33", "-n", ns, "create", "rolebinding", "bob-escalates", "--role=escalator", f"--user={who}")
    eventually(lambda: server.kubectl(version, "-n", ns, "create", "role", "pod-getter", "--verb=get", "--resource=pods", kubeconfig=bob, check=False).returncode == 0, 3.0, "escalate")

    refused = server.kubectl(version, "-n", ns, "create", "rolebinding", "bob-views", "--clusterrole=view", f"--user={who}", kubeconfig=bob, check=False)
    assert refused.returncode == 1 and f'rolebindings.rbac.authorization.k8s.io "bob-views" is forbidden: user "{who}"' in refused.stderr
    missing = server.kubectl(version, "-n", ns, "create", "rolebinding", "to-nothing", "--clusterrole=nothing", f"--user={who}", kubeconfig=bob, check=False)
    assert 'clusterroles.rbac.authorization.k8s.io "nothing" not found' in missing.stderr
    server.kubectl("1.33", "-n", ns, "create", "role", "binder", "--verb=bind", "--resource=clusterroles.rbac.authorization.k8s.io", "--resource-name=view")
    server.kubectl("1.33", "-n", ns, "create", "rolebinding", "bob-binds", "--role=binder", f"--user={who}")
    eventually(lambda: server.kubectl(version, "-n", ns, "create", "rolebinding", "bob-views", "--clusterrole=view", f"--user={who}", kubeconfig=bob, check=False).returncode == 0, 3.0, "bind")
