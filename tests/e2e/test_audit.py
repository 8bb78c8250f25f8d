"""The audit log: audit.k8s.io/v1 events as JSON lines, one per stage, by the policy's levels;
the Audit-Id header; secrets never written; controllers under their own identities."""

import base64
import json

import pytest

from harness import Server, eventually

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    nonResourceURLs: ["/readyz", "/livez", "/healthz*"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: "authentication.k8s.io"
        resources: ["tokenreviews"]
  - level: Metadata
    omitStages: ["RequestReceived"]
"""

ORDER = ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
         "impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus",
         "requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp",
         "annotations"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit")
    (d / "policy.yaml").write_text(POLICY)
    log = d / "audit.log"
    s = Server(args=["--audit-log-path", str(log), "--audit-policy-file", str(d / "policy.yaml")])
    yield s, log
    s.stop()


def events(log):
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def test_events_by_stage_and_level(audited):
    server, log = audited
    server.kubectl("1.33", "-n", "default", "create", "secret", "generic", "db", "--from-literal=password=s3cr3t")
    status, headers, _ = server.request("GET", "/api/v1/namespaces/default/secrets/db")
    assert status == 200
    audit_id = headers["audit-id"]

    def the_get():
        return [e for e in events(log) if e["auditID"] == audit_id]
    got = eventually(lambda: len(the_get()) == 2 and the_get(), 5, "the GET's two events")
    assert [e["stage"] for e in got] == ["RequestReceived", "ResponseComplete"]
    done = got[1]
    assert done["level"] == "RequestResponse" and done["verb"] == "get"
    assert done["objectRef"] == {"resource": "secrets", "namespace": "default", "name": "db", "apiVersion": "v1"}
    assert done["responseStatus"] == {"metadata": {}, "code": 200}
    assert done["user"]["username"] == "kubeward-admin" and "system:masters" in done["user"]["groups"]
    assert done["sourceIPs"] == ["127.0.0.1"]
    assert done["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert list(done)[: len(done)] == [k for k in ORDER if k in done], "fields in upstream's order"
    assert done["requestReceivedTimestamp"].endswith("Z") and len(done["stageTimestamp"]) == 27

    # The secret's value is nowhere in the log, at any level, and the events say so.
    text = log.read_text()
    assert "s3cr3t" not in text and base64.b64encode(b"s3cr3t").decode() not in text
    assert done["responseObject"]["data"] == {"password": ""}
    assert "audit.kubeward.io/redacted" in done["annotations"]
    # Patches name no kind; they are blanked by where they go.
    for patch_type, patch in [
        ("merge", '{"data":{"password":"bWVyZ2VkLXMzY3IzdA=="}}'),
        ("strategic", '{"stringData":{"token":"strategic-s3cr3t"}}'),
        ("json", '[{"op":"add","path":"/data/extra","value":"anNvbi1zM2NyM3Q="}]'),
    ]:
        server.kubectl("1.33", "-n", "default", "patch", "secret", "db", "--type", patch_type, "-p", patch)

    def patched():
        return len([e for e in events(log) if e["verb"] == "patch" and e["stage"] == "ResponseComplete"]) == 3
    eventually(patched, 5, "the three patches' events")
    text = log.read_text()
    for value in ["bWVyZ2VkLXMzY3IzdA==", "strategic-s3cr3t", "anNvbi1zM2NyM3Q="]:
        assert value not in text, value
    create = [e for e in events(log) if e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "secrets"]
    assert create and create[-1]["objectRef"]["name"] == "db", "a create names its object"
    assert create[-1]["requestObject"]["data"] == {"password": ""}


def test_metadata_level_and_a_forbidden_impersonation(audited):
    server, log = audited
    p = server.kubectl("1.33", "--as", "mallory", "get", "pods", "-n", "default", check=False)
    assert p.returncode != 0

    def refused():
        return [e for e in events(log) if e.get("impersonatedUser", {}).get("username") == "mallory"]
    e = eventually(refused, 5, "the impersonated request's event")[-1]
    assert e["level"] == "Metadata" and e["stage"] == "ResponseComplete", "Metadata omits RequestReceived here"
    assert "requestObject" not in e and "responseObject" not in e
    assert e["user"]["username"] == "kubeward-admin"
    assert e["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert e["responseStatus"]["code"] == 403 and e["responseStatus"]["reason"] == "Forbidden"
    assert not [x for x in events(log) if x["requestURI"].startswith("/readyz")], "level None is not written"
    # The request target as Go's RequestURI has it, path and query, though kubectl speaks
    # HTTP/2 (whose request carries scheme and authority too).
    assert e["requestURI"] == "/api/v1/namespaces/default/pods?limit=500", e["requestURI"]
    assert all(x["requestURI"].startswith("/") for x in events(log))


def test_a_watch_has_started_and_complete_events(audited):
    server, log = audited
    status, headers, _ = server.request("GET", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    assert status == 200
    audit_id = headers["audit-id"]

    def stages():
        return [e["stage"] for e in events(log) if e["auditID"] == audit_id]
    eventually(lambda: stages() == ["RequestReceived", "ResponseStarted", "ResponseComplete"], 5, "the watch's three events")


def test_controllers_write_under_their_own_identities(audited):
    server, log = audited
    server.kubectl("1.33", "create", "namespace", "audited")

    def by_controller():
        return [e for e in events(log)
                if e["verb"] == "create" and e.get("objectRef", {}).get("namespace") == "audited"
                and e.get("objectRef", {}).get("resource") == "serviceaccounts"
                and e["stage"] == "ResponseComplete"]
    e = eventually(by_controller, 10, "the default account's creation")[-1]
    assert e["user"]["username"] == "system:serviceaccount:kube-system:service-account-controller"
    assert e["userAgent"].startswith("kube-controller-manager/")
    assert e["responseStatus"]["code"] == 201
    assert e["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert "system:controller:service-account-controller" in e["annotations"]["authorization.k8s.io/reason"]


def test_an_audit_id_comes_back_on_every_response(audited):
    server, _ = audited
    status, headers, _ = server.request("GET", "/version", headers={"Audit-ID": "my-id-1"})
    assert status == 200 and headers["audit-id"] == "my-id-1", "a client's audit ID is kept"
    status, headers, _ = server.request("GET", "/api/v1/namespaces/nope/configmaps/x")
    assert status == 404 and len(headers["audit-id"]) == 36


def test_requested_and_reviewed_tokens_are_never_written(audited):
    server, log = audited
    token = server.kubectl("1.33", "-n", "default", "create", "token", "default").stdout.strip()
    assert token.count(".") == 2
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    status, _, answer = server.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert status == 201 and answer["status"]["authenticated"] is True

    def both():
        es = events(log)
        return any(e.get("objectRef", {}).get("subresource") == "token" and e["stage"] == "ResponseComplete" for e in es) and \
            any(e.get("objectRef", {}).get("resource") == "tokenreviews" and e["stage"] == "ResponseComplete" for e in es)
    eventually(both, 5, "the TokenRequest's and the TokenReview's events")
    es = events(log)
    requested = [e for e in es if e.get("objectRef", {}).get("subresource") == "token" and e["stage"] == "ResponseComplete"][-1]
    reviewed = [e for e in es if e.get("objectRef", {}).get("resource") == "tokenreviews" and e["stage"] == "ResponseComplete"][-1]
    assert requested["level"] == reviewed["level"] == "RequestResponse"
    assert requested["responseObject"]["status"]["token"] == "" and requested["responseObject"]["status"]["expirationTimestamp"]
    assert reviewed["requestObject"]["spec"]["token"] == "" and reviewed["responseObject"]["status"]["authenticated"] is True
    assert "audit.kubeward.io/redacted" in requested["annotations"] and "audit.kubeward.io/redacted" in reviewed["annotations"]
    text = log.read_text()
    # No part of the token (its signature least of all) is in the log.
    assert token not in text and token.split(".")[2] not in text


def test_a_refused_credential_is_recorded_without_a_user(audited):
    server, log = audited
    status, headers, _ = server.request("GET", "/api/v1/namespaces", headers={"Authorization": "Bearer not-a-token"}, admin=False)
    assert status == 401
    audit_id = headers["audit-id"]

    def refused():
        return [e for e in events(log) if e["auditID"] == audit_id]
    (e,) = eventually(refused, 5, "the 401's event")
    assert e["stage"] == "ResponseStarted" and e["user"] == {}
    assert e["responseStatus"] == {"metadata": {}, "message": "Authentication failed, attempted: bearer", "code": 401}
    assert "not-a-token" not in log.read_text()


def test_a_bad_timeout_is_recorded_before_authentication(audited):
    # Upstream's WithRequestDeadline refuses it before authentication and records it with
    # withFailedRequestAudit: one ResponseStarted event, no user, the 400's message.
    server, log = audited
    status, headers, body = server.request("GET", "/api/v1/namespaces?timeout=soon")
    assert status == 400
    audit_id = headers["audit-id"]

    def refused():
        return [e for e in events(log) if e["auditID"] == audit_id]
    (e,) = eventually(refused, 5, "the 400's event")
    assert e["stage"] == "ResponseStarted" and e["user"] == {}
    assert e["verb"] == "list" and e["requestURI"] == "/api/v1/namespaces?timeout=soon"
    assert e["responseStatus"] == {"metadata": {}, "message": body["message"], "code": 400}
