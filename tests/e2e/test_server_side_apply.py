"""Server-side apply with real kubectl: field ownership in managedFields, conflicts naming the
other manager, --force-conflicts, shared ownership, removal of fields only their applier owned,
and kubectl's hand-over from client-side apply."""

import json


def cm(name, data, labels=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data is not None:
        obj["data"] = data
    return json.dumps(obj)


def owners(server, version, ns, kind, name):
    obj = json.loads(server.kubectl(version, "-n", ns, "get", kind, name, "-o", "json", "--show-managed-fields").stdout)
    return obj, {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


def ssa(server, version, ns, manifest, manager, *extra, check=True):
    return server.kubectl(version, "-n", ns, "apply", "--server-side", f"--field-manager={manager}", *extra, "-f", "-",
                          input=manifest, check=check)


def test_two_managers_conflict_force_share_and_prune(server, version):
    ns = "ssa-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    out = ssa(server, version, ns, cm("c", {"k": "one", "j": "x"}, {"a": "b"}), "alice").stdout
    assert "configmap/c serverside-applied" in out

    # Bob's different value for a field Alice owns is refused, naming her and the field.
    r = ssa(server, version, ns, cm("c", {"k": "two"}), "bob", check=False)
    assert r.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "alice": .data.k' in r.stderr
    obj, _ = owners(server, version, ns, "cm", "c")
    assert obj["data"]["k"] == "one"

    # Forced, Bob takes the field; Alice keeps the rest.
    ssa(server, version, ns, cm("c", {"k": "two"}), "bob", "--force-conflicts")
    obj, own = owners(server, version, ns, "cm", "c")
    assert obj["data"] == {"k": "two", "j": "x"}
    assert own[("alice", "Apply")] == {"f:data": {"f:j": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}
    assert own[("bob", "Apply")] == {"f:data": {"f:k": {}}}

    # Carol applies the value Alice has: no conflict, both own it.
    ssa(server, version, ns, cm("c", {"j": "x"}), "carol")
    _, own = owners(server, version, ns, "cm", "c")
    assert own[("carol", "Apply")] == {"f:data": {"f:j": {}}}
    assert "f:j" in own[("alice", "Apply")]["f:data"]

    # Alice drops j and her label: j stays (Carol's too), the label goes (only Alice's).
    # (An empty `data: {}` would claim the map itself; no `data` claims nothing.)
    ssa(server, version, ns, cm("c", None), "alice")
    obj, own = owners(server, version, ns, "cm", "c")
    assert obj["data"] == {"k": "two", "j": "x"}
    assert "labels" not in obj["metadata"]
    assert ("alice", "Apply") not in own


def test_the_api_answers_as_upstream(server):
    ns = "ssa-api"
    server.kubectl("1.33", "create", "ns", ns)
    path = f"/api/v1/namespaces/{ns}/configmaps/x"
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: one\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    status, _, body = server.request("PATCH", path + "?fieldManager=a", yaml_body, headers)
    assert status == 201, body
    assert body["metadata"]["managedFields"][0]["manager"] == "a"
    status, _, body = server.request("PATCH", path + "?fieldManager=a", yaml_body, headers)
    assert status == 200, body

    status, _, body = server.request("PATCH", path + "?fieldManager=b", yaml_body.replace(b"one", b"two"), headers)
    assert status == 409, body
    assert body["reason"] == "Conflict"
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".data.k"}]

    status, _, body = server.request("PATCH", path, yaml_body, headers)
    assert status == 422, body
    assert body["message"] == ('PatchOptions.meta.k8s.io "" is invalid: '
                               "fieldManager: Required value: is required for apply patch")
    status, _, body = server.request("POST", f"/api/v1/namespaces/{ns}/configmaps?fieldManager=" + "m" * 129,
                                     {"metadata": {"name": "long"}})
    assert status == 422, body
    assert body["message"] == ('CreateOptions.meta.k8s.io "" is invalid: '
                               "fieldManager: Too long: may not be more than 128 bytes")
    status, _, body = server.request("PATCH", path + "?force=true", b'{"data":{"k":"1"}}',
                                     {"Content-Type": "application/merge-patch+json"})
    assert status == 422, body
    assert "force: Forbidden: may not be specified for non-apply patch" in body["message"]

    # An update by another manager takes ownership of what it changed: apply then conflicts
    # with it, named with its operation's version.
    status, _, body = server.request("PATCH", path + "?fieldManager=editor", b'{"data":{"k":"edited"}}',
                                     {"Content-Type": "application/merge-patch+json"})
    assert status == 200, body
    status, _, body = server.request("PATCH", path + "?fieldManager=a", yaml_body, headers)
    assert status == 409, body
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.k'


def test_client_side_apply_hands_over_to_server_side(server, version):
    ns = "csa-ssa-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "apply", "-f", "-", input=cm("m", {"a": "1", "b": "2"}))
    _, own = owners(server, version, ns, "cm", "m")
    assert ("kubectl-client-side-apply", "Update") in own

    # kubectl moves the client-side fields to its apply manager, so dropping b removes it.
    server.kubectl(version, "-n", ns, "apply", "--server-side", "-f", "-", input=cm("m", {"a": "1"}))
    obj, own = owners(server, version, ns, "cm", "m")
    assert obj["data"] == {"a": "1"}
    assert ("kubectl-client-side-apply", "Update") not in own
    assert own[("kubectl", "Apply")]["f:data"] == {"f:a": {}}
    # The server kept the client-side annotation in step with what was applied ...
    last = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["data"] == {"a": "1"}
    # ... so going back to client-side apply diffs against it.
    server.kubectl(version, "-n", ns, "apply", "-f", "-", input=cm("m", {"a": "1", "c": "3"}))
    obj, _ = owners(server, version, ns, "cm", "m")
    assert obj["data"] == {"a": "1", "c": "3"}


def test_applied_pod_passes_admission_and_owns_only_what_it_sent(server, version):
    ns = "ssa-pod-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "x"}},
           "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]}}
    server.kubectl(version, "-n", ns, "apply", "--server-side", "-f", "-", input=json.dumps(pod))
    obj, own = owners(server, version, ns, "pod", "p")
    assert any(v["name"].startswith("kube-api-access-") for v in obj["spec"]["volumes"])
    mine = own[("kubectl", "Apply")]
    assert "f:volumes" not in mine["f:spec"]
    assert mine["f:spec"]["f:containers"]['k:{"name":"c"}']["f:env"] == {
        'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}
    # Re-applying the same file changes nothing.
    rv = obj["metadata"]["resourceVersion"]
    server.kubectl(version, "-n", ns, "apply", "--server-side", "-f", "-", input=json.dumps(pod))
    obj, _ = owners(server, version, ns, "pod", "p")
    assert obj["metadata"]["resourceVersion"] == rv


def test_created_objects_record_their_manager(server, version):
    ns = "mf-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "create", "configmap", "made", "--from-literal=x=1")
    _, own = owners(server, version, ns, "cm", "made")
    assert own == {("kubectl-create", "Update"): {"f:data": {".": {}, "f:x": {}}}}
    # The name label is a default, so the namespace's creator owns it; the system namespaces
    # are kube-apiserver's.
    ns_obj = json.loads(server.kubectl(version, "get", "ns", ns, "-o", "json", "--show-managed-fields").stdout)
    assert [(e["manager"], e["fieldsV1"]) for e in ns_obj["metadata"]["managedFields"]] == [
        ("kubectl-create", {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}})]
    ns_obj = json.loads(server.kubectl(version, "get", "ns", "default", "-o", "json", "--show-managed-fields").stdout)
    assert [e["manager"] for e in ns_obj["metadata"]["managedFields"]] == ["kube-apiserver"]
    server.kubectl(version, "-n", ns, "label", "cm", "made", "team=a")
    _, own = owners(server, version, ns, "cm", "made")
    assert own[("kubectl-label", "Update")] == {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}


def test_server_side_diff_shows_the_change_and_stores_nothing(server, version):
    ns = "ssa-diff-" + version.replace(".", "")
    server.kubectl(version, "create", "ns", ns)
    server.kubectl(version, "-n", ns, "create", "configmap", "d", "--from-literal=a=1")
    manifest = cm("d", {"a": "2"})
    # The field is kubectl-create's: a server-side diff meets the same conflict an apply would.
    r = server.kubectl(version, "-n", ns, "diff", "--server-side", "-f", "-", input=manifest, check=False)
    assert r.returncode > 1
    assert 'conflict with "kubectl-create" using v1: .data.a' in r.stderr
    r = server.kubectl(version, "-n", ns, "diff", "--server-side", "--force-conflicts", "-f", "-",
                       input=manifest, check=False)
    assert r.returncode == 1, r.stderr
    assert '-  a: "1"' in r.stdout and '+  a: "2"' in r.stdout
    obj, own = owners(server, version, ns, "cm", "d")
    assert obj["data"] == {"a": "1"}
    assert list(own) == [("kubectl-create", "Update")]
