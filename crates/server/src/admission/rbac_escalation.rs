//! The RBAC escalation check, as validating admission on roles and bindings
//! (`pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased/storage.go`):
//! a user may write a role only with every permission it grants (or `escalate`), and a binding
//! only with every permission of its role (or `bind` on it). `system:masters` may always.

use crate::State;
use api_types::{StatusError, UserInfo};
use authz::rbac::PolicyRule;
use authz::{escalation, Attributes};
use registry::kinds;
use registry::{Admission, ResourceDef};
use serde_json::Value;
use std::sync::Arc;

const RBAC: &str = "rbac.authorization.k8s.io";

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| serde_json::from_value(r.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn has_aggregation(obj: Option<&Value>) -> bool {
    obj.and_then(|o| o.pointer("/aggregationRule/clusterRoleSelectors"))
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
}

/// Only ownerReferences or finalizers changed (`IsOnlyMutatingGCFields`): no check.
fn only_gc_fields(new: &Value, old: Option<&Value>) -> bool {
    let Some(old) = old else { return false };
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "ownerReferences",
                "finalizers",
                "resourceVersion",
                "managedFields",
            ] {
                m.remove(f);
            }
        }
        v
    };
    strip(new) == strip(old)
}

/// The escalation check for writes of `def` by `user` in `namespace`, or None for other kinds.
pub(crate) fn admission(
    state: &State,
    user: &UserInfo,
    def: &ResourceDef,
    namespace: &str,
    url_name: &str,
) -> Option<Admission> {
    if def.group != RBAC || user.in_group("system:masters") {
        return None;
    }
    let (authorizer, index, registry) = (
        state.authorizer.clone(),
        state.rbac.clone(),
        state.registry.clone(),
    );
    let (user, namespace, url_name) = (user.clone(), namespace.to_string(), url_name.to_string());
    let (resource, gr) = (def.resource, def.group_resource());
    let is_cluster_role = def.is(&kinds::CLUSTER_ROLES);
    let is_role = is_cluster_role || def.is(&kinds::ROLES);
    Some(Arc::new(move |new: &Value, old: Option<&Value>| {
        if only_gc_fields(new, old) {
            return Ok(());
        }
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let allowed = |verb: &str, resource: &str, group: &str, obj_name: &str| {
            authorizer
                .authorize(&Attributes {
                    user: user.clone(),
                    verb: verb.into(),
                    resource_request: true,
                    namespace: namespace.clone(),
                    api_group: group.into(),
                    resource: resource.into(),
                    name: obj_name.into(),
                    ..Default::default()
                })
                .allowed()
        };
        let forbid = |why: String| StatusError::forbidden(&gr, &name, &why);
        let (owner, errors) = index.rules_for(&user, &namespace);
        let granted = match is_role {
            true => {
                // `clusterrole/policybased/storage.go`: `escalate` first (the aggregation
                // controller holds it), then the rules, then the aggregation rule's own check.
                if allowed("escalate", resource, RBAC, &url_name) {
                    return Ok(());
                }
                let missing = escalation::uncovered(&owner, &rules_of(new));
                if !missing.is_empty() {
                    return Err(forbid(escalation::escalation_message(
                        &user, &missing, &errors,
                    )));
                }
                if is_cluster_role && (has_aggregation(Some(new)) || has_aggregation(old)) {
                    let full = [
                        PolicyRule {
                            verbs: vec!["*".into()],
                            api_groups: vec!["*".into()],
                            resources: vec!["*".into()],
                            ..Default::default()
                        },
                        PolicyRule {
                            verbs: vec!["*".into()],
                            non_resource_urls: vec!["*".into()],
                            ..Default::default()
                        },
                    ];
                    if !escalation::uncovered(&owner, &full).is_empty() {
                        return Err(forbid(
                            "must have cluster-admin privileges to use the aggregationRule".into(),
                        ));
                    }
                }
                return Ok(());
            }
            false => {
                let role_ref = new.get("roleRef").cloned().unwrap_or(Value::Null);
                let (kind, role_name) = (
                    role_ref["kind"].as_str().unwrap_or(""),
                    role_ref["name"].as_str().unwrap_or(""),
                );
                let role_resource = if kind == "ClusterRole" {
                    "clusterroles"
                } else {
                    "roles"
                };
                if allowed(
                    "bind",
                    role_resource,
                    role_ref["apiGroup"].as_str().unwrap_or(""),
                    role_name,
                ) {
                    return Ok(());
                }
                let role_def: &registry::ResourceDef = if kind == "ClusterRole" {
                    &registry::kinds::CLUSTER_ROLES
                } else {
                    &registry::kinds::ROLES
                };
                let role_ns = if kind == "ClusterRole" {
                    ""
                } else {
                    namespace.as_str()
                };
                match registry.get(role_def, role_ns, role_name) {
                    Ok(role) => rules_of(&role),
                    Err(e) => return Err(e),
                }
            }
        };
        let missing = escalation::uncovered(&owner, &granted);
        if missing.is_empty() {
            return Ok(());
        }
        Err(forbid(escalation::escalation_message(
            &user, &missing, &errors,
        )))
    }))
}
