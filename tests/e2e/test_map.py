"""The RBAC map in a real browser: Debian's Chromium, driven by Playwright.

Online, the page is reached as a user reaches it, through real `kubectl proxy` with a
kubeconfig's credentials; its who-can and explain answers are the server's, and a user with
only namespace rights sees only that namespace. Offline, the file `kubeward map` writes fetches
nothing, and its own answers equal `kubeward who-can` and `kubeward explain` on the same
manifests. At 10,000 bindings a selected neighbourhood is drawn, and the time it took is
recorded from the page (BENCHMARKS.md reports it); screenshots and a Playwright trace are kept
under target/e2e-artifacts/map/.
"""

import json
import os
import pathlib
import re
import subprocess

import pytest

from harness import KUBEWARD, REPO, Server, kubectl_path, user_kubeconfig
from test_explain import CASES
# The manifests of the online tests, and a server holding them (this module's own instance).
from test_rbac_online import manifests, server as online_server  # noqa: F401 (fixtures)

ARTIFACTS = REPO / "target" / "e2e-artifacts" / "map"
CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say Chromium must start here: no sandbox as root, and none of the
# background connections a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Who-can questions, as `kubeward who-can` takes them and as the page's form takes them.
WHO_CAN = [
    ("get pods -n dev", {"verb": "get", "resource": "pods", "namespace": "dev"}),
    ("get secrets web-tls -n dev", {"verb": "get", "resource": "secrets", "name": "web-tls", "namespace": "dev"}),
    ("list secrets -n prod", {"verb": "list", "resource": "secrets", "namespace": "prod"}),
    ("create pods/exec -n dev", {"verb": "create", "resource": "pods/exec", "namespace": "dev"}),
    ("create configmaps -n prod", {"verb": "create", "resource": "configmaps", "namespace": "prod"}),
    ("get /metrics", {"verb": "get", "resource": "/metrics"}),
    ("impersonate users", {"verb": "impersonate", "resource": "users"}),
    ("bind clusterroles.rbac.authorization.k8s.io", {"verb": "bind", "resource": "clusterroles.rbac.authorization.k8s.io"}),
]


def kubeward(*args):
    p = subprocess.run([str(KUBEWARD), *args], capture_output=True, text=True, timeout=120)
    assert p.returncode in (0, 1), p.stderr
    return p


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install playwright (scripts/test-all installs it)")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test-all installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(online_server):
    # dana administers the namespace dev, and nothing else.
    online_server.kubectl("1.33", "create", "rolebinding", "dana-admin", "-n", "dev", "--clusterrole", "admin", "--user", "dana")
    return online_server


class Proxy:
    """Real `kubectl proxy` with a kubeconfig: the browser's way to the API with its credentials."""

    def __init__(self, kubeconfig, version="1.33"):
        self.proc = subprocess.Popen(
            [kubectl_path(version), "proxy", "--port", "0", "--kubeconfig", kubeconfig],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"Starting to serve on 127\.0\.0\.1:(\d+)", line)
        assert m, f"kubectl proxy did not start: {line!r} {self.proc.stderr.read() if self.proc.poll() is not None else ''}"
        self.url = f"http://127.0.0.1:{m.group(1)}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.body.dataset.ready") == "true", page.text_content("#status")
    return page, errors


def fill(page, form, values):
    for field in ["verb", "resource", "name", "namespace", "user", "groups"]:
        if page.locator(f"#{form} input[name={field}]").count():
            page.fill(f"#{form} input[name={field}]", values.get(field, ""))
    page.evaluate("delete document.getElementById('answer').dataset.subjects; delete document.getElementById('answer').dataset.allowed")
    page.click(f"#{form} button")


def who_can_on_page(page, values):
    fill(page, "who-can", values)
    page.wait_for_function("() => document.getElementById('answer').dataset.subjects")
    return set(json.loads(page.evaluate("document.getElementById('answer').dataset.subjects")))


def cli_who_can(ask, source):
    out = json.loads(kubeward("who-can", *ask.split(), *source, "-o", "json").stdout)
    return {f"{r['subject']['kind']}/{r['subject'].get('namespace', '')}/{r['subject']['name']}" for r in out["allowed"]}


def test_the_page_loads_behind_a_kubeconfig_and_who_can_highlights_the_answer(server, browser):
    with Proxy(server.kubeconfig) as proxy:
        page, errors = open_page(browser, proxy.url + "/map/")
        assert page.text_content("#source").startswith("Live from this server")
        for ask, values in WHO_CAN:
            expected = cli_who_can(ask, ["--kubeconfig", server.kubeconfig])
            assert who_can_on_page(page, values) == expected, ask
            # Every subject of the answer the graph holds is drawn, and highlighted.
            highlighted = set(page.evaluate("kubewardMap.highlighted()"))
            assert {s for s in expected if s != "Group//system:masters"} <= highlighted, ask
        page.screenshot(path=str(ARTIFACTS / "online-who-can.png"))
        assert errors == []


def test_explain_from_the_form_is_the_servers_answer(server, browser):
    with Proxy(server.kubeconfig) as proxy:
        page, errors = open_page(browser, proxy.url + "/map/")
        for values, user, groups, ask in [
            ({"verb": "get", "resource": "pods", "namespace": "dev"}, "alice", "", "get pods -n dev --as alice"),
            ({"verb": "get", "resource": "secrets", "name": "db", "namespace": "dev"}, "alice", "", "get secrets db -n dev --as alice"),
            ({"verb": "create", "resource": "configmaps", "namespace": "prod"}, "bob", "ops", "create configmaps -n prod --as bob --as-group ops"),
        ]:
            fill(page, "explain", dict(values, user=user, groups=groups))
            page.wait_for_function("() => document.getElementById('answer').dataset.allowed")
            cli = kubeward("explain", *ask.split(), "--kubeconfig", server.kubeconfig, "-o", "json")
            assert page.evaluate("document.getElementById('answer').dataset.allowed") == str(cli.returncode == 0).lower(), ask
            grants = {f"{g['binding']['kind']}/{g['binding']['namespace']}/{g['binding']['name']}" for g in json.loads(cli.stdout)["grants"]}
            assert grants <= set(page.evaluate("kubewardMap.highlighted()")), ask
        page.screenshot(path=str(ARTIFACTS / "online-explain.png"))
        assert errors == []


def test_a_user_with_namespace_rights_sees_only_that_namespace(server, browser):
    dana = user_kubeconfig(server, "dana")
    with Proxy(dana) as proxy:
        page, errors = open_page(browser, proxy.url + "/map/")
        graph = page.evaluate("fetch('graph').then(r => r.json())")
        assert graph["complete"] is False
        assert graph["bindings"] and {b["namespace"] for b in graph["bindings"]} == {"dev"}
        assert {b["kind"] for b in graph["bindings"]} == {"RoleBinding"}
        # The dev Role's rules are shown; a ClusterRole's (which dana may not list) are not.
        roles = {r["id"]: r for r in graph["roles"]}
        assert roles["Role/dev/pod-reader"]["rules"]
        assert roles["ClusterRole//admin"]["rules"] is None
        assert all(r["namespace"] in ("", "dev") for r in graph["roles"])
        assert all(r["rules"] is None for r in graph["roles"] if r["kind"] == "ClusterRole")
        options = page.eval_on_selector_all("#namespace option", "os => os.map(o => o.value)")
        assert options == ["*", "", "dev"]
        # Findings name nothing dana may not see.
        ids = {b["id"] for b in graph["bindings"]} | set(roles)
        for f in graph["findings"]:
            assert all(p.split("#")[0] in ids or not re.match(r"^(Cluster)?Role(Binding)?/", p) for p in f["path"]), f
        page.fill("#search", "alice")
        page.click("#matches li[data-id='User//alice']")
        page.wait_for_function("() => kubewardMap.highlighted().includes('User//alice')")
        shown = page.evaluate("kubewardMap.shown()")
        assert "RoleBinding/dev/alice-reads" in shown and "RoleBinding/prod/dangling" not in shown
        page.screenshot(path=str(ARTIFACTS / "namespace-user.png"))
        # The server's own answer to a review dana may not make is its 403, shown as such.
        fill(page, "who-can", {"verb": "get", "resource": "pods", "namespace": "dev"})
        page.wait_for_function("() => document.getElementById('answer').textContent.includes('forbidden')")
        assert errors == [] or all("403" in e for e in errors)


def test_the_page_needs_authentication(server):
    # No credentials: the anonymous user is not authenticated, and the page is not served.
    status, _, body = server.request("GET", "/map/", admin=False)
    assert status == 403 and body["message"] == 'forbidden: User "system:anonymous" cannot get path "/map/"'
    status, _, body = server.request("GET", "/map/graph", admin=False)
    assert status == 403
    # An authenticated user gets the shell, with a policy that lets it load only its own parts.
    status, headers, body = server.request("GET", "/map/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
    assert b'<script src="map.js">' in body
    status, headers, _ = server.request("GET", "/map")
    assert status == 301 and headers["location"] == "map/"
    status, _, _ = server.request("GET", "/map/nothing-here")
    assert status == 404


def test_the_offline_file_fetches_nothing_and_answers_as_the_cli(manifests, browser, tmp_path):
    out = tmp_path / "rbac.html"
    p = kubeward("map", "-f", str(manifests), "-o", str(out))
    assert p.returncode == 0 and p.stdout.startswith(f"wrote {out}: ")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready]")
    assert page.text_content("#source").startswith("From manifests (offline file)")
    source = ["-f", str(manifests)]
    for ask, values in WHO_CAN:
        assert who_can_on_page(page, values) == cli_who_can(ask, source), ask
    checked = 0
    for _, ask in CASES:
        words = ask.split()
        if "-A" in words or words[1] == "sa":
            continue  # the form has no -A, and kubectl's short names are the CLI's alone
        args = {"verb": words[0], "resource": words[1]}
        rest = words[2:]
        if rest and not rest[0].startswith("-"):
            args["name"] = rest.pop(0)
        opts = dict(zip(rest[::2], rest[1::2]))
        args.update(namespace=opts.get("-n", ""), user=opts["--as"], groups=opts.get("--as-group", ""))
        fill(page, "explain", args)
        page.wait_for_function("() => document.getElementById('answer').dataset.allowed")
        cli = kubeward("explain", *words, *source, "-o", "json")
        assert page.evaluate("document.getElementById('answer').dataset.allowed") == str(cli.returncode == 0).lower(), ask
        grants = {f"{g['binding']['kind']}/{g['binding']['namespace']}/{g['binding']['name']}" for g in json.loads(cli.stdout)["grants"]}
        drawn = {i for i in page.evaluate("kubewardMap.highlighted()") if "Binding/" in i}
        assert drawn == grants, ask
        checked += 1
    assert checked >= 15
    # The namespace filter: alice's neighbourhood, then only what holds in dev.
    page.fill("#search", "alice")
    page.click("#matches li[data-id='User//alice']")
    page.wait_for_function("() => kubewardMap.shown().includes('RoleBinding/prod/dangling')")
    page.select_option("#namespace", "dev")
    page.wait_for_function("() => !kubewardMap.shown().includes('RoleBinding/prod/dangling')")
    assert "RoleBinding/dev/alice-reads" in page.evaluate("kubewardMap.shown()")
    page.select_option("#namespace", "*")
    # The roles that grant a resource: a rule naming it, or a wildcard.
    page.fill("#resource", "secrets")
    listed = set(page.eval_on_selector_all("#resource-roles li", "ls => ls.map(l => l.dataset.id)"))
    assert {"Role/dev/pod-reader", "ClusterRole//read-secrets", "ClusterRole//star", "ClusterRole//cluster-admin"} <= listed
    assert "ClusterRole//create-pods" not in listed
    # A finding drawn: its whole path, highlighted.
    page.select_option("#severity", "critical")
    page.click("#findings li >> nth=0")
    page.wait_for_function("() => kubewardMap.highlighted().length > 3")
    page.screenshot(path=str(ARTIFACTS / "offline-finding.png"))
    assert all(u.startswith("file://") for u in requests), requests


def big_manifest(path, bindings=10_000, namespaces=100, users=2000):
    """10,000 RoleBindings in one List document, as `kubectl get -o yaml` dumps them."""
    items = []
    for n in range(namespaces):
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{n}"}})
        for r in range(5):
            items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                          "metadata": {"name": f"role-{r}", "namespace": f"team-{n}"},
                          "rules": [{"apiGroups": [""], "resources": [["configmaps", "secrets", "pods"][r % 3]], "verbs": ["get", "list"]}]})
    for i in range(bindings):
        ref = ({"kind": "ClusterRole", "name": "view"} if i % 4 == 0 else {"kind": "Role", "name": f"role-{i % 5}"})
        items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {"name": f"rb-{i}", "namespace": f"team-{i % namespaces}"},
                      "roleRef": dict(ref, apiGroup="rbac.authorization.k8s.io"),
                      "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": f"user-{i % users}"},
                                   {"kind": "ServiceAccount", "name": f"sa-{i % 50}", "namespace": f"team-{i % namespaces}"}]})
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return items


def test_ten_thousand_bindings_draw_the_selected_neighbourhood(browser, tmp_path):
    items = big_manifest(tmp_path / "big.json")
    out = tmp_path / "big.html"
    p = kubeward("map", "-f", str(tmp_path / "big.json"), "-o", str(out))
    (tmp_path / "none.yaml").write_text("")
    defaults = kubeward("map", "-f", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "none.html"))
    count = lambda text: int(re.search(r": (\d+) bindings", text).group(1))
    bindings = count(p.stdout)
    assert p.returncode == 0 and bindings == 10_000 + count(defaults.stdout), (p.stdout, defaults.stdout)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.tracing.start(screenshots=True, snapshots=True)
    page = context.new_page()
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready]")
    # What user-17's neighbourhood is, from the manifests themselves.
    mine = [i for i in items if i["kind"] == "RoleBinding" and i["subjects"][0]["name"] == "user-17"]
    roles = {(b["roleRef"]["kind"], b["metadata"]["namespace"] if b["roleRef"]["kind"] == "Role" else "", b["roleRef"]["name"]) for b in mine}
    page.fill("#search", "user-17")
    page.click("#matches li[data-id='User//user-17']")
    page.wait_for_function("() => kubewardMap.highlighted().includes('User//user-17')")
    page.wait_for_function("() => kubewardMap.lastDrawMs() !== null")
    shown = page.evaluate("kubewardMap.shown()")
    assert {i for i in shown if i.startswith("RoleBinding/")} == {f"RoleBinding/{b['metadata']['namespace']}/{b['metadata']['name']}" for b in mine}
    assert {i for i in shown if re.match(r"^(Cluster)?Role/", i) and "#" not in i} == {f"{k}/{ns}/{n}" for k, ns, n in roles}
    subject_ms = page.evaluate("kubewardMap.lastDrawMs()")
    page.screenshot(path=str(ARTIFACTS / "10k-subject.png"))
    # A role bound 2,500 times: drawn capped per column, the rest counted, nothing lost.
    page.evaluate("kubewardMap.select('ClusterRole//view')")
    page.wait_for_function("() => kubewardMap.shown().includes('more:binding')")
    role_ms = page.evaluate("kubewardMap.lastDrawMs()")
    shown = page.evaluate("kubewardMap.shown()")
    view = [i for i in items if i["kind"] == "RoleBinding" and i["roleRef"]["name"] == "view"]
    subjects = {(s["kind"], s.get("namespace", ""), s["name"]) for b in view for s in b["subjects"]}
    assert len([i for i in shown if i.startswith("RoleBinding/")]) == 120
    assert page.evaluate("kubewardMap.label('more:binding')") == f"+{len(view) - 120} more (search to jump)"
    assert page.evaluate("kubewardMap.label('more:subject')") == f"+{len(subjects) - 120} more (search to jump)"
    page.screenshot(path=str(ARTIFACTS / "10k-role.png"))
    context.tracing.stop(path=str(ARTIFACTS / "trace-10k.zip"))
    context.close()
    record = {"bindings": bindings, "subject_neighbourhood_ms": subject_ms, "role_neighbourhood_ms": role_ms,
              "role_nodes_drawn": len(shown)}
    (ARTIFACTS / "draw-10k.json").write_text(json.dumps(record) + "\n")
    print(f"\nmap at 10,000 bindings: a subject's neighbourhood drawn in {subject_ms:.0f} ms, a role bound 2,500 times in {role_ms:.0f} ms")
