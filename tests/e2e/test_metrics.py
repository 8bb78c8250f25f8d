"""/metrics: kube-apiserver's request metrics, equal to what the test sent, and readable only
with the right to (system:monitoring, or system:masters)."""

import re

from harness import Server

LINE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$')


def scrape(server):
    status, headers, body = server.request("GET", "/metrics", headers={"Accept": "*/*"})
    assert status == 200 and headers["content-type"].startswith("application/openmetrics-text")
    text = body.decode() if isinstance(body, bytes) else str(body)
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
            out.setdefault(m["name"], []).append((labels, float(m["value"])))
    return out


def value(metrics, name, **want):
    found = [v for labels, v in metrics.get(name, []) if all(labels.get(k) == w for k, w in want.items())]
    return sum(found)


def test_request_metrics_count_what_was_sent(tmp_path):
    server = Server(data_dir=tmp_path)
    try:
        roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles"
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": []}
        for _ in range(3):
            assert server.request("GET", roles)[0] == 200
        for _ in range(2):
            assert server.request("GET", roles + "/missing")[0] == 404
        assert server.request("POST", roles, role)[0] == 201
        m = scrape(server)
        rbac = {"group": "rbac.authorization.k8s.io", "version": "v1", "resource": "roles", "component": "apiserver"}
        assert value(m, "apiserver_request_total", verb="LIST", scope="namespace", code="200", **rbac) == 3
        assert value(m, "apiserver_request_total", verb="GET", scope="resource", code="404", **rbac) == 2
        assert value(m, "apiserver_request_total", verb="POST", scope="resource", code="201", **rbac) == 1
        assert value(m, "apiserver_request_duration_seconds_count", verb="LIST", scope="namespace", **rbac) == 3
        assert value(m, "apiserver_request_duration_seconds_bucket", verb="LIST", scope="namespace", le="60.0", **rbac) == 3
        assert value(m, "apiserver_response_sizes_count", verb="GET", scope="resource", **rbac) == 2
        assert value(m, "apiserver_authorization_decisions_total", decision="allowed") >= 6
        # Every request from the network was authenticated once (the scrape itself not yet).
        assert value(m, "authentication_duration_seconds_count", result="success") >= 6
        assert server.request("GET", "/api", headers={"Authorization": "Bearer nope"}, admin=False)[0] == 401
        assert value(scrape(server), "authentication_duration_seconds_count", result="failure") == 1
        # Made-up paths add no series: resource labels come only from served kinds.
        before = len(m["apiserver_request_total"])
        for i in range(50):
            assert server.request("GET", f"/apis/g{i}.example/v{i}/things{i}/x")[0] == 404
            assert server.request("GET", f"/api/v1/namespaces/default/pods/p/sub{i}")[0] == 404
        after = scrape(server)
        assert not [l for l, _ in after["apiserver_request_total"] if "example" in l["group"] or l["subresource"].startswith("sub")]
        assert len(after["apiserver_request_total"]) <= before + 4, "a flood of made-up paths is a few series"
        # The in-process clients are counted too: the controllers' watches are long-running.
        assert value(after, "apiserver_longrunning_requests", verb="WATCH") >= 1
    finally:
        server.stop()


def test_metrics_need_the_right(tmp_path):
    server = Server(data_dir=tmp_path)
    try:
        refused = server.kubectl("1.33", "--as", "nobody", "get", "--raw", "/metrics", check=False)
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower()
        allowed = server.kubectl("1.33", "--as", "watcher", "--as-group", "system:monitoring", "get", "--raw", "/metrics")
        assert "apiserver_request_total" in allowed.stdout
    finally:
        server.stop()
