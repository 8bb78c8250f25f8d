"""Admission plug-ins chosen as kube-apiserver's flags choose them (#12):
--enable-admission-plugins / --disable-admission-plugins, upstream's names and messages, and
the pod plug-ins (Priority, DefaultTolerationSeconds) as upstream's."""

import json
import subprocess

import pytest

from harness import KUBEWARD, Server, eventually

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def pod(**spec):
    body = json.loads(json.dumps(POD))
    body["spec"].update(spec)
    return body


def test_default_pod_plugins_as_upstream(server):
    ns = "admission-defaults"
    assert server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})[0] == 201
    eventually(lambda: server.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")[0] == 200, 5.0, "default account")
    status, _, obj = server.request("POST", f"/api/v1/namespaces/{ns}/pods", pod())
    assert status == 201, obj
    spec = obj["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
    assert spec["serviceAccountName"] == "default"
    # A toleration of every taint covers both; a system class gives its priority.
    status, _, obj = server.request("POST", f"/api/v1/namespaces/{ns}/pods",
                                    pod(tolerations=[{"operator": "Exists"}], priorityClassName="system-node-critical") | {"metadata": {"name": "crit"}})
    assert status == 201, obj
    assert obj["spec"]["tolerations"] == [{"operator": "Exists"}] and obj["spec"]["priority"] == 2000001000
    # Priority's refusals, in its words.
    for body, message in [
        (pod(priorityClassName="gold"), 'pods "p" is forbidden: no PriorityClass with name gold was found'),
        (pod(priority=7), 'pods "p" is forbidden: the integer value of priority (7) must not be provided in pod spec; '
                          'priority admission controller computed 0 from the given PriorityClass name'),
    ]:
        status, _, err = server.request("POST", f"/api/v1/namespaces/{ns}/pods", body)
        assert (status, err["message"]) == (403, message)


def test_disabled_plugins_do_not_run(tmp_path):
    s = Server(data_dir=tmp_path, args=["--disable-admission-plugins", "ServiceAccount,Priority",
                                         "--disable-admission-plugins=DefaultTolerationSeconds"])
    try:
        status, _, obj = s.request("POST", "/api/v1/namespaces/default/pods", pod())
        assert status == 201, obj
        spec = obj["spec"]
        assert "priority" not in spec and "tolerations" not in spec
        assert "serviceAccountName" not in spec and "volumes" not in spec  # no token volume
        # NamespaceLifecycle still runs.
        status, _, err = s.request("POST", "/api/v1/namespaces/nowhere/pods", pod())
        assert (status, err["message"]) == (404, 'namespaces "nowhere" not found')
    finally:
        s.stop()


def test_namespace_auto_provision_and_exists(tmp_path):
    s = Server(data_dir=tmp_path, args=["--enable-admission-plugins", "NamespaceAutoProvision,PodSecurity"])
    try:
        r = s.kubectl("1.33", "-n", "made-on-demand", "create", "configmap", "c", "--from-literal=k=v")
        assert r.stdout.strip() == "configmap/c created"
        assert s.kubectl("1.33", "get", "ns", "made-on-demand", "-o", "name").stdout.strip() == "namespace/made-on-demand"
        assert "admission plug-in PodSecurity is enabled, but kubeward has no PodSecurity: it changes nothing" in s.server_log()
    finally:
        s.stop()
    s = Server(data_dir=tmp_path / "exists", args=["--enable-admission-plugins", "NamespaceExists", "--disable-admission-plugins", "NamespaceLifecycle"])
    try:
        r = s.kubectl("1.27", "-n", "absent", "delete", "configmap", "c", check=False)
        assert 'Error from server (NotFound): namespaces "absent" not found' in r.stderr, r.stderr
        r = s.kubectl("1.33", "-n", "absent", "create", "configmap", "c", check=False)
        assert r.returncode == 1 and 'namespaces "absent" not found' in r.stderr, r.stderr
    finally:
        s.stop()


@pytest.mark.parametrize("args,message", [
    (["--enable-admission-plugins", "Nope"], 'enable-admission-plugins plugin "Nope" is unknown'),
    (["--disable-admission-plugins", "Never"], 'disable-admission-plugins plugin "Never" is unknown'),
    (["--enable-admission-plugins", "Priority,ServiceAccount", "--disable-admission-plugins", "ServiceAccount"],
     "[ServiceAccount] in enable-admission-plugins and disable-admission-plugins overlapped"),
])
def test_bad_plugin_flags_refuse_to_start(tmp_path, args, message):
    p = subprocess.run([str(KUBEWARD), "serve", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:0", "--node-agent", "off", *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
