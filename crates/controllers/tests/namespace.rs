#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]
use registry::{DeleteOptions, ListOptions, Registry, WriteOptions};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use storage::MemoryStorage;

fn cm(name: &str, finalizers: &[&str]) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "finalizers": finalizers}})
}

#[test]
fn a_terminating_namespace_is_emptied_then_removed() {
    let reg = Registry::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(jiff::Timestamp::now),
    );
    reg.ensure_namespaces(&["doomed"]).unwrap();
    reg.create(
        &registry::kinds::CONFIG_MAPS,
        "doomed",
        cm("a", &[]),
        &WriteOptions::default(),
    )
    .unwrap();
    reg.create(
        &registry::kinds::CONFIG_MAPS,
        "doomed",
        cm("held", &["example.com/hold"]),
        &WriteOptions::default(),
    )
    .unwrap();
    let d = reg
        .delete(
            &registry::kinds::NAMESPACES,
            "",
            "doomed",
            &DeleteOptions::default(),
        )
        .unwrap();
    assert!(!d.finished);
    assert_eq!(d.object["status"]["phase"], "Terminating");

    // An object with its own finalizer keeps the namespace.
    assert!(!controllers::finalize_namespace(&reg, "doomed").unwrap());
    assert_eq!(
        reg.get(&registry::kinds::NAMESPACES, "", "doomed").unwrap()["status"]["phase"],
        "Terminating"
    );
    let mut held = reg
        .get(&registry::kinds::CONFIG_MAPS, "doomed", "held")
        .unwrap();
    held["metadata"]["finalizers"] = json!([]);
    reg.update(
        &registry::kinds::CONFIG_MAPS,
        "doomed",
        "held",
        held,
        None,
        &WriteOptions::default(),
    )
    .unwrap();

    assert!(controllers::finalize_namespace(&reg, "doomed").unwrap());
    assert_eq!(
        reg.get(&registry::kinds::NAMESPACES, "", "doomed")
            .unwrap_err()
            .code,
        404
    );
    assert!(reg
        .list(
            &registry::kinds::CONFIG_MAPS,
            Some("doomed"),
            &ListOptions::default()
        )
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn the_controller_finalizes_namespaces_it_sees_deleted() {
    let reg = Arc::new(Registry::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(jiff::Timestamp::now),
    ));
    reg.ensure_namespaces(&["gone"]).unwrap();
    reg.create(
        &registry::kinds::CONFIG_MAPS,
        "gone",
        cm("a", &[]),
        &WriteOptions::default(),
    )
    .unwrap();
    // Watch namespaces first, so the test waits on the DELETED event, not on time.
    let opts = registry::WatchOptions {
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let mut events = reg.watch(&registry::kinds::NAMESPACES, None, opts).unwrap();
    tokio::spawn(controllers::run_namespace_controller(
        reg.clone(),
        Duration::from_secs(1),
    ));
    reg.delete(
        &registry::kinds::NAMESPACES,
        "",
        "gone",
        &DeleteOptions::default(),
    )
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
    assert!(reg
        .list(
            &registry::kinds::CONFIG_MAPS,
            Some("gone"),
            &ListOptions::default()
        )
        .unwrap()
        .items
        .is_empty());
}
