//! The conformance suite every backend runs, as kube-apiserver's `storage/testing/store_tests.go`
//! does for etcd3 and the cacher. Each check panics with a message on the first deviation.
//!
//! A backend's test file calls [`run_all`] with a factory for fresh, empty stores.

#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed step fails the suite that runs it"
)]

use crate::{EventKind, ListOptions, Storage, StorageError};
use std::sync::Arc;

/// Runs every check against fresh stores from `new_store`.
pub async fn run_all(new_store: &dyn Fn() -> Arc<dyn Storage>) {
    create_get(&*new_store());
    update_cas(&*new_store());
    delete_and_recreate(&*new_store());
    count_live_keys(&*new_store());
    list_prefix_paging(&*new_store());
    list_at_revision(&*new_store());
    watch_history_then_live(new_store()).await;
    watch_filters_prefix(new_store()).await;
    compaction(new_store()).await;
    concurrent_cas_loses_nothing(new_store());
}

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn create_get(s: &dyn Storage) {
    let start = s.current_revision().unwrap();
    let a = s.create("/r/a", v("1")).unwrap();
    assert_eq!(
        a.mod_revision,
        start + 1,
        "a write advances the revision by one"
    );
    assert_eq!(a.create_revision, a.mod_revision);
    assert_eq!(s.get("/r/a").unwrap().unwrap(), a);
    assert!(s.get("/r/missing").unwrap().is_none());
    match s.create("/r/a", v("2")) {
        Err(StorageError::AlreadyExists(k)) => assert_eq!(k, "/r/a"),
        other => panic!("second create: {other:?}"),
    }
    assert_eq!(
        s.get("/r/a").unwrap().unwrap().value,
        v("1"),
        "a failed create changes nothing"
    );
    assert_eq!(
        s.current_revision().unwrap(),
        start + 1,
        "a failed create takes no revision"
    );
}

fn update_cas(s: &dyn Storage) {
    let a = s.create("/r/a", v("1")).unwrap();
    let b = s.update("/r/a", a.mod_revision, v("2")).unwrap();
    assert!(b.mod_revision > a.mod_revision);
    assert_eq!(b.create_revision, a.create_revision);
    match s.update("/r/a", a.mod_revision, v("3")) {
        Err(StorageError::Conflict {
            expected, current, ..
        }) => {
            assert_eq!((expected, current), (a.mod_revision, b.mod_revision))
        }
        other => panic!("stale update: {other:?}"),
    }
    assert_eq!(s.get("/r/a").unwrap().unwrap().value, v("2"));
    assert!(matches!(
        s.update("/r/none", 1, v("x")),
        Err(StorageError::NotFound(_))
    ));
}

fn delete_and_recreate(s: &dyn Storage) {
    let a = s.create("/r/a", v("1")).unwrap();
    assert!(matches!(
        s.delete("/r/a", Some(a.mod_revision + 100)),
        Err(StorageError::Conflict { .. })
    ));
    let d = s.delete("/r/a", Some(a.mod_revision)).unwrap();
    assert_eq!(d.value, v("1"), "delete returns the last value");
    assert!(d.mod_revision > a.mod_revision);
    assert!(s.get("/r/a").unwrap().is_none());
    assert!(matches!(
        s.delete("/r/a", None),
        Err(StorageError::NotFound(_))
    ));
    let again = s.create("/r/a", v("2")).unwrap();
    assert!(
        again.create_revision > d.mod_revision,
        "a re-created key has a new create revision"
    );
}

/// `count` sees the live keys under a prefix only: not a neighbour prefix's, not a deleted
/// key, a recreated one once.
fn count_live_keys(s: &dyn Storage) {
    assert_eq!(s.count("/r/").unwrap(), 0);
    for k in ["/r/a", "/r/b", "/r/c", "/rb/x", "/q/a"] {
        s.create(k, v(k)).unwrap();
    }
    let b = s.get("/r/b").unwrap().unwrap();
    s.update("/r/b", b.mod_revision, v("b2")).unwrap();
    assert_eq!(s.count("/r/").unwrap(), 3, "updates do not add keys");
    s.delete("/r/c", None).unwrap();
    assert_eq!(s.count("/r/").unwrap(), 2);
    s.create("/r/c", v("again")).unwrap();
    assert_eq!(s.count("/r/").unwrap(), 3);
    assert_eq!(s.count("/r").unwrap(), 4, "a bare prefix takes /rb/ too");
    assert_eq!(s.count("/").unwrap(), 5);
    assert_eq!(s.count("/z/").unwrap(), 0);
}

fn list_prefix_paging(s: &dyn Storage) {
    for k in ["/r/c", "/r/a", "/r/b", "/rb/x", "/q/a"] {
        s.create(k, v(k)).unwrap();
    }
    let all = s.list("/r/", &ListOptions::default()).unwrap();
    let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        ["/r/a", "/r/b", "/r/c"],
        "prefix is a directory, in key order"
    );
    assert!(!all.more);
    assert_eq!(all.revision, s.current_revision().unwrap());

    let p1 = s
        .list(
            "/r/",
            &ListOptions {
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(p1.kvs.len(), 2);
    assert!(p1.more);
    let last = p1.kvs[1].key.clone();
    let p2 = s
        .list(
            "/r/",
            &ListOptions {
                limit: 2,
                start_after: Some(&last),
                revision: Some(p1.revision),
                not_older_than: None,
            },
        )
        .unwrap();
    assert_eq!(
        p2.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
        ["/r/c"]
    );
    assert!(!p2.more);
    // A start past every key of the prefix, or before it: nothing more, or everything.
    for (after, want) in [("/r0", 0), ("/s/x", 0), ("/q", 3)] {
        let page = s
            .list(
                "/r/",
                &ListOptions {
                    start_after: Some(after),
                    revision: Some(p1.revision),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(page.kvs.len(), want, "start after {after:?}");
        assert!(!page.more);
    }
    let exact = s
        .list(
            "/r/",
            &ListOptions {
                limit: 3,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        !exact.more,
        "a page that ends exactly at the last key has no more"
    );
    // What a page leaves, counted at the page's revision: a key written since is not.
    let rev = p1.revision;
    s.create("/r/d", v("d")).unwrap();
    s.delete("/r/c", None).unwrap();
    assert_eq!(s.count_after("/r/", &p1.kvs[0].key, rev).unwrap(), 2);
    assert_eq!(s.count_after("/r/", &last, rev).unwrap(), 1);
    assert_eq!(s.count_after("/r/", "/r/c", rev).unwrap(), 0);
    let now = s.current_revision().unwrap();
    assert_eq!(
        s.count_after("/r/", &last, now).unwrap(),
        1,
        "/r/d, /r/c gone"
    );
}

fn list_at_revision(s: &dyn Storage) {
    let a = s.create("/r/a", v("a1")).unwrap();
    let b = s.create("/r/b", v("b1")).unwrap();
    let snapshot = b.mod_revision;
    s.update("/r/a", a.mod_revision, v("a2")).unwrap();
    s.delete("/r/b", None).unwrap();
    s.create("/r/c", v("c1")).unwrap();

    let old = s
        .list(
            "/r/",
            &ListOptions {
                revision: Some(snapshot),
                ..Default::default()
            },
        )
        .unwrap();
    let got: Vec<_> = old
        .kvs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.to_vec()))
        .collect();
    assert_eq!(
        got,
        [("/r/a", v("a1")), ("/r/b", v("b1"))],
        "a list at a revision sees that state"
    );
    let now = s.list("/r/", &ListOptions::default()).unwrap();
    let got: Vec<_> = now
        .kvs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.to_vec()))
        .collect();
    assert_eq!(got, [("/r/a", v("a2")), ("/r/c", v("c1"))]);
    let future = s.current_revision().unwrap() + 5;
    assert!(matches!(
        s.list(
            "/r/",
            &ListOptions {
                revision: Some(future),
                ..Default::default()
            }
        ),
        Err(StorageError::FutureRevision { .. })
    ));
}

async fn watch_history_then_live(s: Arc<dyn Storage>) {
    let a = s.create("/r/a", v("1")).unwrap();
    let from = a.mod_revision;
    let a2 = s.update("/r/a", a.mod_revision, v("2")).unwrap();
    let mut w = s.watch("/r/", from).unwrap();
    s.delete("/r/a", None).unwrap();
    s.create("/r/b", v("b")).unwrap();

    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        (e.kind, e.kv.value.to_vec(), e.prev_value.clone()),
        (EventKind::Modified, v("2"), Some(v("1")))
    );
    assert_eq!(e.kv.mod_revision, a2.mod_revision);
    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        (e.kind, e.kv.value.to_vec()),
        (EventKind::Deleted, v("2")),
        "a deletion carries the last value"
    );
    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        (e.kind, e.kv.key.as_str(), e.prev_value.clone()),
        (EventKind::Created, "/r/b", None)
    );

    // Live events after the watch was opened.
    let store = s.clone();
    tokio::spawn(async move { store.create("/r/c", v("c")).unwrap() });
    let e = w.next().await.unwrap().unwrap();
    assert_eq!((e.kind, e.kv.key.as_str()), (EventKind::Created, "/r/c"));
}

async fn watch_filters_prefix(s: Arc<dyn Storage>) {
    let now = s.current_revision().unwrap();
    let mut w = s.watch("/r/", now).unwrap();
    s.create("/rb/x", v("no")).unwrap();
    s.create("/q/x", v("no")).unwrap();
    s.create("/r/x", v("yes")).unwrap();
    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        e.kv.key, "/r/x",
        "events outside the prefix are not delivered"
    );
}

async fn compaction(s: Arc<dyn Storage>) {
    let a = s.create("/r/a", v("1")).unwrap();
    let gone = s.create("/r/gone", v("g")).unwrap();
    s.delete("/r/gone", None).unwrap();
    let a2 = s.update("/r/a", a.mod_revision, v("2")).unwrap();
    let mid = s.current_revision().unwrap();
    let a3 = s.update("/r/a", a2.mod_revision, v("3")).unwrap();
    s.compact(mid).unwrap();
    assert_eq!(s.compacted_revision().unwrap(), mid);

    assert!(matches!(
        s.list(
            "/r/",
            &ListOptions {
                revision: Some(gone.mod_revision),
                ..Default::default()
            }
        ),
        Err(StorageError::Compacted { .. })
    ));
    assert!(matches!(
        s.watch("/r/", a.mod_revision),
        Err(StorageError::Compacted { .. })
    ));
    let at_mid = s
        .list(
            "/r/",
            &ListOptions {
                revision: Some(mid),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        at_mid.kvs.len(),
        1,
        "the compacted revision itself stays readable"
    );
    assert_eq!(at_mid.kvs[0].value, v("2"));
    assert_eq!(s.get("/r/a").unwrap().unwrap(), a3);
    assert!(s.get("/r/gone").unwrap().is_none());

    let mut w = s.watch("/r/", mid).unwrap();
    let e = w.next().await.unwrap().unwrap();
    assert_eq!(
        (e.kind, e.prev_value.clone()),
        (EventKind::Modified, Some(v("2")))
    );
    // Compacting to an older revision is a no-op, never an error.
    s.compact(1).unwrap();
    assert_eq!(s.compacted_revision().unwrap(), mid);
}

fn concurrent_cas_loses_nothing(s: Arc<dyn Storage>) {
    s.create("/r/counter", v("0")).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    loop {
                        let cur = s.get("/r/counter").unwrap().unwrap();
                        let n: u64 = String::from_utf8(cur.value.to_vec())
                            .unwrap()
                            .parse()
                            .unwrap();
                        match s.update(
                            "/r/counter",
                            cur.mod_revision,
                            (n + 1).to_string().into_bytes(),
                        ) {
                            Ok(_) => break,
                            Err(StorageError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.get("/r/counter").unwrap().unwrap().value, v("200"));
}
