"""The bytes on the wire, as kube-apiserver 1.33 writes them (#12): JSON in Go struct field order
with the encoder's trailing newline, and the pretty serializer for curl, browsers and
?pretty=true (apiserver's isPrettyPrint)."""

import http.client
import json
import subprocess

import pytest

NS = "wire-tests"


@pytest.fixture(scope="module", autouse=True)
def namespace(server):
    status, _, _ = server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    assert status == 201


def raw(server, path, headers=None, method="GET", body=None, admin=True):
    """(status, content type, body bytes) of one request as the administrator (or, not
    `admin`, without a client certificate)."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(admin), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type"), data


def keys(data):
    """Top-level and nested key orders of a JSON document, as written."""
    return json.loads(data, object_pairs_hook=lambda pairs: [k for k, _ in pairs] + [dict(pairs)])


def test_a_status_is_byte_for_byte_upstreams(server):
    status, ctype, data = raw(server, f"/api/v1/namespaces/{NS}/configmaps/absent")
    assert (status, ctype) == (404, "application/json")
    # What kube-apiserver 1.33 sends for a missing object (kubectl get -v8 shows it).
    assert data == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    b'"message":"configmaps \\"absent\\" not found","reason":"NotFound",'
                    b'"details":{"name":"absent","kind":"configmaps"},"code":404}\n')


def test_objects_come_in_go_field_order(server):
    body = {"metadata": {"labels": {"z": "1", "a": "2"}, "name": "order"}, "type": "Opaque",
            "stringData": {"k": "<&>"}, "kind": "Secret", "apiVersion": "v1"}
    status, _, data = raw(server, f"/api/v1/namespaces/{NS}/secrets", method="POST", body=json.dumps(body),
                          headers={"Content-Type": "application/json"})
    assert status == 201, data
    assert data.endswith(b"}\n") and b"\n" not in data[:-1]
    top = keys(data)
    assert top[:-1] == ["kind", "apiVersion", "metadata", "data", "type"]
    meta = top[-1]["metadata"]
    assert meta[:-1] == ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "managedFields"]
    assert meta[-1]["labels"][:-1] == ["a", "z"]  # map keys sorted, as Go sorts them
    entry = meta[-1]["managedFields"][0]
    assert entry[:-1] == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    # A list, its items, and a watch event in the same order.
    _, _, listed = raw(server, f"/api/v1/namespaces/{NS}/secrets")
    top = keys(listed)
    assert top[:-1] == ["kind", "apiVersion", "metadata", "items"]
    assert top[-1]["items"][0][:-1] == ["metadata", "data", "type"]
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True), timeout=10)
    conn.request("GET", f"/api/v1/namespaces/{NS}/secrets?watch=1&resourceVersion=0")
    line = conn.getresponse().readline()
    conn.close()
    assert line.startswith(b'{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"order",')
    assert line.endswith(b"}}\n")


def test_go_escapes_html_characters(server):
    _, _, data = raw(server, f"/api/v1/namespaces/{NS}/configmaps", method="POST",
                     body=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "html"},
                                      "data": {"k": "<a href=\"x\">&</a>\u2028"}}),
                     headers={"Content-Type": "application/json"})
    assert b'"k":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e\\u2028"' in data


@pytest.mark.parametrize("query,agent,pretty", [
    ("", None, False),
    ("", "curl/8.5.0", True),
    ("", "Wget/1.21", True),
    ("", "Mozilla/5.0 (X11; Linux x86_64)", True),
    ("", "kubectl/v1.33.0 (linux/amd64) kubernetes/abc", False),
    ("?pretty=true", None, True),
    ("?pretty=1", None, True),
    ("?pretty=T", None, True),
    ("?pretty=false", "curl/8.5.0", False),  # the parameter, when set, decides
    ("?pretty=yes", "curl/8.5.0", False),    # Go's ParseBool refuses "yes": false
])
def test_pretty_printing_as_upstream_decides_it(server, query, agent, pretty):
    headers = {"User-Agent": agent} if agent else {}
    status, _, data = raw(server, f"/api/v1/namespaces/{NS}{query}", headers=headers)
    assert status == 200
    obj = json.loads(data)
    if pretty:
        assert data == json.dumps(obj, indent=2, ensure_ascii=False).encode()  # MarshalIndent: no newline at the end
        assert data.startswith(b'{\n  "kind": "Namespace",\n  "apiVersion": "v1",\n  "metadata": {\n    "name": "wire-tests",')
    else:
        assert data.endswith(b"}\n") and data.count(b"\n") == 1
    # Errors are negotiated the same way.
    status, _, data = raw(server, f"/api/v1/namespaces/absent-ns{query}", headers=headers)
    assert status == 404 and (data.startswith(b'{\n  "kind": "Status",') == pretty)


def test_the_tutorials_curl_prints_what_the_tutorial_shows(server):
    """curl $APISERVER/api, as the service-account tutorial runs it: its output, byte for byte
    but for the server's address."""
    server.tls(True)  # writes the administrator's certificate and key for curl
    p = subprocess.run(["curl", "-sk", "--cert", str(server.data_dir / "client" / "c.pem"),
                        "--key", str(server.data_dir / "client" / "k.pem"), f"{server.url}/api"],
                       capture_output=True, check=True, timeout=30)
    address = json.loads(p.stdout)["serverAddressByClientCIDRs"][0]["serverAddress"]
    assert p.stdout.decode() == (
        '{\n  "kind": "APIVersions",\n  "versions": [\n    "v1"\n  ],\n  "serverAddressByClientCIDRs": [\n'
        '    {\n      "clientCIDR": "0.0.0.0/0",\n      "serverAddress": "' + address + '"\n    }\n  ]\n}')


def get(server, kind, name, ns=NS):
    return json.loads(server.kubectl("1.33", "-n", ns, "get", kind, name, "-o", "json").stdout)


def test_kubectl_133_typed_creates_arrive_as_protobuf_and_decode_whole(server):
    """kubectl >= 1.32 sends its typed-client commands as protobuf (no JSON fallback): every
    kind they create is decoded by the generated schema, Services included (`no protobuf
    schema for kind "Service"` before)."""
    k = lambda *a, check=True: server.kubectl("1.33", "-n", NS, *a, check=check)
    r = k("create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:8443", "-v=8")
    assert "service/web created" in r.stdout
    # It really was protobuf, both ways: the body sent, and the object answered.
    assert r.stderr.count("Content-Type: application/vnd.kubernetes.protobuf") >= 2, r.stderr
    spec = get(server, "service", "web")["spec"]
    assert spec["type"] == "ClusterIP" and spec["selector"] == {"app": "web"}
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in spec["ports"]] == \
        [("80-8080", 80, 8080, "TCP"), ("443-8443", 443, 8443, "TCP")]
    k("create", "service", "nodeport", "np", "--tcp=80:http", "--node-port=30080")
    port = get(server, "service", "np")["spec"]["ports"][0]
    assert (port["targetPort"], port["nodePort"]) == ("http", 30080)  # an IntOrString by name
    k("create", "service", "externalname", "ext", "--external-name=example.com")
    spec = get(server, "service", "ext")["spec"]
    assert (spec["type"], spec["externalName"]) == ("ExternalName", "example.com")
    k("create", "service", "loadbalancer", "lb", "--tcp=5678:8080")
    assert get(server, "service", "lb")["spec"]["type"] == "LoadBalancer"
    # The other typed creates, each read back.
    k("create", "secret", "generic", "gen", "--from-literal=a=1", "--from-literal=empty=")
    assert get(server, "secret", "gen")["data"] == {"a": "MQ==", "empty": ""}
    k("create", "secret", "docker-registry", "reg", "--docker-server=r.example", "--docker-username=u", "--docker-password=p")
    assert get(server, "secret", "reg")["type"] == "kubernetes.io/dockerconfigjson"
    k("create", "configmap", "cfg", "--from-literal=k=v")
    assert get(server, "configmap", "cfg")["data"] == {"k": "v"}
    k("create", "serviceaccount", "robot")
    k("create", "role", "reader", "--verb=get,list", "--resource=pods,configmaps", "--resource-name=x")
    rules = get(server, "role", "reader")["rules"]
    assert rules[0]["apiGroups"] == [""] and rules[0]["resourceNames"] == ["x"]
    k("create", "rolebinding", "rb", "--role=reader", "--serviceaccount", f"{NS}:robot", "--user=bob")
    rb = get(server, "rolebinding", "rb")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert {s["kind"] for s in rb["subjects"]} == {"ServiceAccount", "User"}
    server.kubectl("1.33", "create", "clusterrole", "agg", "--aggregation-rule=team=wire")
    assert get(server, "clusterrole", "agg", ns="default")["aggregationRule"] == {"clusterRoleSelectors": [{"matchLabels": {"team": "wire"}}]}
    server.kubectl("1.33", "create", "clusterrolebinding", "crb", "--clusterrole=agg", "--group=devs")
    server.kubectl("1.33", "create", "namespace", "wire-made")
    assert k("create", "token", "robot", "--duration=10m").stdout.count(".") == 2
    assert k("auth", "can-i", "get", "pods/x", "--as", f"system:serviceaccount:{NS}:robot").stdout.strip() == "yes"
    assert k("auth", "can-i", "get", "pods/y", "--as", f"system:serviceaccount:{NS}:robot", check=False).stdout.strip() == "no"


def test_discovery_entries_as_upstreams(server):
    """/api/v1 as kube-apiserver 1.33 lists it: each entry's keys in APIResource's order, and
    every stored kind's storageVersionHash (upstream's storageversionhashdata table)."""
    _, _, data = raw(server, "/api/v1")
    top = keys(data)
    assert top[:-1] == ["kind", "groupVersion", "resources"]
    pods = next(r for r in top[-1]["resources"] if r[-1]["name"] == "pods")
    assert pods[:-1] == ["name", "singularName", "namespaced", "kind", "verbs", "shortNames", "categories", "storageVersionHash"]
    assert pods[-1]["storageVersionHash"] == "xPOwRZ+Yhw8="
    by_name = {r[-1]["name"]: r[-1] for r in top[-1]["resources"]}
    assert by_name["serviceaccounts"]["storageVersionHash"] == "pbx9ZvyFpBE="
    assert "storageVersionHash" not in by_name["pods/log"]
    _, _, data = raw(server, "/apis/rbac.authorization.k8s.io/v1beta1")
    roles = {r["name"]: r for r in json.loads(data)["resources"]}
    assert roles["clusterroles"]["storageVersionHash"] == "bYE5ZWDrJ44="  # stored as v1
    _, _, data = raw(server, "/apis/authorization.k8s.io/v1")
    assert all("storageVersionHash" not in r for r in json.loads(data)["resources"])


def test_pretty_by_accept_wins_over_the_query(server):
    status, _, data = raw(server, f"/api/v1/namespaces/{NS}?pretty=false", headers={"Accept": "application/json;pretty=1"})
    assert status == 200 and data.startswith(b'{\n  "kind": "Namespace",')


def test_version_is_indented_in_go_order_for_everyone(server):
    """/version is written by WriteRawJSON: json.MarshalIndent of version.Info, whoever asks."""
    status, ctype, data = raw(server, "/version")
    assert (status, ctype) == (200, "application/json")
    assert data.startswith(b'{\n  "major": "1",\n  "minor": "33",\n  "emulationMajor": "1",')
    assert list(json.loads(data)) == ["major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor",
                                      "minCompatibilityMinor", "gitVersion", "gitCommit", "gitTreeState", "buildDate",
                                      "goVersion", "compiler", "platform"]
    assert raw(server, "/version", headers={"User-Agent": "curl/8"})[2] == data


def test_protobuf_responses_where_asked_and_served(server):
    """A client that prefers protobuf gets it for every kind with a protobuf form (upstream's
    negotiation); discovery and kubeward's own kinds stay JSON, which it accepts too."""
    accept = {"Accept": "application/vnd.kubernetes.protobuf,application/json"}
    status, ctype, data = raw(server, f"/api/v1/namespaces/{NS}/serviceaccounts/default", headers=accept)
    assert (status, ctype) == (200, "application/vnd.kubernetes.protobuf") and data.startswith(b"k8s\x00")
    assert b"ServiceAccount" in data and b"default" in data
    status, ctype, data = raw(server, f"/api/v1/namespaces/{NS}/serviceaccounts", headers=accept)
    assert (status, ctype) == (200, "application/vnd.kubernetes.protobuf") and b"ServiceAccountList" in data
    status, ctype, _ = raw(server, "/api/v1", headers=accept)
    assert (status, ctype) == (200, "application/json")


def test_errors_come_in_the_negotiated_media_type(server):
    """A Status error is written as the client asked, as upstream's ErrorNegotiated does:
    protobuf (a meta.k8s.io Status in the `k8s\\0` envelope) or YAML, whichever comes first;
    JSON for a Table request or where nothing else was asked, however early the error is made
    (a missing object, a bad request line, a refused user)."""
    accept = {"Accept": "application/vnd.kubernetes.protobuf,application/json"}
    for path, admin, code, reason, message in [
        (f"/api/v1/namespaces/{NS}/serviceaccounts/absent", True, 404, b"NotFound", b'serviceaccounts "absent" not found'),
        (f"/api/v1/namespaces/{NS}/configmaps?labelSelector=a%3D%3D%3D", True, 400, b"BadRequest", None),
        ("/api/v1/namespaces", False, 401, b"Unauthorized", b"Unauthorized"),
    ]:
        headers = {**accept, "Authorization": "Bearer nobody"} if not admin else accept
        status, ctype, data = raw(server, path, headers=headers, admin=admin)
        assert (status, ctype) == (code, "application/vnd.kubernetes.protobuf"), data
        assert data.startswith(b"k8s\x00")
        unknown = pb_fields(data[4:])
        assert pb_fields(unknown[0][1]) == [(1, b"v1"), (2, b"Status")]
        fields = dict(pb_fields(unknown[1][1]))
        assert (fields[2], fields[4]) == (b"Failure", reason), fields
        assert message is None or fields[3] == message, fields
    status, ctype, data = raw(server, f"/api/v1/namespaces/{NS}/serviceaccounts/absent", headers={"Accept": "application/yaml"})
    assert (status, ctype) == (404, "application/yaml") and b"reason: NotFound" in data
    table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, ctype, data = raw(server, f"/api/v1/namespaces/{NS}/serviceaccounts/absent", headers={"Accept": table})
    assert (status, ctype) == (404, "application/json") and json.loads(data)["reason"] == "NotFound"
    # kubectl 1.33's typed clients ask for protobuf and print the error from the protobuf Status.
    k = lambda *a: server.kubectl("1.33", "-n", NS, *a, check=False)
    assert k("create", "serviceaccount", "twice").returncode == 0
    r = k("create", "serviceaccount", "twice", "-v=8")
    assert r.returncode == 1
    assert 'serviceaccounts "twice" already exists' in r.stderr, r.stderr
    # kubectl logs a binary body as a hex dump, whose text column starts `|k8s.`.
    assert '"Response Body"' in r.stderr and "|k8s." in r.stderr.split('"Response Body"')[-1], r.stderr


def test_a_protobuf_watch_streams_length_delimited_events(server):
    """client-go's protobuf watch: `application/vnd.kubernetes.protobuf;stream=watch`, each event
    a 4-byte big-endian length and a raw meta.k8s.io WatchEvent (no envelope of its own) whose
    object is the object's own protobuf encoding, byte for byte what a protobuf GET answers."""
    rv = json.loads(raw(server, f"/api/v1/namespaces/{NS}/configmaps")[2])["metadata"]["resourceVersion"]
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True), timeout=30)
    conn.request("GET", f"/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=20",
                 headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
    r = conn.getresponse()
    assert (r.status, r.getheader("Content-Type")) == (200, "application/vnd.kubernetes.protobuf;stream=watch")

    def next_of(name):
        """(type, object bytes) of the stream's next event for `name`."""
        while True:
            n = int.from_bytes(r.read(4), "big")
            event = pb_fields(r.read(n))
            assert [f for f, _ in event] == [1, 2]
            obj = pb_fields(event[1][1])[0][1]
            assert obj.startswith(b"k8s\x00")
            unknown = pb_fields(obj[4:])
            assert pb_fields(unknown[0][1]) == [(1, b"v1"), (2, b"ConfigMap")]
            if dict(pb_fields(dict(pb_fields(unknown[1][1]))[1]))[1] == name.encode():
                return event[0][1], obj

    created = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched-pb"}, "data": {"k": "v"}}
    assert server.request("POST", f"/api/v1/namespaces/{NS}/configmaps", created)[0] == 201
    type_, obj = next_of("watched-pb")
    status, _, got = raw(server, f"/api/v1/namespaces/{NS}/configmaps/watched-pb",
                         headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert (type_, status, obj) == (b"ADDED", 200, got)
    assert (2, b"\n\x01k\x12\x01v") in pb_fields(pb_fields(obj[4:])[1][1])  # data's one entry
    assert server.request("DELETE", f"/api/v1/namespaces/{NS}/configmaps/watched-pb")[0] == 200
    assert next_of("watched-pb")[0] == b"DELETED"
    conn.close()


def list_items(data):
    """The bytes of each element of a list's `items`, as written."""
    i = data.index(b'"items":[') + len(b'"items":[')
    spans, depth, begin, in_str, escaped = [], 0, i, False, False
    while True:
        c = data[i:i + 1]
        if in_str:
            if escaped:
                escaped = False
            elif c == b"\\":
                escaped = True
            elif c == b'"':
                in_str = False
        elif c == b'"':
            in_str = True
        elif c in (b"{", b"["):
            depth += 1
        elif c in (b"}", b"]"):
            if depth == 0:  # the items array's own ]
                if i > begin:
                    spans.append(data[begin:i])
                return spans
            depth -= 1
        elif c == b"," and depth == 0:
            spans.append(data[begin:i])
            begin = i + 1
        i += 1


def listable(server):
    """(group-version path, apiVersion, APIResource) of every listable resource of every
    group's preferred version."""
    groups = [("/api", "v1")] + [("/apis/" + g["preferredVersion"]["groupVersion"].split("/")[0], g["preferredVersion"]["version"])
                                 for g in server.request("GET", "/apis")[2]["groups"]]
    for base, version in groups:
        gv = f"{base}/{version}"
        api_version = version if base == "/api" else f"{base[len('/apis/'):]}/{version}"
        for r in server.request("GET", gv)[2]["resources"]:
            if "/" not in r["name"] and "list" in r["verbs"]:
                yield gv, api_version, r


def test_a_list_holds_each_object_as_its_get_writes_it(server):
    """A JSON list joins the bytes the watch cache keeps for each object (#14) instead of
    encoding every item per request: for every listable kind of every group's preferred
    version, each item is byte for byte the object's own GET (less `kind` and `apiVersion`,
    which a list's items do not carry, and the newline), and the list is the envelope
    kube-apiserver writes."""
    # Objects of the kinds a fresh server holds none of.
    for path, body in [
        (f"/api/v1/namespaces/{NS}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "listed", "labels": {"b": "1", "a": "2"}},
                                           "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "E", "value": "<&>"}]}]}}),
        (f"/api/v1/namespaces/{NS}/events", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "listed"},
                                             "involvedObject": {"kind": "Pod", "name": "listed", "namespace": NS}, "reason": "Listed", "message": "m"}),
        (f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                                   "metadata": {"name": "listed"}, "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15}}),
        (f"/api/v1/namespaces/{NS}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "listed"}, "stringData": {"k": "\u2028"}}),
        ("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "listed", "labels": {"kubernetes.io/os": "linux"}}}),
    ]:
        status, _, data = server.request("POST", path, body)
        assert status in (201, 409), data
    checked = {}
    for gv, api_version, r in listable(server):
        for attempt in range(5):  # an object a controller changes between the list and the GET: again
            status, ctype, data = raw(server, f"{gv}/{r['name']}")
            assert (status, ctype) == (200, "application/json"), data
            doc = json.loads(data)
            rv = doc["metadata"]["resourceVersion"]
            assert data.startswith(b'{"kind":"%sList","apiVersion":"%s","metadata":{"resourceVersion":"%s"},"items":['
                                   % (r["kind"].encode(), api_version.encode(), rv.encode()))
            assert data.endswith(b"]}\n") and data.count(b"\n") == 1
            items = list_items(data)
            assert [json.loads(i) for i in items] == doc["items"]
            changed = False
            for item, obj in zip(items, doc["items"]):
                m = obj["metadata"]
                ns = f"/namespaces/{m['namespace']}" if r["namespaced"] else ""
                status, _, one = raw(server, f"{gv}{ns}/{r['name']}/{m['name']}")
                if status == 404 or json.loads(one)["metadata"]["resourceVersion"] != m["resourceVersion"]:
                    changed = True
                    break
                head = b'{"kind":"%s","apiVersion":"%s",' % (r["kind"].encode(), api_version.encode())
                assert one.startswith(head) and one.endswith(b"}\n"), one
                assert b"{" + one[len(head):-1] == item, (r["name"], item, one)
            if not changed:
                break
        else:
            pytest.fail(f"{r['name']} kept changing")
        checked[r["name"]] = len(doc["items"])
    empty = sorted(k for k, n in checked.items() if n == 0)
    assert {"nodes", "pods", "events", "leases", "secrets", "configmaps", "services", "endpoints", "endpointslices", "namespaces",
            "serviceaccounts", "clusterroles", "clusterrolebindings", "roles", "rolebindings"} <= {k for k, n in checked.items() if n}, empty


def pb_fields(buf):
    """The (field number, bytes) of a protobuf message's length-delimited fields, in order
    (varint fields are skipped)."""
    def varint(i):
        n, shift = 0, 0
        while True:
            b = buf[i]
            n |= (b & 0x7F) << shift
            i += 1
            if b < 0x80:
                return n, i
            shift += 7
    out, i = [], 0
    while i < len(buf):
        tag, i = varint(i)
        if tag & 7 == 0:
            _, i = varint(i)
        elif tag & 7 == 2:
            n, i = varint(i)
            out.append((tag >> 3, buf[i:i + n]))
            i += n
        else:
            raise AssertionError(f"wire type {tag & 7}")
    return out


def test_a_protobuf_list_holds_each_object_as_its_get_writes_it(server):
    """client-go asks for protobuf: a protobuf list joins the messages the watch cache keeps
    for each object, each byte for byte the message of the object's own protobuf GET, inside
    the `runtime.Unknown` envelope upstream writes (`k8s\\0`, typeMeta, raw, empty encodings)."""
    accept = {"Accept": "application/vnd.kubernetes.protobuf"}
    checked = 0
    for gv, api_version, r in listable(server):
        for attempt in range(5):
            status, ctype, data = raw(server, f"{gv}/{r['name']}", headers=accept)
            assert (status, ctype) == (200, "application/vnd.kubernetes.protobuf"), data
            assert data.startswith(b"k8s\x00")
            unknown = pb_fields(data[4:])
            assert [n for n, _ in unknown] == [1, 2, 3, 4] and unknown[2][1] == unknown[3][1] == b""
            assert pb_fields(unknown[0][1]) == [(1, api_version.encode()), (2, (r["kind"] + "List").encode())]
            fields = pb_fields(unknown[1][1])
            assert fields[0][0] == 1 and all(n == 2 for n, _ in fields[1:])  # ListMeta, then the items
            items = [b for _, b in fields[1:]]
            listed = json.loads(raw(server, f"{gv}/{r['name']}?resourceVersion={dict(pb_fields(fields[0][1]))[2].decode()}"
                                    "&resourceVersionMatch=Exact")[2])["items"]
            assert len(listed) == len(items)
            changed = False
            for item, obj in zip(items, listed):
                m = obj["metadata"]
                ns = f"/namespaces/{m['namespace']}" if r["namespaced"] else ""
                status, _, one = raw(server, f"{gv}{ns}/{r['name']}/{m['name']}", headers=accept)
                if status == 404:
                    changed = True
                    break
                message = pb_fields(one[4:])[1][1]
                # ObjectMeta is the object's field 1; its resourceVersion, field 6.
                if dict(pb_fields(dict(pb_fields(message))[1]))[6] != m["resourceVersion"].encode():
                    changed = True
                    break
                assert message == item, r["name"]
            if not changed:
                break
        else:
            pytest.fail(f"{r['name']} kept changing")
        checked += len(items) > 0
    assert checked >= 14
