"""Group versions as --runtime-config serves them, and the deprecation warnings of the old
versions kubeward serves beyond a stock 1.33 (#12)."""

import subprocess

from harness import KUBEWARD, Server


def test_old_versions_warn_as_upstream(server):
    r = server.kubectl("1.33", "get", "clusterroles.v1beta1.rbac.authorization.k8s.io", "view")
    assert "Warning: rbac.authorization.k8s.io/v1beta1 ClusterRole is deprecated in v1.17+, unavailable in v1.22+; " \
           "use rbac.authorization.k8s.io/v1 ClusterRole" in r.stderr, r.stderr
    status, headers, _ = server.request("GET", "/apis/rbac.authorization.k8s.io/v1alpha1/roles")
    assert status == 200 and "v1alpha1 Role is deprecated in v1.17+" in headers["warning"]
    status, headers, _ = server.request("GET", "/apis/rbac.authorization.k8s.io/v1/roles")
    assert status == 200 and "warning" not in headers
    r = server.kubectl("1.27", "auth", "whoami")  # kubectl 1.27 asks v1beta1 only
    assert "Warning: authentication.k8s.io/v1beta1 SelfSubjectReview is deprecated in v1.30+, unavailable in v1.33+" in r.stderr, r.stderr


def test_runtime_config_serves_what_a_stock_1_33_serves(tmp_path):
    s = Server(data_dir=tmp_path, args=["--runtime-config", "api/beta=false,api/alpha=false", "--runtime-config=apps/v1=false"])
    try:
        group = s.request("GET", "/apis/rbac.authorization.k8s.io")[2]
        assert [v["version"] for v in group["versions"]] == ["v1"]
        assert s.request("GET", "/apis/rbac.authorization.k8s.io/v1beta1/clusterroles")[0] == 404
        assert s.request("GET", "/apis/rbac.authorization.k8s.io/v1beta1")[0] == 404
        assert s.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles")[0] == 200
        assert "access.kubeward.io" not in [g["name"] for g in s.request("GET", "/apis")[2]["groups"]]
        assert s.kubectl("1.33", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "kubeward-admin"
        r = s.kubectl("1.27", "auth", "whoami", check=False)
        assert r.returncode != 0  # as against a stock 1.33
        assert "--runtime-config apps/v1: kubeward serves no apps/v1; it changes nothing" in s.server_log()
    finally:
        s.stop()
    p = subprocess.run([str(KUBEWARD), "serve", "--data-dir", str(tmp_path / "bad"), "--listen", "127.0.0.1:0", "--node-agent", "off",
                        "--runtime-config", "api/all=maybe"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "--runtime-config: invalid value api/all=maybe" in p.stderr, p.stderr


V1ALPHA1_BINDING = """apiVersion: rbac.authorization.k8s.io/v1alpha1
kind: RoleBinding
metadata: {name: %s, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: User, name: alice, apiVersion: rbac.authorization.k8s.io/v1alpha1}
- {kind: Group, name: devs}
- {kind: ServiceAccount, name: builder, namespace: default, apiVersion: v1}
"""


def test_v1alpha1_subjects_name_their_api_version_as_upstreams(server, version):
    """rbac v1alpha1's Subject has `apiVersion`, not `apiGroup` (pkg/apis/rbac/v1alpha1/
    conversion.go): a v1alpha1 manifest is taken under strict validation and stored as v1's
    subjects; read at v1alpha1 (get, list, watch) it is converted back; a patch at v1alpha1
    patches the v1alpha1 shape; kubectl explain tells that version's field."""
    name = "old-" + version.replace(".", "")
    server.kubectl(version, "apply", "--validate=strict", "-f", "-", input=V1ALPHA1_BINDING % name)
    v1 = server.request("GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/{name}")[2]
    assert v1["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
        {"kind": "ServiceAccount", "name": "builder", "namespace": "default"}]
    base = "/apis/rbac.authorization.k8s.io/v1alpha1/namespaces/default/rolebindings"
    alpha = server.request("GET", f"{base}/{name}")[2]
    want = [{"kind": "User", "apiVersion": "rbac.authorization.k8s.io/v1alpha1", "name": "alice"},
            {"kind": "Group", "apiVersion": "rbac.authorization.k8s.io/v1alpha1", "name": "devs"},
            {"kind": "ServiceAccount", "apiVersion": "v1", "name": "builder", "namespace": "default"}]
    assert alpha["apiVersion"] == "rbac.authorization.k8s.io/v1alpha1" and alpha["subjects"] == want
    # In Go's field order, and as protobuf (kubernetes/api still has these versions' IDL).
    raw = server.kubectl(version, "get", "--raw", f"{base}/{name}").stdout
    assert raw.startswith('{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1alpha1",'
                          f'"metadata":{{"name":"{name}","namespace":"default","uid":'), raw
    assert raw.endswith('"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"}}\n')
    status, headers, proto = server.request("GET", f"{base}/{name}",
                                            headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert status == 200 and headers["content-type"] == "application/vnd.kubernetes.protobuf"
    assert proto.startswith(b"k8s\x00\n") and b"\x12\x0bRoleBinding" in proto
    # Subject {1 kind, 2 apiVersion, 3 name}: v1alpha1's own field 2.
    assert b"\n\x04User\x12\x22rbac.authorization.k8s.io/v1alpha1\x1a\x05alice" in proto
    listed = server.request("GET", base)[2]
    assert [i["subjects"] for i in listed["items"] if i["metadata"]["name"] == name] == [want]
    watched = server.request("GET", f"{base}?watch=1&timeoutSeconds=1&fieldSelector=metadata.name={name}")[2]
    assert watched["type"] == "ADDED" and watched["object"]["subjects"] == want
    # kubectl's own edits work on that shape: apply again (a client-side three-way patch)...
    changed = (V1ALPHA1_BINDING % name).replace("name: devs", "name: ops")
    server.kubectl(version, "apply", "-f", "-", input=changed)
    # ...and a JSON patch that holds only on v1alpha1's shape (its test op reads apiVersion).
    patch = '[{"op": "test", "path": "/subjects/2/apiVersion", "value": "v1"}, ' \
            '{"op": "replace", "path": "/subjects/2/name", "value": "deployer"}]'
    server.kubectl(version, "patch", f"rolebindings.v1alpha1.rbac.authorization.k8s.io/{name}",
                   "--type=json", "-p", patch)
    v1 = server.request("GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/{name}")[2]
    assert [s["name"] for s in v1["subjects"]] == ["alice", "ops", "deployer"]
    assert v1["subjects"][1] == {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}
    out = server.kubectl(version, "explain", "rolebindings.subjects", "--api-version=rbac.authorization.k8s.io/v1alpha1").stdout
    assert "\n  apiVersion\t<string>\n" in out and "apiGroup" not in out, out
    assert 'Defaults to "rbac.authorization.k8s.io/v1alpha1" for User and Group' in out.replace("\n   ", ""), out
    server.kubectl(version, "delete", "rolebinding", name)


def test_managed_fields_name_the_version_written_in(server):
    """Upstream's field manager records the version a write was made in: an apply at v1beta1
    is owned at v1beta1 (one entry per applier, taking the latest version); one manager's
    updates at two versions are two entries."""
    manifest = """apiVersion: rbac.authorization.k8s.io/%s
kind: ClusterRole
metadata: {name: mf-versions}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
"""

    def entries():
        obj = server.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/mf-versions")[2]
        return sorted((e["manager"], e["operation"], e["apiVersion"]) for e in obj["metadata"]["managedFields"])

    server.kubectl("1.33", "apply", "--server-side", "--field-manager=ci", "-f", "-", input=manifest % "v1beta1")
    assert entries() == [("ci", "Apply", "rbac.authorization.k8s.io/v1beta1")]
    server.kubectl("1.33", "label", "clusterroles.v1beta1.rbac.authorization.k8s.io/mf-versions", "a=1",
                   "--field-manager=ed")
    server.kubectl("1.33", "label", "clusterrole/mf-versions", "b=2", "--field-manager=ed")
    server.kubectl("1.33", "apply", "--server-side", "--field-manager=ci", "-f", "-", input=manifest % "v1")
    assert entries() == [("ci", "Apply", "rbac.authorization.k8s.io/v1"),
                         ("ed", "Update", "rbac.authorization.k8s.io/v1"),
                         ("ed", "Update", "rbac.authorization.k8s.io/v1beta1")]
    server.kubectl("1.33", "delete", "clusterrole", "mf-versions")
