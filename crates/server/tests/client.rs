//! The in-process client: every verb through the handler chain as one identity, read back as
//! the objects and Status errors a remote client would see.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use api_types::{StatusReason, UserInfo};
use registry::kinds::{CONFIG_MAPS, NAMESPACES};
use registry::{Client, ListOptions, PatchType, WatchRequest};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

async fn state() -> Arc<server::State> {
    let storage: Arc<dyn storage::Storage> = Arc::new(storage::MemoryStorage::new());
    let registry = Arc::new(registry::Registry::new(
        storage,
        Arc::new(jiff::Timestamp::now),
    ));
    registry.ensure_namespaces(&["default", "team"]).unwrap();
    let index = Arc::new(authz::rbac::Index::new());
    let state = Arc::new(server::State::new(
        registry,
        "127.0.0.1:6443".into(),
        false,
        Some(index.clone()),
    ));
    controllers::post_start(admin(&state), Some(index))
        .await
        .unwrap();
    state
}

fn admin(state: &Arc<server::State>) -> Arc<dyn Client> {
    Arc::new(server::InProcess::new(
        state.clone(),
        UserInfo::authenticated("system:apiserver", &["system:masters"]),
        "kube-apiserver",
    ))
}

#[tokio::test]
async fn every_verb_goes_through_the_chain() {
    let state = state().await;
    let api = admin(&state);
    let cm = json!({"metadata": {"name": "a"}, "data": {"k": "1"}});
    let created = api.create(&CONFIG_MAPS, "team", cm).await.unwrap();
    assert_eq!(created["kind"], "ConfigMap", "the client sent the type");
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "kube-apiserver"
    );
    let err = api
        .create(&CONFIG_MAPS, "team", json!({"metadata": {"name": "a"}}))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.reason), (409, StatusReason::AlreadyExists));
    assert_eq!(err.message, "configmaps \"a\" already exists");

    let merged = api
        .patch(
            &CONFIG_MAPS,
            "team",
            "a",
            PatchType::Merge,
            json!({"data": {"k": "2"}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(merged["data"]["k"], "2");
    let applied = api
        .patch(
            &CONFIG_MAPS,
            "team",
            "b",
            PatchType::Apply { force: false },
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"x": "y"}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        applied["metadata"]["managedFields"][0]["operation"],
        "Apply"
    );

    let mut got = api.get(&CONFIG_MAPS, "team", "a").await.unwrap();
    got["data"]["k"] = "3".into();
    let updated = api
        .update(&CONFIG_MAPS, "team", "a", got, None)
        .await
        .unwrap();
    assert_eq!(updated["data"]["k"], "3");

    let list = api
        .list(&CONFIG_MAPS, Some("team"), &ListOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = list
        .items
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(!list.resource_version.is_empty());

    let mut events = api
        .watch(
            &CONFIG_MAPS,
            Some("team"),
            WatchRequest {
                resource_version: list.resource_version.clone(),
                timeout: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    api.delete(&CONFIG_MAPS, "team", "a", &Default::default())
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.type_, &ev.object["metadata"]["name"]),
        ("DELETED", &json!("a"))
    );

    let gone = api
        .delete_collection(&CONFIG_MAPS, "team", &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    let err = api.get(&CONFIG_MAPS, "team", "b").await.unwrap_err();
    assert_eq!((err.code, err.reason), (404, StatusReason::NotFound));
    let err = api
        .watch(
            &CONFIG_MAPS,
            None,
            WatchRequest {
                resource_version: "1".into(),
                field_selector: "bogus=1".into(),
                timeout: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code, 400,
        "a watch that cannot start is its Status: {err:?}"
    );
}

#[tokio::test]
async fn a_client_is_authorized_as_its_user() {
    let state = state().await;
    let nobody = server::InProcess::new(
        state.clone(),
        UserInfo::authenticated("nobody", &[]),
        "test",
    );
    let err = nobody.get(&NAMESPACES, "", "team").await.unwrap_err();
    assert_eq!((err.code, err.reason), (403, StatusReason::Forbidden));
    assert_eq!(
        err.message,
        "namespaces \"team\" is forbidden: User \"nobody\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"team\""
    );
}

#[tokio::test]
async fn a_pod_is_bound_to_a_node_once() {
    use registry::kinds::{PODS, SERVICE_ACCOUNTS};
    let state = state().await;
    let api = admin(&state);
    api.create(
        &SERVICE_ACCOUNTS,
        "team",
        json!({"metadata": {"name": "default"}}),
    )
    .await
    .unwrap();
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    api.create(&PODS, "team", pod).await.unwrap();
    let bind = |name: &str, target: Value| {
        let api = api.clone();
        let body = json!({"metadata": {"name": name}, "target": target});
        async move {
            api.create_subresource(&PODS, "team", "p", "binding", body)
                .await
        }
    };
    let status = bind("p", json!({"kind": "Node", "name": "n1"}))
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    let bound = api.get(&PODS, "team", "p").await.unwrap();
    assert_eq!(bound["spec"]["nodeName"], "n1");
    let scheduled = &bound["status"]["conditions"][0];
    assert_eq!(
        (&scheduled["type"], &scheduled["status"]),
        (&json!("PodScheduled"), &json!("True"))
    );
    assert!(scheduled["lastTransitionTime"].is_string());

    let again = bind("p", json!({"name": "n2"})).await.unwrap_err();
    assert_eq!(again.code, 409);
    assert_eq!(
        again.message,
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n1\""
    );
    let other = bind("q", json!({"name": "n2"})).await.unwrap_err();
    assert_eq!(
        (other.code, other.message.as_str()),
        (400, "name in URL does not match name in Binding object")
    );
    let no_target = bind("p", json!({})).await.unwrap_err();
    assert_eq!(no_target.code, 422);
    assert_eq!(
        no_target.message,
        "Binding \"p\" is invalid: target.name: Required value"
    );
    let wrong_kind = bind("p", json!({"kind": "Pod", "name": "n1"}))
        .await
        .unwrap_err();
    assert_eq!(wrong_kind.code, 422, "{}", wrong_kind.message);

    // Discovery lists it, with the kind it takes.
    let req = http::Request::builder()
        .uri("/api/v1")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = server::chain::handle_as(
        state.clone(),
        UserInfo::authenticated("system:apiserver", &["system:masters"]),
        req,
    )
    .await;
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let list: Value = serde_json::from_slice(&body).unwrap();
    let entry = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/binding")
        .expect("pods/binding in discovery");
    assert_eq!(
        (&entry["kind"], &entry["verbs"]),
        (&json!("Binding"), &json!(["create"]))
    );
}
