"""Real kubectl (oldest and newest supported) against a freshly started kubeward."""

import base64
import json
import os
import select
import time

import pytest

from harness import eventually, without_defaults

MULTI = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
  namespace: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  namespace: {ns}
  labels:
    app: web
data:
  key: value
"""


def ns_for(version, name):
    return f"{name}-{version.replace('.', '')}"


def test_get_namespaces_lists_the_four(server, version):
    out = server.kubectl(version, "get", "ns", "-o", "name").stdout.split()
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"]:
        assert f"namespace/{ns}" in out
    table = server.kubectl(version, "get", "ns").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(line.split()[:2] == ["default", "Active"] for line in table[1:])


def test_create_generators(server, version):
    ns = ns_for(version, "gen")
    assert server.kubectl(version, "create", "ns", ns).stdout.strip() == f"namespace/{ns} created"
    assert "serviceaccount/bot created" in server.kubectl(version, "-n", ns, "create", "serviceaccount", "bot").stdout
    server.kubectl(version, "-n", ns, "create", "secret", "generic", "creds", "--from-literal=user=admin", "--from-literal=pass=s3cr3t")
    server.kubectl(version, "-n", ns, "create", "configmap", "cfg", "--from-literal=a=b")
    secret = json.loads(server.kubectl(version, "-n", ns, "get", "secret", "creds", "-o", "json").stdout)
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["pass"]) == b"s3cr3t"
    assert secret["metadata"]["uid"] and secret["metadata"]["resourceVersion"]
    cm = json.loads(server.kubectl(version, "-n", ns, "get", "cm", "cfg", "-o", "json").stdout)
    assert cm["data"] == {"a": "b"} and cm["kind"] == "ConfigMap"
    sa_table = server.kubectl(version, "-n", ns, "get", "sa", "bot").stdout.splitlines()
    assert sa_table[0].split() == ["NAME", "SECRETS", "AGE"] and sa_table[1].split()[:2] == ["bot", "0"]
    secret_table = server.kubectl(version, "-n", ns, "get", "secrets").stdout.splitlines()
    assert secret_table[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert secret_table[1].split()[:3] == ["creds", "Opaque", "2"]
    again = server.kubectl(version, "-n", ns, "create", "configmap", "cfg", "--from-literal=a=b", check=False)
    assert again.returncode == 1 and 'configmaps "cfg" already exists' in again.stderr


def test_create_from_multi_document_yaml_and_output_formats(server, version, tmp_path):
    ns = ns_for(version, "multi")
    f = tmp_path / "multi.yaml"
    f.write_text(MULTI.format(ns=ns))
    out = server.kubectl(version, "create", "-f", str(f)).stdout
    assert out.splitlines() == [f"namespace/{ns} created", "serviceaccount/deployer created", "configmap/app created"]

    assert "key: value" in server.kubectl(version, "-n", ns, "get", "cm", "app", "-o", "yaml").stdout
    assert server.kubectl(version, "-n", ns, "get", "cm", "app", "-o", "jsonpath={.data.key}").stdout == "value"
    assert without_defaults(server.kubectl(version, "-n", ns, "get", "sa", "-o", "name").stdout.split()) == ["serviceaccount/deployer"]
    listed = json.loads(server.kubectl(version, "-n", ns, "get", "cm", "-o", "json").stdout)
    assert without_defaults(["configmap/" + i["metadata"]["name"] for i in listed["items"]]) == ["configmap/app"]
    wide = server.kubectl(version, "-n", ns, "get", "cm", "app", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "DATA", "AGE"]
    by_label = server.kubectl(version, "get", "cm", "-A", "-l", "app=web").stdout.splitlines()
    assert by_label[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [ns, "app"] for line in by_label[1:])
    none = server.kubectl(version, "-n", ns, "get", "cm", "-l", "app=db")
    assert "No resources found" in none.stderr
    by_field = server.kubectl(version, "get", "ns", "--field-selector", "metadata.name=default", "-o", "name").stdout.split()
    assert by_field == ["namespace/default"]
    all_sa = server.kubectl(version, "get", "sa", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}").stdout
    assert f"{ns}/deployer" in all_sa.split()


def test_pods_table_and_wide(server, version):
    ns = ns_for(version, "pods")
    server.kubectl(version, "create", "ns", ns)
    assert "pod/web created" in server.kubectl(version, "-n", ns, "run", "web", "--image=busybox", "--restart=Never").stdout
    table = server.kubectl(version, "-n", ns, "get", "pods").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:4] == ["web", "0/1", "Pending", "0"]
    wide = server.kubectl(version, "-n", ns, "get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    pod = json.loads(server.kubectl(version, "-n", ns, "get", "pod", "web", "-o", "json").stdout)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert pod["status"]["phase"] == "Pending"


class Lines:
    """Reads whole lines from a child's stdout without Python's buffering hiding them from
    select()."""

    def __init__(self, proc):
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def next(self, timeout=20):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            assert ready, f"no line from kubectl get -w in {timeout}s (have {self.buf!r})"
            chunk = os.read(self.fd, 4096)
            assert chunk, f"kubectl get -w ended early (have {self.buf!r})"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def test_get_watch_sees_a_change_made_by_another_command(server, version):
    ns = ns_for(version, "watch")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "create", "configmap", "w", "--from-literal=a=b")
    watch = server.kubectl_popen(version, "-n", ns, "get", "cm", "w", "-w", "-L", "round")
    lines = Lines(watch)
    try:
        assert lines.next().split() == ["NAME", "DATA", "AGE", "ROUND"]
        first = lines.next().split()
        assert first[0] == "w" and len(first) == 3, first
        server.kubectl(version, "-n", ns, "label", "cm", "w", "round=2")
        changed = lines.next().split()
        assert changed[0] == "w" and changed[-1] == "2", changed
    finally:
        watch.kill()
        watch.wait()


def test_label_annotate_patch_replace_delete(server, version, tmp_path):
    ns = ns_for(version, "edit")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "create", "configmap", "c", "--from-literal=a=1")
    assert "configmap/c labeled" in server.kubectl(version, "-n", ns, "label", "cm", "c", "tier=front").stdout
    # kubectl 1.27 prints "annotate", later versions "annotated": client-side wording.
    assert "configmap/c annotate" in server.kubectl(version, "-n", ns, "annotate", "cm", "c", "note=hello").stdout
    server.kubectl(version, "-n", ns, "patch", "cm", "c", "--type=merge", "-p", '{"data":{"b":"2"}}')
    server.kubectl(version, "-n", ns, "patch", "cm", "c", "--type=json", "-p", '[{"op":"replace","path":"/data/a","value":"9"}]')
    cm = json.loads(server.kubectl(version, "-n", ns, "get", "cm", "c", "-o", "json").stdout)
    assert cm["data"] == {"a": "9", "b": "2"}
    assert cm["metadata"]["labels"] == {"tier": "front"}
    assert cm["metadata"]["annotations"] == {"note": "hello"}
    assert server.kubectl(version, "-n", ns, "get", "cm", "-l", "tier=front", "-o", "name").stdout.split() == ["configmap/c"]
    server.kubectl(version, "-n", ns, "label", "cm", "c", "tier-")
    assert "labels" not in json.loads(server.kubectl(version, "-n", ns, "get", "cm", "c", "-o", "json").stdout)["metadata"]

    cm = json.loads(server.kubectl(version, "-n", ns, "get", "cm", "c", "-o", "json").stdout)
    cm["data"] = {"replaced": "yes"}
    f = tmp_path / "c.json"
    f.write_text(json.dumps(cm))
    assert "configmap/c replaced" in server.kubectl(version, "replace", "-f", str(f)).stdout
    assert server.kubectl(version, "-n", ns, "get", "cm", "c", "-o", "jsonpath={.data}").stdout == '{"replaced":"yes"}'
    # replace with the stale resourceVersion is a conflict
    stale = server.kubectl(version, "replace", "-f", str(f), check=False)
    assert stale.returncode == 1 and "the object has been modified" in stale.stderr
    # resourceVersion "0" is no precondition: the replace is unconditional, as upstream.
    cm["metadata"]["resourceVersion"] = "0"
    cm["data"] = {"replaced": "again"}
    f.write_text(json.dumps(cm))
    assert "configmap/c replaced" in server.kubectl(version, "replace", "-f", str(f)).stdout
    assert server.kubectl(version, "-n", ns, "get", "cm", "c", "-o", "jsonpath={.data}").stdout == '{"replaced":"again"}'

    assert 'configmap "c" deleted' in server.kubectl(version, "-n", ns, "delete", "cm", "c").stdout
    gone = server.kubectl(version, "-n", ns, "get", "cm", "c", check=False)
    assert gone.returncode == 1 and 'configmaps "c" not found' in gone.stderr


def test_delete_namespace_removes_its_contents(server, version):
    ns = ns_for(version, "doomed")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "create", "sa", "a")
    server.kubectl(version, "-n", ns, "create", "secret", "generic", "s", "--from-literal=k=v")
    assert f'namespace "{ns}" deleted' in server.kubectl(version, "delete", "ns", ns).stdout
    assert server.kubectl(version, "get", "ns", ns, check=False).returncode == 1
    status, _, body = server.request("GET", f"/api/v1/namespaces/{ns}/secrets")
    assert status == 200 and body["items"] == []
    # Re-created, it starts empty but for what the controllers add to every namespace.
    server.kubectl(version, "create", "ns", ns)
    left = server.kubectl(version, "-n", ns, "get", "sa,secrets,cm", "-o", "name").stdout.split()
    assert without_defaults(left) == []
    eventually(lambda: set(server.kubectl(version, "-n", ns, "get", "sa,cm", "-o", "name").stdout.split()) == {"serviceaccount/default", "configmap/kube-root-ca.crt"}, 5.0, "namespace defaults")
    refused = server.kubectl(version, "delete", "ns", "default", check=False)
    assert refused.returncode == 1 and "this namespace may not be deleted" in refused.stderr


def test_discovery_commands(server, version):
    res = server.kubectl(version, "api-resources").stdout.splitlines()
    names = {line.split()[0] for line in res[1:]}
    assert {"namespaces", "serviceaccounts", "secrets", "configmaps", "pods", "nodes", "events", "services", "leases"} <= names
    sa = next(line.split() for line in res if line.startswith("serviceaccounts"))
    assert sa == ["serviceaccounts", "sa", "v1", "true", "ServiceAccount"]
    versions = server.kubectl(version, "api-versions").stdout.split()
    assert "v1" in versions and "coordination.k8s.io/v1" in versions
    v = server.kubectl(version, "version", "-o", "json").stdout
    assert json.loads(v)["serverVersion"]["gitVersion"].startswith("v1.33.")
