"""Defaults as upstream's SetDefaults_* functions (pkg/apis/core/v1/defaults.go,
pkg/apis/rbac/v1/defaults.go) fill them in on the way in (#12), each checked on what the
server stores."""

import json

import pytest

NS = "defaults-tests"


@pytest.fixture(scope="module", autouse=True)
def namespace(server):
    assert server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})[0] == 201


def post(server, path, body):
    status, _, obj = server.request("POST", path, body)
    assert status == 201, obj
    return obj


def test_pod_defaults(server):
    pod = post(server, f"/api/v1/namespaces/{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "serviceAccountName": "default", "automountServiceAccountToken": False, "hostNetwork": True,
            "containers": [{
                "name": "c", "image": "busybox:1.36",
                "ports": [{"containerPort": 8080}],
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": "1", "memory": "64Mi"}},
                "livenessProbe": {"httpGet": {"port": 8080}},
                "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
                "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/stop"}}},
            }],
            "volumes": [
                {"name": "s", "secret": {"secretName": "x"}},
                {"name": "m", "configMap": {"name": "x", "defaultMode": 256}},
                {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}},
                                                        {"downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
                {"name": "h", "hostPath": {"path": "/tmp"}},
            ],
        }})
    spec = pod["spec"]
    c = spec["containers"][0]
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "metadata.name"}
    assert c["ports"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]  # host network
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "64Mi"}  # requests from limits
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["periodSeconds"] == 5 and c["readinessProbe"]["failureThreshold"] == 3
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 8080, "path": "/stop", "scheme": "HTTP"}
    assert c["imagePullPolicy"] == "IfNotPresent"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["s"]["secret"]["defaultMode"] == 420
    assert volumes["m"]["configMap"]["defaultMode"] == 256  # as given
    assert volumes["d"]["downwardAPI"] == {"items": [{"path": "n", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}], "defaultMode": 420}
    sources = volumes["t"]["projected"]["sources"]
    assert volumes["t"]["projected"]["defaultMode"] == 420
    assert sources[0]["serviceAccountToken"] == {"path": "token", "expirationSeconds": 3600}
    assert sources[1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
    assert volumes["h"]["hostPath"] == {"path": "/tmp", "type": ""}
    # A label change sends the pod back as read: nothing defaulted counts as a change.
    r = server.kubectl("1.33", "-n", NS, "label", "pod", "p", "tier=web")
    assert "labeled" in r.stdout


def test_node_allocatable_defaults_to_capacity(server):
    node = post(server, "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                                          "status": {"capacity": {"cpu": "2", "pods": "110"}}})
    status, _, node = server.request("GET", "/api/v1/nodes/n1")
    assert node["status"]["allocatable"] == {"cpu": "2", "pods": "110"}


def test_rbac_and_secret_defaults(server):
    rb = post(server, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "Group", "name": "g"}, {"kind": "ServiceAccount", "name": "default", "namespace": NS}]})
    assert rb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    # A service account's stays "", which omitempty leaves out.
    assert [s.get("apiGroup") for s in rb["subjects"]] == ["rbac.authorization.k8s.io", "rbac.authorization.k8s.io", None]
    secret = post(server, f"/api/v1/namespaces/{NS}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    assert secret["type"] == "Opaque"
    ns = json.loads(server.kubectl("1.33", "get", "ns", NS, "-o", "json").stdout)
    assert ns["status"] == {"phase": "Active"} and ns["spec"] == {"finalizers": ["kubernetes"]}
