"""OpenAPI: kubectl explain prints upstream's descriptions (v3 by default, v2 protobuf on
request), and the documents are served with hashes, ETags and gzip."""

import gzip
import json
import subprocess

import pytest

SA_TEXT = ("AutomountServiceAccountToken indicates whether pods running as this service\n"
           "    account should have an API token automatically mounted.")
VERBS_TEXT = "Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in"


@pytest.mark.parametrize("field,kind,text", [
    ("serviceaccount.automountServiceAccountToken", "ServiceAccount", SA_TEXT),
    ("clusterrole.rules.verbs", "ClusterRole", VERBS_TEXT),
])
def test_explain(server, version, field, kind, text):
    out = server.kubectl(version, "explain", field).stdout
    assert f"KIND:       {kind}" in out
    assert text in out


def test_explain_from_the_v2_protobuf_document(server):
    out = server.kubectl("1.33", "explain", "serviceaccount.automountServiceAccountToken",
                         "--output=plaintext-openapiv2").stdout
    assert "FIELD:    automountServiceAccountToken <boolean>" in out
    assert "AutomountServiceAccountToken indicates whether pods running as this service" in out
    out = server.kubectl("1.33", "explain", "pods.spec.containers", "--output=plaintext-openapiv2").stdout
    assert "RESOURCE: containers <[]Object>" in out


def test_v2_is_json_or_protobuf_as_asked(server):
    # kube-openapi's negotiation: JSON for application/json and for no Accept at all (curl),
    # protobuf under either of its names (kubectl's), 406 for anything else; Vary: Accept.
    status, headers, doc = server.request("GET", "/openapi/v2", headers={"Accept": "application/json"})
    assert status == 200 and headers["content-type"] == "application/json"
    assert doc["swagger"] == "2.0" and "io.k8s.api.core.v1.ServiceAccount" in doc["definitions"]
    assert "Accept" in headers["vary"]
    curl = subprocess.run(["curl", "-sk", "--cert", str(server.data_dir / "client" / "c.pem"),
                           "--key", str(server.data_dir / "client" / "k.pem"),
                           f"https://127.0.0.1:{server.port}/openapi/v2"], capture_output=True, timeout=30)
    assert json.loads(curl.stdout)["swagger"] == "2.0"
    proto = server.request("GET", "/openapi/v2",
                           headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert proto[0] == 200
    assert proto[1]["content-type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert isinstance(proto[2], bytes) and b"io.k8s.api.core.v1.ServiceAccount" in proto[2]
    assert server.request("GET", "/openapi/v2", headers={"Accept": "text/html"})[0] == 406


def test_v3_documents_are_cached_by_hash(server):
    status, _, root = server.request("GET", "/openapi/v3")
    assert status == 200
    url = root["paths"]["apis/rbac.authorization.k8s.io/v1"]["serverRelativeURL"]
    status, headers, doc = server.request("GET", url)
    assert status == 200
    assert headers["cache-control"] == "public, immutable"
    etag = headers["etag"]
    assert "io.k8s.api.rbac.v1.ClusterRole" in doc["components"]["schemas"]
    status, _, body = server.request("GET", url, headers={"If-None-Match": etag})
    assert status == 304 and body is None
    status, headers, raw = server.request("GET", url, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw)) == doc
    # An outdated hash is sent to the current one, as upstream.
    path = url.split("?")[0]
    status, headers, _ = server.request("GET", path + "?hash=0")
    assert status == 301 and headers["location"] == url


def test_unprivileged_users_read_the_schemas(server, tmp_path):
    from harness import user_kubeconfig
    kc = user_kubeconfig(server, "nobody")
    out = server.kubectl("1.33", "explain", "configmap.data", kubeconfig=kc).stdout
    assert "Data contains the configuration data." in out


def test_v3_operations_carry_upstreams_parameters_and_words(server):
    """Each operation of a v3 document says what it does and takes the query parameters
    kube-apiserver documents for it, in its order and with its descriptions (the options
    kinds' SwaggerDoc, apimachinery v0.33.9): a client generator sees the same API."""
    root = server.request("GET", "/openapi/v3")[2]
    doc = server.request("GET", root["paths"]["api/v1"]["serverRelativeURL"])[2]
    coll = doc["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts"]
    assert [p["name"] for p in coll["parameters"]] == ["namespace", "pretty"]
    assert coll["parameters"][1]["description"].startswith("If 'true', then the output is pretty printed.")
    listing = coll["get"]
    assert listing["description"] == "list or watch objects of kind ServiceAccount"
    assert listing["tags"] == ["core_v1"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert [p["name"] for p in listing["parameters"]] == [
        "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
        "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
    assert params["limit"]["schema"] == {"type": "integer", "uniqueItems": True}
    assert params["watch"]["schema"]["type"] == "boolean"
    assert params["limit"]["description"].startswith(
        "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field")
    assert params["resourceVersion"]["description"].endswith("for details.\n\nDefaults to unset")
    assert coll["post"]["description"] == "create a ServiceAccount"
    assert [p["name"] for p in coll["post"]["parameters"]] == ["dryRun", "fieldManager", "fieldValidation"]
    assert "- Strict: This will fail the request with a BadRequest error" in \
        {p["name"]: p for p in coll["post"]["parameters"]}["fieldValidation"]["description"]
    assert [p["name"] for p in coll["delete"]["parameters"]] == [
        "continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
        "labelSelector", "limit", "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch",
        "sendInitialEvents", "timeoutSeconds"]
    one = doc["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}"]
    assert [p["name"] for p in one["parameters"]] == ["name", "namespace", "pretty"]
    assert one["get"]["description"] == "read the specified ServiceAccount"
    assert one["patch"]["description"] == "partially update the specified ServiceAccount"
    assert [p["name"] for p in one["patch"]["parameters"]] == ["dryRun", "fieldManager", "fieldValidation", "force"]
    assert [p["name"] for p in one["delete"]["parameters"]] == [
        "dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "orphanDependents",
        "propagationPolicy"]
    assert one["delete"]["requestBody"]["content"]["*/*"]["schema"]["$ref"].endswith("meta.v1.DeleteOptions")
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions" in doc["components"]["schemas"]


def test_list_kinds_carry_upstreams_words_at_every_served_version(server):
    """Each list type is described as upstream's types are (ServiceList's items are "List of
    services"; kubernetes/api's SwaggerDoc maps), and every served version's list operation
    refers to a list schema the document holds (rbac v1beta1's too)."""
    defs = server.request("GET", "/openapi/v2", headers={"Accept": "application/json"})[2]["definitions"]
    services = defs["io.k8s.api.core.v1.ServiceList"]
    assert services["description"] == "ServiceList holds a list of services."
    assert services["properties"]["items"]["description"] == "List of services"
    assert defs["io.k8s.api.core.v1.ConfigMapList"]["properties"]["items"]["description"] == "Items is the list of ConfigMaps."
    assert defs["io.k8s.api.rbac.v1beta1.ClusterRoleList"]["description"].startswith(
        "ClusterRoleList is a collection of ClusterRoles. Deprecated in v1.17")
    root = server.request("GET", "/openapi/v3")[2]
    for gv in root["paths"]:
        doc = server.request("GET", root["paths"][gv]["serverRelativeURL"])[2]
        schemas = doc["components"]["schemas"]
        for path, item in doc["paths"].items():
            listing = item.get("get", {})
            if listing.get("x-kubernetes-action") == "list":
                ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.split("/")[-1] in schemas, (gv, path, ref)


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_older_rbac_versions_are_described_in_their_own_words(server, version):
    """rbac v1beta1 and v1alpha1 kinds carry their versions' texts, deprecation included, and
    name their versions' own copies of the types they hold (kubernetes/api's SwaggerDoc maps),
    which kubectl explain prints for the version asked."""
    defs = server.request("GET", "/openapi/v2", headers={"Accept": "application/json"})[2]["definitions"]
    for v in ["v1beta1", "v1alpha1"]:
        role = defs[f"io.k8s.api.rbac.{v}.ClusterRole"]
        assert f"Deprecated in v1.17 in favor of rbac.authorization.k8s.io/v1 ClusterRole" in role["description"]
        assert role["properties"]["rules"]["items"]["$ref"] == f"#/definitions/io.k8s.api.rbac.{v}.PolicyRule"
        binding = defs[f"io.k8s.api.rbac.{v}.RoleBinding"]
        assert binding["properties"]["roleRef"]["$ref"] == f"#/definitions/io.k8s.api.rbac.{v}.RoleRef"
    # v1alpha1's PolicyRule words its resources as that version does.
    assert defs["io.k8s.api.rbac.v1alpha1.PolicyRule"]["properties"]["resources"]["description"] == \
        "Resources is a list of resources this rule applies to. '*' represents all resources."
    assert defs["io.k8s.api.rbac.v1.ClusterRole"]["description"].endswith("RoleBinding or ClusterRoleBinding.")
    out = server.kubectl(version, "explain", "clusterrole", "--api-version=rbac.authorization.k8s.io/v1beta1").stdout
    assert "VERSION:    v1beta1" in out or "VERSION:  v1beta1" in out, out
    assert "Deprecated in\n    v1.17 in favor of rbac.authorization.k8s.io/v1 ClusterRole" in out, out



def test_v3_operations_are_named_and_pathed_as_upstreams(server):
    """Operation IDs as kube-apiserver's OpenAPI builder makes them (`listCoreV1NamespacedServiceAccount`,
    which client generators name their methods by), the list across namespaces, and the
    deprecated watch paths the server still serves, each with upstream's words."""
    root = server.request("GET", "/openapi/v3")[2]
    paths = server.request("GET", root["paths"]["api/v1"]["serverRelativeURL"])[2]["paths"]
    coll = paths["/api/v1/namespaces/{namespace}/serviceaccounts"]
    assert [coll[m]["operationId"] for m in ("get", "post", "delete")] == [
        "listCoreV1NamespacedServiceAccount", "createCoreV1NamespacedServiceAccount",
        "deleteCoreV1CollectionNamespacedServiceAccount"]
    one = paths["/api/v1/namespaces/{namespace}/serviceaccounts/{name}"]
    assert [one[m]["operationId"] for m in ("get", "put", "patch", "delete")] == [
        "readCoreV1NamespacedServiceAccount", "replaceCoreV1NamespacedServiceAccount",
        "patchCoreV1NamespacedServiceAccount", "deleteCoreV1NamespacedServiceAccount"]
    all_ns = paths["/api/v1/serviceaccounts"]
    assert all_ns["get"]["operationId"] == "listCoreV1ServiceAccountForAllNamespaces"
    assert all_ns["get"]["description"] == "list or watch objects of kind ServiceAccount"
    # A path of one operation lists all its parameters itself, sorted (kube-openapi's
    # findCommonParameters): the list's, with pretty among them.
    assert "parameters" not in all_ns["get"]
    assert [p["name"] for p in all_ns["parameters"]] == [
        "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "pretty", "resourceVersion",
        "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
    w = paths["/api/v1/watch/namespaces/{namespace}/serviceaccounts"]
    assert (w["get"]["operationId"], w["get"]["x-kubernetes-action"]) == ("watchCoreV1NamespacedServiceAccountList", "watchlist")
    assert w["get"]["description"].startswith("watch individual changes to a list of ServiceAccount. deprecated:")
    assert w["get"]["responses"]["200"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"}
    assert [p["name"] for p in w["parameters"]] == [
        "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "namespace", "pretty",
        "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
    assert paths["/api/v1/watch/namespaces/{namespace}/serviceaccounts/{name}"]["get"]["operationId"] == \
        "watchCoreV1NamespacedServiceAccount"
    assert paths["/api/v1/watch/serviceaccounts"]["get"]["operationId"] == "watchCoreV1ServiceAccountListForAllNamespaces"
    rbac = server.request("GET", root["paths"]["apis/rbac.authorization.k8s.io/v1"]["serverRelativeURL"])[2]
    assert rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["get"]["operationId"] == \
        "readRbacAuthorizationV1ClusterRole"
    assert rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/watch/clusterroles/{name}"]["get"]["operationId"] == \
        "watchRbacAuthorizationV1ClusterRole"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent" in rbac["components"]["schemas"]
    # Each documented watch path is one the server answers: it streams what ?watch=1 streams.
    status, headers, _ = server.request("GET", "/api/v1/watch/namespaces/default/serviceaccounts?timeoutSeconds=1")
    assert status == 200 and headers["content-type"] == "application/json"


def test_v2_carries_the_operations_in_v2s_spelling(server):
    """`/openapi/v2` holds every served operation as kube-openapi's v2 builder writes it: the
    list's query parameters with upstream's words and their type beside them, the body as the
    first parameter, the media types, and the response schema beside its description."""
    v2 = server.request("GET", "/openapi/v2")[2]
    root = server.request("GET", "/openapi/v3")[2]
    v3 = server.request("GET", root["paths"]["api/v1"]["serverRelativeURL"])[2]
    coll = v2["paths"]["/api/v1/namespaces/{namespace}/services"]
    listing = coll["get"]
    assert listing["operationId"] == "listCoreV1NamespacedService"
    assert listing["description"] == "list or watch objects of kind Service"
    params = {p["name"]: p for p in listing["parameters"]}
    v3_params = {p["name"]: p for p in v3["paths"]["/api/v1/namespaces/{namespace}/services"]["get"]["parameters"]}
    for name in ("watch", "limit", "continue", "resourceVersion", "labelSelector"):
        assert params[name]["in"] == "query" and params[name]["uniqueItems"] is True
        assert params[name]["type"] == v3_params[name]["schema"]["type"]
        assert params[name]["description"] == v3_params[name]["description"] != ""
    assert listing["produces"] == ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
                                   "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"]
    assert listing["schemes"] == ["https"] and listing["consumes"] == ["*/*"]
    assert listing["responses"]["200"] == {"description": "OK",
                                           "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.ServiceList"}}
    assert listing["responses"]["401"] == {"description": "Unauthorized"}
    assert v2["definitions"]["io.k8s.api.core.v1.ServiceList"]["description"] == "ServiceList holds a list of services."
    assert [p["name"] for p in coll["parameters"]] == ["namespace", "pretty"]
    assert coll["parameters"][0]["required"] is True and coll["parameters"][0]["in"] == "path"
    create = coll["post"]
    assert create["parameters"][0] == {"name": "body", "in": "body", "required": True,
                                       "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.Service"}}
    assert [p["name"] for p in create["parameters"][1:]] == ["dryRun", "fieldManager", "fieldValidation"]
    patch = v2["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert patch["consumes"] == ["application/apply-patch+yaml", "application/json-patch+json",
                                 "application/merge-patch+json", "application/strategic-merge-patch+json"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Namespace"}
    review = v2["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert set(review) == {"post", "parameters"}
    # The protobuf form holds the same paths.
    proto = server.request("GET", "/openapi/v2",
                           headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})[2]
    assert b"listCoreV1NamespacedService" in proto and b"/api/v1/namespaces/{namespace}/services" in proto


SSAR = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                   "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}})


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_kubectl_reads_v2s_operations_and_asks_for_crds(server, version):
    """kubectl 1.27–1.33, creating a kind its v3 document has no PATCH for, reads v2's
    operations (the protobuf form), finds Namespace's PATCH taking fieldValidation, and asks
    whether the kind is a custom resource (cli-runtime's query_param_verifier.go): the CRD
    list answers, empty, and the review is created. Its log shows each step."""
    p = server.kubectl(version, "create", "-f", "-", "-o", "jsonpath={.status.allowed}", "-v=6", input=SSAR)
    assert p.stdout == "true"
    log = p.stderr
    assert "/openapi/v2" in log and "200 OK" in log
    crd_lines = [line for line in log.splitlines() if "/apis/apiextensions.k8s.io/v1/customresourcedefinitions" in line]
    assert crd_lines and "200 OK" in crd_lines[0], log


def test_the_crd_list_is_empty_and_authorized(server, tmp_path):
    from harness import user_kubeconfig
    status, headers, raw = server.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                          headers={"Accept": "application/json, */*"})
    assert status == 200 and headers["content-type"] == "application/json"
    rv = raw["metadata"]["resourceVersion"]
    assert int(rv) > 0
    conn_body = server.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                               headers={"Accept": "application/yaml"})
    assert conn_body[0] == 200 and conn_body[1]["content-type"] == "application/yaml"
    # Upstream's encoder's bytes: TypeMeta, ListMeta, items, and its newline.
    p = server.kubectl("1.33", "get", "--raw", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    assert p.stdout.startswith('{"kind":"CustomResourceDefinitionList","apiVersion":"apiextensions.k8s.io/v1",'
                               '"metadata":{"resourceVersion":"')
    assert p.stdout.endswith('"},"items":[]}\n')
    status, _, body = server.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert status == 404
    assert body["message"] == 'customresourcedefinitions.apiextensions.k8s.io "widgets.example.com" not found'
    assert body["details"] == {"name": "widgets.example.com", "group": "apiextensions.k8s.io",
                               "kind": "customresourcedefinitions"}
    status, _, body = server.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                     body={"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"})
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    # Not a resource discovery lists: nothing can be created there.
    assert server.request("GET", "/apis/apiextensions.k8s.io/v1")[0] == 404
    # A user who may not list CRDs is refused as by any resource; kubectl 1.27–1.33 then stops
    # before creating a review, as against kube-apiserver, unless told not to validate.
    kc = user_kubeconfig(server, "crd-outsider")
    p = server.kubectl("1.33", "create", "-f", "-", "-o", "name", kubeconfig=kc, input=SSAR, check=False)
    assert p.returncode != 0
    assert ('failed to check CRD: failed to list CRDs: customresourcedefinitions.apiextensions.k8s.io is forbidden: '
            'User "crd-outsider" cannot list resource "customresourcedefinitions" in API group "apiextensions.k8s.io" '
            'at the cluster scope') in p.stderr, p.stderr
    p = server.kubectl("1.33", "create", "-f", "-", "--validate=false", "-o", "jsonpath={.status.allowed}",
                       kubeconfig=kc, input=SSAR)
    assert p.stdout == "false"


def test_subresources_are_documented_as_the_installer_registers_them(server):
    """Each served subresource has its path: words and names from the parent kind, the
    group-version-kind and schema its own, log's and exec's options with upstream's words;
    every operation answers in each media type, and 401."""
    root = server.request("GET", "/openapi/v3")[2]
    doc = server.request("GET", root["paths"]["api/v1"]["serverRelativeURL"])[2]
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    status = paths["/api/v1/namespaces/{namespace}/pods/{name}/status"]
    assert {m: status[m]["operationId"] for m in ("get", "put", "patch")} == {
        "get": "readCoreV1NamespacedPodStatus", "put": "replaceCoreV1NamespacedPodStatus",
        "patch": "patchCoreV1NamespacedPodStatus"}
    assert status["patch"]["description"] == "partially update status of the specified Pod"
    assert status["patch"]["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in [p["name"] for p in status["patch"]["parameters"]]
    assert [p["name"] for p in status["parameters"]] == ["name", "namespace", "pretty"]
    assert sorted(status["put"]["responses"]) == ["200", "201", "401"]
    assert sorted(status["get"]["responses"]["200"]["content"]) == [
        "application/json", "application/vnd.kubernetes.protobuf", "application/yaml"]
    token = paths["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]
    assert token["post"]["operationId"] == "createCoreV1NamespacedServiceAccountToken"
    assert token["post"]["description"] == "create token of a ServiceAccount"
    assert token["post"]["x-kubernetes-group-version-kind"] == {
        "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}
    assert token["post"]["requestBody"]["content"]["*/*"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.authentication.v1.TokenRequest"}
    assert sorted(token["post"]["responses"]) == ["200", "201", "202", "401"]
    assert [p["name"] for p in token["parameters"]] == [
        "dryRun", "fieldManager", "fieldValidation", "name", "namespace", "pretty"]
    binding = paths["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]
    assert (binding["operationId"], binding["description"]) == ("createCoreV1NamespacedPodBinding", "create binding of a Pod")
    assert schemas["io.k8s.api.core.v1.Binding"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Binding", "version": "v1"}]
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]
    assert log["get"]["operationId"] == "readCoreV1NamespacedPodLog"
    log_params = {p["name"]: p for p in log["parameters"]}
    assert list(log_params) == ["container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "name",
                                "namespace", "pretty", "previous", "sinceSeconds", "stream", "tailLines", "timestamps"]
    assert log_params["tailLines"]["schema"]["type"] == "integer"
    assert log_params["follow"]["description"] == "Follow the log stream of the pod. Defaults to false."
    assert log["get"]["responses"]["200"]["content"]["text/plain"] == {"schema": {"type": "string"}}
    exec_ = paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert (exec_["get"]["operationId"], exec_["post"]["operationId"]) == (
        "connectCoreV1GetNamespacedPodExec", "connectCoreV1PostNamespacedPodExec")
    assert exec_["post"]["description"] == "connect POST requests to exec of Pod"
    assert exec_["get"]["x-kubernetes-action"] == "connect"
    assert [p["name"] for p in exec_["parameters"]] == [
        "command", "container", "name", "namespace", "stderr", "stdin", "stdout", "tty"]
    assert [p["name"] for p in paths["/api/v1/namespaces/{namespace}/pods/{name}/attach"]["parameters"]] == [
        "container", "name", "namespace", "stderr", "stdin", "stdout", "tty"]
    # The installer's articles (GetArticleForNoun): none for a plural, "an" before a vowel.
    assert paths["/api/v1/namespaces/{namespace}/events"]["post"]["description"] == "create an Event"
    assert paths["/api/v1/namespaces/{namespace}/endpoints/{name}"]["delete"]["description"] == "delete Endpoints"
    finalize = paths["/api/v1/namespaces/{name}/finalize"]
    assert set(finalize) == {"put", "parameters"}
    assert finalize["put"]["operationId"] == "replaceCoreV1NamespaceFinalize"
    assert finalize["put"]["description"] == "replace finalize of the specified Namespace"
    # A review's create takes its parameters at its path, as upstream's.
    authz = server.request("GET", root["paths"]["apis/authorization.k8s.io/v1"]["serverRelativeURL"])[2]
    ssar = authz["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert [p["name"] for p in ssar["parameters"]] == ["dryRun", "fieldManager", "fieldValidation", "pretty"]
    assert "parameters" not in ssar["post"]
    # v2 has them too, in its spelling.
    v2 = server.request("GET", "/openapi/v2")[2]
    v2_token = v2["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]["post"]
    assert v2_token["parameters"][0]["schema"] == {"$ref": "#/definitions/io.k8s.api.authentication.v1.TokenRequest"}
    assert v2["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["produces"] == [
        "text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
    assert v2["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["post"]["produces"] == ["*/*"]
