//! The default policy's reconciliation at start, through the in-process client.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

mod common;

use registry::kinds::CLUSTER_ROLES;
use serde_json::json;

#[tokio::test]
async fn reconciliation_restores_defaults_but_respects_autoupdate_false() {
    let cluster = common::Cluster::new(&[]).await;
    let api = cluster.admin();
    let api = api.as_ref();
    // Someone strips a default role's rules; the next start puts them back.
    let mut basic = api
        .get(&CLUSTER_ROLES, "", "system:basic-user")
        .await
        .unwrap();
    basic["rules"] = json!([]);
    api.update(&CLUSTER_ROLES, "", "system:basic-user", basic, None)
        .await
        .unwrap();
    // Another is marked protected and narrowed; it stays as its owner left it.
    let mut disc = api
        .get(&CLUSTER_ROLES, "", "system:discovery")
        .await
        .unwrap();
    disc["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false".into();
    disc["rules"] = json!([{"verbs": ["get"], "nonResourceURLs": ["/version"]}]);
    api.update(&CLUSTER_ROLES, "", "system:discovery", disc, None)
        .await
        .unwrap();
    api.delete(&CLUSTER_ROLES, "", "view", &Default::default())
        .await
        .unwrap();

    controllers::ensure_bootstrap_policy(api).await.unwrap();
    let basic = api
        .get(&CLUSTER_ROLES, "", "system:basic-user")
        .await
        .unwrap();
    assert_eq!(basic["rules"].as_array().unwrap().len(), 2);
    let disc = api
        .get(&CLUSTER_ROLES, "", "system:discovery")
        .await
        .unwrap();
    assert_eq!(
        disc["rules"],
        json!([{"verbs": ["get"], "nonResourceURLs": ["/version"]}])
    );
    let view = api.get(&CLUSTER_ROLES, "", "view").await.unwrap();
    assert!(
        view.get("aggregationRule").is_some_and(|a| !a.is_null()),
        "a deleted default is re-created"
    );
    assert!(
        controllers::aggregate_all(api, api).await.unwrap() >= 1,
        "the re-created view is filled"
    );
    let mut rules = std::collections::BTreeMap::new();
    for name in ["view", "edit", "admin"] {
        let role = api.get(&CLUSTER_ROLES, "", name).await.unwrap();
        rules.insert(name, role["rules"].as_array().cloned().unwrap_or_default());
    }
    let (view, edit, admin) = (&rules["view"], &rules["edit"], &rules["admin"]);
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
        controllers::aggregate_all(api, api).await.unwrap(),
        0,
        "a second pass changes nothing"
    );
}

#[tokio::test]
async fn the_controller_roles_are_bound_to_their_accounts() {
    let cluster = common::Cluster::new(&[]).await;
    let api = cluster.admin();
    let binding = api
        .get(
            &registry::kinds::CLUSTER_ROLE_BINDINGS,
            "",
            "system:controller:namespace-controller",
        )
        .await
        .unwrap();
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "namespace-controller", "namespace": "kube-system"}])
    );
    assert_eq!(
        binding["roleRef"]["name"],
        "system:controller:namespace-controller"
    );
    let kcm = api
        .get(
            &registry::kinds::CLUSTER_ROLE_BINDINGS,
            "",
            "system:kube-controller-manager",
        )
        .await
        .unwrap();
    assert_eq!(kcm["subjects"][0]["name"], "system:kube-controller-manager");
}
