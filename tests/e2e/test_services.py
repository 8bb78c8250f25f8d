"""Services as kube-apiserver 1.33 keeps them (#12): cluster IPs from --service-cluster-ip-range
and node ports from --service-node-port-range, given at random from the upper band or as
asked, unique, released with the Service; SetDefaults_Service; the kubernetes Service."""

import ipaddress
import json
import subprocess

import pytest

from harness import KUBEWARD, Server

NS = "svc-tests"


@pytest.fixture(scope="module", autouse=True)
def namespace(server):
    assert server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})[0] == 201


def create(server, name, **spec):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], "selector": {"app": name}} | spec}
    return server.request("POST", f"/api/v1/namespaces/{NS}/services", body)


def svc(server, name):
    return json.loads(server.kubectl("1.33", "-n", NS, "get", "svc", name, "-o", "json").stdout)["spec"]


def test_cluster_ips_are_given_from_the_range(server):
    server.kubectl("1.33", "-n", NS, "create", "service", "clusterip", "web", "--tcp=80:8080")
    spec = svc(server, "web")
    ip = ipaddress.ip_address(spec["clusterIP"])
    assert ip in ipaddress.ip_network("10.96.0.0/12")
    # Dynamic addresses come from the upper band; the first 256 are for static ones.
    assert int(ip) - int(ipaddress.ip_address("10.96.0.0")) > 256
    assert spec["clusterIPs"] == [str(ip)]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert (spec["sessionAffinity"], spec["internalTrafficPolicy"], spec["type"]) == ("None", "Cluster", "ClusterIP")
    assert "externalTrafficPolicy" not in spec
    # kubectl shows it.
    row = server.kubectl("1.27", "-n", NS, "get", "svc", "web").stdout.split("\n")[1].split()
    assert row[:3] == ["web", "ClusterIP", str(ip)]
    # Every Service its own address.
    for i in range(5):
        assert create(server, f"many-{i}")[0] == 201
    ips = {svc(server, f"many-{i}")["clusterIP"] for i in range(5)} | {str(ip)}
    assert len(ips) == 6


def test_a_static_cluster_ip_is_unique_and_released_with_its_service(server):
    status, _, obj = create(server, "dns", clusterIP="10.96.0.10")
    assert status == 201 and obj["spec"]["clusterIPs"] == ["10.96.0.10"], obj
    status, _, err = create(server, "dns2", clusterIP="10.96.0.10")
    assert (status, err["message"]) == (422, 'Service "dns2" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: '
                                             'failed to allocate IP 10.96.0.10: provided IP is already allocated')
    status, _, err = create(server, "far", clusterIP="192.168.0.10")
    assert (status, err["message"]) == (422, 'Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"192.168.0.10"}: '
                                             'failed to allocate IP 192.168.0.10: the provided IP (192.168.0.10) is not in the valid range. '
                                             'The range of valid IPs is 10.96.0.0/12')
    assert server.request("GET", f"/api/v1/namespaces/{NS}/services/dns2")[0] == 404
    server.kubectl("1.33", "-n", NS, "delete", "svc", "dns")
    assert create(server, "dns2", clusterIP="10.96.0.10")[0] == 201
    # A dry run says what it would be given and holds nothing.
    status, _, obj = server.request("POST", f"/api/v1/namespaces/{NS}/services?dryRun=All",
                                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dry"}, "spec": {"ports": [{"port": 1}], "clusterIP": "10.96.0.11"}})
    assert status == 201 and obj["spec"]["clusterIP"] == "10.96.0.11"
    assert create(server, "wet", clusterIP="10.96.0.11")[0] == 201


def test_node_ports_are_given_from_their_range(server):
    server.kubectl("1.33", "-n", NS, "create", "service", "nodeport", "np", "--tcp=80:8080")
    spec = svc(server, "np")
    port = spec["ports"][0]["nodePort"]
    assert 30000 + 86 <= port <= 32767  # upper band first
    assert spec["externalTrafficPolicy"] == "Cluster"
    server.kubectl("1.33", "-n", NS, "create", "service", "nodeport", "fixed", "--tcp=80:8080", "--node-port=30080")
    assert svc(server, "fixed")["ports"][0]["nodePort"] == 30080
    r = server.kubectl("1.33", "-n", NS, "create", "service", "nodeport", "again", "--tcp=80:8080", "--node-port=30080", check=False)
    assert 'spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated' in r.stderr, r.stderr
    status, _, err = create(server, "low", type="NodePort", ports=[{"port": 80, "nodePort": 80}])
    assert (status, err["message"]) == (422, 'Service "low" is invalid: spec.ports[0].nodePort: Invalid value: 80: '
                                             'provided port is not in the valid range. The range of valid ports is 30000-32767')
    # A port no port can be: refused before any allocation (a negative one was given a
    # port of the server's choosing before).
    for name, bad in [("negative", -5), ("huge", 70000)]:
        status, _, err = create(server, name, type="NodePort", ports=[{"port": 80, "nodePort": bad}])
        assert (status, err["message"]) == (422, f'Service "{name}" is invalid: spec.ports[0].nodePort: Invalid value: {bad}: '
                                                 'must be between 1 and 65535, inclusive')
    status, _, err = create(server, "cipneg", ports=[{"port": 80, "nodePort": -1}])
    assert status == 422 and "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'" in err["message"]
    status, _, err = create(server, "cip", ports=[{"port": 80, "nodePort": 30500}])
    assert status == 422 and "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'" in err["message"]
    server.kubectl("1.33", "-n", NS, "create", "service", "loadbalancer", "lb", "--tcp=5678:8080")
    spec = svc(server, "lb")
    assert spec["allocateLoadBalancerNodePorts"] is True and 30000 <= spec["ports"][0]["nodePort"] <= 32767
    # Released with the Service.
    server.kubectl("1.33", "-n", NS, "delete", "svc", "fixed")
    server.kubectl("1.33", "-n", NS, "create", "service", "nodeport", "again", "--tcp=80:8080", "--node-port=30080")


def test_headless_and_external_name_services(server):
    server.kubectl("1.33", "-n", NS, "create", "service", "clusterip", "headless", "--clusterip=None", "--tcp=80:80")
    spec = svc(server, "headless")
    assert (spec["clusterIP"], spec["clusterIPs"], spec["ipFamilyPolicy"]) == ("None", ["None"], "SingleStack")
    status, _, obj = server.request("POST", f"/api/v1/namespaces/{NS}/services",
                                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bare"}, "spec": {"clusterIP": "None"}})
    assert status == 201 and obj["spec"]["ipFamilyPolicy"] == "RequireDualStack"  # no selector
    server.kubectl("1.33", "-n", NS, "create", "service", "externalname", "ext", "--external-name=example.com")
    spec = svc(server, "ext")
    assert not {"clusterIP", "clusterIPs", "ipFamilies", "internalTrafficPolicy"} & set(spec), spec


def test_the_cluster_ip_stays_through_replace_and_may_not_change(server):
    server.kubectl("1.33", "-n", NS, "create", "service", "nodeport", "kept", "--tcp=80:8080")
    before = svc(server, "kept")
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kept", "namespace": NS},
                "spec": {"type": "NodePort", "selector": {"app": "kept"}, "ports": [{"name": "80-8080", "port": 80, "targetPort": 8080}]}}
    for version in ["1.27", "1.33"]:
        server.kubectl(version, "replace", "-f", "-", input=json.dumps(manifest))
        after = svc(server, "kept")
        assert (after["clusterIP"], after["ports"][0]["nodePort"]) == (before["clusterIP"], before["ports"][0]["nodePort"])
    status, _, current = server.request("GET", f"/api/v1/namespaces/{NS}/services/kept")
    current["spec"]["clusterIP"] = "10.96.0.99"
    current["spec"]["clusterIPs"] = ["10.96.0.99"]
    status, _, err = server.request("PUT", f"/api/v1/namespaces/{NS}/services/kept", current)
    assert status == 422 and 'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set' in err["message"], err


def test_session_affinity_defaults(server):
    status, _, obj = create(server, "sticky", sessionAffinity="ClientIP")
    assert status == 201 and obj["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_the_kubernetes_service_and_custom_ranges(tmp_path):
    s = Server(data_dir=tmp_path, args=["--service-cluster-ip-range", "10.0.0.0/24", "--service-node-port-range", "31000-31001"])
    try:
        spec = json.loads(s.kubectl("1.33", "get", "svc", "kubernetes", "-o", "json").stdout)["spec"]
        assert spec["clusterIP"] == "10.0.0.1"
        assert spec["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": s.port}]
        for name in ["a", "b"]:
            s.kubectl("1.33", "create", "service", "nodeport", name, "--tcp=80:80")
        ports = sorted(json.loads(s.kubectl("1.33", "get", "svc", n, "-o", "json").stdout)["spec"]["ports"][0]["nodePort"] for n in ["a", "b"])
        assert ports == [31000, 31001]
        r = s.kubectl("1.33", "create", "service", "nodeport", "c", "--tcp=80:80", check=False)
        assert "Internal error occurred: failed to allocate a nodePort: range is full" in r.stderr, r.stderr
        assert s.request("GET", "/api/v1/namespaces/default/services/c")[0] == 404
    finally:
        s.stop()
    # The flag is checked before anything starts.
    p = subprocess.run([str(KUBEWARD), "serve", "--data-dir", str(tmp_path / "bad"), "--listen", "127.0.0.1:0", "--node-agent", "off",
                        "--service-cluster-ip-range", "10.0.0.0/8"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "the mask must be >= 12" in p.stderr, p.stderr
