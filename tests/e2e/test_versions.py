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
