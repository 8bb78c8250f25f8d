//! The default RBAC policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`, the
//! parts that concern identity and access) and its reconciliation at every start
//! (`pkg/registry/rbac/rest/storage_rbac.go`): missing objects are created; existing ones not
//! marked `rbac.authorization.kubernetes.io/autoupdate: "false"` get missing rules, subjects,
//! labels and annotations added, never removed.

use registry::{Client, ResourceDef};
use serde_json::{json, Value};

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

/// The default ClusterRoles.
pub(crate) fn cluster_roles() -> Vec<Value> {
    let discovery = [
        "/livez",
        "/readyz",
        "/healthz",
        "/version",
        "/version/",
        "/openapi",
        "/openapi/*",
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
    ];
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        cluster_role("system:discovery", &[], vec![urls(&["get"], &discovery)]),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![urls(
                &["get"],
                &["/livez", "/readyz", "/healthz", "/version", "/version/"],
            )],
        ),
        cluster_role(
            "system:monitoring",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/metrics",
                    "/metrics/slis",
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/livez/*",
                    "/readyz/*",
                    "/healthz/*",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
        ),
        cluster_role(
            "system:auth-delegator",
            &[],
            vec![
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
            ],
        ),
        aggregated("admin", &[], "rbac.authorization.k8s.io/aggregate-to-admin"),
        aggregated(
            "edit",
            &[AGG_ADMIN],
            "rbac.authorization.k8s.io/aggregate-to-edit",
        ),
        aggregated(
            "view",
            &[AGG_EDIT],
            "rbac.authorization.k8s.io/aggregate-to-view",
        ),
        cluster_role(
            "system:aggregate-to-admin",
            &[AGG_ADMIN],
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["localsubjectaccessreviews"],
                ),
                rule(
                    READ_WRITE,
                    &["rbac.authorization.k8s.io"],
                    &["rolebindings", "roles"],
                ),
            ],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[AGG_EDIT],
            vec![
                rule(
                    READ,
                    &[""],
                    &[
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                        "secrets",
                        "services/proxy",
                    ],
                ),
                rule(&["impersonate"], &[""], &["serviceaccounts"]),
                rule(
                    WRITE,
                    &[""],
                    &[
                        "pods",
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                    ],
                ),
                rule(&["create"], &[""], &["pods/eviction"]),
                rule(
                    WRITE,
                    &[""],
                    &[
                        "configmaps",
                        "events",
                        "persistentvolumeclaims",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "secrets",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                    ],
                ),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
                rule(
                    WRITE,
                    &["apps"],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                ),
                rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
                rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
                rule(
                    WRITE,
                    &["extensions"],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "ingresses",
                        "networkpolicies",
                        "replicasets",
                        "replicasets/scale",
                        "replicationcontrollers/scale",
                    ],
                ),
                rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
                rule(
                    WRITE,
                    &["networking.k8s.io"],
                    &["ingresses", "networkpolicies"],
                ),
                rule(READ_WRITE, &["coordination.k8s.io"], &["leases"]),
            ],
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[AGG_VIEW],
            vec![
                rule(
                    READ,
                    &[""],
                    &[
                        "configmaps",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                    ],
                ),
                rule(
                    READ,
                    &[""],
                    &[
                        "bindings",
                        "events",
                        "limitranges",
                        "namespaces/status",
                        "pods/log",
                        "pods/status",
                        "replicationcontrollers/status",
                        "resourcequotas",
                        "resourcequotas/status",
                    ],
                ),
                rule(READ, &[""], &["namespaces"]),
                rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
                rule(
                    READ,
                    &["apps"],
                    &[
                        "controllerrevisions",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "statefulsets",
                        "statefulsets/scale",
                        "statefulsets/status",
                    ],
                ),
                rule(
                    READ,
                    &["autoscaling"],
                    &[
                        "horizontalpodautoscalers",
                        "horizontalpodautoscalers/status",
                    ],
                ),
                rule(
                    READ,
                    &["batch"],
                    &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                ),
                rule(
                    READ,
                    &["extensions"],
                    &[
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "ingresses",
                        "ingresses/status",
                        "networkpolicies",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "replicationcontrollers/scale",
                    ],
                ),
                rule(
                    READ,
                    &["policy"],
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                ),
                rule(
                    READ,
                    &["networking.k8s.io"],
                    &["ingresses", "ingresses/status", "networkpolicies"],
                ),
            ],
        ),
        // `system:kube-controller-manager` (policy.go): what the manager's own identity
        // does: its shared informers list and watch everything; the tokens controller runs
        // with it.
        cluster_role(
            "system:kube-controller-manager",
            &[],
            vec![
                rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]),
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                named(
                    &["get", "update"],
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["kube-controller-manager"],
                ),
                rule(&["create"], &[""], &["secrets", "serviceaccounts"]),
                rule(&["delete"], &[""], &["secrets"]),
                rule(
                    &["get"],
                    &[""],
                    &["configmaps", "namespaces", "secrets", "serviceaccounts"],
                ),
                rule(&["update"], &[""], &["secrets", "serviceaccounts"]),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
            ],
        ),
        // `system:node` (`NodeRules()`): bound to nobody; the Node authorizer applies the
        // same rules to every node, beside what its graph relates to each.
        cluster_role(
            "system:node",
            &[],
            authz::node::NODE_RULES
                .iter()
                .map(|(verbs, groups, resources)| rule(verbs, groups, resources))
                .collect(),
        ),
        // `system:kube-scheduler`: the node agent's binder acts as the scheduler.
        cluster_role(
            "system:kube-scheduler",
            &[],
            vec![
                rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]),
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                named(
                    &["get", "update"],
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["kube-scheduler"],
                ),
                rule(READ, &[""], &["nodes"]),
                rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
                rule(&["create"], &[""], &["bindings", "pods/binding"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(READ, &[""], &["replicationcontrollers", "services"]),
                rule(READ, &["apps", "extensions"], &["replicasets"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(
                    READ,
                    &[""],
                    &["persistentvolumeclaims", "persistentvolumes"],
                ),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
                rule(READ, &["storage.k8s.io"], &["csinodes"]),
                rule(READ, &[""], &["namespaces"]),
                rule(READ, &["storage.k8s.io"], &["csidrivers"]),
                rule(READ, &["storage.k8s.io"], &["csistoragecapacities"]),
            ],
        ),
    ]
}

const EVENT_WRITE: &[&str] = &["create", "patch", "update"];

/// The `system:controller:*` roles of the controllers kubeward runs
/// (`bootstrappolicy/controller_policy.go`), each bound to its service account in
/// `kube-system` (see [`crate::manager`]).
pub(crate) fn controller_roles() -> Vec<Value> {
    let events = || rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]);
    vec![
        cluster_role(
            "system:controller:clusterrole-aggregation-controller",
            &[],
            vec![rule(
                &["escalate", "get", "list", "patch", "update", "watch"],
                &["rbac.authorization.k8s.io"],
                &["clusterroles"],
            )],
        ),
        cluster_role(
            "system:controller:namespace-controller",
            &[],
            vec![
                rule(&["delete", "get", "list", "watch"], &[""], &["namespaces"]),
                rule(
                    &["update"],
                    &[""],
                    &["namespaces/finalize", "namespaces/status"],
                ),
                rule(
                    &["delete", "deletecollection", "get", "list", "watch"],
                    &["*"],
                    &["*"],
                ),
            ],
        ),
        cluster_role(
            "system:controller:root-ca-cert-publisher",
            &[],
            vec![
                rule(&["create", "update"], &[""], &["configmaps"]),
                events(),
            ],
        ),
        cluster_role(
            "system:controller:service-account-controller",
            &[],
            vec![rule(&["create"], &[""], &["serviceaccounts"]), events()],
        ),
    ]
}

/// The bindings of [`controller_roles`]: `system:controller:<name>` to the service account
/// `kube-system/<name>`.
pub(crate) fn controller_role_bindings() -> Vec<Value> {
    controller_roles()
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str())
        .filter_map(|role| {
            let account = role.strip_prefix("system:controller:")?;
            Some(binding(role, vec![service_account("kube-system", account)]))
        })
        .collect()
}

/// The default ClusterRoleBindings (binding name = role name).
pub(crate) fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", vec![group("system:masters")]),
        binding("system:monitoring", vec![group("system:monitoring")]),
        binding("system:discovery", vec![group("system:authenticated")]),
        binding("system:basic-user", vec![group("system:authenticated")]),
        binding(
            "system:public-info-viewer",
            vec![
                group("system:authenticated"),
                group("system:unauthenticated"),
            ],
        ),
        binding(
            "system:service-account-issuer-discovery",
            vec![group("system:serviceaccounts")],
        ),
        binding(
            "system:kube-controller-manager",
            vec![user("system:kube-controller-manager")],
        ),
        binding("system:kube-scheduler", vec![user("system:kube-scheduler")]),
        // Kept without subjects on purpose since 1.8: nodes are authorized by the Node
        // authorizer instead.
        binding("system:node", vec![]),
    ]
}

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
    match have {
        None => client.create(def, "", want).await.map(drop),
        Some(mut have) => {
            let protected = have
                .pointer("/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate")
                .and_then(Value::as_str)
                == Some("false");
            if protected {
                return Ok(());
            }
            if def.is(&registry::kinds::CLUSTER_ROLE_BINDINGS)
                && have.get("roleRef") != want.get("roleRef")
            {
                // roleRef is immutable: replace the binding.
                client.delete(def, "", &name, &Default::default()).await?;
                return client.create(def, "", want).await.map(drop);
            }
            let mut changed = union_map(&mut have, &want, "/metadata", "labels");
            changed |= union_map(&mut have, &want, "/metadata", "annotations");
            let aggregated = want.get("aggregationRule").is_some();
            changed |= if def.is(&registry::kinds::CLUSTER_ROLES) && !aggregated {
                union_list(&mut have, &want, "rules")
            } else {
                false
            };
            changed |= if def.is(&registry::kinds::CLUSTER_ROLE_BINDINGS) {
                union_list(&mut have, &want, "subjects")
            } else {
                false
            };
            if aggregated && have.get("aggregationRule") != want.get("aggregationRule") {
                have["aggregationRule"] = want["aggregationRule"].clone();
                changed = true;
            }
            if changed {
                client.update(def, "", &name, have, None).await?;
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
    let wanted: [(&'static ResourceDef, Vec<Value>); 2] = [
        (&registry::kinds::CLUSTER_ROLES, roles.collect()),
        (&registry::kinds::CLUSTER_ROLE_BINDINGS, bindings.collect()),
    ];
    for (def, objects) in wanted {
        let mut existing: std::collections::HashMap<String, Value> = client
            .list(def, None, &Default::default())
            .await?
            .items
            .into_iter()
            .map(|o| (crate::meta_str(&o, "name").to_string(), o))
            .collect();
        for want in objects {
            let have = existing.remove(crate::meta_str(&want, "name"));
            reconcile(client, def, want, have).await?;
        }
    }
    Ok(())
}

/// The default ClusterRoleBindings as the RBAC engine reads them: what a server's RBAC map
/// counts as expected (a binding equal to one of these, unchanged).
pub fn bootstrap_bindings() -> authz::rbac::Policy {
    let index = authz::rbac::Index::new();
    for b in cluster_role_bindings()
        .iter()
        .chain(&controller_role_bindings())
    {
        crate::rbac::apply(&index, &registry::kinds::CLUSTER_ROLE_BINDINGS, b, false);
    }
    index.policy()
}
