"""The official Python client (`pip install kubernetes`) against kubeward."""

import base64
import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from harness import eventually


@pytest.fixture(scope="module")
def core(server):
    api_client = config.new_client_from_config(config_file=server.kubeconfig)
    api = client.CoreV1Api(api_client)
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pyclient")))
    return api


def test_service_account_crud(core):
    sa = core.create_namespaced_service_account("pyclient", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="robot", labels={"team": "a"})))
    assert sa.metadata.uid and sa.metadata.resource_version
    got = core.read_namespaced_service_account("robot", "pyclient")
    assert got.metadata.labels == {"team": "a"}
    listed = core.list_namespaced_service_account("pyclient", label_selector="team=a")
    assert [i.metadata.name for i in listed.items] == ["robot"]
    got.automount_service_account_token = False
    updated = core.replace_namespaced_service_account("robot", "pyclient", got)
    assert updated.automount_service_account_token is False
    assert int(updated.metadata.resource_version) > int(sa.metadata.resource_version)
    core.delete_namespaced_service_account("robot", "pyclient")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_service_account("robot", "pyclient")
    assert e.value.status == 404


def test_secret_crud_with_string_data(core):
    s = client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"password": "hunter2"}, type="Opaque")
    created = core.create_namespaced_secret("pyclient", s)
    assert base64.b64decode(created.data["password"]) == b"hunter2"
    assert created.string_data is None, "stringData is folded into data"
    created.data["user"] = base64.b64encode(b"admin").decode()
    core.replace_namespaced_secret("db", "pyclient", created)
    assert set(core.read_namespaced_secret("db", "pyclient").data) == {"password", "user"}
    core.patch_namespaced_secret("db", "pyclient", {"metadata": {"labels": {"patched": "yes"}}})
    assert core.read_namespaced_secret("db", "pyclient").metadata.labels == {"patched": "yes"}
    core.delete_namespaced_secret("db", "pyclient")
    assert [i.metadata.name for i in core.list_namespaced_secret("pyclient").items] == []


def test_watch_service_accounts_and_secrets(core):
    core.create_namespaced_service_account("pyclient", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="watched")))
    rv = core.list_namespaced_secret("pyclient").metadata.resource_version

    errors = []

    def writer():
        try:
            core.create_namespaced_secret("pyclient", client.V1Secret(metadata=client.V1ObjectMeta(name="w1"), string_data={"a": "b"}))
            core.delete_namespaced_secret("w1", "pyclient")
        except Exception as e:  # checked below
            errors.append(e)

    timer = threading.Timer(0.3, writer)
    timer.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_secret, "pyclient", resource_version=rv, timeout_seconds=20):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    timer.join()
    assert errors == []
    assert seen == [("ADDED", "w1"), ("DELETED", "w1")]

    sa_events = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_service_account, "pyclient", timeout_seconds=20):
        sa_events.append((ev["type"], ev["object"].metadata.name))
        if ev["object"].metadata.name == "watched":
            w.stop()
    assert ("ADDED", "watched") in sa_events, "a watch without resourceVersion starts with the current state"
    assert all(t == "ADDED" for t, _ in sa_events)


def test_token_for_a_second_client(server, core):
    core.create_namespaced_service_account("pyclient", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    token = core.create_namespaced_service_account_token("reader", "pyclient", request).status.token

    cfg = client.Configuration()
    cfg.host = server.url
    cfg.ssl_ca_cert = str(server.data_dir / "pki" / "ca.crt")
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    second = client.CoreV1Api(client.ApiClient(cfg))
    with pytest.raises(ApiException) as e:
        second.list_namespaced_config_map("pyclient")
    assert e.value.status == 403

    rbac = client.RbacAuthorizationV1Api(core.api_client)
    rbac.create_namespaced_role_binding("pyclient", client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="reader-view"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace="pyclient")],
    ))

    def allowed():
        try:
            return second.list_namespaced_config_map("pyclient") is not None
        except ApiException as err:
            assert err.status == 403
            return False

    eventually(allowed, 3.0, "the binding takes effect")


def test_server_side_apply_and_managed_fields(core):
    """The Python client's apply (`application/apply-patch+yaml` with a field manager) and the
    ownership it reads back as typed `V1ManagedFieldsEntry` objects."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "1"}}
    cm = core.patch_namespaced_config_map("applied", "pyclient", body, field_manager="py",
                                          _content_type="application/apply-patch+yaml")
    assert cm.data == {"k": "1"}
    entry = cm.metadata.managed_fields[0]
    assert (entry.manager, entry.operation, entry.fields_type) == ("py", "Apply", "FieldsV1")
    assert entry.fields_v1 == {"f:data": {"f:k": {}}}
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("applied", "pyclient", dict(body, data={"k": "2"}), field_manager="other",
                                         _content_type="application/apply-patch+yaml")
    assert e.value.status == 409
    assert 'conflict with \\"py\\": .data.k' in e.value.body
    cm = core.patch_namespaced_config_map("applied", "pyclient", dict(body, data={"k": "2"}), field_manager="other",
                                          force=True, _content_type="application/apply-patch+yaml")
    assert cm.data == {"k": "2"}
    assert [m.manager for m in cm.metadata.managed_fields] == ["other"]
