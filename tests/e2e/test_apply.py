"""kubectl's editing paths that need strategic merge patch: client-side apply, patch
--type=strategic, edit and diff."""

import json
import os
import subprocess

from harness import kubectl_path

MANIFESTS = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web, tier: front}}
spec:
  containers:
  - name: main
    image: {image}
    env:
    - {{name: A, value: "1"}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
  labels: {{team: {team}}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  keep: "1"
{extra}---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader}}
rules:
- {{apiGroups: [""], resources: [pods], verbs: [{verbs}]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects:
- {{kind: ServiceAccount, name: deployer}}
"""


def render(image="busybox:1.36", team="a", extra='  drop: "me"\n', verbs="get"):
    return MANIFESTS.format(image=image, team=team, extra=extra, verbs=verbs)


def test_client_side_apply(server, version, tmp_path):
    ns = "apply-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    f = tmp_path / "m.yaml"
    f.write_text(render())
    out = server.kubectl(version, "-n", ns, "apply", "-f", str(f)).stdout.splitlines()
    assert out == ["pod/web created", "serviceaccount/deployer created", "configmap/settings created",
                   "role.rbac.authorization.k8s.io/reader created", "rolebinding.rbac.authorization.k8s.io/reader created"]
    out = server.kubectl(version, "-n", ns, "apply", "-f", str(f)).stdout.splitlines()
    assert all(line.endswith(" unchanged") for line in out), out

    # Pods allow image changes only (as upstream); labels may change; dropped fields go.
    f.write_text(render(image="busybox:1.37", team="b", extra="", verbs="get, list").replace(", tier: front", ""))
    out = server.kubectl(version, "-n", ns, "apply", "-f", str(f)).stdout.splitlines()
    assert out == ["pod/web configured", "serviceaccount/deployer configured", "configmap/settings configured",
                   "role.rbac.authorization.k8s.io/reader configured", "rolebinding.rbac.authorization.k8s.io/reader unchanged"]
    pod = json.loads(server.kubectl(version, "-n", ns, "get", "pod", "web", "-o", "json").stdout)
    assert pod["metadata"]["labels"] == {"app": "web"}, "a label removed from the file is removed"
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert json.loads(server.kubectl(version, "-n", ns, "get", "cm", "settings", "-o", "json").stdout)["data"] == {"keep": "1"}
    rules = json.loads(server.kubectl(version, "-n", ns, "get", "role", "reader", "-o", "json").stdout)["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]


def test_strategic_patch_edit_and_diff(server, version, tmp_path):
    ns = "smp-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "a", "image": "busybox:1"}, {"name": "b", "image": "nginx:1"}]}}
    server.kubectl(version, "-n", ns, "create", "-f", "-", input=json.dumps(pod))
    server.kubectl(version, "-n", ns, "patch", "pod", "p", "--type=strategic", "-p", '{"spec":{"containers":[{"name":"b","image":"nginx:2"}]}}')
    images = server.kubectl(version, "-n", ns, "get", "pod", "p", "-o", "jsonpath={.spec.containers[*].image}").stdout
    assert images == "busybox:1 nginx:2", "containers merge by name"
    server.kubectl(version, "-n", ns, "create", "role", "r", "--verb=get", "--resource=pods")
    server.kubectl(version, "-n", ns, "patch", "role", "r", "-p", '{"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["list"]}]}')
    rules = json.loads(server.kubectl(version, "-n", ns, "get", "role", "r", "-o", "json").stdout)["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}], "RBAC rules are replaced"
    bad = server.kubectl(version, "-n", ns, "patch", "pod", "p", "-p", '{"spec":{"$bogus":1}}', check=False)
    assert bad.returncode == 1 and "unknown patch directive" in bad.stderr

    server.kubectl(version, "-n", ns, "create", "cm", "edit-me", "--from-literal=a=b")
    env = dict(os.environ, KUBE_EDITOR="sed -i s/a:\\ b/a:\\ edited/")
    p = subprocess.run([kubectl_path(version), "--cache-dir", str(server.data_dir / f"kubectl-cache-{version}"), "-n", ns, "edit", "cm", "edit-me"],
                       capture_output=True, text=True, env=dict(env, KUBECONFIG=server.kubeconfig, HOME=str(server.data_dir)))
    assert p.returncode == 0 and "configmap/edit-me edited" in p.stdout, p.stderr
    assert server.kubectl(version, "-n", ns, "get", "cm", "edit-me", "-o", "jsonpath={.data.a}").stdout == "edited"

    f = tmp_path / "p.yaml"
    live = json.loads(server.kubectl(version, "-n", ns, "get", "pod", "p", "-o", "json").stdout)
    live["spec"]["containers"][0]["image"] = "busybox:9"
    f.write_text(json.dumps(live))
    d = server.kubectl(version, "-n", ns, "diff", "-f", str(f), check=False)
    assert d.returncode == 1 and "image: busybox:9" in d.stdout and "+" in d.stdout
    changed = [line for line in d.stdout.splitlines() if line.startswith(("+ ", "- ")) and "image:" in line]
    assert [line.split()[-1] for line in changed] == ["busybox:1", "busybox:9"]
    assert server.kubectl(version, "-n", ns, "get", "pod", "p", "-o", "jsonpath={.spec.containers[0].image}").stdout == "busybox:1", "diff stores nothing"


def test_removed_env_entry_is_patched_away_and_pods_refuse_it_as_upstream(server, version, tmp_path):
    """kubectl's patch deletes the dropped env entry by name; a pod's spec is immutable (but for
    images), so the server answers as kube-apiserver does. (The merge itself, on an object that
    may change, is checked by the registry's SMP tests with the same patch.)"""
    ns = "apply-env-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "envs"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}
    f = tmp_path / "pod.json"
    f.write_text(json.dumps(pod))
    server.kubectl(version, "-n", ns, "apply", "-f", str(f))
    pod["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    f.write_text(json.dumps(pod))
    r = server.kubectl(version, "-n", ns, "apply", "-v=8", "-f", str(f), check=False)
    assert r.returncode != 0
    # kubectl 1.33 logs the request body as a quoted string.
    assert '{"$patch":"delete","name":"B"}' in r.stderr.replace('\\"', '"')
    assert "pod updates may not change fields other than `spec.containers[*].image`" in r.stderr
