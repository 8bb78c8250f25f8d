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
        // The rest of `ClusterRoles()` in policy.go: roles for components kubeward does not
        // run (kube-proxy, kube-dns, kubelets bootstrapping, CSR approvers, volume
        // provisioners), which a cluster's RBAC and audit-rbac's view of it include.
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[],
            vec![rule(
                &["create"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[],
            vec![rule(
                &["create"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        approver("kube-apiserver-client"),
        approver("kube-apiserver-client-kubelet"),
        approver("kubelet-serving"),
        approver("legacy-unknown"),
        cluster_role(
            "system:heapster",
            &[],
            vec![
                rule(READ, &[""], &["events", "namespaces", "nodes", "pods"]),
                rule(READ, &["extensions"], &["deployments"]),
            ],
        ),
        cluster_role(
            "system:kube-aggregator",
            &[],
            vec![rule(READ, &[""], &["endpoints", "services"])],
        ),
        cluster_role(
            "system:kube-dns",
            &[],
            vec![rule(&["list", "watch"], &[""], &["endpoints", "services"])],
        ),
        cluster_role(
            "system:kubelet-api-admin",
            &[],
            vec![
                rule(READ, &[""], &["nodes"]),
                rule(&["proxy"], &[""], &["nodes"]),
                rule(
                    &["*"],
                    &[""],
                    &["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"],
                ),
            ],
        ),
        cluster_role(
            "system:node-bootstrapper",
            &[],
            vec![rule(
                &["create", "get", "list", "watch"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
            )],
        ),
        cluster_role(
            "system:node-problem-detector",
            &[],
            vec![
                rule(&["get"], &[""], &["nodes"]),
                rule(&["patch"], &[""], &["nodes/status"]),
                rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]),
            ],
        ),
        cluster_role(
            "system:node-proxier",
            &[],
            vec![
                rule(&["list", "watch"], &[""], &["endpoints", "services"]),
                rule(READ, &[""], &["nodes"]),
                rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]),
                rule(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
        ),
        cluster_role(
            "system:persistent-volume-provisioner",
            &[],
            vec![
                rule(
                    &["create", "delete", "get", "list", "watch"],
                    &[""],
                    &["persistentvolumes"],
                ),
                rule(
                    &["get", "list", "update", "watch"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(&["watch"], &[""], &["events"]),
                rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]),
            ],
        ),
        cluster_role(
            "system:volume-scheduler",
            &[],
            vec![
                rule(VOLUME_BINDING, &[""], &["persistentvolumes"]),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(VOLUME_BINDING, &[""], &["persistentvolumeclaims"]),
            ],
        ),
    ]
}

const VOLUME_BINDING: &[&str] = &["get", "list", "patch", "update", "watch"];

/// `system:certificates.k8s.io:<signer>-approver`: `approve` on the one signer
/// `kubernetes.io/<signer>`.
fn approver(signer: &str) -> Value {
    cluster_role(
        &format!("system:certificates.k8s.io:{signer}-approver"),
        &[],
        vec![named(
            &["approve"],
            &["certificates.k8s.io"],
            &["signers"],
            &[&format!("kubernetes.io/{signer}")],
        )],
    )
}

const EVENT_WRITE: &[&str] = &["create", "patch", "update"];

/// The `system:controller:*` roles (`bootstrappolicy/controller_policy.go`), each bound to its
/// service account in `kube-system`: those of the controllers kubeward runs (see
/// [`crate::manager`]) and the rest of kube-controller-manager's, as a 1.33 cluster holds
/// them (upstream's testdata/controller-roles.yaml, without the roles of features off by
/// default in 1.33: DynamicResourceAllocation's resource-claim-controller, DRADeviceTaints'
/// device-taint-eviction-controller, VolumeAttributesClass's protection controller).
pub(crate) fn controller_roles() -> Vec<Value> {
    let events = || rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]);
    let c = |name: &str, mut rules: Vec<Value>, with_events: bool| {
        if with_events {
            rules.push(events());
        }
        cluster_role(&format!("system:controller:{name}"), &[], rules)
    };
    const CRUD: &[&str] = &[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];
    const GLUW: &[&str] = &["get", "list", "update", "watch"];
    const UPDATE: &[&str] = &["update"];
    const PATCH_UPDATE: &[&str] = &["patch", "update"];
    const LW: &[&str] = &["list", "watch"];
    const CDLPW: &[&str] = &["create", "delete", "list", "patch", "watch"];
    const DGLW: &[&str] = &["delete", "get", "list", "watch"];
    let apps_ext = &["apps", "extensions"];
    vec![
        c(
            "attachdetach-controller",
            vec![
                rule(LW, &[""], &["persistentvolumeclaims", "persistentvolumes"]),
                rule(READ, &[""], &["nodes"]),
                rule(PATCH_UPDATE, &[""], &["nodes/status"]),
                rule(LW, &[""], &["pods"]),
                events(),
                rule(
                    &["create", "delete", "get", "list", "watch"],
                    &["storage.k8s.io"],
                    &["volumeattachments"],
                ),
                rule(READ, &["storage.k8s.io"], &["csidrivers"]),
                rule(READ, &["storage.k8s.io"], &["csinodes"]),
            ],
            false,
        ),
        c(
            "certificate-controller",
            vec![
                rule(
                    DGLW,
                    &["certificates.k8s.io"],
                    &["certificatesigningrequests"],
                ),
                rule(
                    UPDATE,
                    &["certificates.k8s.io"],
                    &[
                        "certificatesigningrequests/approval",
                        "certificatesigningrequests/status",
                    ],
                ),
                named(
                    &["approve"],
                    &["certificates.k8s.io"],
                    &["signers"],
                    &["kubernetes.io/kube-apiserver-client-kubelet"],
                ),
                named(
                    &["sign"],
                    &["certificates.k8s.io"],
                    &["signers"],
                    &[
                        "kubernetes.io/kube-apiserver-client",
                        "kubernetes.io/kube-apiserver-client-kubelet",
                        "kubernetes.io/kubelet-serving",
                        "kubernetes.io/legacy-unknown",
                    ],
                ),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
            ],
            true,
        ),
        c(
            "clusterrole-aggregation-controller",
            vec![rule(
                &["escalate", "get", "list", "patch", "update", "watch"],
                &["rbac.authorization.k8s.io"],
                &["clusterroles"],
            )],
            false,
        ),
        c(
            "cronjob-controller",
            vec![
                rule(GLUW, &["batch"], &["cronjobs"]),
                rule(CRUD, &["batch"], &["jobs"]),
                rule(UPDATE, &["batch"], &["cronjobs/status"]),
                rule(UPDATE, &["batch"], &["cronjobs/finalizers"]),
                rule(&["delete", "list", "watch"], &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "daemon-set-controller",
            vec![
                rule(READ, apps_ext, &["daemonsets"]),
                rule(UPDATE, apps_ext, &["daemonsets/status"]),
                rule(UPDATE, apps_ext, &["daemonsets/finalizers"]),
                rule(LW, &[""], &["nodes"]),
                rule(CDLPW, &[""], &["pods"]),
                rule(&["create"], &[""], &["pods/binding"]),
                rule(CRUD, &["apps"], &["controllerrevisions"]),
            ],
            true,
        ),
        c(
            "deployment-controller",
            vec![
                rule(GLUW, apps_ext, &["deployments"]),
                rule(UPDATE, apps_ext, &["deployments/status"]),
                rule(UPDATE, apps_ext, &["deployments/finalizers"]),
                rule(CRUD, apps_ext, &["replicasets"]),
                rule(GLUW, &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "disruption-controller",
            vec![
                rule(READ, apps_ext, &["deployments"]),
                rule(READ, apps_ext, &["replicasets"]),
                rule(READ, &[""], &["replicationcontrollers"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(UPDATE, &["policy"], &["poddisruptionbudgets/status"]),
                rule(PATCH_UPDATE, &[""], &["pods/status"]),
                rule(&["get"], &["*"], &["*/scale"]),
            ],
            true,
        ),
        c(
            "endpoint-controller",
            vec![
                rule(READ, &[""], &["pods", "services"]),
                rule(
                    &["create", "delete", "get", "list", "update", "watch"],
                    &[""],
                    &["endpoints"],
                ),
                rule(&["create"], &[""], &["endpoints/restricted"]),
            ],
            true,
        ),
        c(
            "endpointslice-controller",
            vec![
                rule(READ, &[""], &["nodes", "pods", "services"]),
                rule(UPDATE, &[""], &["services/finalizers"]),
                rule(
                    &["create", "delete", "get", "list", "update", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
            true,
        ),
        c(
            "endpointslicemirroring-controller",
            vec![
                rule(READ, &[""], &["endpoints", "services"]),
                rule(UPDATE, &[""], &["services/finalizers"]),
                rule(UPDATE, &[""], &["endpoints/finalizers"]),
                rule(
                    &["create", "delete", "get", "list", "update", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
            true,
        ),
        c(
            "ephemeral-volume-controller",
            vec![
                rule(READ, &[""], &["pods"]),
                rule(UPDATE, &[""], &["pods/finalizers"]),
                rule(
                    &["create", "get", "list", "watch"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
            ],
            true,
        ),
        c(
            "expand-controller",
            vec![
                rule(VOLUME_BINDING, &[""], &["persistentvolumes"]),
                rule(PATCH_UPDATE, &[""], &["persistentvolumeclaims/status"]),
                rule(READ, &[""], &["persistentvolumeclaims"]),
            ],
            true,
        ),
        c(
            "generic-garbage-collector",
            vec![rule(
                &["delete", "get", "list", "patch", "update", "watch"],
                &["*"],
                &["*"],
            )],
            true,
        ),
        c(
            "horizontal-pod-autoscaler",
            vec![
                rule(READ, &["autoscaling"], &["horizontalpodautoscalers"]),
                rule(
                    UPDATE,
                    &["autoscaling"],
                    &["horizontalpodautoscalers/status"],
                ),
                rule(&["get", "update"], &["*"], &["*/scale"]),
                rule(LW, &[""], &["pods"]),
                rule(LW, &["metrics.k8s.io"], &["pods"]),
                rule(READ, &["custom.metrics.k8s.io"], &["*"]),
                rule(READ, &["external.metrics.k8s.io"], &["*"]),
            ],
            true,
        ),
        c(
            "job-controller",
            vec![
                rule(
                    &["get", "list", "patch", "update", "watch"],
                    &["batch"],
                    &["jobs"],
                ),
                rule(UPDATE, &["batch"], &["jobs/status"]),
                rule(UPDATE, &["batch"], &["jobs/finalizers"]),
                rule(CDLPW, &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "legacy-service-account-token-cleaner",
            vec![
                named(
                    &["get"],
                    &[""],
                    &["configmaps"],
                    &["kube-apiserver-legacy-service-account-token-tracking"],
                ),
                rule(&["delete", "patch"], &[""], &["secrets"]),
            ],
            false,
        ),
        c(
            "namespace-controller",
            vec![
                rule(DGLW, &[""], &["namespaces"]),
                rule(UPDATE, &[""], &["namespaces/finalize", "namespaces/status"]),
                rule(
                    &["delete", "deletecollection", "get", "list", "watch"],
                    &["*"],
                    &["*"],
                ),
            ],
            false,
        ),
        c(
            "node-controller",
            vec![
                rule(
                    &["delete", "get", "list", "patch", "update", "watch"],
                    &[""],
                    &["nodes"],
                ),
                rule(PATCH_UPDATE, &[""], &["nodes/status"]),
                rule(PATCH_UPDATE, &[""], &["pods/status"]),
                rule(DGLW, &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "persistent-volume-binder",
            vec![
                rule(
                    &["create", "delete", "get", "list", "update", "watch"],
                    &[""],
                    &["persistentvolumes"],
                ),
                rule(UPDATE, &[""], &["persistentvolumes/status"]),
                rule(GLUW, &[""], &["persistentvolumeclaims"]),
                rule(UPDATE, &[""], &["persistentvolumeclaims/status"]),
                rule(
                    &["create", "delete", "get", "list", "watch"],
                    &[""],
                    &["pods"],
                ),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(LW, &[""], &["nodes"]),
                events(),
                rule(&["watch"], &[""], &["events"]),
            ],
            false,
        ),
        c(
            "pod-garbage-collector",
            vec![
                rule(&["delete", "list", "watch"], &[""], &["pods"]),
                rule(READ, &[""], &["nodes"]),
                rule(&["patch"], &[""], &["pods/status"]),
            ],
            false,
        ),
        c(
            "pv-protection-controller",
            vec![rule(GLUW, &[""], &["persistentvolumes"])],
            true,
        ),
        c(
            "pvc-protection-controller",
            vec![
                rule(GLUW, &[""], &["persistentvolumeclaims"]),
                rule(UPDATE, &[""], &["persistentvolumeclaims/status"]),
                rule(READ, &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "replicaset-controller",
            vec![
                rule(GLUW, apps_ext, &["replicasets"]),
                rule(UPDATE, apps_ext, &["replicasets/status"]),
                rule(UPDATE, apps_ext, &["replicasets/finalizers"]),
                rule(CDLPW, &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "replication-controller",
            vec![
                rule(GLUW, &[""], &["replicationcontrollers"]),
                rule(UPDATE, &[""], &["replicationcontrollers/status"]),
                rule(UPDATE, &[""], &["replicationcontrollers/finalizers"]),
                rule(CDLPW, &[""], &["pods"]),
            ],
            true,
        ),
        c(
            "resourcequota-controller",
            vec![
                rule(LW, &["*"], &["*"]),
                rule(UPDATE, &[""], &["resourcequotas/status"]),
            ],
            true,
        ),
        c(
            "root-ca-cert-publisher",
            vec![rule(&["create", "update"], &[""], &["configmaps"])],
            true,
        ),
        c(
            "route-controller",
            vec![
                rule(LW, &[""], &["nodes"]),
                rule(&["patch"], &[""], &["nodes/status"]),
            ],
            true,
        ),
        c(
            "selinux-warning-controller",
            vec![
                events(),
                rule(READ, &[""], &["persistentvolumes"]),
                rule(READ, &[""], &["persistentvolumeclaims"]),
                rule(READ, &[""], &["pods"]),
                rule(READ, &["storage.k8s.io"], &["csidrivers"]),
            ],
            false,
        ),
        c(
            "service-account-controller",
            vec![rule(&["create"], &[""], &["serviceaccounts"])],
            true,
        ),
        c(
            "service-cidrs-controller",
            vec![
                rule(VOLUME_BINDING, &["networking.k8s.io"], &["servicecidrs"]),
                rule(
                    PATCH_UPDATE,
                    &["networking.k8s.io"],
                    &["servicecidrs/finalizers"],
                ),
                rule(
                    PATCH_UPDATE,
                    &["networking.k8s.io"],
                    &["servicecidrs/status"],
                ),
                rule(READ, &["networking.k8s.io"], &["ipaddresses"]),
            ],
            true,
        ),
        c(
            "service-controller",
            vec![
                rule(READ, &[""], &["services"]),
                rule(PATCH_UPDATE, &[""], &["services/status"]),
                rule(LW, &[""], &["nodes"]),
            ],
            true,
        ),
        c(
            "statefulset-controller",
            vec![
                rule(LW, &[""], &["pods"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(UPDATE, &["apps"], &["statefulsets/status"]),
                rule(UPDATE, &["apps"], &["statefulsets/finalizers"]),
                rule(
                    &["create", "delete", "get", "patch", "update"],
                    &[""],
                    &["pods"],
                ),
                rule(CRUD, &["apps"], &["controllerrevisions"]),
                rule(
                    &["create", "get", "list", "watch"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
                rule(&["delete", "update"], &[""], &["persistentvolumeclaims"]),
                rule(UPDATE, &[""], &["pods/finalizers"]),
            ],
            true,
        ),
        c(
            "ttl-after-finished-controller",
            vec![rule(DGLW, &["batch"], &["jobs"])],
            true,
        ),
        c(
            "ttl-controller",
            vec![rule(
                &["list", "patch", "update", "watch"],
                &[""],
                &["nodes"],
            )],
            true,
        ),
        c(
            "validatingadmissionpolicy-status-controller",
            vec![
                rule(
                    READ,
                    &["admissionregistration.k8s.io"],
                    &["validatingadmissionpolicies"],
                ),
                rule(
                    &["get", "patch", "update"],
                    &["admissionregistration.k8s.io"],
                    &["validatingadmissionpolicies/status"],
                ),
            ],
            true,
        ),
    ]
}

/// The default Roles of `kube-system` and `kube-public` (`NamespaceRoles()` in
/// bootstrappolicy/namespace_policy.go).
pub(crate) fn namespace_roles() -> Vec<Value> {
    let events = || rule(EVENT_WRITE, &["", "events.k8s.io"], &["events"]);
    let leader_locking = |name: &str| {
        let verbs = &["create", "get", "list", "update", "watch"];
        role(
            "kube-system",
            name,
            vec![
                rule(verbs, &["coordination.k8s.io"], &["leases"]),
                rule(verbs, &["coordination.k8s.io"], &["leasecandidates"]),
            ],
        )
    };
    vec![
        role(
            "kube-public",
            "system:controller:bootstrap-signer",
            vec![
                rule(READ, &[""], &["configmaps"]),
                named(&["update"], &[""], &["configmaps"], &["cluster-info"]),
                events(),
            ],
        ),
        role(
            "kube-system",
            "extension-apiserver-authentication-reader",
            vec![named(
                READ,
                &[""],
                &["configmaps"],
                &["extension-apiserver-authentication"],
            )],
        ),
        leader_locking("system::leader-locking-kube-controller-manager"),
        leader_locking("system::leader-locking-kube-scheduler"),
        role(
            "kube-system",
            "system:controller:bootstrap-signer",
            vec![rule(READ, &[""], &["secrets"])],
        ),
        role(
            "kube-system",
            "system:controller:cloud-provider",
            vec![rule(
                &["create", "get", "list", "watch"],
                &[""],
                &["configmaps"],
            )],
        ),
        role(
            "kube-system",
            "system:controller:token-cleaner",
            vec![
                rule(&["delete", "get", "list", "watch"], &[""], &["secrets"]),
                events(),
            ],
        ),
    ]
}

/// The bindings of [`namespace_roles`] (`NamespaceRoleBindings()`).
pub(crate) fn namespace_role_bindings() -> Vec<Value> {
    let controller = |ns: &str, name: &str| {
        role_binding(
            ns,
            &format!("system:controller:{name}"),
            &format!("system:controller:{name}"),
            vec![service_account("kube-system", name)],
        )
    };
    vec![
        controller("kube-public", "bootstrap-signer"),
        role_binding(
            "kube-system",
            "system::extension-apiserver-authentication-reader",
            "extension-apiserver-authentication-reader",
            vec![
                user("system:kube-controller-manager"),
                user("system:kube-scheduler"),
            ],
        ),
        role_binding(
            "kube-system",
            "system::leader-locking-kube-controller-manager",
            "system::leader-locking-kube-controller-manager",
            vec![
                user("system:kube-controller-manager"),
                service_account("kube-system", "kube-controller-manager"),
                service_account("kube-system", "leader-election-controller"),
            ],
        ),
        role_binding(
            "kube-system",
            "system::leader-locking-kube-scheduler",
            "system::leader-locking-kube-scheduler",
            vec![
                user("system:kube-scheduler"),
                service_account("kube-system", "kube-scheduler"),
            ],
        ),
        controller("kube-system", "bootstrap-signer"),
        controller("kube-system", "cloud-provider"),
        controller("kube-system", "token-cleaner"),
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
        binding(
            "system:kube-dns",
            vec![service_account("kube-system", "kube-dns")],
        ),
        binding("system:node-proxier", vec![user("system:kube-proxy")]),
        binding(
            "system:volume-scheduler",
            vec![user("system:kube-scheduler")],
        ),
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
