"""The service-accounts tutorial (shared/reference/service-accounts-tutorial.txt), step by
step, with real kubectl and curl, in the default mode and in legacy-token mode. The pod does
not run yet (no node agent), so the token a kubelet would mount is obtained the way a kubelet
does: TokenRequest bound to the pod (default mode) or the account's token Secret (legacy)."""

import base64
import json
import subprocess

import pytest

from harness import Server, eventually

TUTORIAL_YAML = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: podview
  namespace: default
---
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: ClusterRole
metadata:
  name: podview-role
rules:
- apiGroups:
  - ""
  resources:
  - pods
  verbs:
  - list
  - watch
---
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: ClusterRoleBinding
metadata:
  name: podview-role-binding
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: podview-role
subjects:
- kind: ServiceAccount
  name: podview
  namespace: default
"""

POD_TOKEN_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: debugger
spec:
  containers:
  - image: ansilh/debug-tools
    name: debugger
  serviceAccountName: podview
"""


def forbidden(sa):
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: User "system:serviceaccount:default:{sa}" cannot list resource "pods" in API group "" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }


class Tutorial:
    def __init__(self, server, version, legacy, tmp):
        self.s, self.v, self.legacy, self.tmp = server, version, legacy, tmp

    def k(self, *args, **kw):
        return self.s.kubectl(self.v, *args, **kw)

    def pod_credentials(self, pod, sa):
        """(token, ca.crt path) as mounted at /var/run/secrets/kubernetes.io/serviceaccount."""
        ca = self.tmp / f"ca-{pod}-{sa}.crt"
        if self.legacy:
            # The pod mounts its account's token Secret (Kubernetes <= 1.23).
            spec = json.loads(self.k("get", "pod", pod, "-o", "json").stdout)["spec"]
            name = next(v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v)
            assert name.startswith(f"{sa}-token-")
            mount = spec["containers"][0]["volumeMounts"][0]
            assert mount == {"name": name, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
            data = json.loads(self.k("get", "secret", name, "-o", "json").stdout)["data"]
            ca.write_bytes(base64.b64decode(data["ca.crt"]))
            return base64.b64decode(data["token"]).decode(), ca
        cm = json.loads(self.k("get", "cm", "kube-root-ca.crt", "-o", "json").stdout)
        ca.write_text(cm["data"]["ca.crt"])
        token = self.k("create", "token", sa, "--bound-object-kind=Pod", f"--bound-object-name={pod}", "--duration=3607s").stdout.strip()
        return token, ca

    def curl(self, path, token, ca):
        p = subprocess.run(["curl", "-s", f"{self.s.url}{path}", "--header", f"Authorization: Bearer {token}", "--cacert", str(ca)], capture_output=True, text=True, check=True)
        return json.loads(p.stdout)


@pytest.mark.parametrize("legacy", [False, True], ids=["default-mode", "legacy-mode"])
def test_the_tutorial(version, legacy, tmp_path):
    args = ["--legacy-token-secrets"] if legacy else []
    s = Server(data_dir=tmp_path / "data", args=args)
    try:
        t = Tutorial(s, version, legacy, tmp_path)
        eventually(lambda: t.k("get", "serviceaccounts", "default", check=False).returncode == 0, 5.0, "the default service account")
        if legacy:
            eventually(lambda: t.k("get", "serviceaccounts").stdout.splitlines()[1].split()[:2] == ["default", "1"], 5.0, "SECRETS 1")

        assert "pod/debugger created" in t.k("run", "debugger", "--image=ansilh/debug-tools", "--restart=Never").stdout
        assert t.k("get", "pods", "debugger", "--output=jsonpath={.spec.serviceAccount}").stdout == "default"

        token, ca = t.pod_credentials("debugger", "default")
        api = t.curl("/api", token, ca)
        assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
        assert api["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
        assert t.curl("/api/v1/pods", token, ca) == forbidden("default")

        assert t.k("create", "serviceaccount", "podview").stdout.strip() == "serviceaccount/podview created"
        if legacy:
            name = eventually(lambda: (json.loads(t.k("get", "serviceaccounts", "podview", "-o", "json").stdout).get("secrets") or [{}])[0].get("name"), 5.0, "podview token")
            assert name.startswith("podview-token-")
            assert f"- name: {name}" in t.k("get", "serviceaccounts", "podview", "-o", "yaml").stdout
            secret = t.k("get", "secrets", name, "-o", "yaml").stdout
            for line in ["type: kubernetes.io/service-account-token", "kubernetes.io/service-account.name: podview", "kubernetes.io/service-account.uid:", "  ca.crt:", "  namespace:", "  token:"]:
                assert line in secret, line

        t.k("delete", "pod", "debugger")
        f = tmp_path / "pod-token.yaml"
        f.write_text(POD_TOKEN_YAML)
        assert t.k("create", "-f", str(f)).stdout.strip() == "pod/debugger created"
        assert t.k("get", "pod", "debugger", "-o", "jsonpath={.spec.serviceAccount}").stdout == "podview"
        token, ca = t.pod_credentials("debugger", "podview")
        assert t.curl("/api/v1/pods", token, ca) == forbidden("podview")

        dry = t.k("create", "clusterrole", "podview-role", "--verb=get,list,watch", "--resource=pods", "--dry-run", "-o", "yaml").stdout
        assert "kind: ClusterRole" in dry and "name: podview-role" in dry
        assert t.k("create", "clusterrole", "podview-role", "--verb=list,watch", "--resource=pods").stdout.strip() == "clusterrole.rbac.authorization.k8s.io/podview-role created"
        dry = t.k("create", "clusterrolebinding", "podview-role-binding", "--clusterrole=podview-role", "--serviceaccount=default:podview", "--dry-run", "-o", "yaml").stdout
        assert "kind: ClusterRoleBinding" in dry and t.k("get", "clusterrolebinding", "podview-role-binding", check=False).returncode == 1
        assert t.k("create", "clusterrolebinding", "podview-role-binding", "--clusterrole=podview-role", "--serviceaccount=default:podview").stdout.strip() == "clusterrolebinding.rbac.authorization.k8s.io/podview-role-binding created"
        listed = eventually(lambda: (lambda r: r if r.get("kind") == "PodList" else None)(t.curl("/api/v1/pods", token, ca)), 3.0, "pods listed")
        assert [p["metadata"]["name"] for p in listed["items"]] == ["debugger"]

        # The single-file version, after removing what the steps created; then delete and
        # re-create the account: the old token is refused.
        t.k("delete", "pod", "debugger")
        t.k("delete", "clusterrolebinding", "podview-role-binding")
        t.k("delete", "clusterrole", "podview-role")
        t.k("delete", "serviceaccount", "podview")
        eventually(lambda: t.curl("/api/v1/pods", token, ca).get("code") == 401, 1.0, "the deleted account's token is refused")
        y = tmp_path / "podview.yaml"
        y.write_text(TUTORIAL_YAML)
        assert t.k("create", "-f", str(y)).stdout.splitlines() == [
            "serviceaccount/podview created",
            "clusterrole.rbac.authorization.k8s.io/podview-role created",
            "clusterrolebinding.rbac.authorization.k8s.io/podview-role-binding created",
        ]
        assert t.curl("/api/v1/pods", token, ca)["code"] == 401, "the old token belongs to the deleted account"
        t.k("create", "-f", str(f))
        new_token, ca = t.pod_credentials("debugger", "podview")
        assert eventually(lambda: t.curl("/api/v1/pods", new_token, ca).get("kind") == "PodList", 3.0, "new token lists pods")
    finally:
        s.stop()
