"""Authentication with real kubectl: client certificates, the static token file, whoami,
TokenReview and impersonation."""

import json

import pytest
import yaml

from harness import Server, eventually, user_kubeconfig

TOKEN = "31ada4fd-adec-460c-809a-9e56ceb75269"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("authn")
    tokens = d / "tokens.csv"
    tokens.write_text(f'{TOKEN},token-user,1234,"devs,ops"\n')
    s = Server(data_dir=d / "data", args=["--token-auth-file", str(tokens)])
    yield s
    s.stop()


def token_kubeconfig(server, token, name):
    cfg = yaml.safe_load(open(server.kubeconfig).read())
    cfg["users"][0]["user"] = {"token": token}
    path = server.data_dir / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def whoami(server, version, kubeconfig=None, *extra):
    out = server.kubectl(version, "auth", "whoami", "-o", "json", *extra, kubeconfig=kubeconfig).stdout
    return json.loads(out)["status"]["userInfo"]


def test_whoami_for_each_credential(server, version):
    admin = whoami(server, version)
    assert admin["username"] == "kubeward-admin"
    assert admin["groups"] == ["system:masters", "system:authenticated"]
    assert admin["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("X509SHA256=")
    cert = user_kubeconfig(server, "jane", ["devs", "ops"], name=f"jane-{version}")
    assert whoami(server, version, cert)["groups"] == ["devs", "ops", "system:authenticated"]
    tok = whoami(server, version, token_kubeconfig(server, TOKEN, "tok"))
    assert tok == {"username": "token-user", "uid": "1234", "groups": ["devs", "ops", "system:authenticated"]}
    table = server.kubectl(version, "auth", "whoami", kubeconfig=token_kubeconfig(server, TOKEN, "tok")).stdout.splitlines()
    assert table[0].split() == ["ATTRIBUTE", "VALUE"] and table[1].split() == ["Username", "token-user"]


def test_bad_tokens_are_401_and_never_logged(server, version):
    for bad in [TOKEN[:-1] + "0", TOKEN + "x", "garbage"]:
        p = server.kubectl(version, "get", "ns", kubeconfig=token_kubeconfig(server, bad, "bad"), check=False)
        # kubectl words a 401 on discovery as "the server has asked for the client to provide
        # credentials" (1.27) and on the resource as "(Unauthorized)"; both come from a 401.
        assert p.returncode == 1 and "error: You must be logged in to the server" in p.stderr
    status, _, body = server.request("GET", "/api/v1/namespaces", admin=False, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert (status, body["message"], body["reason"]) == (401, "Unauthorized", "Unauthorized")
    # Upstream trims the header; two spaces mean "no token" (anonymous) with a warning.
    status, _, _ = server.request("GET", "/api/v1/namespaces/default/configmaps", admin=False, headers={"Authorization": f"Bearer {TOKEN} "})
    assert status == 403, "a trailing space is still the token of token-user, who may not list config maps"
    status, headers, body = server.request("GET", "/version", admin=False, headers={"Authorization": f"Bearer  {TOKEN}"})
    assert status == 200 and "extra space before the bearer token" in headers["warning"]
    log = server.server_log()
    assert TOKEN not in log and "garbage" not in log


def test_token_review(server):
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": TOKEN}}
    status, _, body = server.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert status == 201 and body["status"]["authenticated"] is True
    assert body["status"]["user"] == {"username": "token-user", "uid": "1234", "groups": ["devs", "ops", "system:authenticated"]}
    review["spec"]["token"] = "nope"
    _, _, body = server.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert body["status"] == {"user": {}, "error": "invalid bearer token"}
    review["spec"]["token"] = ""
    status, _, body = server.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert status == 400 and body["message"] == "token is required for TokenReview in authentication"


def test_impersonation(server, version):
    # The admin (system:masters) may impersonate anyone.
    as_sa = whoami(server, version, None, "--as=system:serviceaccount:default:builder")
    assert as_sa == {"username": "system:serviceaccount:default:builder", "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]}
    as_jane = whoami(server, version, None, "--as=jane", "--as-group=devs")
    assert as_jane == {"username": "jane", "groups": ["devs", "system:authenticated"]}
    # Impersonated, the admin has only jane's permissions.
    denied = server.kubectl(version, "get", "secrets", "--as=jane", check=False)
    assert 'secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace "default"' in denied.stderr
    # token-user has no impersonate permission, until granted.
    tok = token_kubeconfig(server, TOKEN, "tok")
    target = "jane-" + version.replace(".", "")
    refused = server.kubectl(version, "get", "ns", f"--as={target}", kubeconfig=tok, check=False)
    assert f'users "{target}" is forbidden: User "token-user" cannot impersonate resource "users" in API group "" at the cluster scope' in refused.stderr
    name = f"impersonator-{version.replace('.', '')}"
    server.kubectl(version, "create", "clusterrole", name, "--verb=impersonate", "--resource=users", f"--resource-name={target}")
    server.kubectl(version, "create", "clusterrolebinding", name, f"--clusterrole={name}", "--user=token-user")
    eventually(lambda: server.kubectl(version, "auth", "whoami", f"--as={target}", kubeconfig=tok, check=False).returncode == 0, 3.0, "impersonate grant")
    refused = server.kubectl(version, "get", "ns", f"--as={target}", "--as-group=admins", kubeconfig=tok, check=False)
    assert 'groups "admins" is forbidden: User "token-user" cannot impersonate resource "groups" in API group "" at the cluster scope' in refused.stderr


def test_certificate_uid_attribute(server):
    with_uid = user_kubeconfig(server, "uid-user", ["devs"], name="uid-one", subject_prefix="/UID=u-123")
    info = whoami(server, "1.33", with_uid)
    assert info["username"] == "uid-user" and info["uid"] == "u-123"
    two = user_kubeconfig(server, "uid-user", name="uid-two", subject_prefix="/UID=a/UID=b")
    p = server.kubectl("1.33", "get", "ns", kubeconfig=two, check=False)
    assert p.returncode == 1 and "You must be logged in to the server" in p.stderr, "several UIDs fail authentication"
