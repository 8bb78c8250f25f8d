//! The Roles and RoleBindings of kube-system and kube-public (bootstrappolicy/namespace_policy.go).

use super::*;

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
