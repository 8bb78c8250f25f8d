"""The API over raw HTTPS: concurrency, bad input, authentication edges, restarts, watches."""

import json
import random
import threading

import pytest

from harness import Server

NS = "api-tests"


@pytest.fixture(scope="module", autouse=True)
def namespace(server):
    status, _, _ = server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    assert status == 201


def cm(name, **extra):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    body.update(extra)
    return body


def path(name=""):
    p = f"/api/v1/namespaces/{NS}/configmaps"
    return f"{p}/{name}" if name else p


def test_two_updates_from_one_resource_version(server):
    status, _, created = server.request("POST", path(), cm("race"))
    assert status == 201
    a = dict(created, data={"k": "a"})
    b = dict(created, data={"k": "b"})
    s1, _, _ = server.request("PUT", path("race"), a)
    s2, _, err = server.request("PUT", path("race"), b)
    assert (s1, s2) == (200, 409)
    assert err["reason"] == "Conflict"
    assert err["message"] == 'Operation cannot be fulfilled on configmaps "race": the object has been modified; please apply your changes to the latest version and try again'
    assert server.request("GET", path("race"))[2]["data"] == {"k": "a"}


def test_concurrent_writers_lose_no_increment(server):
    server.request("POST", path(), cm("counter", metadata={"name": "counter", "annotations": {"n": "0"}}))
    writers, rounds = 4, 15
    errors, conflicts = [], []

    def work():
        try:
            for _ in range(rounds):
                while True:
                    _, _, cur = server.request("GET", path("counter"))
                    cur["metadata"]["annotations"]["n"] = str(int(cur["metadata"]["annotations"]["n"]) + 1)
                    status, _, _ = server.request("PUT", path("counter"), cur)
                    if status == 200:
                        break
                    assert status == 409, status
                    conflicts.append(1)
        except Exception as e:  # surfaced below: a thread's failure must fail the test
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert server.request("GET", path("counter"))[2]["metadata"]["annotations"]["n"] == str(writers * rounds)


def assert_not_stored(server, name):
    status, _, _ = server.request("GET", path(name))
    assert status == 404, f"{name} must not have been stored"


@pytest.mark.parametrize(
    "name,content_type,body,code,message",
    [
        # Unreadable bodies in the words of Go's encoding/json, inside transformDecodeError's.
        ("badjson", "application/json", b'{"metadata": {"name": "badjson"', 400,
         "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; "
         'json parse error: unexpected end of JSON input ({"metadata": {"name": "badjson ...)'),
        ("comma", "application/json", b'{"metadata":{"name":"comma"},}', 400,
         "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; "
         "json parse error: invalid character '}' looking for beginning of object key string "
         '({"metadata":{"name":"comma"},})'),
        ("array", "application/json", b'[{"metadata": {"name": "array"}}]', 400,
         "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; "
         "json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "
         '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" } '
         "(5b7b226d65746164617461223a207b226e616d65223a2022617272617922 ...)"),
        ("kindnumber", "application/json", b'{"kind": 5, "metadata": {"name": "kindnumber"}}', 400,
         "couldn't get version/kind; json parse error: json: cannot unmarshal number into Go struct field .kind of type string"),
        ("badyaml", "application/yaml", b"metadata:\n  name: [badyaml\n", 400, "error converting YAML to JSON"),
        ("badproto", "application/vnd.kubernetes.protobuf", b"k8s\x00\x0a\x7fgarbage", 400, "proto"),
        ("notk8s", "application/vnd.kubernetes.protobuf", b"\x0a\x02hi", 400, "does not appear to be a protobuf message"),
        ("text", "text/plain", b"hello", 415, "unknown format"),
        ("wrongkind", "application/json", json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrongkind"}}).encode(), 400, "does not match the expected kind"),
        ("wrongversion", "application/json", json.dumps({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "wrongversion"}}).encode(), 400, "does not match the expected API version"),
        ("wrongns", "application/json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "wrongns", "namespace": "other"}}).encode(), 400, "the namespace of the provided object does not match the namespace sent on the request"),
        ("badtype", "application/json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "badtype"}, "data": ["x"]}).encode(), 400, "cannot be handled as a ConfigMap"),
    ],
)
def test_bad_bodies_get_status_and_store_nothing(server, name, content_type, body, code, message):
    status, _, err = server.request("POST", path(), body, {"Content-Type": content_type})
    assert status == code, err
    assert err["kind"] == "Status" and err["status"] == "Failure" and err["code"] == code
    assert message in err["message"], err["message"]
    assert_not_stored(server, name)


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_a_value_of_the_wrong_type_is_told_in_gos_words(server, version):
    # What kubectl users (and Helm's) see from kube-apiserver for unquoted YAML numbers and
    # a port written as a string.
    cases = [
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "port"}, "data": {"PORT": 5432}},
         'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string'),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": "80"}]}},
         'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32'),
        # Values with decoders of their own, in their words: a quantity the typed decoding
        # lets through (the pod was created before), base64, an int-or-string.
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "greedy"},
          "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "lots"}}}]}},
         "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression "
         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "garbled"}, "data": {"k": "%%%"}},
         'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0'),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "target"}, "spec": {"ports": [{"port": 80, "targetPort": True}]}},
         'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32'),
    ]
    for obj, message in cases:
        r = server.kubectl(version, "create", "-n", "default", "-f", "-", input=json.dumps(obj), check=False)
        assert r.returncode == 1
        assert r.stderr.strip() == f'Error from server (BadRequest): error when creating "STDIN": {message}', r.stderr
        kind = obj["kind"].lower() + "s"
        assert server.request("GET", f"/api/v1/namespaces/default/{kind}/{obj['metadata']['name']}")[0] == 404


def test_base64_go_accepts_is_stored_as_go_writes_it_back(server):
    """`[]byte` fields read by Go's base64 (StdEncoding skips line breaks and ignores unused low
    bits) and written back canonical, as upstream stores the decoded bytes: a Secret's data
    wrapped at 76 columns, as `base64` writes it, is taken."""
    wrapped = "YWJj\nZGVm\r\n"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrapped"},
              "data": {"wrapped": wrapped, "bits": "YR=="}}
    status, _, obj = server.request("POST", f"/api/v1/namespaces/{NS}/secrets", secret)
    assert (status, obj["data"]) == (201, {"bits": "YQ==", "wrapped": "YWJjZGVm"}), obj
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "wrapped"}, "binaryData": {"b": wrapped}}
    status, _, obj = server.request("POST", path(), config)
    assert (status, obj["binaryData"]) == (201, {"b": "YWJjZGVm"}), obj


def test_a_create_with_a_resource_version_is_refused(server):
    # An object read back and created again, as `kubectl create -f` of a `get -o yaml`.
    status, _, err = server.request("POST", path(), cm("rv", metadata={"name": "rv", "resourceVersion": "5"}))
    assert (status, err["message"]) == (400, "resourceVersion should not be set on objects to be created")
    assert_not_stored(server, "rv")
    # kubectl create clears it before sending (its resource helper's Create), so it works.
    server.kubectl("1.33", "create", "-n", NS, "-f", "-",
                   input=json.dumps(cm("rv", metadata={"name": "rv", "resourceVersion": "7"})))
    # "0", and what is not a number, are taken as upstream's store takes them.
    for name, rv in [("rv0", "0"), ("rvneg", "-1")]:
        assert server.request("POST", path(), cm(name, metadata={"name": name, "resourceVersion": rv}))[0] == 201


def test_strict_field_validation_names_the_field(server):
    body = cm("strict", spec={"x": 1}, metadata={"name": "strict", "bogus": True})
    status, _, err = server.request("POST", path() + "?fieldValidation=Strict", body)
    assert status == 400
    assert err["message"] == 'strict decoding error: unknown field "metadata.bogus", unknown field "spec"'
    assert_not_stored(server, "strict")
    status, headers, obj = server.request("POST", path() + "?fieldValidation=Warn", body)
    assert status == 201 and "spec" not in obj
    assert headers["warning"] == '299 - "unknown field \\"spec\\""'
    status, _, obj = server.request("POST", path() + "?fieldValidation=Ignore", cm("ignored", spec={"x": 1}))
    assert status == 201 and "spec" not in obj


def test_invalid_names_are_422_with_causes(server):
    status, _, err = server.request("POST", path(), cm("Bad_Name"))
    assert status == 422
    assert err["reason"] == "Invalid"
    assert err["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    assert err["details"]["causes"][0]["field"] == "metadata.name"
    assert err["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert err["details"]["kind"] == "ConfigMap"
    status, _, err = server.request("POST", path(), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    assert status == 422 and err["details"]["causes"][0]["message"] == "Required value: name or generateName is required"
    bad_labels = cm("badlabels", metadata={"name": "badlabels", "labels": {"a b": "c d"}})
    status, _, err = server.request("POST", path(), bad_labels)
    assert status == 422 and len(err["details"]["causes"]) == 2, "every field error is reported"
    assert_not_stored(server, "badlabels")


def test_body_over_3_mib_is_413(server):
    big = cm("big", data={"k": "x" * (3 * 1024 * 1024 + 10)})
    status, _, err = server.request("POST", path(), big)
    assert status == 413 and err["reason"] == "RequestEntityTooLarge"
    assert_not_stored(server, "big")


def test_garbage_never_causes_a_500(server):
    rnd = random.Random(7)
    paths = [path(), path("x"), "/api/v1/namespaces", "/api/v1/pods", "/apis/coordination.k8s.io/v1/namespaces/x/leases", "/api/v1/namespaces/%2e%2e/configmaps", "/api/v1/watch", "/apis/x/y/z"]
    types = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/merge-patch+json", "application/json-patch+json"]
    for i in range(300):
        method = rnd.choice(["POST", "PUT", "PATCH", "DELETE", "GET"])
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
        if i % 3 == 0:
            body = b"k8s\x00" + body
        if i % 5 == 0:
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": rnd.choice(["x", "", "-", "a" * 300])}, "data": rnd.choice([None, 1, [], {"k": 2}])}).encode()
        status, _, resp = server.request(method, rnd.choice(paths) + rnd.choice(["", "?limit=-1", "?continue=zz", "?labelSelector=(((", "?fieldSelector=nope=1", "?watch=1&resourceVersion=abc"]), body, {"Content-Type": rnd.choice(types)})
        assert status < 500, (method, status, resp)
    assert server.proc.poll() is None, "the server is still running"


def test_anonymous_and_bad_credentials(server):
    status, _, _ = server.request("GET", "/version", admin=False)
    assert status == 200
    assert server.request("GET", "/readyz", admin=False)[0] == 200
    status, _, err = server.request("GET", "/api/v1/pods", admin=False)
    assert status == 403
    assert err["message"] == 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope'
    status, _, err = server.request("GET", "/api/v1/pods", admin=False, headers={"Authorization": "Bearer garbage-token"})
    assert status == 401 and err["message"] == "Unauthorized" and err["reason"] == "Unauthorized"
    assert "garbage-token" not in server.server_log()


def test_anonymous_auth_false_makes_anonymous_401(tmp_path):
    s = Server(data_dir=tmp_path, args=["--anonymous-auth=false"])
    try:
        assert s.request("GET", "/api/v1/pods", admin=False)[0] == 401
        assert s.request("GET", "/api/v1/pods")[0] == 200
    finally:
        s.stop()


def test_restart_keeps_objects_and_kubeconfig(tmp_path):
    s = Server(data_dir=tmp_path)
    try:
        kubeconfig_before = open(s.kubeconfig).read()
        s.request("POST", "/api/v1/namespaces/default/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "keeper"}})
        _, _, before = s.request("GET", "/api/v1/namespaces/default/serviceaccounts/keeper")
        s.restart()
        assert open(s.kubeconfig).read() == kubeconfig_before, "the same kubeconfig works after a restart"
        _, _, after = s.request("GET", "/api/v1/namespaces/default/serviceaccounts/keeper")
        assert after == before
        out = s.kubectl("1.33", "get", "sa", "keeper", "-o", "jsonpath={.metadata.uid}").stdout
        assert out == before["metadata"]["uid"]
    finally:
        s.stop()


def test_watch_initial_state_changes_and_bookmarks(server):
    server.request("POST", path(), cm("watched"))
    status, events = server.watch_lines(path() + "?watch=true&fieldSelector=metadata.name%3Dwatched", lambda ev: len(ev) >= 1)
    assert status == 200 and events[0]["type"] == "ADDED" and events[0]["object"]["kind"] == "ConfigMap"
    rv = events[0]["object"]["metadata"]["resourceVersion"]

    def change():
        _, _, cur = server.request("GET", path("watched"))
        cur["data"] = {"k": "changed"}
        server.request("PUT", path("watched"), cur)
        server.request("DELETE", path("watched"))

    threading.Timer(0.2, change).start()
    status, events = server.watch_lines(path() + f"?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dwatched", lambda ev: len(ev) >= 2)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["data"] == {"k": "changed"}

    status, events = server.watch_lines(path() + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=" + rv, lambda ev: False, timeout=10)
    assert status == 200
    assert "BOOKMARK" in [e["type"] for e in events], events
    bookmark = next(e for e in events if e["type"] == "BOOKMARK")["object"]
    assert set(bookmark) == {"kind", "apiVersion", "metadata"} and bookmark["metadata"]["resourceVersion"]


def test_list_paging_with_limit_and_continue(server):
    for i in range(5):
        server.request("POST", path(), cm(f"page-{i}", metadata={"name": f"page-{i}", "labels": {"paged": "yes"}}))
    names, token = [], ""
    while True:
        status, _, page = server.request("GET", path() + f"?labelSelector=paged%3Dyes&limit=2&continue={token}")
        assert status == 200 and len(page["items"]) <= 2
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"page-{i}" for i in range(5)]
    assert server.request("GET", path() + "?continue=not-a-token")[0] == 400


def test_unfiltered_pages_count_what_remains(tmp_path):
    """remainingItemCount, as the etcd3 store's GetList sets it: on a page that leaves some,
    of an unfiltered list only (a selector's matches cannot be counted), on SQLite as on
    the watch cache's reads."""
    s = Server(data_dir=tmp_path)
    try:
        p = "/api/v1/namespaces/default/configmaps"
        for i in range(6):
            assert s.request("POST", p, cm(f"r-{i}", metadata={"name": f"r-{i}", "labels": {"even": str(i % 2 == 0).lower()}}))[0] == 201
        total = len(s.request("GET", p)[2]["items"])  # kube-root-ca.crt too
        seen, token, counts = 0, "", []
        while True:
            _, _, page = s.request("GET", p + f"?limit=2&continue={token}")
            seen += len(page["items"])
            token = page["metadata"].get("continue", "")
            counts.append(page["metadata"].get("remainingItemCount"))
            if not token:
                break
        assert seen == total
        assert counts == [total - 2 * (i + 1) for i in range(len(counts) - 1)] + [None]
        _, _, page = s.request("GET", p + "?limit=1&labelSelector=even%3Dtrue")
        assert page["metadata"]["continue"] and "remainingItemCount" not in page["metadata"]
    finally:
        s.stop()


def test_dry_run_stores_nothing(server):
    status, _, obj = server.request("POST", path() + "?dryRun=All", cm("dry"))
    assert status == 201 and obj["metadata"]["uid"]
    assert_not_stored(server, "dry")


def test_finalizers_keep_an_object_until_removed(server):
    server.request("POST", path(), cm("held", metadata={"name": "held", "finalizers": ["example.com/hold"]}))
    status, _, obj = server.request("DELETE", path("held"))
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    assert server.request("GET", path("held"))[0] == 200
    status, _, _ = server.request("PATCH", path("held"), b'{"metadata":{"finalizers":null}}', {"Content-Type": "application/merge-patch+json"})
    assert status == 200
    assert_not_stored(server, "held")


def test_generate_name(server):
    status, _, obj = server.request("POST", path(), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})
    assert status == 201 and obj["metadata"]["name"].startswith("gen-") and len(obj["metadata"]["name"]) == 9


def test_create_in_missing_or_terminating_namespace(server):
    status, _, err = server.request("POST", "/api/v1/namespaces/nowhere/configmaps", cm("x"))
    assert status == 404 and err["message"] == 'namespaces "nowhere" not found'
    # NamespaceLifecycle admits first, before ServiceAccount looks for the pod's account.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, _, err = server.request("POST", "/api/v1/namespaces/nowhere/pods", pod)
    assert (status, err["message"]) == (404, 'namespaces "nowhere" not found')
    server.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "closing"}})
    server.request("POST", "/api/v1/namespaces/closing/configmaps", cm("held", metadata={"name": "held", "finalizers": ["example.com/hold"]}))
    server.request("DELETE", "/api/v1/namespaces/closing")
    status, _, err = server.request("POST", "/api/v1/namespaces/closing/configmaps", cm("late"))
    assert status == 403
    assert err["message"] == 'configmaps "late" is forbidden: unable to create new content in namespace closing because it is being terminated'
    # lifecycle/admission.go's cause, and admission.NewForbidden's name before generation.
    assert err["details"]["causes"] == [{"reason": "NamespaceTerminating", "message": "namespace closing is being terminated", "field": "metadata.namespace"}]
    status, _, err = server.request("POST", "/api/v1/namespaces/closing/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})
    assert status == 403 and err["details"]["name"] == "gen-"
    # An apply that would create meets the same check; one that updates does not.
    apply = {"Content-Type": "application/apply-patch+yaml"}
    status, _, err = server.request("PATCH", "/api/v1/namespaces/closing/configmaps/applied?fieldManager=t", b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"}}', apply)
    assert status == 403 and "because it is being terminated" in err["message"]
    status, _, obj = server.request("PATCH", "/api/v1/namespaces/closing/configmaps/held?fieldManager=t", b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held"},"data":{"k":"v"}}', apply)
    assert status == 200 and obj["data"] == {"k": "v"}
    assert server.request("GET", "/api/v1/namespaces/closing")[2]["status"]["phase"] == "Terminating"


def test_a_second_server_on_the_same_data_dir_refuses_to_start(tmp_path):
    first = Server(data_dir=tmp_path)
    try:
        with pytest.raises(RuntimeError) as e:
            Server(data_dir=tmp_path)
        assert "database is locked" in str(e.value)
        assert first.request("GET", "/readyz")[0] == 200, "the first server is unaffected"
    finally:
        first.stop()


def test_yaml_in_and_out(server):
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n"
    status, _, obj = server.request("POST", path(), body, {"Content-Type": "application/yaml"})
    assert status == 201 and obj["data"] == {"k": "v"}
    status, headers, raw = server.request("GET", path("from-yaml"), headers={"Accept": "application/yaml"})
    assert status == 200 and headers["content-type"] == "application/yaml"
    text = raw.decode() if isinstance(raw, bytes) else json.dumps(raw)
    assert "name: from-yaml" in text and "kind: ConfigMap" in text


def test_delete_collection_by_label(server):
    for i in range(3):
        server.request("POST", path(), cm(f"coll-{i}", metadata={"name": f"coll-{i}", "labels": {"sweep": "yes" if i < 2 else "no"}}))
    status, _, body = server.request("DELETE", path() + "?labelSelector=sweep%3Dyes")
    assert status == 200 and body["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["coll-0", "coll-1"]
    assert_not_stored(server, "coll-0")
    assert server.request("GET", path("coll-2"))[0] == 200


def test_table_rows_carry_partial_object_metadata(server):
    server.request("POST", path(), cm("tabled", metadata={"name": "tabled", "labels": {"t": "1"}}))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, _, t = server.request("GET", path() + "?labelSelector=t%3D1", headers={"Accept": accept})
    assert status == 200 and t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"]
    row = t["rows"][0]
    assert row["cells"][:2] == ["tabled", 1]
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["labels"] == {"t": "1"}
    _, _, full = server.request("GET", path() + "?labelSelector=t%3D1&includeObject=Object", headers={"Accept": accept})
    assert full["rows"][0]["object"]["kind"] == "ConfigMap" and full["rows"][0]["object"]["data"] == {"k": "v"}


def test_aggregated_discovery_content_types(server):
    for v in ["v2", "v2beta1"]:
        accept = f"application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList,application/json"
        status, headers, doc = server.request("GET", "/apis", headers={"Accept": accept})
        assert status == 200
        assert headers["content-type"] == f"application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
        assert doc["apiVersion"] == f"apidiscovery.k8s.io/{v}"
    status, headers, doc = server.request("GET", "/api", headers={"Accept": "application/json"})
    assert doc["kind"] == "APIVersions" and doc["versions"] == ["v1"]


def test_health_endpoints_as_upstream(server):
    status, headers, body = server.request("GET", "/readyz?verbose", headers={"Accept": "*/*"})
    text = body.decode()
    assert status == 200 and headers["content-type"] == "text/plain; charset=utf-8"
    lines = text.splitlines()
    assert lines[0] == "[+]ping ok" and "[+]etcd ok" in lines and "[+]poststarthook/rbac/bootstrap-roles ok" in lines
    assert lines[-1] == "readyz check passed"
    status, _, body = server.request("GET", "/livez?verbose&exclude=log&exclude=nope", headers={"Accept": "*/*"})
    assert status == 200
    assert "[+]log excluded: ok" in body.decode()
    # Liveness is the process's own: a store that is down makes a replica unready, not dead.
    assert "etcd" not in body.decode()
    assert 'warn: some health checks cannot be excluded: no matches for "nope"' in body.decode()
    assert server.request("GET", "/healthz", headers={"Accept": "*/*"})[2] == b"ok"
    assert server.request("GET", "/readyz/etcd", headers={"Accept": "*/*"})[2] == b"ok"
    assert server.request("GET", "/readyz/nothing")[0] == 404
    # Anonymous callers may ask /readyz, not its checks one by one (system:public-info-viewer).
    assert server.request("GET", "/readyz?verbose", admin=False)[0] == 200
    assert server.request("GET", "/readyz/etcd", admin=False)[0] == 403


def test_send_initial_events_is_refused_as_upstream_with_watch_list_off(server):
    """WatchList is off by default in 1.33: sendInitialEvents, set at all, is a 422 with
    ValidateListOptions' words (client-go and kube-rs then fall back to LIST and WATCH)."""
    path = "/api/v1/namespaces/default/configmaps"
    prefix = 'ListOptions.meta.k8s.io "" is invalid: '
    watch_list = "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
    for query, message in [
        ("watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", watch_list),
        ("watch=1&sendInitialEvents=false&resourceVersionMatch=NotOlderThan", watch_list),
        ("watch=1&sendInitialEvents=true",
         "[resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, " + watch_list + "]"),
        ("sendInitialEvents=true", "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
    ]:
        status, _, body = server.request("GET", f"{path}?{query}")
        assert (status, body["reason"], body["message"]) == (422, "Invalid", prefix + message), query
        assert body["details"]["kind"] == "ListOptions" and body["details"]["group"] == "meta.k8s.io"
        assert body["details"]["causes"][-1]["field"] in ("sendInitialEvents",), query
    assert server.request("GET", f"{path}?watch=1&timeoutSeconds=1")[0] == 200


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_exec_and_logs_on_a_pod_no_node_runs(server, version):
    """Upstream's pod strategy: exec on a pod no node was assigned is 400 `pod "x" does not
    have a host assigned`; its log is empty (streamLocation and LogLocation)."""
    name = "unassigned-" + version.replace(".", "")
    server.kubectl(version, "-n", NS, "run", name, "--image=busybox", "--restart=Never")
    r = server.kubectl(version, "-n", NS, "exec", name, "--", "true", check=False)
    assert r.returncode == 1
    assert f"Error from server (BadRequest): pod {name} does not have a host assigned" in r.stderr, r.stderr
    r = server.kubectl(version, "-n", NS, "logs", name)
    assert r.stdout == ""


def test_reads_at_a_resource_version_as_upstreams_semantics_say(server):
    """resourceVersion=N on a list is "not older than N" (the watch cache answers), but exact
    when the list is paginated and resourceVersionMatch is unset, as upstream keeps for old
    clients; a GET at N is not older than N; a revision past the store's is 504."""
    status, _, made = server.request("POST", path(), cm("at-rv"))
    assert status == 201
    old = made["metadata"]["resourceVersion"]
    made["data"] = {"k": "new"}
    status, _, updated = server.request("PUT", path("at-rv"), made)
    assert status == 200
    new = updated["metadata"]["resourceVersion"]
    data = lambda q: [i["data"] for i in server.request("GET", path() + q + "&fieldSelector=metadata.name%3Dat-rv")[2]["items"]][0]
    assert data(f"?resourceVersion={old}") == {"k": "new"}  # not older than: the newest is fine
    assert data(f"?resourceVersion={old}&resourceVersionMatch=NotOlderThan&limit=500") == {"k": "new"}
    assert data(f"?resourceVersion={old}&limit=500") == {"k": "v"}  # paginated: exact
    assert data(f"?resourceVersion={old}&resourceVersionMatch=Exact") == {"k": "v"}
    status, _, got = server.request("GET", path("at-rv") + f"?resourceVersion={new}")
    assert (status, got["data"]) == (200, {"k": "new"})
    status, _, got = server.request("GET", path("at-rv") + f"?resourceVersion={int(new) + 1000}")
    assert status == 504 and got["reason"] == "Timeout", got
