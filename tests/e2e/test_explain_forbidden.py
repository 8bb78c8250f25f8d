"""--explain-forbidden: a 403 names the nearest miss, and the binding only to a caller allowed
to read it; without the flag the message is upstream's, byte for byte (the other suites)."""

import pytest

from harness import Server, user_kubeconfig


@pytest.fixture(scope="module")
def hinting():
    s = Server(args=["--explain-forbidden"])
    yield s
    s.stop()


def forbidden(server, version, kc, *args):
    r = server.kubectl(version, *args, kubeconfig=kc, check=False)
    assert r.returncode != 0
    return r.stderr.strip()


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_a_403_says_what_the_nearest_rule_lacks(hinting, version):
    ns = "hint-" + version.replace(".", "")
    user = f"alice{version.replace('.', '')}"
    hinting.kubectl(version, "create", "ns", ns)
    hinting.kubectl(version, "-n", ns, "create", "role", "reader", "--verb=get,list", "--resource=pods")
    hinting.kubectl(version, "-n", ns, "create", "rolebinding", "reader", "--role=reader", f"--user={user}")
    kc = user_kubeconfig(hinting, user)
    msg = forbidden(hinting, version, kc, "-n", ns, "delete", "pod", "x")
    assert msg == (f'Error from server (Forbidden): pods "x" is forbidden: User "{user}" cannot delete resource "pods" '
                   f'in API group "" in the namespace "{ns}"; kubeward: the nearest rule bound to you lacks the verb "delete"')
    msg = forbidden(hinting, version, kc, "-n", ns, "get", "secrets")
    assert msg.endswith('; kubeward: no rule bound to you is about the resource "secrets"'), msg
    # Once it may read its bindings, they are named.
    hinting.kubectl(version, "-n", ns, "create", "role", "see-bindings", "--verb=get", "--resource=rolebindings")
    hinting.kubectl(version, "-n", ns, "create", "rolebinding", "see-bindings", "--role=see-bindings", f"--user={user}")
    msg = forbidden(hinting, version, kc, "-n", ns, "delete", "pod", "x")
    assert msg.endswith(f'; kubeward: nearest grant: RoleBinding "{ns}/reader" → Role "reader", which lacks the verb "delete"'), msg


def test_no_hint_for_callers_that_may_not_read_their_rules(hinting):
    r = hinting.request("GET", "/api/v1/namespaces", admin=False)
    status, _, body = r
    assert status == 403
    assert body["message"] == ('namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
                               'in API group "" at the cluster scope')
