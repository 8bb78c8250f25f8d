//! The served kinds, one strategy each. `resources()` is the table that discovery, routing and
//! the registry all read.

mod config;
mod core;
mod pod;
pub(crate) mod rbac;
mod reviews;

use crate::resource::{ResourceDef, ALL_VERBS};

/// Old manifests (the service-account tutorial) use v1beta1; kubectl does not convert them, so
/// the server serves every version (kubectl-contract §0 #9).
const RBAC_VERSIONS: &[&str] = &["v1", "v1beta1", "v1alpha1"];

const NS_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

static RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: NS_VERBS,
        subresources: &["status", "finalize"],
        strategy: &core::NamespaceStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &["token"],
        strategy: &core::ServiceAccountStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &config::SecretStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &config::ConfigMapStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &["status"],
        strategy: &pod::PodStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &["status"],
        strategy: &core::NodeStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &core::EventStrategy,
    },
    ResourceDef {
        group: "",
        versions: &["v1"],
        resource: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        verbs: ALL_VERBS,
        subresources: &["status"],
        strategy: &core::ServiceStrategy,
    },
    ResourceDef {
        group: "coordination.k8s.io",
        versions: &["v1"],
        resource: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &core::LeaseStrategy,
    },
    ResourceDef {
        group: rbac::GROUP,
        versions: RBAC_VERSIONS,
        resource: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &rbac::CLUSTER_ROLE_BINDING,
    },
    ResourceDef {
        group: rbac::GROUP,
        versions: RBAC_VERSIONS,
        resource: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &rbac::ClusterRoleStrategy,
    },
    ResourceDef {
        group: rbac::GROUP,
        versions: RBAC_VERSIONS,
        resource: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &rbac::ROLE_BINDING,
    },
    ResourceDef {
        group: rbac::GROUP,
        versions: RBAC_VERSIONS,
        resource: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        strategy: &rbac::RoleStrategy,
    },
    review(
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
        &reviews::SelfSubjectAccessReviewStrategy,
    ),
    review(
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        false,
        &reviews::SubjectAccessReviewStrategy,
    ),
    review(
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        "LocalSubjectAccessReview",
        true,
        &reviews::LocalSubjectAccessReviewStrategy,
    ),
    review(
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        false,
        &reviews::SelfSubjectRulesReviewStrategy,
    ),
    // kubectl 1.27's `auth whoami` asks v1beta1 only; 1.28+ ask v1 first.
    ResourceDef {
        group: reviews::AUTHENTICATION,
        versions: &["v1", "v1beta1"],
        ..review(
            "selfsubjectreviews",
            "selfsubjectreview",
            "SelfSubjectReview",
            false,
            &reviews::SelfSubjectReviewStrategy,
        )
    },
    ResourceDef {
        group: reviews::AUTHENTICATION,
        ..review(
            "tokenreviews",
            "tokenreview",
            "TokenReview",
            false,
            &reviews::TokenReviewStrategy,
        )
    },
];

/// A review kind: create-only, answered by the server, never stored.
const fn review(
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    strategy: &'static dyn crate::resource::Strategy,
) -> ResourceDef {
    ResourceDef {
        group: reviews::AUTHORIZATION,
        versions: &["v1"],
        resource,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: &["create"],
        subresources: &[],
        strategy,
    }
}

/// Every served resource.
pub fn resources() -> &'static [ResourceDef] {
    RESOURCES
}

/// The served resource `resource` of API group `group` (`""` for core). Callers name
/// resources this table holds; anything else is a programming error.
pub fn served(group: &str, resource: &str) -> &'static ResourceDef {
    RESOURCES
        .iter()
        .find(|d| d.group == group && d.resource == resource)
        .unwrap_or_else(|| panic!("{resource}.{group} is not a served resource"))
}
