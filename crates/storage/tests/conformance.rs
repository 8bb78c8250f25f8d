//! Every backend runs the one conformance suite.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use std::sync::Arc;
use storage::{conformance, MemoryStorage, SqliteStorage, Storage};

#[tokio::test]
async fn memory_backend_conforms() {
    conformance::run_all(&|| Arc::new(MemoryStorage::new()) as Arc<dyn Storage>).await;
}

/// The timing decorator is a backend to its callers: it conforms too, and reports each call.
#[tokio::test]
async fn an_observed_backend_conforms_and_reports_each_call() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let log = seen.clone();
    let observer: Arc<storage::Observer> = Arc::new(move |op, key, _| {
        log.lock().unwrap().push((op.to_string(), key.to_string()));
    });
    conformance::run_all(&|| {
        Arc::new(storage::Observed::new(
            Arc::new(MemoryStorage::new()),
            observer.clone(),
        )) as Arc<dyn Storage>
    })
    .await;
    let seen = seen.lock().unwrap();
    for op in ["get", "list", "count", "create", "update", "delete"] {
        assert!(seen.iter().any(|(o, _)| o == op), "{op} was reported");
    }
    assert!(seen.contains(&("create".into(), "/r/a".into())));
}

#[tokio::test]
async fn sqlite_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Arc::new(SqliteStorage::open(&dir.path().join(format!("{i}.db"))).unwrap())
            as Arc<dyn Storage>
    })
    .await;
}

#[test]
fn sqlite_reopen_keeps_data_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (kv, rev) = {
        let s = SqliteStorage::open(&path).unwrap();
        let kv = s.create("/r/a", b"1".to_vec()).unwrap();
        s.compact(kv.mod_revision).unwrap();
        (kv, s.current_revision().unwrap())
    };
    let s = SqliteStorage::open(&path).unwrap();
    assert_eq!(s.get("/r/a").unwrap().unwrap(), kv);
    assert_eq!(s.current_revision().unwrap(), rev);
    assert_eq!(s.compacted_revision().unwrap(), kv.mod_revision);
    let next = s.create("/r/b", b"2".to_vec()).unwrap();
    assert_eq!(
        next.mod_revision,
        rev + 1,
        "revisions continue after a restart"
    );
}

#[test]
fn sqlite_compaction_bounds_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(&dir.path().join("state.db")).unwrap();
    let mut kv = s.create("/r/a", vec![0; 1000]).unwrap();
    for _ in 0..500 {
        kv = s.update("/r/a", kv.mod_revision, vec![1; 1000]).unwrap();
    }
    s.compact(kv.mod_revision).unwrap();
    // Only the live row remains readable history.
    let w = s.watch("/r/", kv.mod_revision);
    assert!(w.is_ok());
    assert!(matches!(
        s.watch("/r/", kv.mod_revision - 1),
        Err(storage::StorageError::Compacted { .. })
    ));
    let listed = s.list("/r/", &storage::ListOptions::default()).unwrap();
    assert_eq!(listed.kvs, vec![kv]);
}

#[test]
fn sqlite_revisions_never_go_back_after_compacting_away_the_newest_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let deleted_at = {
        let s = SqliteStorage::open(&path).unwrap();
        s.create("/r/a", b"1".to_vec()).unwrap();
        let d = s.delete("/r/a", None).unwrap();
        // The deletion is the newest row, and compaction removes it.
        s.compact(d.mod_revision).unwrap();
        d.mod_revision
    };
    let s = SqliteStorage::open(&path).unwrap();
    assert_eq!(s.current_revision().unwrap(), deleted_at);
    assert_eq!(
        s.create("/r/b", b"2".to_vec()).unwrap().mod_revision,
        deleted_at + 1
    );
}

/// The etcd backend against a real etcd: each fresh store is a prefix of its own on one
/// member, so the checks that count revisions see only their own writes (they run one at a
/// time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_backend_conforms() {
    let etcd = storage::etcd_server::EtcdCluster::start(1);
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Arc::new(etcd.storage(&format!("/t{i}"))) as Arc<dyn Storage>
    })
    .await;
}

/// The watch cache's resources here: the first path segment (`/r/a` is under `/r/`).
fn first_segment(key: &str) -> Option<usize> {
    key.strip_prefix('/')?.find('/').map(|i| i + 2)
}

/// The watch cache is a backend to its callers: in front of each backend it conforms too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_cache_conforms_in_front_of_every_backend() {
    let cached = |s: Arc<dyn Storage>| {
        Arc::new(storage::Cacher::new(s, first_segment).unwrap()) as Arc<dyn Storage>
    };
    conformance::run_all(&|| cached(Arc::new(MemoryStorage::new()))).await;
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        cached(Arc::new(
            SqliteStorage::open(&dir.path().join(format!("{i}.db"))).unwrap(),
        ))
    })
    .await;
    let etcd = storage::etcd_server::EtcdCluster::start(1);
    conformance::run_all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        cached(Arc::new(etcd.storage(&format!("/c{i}"))))
    })
    .await;
}
