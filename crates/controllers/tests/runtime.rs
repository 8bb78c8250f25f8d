//! The controller runtime on a real registry: a failed write is retried with back-off until it
//! lands, and an informer's re-list reports what changed while it was not watching.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

mod common;

use controllers::manager::{controller_user, manager_user, SERVICE_ACCOUNT_CONTROLLER};
use registry::{Change, Informer, WriteOptions};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use storage::{KeyValue, ListOptions, ListResult, MemoryStorage, Revision, Storage, Watcher};

/// Memory storage whose creates under `prefix` fail `failures` times.
struct Flaky {
    inner: MemoryStorage,
    prefix: &'static str,
    failures: AtomicUsize,
    attempts: AtomicUsize,
}

impl Storage for Flaky {
    fn get(&self, key: &str) -> storage::Result<Option<KeyValue>> {
        self.inner.get(key)
    }
    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> storage::Result<ListResult> {
        self.inner.list(prefix, opts)
    }
    fn create(&self, key: &str, value: Vec<u8>) -> storage::Result<KeyValue> {
        if key.starts_with(self.prefix) {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return Err(storage::StorageError::Poisoned);
            }
        }
        self.inner.create(key, value)
    }
    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> storage::Result<KeyValue> {
        self.inner.update(key, expected, value)
    }
    fn delete(&self, key: &str, expected: Option<Revision>) -> storage::Result<KeyValue> {
        self.inner.delete(key, expected)
    }
    fn watch(&self, prefix: &str, after: Revision) -> storage::Result<Watcher> {
        self.inner.watch(prefix, after)
    }
    fn count(&self, prefix: &str) -> storage::Result<u64> {
        self.inner.count(prefix)
    }
    fn current_revision(&self) -> storage::Result<Revision> {
        self.inner.current_revision()
    }
    fn compacted_revision(&self) -> storage::Result<Revision> {
        self.inner.compacted_revision()
    }
    fn compact(&self, revision: Revision) -> storage::Result<()> {
        self.inner.compact(revision)
    }
}

#[tokio::test]
async fn a_failed_write_is_retried_with_back_off_until_it_lands() {
    let flaky = Arc::new(Flaky {
        inner: MemoryStorage::new(),
        prefix: "/registry/serviceaccounts/team/",
        failures: AtomicUsize::new(3),
        attempts: AtomicUsize::new(0),
    });
    let cluster = common::Cluster::on(flaky.clone(), &["team"]).await;
    let reg = cluster.registry.clone();
    let shared = cluster.client(manager_user());
    let controller = controllers::service_account_controller(
        shared.clone(),
        cluster.client(controller_user(SERVICE_ACCOUNT_CONTROLLER)),
    );
    tokio::spawn(controller.run(shared, Arc::new(controllers::runtime::AlwaysLeader)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while reg
        .get(&registry::kinds::SERVICE_ACCOUNTS, "team", "default")
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the default account never appeared"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(flaky.failures.load(Ordering::SeqCst), 0);
    assert_eq!(
        flaky.attempts.load(Ordering::SeqCst),
        4,
        "three failures, each retried, then the write that landed"
    );
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
}

/// `applied NAME` or `deleted NAME`.
fn describe(c: Change<'_>) -> String {
    let what = match c {
        Change::Applied(_) => "applied",
        Change::Deleted(_) => "deleted",
    };
    format!(
        "{what} {}",
        c.object()["metadata"]["name"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_relist_reports_what_changed_while_not_watching() {
    let cluster = common::Cluster::new(&["ns"]).await;
    let (reg, client) = (cluster.registry.clone(), cluster.admin());
    let w = WriteOptions::default();
    for n in ["kept", "gone", "recreated", "changed"] {
        reg.create(&registry::kinds::CONFIG_MAPS, "ns", cm(n), &w)
            .unwrap();
    }
    let mut informer = Informer::new(&registry::kinds::CONFIG_MAPS, "");
    let mut seen = Vec::new();
    let mut record = |c: Change<'_>| seen.push(describe(c));
    informer.list(client.as_ref(), &mut record).await.unwrap();
    assert_eq!(seen.len(), 4, "the first list applies everything");
    seen.clear();

    let del = registry::DeleteOptions::default();
    reg.delete(&registry::kinds::CONFIG_MAPS, "ns", "gone", &del)
        .unwrap();
    reg.delete(&registry::kinds::CONFIG_MAPS, "ns", "recreated", &del)
        .unwrap();
    reg.create(&registry::kinds::CONFIG_MAPS, "ns", cm("recreated"), &w)
        .unwrap();
    let mut changed = reg
        .get(&registry::kinds::CONFIG_MAPS, "ns", "changed")
        .unwrap();
    changed["data"] = json!({"k": "v"});
    reg.update(
        &registry::kinds::CONFIG_MAPS,
        "ns",
        "changed",
        changed,
        None,
        &w,
    )
    .unwrap();
    reg.create(&registry::kinds::CONFIG_MAPS, "ns", cm("new"), &w)
        .unwrap();

    let mut record = |c: Change<'_>| seen.push(describe(c));
    informer.list(client.as_ref(), &mut record).await.unwrap();
    assert_eq!(
        seen,
        [
            "deleted gone",
            "deleted recreated",
            "applied changed",
            "applied new",
            "applied recreated"
        ],
        "deletions first (a re-created object is a deletion, then an addition); unchanged objects are not reported"
    );
    assert_eq!(informer.objects().count(), 4);
}
