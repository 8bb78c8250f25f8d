//! The namespace controller, through the in-process client as its own identity.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

mod common;

use registry::kinds::{CONFIG_MAPS, NAMESPACES};
use registry::{ListOptions, WatchRequest};
use serde_json::json;
use std::time::Duration;

fn cm(name: &str, finalizers: &[&str]) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "finalizers": finalizers}})
}

#[tokio::test]
async fn a_terminating_namespace_is_emptied_then_removed() {
    let cluster = common::Cluster::new(&["doomed"]).await;
    let admin = cluster.admin();
    let admin = admin.as_ref();
    let controller = cluster.client(controllers::manager::controller_user(
        controllers::manager::NAMESPACE_CONTROLLER,
    ));
    admin
        .create(&CONFIG_MAPS, "doomed", cm("a", &[]))
        .await
        .unwrap();
    admin
        .create(&CONFIG_MAPS, "doomed", cm("held", &["example.com/hold"]))
        .await
        .unwrap();
    let d = admin
        .delete(&NAMESPACES, "", "doomed", &Default::default())
        .await
        .unwrap();
    assert_eq!(d["status"]["phase"], "Terminating");

    // An object with its own finalizer keeps the namespace.
    assert!(
        !controllers::finalize_namespace(controller.as_ref(), "doomed")
            .await
            .unwrap()
    );
    assert_eq!(
        admin.get(&NAMESPACES, "", "doomed").await.unwrap()["status"]["phase"],
        "Terminating"
    );
    let mut held = admin.get(&CONFIG_MAPS, "doomed", "held").await.unwrap();
    held["metadata"]["finalizers"] = json!([]);
    admin
        .update(&CONFIG_MAPS, "doomed", "held", held, None)
        .await
        .unwrap();

    assert!(
        controllers::finalize_namespace(controller.as_ref(), "doomed")
            .await
            .unwrap()
    );
    assert_eq!(
        admin.get(&NAMESPACES, "", "doomed").await.unwrap_err().code,
        404
    );
    assert!(admin
        .list(&CONFIG_MAPS, Some("doomed"), &ListOptions::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn the_controller_finalizes_namespaces_it_sees_deleted() {
    let cluster = common::Cluster::new(&["gone"]).await;
    let admin = cluster.admin();
    admin
        .create(&CONFIG_MAPS, "gone", cm("a", &[]))
        .await
        .unwrap();
    // Watch namespaces first, so the test waits on the DELETED event, not on time.
    let opts = WatchRequest {
        resource_version: admin
            .list(&NAMESPACES, None, &ListOptions::default())
            .await
            .unwrap()
            .resource_version,
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let mut events = admin.watch(&NAMESPACES, None, opts).await.unwrap();
    let mut manager = controllers::ControllerManager::new(
        cluster.connect(),
        "ca".into(),
        std::sync::Arc::new(|_| String::new()),
    );
    manager.namespace_resync = Duration::from_secs(1);
    manager.start().await.unwrap();
    admin
        .delete(&NAMESPACES, "", "gone", &Default::default())
        .await
        .unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .unwrap()
            .unwrap();
        if ev.type_ == "DELETED" && ev.object["metadata"]["name"] == "gone" {
            break;
        }
    }
    assert!(admin
        .list(&CONFIG_MAPS, Some("gone"), &ListOptions::default())
        .await
        .unwrap()
        .items
        .is_empty());
}
