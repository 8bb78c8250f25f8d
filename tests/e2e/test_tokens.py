"""Service-account tokens: TokenRequest with real kubectl, verification and revocation, the
OIDC documents with a standard JWT library, and key rotation."""

import base64
import json
import subprocess
import time

import jwt
import pytest
import yaml

from harness import Server, eventually

ISSUER = "https://kubernetes.default.svc.cluster.local"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(data_dir=tmp_path_factory.mktemp("tokens"))
    yield s
    s.stop()


def token_kubeconfig(server, token, name="tok"):
    cfg = yaml.safe_load(open(server.kubeconfig).read())
    cfg["users"][0]["user"] = {"token": token}
    path = server.data_dir / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def as_token(server, token):
    """(status, body) of a SelfSubjectReview made with only this bearer token."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    status, _, body = server.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", review, admin=False, headers={"Authorization": f"Bearer {token}"})
    return status, body


def test_create_token_and_whoami(server, version):
    sa = "bot-" + version.replace(".", "")
    server.kubectl(version, "create", "sa", sa)
    token = server.kubectl(version, "create", "token", sa).stdout.strip()
    info = json.loads(server.kubectl(version, "auth", "whoami", "-o", "json", kubeconfig=token_kubeconfig(server, token)).stdout)["status"]["userInfo"]
    assert info["username"] == f"system:serviceaccount:default:{sa}"
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert info["extra"]["authentication.kubernetes.io/credential-id"] == [f"JTI={claims['jti']}"]
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER] and claims["exp"] - claims["iat"] == 3600
    assert claims["sub"] == f"system:serviceaccount:default:{sa}"
    longer = server.kubectl(version, "create", "token", sa, "--duration=2h", "--audience=https://example.com").stdout.strip()
    c = jwt.decode(longer, options={"verify_signature": False})
    assert c["aud"] == ["https://example.com"] and c["exp"] - c["iat"] == 7200
    assert as_token(server, longer)[0] == 401, "a token for another audience is not accepted by the API"
    short = server.kubectl(version, "create", "token", sa, "--duration=5m", check=False)
    assert "may not specify a duration less than 10 minutes" in short.stderr


def test_tokens_verify_with_only_the_published_keys(server):
    server.kubectl("1.33", "create", "sa", "oidc")
    token = server.kubectl("1.33", "create", "token", "oidc").stdout.strip()
    status, headers, config = server.request("GET", "/.well-known/openid-configuration")
    assert status == 200 and config["issuer"] == ISSUER and config["jwks_uri"].endswith("/openid/v1/jwks")
    status, headers, jwks = server.request("GET", "/openid/v1/jwks")
    assert headers["content-type"] == "application/jwk-set+json"
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, keys[kid].key, algorithms=["ES256", "RS256"], audience=ISSUER, issuer=ISSUER)
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "oidc"


def forge(server, claims_update, key_pem=None, alg="ES256", headers=None):
    token = server.kubectl("1.33", "create", "token", "victim").stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(claims_update)
    key = key_pem or (server.data_dir / "pki" / "sa.key").read_text()
    return jwt.encode(claims, key, algorithm=alg, headers=headers or {"kid": jwt.get_unverified_header(token)["kid"]})


def hs256(payload_b64, secret):
    """The classic key-confusion forgery: HMAC over the token with the public key as secret."""
    import hashlib
    import hmac

    head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    sig = hmac.new(secret, f"{head}.{payload_b64}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload_b64}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_refused_tokens_are_401_and_never_logged(server):
    server.kubectl("1.33", "create", "sa", "victim")
    good = server.kubectl("1.33", "create", "token", "victim").stdout.strip()
    assert as_token(server, good)[0] == 201
    now = int(time.time())
    head, payload, sig = good.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    cases = {
        "one byte changed": f"{head}.{flipped}.{sig}",
        "alg none": jwt.encode({**jwt.decode(good, options={"verify_signature": False})}, None, algorithm="none"),
        "HS256 with the public key as secret": hs256(payload, (server.data_dir / "pki" / "sa.pub").read_bytes()),
        "expired": forge(server, {"exp": now - 120, "iat": now - 4000, "nbf": now - 4000}),
        "not yet valid": forge(server, {"nbf": now + 600, "iat": now}),
        "wrong issuer": forge(server, {"iss": "https://evil.example.com"}),
        "wrong audience": forge(server, {"aud": ["https://other.example.com"]}),
    }
    for what, token in cases.items():
        assert as_token(server, token)[0] == 401, what
    log = server.server_log()
    assert good not in log and all(t not in log for t in cases.values())


def test_deleting_the_service_account_or_bound_pod_revokes(server):
    server.kubectl("1.33", "create", "sa", "temp")
    token = server.kubectl("1.33", "create", "token", "temp").stdout.strip()
    assert as_token(server, token)[0] == 201
    server.kubectl("1.33", "delete", "sa", "temp")
    # Revocation reaches the in-memory caches through the watch: within a second.
    eventually(lambda: as_token(server, token)[0] == 401, 1.0, "revocation by service account deletion")
    server.kubectl("1.33", "create", "sa", "temp")
    assert as_token(server, token)[0] == 401, "a re-created service account has another UID"

    # A pod's token is its own service account's (upstream refuses another's with a 400).
    server.kubectl("1.33", "run", "holder", "--image=busybox", "--restart=Never", '--overrides={"spec":{"serviceAccountName":"temp"}}')
    bound = server.kubectl("1.33", "create", "token", "temp", "--bound-object-kind=Pod", "--bound-object-name=holder").stdout.strip()
    status, body = as_token(server, bound)
    assert status == 201 and body["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["holder"]
    server.kubectl("1.33", "delete", "pod", "holder")
    eventually(lambda: as_token(server, bound)[0] == 401, 1.0, "revocation by pod deletion")
    missing = server.kubectl("1.33", "create", "token", "nobody", check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr


def test_key_rotation(tmp_path):
    s = Server(data_dir=tmp_path / "data")
    try:
        s.kubectl("1.33", "create", "sa", "rot")
        old_token = s.kubectl("1.33", "create", "token", "rot").stdout.strip()
        old_key = tmp_path / "data" / "pki" / "sa.key"
        new_key = tmp_path / "new.key"
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(new_key)], check=True, capture_output=True)
        s.stop()
        s.args = ["--service-account-signing-key-file", str(new_key), "--service-account-key-file", str(new_key), "--service-account-key-file", str(old_key)]
        s.start()
        new_token = s.kubectl("1.33", "create", "token", "rot").stdout.strip()
        assert jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]
        assert as_token(s, old_token)[0] == 201, "the old key is still listed"
        assert as_token(s, new_token)[0] == 201
        assert len(s.request("GET", "/openid/v1/jwks")[2]["keys"]) == 2
        s.stop()
        s.args = ["--service-account-signing-key-file", str(new_key), "--service-account-key-file", str(new_key)]
        s.start()
        assert as_token(s, old_token)[0] == 401, "the old key was removed"
        assert as_token(s, new_token)[0] == 201
    finally:
        s.stop()


def test_token_review_with_audiences(server):
    server.kubectl("1.33", "create", "sa", "aud")
    token = server.kubectl("1.33", "create", "token", "aud", "--audience=https://vault.example.com").stdout.strip()
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    _, _, body = server.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert "authenticated" not in body["status"]
    assert body["status"]["error"] == f'token audiences ["https://vault.example.com"] is invalid for the target audiences ["{ISSUER}"]'
    review["spec"]["audiences"] = ["https://vault.example.com"]
    _, _, body = server.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert body["status"]["authenticated"] is True and body["status"]["audiences"] == ["https://vault.example.com"]
    assert body["status"]["user"]["username"] == "system:serviceaccount:default:aud"


def test_node_and_secret_bindings_and_their_revocation(server):
    server.kubectl("1.33", "create", "sa", "binder")
    for n in ["node-a", "node-b"]:
        server.kubectl("1.33", "create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}}))
    node_uid = server.kubectl("1.33", "get", "node", "node-a", "-o", "jsonpath={.metadata.uid}").stdout
    tok = server.kubectl("1.33", "create", "token", "binder", "--bound-object-kind=Node", "--bound-object-name=node-a").stdout.strip()
    status, body = as_token(server, tok)
    extra = body["status"]["userInfo"]["extra"]
    assert status == 201 and extra["authentication.kubernetes.io/node-name"] == ["node-a"] and extra["authentication.kubernetes.io/node-uid"] == [node_uid]
    server.kubectl("1.33", "delete", "node", "node-a")
    eventually(lambda: as_token(server, tok)[0] == 401, 1.0, "revocation by node deletion")

    # A pod on a node: its token names both.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "placed"}, "spec": {"nodeName": "node-b", "serviceAccountName": "binder", "containers": [{"name": "c", "image": "busybox"}]}}
    server.kubectl("1.33", "create", "-f", "-", input=json.dumps(pod))
    tok = server.kubectl("1.33", "create", "token", "binder", "--bound-object-kind=Pod", "--bound-object-name=placed").stdout.strip()
    extra = as_token(server, tok)[1]["status"]["userInfo"]["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["placed"] and extra["authentication.kubernetes.io/node-name"] == ["node-b"]

    server.kubectl("1.33", "create", "secret", "generic", "anchor", "--from-literal=k=v")
    tok = server.kubectl("1.33", "create", "token", "binder", "--bound-object-kind=Secret", "--bound-object-name=anchor").stdout.strip()
    assert as_token(server, tok)[0] == 201
    server.kubectl("1.33", "delete", "secret", "anchor")
    eventually(lambda: as_token(server, tok)[0] == 401, 1.0, "revocation by secret deletion")


def test_kubelet_tokens_are_extended(server):
    server.kubectl("1.33", "create", "sa", "kubelet-like")
    server.kubectl("1.33", "run", "ext", "--image=busybox", "--restart=Never", "--overrides", '{"spec":{"serviceAccountName":"kubelet-like"}}')
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "ext"}}}
    status, _, resp = server.request("POST", "/api/v1/namespaces/default/serviceaccounts/kubelet-like/token", body)
    assert status == 201
    c = jwt.decode(resp["status"]["token"], options={"verify_signature": False})
    assert c["exp"] - c["iat"] == 365 * 24 * 3600, "a year, as upstream's extension"
    assert c["kubernetes.io"]["warnafter"] - c["iat"] == 3607
    expires = time.mktime(time.strptime(resp["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (c["iat"] + 3607)) <= 1, "the status still reports 3607 seconds"


def test_deleting_a_namespace_revokes_its_tokens(server):
    server.kubectl("1.33", "create", "ns", "gone-soon")
    server.kubectl("1.33", "-n", "gone-soon", "create", "sa", "inside")
    tok = server.kubectl("1.33", "-n", "gone-soon", "create", "token", "inside").stdout.strip()
    assert as_token(server, tok)[0] == 201
    server.kubectl("1.33", "delete", "ns", "gone-soon")
    eventually(lambda: as_token(server, tok)[0] == 401, 1.0, "revocation by namespace deletion")


def test_max_token_expiration_shortens_with_a_warning(tmp_path):
    s = Server(data_dir=tmp_path / "data", args=["--service-account-max-token-expiration", "7200"])
    try:
        s.kubectl("1.33", "create", "sa", "capped")
        p = s.kubectl("1.33", "create", "token", "capped", "--duration=24h")
        c = jwt.decode(p.stdout.strip(), options={"verify_signature": False})
        assert c["exp"] - c["iat"] == 7200
        assert "requested expiration of 86400 seconds shortened to 7200 seconds" in p.stderr
    finally:
        s.stop()
