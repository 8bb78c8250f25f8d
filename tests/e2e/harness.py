"""Starts real kubeward processes and talks to them with real kubectl and raw HTTPS.

Nothing here is mocked: the server is the built binary, the clients are the kubectl binaries
installed on the machine, TLS is real, and the admin identity is the client certificate from
the generated kubeconfig.
"""

import atexit
import base64
import http.client
import json
import os
import pathlib
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import yaml  # PyYAML, a dependency of the official kubernetes client

REPO = pathlib.Path(__file__).resolve().parents[2]
KUBEWARD = pathlib.Path(os.environ.get("KUBEWARD_BIN", REPO / "target" / "debug" / "kubeward"))
KUBECTL_VERSIONS = ["1.27", "1.33"]


def kubectl_path(version):
    real = shutil.which("kubectl")
    if not real:
        raise RuntimeError("kubectl is not on PATH: install kubectl 1.27 and 1.33 (kubectl.1.27, kubectl.1.33 beside it)")
    path = pathlib.Path(os.path.realpath(real)).parent / f"kubectl.{version}"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: the e2e suite needs kubectl {version}")
    return str(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One kubeward process on a data directory."""

    def __init__(self, data_dir=None, port=None, args=(), wrapper=(), umask=None, default_node_agent=False):
        if not KUBEWARD.exists():
            raise RuntimeError(f"{KUBEWARD} is missing: run `cargo build` first (scripts/test-all does)")
        if data_dir is None:
            # A scratch directory of the harness's own: removed when the test run ends
            # (pytest's tmp_path directories are kept for inspection as usual).
            data_dir = tempfile.mkdtemp(prefix="kubeward-e2e-")
            atexit.register(shutil.rmtree, data_dir, True)
        self.data_dir = pathlib.Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.port = port or free_port()
        self.args = list(args)
        # Pods stay Pending unless a test asks for a node agent (the default, as root, runs them
        # as processes; `default_node_agent=True` keeps that default).
        if "--node-agent" not in self.args and not default_node_agent:
            self.args += ["--node-agent", "off"]
        # A command the server runs under (e.g. prlimit) and the umask it starts with.
        self.wrapper = list(wrapper)
        self.umask = umask
        self.proc = None
        self.start()

    def start(self):
        cmd = [*self.wrapper, str(KUBEWARD), "serve", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}", *self.args]
        self.log = open(self.data_dir / "server.log", "ab")
        umask = self.umask
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log,
                                     preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
        deadline = time.monotonic() + 30
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if b"ready" not in line:
            self.stop()
            raise RuntimeError(f"kubeward did not become ready: {line!r}; log: {(self.data_dir / 'server.log').read_text()[-2000:]}")
        self.ready_line = line.decode()
        self.url = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = str(self.data_dir / "admin.kubeconfig")
        self._tls = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def server_log(self):
        return (self.data_dir / "server.log").read_text(errors="replace")

    # kubectl -------------------------------------------------------------------------

    def kubectl(self, version, *args, input=None, check=True, kubeconfig=None, timeout=60):
        cache = self.data_dir / f"kubectl-cache-{version}"
        cmd = [kubectl_path(version), "--cache-dir", str(cache), *args]
        env = dict(os.environ, KUBECONFIG=kubeconfig or self.kubeconfig, HOME=str(self.data_dir))
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def kubectl_popen(self, version, *args):
        cache = self.data_dir / f"kubectl-cache-{version}"
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=str(self.data_dir))
        return subprocess.Popen([kubectl_path(version), "--cache-dir", str(cache), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    # raw HTTPS as the admin ---------------------------------------------------------------

    def tls(self, client_cert=True):
        """An SSL context trusting the cluster CA, with the admin certificate if asked; made
        once per server start (contexts are safe to share between threads)."""
        key = (client_cert, self.kubeconfig)
        if self._tls and key in self._tls:
            return self._tls[key]
        self._tls = self._tls or {}
        self._tls[key] = self._make_tls(client_cert)
        return self._tls[key]

    def _make_tls(self, client_cert):
        cfg = yaml.safe_load(pathlib.Path(self.kubeconfig).read_text())
        user = cfg["users"][0]["user"]
        ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        ctx = ssl.create_default_context(cadata=ca)
        if client_cert:
            d = self.data_dir / "client"
            d.mkdir(exist_ok=True)
            (d / "c.pem").write_bytes(base64.b64decode(user["client-certificate-data"]))
            (d / "k.pem").write_bytes(base64.b64decode(user["client-key-data"]))
            ctx.load_cert_chain(str(d / "c.pem"), str(d / "k.pem"))
        return ctx

    def request(self, method, path, body=None, headers=None, admin=True, timeout=30):
        """Returns (status, headers, parsed JSON or raw bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls(admin), timeout=timeout)
        h = {"Accept": "application/json"}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed

    def watch_lines(self, path, until, timeout=20):
        """Reads newline-delimited watch events until `until(events)` is true or the stream ends."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls(True), timeout=timeout)
        conn.request("GET", path, headers={"Accept": "application/json"})
        r = conn.getresponse()
        events = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = r.readline()
            if not line:
                break
            events.append(json.loads(line))
            if until(events):
                break
        conn.close()
        return r.status, events


def user_kubeconfig(server, user, groups=(), name=None, subject_prefix=""):
    """A kubeconfig for a client certificate (CN=user, O=each group) signed by the server's CA,
    made with openssl, as an administrator would issue one."""
    d = server.data_dir / "users" / (name or user)
    d.mkdir(parents=True, exist_ok=True)
    subj = subject_prefix + "".join(f"/O={g}" for g in groups) + f"/CN={user}"
    pki = server.data_dir / "pki"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(d / "key.pem")], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", str(d / "key.pem"), "-subj", subj, "-out", str(d / "csr.pem")], check=True, capture_output=True)
    (d / "ext.cnf").write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(d / "csr.pem"), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
         "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )
    cfg = yaml.safe_load(pathlib.Path(server.kubeconfig).read_text())
    cfg["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode((d / "cert.pem").read_bytes()).decode(),
        "client-key-data": base64.b64encode((d / "key.pem").read_bytes()).decode(),
    }
    path = d / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def eventually(check, timeout=5.0, what="condition"):
    """Polls `check` until it returns a truthy value (watch-fed caches converge asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        time.sleep(0.05)


# What the namespace controllers add to every namespace, asynchronously, as upstream's do.
DEFAULT_OBJECTS = {"serviceaccount/default", "configmap/kube-root-ca.crt"}


def without_defaults(names):
    return [n for n in names if n not in DEFAULT_OBJECTS]


class EtcdCluster:
    """Real etcd members (Debian's etcd-server) on loopback, each in a scratch data directory.
    Starting fails with a message when etcd is not installed: never a skip."""

    def __init__(self, members=3, tls=None):
        """With `tls`, a directory holding ca.crt, server.crt and server.key: clients connect
        over TLS and must present a certificate signed by that CA."""
        if not shutil.which("etcd"):
            raise RuntimeError("etcd is not installed: apt-get install -y etcd-server (scripts/test-all installs it)")
        self.tls = tls
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="kubeward-etcd-"))
        atexit.register(shutil.rmtree, str(self.dir), True)
        self.members = [{"name": f"m{i}", "client": free_port(), "peer": free_port(), "proc": None} for i in range(members)]
        for i in range(members):
            self._spawn(i, "new")
        self.wait_healthy()

    def _initial(self):
        return ",".join(f"{m['name']}=http://127.0.0.1:{m['peer']}" for m in self.members)

    def _spawn(self, i, state):
        m = self.members[i]
        scheme = "https" if self.tls else "http"
        client, peer = f"{scheme}://127.0.0.1:{m['client']}", f"http://127.0.0.1:{m['peer']}"
        log = open(self.dir / f"{m['name']}.log", "ab")
        tls = [] if not self.tls else ["--cert-file", str(self.tls / "server.crt"), "--key-file", str(self.tls / "server.key"),
                                        "--trusted-ca-file", str(self.tls / "ca.crt"), "--client-cert-auth"]
        m["proc"] = subprocess.Popen(
            ["etcd", "--name", m["name"], "--data-dir", str(self.dir / m["name"]),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", self._initial(), "--initial-cluster-state", state,
             "--initial-cluster-token", "kubeward-e2e",
             # Quick elections on loopback: a lost leader is replaced within a second.
             "--heartbeat-interval", "50", "--election-timeout", "500", *tls],
            stdout=subprocess.DEVNULL, stderr=log)

    def url(self, prefix=""):
        return "etcd://" + ",".join(f"127.0.0.1:{m['client']}" for m in self.members) + prefix

    def healthy(self, i):
        """Whether member i answers /health with a leader elected."""
        try:
            port = self.members[i]["client"]
            if self.tls:
                ctx = ssl.create_default_context(cafile=str(self.tls / "ca.crt"))
                ctx.load_cert_chain(str(self.tls / "server.crt"), str(self.tls / "server.key"))
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=1)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            body = conn.getresponse().read()
            conn.close()
            return json.loads(body).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout=30):
        live = [i for i, m in enumerate(self.members) if m["proc"] is not None]
        eventually(lambda: all(self.healthy(i) for i in live), timeout, f"etcd members {live} healthy")

    def kill(self, i):
        """SIGKILL, as a crash."""
        p = self.members[i]["proc"]
        if p is not None:
            p.kill()
            p.wait()
        self.members[i]["proc"] = None

    def restart(self, i):
        self._spawn(i, "existing")

    def stop(self):
        for i in range(len(self.members)):
            self.kill(i)


def replica(etcd, data_dir, prefix, peer=None, args=()):
    """A kubeward replica on `etcd`'s keys under `prefix`; with `peer`, its PKI is copied first
    (the README's way to add a replica: the same CA, service-account key and admin identity)."""
    data_dir = pathlib.Path(data_dir)
    if peer is not None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copytree(peer.data_dir / "pki", data_dir / "pki")
    return Server(data_dir=data_dir, args=["--storage", etcd.url(prefix), *args])
