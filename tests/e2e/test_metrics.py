"""/metrics: kube-apiserver's request metrics, equal to what the test sent, and readable only
with the right to (system:monitoring, or system:masters)."""

import json
import re

from harness import Server, eventually

LINE = re.compile(r'^(?P<name>[a-z_]+)(\{(?P<labels>[^}]*)\})? (?P<value>[0-9.e+]+)$')


def scrape(server):
    status, headers, body = server.request("GET", "/metrics", headers={"Accept": "*/*"})
    assert status == 200 and headers["content-type"].startswith("application/openmetrics-text")
    text = body.decode() if isinstance(body, bytes) else str(body)
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"] or ""))
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
        rbac = {"group": "rbac.authorization.k8s.io", "version": "v1", "resource": "roles", "component": "apiserver"}
        # The server made kube-system's and kube-public's default Roles itself at start.
        made_at_start = value(scrape(server), "apiserver_request_total", verb="POST", scope="resource", code="201", **rbac)
        assert server.request("POST", roles, role)[0] == 201
        m = scrape(server)
        assert value(m, "apiserver_request_total", verb="LIST", scope="namespace", code="200", **rbac) == 3
        assert value(m, "apiserver_request_total", verb="GET", scope="resource", code="404", **rbac) == 2
        assert value(m, "apiserver_request_total", verb="POST", scope="resource", code="201", **rbac) == made_at_start + 1
        assert value(m, "apiserver_request_duration_seconds_count", verb="LIST", scope="namespace", **rbac) == 3
        assert value(m, "apiserver_request_duration_seconds_bucket", verb="LIST", scope="namespace", le="60.0", **rbac) == 3
        assert value(m, "apiserver_response_sizes_count", verb="GET", scope="resource", **rbac) == 2
        assert value(m, "apiserver_authorization_decisions_total", decision="allowed") >= 6
        # Every request from the network was authenticated once (the scrape itself not yet).
        assert value(m, "authentication_duration_seconds_count", result="success") >= 6
        assert server.request("GET", "/api", headers={"Authorization": "Bearer nope"}, admin=False)[0] == 401
        failed = scrape(server)
        assert value(failed, "authentication_duration_seconds_count", result="failure") == 1
        assert value(failed, "authentication_attempts_total", result="failure") == 1
        assert value(failed, "authentication_attempts_total", result="success") == value(
            failed, "authentication_duration_seconds_count", result="success")
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


def test_storage_watcher_and_process_metrics(tmp_path):
    import threading
    import time as _time

    started_at = _time.time()
    server = Server(data_dir=tmp_path)
    try:
        secrets = "/api/v1/namespaces/default/secrets"
        before = scrape(server)
        stored = value(before, "apiserver_storage_objects", resource="secrets")
        creates = value(before, "etcd_request_duration_seconds_count", operation="create", type="secrets")
        for i in range(4):
            assert server.request("POST", secrets, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"}})[0] == 201
        assert server.request("DELETE", secrets + "/s0")[0] == 200
        m = scrape(server)
        # Objects as the store counts them: 4 created, 1 deleted.
        assert value(m, "apiserver_storage_objects", resource="secrets") == stored + 3
        roles = server.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles")[2]["items"]
        assert value(m, "apiserver_storage_objects", resource="clusterroles.rbac.authorization.k8s.io") == len(roles)
        # Every backend call is timed, by operation and group-resource.
        assert value(m, "etcd_request_duration_seconds_count", operation="create", type="secrets") == creates + 4
        assert value(m, "etcd_request_duration_seconds_count", operation="delete", type="secrets") >= 1
        assert not [l for l, _ in m["etcd_request_duration_seconds_count"] if l["type"] == "other"]
        # A watch of config maps is a registered watcher while it is open.
        watchers = value(m, "apiserver_registered_watchers", group="", version="v1", kind="ConfigMap")
        stop = threading.Event()
        opened = threading.Event()

        def watch():
            import http.client
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True))
            conn.request("GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=30")
            resp = conn.getresponse()
            assert resp.status == 200
            opened.set()
            stop.wait(30)
            resp.close()
            conn.close()

        t = threading.Thread(target=watch, daemon=True)
        t.start()
        assert opened.wait(10)
        during = value(scrape(server), "apiserver_registered_watchers", group="", version="v1", kind="ConfigMap")
        assert during == watchers + 1
        stop.set()
        t.join(10)
        # The client left while nothing happened: the watch ends then, not at the next event.
        eventually(lambda: value(scrape(server), "apiserver_registered_watchers", group="", version="v1",
                                 kind="ConfigMap") == watchers, 10, "the abandoned watch let go")
        # The process collector's figures are this process's.
        p = scrape(server)
        rss = value(p, "process_resident_memory_bytes")
        assert 1 << 20 < rss < 4 << 30, rss
        assert value(p, "process_open_fds") >= 3
        assert value(p, "process_max_fds") >= value(p, "process_open_fds")
        assert abs(value(p, "process_start_time_seconds") - started_at) < 30
        assert value(p, "process_cpu_seconds_total") > 0
    finally:
        server.stop()


def test_two_hundred_watches_cost_one_store_watch(tmp_path):
    """The watch cache: 200 clients watching config maps are served by the one store watch the
    cache opened for them (counted by the server), and each sees the next write."""
    import http.client

    server = Server(data_dir=tmp_path)
    conns = []
    try:
        path = "/api/v1/namespaces/default/configmaps"
        # The root CA publisher writes its config map into each namespace after the server is
        # ready: once it is there, the next write in the namespace is the test's.
        eventually(lambda: server.request("GET", path + "/kube-root-ca.crt")[0] == 200, 10, "kube-root-ca.crt in default")
        rv = server.request("GET", path)[2]["metadata"]["resourceVersion"]
        before = scrape(server)
        watches = value(before, "kubeward_watch_cache_store_watches_total", resource="configmaps")
        inits = value(before, "apiserver_watch_cache_initializations_total", resource="configmaps")
        assert inits == 1 and watches >= 1, "the informers' watches made the cache at start"
        registered = value(before, "apiserver_registered_watchers", group="", version="v1", kind="ConfigMap")
        for _ in range(200):
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls(True), timeout=20)
            conn.request("GET", f"{path}?watch=1&resourceVersion={rv}&timeoutSeconds=60")
            resp = conn.getresponse()
            assert resp.status == 200
            conns.append((conn, resp))
        during = scrape(server)
        assert value(during, "apiserver_registered_watchers", group="", version="v1", kind="ConfigMap") == registered + 200
        assert server.request("POST", path, {"metadata": {"name": "seen-by-all"}})[0] == 201
        for _, resp in conns:
            event = json.loads(resp.readline())
            assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "seen-by-all")
        after = scrape(server)
        assert value(after, "kubeward_watch_cache_store_watches_total", resource="configmaps") == watches, "no store watch for the 200"
        assert value(after, "apiserver_watch_cache_initializations_total", resource="configmaps") == 1
    finally:
        for conn, _ in conns:
            conn.close()
        server.stop()
