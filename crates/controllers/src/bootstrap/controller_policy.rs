//! kube-controller-manager's `system:controller:*` roles and their bindings
//! (bootstrappolicy/controller_policy.go).

use super::*;

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
