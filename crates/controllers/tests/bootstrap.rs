#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]
use registry::{Registry, WriteOptions};
use serde_json::json;
use std::sync::Arc;
use storage::MemoryStorage;

fn clusterroles() -> &'static registry::ResourceDef {
    registry::resources()
        .iter()
        .find(|d| d.resource == "clusterroles")
        .unwrap()
}

#[test]
fn reconciliation_restores_defaults_but_respects_autoupdate_false() {
    let reg = Registry::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(jiff::Timestamp::now),
    );
    controllers::ensure_bootstrap_policy(&reg).unwrap();
    assert!(
        controllers::aggregate_all(&reg).unwrap() >= 3,
        "admin, edit and view are filled"
    );
    // Someone strips a default role's rules; the next start puts them back.
    let mut basic = reg.get(clusterroles(), "", "system:basic-user").unwrap();
    basic["rules"] = json!([]);
    reg.update(
        clusterroles(),
        "",
        "system:basic-user",
        basic,
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    // Another is marked protected and narrowed; it stays as its owner left it.
    let mut disc = reg.get(clusterroles(), "", "system:discovery").unwrap();
    disc["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false".into();
    disc["rules"] = json!([{"verbs": ["get"], "nonResourceURLs": ["/version"]}]);
    reg.update(
        clusterroles(),
        "",
        "system:discovery",
        disc,
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    reg.delete(clusterroles(), "", "view", &Default::default())
        .unwrap();

    controllers::ensure_bootstrap_policy(&reg).unwrap();
    let basic = reg.get(clusterroles(), "", "system:basic-user").unwrap();
    assert_eq!(basic["rules"].as_array().unwrap().len(), 2);
    let disc = reg.get(clusterroles(), "", "system:discovery").unwrap();
    assert_eq!(
        disc["rules"],
        json!([{"verbs": ["get"], "nonResourceURLs": ["/version"]}])
    );
    let view = reg.get(clusterroles(), "", "view").unwrap();
    assert!(
        view.get("aggregationRule").is_some_and(|a| !a.is_null()),
        "a deleted default is re-created"
    );
    controllers::aggregate_all(&reg).unwrap();
    let rules = |name: &str| {
        reg.get(clusterroles(), "", name).unwrap()["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let (view, edit, admin) = (rules("view"), rules("edit"), rules("admin"));
    assert!(!view.is_empty());
    assert!(
        view.iter().all(|r| edit.contains(r)),
        "edit holds view's rules again"
    );
    assert!(
        edit.iter().all(|r| admin.contains(r)),
        "admin holds edit's rules"
    );
    assert_eq!(
        controllers::aggregate_all(&reg).unwrap(),
        0,
        "a second pass changes nothing"
    );
}
