"""Security and robustness, probed as an attacker would: file-descriptor exhaustion, idle and
slow connections, JSON-patch amplification, header bytes that are not text, JWT time claims,
client certificates judged by the authenticator (401, not a failed handshake), data-directory
modes, strict decoding, list options and names as upstream answers them."""

import base64
import datetime
import http.client
import json
import os
import pathlib
import resource
import select
import socket
import ssl
import subprocess
import threading
import time

import jwt  # PyJWT
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import KUBEWARD, Server, eventually

TOKEN = "6c0f6f47-94a2-4b7e-9d60-3f0c8d1f2a11"
FD_LIMIT = 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("security")
    tokens = d / "tokens.csv"
    tokens.write_text(f"{TOKEN},token-user,42\n")
    # The server runs with a small descriptor limit, as an attacker would want it.
    s = Server(data_dir=d / "data", args=["--token-auth-file", str(tokens)],
               wrapper=["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}"])
    yield s
    s.stop()


def raw(server, method, path, headers=(), body=None, ctx=None, timeout=15):
    """One HTTPS request with header values as given (bytes go out unchanged)."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx or server.tls(True), timeout=timeout)
    conn.putrequest(method, path, skip_accept_encoding=True)
    sent = {n.lower() for n, _ in headers}
    if "accept" not in sent:
        conn.putheader("Accept", "application/json")
    if body is not None and "content-type" not in sent:
        conn.putheader("Content-Type", "application/json")
    for name, value in headers:
        conn.putheader(name, value)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    conn.putheader("Content-Length", str(len(data or b"")))
    conn.endheaders(data)
    r = conn.getresponse()
    out = r.read()
    conn.close()
    try:
        parsed = json.loads(out) if out else None
    except ValueError:
        parsed = out
    return r.status, r.headers, parsed


def whoami(server, headers=(), ctx=None):
    status, _, body = raw(server, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", headers,
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, ctx=ctx)
    if not isinstance(body, dict) or body.get("kind") == "Status":
        return status, body
    return status, body["status"]["userInfo"]


def peak_rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


class Prober(threading.Thread):
    """Sends a normal request every 100 ms while an attack runs, and keeps every answer."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.results, self.stop = server, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                status, _, _ = self.server.request("GET", "/api/v1/namespaces/default", timeout=10)
            except Exception as e:  # noqa: BLE001 - a failure is the result being recorded
                status = repr(e)
            self.results.append((status, time.monotonic() - started))
            self.stop.wait(0.1)

    def finish(self):
        self.stop.set()
        self.join(15)
        return self.results


def closed_by_peer(sock):
    """True once the server closed the connection (EOF or reset)."""
    try:
        sock.setblocking(False)
        return sock.recv(1 << 16) == b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True


def test_abuse_leaves_the_server_answering(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    pid = server.proc.pid
    prober = Prober(server)
    prober.start()

    # 1. More idle connections than the server has descriptors: it must neither exit nor lock
    #    out a real client (the longest-idle connection gives way).
    flood = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(FD_LIMIT + 100)]
    p = server.kubectl("1.33", "get", "ns", "default", "-o", "name", "--request-timeout=20s")
    assert p.stdout.strip() == "namespace/default"
    assert server.proc.poll() is None, "the server died of descriptor exhaustion"
    closed = sum(closed_by_peer(s) for s in flood)
    assert closed >= 100, f"only {closed} idle connections were shed at the descriptor limit"
    for s in flood:
        s.close()

    # 2. Connections that never finish a TLS handshake, TLS connections that never send a
    #    request, and a header sent a byte at a time: the server closes every one (handshake
    #    10 s, ReadHeaderTimeout 32 s), however the client dawdles.
    plain = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    ctx = server.tls(True)
    idle = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port)), server_hostname="127.0.0.1") for _ in range(50)]
    slow = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port)), server_hostname="127.0.0.1") for _ in range(20)]
    for s in slow:
        s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n")
    opened = time.monotonic()
    open_socks = {id(s): s for s in plain + idle + slow}
    closed_at = {}
    while open_socks and time.monotonic() - opened < 50:
        for key, s in list(open_socks.items()):
            if closed_by_peer(s):
                closed_at[key] = time.monotonic() - opened
                del open_socks[key]
        for s in slow:
            if id(s) in open_socks:
                try:
                    s.setblocking(True)
                    s.sendall(b"X")  # one header byte: never a whole header
                except OSError:
                    pass
        time.sleep(1)
    assert not open_socks, f"{len(open_socks)} idle or slow connections were never closed"
    assert max(closed_at[id(s)] for s in plain) < 20, "a handshake is bounded by 10 s"
    assert min(closed_at[id(s)] for s in slow) > 25, "slow headers close at the header timeout, not before"
    for s in plain + idle + slow:
        s.close()

    # 3. JSON-patch amplification (the CVE-2019-1002100 class): each copy doubles the object.
    base = "/api/v1/namespaces/default/configmaps"
    status, _, _ = raw(server, "POST", base, body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "amp"}})
    assert status == 201
    before = peak_rss_kib(pid)
    ops = [{"op": "add", "path": "/spec", "value": {"a": "x" * 1024}}]
    ops += [{"op": "copy", "from": "/spec", "path": f"/spec/c{i}"} for i in range(20)]
    jp = [("Content-Type", "application/json-patch+json")]
    status, _, body = raw(server, "PATCH", f"{base}/amp", jp, json.dumps(ops).encode())
    assert status == 422, body
    assert body["message"].startswith("Unable to complete the copy, the accumulated size increase of copy is ")
    assert body["message"].endswith("exceeding the limit 3145728")
    grown = peak_rss_kib(pid) - before
    assert grown < 64 * 1024, f"a 3 KB patch raised peak memory by {grown} KiB"
    for n in (10001, 60000):
        tests = json.dumps([{"op": "test", "path": "/metadata/name", "value": "amp"}] * n, separators=(",", ":")).encode()
        status, _, body = raw(server, "PATCH", f"{base}/amp", jp, tests)
        assert (status, body["reason"]) == (413, "RequestEntityTooLarge")
        assert body["message"] == f"Request entity too large: The allowed maximum operations in a JSON patch is 10000, got {n}"

    # 4. Header bytes that are not text fail the request; they are never skipped.
    status, _, body = raw(server, "GET", "/api/v1/namespaces/default/secrets", [("Impersonate-User", b"b\xf8b")])
    assert status == 400 and "impersonate-user" in body["message"], body
    status, _, _ = raw(server, "GET", "/api/v1/namespaces/default/secrets", [("Impersonate-User", "jane"), ("Impersonate-Group", b"\xff")])
    assert status == 400
    status, _, body = raw(server, "GET", "/api/v1/namespaces", [("Authorization", b"Bearer t\xf8ken")], ctx=server.tls(False))
    assert (status, body["reason"]) == (401, "Unauthorized"), "an unreadable token is a refused credential, not anonymous"

    results = prober.finish()
    assert server.proc.poll() is None
    assert len(results) >= 20
    failed = [r for r in results if r[0] != 200]
    assert not failed, f"normal requests failed during the attack: {failed[:5]}"


# Client certificates ---------------------------------------------------------------------

def ca_of(server):
    pki = server.data_dir / "pki"
    cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    return cert, key


def client_ctx(server, tmp, name, issuer=None, not_before=None, not_after=None, eku=ExtendedKeyUsageOID.CLIENT_AUTH):
    """An SSL context presenting a fresh certificate CN=name signed by `issuer` (cert, key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    if issuer is None:
        issuer = ca_of(server)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devs"), x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(issuer[0].subject)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
         .not_valid_after(not_after or now + datetime.timedelta(days=1)))
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    cert = b.sign(issuer[1], hashes.SHA256())
    c, k = tmp / f"{name}.crt", tmp / f"{name}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    ctx.load_cert_chain(str(c), str(k))
    return ctx


def self_signed_ca():
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other-ca")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def test_client_certificates_are_judged_by_the_authenticator(server, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    good = client_ctx(server, tmp_path, "cert-good")
    status, info = whoami(server, ctx=good)
    assert (status, info["username"], info["groups"]) == (201, "cert-good", ["devs", "system:authenticated"])
    refused = {
        "other-ca": client_ctx(server, tmp_path, "cert-other", issuer=self_signed_ca()),
        "expired": client_ctx(server, tmp_path, "cert-expired", not_before=now - 3 * day, not_after=now - day),
        "not-yet-valid": client_ctx(server, tmp_path, "cert-future", not_before=now + day, not_after=now + 3 * day),
        "server-auth-only": client_ctx(server, tmp_path, "cert-eku", eku=ExtendedKeyUsageOID.SERVER_AUTH),
    }
    for why, ctx in refused.items():
        # The handshake succeeds (Go's RequestClientCert); the authenticator answers 401.
        status, _, body = raw(server, "GET", "/api/v1/namespaces", ctx=ctx)
        assert (status, body["message"]) == (401, "Unauthorized"), why
        # As upstream's union: a certificate that failed does not stop a good token.
        status, info = whoami(server, [("Authorization", f"Bearer {TOKEN}")], ctx=ctx)
        assert (status, info["username"]) == (201, "token-user"), why
    # No client certificate at all is still anonymous.
    status, _, _ = raw(server, "GET", "/version", ctx=server.tls(False))
    assert status == 200


def test_an_x509_v1_certificate_from_the_cluster_ca_authenticates(server, tmp_path):
    pki = server.data_dir / "pki"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(tmp_path / "v1.key"))
    run("openssl", "req", "-new", "-key", str(tmp_path / "v1.key"), "-subj", "/O=devs/CN=v1-user", "-out", str(tmp_path / "v1.csr"))
    # No -extfile: openssl writes an X.509 v1 certificate, as the README's users would.
    run("openssl", "x509", "-req", "-in", str(tmp_path / "v1.csr"), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-CAcreateserial", "-days", "2", "-out", str(tmp_path / "v1.crt"))
    text = run("openssl", "x509", "-in", str(tmp_path / "v1.crt"), "-noout", "-text").stdout.decode()
    assert "Version: 1 (0x0)" in text
    cfg = yaml.safe_load(pathlib.Path(server.kubeconfig).read_text())
    cfg["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode((tmp_path / "v1.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((tmp_path / "v1.key").read_bytes()).decode(),
    }
    kc = tmp_path / "v1.kubeconfig"
    kc.write_text(yaml.safe_dump(cfg))
    for version in ("1.27", "1.33"):
        out = server.kubectl(version, "auth", "whoami", "-o", "json", kubeconfig=str(kc)).stdout
        assert json.loads(out)["status"]["userInfo"]["username"] == "v1-user"


# Tokens and impersonation ----------------------------------------------------------------

def resign(server, token, **claims):
    """The token's claims changed as given and signed again with the server's own key."""
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    payload.update(claims)
    key = (server.data_dir / "pki" / "sa.key").read_bytes()
    return jwt.encode(payload, key, algorithm=header["alg"], headers={"kid": header["kid"]})


def test_jwt_time_claims_that_are_not_integers(server):
    server.kubectl("1.33", "create", "serviceaccount", "clock")
    token = server.kubectl("1.33", "create", "token", "clock").stdout.strip()
    now = time.time()
    bearer = lambda t: [("Authorization", f"Bearer {t}")]  # noqa: E731
    cases = {
        "integers, re-signed": (resign(server, token, exp=int(now) + 600), 201),
        "a float exp in the future": (resign(server, token, exp=now + 600.5), 201),
        "a float exp an hour ago": (resign(server, token, exp=now - 3600.5), 401),
        "a float nbf in an hour": (resign(server, token, nbf=now + 3600.5), 401),
        "exp as a string": (resign(server, token, exp=str(int(now) + 600)), 401),
        "exp as a bool": (resign(server, token, exp=True), 401),
    }
    for why, (t, want) in cases.items():
        status, _ = whoami(server, bearer(t), ctx=server.tls(False))
        assert status == want, why
    status, _, body = raw(server, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": cases["a float exp an hour ago"][0]}})
    assert body["status"].get("error") == "service account token has expired", body


def test_token_for_a_pod_of_another_service_account_is_refused(server):
    for sa in ("runner", "other"):
        server.kubectl("1.33", "create", "serviceaccount", sa)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runs-as-other"},
           "spec": {"serviceAccountName": "other", "containers": [{"name": "c", "image": "busybox"}]}}
    status, _, _ = raw(server, "POST", "/api/v1/namespaces/default/pods", body=pod)
    assert status == 201
    tr = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
          "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "runs-as-other"}}}
    status, _, body = raw(server, "POST", "/api/v1/namespaces/default/serviceaccounts/runner/token", body=tr)
    assert (status, body["message"]) == (400, 'cannot bind token for serviceaccount "runner" to pod running with different serviceaccount name.')
    status, _, _ = raw(server, "POST", "/api/v1/namespaces/default/serviceaccounts/other/token", body=tr)
    assert status == 201


def test_empty_and_repeated_impersonation_headers(server):
    status, info = whoami(server, [("Impersonate-User", "")])
    assert (status, info["username"]) == (201, "kubeward-admin"), "an empty Impersonate-User asks for nothing"
    status, info = whoami(server, [("Impersonate-User", "first"), ("Impersonate-User", "second")])
    assert info["username"] == "first", "the first header wins, as Go's Header.Get"
    status, _, _ = raw(server, "GET", "/api", [("Impersonate-User", ""), ("Impersonate-Group", "g")])
    assert status == 400, "a group without a user"


# Decoding, options, names ----------------------------------------------------------------

def test_duplicate_json_keys(server):
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}'
    base = "/api/v1/namespaces/default/configmaps"
    status, _, out = raw(server, "POST", base + "?fieldValidation=Strict", body=body)
    assert (status, out["message"]) == (400, 'strict decoding error: duplicate field "metadata.name", duplicate field "data"')
    status, headers, out = raw(server, "POST", base, body=body)
    assert status == 201 and out["data"] == {"b": "2"}, "the last one wins, as Go's decoder"
    assert headers.get_all("Warning") == ['299 - "duplicate field \\"metadata.name\\""', '299 - "duplicate field \\"data\\""']
    status, headers, _ = raw(server, "PUT", base + "/dup?fieldValidation=Ignore", body=body.replace(b'"b":"2"', b'"b":"3"'))
    assert status == 200 and headers.get_all("Warning") is None


def test_list_and_get_resource_versions(server):
    ns = "/api/v1/namespaces"
    status, _, body = raw(server, "GET", ns + "?resourceVersionMatch=NotOlderThan")
    assert (status, body["message"]) == (422, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided')
    status, _, body = raw(server, "GET", ns + "?resourceVersion=0&resourceVersionMatch=Exact")
    assert status == 422 and 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"' in body["message"]
    current = int(raw(server, "GET", ns)[2]["metadata"]["resourceVersion"])
    far = current + 1_000_000
    status, _, body = raw(server, "GET", f"{ns}?resourceVersion={far}&resourceVersionMatch=NotOlderThan")
    assert (status, body["reason"], body["details"]["retryAfterSeconds"]) == (504, "Timeout", 1)
    assert body["message"].startswith(f"Timeout: Too large resource version: {far}, current: ")
    status, _, body = raw(server, "GET", f"{ns}/default?resourceVersion={far}")
    assert status == 504, "GET reads not older than its resourceVersion too"
    status, _, body = raw(server, "GET", f"{ns}/default?resourceVersion=garbage")
    assert (status, body["message"]) == (400, "invalid resource version: garbage")
    assert raw(server, "GET", f"{ns}/default?resourceVersion={current}")[0] == 200


def test_dot_names_and_unknown_methods(server):
    for path, shown, why in [("..", "..", "may not be '..'"), ("%2e%2e", "..", "may not be '..'"), (".", ".", "may not be '.'")]:
        status, _, body = raw(server, "GET", f"/api/v1/namespaces/default/secrets/{path}")
        assert (status, body["message"]) == (400, f'Name parameter invalid: "{shown}": {why}'), path
    status, _, body = raw(server, "FOO", "/api/v1/namespaces/default/secrets")
    assert (status, body["message"], body["reason"]) == (405, "the server does not allow this method on the requested resource", "MethodNotAllowed")


def test_multi_document_yaml_and_huge_headers(server):
    doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first-doc\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second-doc\n"
    status, _, body = raw(server, "POST", "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/yaml")], doc)
    assert (status, body["metadata"]["name"]) == (201, "first-doc"), "go-yaml's Unmarshal reads the first document"
    status, _, _ = raw(server, "GET", "/api", [("X-Padding", "a" * (2 << 20))])
    assert status == 431
    status, _, _ = raw(server, "GET", "/api?x=" + "a" * (2 << 20))
    assert status == 431


def test_a_star_after_a_prefix_does_not_cover_the_prefix(server):
    k = lambda *a, **kw: server.kubectl("1.33", *a, **kw)  # noqa: E731
    k("create", "clusterrole", "foo-subpaths", "--verb=get", "--non-resource-url=/foo/*")
    k("create", "clusterrole", "role-maker", "--verb=create", "--resource=clusterroles")
    k("create", "clusterrolebinding", "url-holder", "--clusterrole=foo-subpaths", "--user=url-holder")
    k("create", "clusterrolebinding", "url-maker", "--clusterrole=role-maker", "--user=url-holder")
    eventually(lambda: k("auth", "can-i", "create", "clusterroles", "--as=url-holder", check=False).returncode == 0, 3.0, "grant")
    refused = k("create", "clusterrole", "gets-foo", "--verb=get", "--non-resource-url=/foo", "--as=url-holder", check=False)
    assert refused.returncode == 1 and '{NonResourceURLs:["/foo"], Verbs:["get"]}' in refused.stderr
    k("create", "clusterrole", "gets-foo-bar", "--verb=get", "--non-resource-url=/foo/bar", "--as=url-holder")
    # /apis itself is every authenticated user's through system:discovery, so granting it is
    # no escalation even for a holder of /apis/* alone (what made it look like one).
    k("create", "clusterrole", "gets-apis", "--verb=get", "--non-resource-url=/apis", "--as=url-holder")


def test_data_directory_is_private_from_the_first_byte(tmp_path):
    fresh = tmp_path / "fresh" / "kw"
    log = open(tmp_path / "fresh.log", "wb")
    p = subprocess.Popen([str(KUBEWARD), "serve", "--data-dir", str(fresh), "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=log, preexec_fn=lambda: os.umask(0))
    try:
        line = p.stdout.readline()
        assert b"ready" in line, (tmp_path / "fresh.log").read_text()
        modes = {q.relative_to(fresh).as_posix(): q.stat().st_mode & 0o777 for q in [fresh, *fresh.rglob("*")]}
        assert modes["."] == 0o700 and modes["pki"] == 0o700
        for name in ("state.db", "state.db-wal", "admin.kubeconfig", "pki/ca.key", "pki/sa.key"):
            assert modes[name] == 0o600, (name, oct(modes[name]))
        assert b"WARNING" not in (tmp_path / "fresh.log").read_bytes()
    finally:
        p.terminate()
        p.wait(10)
    # A data directory others can read is said loudly at start.
    os.chmod(fresh, 0o755)
    log = open(tmp_path / "open.log", "wb")
    p = subprocess.Popen([str(KUBEWARD), "serve", "--data-dir", str(fresh), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log)
    try:
        assert b"ready" in p.stdout.readline()
        text = (tmp_path / "open.log").read_text()
        assert "WARNING: other users can read kubeward's data" in text and "0755" in text
    finally:
        p.terminate()
        p.wait(10)
