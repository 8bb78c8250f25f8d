"""Every installed kubectl from 1.27 to 1.33: the commands that need OpenAPI (create -f,
replace -f), aggregated or legacy discovery, and protobuf (1.32+) work."""

import json

import pytest

from harness import without_defaults

ALL_VERSIONS = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]


@pytest.mark.parametrize("v", ALL_VERSIONS)
def test_create_replace_and_generators_on_every_version(server, v, tmp_path):
    ns = "ver-" + v.replace(".", "")
    f = tmp_path / "ns.yaml"
    f.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: {ns}\ndata:\n  a: '1'\n")
    assert server.kubectl(v, "create", "-f", str(f)).stdout.splitlines() == [f"namespace/{ns} created", "configmap/c created"]
    cm = json.loads(server.kubectl(v, "-n", ns, "get", "cm", "c", "-o", "json").stdout)
    cm["data"]["a"] = "2"
    g = tmp_path / "c.json"
    g.write_text(json.dumps(cm))
    assert "configmap/c replaced" in server.kubectl(v, "replace", "-f", str(g)).stdout
    # Typed-client generators (protobuf bodies from 1.32 on).
    server.kubectl(v, "-n", ns, "create", "sa", "bot")
    server.kubectl(v, "-n", ns, "create", "secret", "generic", "s", "--from-literal=k=v")
    names = without_defaults(server.kubectl(v, "-n", ns, "get", "sa,secret,cm", "-o", "name").stdout.split())
    assert names == ["serviceaccount/bot", "secret/s", "configmap/c"]
    assert server.kubectl(v, "-n", ns, "get", "cm", "c", "-o", "jsonpath={.data.a}").stdout == "2"


def test_sort_by_asks_for_full_objects_in_table_rows(server):
    ns = "sorted"
    server.kubectl("1.33", "create", "ns", ns)
    for name in ["b", "c", "a"]:
        server.kubectl("1.33", "-n", ns, "create", "cm", name)
    out = without_defaults(server.kubectl("1.33", "-n", ns, "get", "cm", "--sort-by=.metadata.name", "-o", "name").stdout.split())
    assert out == ["configmap/a", "configmap/b", "configmap/c"]
    table = server.kubectl("1.27", "-n", ns, "get", "cm", "--sort-by=.metadata.name").stdout.splitlines()
    assert [n for n in (line.split()[0] for line in table[1:]) if n != "kube-root-ca.crt"] == ["a", "b", "c"]


@pytest.mark.parametrize("v", ALL_VERSIONS)
def test_validation_apply_and_explain_on_every_version(server, v, tmp_path):
    """With real schemas served, every kubectl still leaves validation to the server (the v3
    documents advertise fieldValidation), merges client-side apply by the schemas' list rules,
    and explains fields from them."""
    ns = "val-" + v.replace(".", "")
    server.kubectl(v, "create", "ns", ns)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nbogus: 1\ndata:\n  a: '1'\n")
    r = server.kubectl(v, "-n", ns, "create", "-f", str(bad), check=False)
    assert r.returncode != 0
    assert 'strict decoding error: unknown field "bogus"' in r.stderr
    assert "configmap/bad created" in server.kubectl(v, "-n", ns, "create", "--validate=false", "-f", str(bad)).stdout
    sa = tmp_path / "sa.yaml"
    sa.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\nsecrets:\n- name: one\n")
    server.kubectl(v, "-n", ns, "apply", "-f", str(sa))
    server.kubectl(v, "-n", ns, "patch", "sa", "s", "-p", '{"secrets":[{"name":"two"}]}')
    sa.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\nsecrets:\n- name: three\n")
    server.kubectl(v, "-n", ns, "apply", "-f", str(sa))
    got = json.loads(server.kubectl(v, "-n", ns, "get", "sa", "s", "-o", "json").stdout)["secrets"]
    # Merged by name: the patched entry stays, the applied one is replaced.
    assert sorted(s["name"] for s in got) == ["three", "two"]
    out = server.kubectl(v, "explain", "rolebinding.roleRef").stdout
    assert "FIELD: roleRef <RoleRef>" in out
    assert "Name is the name of resource being referenced" in out
