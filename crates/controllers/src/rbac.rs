//! Feeds the RBAC index from the registry (list, then watch, for each of the four RBAC
//! resources), as kube-apiserver's RBAC authorizer is fed by informers. A binding written
//! through the API reaches the index with its watch event.

use authz::rbac::{Binding, Index, PolicyRule, RoleRef, Subject};
use registry::{ListOptions, Registry, ResourceDef};
use serde_json::Value;
use std::sync::Arc;

const RESOURCES: [&str; 4] = [
    "clusterroles",
    "roles",
    "clusterrolebindings",
    "rolebindings",
];

fn def(resource: &str) -> &'static ResourceDef {
    registry::served("rbac.authorization.k8s.io", resource)
}

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Applies one object (or its removal) to the index.
pub fn apply(index: &Index, resource: &str, obj: &Value, deleted: bool) {
    let (ns, name) = (meta(obj, "namespace"), meta(obj, "name"));
    match resource {
        "clusterroles" | "roles" => {
            let rules = (!deleted).then(|| {
                obj.get("rules")
                    .and_then(Value::as_array)
                    .map(|rs| {
                        rs.iter()
                            .filter_map(|r| serde_json::from_value::<PolicyRule>(r.clone()).ok())
                            .collect()
                    })
                    .unwrap_or_default()
            });
            index.set_role(ns, name, rules);
        }
        _ => {
            let binding = (!deleted).then(|| Binding {
                namespace: ns.to_string(),
                name: name.to_string(),
                subjects: obj
                    .get("subjects")
                    .and_then(Value::as_array)
                    .map(|ss| {
                        ss.iter()
                            .filter_map(|s| serde_json::from_value::<Subject>(s.clone()).ok())
                            .collect()
                    })
                    .unwrap_or_default(),
                role_ref: obj
                    .get("roleRef")
                    .and_then(|r| serde_json::from_value::<RoleRef>(r.clone()).ok())
                    .unwrap_or_default(),
            });
            index.set_binding(ns, name, binding);
        }
    }
}

/// Loads every RBAC object into the index; returns the revision each list was read at.
pub fn sync(registry: &Registry, index: &Index) -> Result<Vec<String>, api_types::StatusError> {
    let mut revisions = Vec::new();
    for r in RESOURCES {
        let list = registry.list(def(r), None, &ListOptions::default())?;
        for obj in &list.items {
            apply(index, r, obj, false);
        }
        revisions.push(list.resource_version);
    }
    Ok(revisions)
}

/// Keeps the index current: one watch per RBAC resource, from the revision `sync` read, and
/// a full re-sync whenever a watch ends (timeout, compaction, lag).
pub async fn run_rbac_informer(registry: Arc<Registry>, index: Arc<Index>, revisions: Vec<String>) {
    for (r, rv) in RESOURCES.into_iter().zip(revisions) {
        let (registry, i1, i2) = (registry.clone(), index.clone(), index.clone());
        tokio::spawn(registry::follow(
            registry,
            def(r),
            String::new(),
            rv,
            move |ev| apply(&i1, r, &ev.object, ev.type_ == "DELETED"),
            // A fresh list replaces what the index holds, so removals missed while not
            // watching are caught.
            move |items| resync(&i2, r, items),
        ));
    }
}

/// Replaces the index's objects of one resource with `items`.
fn resync(index: &Index, resource: &str, items: &[Value]) {
    let policy = index.policy();
    let present: Vec<(String, String)> = match resource {
        "clusterroles" => policy
            .cluster_roles
            .keys()
            .map(|n| (String::new(), n.clone()))
            .collect(),
        "roles" => policy.roles.keys().cloned().collect(),
        "clusterrolebindings" => policy
            .cluster_role_bindings
            .keys()
            .map(|n| (String::new(), n.clone()))
            .collect(),
        _ => policy.role_bindings.keys().cloned().collect(),
    };
    for (ns, name) in present {
        if !items
            .iter()
            .any(|o| meta(o, "namespace") == ns && meta(o, "name") == name)
        {
            let gone = serde_json::json!({"metadata": {"namespace": ns, "name": name}});
            apply(index, resource, &gone, true);
        }
    }
    for obj in items {
        apply(index, resource, obj, false);
    }
}
