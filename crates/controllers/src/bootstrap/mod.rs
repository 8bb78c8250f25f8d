//! The default RBAC policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/`: `policy.rs`,
//! `controller_policy.rs` and `namespace_policy.rs` after upstream's files of those names) and
//! its reconciliation at every start
//! (`pkg/registry/rbac/rest/storage_rbac.go`): missing objects are created; existing ones not
//! marked `rbac.authorization.kubernetes.io/autoupdate: "false"` get missing rules, subjects,
//! labels and annotations added, never removed.

use registry::{Client, ResourceDef};
use serde_json::{json, Value};

mod controller_policy;
mod namespace_policy;
mod policy;

pub(crate) use controller_policy::{controller_role_bindings, controller_roles};
pub(crate) use namespace_policy::{namespace_role_bindings, namespace_roles};
pub(crate) use policy::{cluster_role_bindings, cluster_roles};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
/// Read and write: every verb a stored resource serves.
const READ_WRITE: &[&str] = registry::resource::ALL_VERBS;

/// `PolicyRuleBuilder.Rule()` sorts every list.
fn sorted(xs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = xs.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": sorted(verbs), "apiGroups": sorted(groups), "resources": sorted(resources)})
}

fn urls(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": sorted(verbs), "nonResourceURLs": sorted(urls)})
}

fn meta(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    for (k, v) in extra_labels {
        labels[*k] = (*v).into();
    }
    json!({"name": name, "labels": labels, "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name, labels), "rules": rules})
}

fn role(namespace: &str, name: &str, rules: Vec<Value>) -> Value {
    let mut metadata = meta(name, &[]);
    metadata["namespace"] = namespace.into();
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": metadata, "rules": rules})
}

fn role_binding(namespace: &str, name: &str, role: &str, subjects: Vec<Value>) -> Value {
    let mut metadata = meta(name, &[]);
    metadata["namespace"] = namespace.into();
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": metadata,
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}, "subjects": subjects})
}

fn aggregated(name: &str, labels: &[(&str, &str)], selector: &str) -> Value {
    let mut r = cluster_role(name, labels, vec![]);
    r["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {selector: "true"}}]});
    if let Some(o) = r.as_object_mut() {
        o.remove("rules");
    }
    r
}

fn named(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
    let mut r = rule(verbs, groups, resources);
    r["resourceNames"] = sorted(names).into();
    r
}

fn service_account(namespace: &str, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

fn binding(name: &str, subjects: Vec<Value>) -> Value {
    let mut b = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name, &[]),
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}, "subjects": subjects});
    if subjects_empty(&b) {
        if let Some(o) = b.as_object_mut() {
            o.remove("subjects");
        }
    }
    b
}

fn subjects_empty(b: &Value) -> bool {
    b["subjects"].as_array().is_some_and(Vec::is_empty)
}

const AGG_ADMIN: (&str, &str) = ("rbac.authorization.k8s.io/aggregate-to-admin", "true");
const AGG_EDIT: (&str, &str) = ("rbac.authorization.k8s.io/aggregate-to-edit", "true");
const AGG_VIEW: (&str, &str) = ("rbac.authorization.k8s.io/aggregate-to-view", "true");

const EVENT_WRITE: &[&str] = &["create", "patch", "update"];
/// What the volume binder does to volumes and claims (and the service-CIDR controller to
/// its CIDRs).
const VOLUME_BINDING: &[&str] = &["get", "list", "patch", "update", "watch"];

/// Adds to `have[field]` every element of `want[field]` it lacks; true when something changed.
fn union_list(have: &mut Value, want: &Value, field: &str) -> bool {
    let Some(want_list) = want.get(field).and_then(Value::as_array) else {
        return false;
    };
    let Some(fields) = have.as_object_mut() else {
        return false;
    };
    let list = fields.entry(field).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return false;
    };
    let mut changed = false;
    for w in want_list {
        if !list.contains(w) {
            list.push(w.clone());
            changed = true;
        }
    }
    changed
}

fn union_map(have: &mut Value, want: &Value, ptr: &str, field: &str) -> bool {
    let Some(want_map) = want
        .pointer(&format!("{ptr}/{field}"))
        .and_then(Value::as_object)
    else {
        return false;
    };
    let Some(obj) = have.pointer_mut(ptr).and_then(Value::as_object_mut) else {
        return false;
    };
    let map = obj.entry(field).or_insert_with(|| json!({}));
    let mut changed = false;
    for (k, v) in want_map {
        if map.get(k).is_none() {
            map[k] = v.clone();
            changed = true;
        }
    }
    changed
}

/// Creates or reconciles one default object against `have`, the object of its name (None
/// when there is none).
async fn reconcile(
    client: &dyn Client,
    def: &'static ResourceDef,
    want: Value,
    have: Option<Value>,
) -> Result<(), api_types::StatusError> {
    let name = want["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns = want["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let role = def.is(&registry::kinds::CLUSTER_ROLES) || def.is(&registry::kinds::ROLES);
    let binding = !role;
    match have {
        None => client.create(def, &ns, want).await.map(drop),
        Some(mut have) => {
            let protected = have
                .pointer("/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate")
                .and_then(Value::as_str)
                == Some("false");
            if protected {
                return Ok(());
            }
            if binding && have.get("roleRef") != want.get("roleRef") {
                // roleRef is immutable: replace the binding.
                client.delete(def, &ns, &name, &Default::default()).await?;
                return client.create(def, &ns, want).await.map(drop);
            }
            let mut changed = union_map(&mut have, &want, "/metadata", "labels");
            changed |= union_map(&mut have, &want, "/metadata", "annotations");
            let aggregated = want.get("aggregationRule").is_some();
            changed |= if role && !aggregated {
                union_list(&mut have, &want, "rules")
            } else {
                false
            };
            changed |= if binding {
                union_list(&mut have, &want, "subjects")
            } else {
                false
            };
            if aggregated && have.get("aggregationRule") != want.get("aggregationRule") {
                have["aggregationRule"] = want["aggregationRule"].clone();
                changed = true;
            }
            if changed {
                client.update(def, &ns, &name, have, None).await?;
            }
            Ok(())
        }
    }
}

/// Creates and reconciles the default policy, through `client` (the apiserver's own, as
/// upstream's `rbac/bootstrap-roles` post-start hook uses its loopback client). Each kind is
/// read with one list, what is there by name, rather than a get per default object.
pub async fn ensure_bootstrap_policy(client: &dyn Client) -> Result<(), api_types::StatusError> {
    let roles = cluster_roles().into_iter().chain(controller_roles());
    let bindings = cluster_role_bindings()
        .into_iter()
        .chain(controller_role_bindings());
    // Roles before their bindings, as upstream's hook reconciles them.
    let wanted: [(&'static ResourceDef, Vec<Value>); 4] = [
        (&registry::kinds::CLUSTER_ROLES, roles.collect()),
        (&registry::kinds::CLUSTER_ROLE_BINDINGS, bindings.collect()),
        (&registry::kinds::ROLES, namespace_roles()),
        (&registry::kinds::ROLE_BINDINGS, namespace_role_bindings()),
    ];
    let key = |o: &Value| {
        (
            crate::meta_str(o, "namespace").to_string(),
            crate::meta_str(o, "name").to_string(),
        )
    };
    for (def, objects) in wanted {
        let mut existing: std::collections::HashMap<(String, String), Value> = client
            .list(def, None, &Default::default())
            .await?
            .items
            .into_iter()
            .map(|o| (key(&o), o))
            .collect();
        for want in objects {
            let have = existing.remove(&key(&want));
            reconcile(client, def, want, have).await?;
        }
    }
    Ok(())
}

/// The default bindings (ClusterRoleBindings, and the RoleBindings of kube-system and
/// kube-public) as the RBAC engine reads them: what a server's RBAC map counts as expected
/// (a binding equal to one of these, unchanged).
pub fn bootstrap_bindings() -> authz::rbac::Policy {
    let index = authz::rbac::Index::new();
    for b in cluster_role_bindings()
        .iter()
        .chain(&controller_role_bindings())
    {
        crate::rbac::apply(&index, &registry::kinds::CLUSTER_ROLE_BINDINGS, b, false);
    }
    for b in &namespace_role_bindings() {
        crate::rbac::apply(&index, &registry::kinds::ROLE_BINDINGS, b, false);
    }
    index.policy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use authz::Authorizer;

    /// The default policy (aggregated roles left empty) as the RBAC engine reads it.
    fn engine() -> authz::rbac::Index {
        let index = authz::rbac::Index::new();
        let kinds = [
            (&registry::kinds::CLUSTER_ROLES, cluster_roles()),
            (&registry::kinds::CLUSTER_ROLES, controller_roles()),
            (
                &registry::kinds::CLUSTER_ROLE_BINDINGS,
                cluster_role_bindings(),
            ),
            (
                &registry::kinds::CLUSTER_ROLE_BINDINGS,
                controller_role_bindings(),
            ),
            (&registry::kinds::ROLES, namespace_roles()),
            (&registry::kinds::ROLE_BINDINGS, namespace_role_bindings()),
        ];
        for (def, objects) in kinds {
            for o in &objects {
                crate::rbac::apply(&index, def, o, false);
            }
        }
        index
    }

    /// (user, groups, verb, group/resource/subresource, name or path, namespace, allowed)
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        bool,
    );

    /// What a 1.33 cluster's default policy allows the components it is written for, and
    /// what it does not.
    const CASES: &[Case] = &[
        (
            "system:kube-proxy",
            &[],
            "list",
            "discovery.k8s.io/endpointslices",
            "",
            "",
            true,
        ),
        (
            "system:kube-proxy",
            &[],
            "create",
            "/pods",
            "",
            "default",
            false,
        ),
        (
            "system:serviceaccount:kube-system:kube-dns",
            &[],
            "watch",
            "/services",
            "",
            "",
            true,
        ),
        (
            "system:kube-scheduler",
            &[],
            "get",
            "/configmaps",
            "extension-apiserver-authentication",
            "kube-system",
            true,
        ),
        (
            "system:kube-scheduler",
            &[],
            "get",
            "/configmaps",
            "other",
            "kube-system",
            false,
        ),
        (
            "system:kube-scheduler",
            &[],
            "list",
            "coordination.k8s.io/leasecandidates",
            "",
            "kube-system",
            true,
        ),
        (
            "system:kube-scheduler",
            &[],
            "patch",
            "/persistentvolumeclaims",
            "",
            "default",
            true,
        ),
        (
            "system:serviceaccount:kube-system:generic-garbage-collector",
            &[],
            "delete",
            "apps/deployments",
            "",
            "default",
            true,
        ),
        (
            "system:serviceaccount:kube-system:generic-garbage-collector",
            &[],
            "create",
            "apps/deployments",
            "",
            "default",
            false,
        ),
        (
            "system:serviceaccount:kube-system:token-cleaner",
            &[],
            "delete",
            "/secrets",
            "",
            "kube-system",
            true,
        ),
        (
            "system:serviceaccount:kube-system:token-cleaner",
            &[],
            "delete",
            "/secrets",
            "",
            "default",
            false,
        ),
        (
            "system:serviceaccount:kube-system:bootstrap-signer",
            &[],
            "update",
            "/configmaps",
            "cluster-info",
            "kube-public",
            true,
        ),
        (
            "system:serviceaccount:kube-system:bootstrap-signer",
            &[],
            "update",
            "/configmaps",
            "other",
            "kube-public",
            false,
        ),
        (
            "system:serviceaccount:kube-system:certificate-controller",
            &[],
            "sign",
            "certificates.k8s.io/signers",
            "kubernetes.io/kubelet-serving",
            "",
            true,
        ),
        (
            "system:serviceaccount:kube-system:certificate-controller",
            &[],
            "approve",
            "certificates.k8s.io/signers",
            "kubernetes.io/kubelet-serving",
            "",
            false,
        ),
        (
            "system:serviceaccount:kube-system:disruption-controller",
            &[],
            "get",
            "apps/deployments/scale",
            "",
            "default",
            true,
        ),
        (
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
            &[],
            "update",
            "apps/deployments/scale",
            "",
            "default",
            true,
        ),
        (
            "system:anonymous",
            &["system:unauthenticated"],
            "get",
            "",
            "/healthz",
            "",
            true,
        ),
        (
            "system:anonymous",
            &["system:unauthenticated"],
            "get",
            "",
            "/api",
            "",
            false,
        ),
        (
            "bob",
            &["system:authenticated"],
            "get",
            "",
            "/apis/apps",
            "",
            true,
        ),
        // system:node is bound to nobody: nodes are the Node authorizer's.
        (
            "system:node:n1",
            &["system:nodes", "system:authenticated"],
            "get",
            "/nodes",
            "n1",
            "",
            false,
        ),
    ];

    #[test]
    fn the_default_policy_allows_what_upstreams_does() {
        let index = engine();
        for &(user, groups, verb, what, name, ns, want) in CASES {
            let mut a = authz::Attributes {
                user: api_types::UserInfo {
                    name: user.into(),
                    groups: groups.iter().map(|g| (*g).to_string()).collect(),
                    ..Default::default()
                },
                verb: verb.into(),
                namespace: ns.into(),
                ..Default::default()
            };
            if what.is_empty() {
                a.path = name.into();
            } else {
                let mut parts = what.splitn(3, '/');
                a.resource_request = true;
                a.api_group = parts.next().unwrap_or("").into();
                a.resource = parts.next().unwrap_or("").into();
                a.subresource = parts.next().unwrap_or("").into();
                a.name = name.into();
            }
            assert_eq!(
                index.authorize(&a).allowed(),
                want,
                "{user} {verb} {what} {name} in {ns:?}"
            );
        }
    }

    #[test]
    fn every_binding_names_a_default_role_and_names_are_unique() {
        let roles: std::collections::BTreeSet<String> = cluster_roles()
            .iter()
            .chain(&controller_roles())
            .map(|r| r["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            roles.len(),
            cluster_roles().len() + controller_roles().len()
        );
        for b in cluster_role_bindings()
            .iter()
            .chain(&controller_role_bindings())
        {
            assert!(
                roles.contains(b["roleRef"]["name"].as_str().unwrap_or("")),
                "{b}"
            );
        }
        let ns_roles: std::collections::BTreeSet<(String, String)> = namespace_roles()
            .iter()
            .map(|r| {
                (
                    r["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    r["metadata"]["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        for b in namespace_role_bindings() {
            let key = (
                b["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                b["roleRef"]["name"].as_str().unwrap_or("").to_string(),
            );
            assert!(ns_roles.contains(&key), "{b}");
        }
    }
}
