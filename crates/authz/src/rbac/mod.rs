//! RBAC: objects as plain data, rule matching (`evaluation_helpers.go`, `rbac.go RuleAllows`),
//! subject matching (`rule.go appliesTo`), and two evaluators over the same [`Policy`]:
//! [`reference::authorize`], written straight from upstream's walk, and [`Index`], which
//! answers from per-subject indexes.

pub mod audit;
pub mod explain;
pub mod explain_json;
mod index;
pub mod map;
pub mod reference;
pub mod suggest;
pub mod unused;

pub use index::Index;

use crate::Attributes;
use api_types::UserInfo;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `rbacv1.PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    /// The verbs (`*` for all).
    pub verbs: Vec<String>,
    /// The API groups (`*` for all, "" for core).
    pub api_groups: Vec<String>,
    /// The resources, `pods/log` for subresources (`*` for all).
    pub resources: Vec<String>,
    /// The object names it is limited to (empty: any).
    pub resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    /// The non-resource paths (`/healthz`, `/api/*`).
    pub non_resource_urls: Vec<String>,
}

/// `rbacv1.Subject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// The API group (`rbac.authorization.k8s.io` for users and groups).
    pub api_group: String,
    /// The subject's name.
    pub name: String,
    /// A service account's namespace.
    pub namespace: String,
}

/// `rbacv1.RoleRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleRef {
    /// `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// A RoleBinding (namespace non-empty) or ClusterRoleBinding (namespace empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    /// The namespace ("" for a ClusterRoleBinding).
    pub namespace: String,
    /// The binding's name.
    pub name: String,
    /// Who it binds.
    pub subjects: Vec<Subject>,
    /// The role it binds them to.
    pub role_ref: RoleRef,
}

/// Every RBAC object the authorizer knows, keyed by (namespace, name); cluster objects use "".
/// BTreeMaps give the deterministic walk order both evaluators share (by name).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// ClusterRoles by name.
    pub cluster_roles: BTreeMap<String, Arc<Vec<PolicyRule>>>,
    /// Roles by (namespace, name).
    pub roles: BTreeMap<(String, String), Arc<Vec<PolicyRule>>>,
    /// ClusterRoleBindings by name.
    pub cluster_role_bindings: BTreeMap<String, Binding>,
    /// RoleBindings by (namespace, name).
    pub role_bindings: BTreeMap<(String, String), Binding>,
}

fn has(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == v)
}

/// `RuleAllows`: does one rule allow the request?
pub fn rule_allows(a: &Attributes, rule: &PolicyRule) -> bool {
    if !(has(&rule.verbs, "*") || has(&rule.verbs, &a.verb)) {
        return false;
    }
    if a.resource_request {
        let combined = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let resource_ok = rule.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!a.subresource.is_empty()
                    && r.len() == a.subresource.len() + 2
                    && r.starts_with("*/")
                    && r.ends_with(a.subresource.as_str()))
        });
        (has(&rule.api_groups, "*") || has(&rule.api_groups, &a.api_group))
            && resource_ok
            && (rule.resource_names.is_empty() || has(&rule.resource_names, &a.name))
    } else {
        rule.non_resource_urls.iter().any(|u| {
            u == "*"
                || *u == a.path
                || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
        })
    }
}

/// The service account a user name names, as `serviceaccount.SplitUsername`.
pub fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// `appliesTo`: the index of the first subject that names the user, if any. `ns` is the
/// binding's namespace, the default for ServiceAccount subjects.
pub fn applies_to(user: &UserInfo, subjects: &[Subject], ns: &str) -> Option<usize> {
    subjects.iter().position(|s| match s.kind.as_str() {
        "User" => user.name == s.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let sa_ns = if s.namespace.is_empty() {
                ns
            } else {
                &s.namespace
            };
            !sa_ns.is_empty() && user.name == format!("system:serviceaccount:{sa_ns}:{}", s.name)
        }
        _ => false,
    })
}

/// `describeSubject` plus the binding, for the Allow reason.
pub fn describe(b: &Binding, subject: &Subject) -> String {
    describe_parts(
        &b.namespace,
        &b.name,
        &b.role_ref.kind,
        &b.role_ref.name,
        &subject.kind,
        &subject.name,
        &subject.namespace,
    )
}

/// [`describe`] from the binding's and subject's fields.
pub(crate) fn describe_parts(
    namespace: &str,
    name: &str,
    role_kind: &str,
    role_name: &str,
    subject_kind: &str,
    subject_name: &str,
    subject_namespace: &str,
) -> String {
    let who = match subject_kind {
        "ServiceAccount" => {
            let ns = if subject_namespace.is_empty() {
                namespace
            } else {
                subject_namespace
            };
            format!("{subject_kind} {:?}", format!("{subject_name}/{ns}"))
        }
        _ => format!("{subject_kind} {subject_name:?}"),
    };
    if namespace.is_empty() {
        format!("ClusterRoleBinding {name:?} of ClusterRole {role_name:?} to {who}")
    } else {
        format!(
            "RoleBinding {:?} of {role_kind} {role_name:?} to {who}",
            format!("{name}/{namespace}")
        )
    }
}

impl Policy {
    /// Whether the policy holds `b`, exactly (the same subjects and roleRef).
    pub fn has_binding(&self, b: &Binding) -> bool {
        if b.namespace.is_empty() {
            self.cluster_role_bindings.get(&b.name) == Some(b)
        } else {
            self.role_bindings
                .get(&(b.namespace.clone(), b.name.clone()))
                == Some(b)
        }
    }

    /// The rules a binding's roleRef resolves to, or the lister's error text.
    pub fn resolve(&self, b: &Binding) -> Result<&Arc<Vec<PolicyRule>>, String> {
        match b.role_ref.kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&b.role_ref.name).ok_or_else(|| {
                format!(
                    "clusterrole.rbac.authorization.k8s.io {:?} not found",
                    b.role_ref.name
                )
            }),
            "Role" if !b.namespace.is_empty() => self
                .roles
                .get(&(b.namespace.clone(), b.role_ref.name.clone()))
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {:?} not found",
                        b.role_ref.name
                    )
                }),
            kind => Err(format!("unsupported role reference kind: {kind:?}")),
        }
    }
}

/// The NoOpinion reason for resolution errors (`RBAC: e` or `RBAC: [e1, e2]`).
pub(crate) fn no_opinion(errors: Vec<String>) -> crate::Decision {
    crate::Decision::NoOpinion(match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    })
}
