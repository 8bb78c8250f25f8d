"""Several kubeward replicas on one real etcd cluster (three members on loopback): what is
written through one is read, watched and enforced through the other; the controllers run on
one leader and move when it dies; etcd members die under a write load and nothing
acknowledged is lost."""

import json
import os
import re
import select
import signal
import subprocess
import threading
import time

import pytest

from harness import EtcdCluster, Server, eventually, replica

# Quick leader election, so a failover takes seconds (kube-controller-manager's flags).
ELECTION = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "250ms"]
LEASE_SECONDS, RETRY_SECONDS = 3.0, 0.25


@pytest.fixture(scope="module")
def etcd():
    cluster = EtcdCluster(3)
    yield cluster
    cluster.stop()


class Pair:
    def __init__(self, etcd, tmp, prefix):
        self.a = replica(etcd, tmp / "a", prefix, args=ELECTION)
        self.b = replica(etcd, tmp / "b", prefix, peer=self.a, args=ELECTION)

    def stop(self):
        self.a.stop()
        self.b.stop()


@pytest.fixture(scope="module")
def pair(etcd, tmp_path_factory):
    p = Pair(etcd, tmp_path_factory.mktemp("replicas"), "/shared")
    yield p
    p.stop()


def curl(server, path, token, ca):
    p = subprocess.run(["curl", "-s", f"{server.url}{path}", "--header", f"Authorization: Bearer {token}", "--cacert", str(ca)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def forbidden(sa):
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'pods is forbidden: User "system:serviceaccount:default:{sa}" cannot list resource "pods" in API group "" at the cluster scope',
        "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403,
    }


def test_the_tutorial_across_replicas(pair, version):
    """Objects made through A; the token minted and checked through B; a binding made on A
    allows on B within a second, and the account deleted on A makes its token 401 on B within
    a second."""
    a, b = pair.a, pair.b
    sa = "podview-" + version.replace(".", "")
    ca = b.data_dir / "pki" / "ca.crt"
    assert a.kubectl(version, "create", "serviceaccount", sa).stdout.strip() == f"serviceaccount/{sa} created"
    token = b.kubectl(version, "create", "token", sa).stdout.strip()
    # resourceVersion=0 is B's watch cache's copy: there as soon as B's watch delivered it.
    got = eventually(lambda: (lambda r: r[2] if r[0] == 200 else None)(
        b.request("GET", f"/api/v1/namespaces/default/serviceaccounts/{sa}?resourceVersion=0")), 1.0, "A's account in B's cache")
    assert got["metadata"]["name"] == sa and int(got["metadata"]["resourceVersion"]) > 0
    api = curl(b, "/api", token, ca)
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert curl(b, "/api/v1/pods", token, ca) == forbidden(sa)
    assert curl(a, "/api/v1/pods", token, ca) == forbidden(sa), "a token minted on B is A's too"

    assert a.kubectl(version, "create", "clusterrole", f"{sa}-role", "--verb=list,watch", "--resource=pods").returncode == 0
    a.kubectl(version, "create", "clusterrolebinding", f"{sa}-binding", f"--clusterrole={sa}-role", f"--serviceaccount=default:{sa}")
    listed = eventually(lambda: curl(b, "/api/v1/pods", token, ca).get("kind") == "PodList", 1.0, "the binding made on A to allow on B")
    assert listed
    assert "yes" == b.kubectl(version, "auth", "can-i", "list", "pods", f"--as=system:serviceaccount:default:{sa}", check=False).stdout.strip()

    a.kubectl(version, "delete", "serviceaccount", sa)
    eventually(lambda: curl(b, "/api/v1/pods", token, ca).get("code") == 401, 1.0, "the token of the account deleted on A to be refused on B")
    a.kubectl(version, "delete", "clusterrolebinding", f"{sa}-binding")
    a.kubectl(version, "delete", "clusterrole", f"{sa}-role")


def test_a_watch_on_b_sees_writes_made_on_a(pair, version):
    name = "watched-" + version.replace(".", "")
    w = pair.b.kubectl_popen(version, "get", "configmaps", "--watch-only", "-o", "name")
    try:
        # The watch is established once kubectl's request is answered: write until it shows.
        deadline, seen, n = time.monotonic() + 20, [], 0
        while time.monotonic() < deadline and not seen:
            n += 1
            pair.a.kubectl(version, "create", "configmap", f"{name}-{n}")
            ready, _, _ = select.select([w.stdout], [], [], 2.0)
            if ready:
                seen.append(w.stdout.readline().decode().strip())
        assert seen and re.fullmatch(rf"configmap/{name}-\d+", seen[0]), seen
        # From then on each write on A arrives on B, in order.
        for m in range(n + 1, n + 4):
            pair.a.kubectl(version, "create", "configmap", f"{name}-{m}")
            ready, _, _ = select.select([w.stdout], [], [], 5.0)
            assert ready, f"configmap {name}-{m} made on A was not seen on B within 5 s"
            assert w.stdout.readline().decode().strip() == f"configmap/{name}-{m}"
    finally:
        w.kill()
        w.wait()


def lease_holder(server):
    p = server.kubectl("1.33", "get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return p.stdout.strip() if p.returncode == 0 else ""


def identity(server):
    """The identity this replica elected with, from its log (empty when it never led)."""
    m = re.findall(r'successfully acquired lease.*?identity=(\S+)', server.server_log())
    return m[-1] if m else ""


def test_the_controllers_move_to_the_other_replica_when_the_leader_dies(etcd, tmp_path):
    p = Pair(etcd, tmp_path, "/failover")
    try:
        holder = eventually(lambda: lease_holder(p.a), 10.0, "a leader")
        leader, follower = (p.a, p.b) if identity(p.a) == holder else (p.b, p.a)
        assert identity(leader) == holder and identity(follower) == "", "exactly one replica leads"
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        died = time.monotonic()
        eventually(lambda: identity(follower) != "", LEASE_SECONDS * 3, "the follower to take the lease")
        took = time.monotonic() - died
        # The follower waits out the lease from the last renewal it saw (at most a retry
        # period before the kill), then tries every retry period with up to 1.2 of jitter.
        assert took <= LEASE_SECONDS + 2.2 * RETRY_SECONDS + 1.0, f"took {took:.2f}s"
        assert lease_holder(follower) == identity(follower)
        # Its controllers act: a new namespace gets its default service account.
        follower.kubectl("1.33", "create", "namespace", "after-failover")
        eventually(lambda: follower.kubectl("1.33", "get", "serviceaccount", "default", "-n", "after-failover", check=False).returncode == 0,
                   5.0, "the default service account in a namespace made after the failover")
    finally:
        p.stop()


def test_replicas_starting_together_on_a_fresh_store(etcd, tmp_path):
    """Both bootstrap the default policy at once (each one's creates may find the other's
    objects): both become ready, and the policy is whole."""
    first = replica(etcd, tmp_path / "pki-maker", "/pki-maker", args=ELECTION)
    first.stop()
    servers, errors = [], []

    def start(name, peer):
        try:
            servers.append(replica(etcd, tmp_path / name, "/together", peer=peer, args=ELECTION))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=start, args=(n, first)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    try:
        assert errors == [] and len(servers) == 2, errors
        for s in servers:
            names = s.kubectl("1.33", "get", "clusterroles", "-o", "name").stdout.split()
            assert "clusterrole.rbac.authorization.k8s.io/cluster-admin" in names
            assert "clusterrole.rbac.authorization.k8s.io/system:kube-controller-manager" in names
            assert s.kubectl("1.33", "auth", "can-i", "get", "pods", "--as=system:kube-scheduler", check=False).stdout.strip() == "yes"
    finally:
        for s in servers:
            s.stop()


class Writer:
    """Creates ConfigMaps through one replica as fast as it answers, keeping what was
    acknowledged and every failure with its time."""

    def __init__(self, server):
        self.server, self.acked, self.failures, self.stop = server, [], [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            name = f"load-{n}"
            started = time.monotonic()
            try:
                status, _, body = self.server.request("POST", "/api/v1/namespaces/default/configmaps",
                                                      {"metadata": {"name": name}, "data": {"n": str(n)}}, timeout=30)
            except OSError as e:
                status, body = 0, str(e)
            if status == 201:
                self.acked.append(name)
            else:
                self.failures.append((started, time.monotonic(), status, body))

    def finish(self):
        self.stop.set()
        self.thread.join(60)


def test_etcd_members_die_under_a_write_load(tmp_path):
    etcd = EtcdCluster(3)
    r = replica(etcd, tmp_path / "r", "/load")
    w = None
    try:
        w = Writer(r)
        eventually(lambda: len(w.acked) >= 20, 10.0, "writes before any failure")
        # One member of three down, each in turn: the load goes on without an error once it
        # is down (a write in flight on its connection at the moment of the kill may fail).
        for i in range(3):
            etcd.kill(i)
            settled = time.monotonic() + 1.0
            before = len(w.acked)
            eventually(lambda: len(w.acked) >= before + 50 and time.monotonic() > settled + 1.0, 20.0, f"writes with member {i} down")
            late = [f for f in w.failures if f[0] > settled]
            assert late == [], f"errors with member {i} down: {late[:3]}"
            etcd.restart(i)
            etcd.wait_healthy()
        w.finish()
        # All down: a request fails within the storage's bound with a 5xx saying why.
        for i in range(3):
            etcd.kill(i)
        started = time.monotonic()
        status, _, body = r.request("GET", "/api/v1/namespaces/default/configmaps/load-1", timeout=60)
        took = time.monotonic() - started
        assert status >= 500 and "etcd" in body["message"], (status, body)
        assert took < 15, f"answered after {took:.1f}s"
        assert r.request("GET", "/livez")[0] == 200, "alive while etcd is down"
        assert r.request("GET", "/readyz")[0] == 500, "not ready while etcd is down"
        for i in range(3):
            etcd.restart(i)
        etcd.wait_healthy()
        # Service resumes by itself, and every acknowledged write is there.
        eventually(lambda: r.request("GET", "/readyz")[0] == 200, 20.0, "ready again")
        status, _, listed = r.request("GET", "/api/v1/namespaces/default/configmaps")
        assert status == 200
        names = {i["metadata"]["name"] for i in listed["items"]}
        missing = [n for n in w.acked if n not in names]
        assert missing == [] and len(w.acked) > 150, (len(w.acked), missing[:5])
    finally:
        if w:
            w.finish()
        r.stop()
        etcd.stop()


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_tls_to_etcd(tmp_path):
    """--etcd-cafile, --etcd-certfile and --etcd-keyfile: etcd serving TLS and asking for a
    client certificate, as kube-apiserver's etcd usually does; without the client certificate
    the replica cannot start."""
    pki = tmp_path / "etcd-pki"
    pki.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=etcd-ca", "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"))
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")]:
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}",
                "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.csr"))
        (pki / f"{name}.ext").write_text(ext)
        openssl("x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.crt"))
    etcd = EtcdCluster(1, tls=pki)
    try:
        flags = ["--etcd-cafile", str(pki / "ca.crt"), "--etcd-certfile", str(pki / "client.crt"), "--etcd-keyfile", str(pki / "client.key")]
        r = replica(etcd, tmp_path / "r", "/tls", args=flags)
        try:
            assert r.kubectl("1.33", "create", "serviceaccount", "over-tls").returncode == 0
            assert r.kubectl("1.33", "get", "serviceaccount", "over-tls", "-o", "name").stdout.strip() == "serviceaccount/over-tls"
        finally:
            r.stop()
        # Without a client certificate etcd refuses the connection: the start fails, saying so.
        with pytest.raises(RuntimeError) as refused:
            replica(etcd, tmp_path / "r2", "/tls", args=flags[:2])
        assert "etcd" in str(refused.value)
    finally:
        etcd.stop()


def test_a_lease_shorter_than_a_second_is_refused(tmp_path):
    """leaseDurationSeconds counts whole seconds: under one the lease would read as 0, always
    expired, and every replica would lead; the server refuses such timings at start."""
    with pytest.raises(RuntimeError) as refused:
        Server(data_dir=tmp_path, args=["--leader-elect-lease-duration", "900ms", "--leader-elect-renew-deadline", "500ms",
                                        "--leader-elect-retry-period", "100ms"])
    assert "--leader-elect-lease-duration (900ms) must be at least 1s" in str(refused.value)
