//! The watch cache, as kube-apiserver's cacher (`staging/src/k8s.io/apiserver/pkg/storage/
//! cacher`) puts one in front of etcd, here in front of any backend. It is itself a
//! [`Storage`], so the registry does not know it is there.
//!
//! Per resource (the caller says which key prefix is a resource's: [`ResourceOf`]) it keeps
//! the objects and a window of recent events in memory, fed by **one** watch on the store
//! however many clients watch:
//!
//! - a watch from a revision inside the window is served from memory (history, then live
//!   events, with no gap: a watcher is made under the lock the events are applied under); an
//!   older one goes to the store;
//! - a list at the current revision (no exact revision asked) is served from memory once the
//!   cache is known to be at least as fresh as the store's current revision (KEP-2340,
//!   consistent reads from cache): the store's revision is read, then the cache waits for its
//!   watch to reach it (every write reports progress on an in-process store). A cache that
//!   does not get there in 3 s (upstream's `waitUntilFreshAndBlock` bound) leaves the list to
//!   the store; so does etcd, whose progress notifications can run ahead of its events before
//!   3.4.31 (etcd-io/etcd#15220), as kube-apiserver leaves such lists to etcd when its version
//!   lacks the fix. A list at `resourceVersion=0` (any recent state: informers' first list) is
//!   the cache's on every store, and one "not older than" a revision the cache has seen
//!   (waiting for it as above where the store reports progress);
//! - a list at an exact revision (a continue token's later pages), a GET of the current
//!   state, every write and compaction go to the store; `get_cached` (a GET at
//!   `resourceVersion=0` or "not older than", and admission's lookups, as upstream's listers)
//!   is answered from memory under the same rule, a miss from the store.
//!
//! Each object the cache holds carries a shared [`Memo`](crate::Memo): what a caller derives
//! from that revision (the registry's encoded JSON) is derived once, and a list from memory
//! joins it. A read the store answers (a GET, a later page, a consistent list on etcd) gets the
//! memo of the cache's copy when the revisions are the same.
//!
//! When the store's watch ends (etcd gone, compaction past it), the cache starts over: its
//! watchers' streams end (they re-list, as after upstream's `terminateAllWatchers`), reads go to
//! the store meanwhile, and it lists and watches again with back-off. A client watcher that
//! falls more than [`FANOUT`] events behind is ended with [`StorageError::Lagged`], never
//! silently skipped.

use crate::background::{blocking, Background};
use crate::watch::{WatchItem, Watcher};
use crate::{
    CacheStats, Event, EventKind, KeyValue, ListOptions, ListResult, Memo, Result, Revision,
    Storage, StorageError,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// The length of the resource prefix a key (or a list or watch prefix) falls under, or `None`
/// when it is not one resource's (then the store answers).
pub type ResourceOf = fn(&str) -> Option<usize>;

/// How many recent events each resource keeps for watches that resume (upstream's cache
/// starts at 100 and grows with load; a fixed window is simpler and as safe: an older resume
/// goes to the store).
const HISTORY: usize = 1024;

/// How many events a cache's watcher may fall behind before it is ended with
/// [`StorageError::Lagged`] (the channel's slots are allocated up front, per resource: 8,192
/// of them, as a store's own channel has, cost 6 MiB across the resources cached at start).
const FANOUT: usize = HISTORY;

fn fanout() -> broadcast::Sender<Arc<Event>> {
    broadcast::channel(FANOUT).0
}

/// How long a list waits for the cache to catch up before the store answers it.
const FRESH_WAIT: Duration = Duration::from_secs(3);

/// The longest pause between attempts to list and watch a resource again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A store with a watch cache in front.
pub struct Cacher {
    inner: Arc<dyn Storage>,
    resource_of: ResourceOf,
    /// The caches' tasks run here.
    background: Background,
    caches: Mutex<HashMap<String, Arc<Cache>>>,
    store_watches: AtomicU64,
}

/// One resource's cache.
struct Cache {
    prefix: String,
    /// Lists and watch starts (see [`CacheStats`]).
    initializations: AtomicU64,
    /// Watches opened on the store for this resource.
    store_watches: AtomicU64,
    state: Mutex<State>,
    /// Signalled when the revision moves or the cache becomes ready.
    moved: Condvar,
}

struct State {
    /// False while the cache starts over; reads and watches then go to the store.
    ready: bool,
    objects: BTreeMap<String, KeyValue>,
    /// Every change under the prefix up to here is applied.
    revision: Revision,
    /// `history` holds every event after this revision.
    window_start: Revision,
    history: VecDeque<Event>,
    /// Live events to the cache's watchers; replaced (ending them) when the cache starts over.
    live: broadcast::Sender<Arc<Event>>,
}

impl Cache {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent; a panic elsewhere does not.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the state with a fresh list; the old watchers' streams end.
    fn reset(&self, listed: ListResult) {
        self.initializations.fetch_add(1, Ordering::Relaxed);
        let mut s = self.lock();
        s.objects = listed
            .kvs
            .into_iter()
            .map(|mut kv| {
                kv.memo = Memo::shared();
                (kv.key.clone(), kv)
            })
            .collect();
        s.revision = listed.revision;
        s.window_start = listed.revision;
        s.history.clear();
        s.live = fanout();
        s.ready = true;
        drop(s);
        self.moved.notify_all();
    }

    fn apply(&self, item: WatchItem) {
        let mut s = self.lock();
        match item {
            WatchItem::Progress(rev) => s.revision = s.revision.max(rev),
            WatchItem::Event(mut e) => {
                if e.kv.mod_revision <= s.revision {
                    return;
                }
                // One memo for this revision, shared by the cache, its history and watchers.
                e.kv.memo = Memo::shared();
                s.revision = e.kv.mod_revision;
                match e.kind {
                    EventKind::Deleted => {
                        s.objects.remove(&e.kv.key);
                    }
                    EventKind::Created | EventKind::Modified => {
                        s.objects.insert(e.kv.key.clone(), e.kv.clone());
                    }
                }
                if s.history.len() == HISTORY {
                    if let Some(old) = s.history.pop_front() {
                        s.window_start = old.kv.mod_revision;
                    }
                }
                // No receiver is not an error: nobody watches now.
                let _ = s.live.send(Arc::new(e.clone()));
                s.history.push_back(e);
            }
        }
        drop(s);
        self.moved.notify_all();
    }

    /// Gives each of `kvs` (read from the store) the memo of the cache's copy of the same
    /// revision, so what was derived from it once is not derived again.
    fn share_memos<'a>(&self, kvs: impl IntoIterator<Item = &'a mut KeyValue>) {
        let s = self.lock();
        if !s.ready {
            return;
        }
        for kv in kvs {
            if let Some(held) = s.objects.get(&kv.key) {
                if held.mod_revision == kv.mod_revision {
                    kv.memo = held.memo.clone();
                }
            }
        }
    }

    /// Stops serving until the next list; the watchers' streams end.
    fn lose(&self) {
        let mut s = self.lock();
        s.ready = false;
        s.live = fanout();
        s.history.clear();
    }
}

impl Cacher {
    /// A cache in front of `inner` for every resource `resource_of` names.
    pub fn new(inner: Arc<dyn Storage>, resource_of: ResourceOf) -> Result<Self> {
        Ok(Cacher {
            inner,
            resource_of,
            background: Background::start("watch-cache")?,
            caches: Mutex::new(HashMap::new()),
            store_watches: AtomicU64::new(0),
        })
    }

    /// How many watches the cache has opened on the store (its own, and the ones it passed
    /// through), for tests and metrics.
    pub fn store_watches(&self) -> u64 {
        self.store_watches.load(Ordering::Relaxed)
    }

    /// The cache of the resource `key` falls under, when one is made already.
    fn existing(&self, key: &str) -> Option<Arc<Cache>> {
        let resource = key.get(..(self.resource_of)(key)?)?;
        let caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        caches.get(resource).cloned()
    }

    /// A list the store answers, with the cache's memos where it holds the same revisions.
    fn list_from_store(
        &self,
        cache: &Cache,
        prefix: &str,
        opts: &ListOptions<'_>,
    ) -> Result<ListResult> {
        let mut listed = self.inner.list(prefix, opts)?;
        cache.share_memos(&mut listed.kvs);
        Ok(listed)
    }

    fn store_watch(&self, prefix: &str, after: Revision) -> Result<Watcher> {
        self.store_watches.fetch_add(1, Ordering::Relaxed);
        self.inner.watch(prefix, after)
    }

    /// The cache of the resource `prefix` falls under, made (listed and watched) on first use;
    /// `None` when `prefix` is not within one resource, or the store cannot be read now.
    fn cache(&self, prefix: &str) -> Option<Arc<Cache>> {
        let resource = prefix.get(..(self.resource_of)(prefix)?)?;
        let caches = || self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = caches().get(resource) {
            return Some(c.clone());
        }
        // The first list and watch happen here, so the first caller is served from memory;
        // outside the map's lock, so a slow or unreachable store holds up no other resource.
        let listed = self.inner.list(resource, &ListOptions::default()).ok()?;
        let watcher = self.store_watch(resource, listed.revision).ok()?;
        let cache = Arc::new(Cache {
            prefix: resource.to_string(),
            initializations: AtomicU64::new(0),
            store_watches: AtomicU64::new(1),
            state: Mutex::new(State {
                ready: false,
                objects: BTreeMap::new(),
                revision: 0,
                window_start: 0,
                history: VecDeque::new(),
                live: fanout(),
            }),
            moved: Condvar::new(),
        });
        cache.reset(listed);
        let mut map = caches();
        if let Some(first) = map.get(resource) {
            // Another caller made it meanwhile: theirs serves, and this watch is dropped.
            return Some(first.clone());
        }
        map.insert(resource.to_string(), cache.clone());
        drop(map);
        let feed = Feed {
            inner: self.inner.clone(),
            cache: cache.clone(),
        };
        self.background.handle.spawn(feed.run(watcher));
        Some(cache)
    }

    /// The revision at which the cache's state is the store's current state, waiting (at most
    /// [`FRESH_WAIT`]) for its watch to reach the store's current revision; `None` when it is
    /// not serving or did not get there.
    fn fresh(&self, cache: &Cache) -> Result<Option<Revision>> {
        Ok(self.reached(cache, self.inner.current_revision()?))
    }

    /// The cache's revision once it is serving and has seen revision `target`, waiting at
    /// most [`FRESH_WAIT`] for its watch to get there (upstream's `waitUntilFreshAndBlock`);
    /// `None` when it did not. A cache starting over is not waited for (the store answers
    /// meanwhile, as before it was made). Nor is a store whose watchers do not report progress
    /// (etcd's are not trusted): its cache's revision moves only with the resource's own
    /// events, so a revision of another resource's write would never come and the wait would
    /// only delay the store's answer.
    fn reached(&self, cache: &Cache, target: Revision) -> Option<Revision> {
        let s = cache.lock();
        if !s.ready {
            return None;
        }
        if s.revision >= target {
            return Some(s.revision);
        }
        if !self.inner.reports_progress() {
            return None;
        }
        let (s, _) = blocking(|| {
            cache
                .moved
                .wait_timeout_while(s, FRESH_WAIT, |s| s.ready && s.revision < target)
                .unwrap_or_else(|p| p.into_inner())
        });
        (s.ready && s.revision >= target).then_some(s.revision)
    }
}

/// The task that keeps one cache: applies its store watch, and starts over when it ends.
struct Feed {
    inner: Arc<dyn Storage>,
    cache: Arc<Cache>,
}

impl Feed {
    async fn run(self, mut watcher: Watcher) {
        let mut backoff = Duration::from_millis(50);
        loop {
            loop {
                match watcher.next_item().await {
                    Some(Ok(item)) => self.cache.apply(item),
                    Some(Err(e)) => {
                        tracing::info!(prefix = %self.cache.prefix, error = %e, "watch cache: the store's watch ended; listing again");
                        break;
                    }
                    None => break,
                }
            }
            self.cache.lose();
            // List and watch again, with back-off, off the runtime's thread (calls block).
            watcher = loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                let (inner, prefix) = (self.inner.clone(), self.cache.prefix.clone());
                let cache = self.cache.clone();
                let again = tokio::task::spawn_blocking(move || {
                    let listed = inner.list(&prefix, &ListOptions::default())?;
                    cache.store_watches.fetch_add(1, Ordering::Relaxed);
                    let w = inner.watch(&prefix, listed.revision)?;
                    Ok::<_, StorageError>((listed, w))
                })
                .await;
                if let Ok(Ok((listed, w))) = again {
                    self.cache.reset(listed);
                    backoff = Duration::from_millis(50);
                    break w;
                }
            };
        }
    }
}

impl Storage for Cacher {
    fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let mut kv = self.inner.get(key)?;
        if let (Some(cache), Some(kv)) = (self.existing(key), kv.as_mut()) {
            cache.share_memos([kv]);
        }
        Ok(kv)
    }

    fn get_cached(&self, key: &str, not_older_than: Revision) -> Result<Option<KeyValue>> {
        if let Some(cache) = self.cache(key) {
            if self.reached(&cache, not_older_than).is_some() {
                let s = cache.lock();
                if let Some(kv) = s.objects.get(key).filter(|_| s.ready) {
                    return Ok(Some(kv.clone()));
                }
            }
        }
        // A miss is looked up live, as NamespaceLifecycle does when its lister has nothing.
        self.inner.get(key)
    }

    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> Result<ListResult> {
        if opts.revision.is_some() {
            // A later page: the store's, at its revision; its objects often still the cache's.
            return match self.existing(prefix) {
                Some(cache) => self.list_from_store(&cache, prefix, opts),
                None => self.inner.list(prefix, opts),
            };
        }
        let Some(cache) = self.cache(prefix) else {
            return self.inner.list(prefix, opts);
        };
        // A state not older than a revision the cache has seen (resourceVersion=0: any), or
        // the current state once the cache is current.
        let served = match opts.not_older_than {
            Some(n) => self.reached(&cache, n),
            None => self.fresh(&cache)?,
        };
        if served.is_none() {
            return self.list_from_store(&cache, prefix, opts);
        }
        let s = cache.lock();
        if !s.ready {
            drop(s);
            return self.list_from_store(&cache, prefix, opts);
        }
        let revision = s.revision;
        let from = match opts.start_after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        let mut kvs = Vec::new();
        let mut more = false;
        for (key, kv) in s.objects.range((from, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            if opts.limit > 0 && kvs.len() == opts.limit {
                more = true;
                break;
            }
            kvs.push(kv.clone());
        }
        Ok(ListResult {
            kvs,
            revision,
            more,
        })
    }

    fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.inner.create(key, value)
    }

    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> Result<KeyValue> {
        self.inner.update(key, expected, value)
    }

    fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.inner.delete(key, expected)
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<Watcher> {
        if let Some(cache) = self.cache(prefix) {
            let s = cache.lock();
            if s.ready && after >= s.window_start {
                let history: Vec<Event> = s
                    .history
                    .iter()
                    .filter(|e| e.kv.mod_revision > after && e.kv.key.starts_with(prefix))
                    .cloned()
                    .collect();
                let seen = after.max(s.revision);
                return Ok(Watcher::new(prefix, history, s.live.subscribe(), seen));
            }
            drop(s);
            cache.store_watches.fetch_add(1, Ordering::Relaxed);
        }
        self.store_watch(prefix, after)
    }

    fn reports_progress(&self) -> bool {
        self.inner.reports_progress()
    }

    fn cache_stats(&self) -> Vec<CacheStats> {
        let caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        let mut stats: Vec<CacheStats> = caches
            .values()
            .map(|c| CacheStats {
                prefix: c.prefix.clone(),
                initializations: c.initializations.load(Ordering::Relaxed),
                store_watches: c.store_watches.load(Ordering::Relaxed),
            })
            .collect();
        stats.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        stats
    }

    fn count(&self, prefix: &str) -> Result<u64> {
        self.inner.count(prefix)
    }

    fn count_after(&self, prefix: &str, after: &str, revision: Revision) -> Result<u64> {
        self.inner.count_after(prefix, after, revision)
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
