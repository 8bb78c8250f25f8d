//! The served kinds, one strategy each. `resources()` is the table that discovery, routing and
//! the registry all read.

mod config;
mod core;
mod pod;

use crate::resource::{ResourceDef, ALL_VERBS};

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
        subresources: &[],
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
        verbs: &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
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
];

/// Every served resource.
pub fn resources() -> &'static [ResourceDef] {
    RESOURCES
}
