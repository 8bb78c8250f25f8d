//! The served kinds, one strategy each, each a constant (`kinds::PODS`, ...) that code names
//! kinds by. `resources()` is the table that discovery, routing and the registry all read.

mod config;
mod core;
mod discovery;
mod pod;
pub use pod::bind as bind_pod;
pub(crate) mod rbac;
mod reviews;

use crate::resource::{ResourceDef, Subresource, ALL_VERBS};

/// Old manifests (the service-account tutorial) use v1beta1; kubectl does not convert them, so
/// the server serves every version (kubectl-contract §0 #9).
const RBAC_VERSIONS: &[&str] = &["v1", "v1beta1", "v1alpha1"];

const NS_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// `namespaces`.
pub static NAMESPACES: ResourceDef = ResourceDef {
    group: "",
    versions: &["v1"],
    resource: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    short_names: &["ns"],
    categories: &[],
    verbs: NS_VERBS,
    subresources: &[Subresource::STATUS, Subresource::FINALIZE],
    strategy: &core::NamespaceStrategy,
};

/// `serviceaccounts`.
pub static SERVICE_ACCOUNTS: ResourceDef = ResourceDef {
    group: "",
    versions: &["v1"],
    resource: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    namespaced: true,
    short_names: &["sa"],
    categories: &[],
    verbs: ALL_VERBS,
    subresources: &[Subresource::TOKEN],
    strategy: &core::ServiceAccountStrategy,
};

/// `secrets`.
pub static SECRETS: ResourceDef = ResourceDef {
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
};

/// `configmaps`.
pub static CONFIG_MAPS: ResourceDef = ResourceDef {
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
};

/// `pods`.
pub static PODS: ResourceDef = ResourceDef {
    group: "",
    versions: &["v1"],
    resource: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    short_names: &["po"],
    categories: &["all"],
    verbs: ALL_VERBS,
    subresources: &[
        Subresource::STATUS,
        Subresource::BINDING,
        Subresource::LOG,
        Subresource::EXEC,
        Subresource::ATTACH,
    ],
    strategy: &pod::PodStrategy,
};

/// `nodes`.
pub static NODES: ResourceDef = ResourceDef {
    group: "",
    versions: &["v1"],
    resource: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    short_names: &["no"],
    categories: &[],
    verbs: ALL_VERBS,
    subresources: &[Subresource::STATUS],
    strategy: &core::NodeStrategy,
};

/// `events`.
pub static EVENTS: ResourceDef = ResourceDef {
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
};

/// `services`.
pub static SERVICES: ResourceDef = ResourceDef {
    group: "",
    versions: &["v1"],
    resource: "services",
    singular: "service",
    kind: "Service",
    namespaced: true,
    short_names: &["svc"],
    categories: &["all"],
    verbs: ALL_VERBS,
    subresources: &[Subresource::STATUS],
    strategy: &core::ServiceStrategy,
};

/// `endpoints` (the `kubernetes` Service's, written by the server).
pub static ENDPOINTS: ResourceDef = ResourceDef {
    group: "",
    versions: &["v1"],
    resource: "endpoints",
    singular: "endpoints",
    kind: "Endpoints",
    namespaced: true,
    short_names: &["ep"],
    categories: &[],
    verbs: ALL_VERBS,
    subresources: &[],
    strategy: &core::EndpointsStrategy,
};

/// `endpointslices.discovery.k8s.io` (the `kubernetes` Service's, written by the server,
/// and any a client writes).
pub static ENDPOINT_SLICES: ResourceDef = ResourceDef {
    group: "discovery.k8s.io",
    versions: &["v1"],
    resource: "endpointslices",
    singular: "endpointslice",
    kind: "EndpointSlice",
    namespaced: true,
    short_names: &[],
    categories: &[],
    verbs: ALL_VERBS,
    subresources: &[],
    strategy: &discovery::EndpointSliceStrategy,
};

/// `leases`.
pub static LEASES: ResourceDef = ResourceDef {
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
};

/// `clusterrolebindings`.
pub static CLUSTER_ROLE_BINDINGS: ResourceDef = ResourceDef {
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
};

/// `clusterroles`.
pub static CLUSTER_ROLES: ResourceDef = ResourceDef {
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
};

/// `rolebindings`.
pub static ROLE_BINDINGS: ResourceDef = ResourceDef {
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
};

/// `roles`.
pub static ROLES: ResourceDef = ResourceDef {
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
};

/// `selfsubjectaccessreviews`.
pub static SELF_SUBJECT_ACCESS_REVIEWS: ResourceDef = review(
    "selfsubjectaccessreviews",
    "selfsubjectaccessreview",
    "SelfSubjectAccessReview",
    false,
    &reviews::SelfSubjectAccessReviewStrategy,
);

/// `subjectaccessreviews`.
pub static SUBJECT_ACCESS_REVIEWS: ResourceDef = review(
    "subjectaccessreviews",
    "subjectaccessreview",
    "SubjectAccessReview",
    false,
    &reviews::SubjectAccessReviewStrategy,
);

/// `localsubjectaccessreviews`.
pub static LOCAL_SUBJECT_ACCESS_REVIEWS: ResourceDef = review(
    "localsubjectaccessreviews",
    "localsubjectaccessreview",
    "LocalSubjectAccessReview",
    true,
    &reviews::LocalSubjectAccessReviewStrategy,
);

/// `selfsubjectrulesreviews`.
pub static SELF_SUBJECT_RULES_REVIEWS: ResourceDef = review(
    "selfsubjectrulesreviews",
    "selfsubjectrulesreview",
    "SelfSubjectRulesReview",
    false,
    &reviews::SelfSubjectRulesReviewStrategy,
);

/// `selfsubjectreviews`: kubectl 1.27's `auth whoami` asks v1beta1 only; 1.28+ ask v1 first.
pub static SELF_SUBJECT_REVIEWS: ResourceDef = ResourceDef {
    group: reviews::AUTHENTICATION,
    versions: &["v1", "v1beta1"],
    ..review(
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        false,
        &reviews::SelfSubjectReviewStrategy,
    )
};

/// `tokenreviews`.
pub static TOKEN_REVIEWS: ResourceDef = ResourceDef {
    group: reviews::AUTHENTICATION,
    ..review(
        "tokenreviews",
        "tokenreview",
        "TokenReview",
        false,
        &reviews::TokenReviewStrategy,
    )
};

/// `accessreviews.access.kubeward.io`: a SubjectAccessReview answered with its explanation
/// (kubeward's own API; authorized as `create` on it, as a SubjectAccessReview is).
pub static ACCESS_REVIEWS: ResourceDef = ResourceDef {
    group: reviews::ACCESS,
    versions: &["v1alpha1"],
    ..review(
        "accessreviews",
        "accessreview",
        "AccessReview",
        false,
        &reviews::AccessReviewStrategy,
    )
};

/// `whocanreviews.access.kubeward.io`: every subject RBAC allows a request, each with the
/// binding, role and rule that grant it (the spec is a SubjectAccessReview's without a user;
/// authorized as `create` on it).
pub static WHO_CAN_REVIEWS: ResourceDef = ResourceDef {
    group: reviews::ACCESS,
    versions: &["v1alpha1"],
    ..review(
        "whocanreviews",
        "whocanreview",
        "WhoCanReview",
        false,
        &reviews::AccessReviewStrategy,
    )
};

/// `accessmatrixreviews.access.kubeward.io`: the verbs a user holds on every served resource
/// and subresource, cluster-wide or in `spec.resourceAttributes.namespace` (the spec is a
/// SubjectAccessReview's with the request left open; authorized as `create` on it).
pub static ACCESS_MATRIX_REVIEWS: ResourceDef = ResourceDef {
    group: reviews::ACCESS,
    versions: &["v1alpha1"],
    ..review(
        "accessmatrixreviews",
        "accessmatrixreview",
        "AccessMatrixReview",
        false,
        &reviews::AccessReviewStrategy,
    )
};

/// Every served resource, in discovery's order.
static RESOURCES: &[&ResourceDef] = &[
    &NAMESPACES,
    &SERVICE_ACCOUNTS,
    &SECRETS,
    &CONFIG_MAPS,
    &PODS,
    &NODES,
    &EVENTS,
    &SERVICES,
    &ENDPOINTS,
    &ENDPOINT_SLICES,
    &LEASES,
    &CLUSTER_ROLE_BINDINGS,
    &CLUSTER_ROLES,
    &ROLE_BINDINGS,
    &ROLES,
    &SELF_SUBJECT_ACCESS_REVIEWS,
    &SUBJECT_ACCESS_REVIEWS,
    &LOCAL_SUBJECT_ACCESS_REVIEWS,
    &SELF_SUBJECT_RULES_REVIEWS,
    &SELF_SUBJECT_REVIEWS,
    &TOKEN_REVIEWS,
    &ACCESS_REVIEWS,
    &WHO_CAN_REVIEWS,
    &ACCESS_MATRIX_REVIEWS,
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
pub fn resources() -> &'static [&'static ResourceDef] {
    RESOURCES
}

/// The rows of an access matrix: every stored resource and subresource as (group, resource,
/// subresource), sorted; the namespaced ones only when `namespace` is given.
pub fn access_matrix_rows(namespace: &str) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for def in RESOURCES {
        if def.is_review() || (!namespace.is_empty() && !def.namespaced) {
            continue;
        }
        rows.push((def.group.into(), def.resource.into(), String::new()));
        for sub in def.subresources {
            rows.push((def.group.into(), def.resource.into(), sub.name.into()));
        }
    }
    rows.sort();
    rows
}
