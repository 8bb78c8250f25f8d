//! Where objects live in the store: kube-apiserver's key layout, and the move from kubeward's
//! earlier one.
//!
//! kube-apiserver keeps a built-in kind under `/registry/<resource>/[<namespace>/]<name>`,
//! without its group, with a few older names kept (`minions` for nodes, `services/specs` and
//! `services/endpoints`); only aggregated and custom kinds carry their group
//! (`/registry/<group>/<resource>/...`). `ExpectedEtcdPath` in upstream's
//! `test/integration/etcd/data.go` states it for every kind; `tests` below hold ours to it, so
//! `etcdctl get --prefix /registry/clusterroles/` reads the same on either server.
//!
//! Before, kubeward put grouped kinds under their group and named nodes, services and
//! endpoints plainly. [`migrate`] moves such keys once, at start, before anything reads.

use crate::ResourceDef;
use std::sync::OnceLock;
use storage::{KeyValue, ListOptions, Storage, StorageError};

/// The keys a Service's cluster IPs are claimed under (upstream's IPAddress objects).
pub(crate) const IP_KEYS: &str = "/registry/ipaddresses/";
/// The keys a Service's node ports are claimed under: kubeward's own (upstream keeps one
/// bitmap at `/registry/ranges/servicenodeports`), so under its own group, as a custom kind's.
pub(crate) const PORT_KEYS: &str = "/registry/kubeward.io/servicenodeports/";

/// The segment after `/registry/` a kind's keys start with (upstream's resource prefix).
pub fn segment(def: &ResourceDef) -> &'static str {
    match (def.group, def.resource) {
        // `pkg/registry/core/{node,service,endpoint}/storage`: the names etcd kept.
        ("", "nodes") => "minions",
        ("", "services") => "services/specs",
        ("", "endpoints") => "services/endpoints",
        (_, resource) => resource,
    }
}

/// The prefix of a kind's keys, in one namespace when `ns` is given and the kind is
/// namespaced: `/registry/<segment>/[<ns>/]`.
pub fn prefix(def: &ResourceDef, ns: Option<&str>) -> String {
    let mut p = format!("/registry/{}/", segment(def));
    if let (true, Some(ns)) = (def.namespaced, ns) {
        p.push_str(ns);
        p.push('/');
    }
    p
}

/// Every resource prefix the server writes under, with the group-resource it holds.
fn table() -> &'static [(String, String)] {
    static TABLE: OnceLock<Vec<(String, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<(String, String)> = crate::resources()
            .iter()
            .filter(|d| !d.is_review())
            .map(|d| (prefix(d, None), group_resource(d.group, d.resource)))
            .collect();
        // Keys the server keeps for itself: named as upstream names their kind.
        t.push((IP_KEYS.into(), "ipaddresses.networking.k8s.io".into()));
        t.push((PORT_KEYS.into(), "servicenodeports.kubeward.io".into()));
        t
    })
}

/// `resource` or `resource.group`, as Go's `schema.GroupResource` prints.
pub(crate) fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// The length of the resource prefix (`/registry/secrets/`, `/registry/services/specs/`) that
/// a key, or a list or watch prefix, falls under: what the watch cache keeps one cache per
/// (`storage::ResourceOf`). `None` for a prefix shorter than one resource's, or outside the
/// layout.
pub fn resource_prefix_len(key: &str) -> Option<usize> {
    table()
        .iter()
        .find(|(p, _)| key.starts_with(p.as_str()))
        .map(|(p, _)| p.len())
}

/// The group-resource a storage key belongs to (`/registry/secrets/ns/x` → `secrets`,
/// `/registry/roles/ns/x` → `roles.rbac.authorization.k8s.io`): the `type` of
/// `etcd_request_duration_seconds`. Keys outside the layout are `other`, so the label's values
/// stay a fixed set.
pub fn group_resource_of_key(key: &str) -> String {
    table()
        .iter()
        .find(|(p, _)| key.starts_with(p.as_str()))
        .map_or_else(|| "other".into(), |(_, gr)| gr.clone())
}

/// Where kubeward kept a kind's keys before it took upstream's layout, when elsewhere.
fn old_prefix(def: &ResourceDef) -> Option<String> {
    let old = if def.group.is_empty() {
        format!("/registry/{}/", def.resource)
    } else {
        format!("/registry/{}/{}/", def.group, def.resource)
    };
    (old != prefix(def, None)).then_some(old)
}

/// Moves every key of kubeward's earlier layout to upstream's: each is created at its new
/// place with its value, then deleted at its old one (at the revision read, so a write that
/// raced it is not lost). Safe to run again and from two replicas at once: a key already
/// moved is only deleted. Returns how many keys moved. Objects get new resourceVersions, as
/// after any rewrite; their uids and contents stay.
pub fn migrate(store: &dyn Storage) -> Result<u64, StorageError> {
    let mut moves: Vec<(String, String)> = crate::resources()
        .iter()
        .filter(|d| !d.is_review())
        .filter_map(|d| Some((old_prefix(d)?, prefix(d, None))))
        .collect();
    moves.push((
        "/registry/networking.k8s.io/ipaddresses/".into(),
        IP_KEYS.into(),
    ));
    let mut moved = 0;
    for (old, new) in moves {
        for kv in store.list(&old, &ListOptions::default())?.kvs {
            let rest = &kv.key[old.len()..];
            // `/registry/services/` holds the new `specs/` and `endpoints/` keys too: an old
            // key is `<ns>/<name>` there (names hold no `/`), a new one has a segment more.
            if old == "/registry/services/" && rest.matches('/').count() != 1 {
                continue;
            }
            move_key(store, &kv, &format!("{new}{rest}"))?;
            moved += 1;
        }
    }
    Ok(moved)
}

fn move_key(store: &dyn Storage, kv: &KeyValue, to: &str) -> Result<(), StorageError> {
    match store.create(to, kv.value.to_vec()) {
        Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    match store.delete(&kv.key, Some(kv.mod_revision)) {
        // Another replica moved it first.
        Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(group: &str, resource: &str) -> &'static ResourceDef {
        crate::resources()
            .iter()
            .find(|d| d.group == group && d.resource == resource)
            .copied()
            .unwrap_or_else(|| panic!("{resource}.{group} is served"))
    }

    /// `ExpectedEtcdPath` of upstream's `test/integration/etcd/data.go` for every stored kind
    /// kubeward serves (namespace `ns`, name `x`).
    #[test]
    fn keys_are_where_kube_apiserver_keeps_them() {
        let upstream = [
            ("", "configmaps", "/registry/configmaps/ns/x"),
            ("", "services", "/registry/services/specs/ns/x"),
            ("", "pods", "/registry/pods/ns/x"),
            ("", "endpoints", "/registry/services/endpoints/ns/x"),
            ("", "namespaces", "/registry/namespaces/x"),
            ("", "nodes", "/registry/minions/x"),
            ("", "events", "/registry/events/ns/x"),
            ("", "serviceaccounts", "/registry/serviceaccounts/ns/x"),
            ("", "secrets", "/registry/secrets/ns/x"),
            ("coordination.k8s.io", "leases", "/registry/leases/ns/x"),
            (
                "discovery.k8s.io",
                "endpointslices",
                "/registry/endpointslices/ns/x",
            ),
            ("rbac.authorization.k8s.io", "roles", "/registry/roles/ns/x"),
            (
                "rbac.authorization.k8s.io",
                "clusterroles",
                "/registry/clusterroles/x",
            ),
            (
                "rbac.authorization.k8s.io",
                "rolebindings",
                "/registry/rolebindings/ns/x",
            ),
            (
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                "/registry/clusterrolebindings/x",
            ),
        ];
        let stored = crate::resources().iter().filter(|d| !d.is_review()).count();
        assert_eq!(upstream.len(), stored, "every stored kind has its row");
        for (group, resource, want) in upstream {
            let d = def(group, resource);
            let key = format!("{}x", prefix(d, Some("ns")));
            assert_eq!(key, want);
            assert_eq!(
                resource_prefix_len(&key).map(|n| &key[..n]),
                Some(prefix(d, None).as_str())
            );
            assert_eq!(group_resource_of_key(&key), group_resource(group, resource));
        }
        assert_eq!(
            group_resource_of_key("/registry/ipaddresses/10.96.0.1"),
            "ipaddresses.networking.k8s.io"
        );
        for short in ["/registry/services/", "/registry/", "/other/secrets/a"] {
            assert_eq!(resource_prefix_len(short), None, "{short}");
            assert_eq!(group_resource_of_key(short), "other");
        }
        // A list of one namespace falls under its resource's cache.
        assert_eq!(
            resource_prefix_len("/registry/services/specs/ns/"),
            Some("/registry/services/specs/".len())
        );
    }
}
