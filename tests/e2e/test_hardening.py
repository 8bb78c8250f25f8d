"""Hardening: what happens to kubeward under abrupt ends, graceful ends, slow requests and
overload, measured from outside the process with real sockets.

- kill -9 under a write load with the audit log on: every acknowledged write survives, the
  database passes `PRAGMA integrity_check`, every complete audit line is an Event;
- SIGTERM: /readyz fails first, an in-flight write finishes, a watch ends cleanly, the audit
  log is flushed, the process exits 0;
- --request-timeout and ?timeout=: a stalled request is a 504 at its deadline, a watch is not
  cut;
- over the in-flight limits: 429 with Retry-After, never for system:masters, and a quiet user
  is served while a noisy one floods.
"""

import http.client
import json
import signal
import socket
import sqlite3
import ssl
import threading
import time

from harness import Server, eventually, user_kubeconfig

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps"]}]
  - level: Metadata
"""


def configmap(name, size=64):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "x" * size}}


def audited_server(tmp_path, *args):
    (tmp_path / "policy.yaml").write_text(POLICY)
    log = tmp_path / "audit.log"
    s = Server(data_dir=tmp_path / "data", args=["--audit-log-path", str(log), "--audit-policy-file",
                                                 str(tmp_path / "policy.yaml"), *args])
    return s, log


def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path):
    server, log = audited_server(tmp_path)
    acknowledged = []
    failures = []
    lock = threading.Lock()
    stop = threading.Event()
    path = "/api/v1/namespaces/default/configmaps"
    # One TLS context, made before the threads start (making it writes the client's key files).
    tls = server.tls(True)
    writing = []

    def writer(w):
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=tls, timeout=10)
        i = 0
        while not stop.is_set():
            name = f"w{w}-{i}"
            i += 1
            try:
                body = json.dumps(configmap(name)).encode()
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this write was never acknowledged
            if resp.status == 201:
                with lock:
                    acknowledged.append(name)
                    if i == 1:
                        writing.append(w)
            else:
                failures.append(resp.status)

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    eventually(lambda: len(acknowledged) >= 400, 120, "400 acknowledged writes")
    assert sorted(writing) == [0, 1, 2, 3], "every writer was writing when the server was killed"
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    with lock:
        acked = set(acknowledged)
    assert not failures, f"writes refused under load: {failures[:5]}"

    db = sqlite3.connect(tmp_path / "data" / "state.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    # Every complete line of the audit log is an Event; at most the last was cut by the kill.
    complete = log.read_bytes().split(b"\n")[:-1]
    assert len(complete) >= len(acked), "an event per acknowledged write at least"
    for line in complete:
        assert json.loads(line)["kind"] == "Event"

    server.start()
    try:
        status, _, listed = server.request("GET", path)
        assert status == 200
        present = {item["metadata"]["name"] for item in listed["items"]}
        lost = acked - present
        assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes lost: {sorted(lost)[:5]}"
    finally:
        server.stop()


def test_sigterm_drains_then_exits_cleanly(tmp_path):
    server, log = audited_server(tmp_path, "--shutdown-delay-duration", "5s")
    try:
        # A watch is open, and a write has sent half its body.
        watch = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True), timeout=30)
        watch.request("GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=60")
        stream = watch.getresponse()
        assert stream.status == 200
        body = json.dumps(configmap("in-flight")).encode()
        write = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True), timeout=30)
        write.putrequest("POST", "/api/v1/namespaces/default/configmaps")
        write.putheader("Content-Type", "application/json")
        write.putheader("Content-Length", str(len(body)))
        write.endheaders()
        write.send(body[:10])

        server.proc.send_signal(signal.SIGTERM)
        # Draining: /readyz fails its shutdown check while everything else is served.
        def readyz():
            status, _, text = server.request("GET", "/readyz?verbose", headers={"Accept": "*/*"})
            return status == 500 and text
        text = eventually(readyz, 4, "/readyz failing after SIGTERM")
        text = text.decode() if isinstance(text, bytes) else str(text)
        assert "[-]shutdown failed: reason withheld" in text and "[+]ping ok" in text
        assert server.request("GET", "/livez")[0] == 200

        # The write in flight finishes, whatever the phase.
        write.send(body[10:])
        resp = write.getresponse()
        assert resp.status == 201, resp.read()
        resp.read()

        # Past the delay the watch ends cleanly: its chunked body is terminated, not cut.
        events = []
        started = time.monotonic()
        while True:
            line = stream.readline()
            if not line:
                break
            events.append(json.loads(line))
        assert time.monotonic() - started < 30
        assert "in-flight" in [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
        assert server.proc.wait(30) == 0, "a graceful shutdown exits 0"
        # The audit log was flushed: the write's last event is there.
        ids = [json.loads(l) for l in log.read_text().splitlines()]
        created = [e for e in ids if e["verb"] == "create" and e["stage"] == "ResponseComplete"
                   and e["objectRef"].get("name") == "in-flight"]
        assert created and created[0]["responseStatus"]["code"] == 201
    finally:
        server.stop()
    server.start()
    try:
        status, _, _ = server.request("GET", "/api/v1/namespaces/default/configmaps/in-flight")
        assert status == 200, "the write finished during shutdown is stored"
    finally:
        server.stop()


def test_request_timeout_cuts_a_stalled_request_but_not_a_watch(tmp_path):
    server = Server(data_dir=tmp_path, args=["--request-timeout", "2s"])
    try:
        # A write whose body never comes: 504 at the deadline, with upstream's Status.
        stalled = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True), timeout=30)
        stalled.putrequest("POST", "/api/v1/namespaces/default/configmaps?timeout=1s")
        stalled.putheader("Content-Type", "application/json")
        stalled.putheader("Content-Length", "100")
        stalled.endheaders()
        began = time.monotonic()
        resp = stalled.getresponse()
        status = json.loads(resp.read())
        assert resp.status == 504 and status["reason"] == "Timeout"
        assert status["message"] == "Timeout: request did not complete within the allotted timeout"
        assert 0.9 < time.monotonic() - began < 20
        bad = server.request("GET", "/api/v1/namespaces?timeout=soon")
        assert bad[0] == 400 and 'invalid duration "soon"' in bad[2]["message"]
        # A watch runs past the request timeout, to its own timeoutSeconds.
        began = time.monotonic()
        status, events = server.watch_lines(
            "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=4", until=lambda e: False)
        assert status == 200
        assert time.monotonic() - began > 3.5, "the watch was cut before its own timeout"
        m = server.request("GET", "/metrics", headers={"Accept": "*/*"})[2].decode()
        cut = [l for l in m.splitlines() if l.startswith("apiserver_request_terminations_total{")]
        assert any('verb="POST"' in l and 'code="504"' in l for l in cut), cut
    finally:
        server.stop()


def user_tls(server, user):
    """An SSL context with a client certificate for `user`, bound to cluster-admin by a
    ClusterRoleBinding (so not in system:masters, and so limited)."""
    user_kubeconfig(server, user)
    d = server.data_dir / "users" / user
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": f"{user}-admin"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    assert server.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)[0] == 201
    return ctx


class SlowWriter:
    """A client that holds its seat: it sends a create with `Expect: 100-continue` and sends
    the body `hold` seconds after the server asks for it. The server asks only once the request
    has its seat (the body is read after admission), so each admitted request holds a seat
    for `hold` seconds however long it queued; a refusal comes instead of the 100."""

    def __init__(self, server, tls, hold):
        self.server, self.tls, self.hold, self.sock = server, tls, hold, None

    def create(self, path, name):
        if self.sock is None:
            raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
            self.sock = self.tls.wrap_socket(raw, server_hostname="127.0.0.1")
            self.file = self.sock.makefile("rb")
        body = json.dumps(configmap(name)).encode()
        self.sock.sendall((f"POST {path} HTTP/1.1\r\nHost: kubeward\r\nContent-Type: application/json\r\n"
                           f"Accept: application/json\r\nContent-Length: {len(body)}\r\n"
                           "Expect: 100-continue\r\n\r\n").encode())
        status, headers, data = self.response()
        if status == 100:
            time.sleep(self.hold)  # the slow client: its seat is held meanwhile
            self.sock.sendall(body)
            status, headers, data = self.response()
        else:
            self.close()  # answered without the body: the connection is not reused
        return status, headers, data

    def response(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        status = int(line.split()[1])
        headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        if status == 100:
            return status, headers, b""
        assert "content-length" in headers, f"a response without Content-Length: {headers}"
        return status, headers, self.file.read(int(headers["content-length"]))

    def close(self):
        if self.sock is not None:
            self.file.close()
            self.sock.close()
            self.sock = None


def flood(tmp_path, fair):
    """Three seats (2 + 1; with priority and fairness summed as upstream sums them), a request
    waiting at most 4s / 4 = 1 s for one. Sixty noisy writers each hold their seat 0.3 s:
    twenty times what the seats take, so the noisy queue stays full (50), the rest are refused,
    and a request at the end of the queue would wait 50 x 0.3 / 3 = 5 s, past its 1 s.
    Meanwhile a quiet user and an administrator each create 20 config maps one by one.
    Returns what happened."""
    server = Server(data_dir=tmp_path, args=["--max-requests-inflight", "2", "--max-mutating-requests-inflight", "1",
                                             "--request-timeout", "4s", f"--enable-priority-and-fairness={str(fair).lower()}"])
    try:
        return _flood(server)
    finally:
        server.stop()


def _flood(server):
    noisy_tls, quiet_tls = user_tls(server, "noisy"), user_tls(server, "quiet")
    admin_tls = server.tls(True)
    path = "/api/v1/namespaces/default/configmaps"
    stop = threading.Event()
    lock = threading.Lock()
    out = {"acknowledged": [], "refused": [], "other": []}

    def noisy(n):
        client = SlowWriter(server, noisy_tls, 0.3)
        i = 0
        while not stop.is_set():
            i += 1
            name = f"noisy-{n}-{i}"
            try:
                status, headers, data = client.create(path, name)
            except (OSError, ValueError) as e:
                with lock:
                    out["other"].append(repr(e))
                client.close()
                continue
            with lock:
                if status == 201:
                    out["acknowledged"].append(name)
                elif status == 429:
                    out["refused"].append((headers.get("retry-after"), json.loads(data)["message"]))
                else:
                    out["other"].append(status)
            if status == 429:
                time.sleep(float(headers["retry-after"]))  # as client-go honours Retry-After
        client.close()

    def creates(tls, who):
        results = []
        for i in range(20):
            # A connection each (a refusal sent before the body was read closes it).
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=tls, timeout=30)
            conn.connect()
            name = f"{who}-{i}"
            began = time.monotonic()
            conn.request("POST", path, json.dumps(configmap(name)), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            results.append((resp.status, time.monotonic() - began))
            conn.close()
            if resp.status == 201:
                with lock:
                    out["acknowledged"].append(name)
        return results

    threads = [threading.Thread(target=noisy, args=(n,), daemon=True) for n in range(60)]
    try:
        for t in threads:
            t.start()
        eventually(lambda: len(out["refused"]) >= 5, 60, "the noisy user refused")
        out["quiet"] = creates(quiet_tls, "quiet")
        out["masters"] = creates(admin_tls, "admin")
        stop.set()
        for t in threads:
            t.join(60)
        m = server.request("GET", "/metrics", headers={"Accept": "*/*"})[2].decode()
        out["rejected"] = {l.split('reason="')[1].split('"')[0]: float(l.rsplit(" ", 1)[1])
                           for l in m.splitlines() if l.startswith("apiserver_flowcontrol_rejected_requests_total{")}
        status, _, listed = server.request("GET", path)
        assert status == 200
        out["present"] = {item["metadata"]["name"] for item in listed["items"]}
    finally:
        stop.set()
    print(f"quiet {[s for s, _ in out['quiet']]} slowest {max(t for _, t in out['quiet']):.3f}s; "
          f"masters slowest {max(t for _, t in out['masters']):.3f}s; rejected {out['rejected']}; "
          f"{len(out['acknowledged'])} writes acknowledged")
    return out


def test_overload_a_noisy_user_is_refused_while_a_quiet_one_and_masters_are_served(tmp_path):
    out = flood(tmp_path, fair=True)
    # Every quiet create succeeded, so none waited its 1 s: it waits for the next freed seat
    # (0.3 s at most), not behind the noisy fifty. The administrator is never held.
    assert [s for s, _ in out["quiet"]] == [201] * 20, out["quiet"]
    assert [s for s, _ in out["masters"]] == [201] * 20, out["masters"]
    assert not out["other"], f"noisy requests failed other than by 429: {out['other'][:5]}"
    assert all(r == ("1", "Too many requests, please try again later.") for r in out["refused"]), out["refused"][:3]
    assert sum(out["rejected"].values()) == len(out["refused"]), (out["rejected"], len(out["refused"]))
    assert set(out["rejected"]) <= {"queue-full", "time-out"}, out["rejected"]
    lost = set(out["acknowledged"]) - out["present"]
    assert not lost, f"acknowledged writes lost: {sorted(lost)[:5]}"


def test_overload_without_the_fair_queue_refuses_the_quiet_user_too(tmp_path):
    # The baseline the fair queue is for: with --enable-priority-and-fairness=false (upstream's
    # max-in-flight filter) the noisy writers hold the one mutating place and the quiet user's
    # creates are refused with theirs; masters are still exempt, no acknowledged write is lost.
    out = flood(tmp_path, fair=False)
    assert 429 in [s for s, _ in out["quiet"]], out["quiet"]
    assert [s for s, _ in out["masters"]] == [201] * 20, out["masters"]
    assert set(out["rejected"]) == {"concurrency-limit"}, out["rejected"]
    assert not set(out["acknowledged"]) - out["present"]
