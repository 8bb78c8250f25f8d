//! A store that reports how long each of its calls took: the source of
//! `etcd_request_duration_seconds` for every backend (upstream measures its etcd client calls
//! in `storage/etcd3/store.go`; here the same operations are timed around any [`Storage`]).

use crate::{KeyValue, ListOptions, ListResult, Result, Revision, Storage, Watcher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Told of each call: the operation (`get`, `list`, `count`, `create`, `update`, `delete`), the
/// key or prefix it was for, and how long it took.
pub type Observer = dyn Fn(&'static str, &str, Duration) + Send + Sync;

/// `inner`, with each call timed and reported to an [`Observer`].
pub struct Observed {
    inner: Arc<dyn Storage>,
    observe: Arc<Observer>,
}

impl Observed {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>, observe: Arc<Observer>) -> Self {
        Observed { inner, observe }
    }

    fn timed<T>(&self, op: &'static str, key: &str, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let r = f();
        (self.observe)(op, key, started.elapsed());
        r
    }
}

impl Storage for Observed {
    fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.timed("get", key, || self.inner.get(key))
    }
    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> Result<ListResult> {
        self.timed("list", prefix, || self.inner.list(prefix, opts))
    }
    fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.timed("create", key, || self.inner.create(key, value))
    }
    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> Result<KeyValue> {
        self.timed("update", key, || self.inner.update(key, expected, value))
    }
    fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.timed("delete", key, || self.inner.delete(key, expected))
    }
    fn watch(&self, prefix: &str, after: Revision) -> Result<Watcher> {
        self.inner.watch(prefix, after)
    }
    fn get_cached(&self, key: &str, not_older_than: Revision) -> Result<Option<KeyValue>> {
        self.timed("get", key, || self.inner.get_cached(key, not_older_than))
    }
    fn reports_progress(&self) -> bool {
        self.inner.reports_progress()
    }
    fn cache_stats(&self) -> Vec<crate::CacheStats> {
        self.inner.cache_stats()
    }
    fn count(&self, prefix: &str) -> Result<u64> {
        self.timed("count", prefix, || self.inner.count(prefix))
    }
    fn count_after(&self, prefix: &str, after: &str, revision: Revision) -> Result<u64> {
        self.timed("count", prefix, || {
            self.inner.count_after(prefix, after, revision)
        })
    }
    fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision()
    }
    fn compacted_revision(&self) -> Result<Revision> {
        self.inner.compacted_revision()
    }
    fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision)
    }
}
