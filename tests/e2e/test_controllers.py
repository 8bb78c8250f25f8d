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
