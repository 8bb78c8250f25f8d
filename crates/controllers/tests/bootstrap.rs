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

#[tokio::test]
async fn the_namespaced_defaults_are_made_and_reconciled() {
    use registry::kinds::{ROLES, ROLE_BINDINGS};
    let cluster = common::Cluster::new(&[]).await;
    let api = cluster.admin();
    let api = api.as_ref();
    let reader = api
        .get(
            &ROLES,
            "kube-system",
            "extension-apiserver-authentication-reader",
        )
        .await
        .unwrap();
    assert_eq!(
        reader["rules"],
        json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["extension-apiserver-authentication"], "verbs": ["get", "list", "watch"]}])
    );
    let signer = api
        .get(
            &ROLE_BINDINGS,
            "kube-public",
            "system:controller:bootstrap-signer",
        )
        .await
        .unwrap();
    assert_eq!(
        signer["subjects"],
        json!([{"kind": "ServiceAccount", "name": "bootstrap-signer", "namespace": "kube-system"}])
    );
    // Stripped rules come back; a binding pointed at another role is replaced.
    let mut cleaner = api
        .get(&ROLES, "kube-system", "system:controller:token-cleaner")
        .await
        .unwrap();
    cleaner["rules"] = json!([]);
    api.update(
        &ROLES,
        "kube-system",
        "system:controller:token-cleaner",
        cleaner,
        None,
    )
    .await
    .unwrap();
    let name = "system::leader-locking-kube-scheduler";
    api.delete(&ROLE_BINDINGS, "kube-system", name, &Default::default())
        .await
        .unwrap();
    api.create(
        &ROLE_BINDINGS,
        "kube-system",
        json!({"metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "system:controller:cloud-provider"},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory"}]}),
    )
    .await
    .unwrap();

    controllers::ensure_bootstrap_policy(api).await.unwrap();
    let cleaner = api
        .get(&ROLES, "kube-system", "system:controller:token-cleaner")
        .await
        .unwrap();
    assert_eq!(cleaner["rules"].as_array().unwrap().len(), 2);
    let locking = api.get(&ROLE_BINDINGS, "kube-system", name).await.unwrap();
    assert_eq!(locking["roleRef"]["name"], name);
    let subjects: Vec<&str> = locking["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(subjects, ["system:kube-scheduler", "kube-scheduler"]);
    // What audit-rbac and the map count as the bootstrap policy's own includes them.
    let defaults = controllers::bootstrap_bindings();
    assert!(defaults
        .role_bindings
        .contains_key(&("kube-system".to_string(), name.to_string())));
}
