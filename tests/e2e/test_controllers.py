"""The per-namespace controllers: the default service account and the root CA ConfigMap."""

import json

from harness import eventually


def test_every_namespace_gets_a_default_service_account_and_the_root_ca(server):
    server.kubectl("1.33", "create", "ns", "ctl")
    ca = (server.data_dir / "pki" / "ca.crt").read_text()

    def root_ca():
        p = server.kubectl("1.33", "-n", "ctl", "get", "cm", "kube-root-ca.crt", "-o", "json", check=False)
        return p.returncode == 0 and json.loads(p.stdout)["data"] == {"ca.crt": ca}

    eventually(root_ca, 5.0, "kube-root-ca.crt")
    eventually(lambda: server.kubectl("1.33", "-n", "ctl", "get", "sa", "default", check=False).returncode == 0, 5.0, "default SA")
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"]:
        eventually(lambda: server.kubectl("1.33", "-n", ns, "get", "sa", "default", check=False).returncode == 0, 5.0, f"default SA in {ns}")

    uid = server.kubectl("1.33", "-n", "ctl", "get", "sa", "default", "-o", "jsonpath={.metadata.uid}").stdout
    server.kubectl("1.33", "-n", "ctl", "delete", "sa", "default")
    eventually(lambda: server.kubectl("1.33", "-n", "ctl", "get", "sa", "default", "-o", "jsonpath={.metadata.uid}", check=False).stdout not in ("", uid), 5.0, "re-created default SA")

    server.kubectl("1.33", "-n", "ctl", "patch", "cm", "kube-root-ca.crt", "--type=merge", "-p", '{"data":{"ca.crt":"tampered"}}')
    eventually(root_ca, 5.0, "restored kube-root-ca.crt")
    server.kubectl("1.33", "-n", "ctl", "delete", "cm", "kube-root-ca.crt")
    eventually(root_ca, 5.0, "re-created kube-root-ca.crt")


def test_pods_get_their_service_account_and_token_volume(server, version):
    ns = "sa-adm-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "run", "debugger", "--image=ansilh/debug-tools", "--restart=Never")
    assert server.kubectl(version, "-n", ns, "get", "pod", "debugger", "-o", "jsonpath={.spec.serviceAccount}").stdout == "default"
    pod = json.loads(server.kubectl(version, "-n", ns, "get", "pod", "debugger", "-o", "json").stdout)
    vol = next(v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))
    assert len(vol["name"]) == len("kube-api-access-") + 5
    assert vol["projected"]["sources"][0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert vol["projected"]["defaultMode"] == 420
    mount = pod["spec"]["containers"][0]["volumeMounts"][0]
    assert mount == {"name": vol["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}

    missing = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan"},
               "spec": {"serviceAccountName": "nobody", "containers": [{"name": "c", "image": "busybox"}]}}
    status, _, err = server.request("POST", f"/api/v1/namespaces/{ns}/pods", missing)
    assert status == 403
    assert err["message"] == f'pods "orphan" is forbidden: error looking up service account {ns}/nobody: serviceaccount "nobody" not found'

    server.kubectl(version, "-n", ns, "create", "sa", "quiet")
    server.kubectl(version, "-n", ns, "patch", "sa", "quiet", "--type=merge", "-p", '{"automountServiceAccountToken": false}')
    quiet = dict(missing, metadata={"name": "quiet"}, spec={"serviceAccountName": "quiet", "containers": [{"name": "c", "image": "busybox"}]})
    status, _, pod = server.request("POST", f"/api/v1/namespaces/{ns}/pods", quiet)
    assert status == 201 and "volumes" not in pod["spec"] and pod["spec"]["serviceAccount"] == "quiet"
