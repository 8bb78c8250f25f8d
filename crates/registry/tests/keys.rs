//! The move from kubeward's earlier key layout to kube-apiserver's (`registry::keys`), on a
//! real store.

#![allow(clippy::unwrap_used, reason = "tests: a failed step fails the run")]

use registry::keys::migrate;
use storage::{ListOptions, MemoryStorage, Storage};

#[test]
fn the_earlier_layout_moves_once_and_keeps_every_value() {
    let store = MemoryStorage::new();
    let old = [
        ("/registry/rbac.authorization.k8s.io/roles/ns/r", "role"),
        ("/registry/nodes/n1", "node"),
        ("/registry/endpoints/ns/kubernetes", "endpoints"),
        ("/registry/services/ns/web", "service"),
        // A Service in a namespace named `specs`, in the old layout.
        ("/registry/services/specs/web", "service in specs"),
        ("/registry/networking.k8s.io/ipaddresses/10.96.0.1", "ip"),
        ("/registry/secrets/ns/s", "secret, where it was"),
    ];
    for (k, v) in old {
        store.create(k, v.as_bytes().to_vec()).unwrap();
    }
    // A key the new layout holds already stays as it is.
    store
        .create("/registry/services/specs/ns/api", b"new".to_vec())
        .unwrap();
    assert_eq!(migrate(&store).unwrap(), 6);
    let all: Vec<(String, String)> = store
        .list("/registry/", &ListOptions::default())
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| (kv.key, String::from_utf8(kv.value.to_vec()).unwrap()))
        .collect();
    let want = [
        ("/registry/ipaddresses/10.96.0.1", "ip"),
        ("/registry/minions/n1", "node"),
        ("/registry/roles/ns/r", "role"),
        ("/registry/secrets/ns/s", "secret, where it was"),
        ("/registry/services/endpoints/ns/kubernetes", "endpoints"),
        ("/registry/services/specs/ns/api", "new"),
        ("/registry/services/specs/ns/web", "service"),
        ("/registry/services/specs/specs/web", "service in specs"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(all, want);
    assert_eq!(migrate(&store).unwrap(), 0, "nothing left to move");
}
