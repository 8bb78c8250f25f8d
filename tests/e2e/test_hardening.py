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
import sqlite3
import threading
import time

from harness import Server, eventually

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
