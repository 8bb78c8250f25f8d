"""Secret-based service-account tokens: the tokens controller, --legacy-token-secrets, and
their verification and revocation."""

import base64
import datetime
import json

import yaml

import pytest

from harness import Server, eventually


def review(server, token):
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    status, _, resp = server.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body, admin=False, headers={"Authorization": f"Bearer {token}"})
    return status, resp


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    s = Server(data_dir=tmp_path_factory.mktemp("legacy"), args=["--legacy-token-secrets"])
    yield s
    s.stop()


def secret_of(server, sa, version="1.33"):
    def listed():
        out = server.kubectl(version, "get", "sa", sa, "-o", "json", check=False)
        names = [s["name"] for s in json.loads(out.stdout).get("secrets", [])] if out.returncode == 0 else []
        return names[0] if names else None

    return eventually(listed, 5.0, f"a token secret for {sa}")


def test_legacy_mode_gives_every_service_account_a_token_secret(legacy, version):
    sa = "podview-" + version.replace(".", "")
    legacy.kubectl(version, "create", "serviceaccount", sa)
    name = secret_of(legacy, sa, version)
    assert name.startswith(f"{sa}-token-") and len(name) == len(sa) + len("-token-") + 5
    table = legacy.kubectl(version, "get", "serviceaccounts", sa).stdout.splitlines()
    assert table[1].split()[:2] == [sa, "1"], "SECRETS 1, as in Kubernetes <= 1.23"
    secret = json.loads(legacy.kubectl(version, "get", "secrets", name, "-o", "json").stdout)
    assert secret["type"] == "kubernetes.io/service-account-token"
    sa_uid = legacy.kubectl(version, "get", "sa", sa, "-o", "jsonpath={.metadata.uid}").stdout
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": sa, "kubernetes.io/service-account.uid": sa_uid}
    assert set(secret["data"]) == {"ca.crt", "namespace", "token"}
    assert base64.b64decode(secret["data"]["namespace"]) == b"default"
    assert base64.b64decode(secret["data"]["ca.crt"]).decode() == (legacy.data_dir / "pki" / "ca.crt").read_text()
    token = base64.b64decode(secret["data"]["token"]).decode()
    tok_cfg = legacy.data_dir / f"{sa}.kubeconfig"
    cfg = yaml.safe_load(open(legacy.kubeconfig).read())
    cfg["users"][0]["user"] = {"token": token}
    tok_cfg.write_text(yaml.safe_dump(cfg))
    whoami = json.loads(legacy.kubectl(version, "auth", "whoami", "-o", "json", kubeconfig=str(tok_cfg)).stdout)["status"]["userInfo"]
    assert whoami["username"] == f"system:serviceaccount:default:{sa}" and "extra" not in whoami, "secret-based tokens carry no extra"
    status, resp = review(legacy, token)
    assert status == 201 and resp["status"]["userInfo"] == {
        "username": f"system:serviceaccount:default:{sa}", "uid": sa_uid,
        "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]}

    # Deleting the account deletes its secret and revokes the token; a new account with the
    # same name does not bring the old token back.
    legacy.kubectl(version, "delete", "sa", sa)
    eventually(lambda: legacy.kubectl(version, "get", "secret", name, check=False).returncode == 1, 5.0, "secret removal")
    eventually(lambda: review(legacy, token)[0] == 401, 1.0, "revocation")
    legacy.kubectl(version, "create", "serviceaccount", sa)
    assert secret_of(legacy, sa, version) != name
    assert review(legacy, token)[0] == 401


def test_a_manual_token_secret_is_filled_and_revoked_with_its_secret(server):
    server.kubectl("1.33", "create", "sa", "build-robot")
    manifest = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": {"name": "build-robot-secret", "annotations": {"kubernetes.io/service-account.name": "build-robot"}}}
    server.kubectl("1.33", "create", "-f", "-", input=json.dumps(manifest))

    def token():
        s = json.loads(server.kubectl("1.33", "get", "secret", "build-robot-secret", "-o", "json").stdout)
        return base64.b64decode(s["data"]["token"]).decode() if "token" in s.get("data", {}) else None

    tok = eventually(token, 5.0, "the controller fills the token")
    assert review(server, tok)[0] == 201
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    labels = lambda: json.loads(server.kubectl("1.33", "get", "secret", "build-robot-secret", "-o", "json").stdout)["metadata"].get("labels", {})
    eventually(lambda: labels().get("kubernetes.io/legacy-token-last-used") == today, 2.0, "the last-used label")
    server.kubectl("1.33", "label", "secret", "build-robot-secret", "kubernetes.io/legacy-token-invalid-since=2026-01-01")
    eventually(lambda: review(server, tok)[0] == 401, 1.0, "an invalidated token is refused")
    server.kubectl("1.33", "label", "secret", "build-robot-secret", "kubernetes.io/legacy-token-invalid-since-")
    eventually(lambda: review(server, tok)[0] == 201, 1.0, "removing the label allows it again")
    forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    assert review(server, forged)[0] == 401
    server.kubectl("1.33", "delete", "secret", "build-robot-secret")
    eventually(lambda: review(server, tok)[0] == 401, 1.0, "deleting the secret revokes its token")
    # A secret naming no existing account is removed by the controller.
    orphan = dict(manifest, metadata={"name": "orphan-secret", "annotations": {"kubernetes.io/service-account.name": "nobody"}})
    server.kubectl("1.33", "create", "-f", "-", input=json.dumps(orphan))
    eventually(lambda: server.kubectl("1.33", "get", "secret", "orphan-secret", check=False).returncode == 1, 5.0, "orphan removal")
    # Deleting the account deletes its token Secrets (syncServiceAccount's one task since 1.24,
    # which only deletions wake).
    server.kubectl("1.33", "create", "-f", "-", input=json.dumps(dict(manifest, metadata=dict(manifest["metadata"], name="build-robot-2"))))
    eventually(lambda: "token" in json.loads(server.kubectl("1.33", "get", "secret", "build-robot-2", "-o", "json").stdout).get("data", {}),
               5.0, "the second token is filled")
    server.kubectl("1.33", "delete", "sa", "build-robot")
    eventually(lambda: server.kubectl("1.33", "get", "secret", "build-robot-2", check=False).returncode == 1, 5.0,
               "the account's token Secret goes with it")
