"""EndpointSlices (discovery.k8s.io/v1) as kube-apiserver 1.33 serves them (#12): the
`kubernetes` Service's slice kept by the server beside its Endpoints, kubectl's table,
SetDefaults_EndpointPort, the generation, upstream's validation messages, and protobuf."""

import json

import pytest

NS = "slices"
BASE = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"


@pytest.fixture(scope="module", autouse=True)
def namespace(server):
    assert server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})[0] == 201


def slice_body(name, **fields):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]} | fields


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_the_kubernetes_slice_is_the_servers_address(server, version):
    out = server.kubectl(version, "get", "endpointslices", "-n", "default", "kubernetes").stdout.splitlines()
    assert out[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert out[1].split()[:4] == ["kubernetes", "IPv4", str(server.port), "127.0.0.1"]
    got = json.loads(server.kubectl(version, "get", "endpointslice", "-n", "default", "kubernetes", "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert got["endpoints"] == [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
    assert got["ports"] == [{"name": "https", "port": server.port, "protocol": "TCP"}]
    # The same address as the Endpoints beside it.
    ep = json.loads(server.kubectl(version, "get", "endpoints", "-n", "default", "kubernetes", "-o", "json").stdout)
    assert ep["subsets"][0]["addresses"][0]["ip"] == "127.0.0.1"


def test_defaults_generation_and_kubectl_apply(server):
    manifest = slice_body("web", ports=[{"port": 80}, {"name": "metrics", "port": 9090, "protocol": "UDP"}])
    server.kubectl("1.33", "apply", "-n", NS, "-f", "-", input=json.dumps(manifest))
    got = server.request("GET", f"{BASE}/web")[2]
    # SetDefaults_EndpointPort: a name of "" and TCP.
    assert got["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "UDP"}]
    assert got["metadata"]["generation"] == 1
    manifest["endpoints"] = [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"], "conditions": {"ready": False}}]
    server.kubectl("1.33", "apply", "-n", NS, "-f", "-", input=json.dumps(manifest))
    assert server.request("GET", f"{BASE}/web")[2]["metadata"]["generation"] == 2
    # A change of metadata alone leaves the generation.
    server.kubectl("1.33", "label", "-n", NS, "endpointslice", "web", "team=a")
    assert server.request("GET", f"{BASE}/web")[2]["metadata"]["generation"] == 2
    row = server.kubectl("1.27", "get", "-n", NS, "endpointslice", "web").stdout.splitlines()[1].split()
    assert row[:4] == ["web", "IPv4", "80,9090", "10.0.0.1,10.0.0.2"]


@pytest.mark.parametrize("fields,message", [
    ({"addressType": None},
     'EndpointSlice.discovery.k8s.io "bad" is invalid: addressType: Required value'),
    ({"addressType": "IPv5"},
     'EndpointSlice.discovery.k8s.io "bad" is invalid: addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"'),
    ({"endpoints": [{"addresses": ["300.1.1.1"]}]},
     'EndpointSlice.discovery.k8s.io "bad" is invalid: endpoints[0].addresses[0]: Invalid value: "300.1.1.1": must be a valid IPv4 address'),
    ({"endpoints": [{"addresses": []}]},
     'EndpointSlice.discovery.k8s.io "bad" is invalid: endpoints[0].addresses: Required value: must contain at least 1 address'),
    ({"ports": [{"port": 80, "protocol": "FOO"}]},
     'EndpointSlice.discovery.k8s.io "bad" is invalid: ports[0].protocol: Unsupported value: "FOO": supported values: "SCTP", "TCP", "UDP"'),
    ({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]},
     'EndpointSlice.discovery.k8s.io "bad" is invalid: ports[1].name: Duplicate value: "a"'),
])
def test_validation_as_upstream(server, fields, message):
    body = slice_body("bad")
    for k, v in fields.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    status, _, err = server.request("POST", BASE, body)
    assert (status, err["message"]) == (422, message)


def test_the_address_type_is_immutable(server):
    assert server.request("POST", BASE, slice_body("fixed"))[0] == 201
    got = server.request("GET", f"{BASE}/fixed")[2]
    got["addressType"] = "IPv6"
    got["endpoints"] = [{"addresses": ["fd00::1"]}]
    status, _, err = server.request("PUT", f"{BASE}/fixed", got)
    assert (status, err["message"]) == (422, 'EndpointSlice.discovery.k8s.io "fixed" is invalid: addressType: Invalid value: "IPv6": field is immutable')


def pb_field(number, payload):
    """A length-delimited protobuf field (wire type 2)."""
    if isinstance(payload, str):
        payload = payload.encode()
    key, length, out = (number << 3) | 2, len(payload), b""
    for v in (key, length):
        while v > 0x7F:
            out += bytes([(v & 0x7F) | 0x80])
            v >>= 7
        out += bytes([v])
    return out + payload


def pb_varint(number, value):
    out = bytes([number << 3])
    while value > 0x7F:
        out += bytes([(value & 0x7F) | 0x80])
        value >>= 7
    return out + bytes([value])


def test_protobuf_both_ways(server):
    """A client that prefers protobuf gets it; a slice sent as protobuf (encoded here from
    discovery/v1's generated.proto numbers: metadata 1, endpoints 2, ports 3, addressType 4)
    arrives whole."""
    accept = {"Accept": "application/vnd.kubernetes.protobuf"}
    status, headers, data = server.request("GET", f"{BASE}/web", headers=accept)
    assert status == 200 and headers["content-type"] == "application/vnd.kubernetes.protobuf"
    assert data.startswith(b"k8s\x00") and b"EndpointSlice" in data and b"10.0.0.2" in data
    raw = (pb_field(1, pb_field(1, "wep"))
           + pb_field(2, pb_field(1, "10.0.0.9") + pb_field(2, pb_varint(1, 1)))
           + pb_field(3, pb_field(1, "http") + pb_field(2, "TCP") + pb_varint(3, 8080))
           + pb_field(4, "IPv4"))
    envelope = b"k8s\x00" + pb_field(1, pb_field(1, "discovery.k8s.io/v1") + pb_field(2, "EndpointSlice")) + pb_field(2, raw)
    status, _, created = server.request("POST", BASE, envelope, headers={"Content-Type": "application/vnd.kubernetes.protobuf",
                                                                         "Accept": "application/json"})
    assert status == 201, created
    assert (created["metadata"]["name"], created["addressType"]) == ("wep", "IPv4")
    assert created["endpoints"] == [{"addresses": ["10.0.0.9"], "conditions": {"ready": True}}]
    assert created["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]


def test_a_server_without_the_group_still_starts(tmp_path):
    from harness import Server
    s = Server(data_dir=tmp_path, args=["--runtime-config", "discovery.k8s.io/v1=false"])
    try:
        assert s.request("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")[0] == 404
        assert s.request("GET", "/api/v1/namespaces/default/endpoints/kubernetes")[0] == 200
        # OpenAPI v3 leaves the group version out, as discovery does.
        paths = s.request("GET", "/openapi/v3")[2]["paths"]
        assert "apis/discovery.k8s.io/v1" not in paths and "apis/rbac.authorization.k8s.io/v1" in paths
        assert s.request("GET", "/openapi/v3/apis/discovery.k8s.io/v1")[0] == 404
        assert s.request("GET", "/openapi/v3/apis/coordination.k8s.io/v1")[0] == 200
    finally:
        s.stop()
