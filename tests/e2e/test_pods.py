"""Pods that run (--node-agent process): the service-account tutorial from inside a pod,
exec with a terminal on kubectl 1.27 (SPDY) and 1.33 (WebSocket), logs, restarts, cp, and
that no process outlives its pod or its server."""

import json
import os
import pathlib
import select
import signal
import subprocess
import time

import pytest

from harness import Server, eventually, kubectl_path

if os.geteuid() != 0:
    raise RuntimeError("test_pods.py needs root: --node-agent process creates namespaces and mounts (CI runs as root)")

TUTORIAL = r'''
APISERVER=https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT_HTTPS}
TOKEN=$(cat /run/secrets/kubernetes.io/serviceaccount/token)
curl -s $APISERVER%s  --header "Authorization: Bearer $TOKEN" --cacert /run/secrets/kubernetes.io/serviceaccount/ca.crt
'''


@pytest.fixture(scope="module")
def node():
    s = Server(args=["--node-agent", "process", "--node-name", "kw-proc"])
    yield s
    s.stop()


def pod_json(server, ns, name):
    return json.loads(server.kubectl("1.33", "-n", ns, "get", "pod", name, "-o", "json").stdout)


def phase(server, ns, name):
    p = server.kubectl("1.33", "-n", ns, "get", "pod", name, "-o", "jsonpath={.status.phase}", check=False)
    return p.stdout if p.returncode == 0 else None


def running(server, ns, name):
    eventually(lambda: phase(server, ns, name) == "Running", 20.0, f"{ns}/{name} Running")


def host_pids(prefix):
    """Host PIDs whose command line starts with `prefix` (so a shell or helper that merely
    mentions it in its arguments is not counted)."""
    out = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith(prefix):
            out.append(int(p.name))
    return out


class Terminal:
    """A command under script(1), as a user at a terminal runs it: read until what they wait
    for, then typed into."""

    def __init__(self, cmd):
        self.p = subprocess.Popen(["script", "-qefc", cmd, "/dev/null"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.seen = b""

    def expect(self, pattern, timeout=15.0):
        deadline = time.monotonic() + timeout
        while pattern not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise AssertionError(f"{pattern!r} not seen; terminal: {self.seen.decode(errors='replace')}")
            chunk = os.read(self.p.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"terminal closed before {pattern!r}: {self.seen.decode(errors='replace')}")
            self.seen += chunk

    def type(self, line):
        self.p.stdin.write(line)
        self.p.stdin.flush()

    def exit_code(self, timeout=15):
        code = self.p.wait(timeout=timeout)
        self.seen += self.p.stdout.read()
        return code

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def tutorial_from_inside(server, version, ns, pod, path):
    return server.kubectl(version, "-n", ns, "exec", pod, "--", "sh", "-c", TUTORIAL % path).stdout


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_the_tutorial_from_inside_a_pod(node, version):
    ns = "tut-" + version.replace(".", "")
    node.kubectl(version, "create", "ns", ns)
    eventually(lambda: node.kubectl(version, "-n", ns, "get", "sa", "default", check=False).returncode == 0, 5.0, "default SA")
    node.kubectl(version, "-n", ns, "run", "debugger", "--image=ansilh/debug-tools", "--restart=Never")
    running(node, ns, "debugger")
    api = json.loads(tutorial_from_inside(node, version, ns, "debugger", "/api"))
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    denied = json.loads(tutorial_from_inside(node, version, ns, "debugger", "/api/v1/pods"))
    assert denied["code"] == 403
    assert denied["message"] == (f'pods is forbidden: User "system:serviceaccount:{ns}:default" cannot list resource '
                                 '"pods" in API group "" at the cluster scope')
    # The tutorial's podview account, role and binding, then a pod running as it.
    node.kubectl(version, "-n", ns, "create", "serviceaccount", "podview")
    node.kubectl(version, "create", "clusterrole", f"podview-role-{ns}", "--verb=list,watch", "--resource=pods")
    node.kubectl(version, "create", "clusterrolebinding", f"podview-role-binding-{ns}",
                 f"--clusterrole=podview-role-{ns}", f"--serviceaccount={ns}:podview")
    node.kubectl(version, "-n", ns, "create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "viewer"},
         "spec": {"containers": [{"image": "ansilh/debug-tools", "name": "debugger"}], "serviceAccountName": "podview"}}))
    running(node, ns, "viewer")
    listed = json.loads(tutorial_from_inside(node, version, ns, "viewer", "/api/v1/pods"))
    assert listed["kind"] == "PodList"
    assert {f"{ns}/debugger", f"{ns}/viewer"} <= {f'{p["metadata"]["namespace"]}/{p["metadata"]["name"]}' for p in listed["items"]}
    # The pod's own view: its name as host name, its namespace file, only its processes.
    out = node.kubectl(version, "-n", ns, "exec", "debugger", "--", "sh", "-c",
                       "hostname; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; ps -e -o pid=,comm=").stdout
    lines = out.split("\n")
    assert lines[0] == "debugger" and lines[1] == ns
    pids = [l.split() for l in lines[2:] if l.strip()]
    assert pids[0][0] == "1", pids
    assert len(pids) <= 4, pids


def test_the_kubernetes_service_says_where_pods_reach_the_server(node):
    # As upstream: the first service IP, 443 named https, to the secure port; its Endpoints
    # are where the server listens.
    svc = json.loads(node.kubectl("1.33", "get", "svc", "kubernetes", "-o", "json").stdout)
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": node.port}]
    ep = node.kubectl("1.27", "get", "endpoints", "kubernetes").stdout.split("\n")[1].split()
    assert ep[:2] == ["kubernetes", f"127.0.0.1:{node.port}"], ep
    # The Endpoints' address is what a pod's variables say (pods share the host's network,
    # where the cluster IP does not route).
    node.kubectl("1.33", "run", "envs", "--image=busybox", "--restart=Never", "--", "sh", "-c",
                 "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $KUBERNETES_PORT")
    eventually(lambda: phase(node, "default", "envs") == "Succeeded", 20.0, "Succeeded")
    assert node.kubectl("1.33", "logs", "envs").stdout == f"127.0.0.1:{node.port} tcp://127.0.0.1:{node.port}\n"


def test_the_tutorial_with_legacy_token_secrets(tmp_path):
    s = Server(data_dir=tmp_path, args=["--node-agent", "process", "--node-name", "kw-legacy", "--legacy-token-secrets"])
    try:
        eventually(lambda: s.kubectl("1.33", "get", "sa", "default", "-o", "jsonpath={.secrets[0].name}", check=False).stdout != "", 10.0, "token secret")
        s.kubectl("1.33", "run", "debugger", "--image=ansilh/debug-tools", "--restart=Never")
        running(s, "default", "debugger")
        pod = pod_json(s, "default", "debugger")
        assert any("secret" in v for v in pod["spec"]["volumes"]), pod["spec"]["volumes"]
        denied = json.loads(tutorial_from_inside(s, "1.33", "default", "debugger", "/api/v1/pods"))
        assert denied["message"].startswith('pods is forbidden: User "system:serviceaccount:default:default"')
    finally:
        s.stop()


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_exec_with_a_terminal(node, version):
    ns = "tty-" + version.replace(".", "")
    node.kubectl(version, "create", "ns", ns)
    node.kubectl(version, "-n", ns, "run", "shell", "--image=ansilh/debug-tools", "--restart=Never")
    running(node, ns, "shell")
    cmd = f"{kubectl_path(version)} --kubeconfig {node.kubeconfig} -n {ns} exec -it shell -- /bin/sh"
    t = Terminal(cmd)
    try:
        t.expect(b"# ")
        t.type(b"hostname\n")
        t.expect(b"\nshell\r\n")
        t.type(b"echo typed-$((40+2))\n")
        # Typed before the shell's next prompt maybe: the echo of the line, then "# ", then the
        # answer. Only the answer says "typed-42" (the line says "$((40+2))").
        t.expect(b"typed-42\r\n")
        t.type(b"tty\n")
        t.expect(b"/dev/pts/")
        t.type(b"exit 3\n")
        assert t.exit_code() == 3, t.seen.decode(errors="replace")
    finally:
        t.kill()
    # Without a terminal: stdout, stderr and the code apart.
    r = node.kubectl(version, "-n", ns, "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (r.returncode, r.stdout, r.stderr.split("\n")[0]) == (5, "out\n", "err")
    r = node.kubectl(version, "-n", ns, "exec", "-i", "shell", "--", "wc", "-c", input="12345")
    assert r.stdout.strip() == "5"


def test_a_refused_exec_is_upstreams_403(node):
    from harness import user_kubeconfig
    node.kubectl("1.33", "create", "ns", "noexec")
    node.kubectl("1.33", "-n", "noexec", "run", "p", "--image=busybox", "--restart=Never")
    running(node, "noexec", "p")
    node.kubectl("1.33", "-n", "noexec", "create", "role", "viewer", "--verb=get,list", "--resource=pods,pods/exec")
    node.kubectl("1.33", "-n", "noexec", "create", "rolebinding", "viewer", "--role=viewer", "--user=carol")
    kc = user_kubeconfig(node, "carol")
    for version in ["1.27", "1.33"]:
        r = node.kubectl(version, "-n", "noexec", "exec", "p", "--", "true", kubeconfig=kc, check=False)
        assert r.returncode != 0
        assert 'pods "p" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "noexec"' in r.stderr, r.stderr


def test_logs_follow_restarts_previous_and_cp(node):
    ns = "logs"
    node.kubectl("1.33", "create", "ns", ns)
    node.kubectl("1.33", "-n", ns, "run", "ticker", "--image=busybox", "--restart=Never", "--",
                 "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    running(node, ns, "ticker")
    p = node.kubectl_popen("1.33", "-n", ns, "logs", "-f", "ticker")
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(seen) < 8:
        seen.append(p.stdout.readline().decode().strip())
    p.kill()
    assert seen[:3] == ["tick 0", "tick 1", "tick 2"] and len(seen) == 8, seen
    tail = node.kubectl("1.27", "-n", ns, "logs", "ticker", "--tail=2", "--timestamps").stdout.strip().split("\n")
    assert len(tail) == 2 and all(l.split(" ", 1)[0].endswith("Z") and " tick " in l for l in tail), tail
    # A crashing container under OnFailure: restarted, counted, its last run kept.
    node.kubectl("1.33", "-n", ns, "run", "crash", "--image=busybox", "--restart=OnFailure", "--",
                 "sh", "-c", "echo run $(cat /proc/uptime); exit 3")
    eventually(lambda: pod_json(node, ns, "crash")["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 2, 20.0, "restarts")
    cs = pod_json(node, ns, "crash")["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    prev = node.kubectl("1.33", "-n", ns, "logs", "crash", "--previous").stdout
    assert prev.startswith("run ")
    assert "CrashLoopBackOff" in node.kubectl("1.33", "-n", ns, "get", "pod", "crash").stdout
    # One that ends well: Succeeded, its log kept.
    node.kubectl("1.33", "-n", ns, "run", "once", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo done")
    eventually(lambda: phase(node, ns, "once") == "Succeeded", 20.0, "Succeeded")
    assert node.kubectl("1.27", "-n", ns, "logs", "once").stdout == "done\n"
    once = pod_json(node, ns, "once")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (once["exitCode"], once["reason"]) == (0, "Completed")
    # kubectl cp both ways (tar over exec); the pod's root is the host's.
    src = pathlib.Path(node.data_dir) / "cp-src.txt"
    src.write_text("round trip\n")
    dst = f"/tmp/kw-cp-{os.getpid()}.txt"
    node.kubectl("1.33", "-n", ns, "cp", str(src), f"ticker:{dst}")
    back = pathlib.Path(node.data_dir) / "cp-back.txt"
    node.kubectl("1.27", "-n", ns, "cp", f"ticker:{dst}", str(back))
    assert back.read_text() == "round trip\n"
    os.unlink(dst)


def test_deleting_a_pod_kills_every_process_of_it(node):
    ns = "kill"
    node.kubectl("1.33", "create", "ns", ns)
    # Two sleeps no other process runs: a double-forked orphan and the main process.
    n = 700000 + os.getpid() % 100000
    marker = f"sleep {n}"
    node.kubectl("1.33", "-n", ns, "run", "forker", "--image=busybox", "--restart=Never", "--",
                 "sh", "-c", f"(sleep {n}.1 &) ; sleep {n}.2")
    running(node, ns, "forker")
    eventually(lambda: len(host_pids(marker)) == 2, 10.0, "both processes")
    pids = host_pids(marker)
    node.kubectl("1.33", "-n", ns, "delete", "pod", "forker", "--grace-period=1")
    alive = [p for p in pids if pathlib.Path(f"/proc/{p}").exists()]
    assert alive == [], alive


def test_a_deleted_pods_token_is_refused(node):
    ns = "tokgone"
    node.kubectl("1.33", "create", "ns", ns)
    node.kubectl("1.33", "-n", ns, "run", "p", "--image=busybox", "--restart=Never")
    running(node, ns, "p")
    token = node.kubectl("1.33", "-n", ns, "exec", "p", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token").stdout
    headers = {"Authorization": f"Bearer {token}"}
    status, _, _ = node.request("GET", "/api", headers=headers, admin=False)
    assert status == 200
    # The files are the kubelet's: symlinks through ..data into a timestamped payload.
    listing = node.kubectl("1.33", "-n", ns, "exec", "p", "--", "ls", "-la", "/var/run/secrets/kubernetes.io/serviceaccount/").stdout
    assert "token -> ..data/token" in listing and "..data -> ..20" in listing, listing
    node.kubectl("1.33", "-n", ns, "delete", "pod", "p", "--grace-period=1")
    eventually(lambda: node.request("GET", "/api", headers=headers, admin=False)[0] == 401, 1.5, "token refused")


def test_no_pod_outlives_a_killed_server(tmp_path):
    n = 800000 + os.getpid() % 100000
    marker = f"sleep {n}"
    s = Server(data_dir=tmp_path, args=["--node-agent", "process", "--node-name", "kw-crash"])
    try:
        s.kubectl("1.33", "run", "long", "--image=busybox", "--restart=Never", "--",
                  "sh", "-c", f"(sleep {n}.1 &) ; sleep {n}.2")
        running(s, "default", "long")
        eventually(lambda: len(host_pids(marker)) == 2, 10.0, "both processes")
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait()
        eventually(lambda: host_pids(marker) == [], 5.0, "no orphan after kill -9")
        # Started again, the agent runs the pod anew.
        s.start()
        eventually(lambda: len(host_pids(marker)) == 2, 20.0, "pod running again")
    finally:
        s.stop()
    eventually(lambda: host_pids(marker) == [], 5.0, "no orphan after stop")


def test_init_containers_volumes_and_environment(node):
    ns = "vols"
    node.kubectl("1.33", "create", "ns", ns)
    node.kubectl("1.33", "-n", ns, "create", "secret", "generic", "creds", "--from-literal=password=s3cr3t")
    node.kubectl("1.33", "-n", ns, "create", "configmap", "settings", "--from-literal=mode=prod", "--from-literal=level=3")
    pid = os.getpid()
    # Mount points the host lacks are made there (empty) and removed at the end.
    mounts = [{"name": "work", "mountPath": f"/tmp/kw-work-{pid}"}]
    node.kubectl("1.33", "-n", ns, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "labels": {"tier": "web"}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [
                {"name": "first", "image": "busybox", "command": ["sh", "-c", f"echo first > /tmp/kw-work-{os.getpid()}/order"], "volumeMounts": mounts},
                {"name": "second", "image": "busybox", "command": ["sh", "-c", f"echo second >> /tmp/kw-work-{os.getpid()}/order"], "volumeMounts": mounts},
            ],
            "containers": [{
                "name": "main", "image": "busybox",
                "command": ["sh", "-c", f"cat $(WORK)/order; cat /tmp/kw-secret-{pid}/password; echo; cat /tmp/kw-info-{pid}/labels; echo; "
                            "echo mode=$MODE cm_level=$CM_level pod=$POD_NAME; "
                            f"ls -l /tmp/kw-secret-{pid}/ | grep -c -- '->'; touch /tmp/kw-secret-{pid}/x 2>/dev/null || echo read-only"],
                "env": [{"name": "WORK", "value": f"/tmp/kw-work-{os.getpid()}"},
                        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CM_"}],
                "volumeMounts": mounts + [
                    {"name": "secret", "mountPath": f"/tmp/kw-secret-{pid}", "readOnly": True},
                    {"name": "info", "mountPath": f"/tmp/kw-info-{pid}"}],
            }],
            "volumes": [
                {"name": "work", "emptyDir": {}},
                {"name": "secret", "secret": {"secretName": "creds"}},
                {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            ],
        }}))
    eventually(lambda: phase(node, ns, "app") == "Succeeded", 20.0, "Succeeded")
    out = node.kubectl("1.33", "-n", ns, "logs", "app").stdout.split("\n")
    assert out[:2] == ["first", "second"], out
    assert out[2] == "s3cr3t"
    assert out[3] == 'tier="web"'
    assert out[4] == "mode=prod cm_level=3 pod=app"
    assert out[5] == "1"  # the key is a link into ..data
    assert out[6] == "read-only"
    status = pod_json(node, ns, "app")["status"]
    assert [c["name"] for c in status["initContainerStatuses"]] == ["first", "second"]
    assert all(c["state"]["terminated"]["exitCode"] == 0 for c in status["initContainerStatuses"])
    assert node.kubectl("1.27", "-n", ns, "logs", "app", "-c", "first").stdout == ""
    # The emptyDir lived on the pod's tmpfs: nothing of it on the host.
    assert not pathlib.Path(f"/tmp/kw-work-{pid}/order").exists()
    for d in ["work", "secret", "info"]:
        os.rmdir(f"/tmp/kw-{d}-{pid}")
    # A missing secret keeps the container waiting with the kubelet's reason.
    node.kubectl("1.33", "-n", ns, "run", "nosecret", "--image=busybox", "--restart=Never", "--overrides",
                 json.dumps({"spec": {"containers": [{"name": "nosecret", "image": "busybox", "command": ["sh", "-c", "echo X=$X"],
                                                      "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]}]}}))

    def waiting_reason():
        cs = pod_json(node, ns, "nosecret")["status"].get("containerStatuses") or [{}]
        return cs[0].get("state", {}).get("waiting", {}).get("reason")

    eventually(lambda: waiting_reason() == "CreateContainerConfigError", 10.0, "CreateContainerConfigError")
    r = node.kubectl("1.33", "-n", ns, "logs", "nosecret", check=False)
    assert 'is waiting to start: CreateContainerConfigError' in r.stderr, r.stderr
    # As the kubelet retries the pod's sync, the secret's arrival lets it run.
    node.kubectl("1.33", "-n", ns, "create", "secret", "generic", "absent", "--from-literal=k=arrived")
    eventually(lambda: phase(node, ns, "nosecret") == "Succeeded", 20.0, "Succeeded once the secret exists")
    assert node.kubectl("1.33", "-n", ns, "logs", "nosecret").stdout == "X=arrived\n"


def test_as_root_pods_run_by_default(tmp_path):
    s = Server(data_dir=tmp_path, default_node_agent=True)
    try:
        s.kubectl("1.33", "run", "p", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo by-default")
        eventually(lambda: phase(s, "default", "p") == "Succeeded", 20.0, "Succeeded")
        assert s.kubectl("1.33", "logs", "p").stdout == "by-default\n"
        # The node is named after the host, as a kubelet's.
        host = pathlib.Path("/proc/sys/kernel/hostname").read_text().strip().lower()
        assert s.kubectl("1.33", "get", "node", host, "-o", "name").stdout.strip() == f"node/{host}"
    finally:
        s.stop()


def test_run_as_user_and_no_new_privs(node):
    ns = "users"
    node.kubectl("1.33", "create", "ns", ns)
    node.kubectl("1.33", "-n", ns, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "who"},
        "spec": {"restartPolicy": "Never", "securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
                 "containers": [
                     {"name": "plain", "image": "busybox", "workingDir": "/tmp",
                      "command": ["sh", "-c", "echo $(id -u):$(id -g) $(pwd) $(grep NoNewPrivs /proc/self/status | tr -d '\\t')"]},
                     {"name": "escalating", "image": "busybox",
                      "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": True},
                      "command": ["sh", "-c", "echo $(id -u) $(grep NoNewPrivs /proc/self/status | tr -d '\\t')"]}]}}))
    eventually(lambda: phase(node, ns, "who") == "Succeeded", 20.0, "Succeeded")
    assert node.kubectl("1.33", "-n", ns, "logs", "who", "-c", "plain").stdout == "1000:3000 /tmp NoNewPrivs:1\n"
    assert node.kubectl("1.33", "-n", ns, "logs", "who", "-c", "escalating").stdout == "0 NoNewPrivs:0\n"


def test_the_projected_token_is_replaced_before_it_expires(tmp_path):
    # Tokens of 60 s (the server shortens the kubelet's 3607 s), so the agent's refresh at 80%
    # of the lifetime comes within the test.
    s = Server(data_dir=tmp_path, args=["--node-agent", "process", "--node-name", "kw-refresh",
                                        "--service-account-max-token-expiration", "60"])
    try:
        s.kubectl("1.33", "run", "reader", "--image=busybox", "--restart=Never", "--", "sh", "-c",
                  "while true; do cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; sleep 0.05; done")
        running(s, "default", "reader")
        first = s.kubectl("1.33", "exec", "reader", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token").stdout
        eventually(lambda: s.kubectl("1.33", "exec", "reader", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token").stdout != first,
                   60.0, "a new token")
        second = s.kubectl("1.33", "exec", "reader", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token").stdout
        # The new token works; every read the pod made was one whole token or the other.
        assert s.request("GET", "/api", headers={"Authorization": f"Bearer {second}"}, admin=False)[0] == 200
        reads = [l for l in s.kubectl("1.33", "logs", "reader").stdout.split("\n") if l]
        assert set(reads) <= {first, second}, {len(r) for r in reads}
        assert first in reads and second in reads
    finally:
        s.stop()


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_run_interactive_attaches_to_the_container(node, version):
    """`kubectl run -it --rm`: a pod with stdin and a terminal, attached to, deleted after."""
    ns = "attach-" + version.replace(".", "")
    node.kubectl(version, "create", "ns", ns)
    cmd = (f"{kubectl_path(version)} --kubeconfig {node.kubeconfig} -n {ns} "
           "run -it --rm dbg --image=busybox --restart=Never -- sh")
    t = Terminal(cmd)
    try:
        t.expect(b"If you don't see a command prompt", timeout=20.0)
        # Attached: what is typed runs in the pod (typed again until the shell has answered).
        deadline = time.monotonic() + 20
        while b"\ndbg\r\n" not in t.seen and time.monotonic() < deadline:
            t.type(b"hostname\n")
            try:
                t.expect(b"\ndbg\r\n", timeout=2.0)
            except AssertionError:
                if t.p.poll() is not None:
                    raise
        assert b"\ndbg\r\n" in t.seen, t.seen
        t.type(b"exit 0\n")
        assert t.exit_code(timeout=20) == 0, t.seen.decode(errors="replace")
        assert b'pod "dbg" deleted' in t.seen, t.seen
    finally:
        t.kill()
    eventually(lambda: node.kubectl(version, "-n", ns, "get", "pod", "dbg", check=False).returncode != 0, 10.0, "pod gone")


def test_attach_follows_a_running_containers_output(node):
    ns = "attach-out"
    node.kubectl("1.33", "create", "ns", ns)
    node.kubectl("1.33", "-n", ns, "run", "beat", "--image=busybox", "--restart=Never", "--",
                 "sh", "-c", "i=0; while true; do echo beat $i; i=$((i+1)); sleep 0.2; done")
    running(node, ns, "beat")
    for version in ["1.27", "1.33"]:
        p = node.kubectl_popen(version, "-n", ns, "attach", "beat")
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(lines) < 3:
            lines.append(p.stdout.readline().decode().strip())
        p.kill()
        p.wait()
        assert len(lines) == 3 and all(l.startswith("beat ") for l in lines), lines
        # From now on: consecutive beats, not the log from the start.
        n = [int(l.split()[1]) for l in lines]
        assert n == list(range(n[0], n[0] + 3)) and n[0] > 0, n


def test_a_sandbox_an_earlier_server_left_is_killed_at_start(tmp_path):
    from harness import KUBEWARD
    pod_dir = tmp_path / "pods" / "00000000-left-behind"
    pod_dir.mkdir(parents=True)
    spec = {"hostname": "left", "volumes_dir": str(pod_dir / "volumes"), "volumes": [], "mounts": []}
    (pod_dir / "sandbox.json").write_text(json.dumps(spec))
    # Its lifeline held open by this test, as if the server that started it had not died.
    holder = subprocess.Popen([str(KUBEWARD), "pod-sandbox", "hold", str(pod_dir / "sandbox.json")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().startswith(b"ready ")
        s = Server(data_dir=tmp_path, args=["--node-agent", "process", "--node-name", "kw-left"])
        try:
            assert holder.wait(timeout=10) == -signal.SIGKILL
            assert not pod_dir.exists()
        finally:
            s.stop()
    finally:
        holder.kill()
        holder.wait()


def test_deleting_a_namespace_kills_its_pods_processes(node):
    n = 600000 + os.getpid() % 100000
    node.kubectl("1.33", "create", "ns", "doomed")
    node.kubectl("1.33", "-n", "doomed", "run", "s", "--image=busybox", "--restart=Never", "--", "sleep", f"{n}.5")
    running(node, "doomed", "s")
    eventually(lambda: len(host_pids(f"sleep {n}.5")) == 1, 10.0, "the pod's process")
    node.kubectl("1.33", "delete", "ns", "doomed", timeout=120)
    assert host_pids(f"sleep {n}.5") == []


def test_a_terminal_runs_as_the_containers_user(node):
    ns = "ttyuser"
    node.kubectl("1.33", "create", "ns", ns)
    node.kubectl("1.33", "-n", ns, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "u"},
        "spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
                 "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}))
    running(node, ns, "u")
    for version in ["1.27", "1.33"]:
        t = Terminal(f"{kubectl_path(version)} --kubeconfig {node.kubeconfig} -n {ns} exec -it u -- sh")
        try:
            t.expect(b"$ ")
            t.type(b"echo id=$(id -u):$(id -g)\n")
            t.expect(b"\nid=1000:3000\r\n")
            t.type(b"exit 0\n")
            assert t.exit_code() == 0, t.seen
        finally:
            t.kill()
