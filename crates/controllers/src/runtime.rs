//! The one controller runtime, on client-go's and kube-runtime's model: informers follow the
//! watched resources (`registry::Informer`: list, then watch, re-list after a watch ends) and
//! turn every change into keys; a de-duplicating work queue hands each key to `reconcile`, one
//! at a time; `reconcile` reads the current state and makes it right (level-triggered, so a
//! missed event is never a lost change). An error is logged and the key retried with per-key
//! exponential back-off (client-go's `ItemExponentialFailureRateLimiter`: 5 ms doubling, at
//! most 1000 s); a success forgets the key's failures; `Action::RequeueAfter` looks again
//! later. Nothing a reconcile returns is dropped.
//!
//! A controller acts only while its [`Elector`] says so: leader election when several
//! replicas share a store (`leaderelection`; kubeward alone is always the leader). When
//! leadership is lost its queue and informers are dropped, and it waits to lead again.

use api_types::StatusError;
use registry::{BoxFuture, Change, Client, Informer, ResourceDef};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a controller works on: an object by namespace ("" when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The namespace ("" for cluster-scoped objects and for keys that are not objects).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl Key {
    /// The key `namespace`/`name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Key {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object itself.
    pub fn of(obj: &Value) -> Self {
        Key::new(
            crate::meta_str(obj, "namespace"),
            crate::meta_str(obj, "name"),
        )
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The key is as it should be until something changes.
    Done,
    /// Look again after this long (work that waits on something else).
    RequeueAfter(Duration),
}

/// Makes one key's state right. An error is retried with back-off.
pub type Reconcile =
    Arc<dyn Fn(Key) -> BoxFuture<'static, Result<Action, StatusError>> + Send + Sync>;

/// A [`Reconcile`] from an async function of the key.
pub fn reconcile<F, Fut>(f: F) -> Reconcile
where
    F: Fn(Key) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, StatusError>> + Send + 'static,
{
    Arc::new(move |k| Box::pin(f(k)))
}

/// One resource a controller follows, and the keys a change of one of its objects wakes.
pub struct Watch {
    /// The resource followed.
    pub def: &'static ResourceDef,
    /// Only its objects matching this field selector ("" for all).
    pub field_selector: String,
    /// The keys a change wakes.
    pub keys: fn(Change<'_>) -> Vec<Key>,
}

impl Watch {
    /// Every object of `def`, each waking its own key.
    pub fn objects(def: &'static ResourceDef) -> Self {
        Watch {
            def,
            field_selector: String::new(),
            keys: |c| vec![Key::of(c.object())],
        }
    }

    /// Only the objects matching a field selector.
    pub fn selecting(mut self, field_selector: &str) -> Self {
        self.field_selector = field_selector.to_string();
        self
    }

    /// The keys a change wakes (the object's own key by default).
    pub fn waking(mut self, keys: fn(Change<'_>) -> Vec<Key>) -> Self {
        self.keys = keys;
        self
    }
}

/// The start and stop hooks: when this process may act (leader election).
pub trait Elector: Send + Sync {
    /// Resolves once this process leads (at once for a single process).
    fn acquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Resolves once this process no longer leads (never for a single process).
    fn lost(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// One process alone: always the leader.
pub struct AlwaysLeader;

impl Elector for AlwaysLeader {
    fn acquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }

    fn lost(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

/// A controller: its name (for logs), what it watches, and its reconcile.
pub struct Controller {
    /// For logs: the controller's upstream name.
    pub name: &'static str,
    /// What it follows.
    pub watches: Vec<Watch>,
    /// What it does for a key.
    pub reconcile: Reconcile,
}

impl Controller {
    /// Waits for the elector, then follows every watch through `informers` (the client the
    /// shared informers read with: kube-controller-manager's own identity) and reconciles keys
    /// until leadership is lost (then it waits to lead again, with a new queue and informers)
    /// or the task is dropped.
    pub async fn run(self, informers: Arc<dyn Client>, elector: Arc<dyn Elector>) {
        loop {
            elector.acquire().await;
            tokio::select! {
                () = self.lead(&informers) => {}
                () = elector.lost() => {
                    tracing::info!(controller = self.name, "stopped: no longer the leader");
                }
            }
        }
    }

    /// Acts until dropped: the informers' tasks end with it.
    async fn lead(&self, informers: &Arc<dyn Client>) {
        let queue = Arc::new(Queue::new(Backoff::default()));
        let mut followers = tokio::task::JoinSet::new();
        for w in &self.watches {
            let (q, keys) = (queue.clone(), w.keys);
            let informer = Informer::new(w.def, w.field_selector.clone());
            followers.spawn(informer.run(informers.clone(), move |c| {
                for k in keys(c) {
                    q.add(k);
                }
            }));
        }
        loop {
            let key = queue.get().await;
            match (self.reconcile)(key.clone()).await {
                Ok(Action::Done) => queue.forget(&key),
                Ok(Action::RequeueAfter(d)) => {
                    queue.forget(&key);
                    queue.add_after(key.clone(), d);
                }
                Err(e) => {
                    let retry_in = queue.add_rate_limited(key.clone());
                    tracing::warn!(
                        controller = self.name,
                        key = %key,
                        error = %e,
                        retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                        "reconcile failed; retrying"
                    );
                }
            }
            queue.done(&key);
        }
    }
}

/// Per-key exponential back-off.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// client-go's `DefaultItemBasedRateLimiter`: 5 ms, doubling, at most 1000 s.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_secs(1000),
        }
    }
}

impl Backoff {
    /// The delay after `failures` earlier failures.
    pub fn delay(&self, failures: u32) -> Duration {
        self.base
            .checked_mul(1u32.checked_shl(failures).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Key>,
    /// Keys waiting to be processed (in `queue`, or re-added while processing).
    dirty: HashSet<Key>,
    /// Keys a worker holds; re-added ones wait until `done`.
    processing: HashSet<Key>,
    failures: HashMap<Key, u32>,
    /// Keys due later, by (when, sequence).
    delayed: BTreeMap<(Instant, u64), Key>,
    seq: u64,
}

impl Inner {
    fn add(&mut self, key: Key) {
        if !self.dirty.insert(key.clone()) {
            return;
        }
        if !self.processing.contains(&key) {
            self.queue.push_back(key);
        }
    }
}

/// client-go's work queue: a key is queued once however often it is added, never handed to
/// two workers at once, and added again after `done` if it changed while being processed.
pub struct Queue {
    inner: Mutex<Inner>,
    ready: Notify,
    backoff: Backoff,
}

impl Queue {
    /// An empty queue whose failures back off by `backoff`.
    pub fn new(backoff: Backoff) -> Self {
        Queue {
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
            backoff,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the sets consistent; a panic elsewhere does not.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `key` (once, however often it is added before it is processed).
    pub fn add(&self, key: Key) {
        self.lock().add(key);
        self.ready.notify_one();
    }

    /// Adds `key` once `after` has passed.
    pub fn add_after(&self, key: Key, after: Duration) {
        {
            let mut inner = self.lock();
            inner.seq += 1;
            let seq = inner.seq;
            inner.delayed.insert((Instant::now() + after, seq), key);
        }
        self.ready.notify_one();
    }

    /// Adds `key` after its back-off, which grows with each call until [`Queue::forget`];
    /// returns the delay.
    pub fn add_rate_limited(&self, key: Key) -> Duration {
        let delay = {
            let mut inner = self.lock();
            let n = inner.failures.entry(key.clone()).or_insert(0);
            let delay = self.backoff.delay(*n);
            *n = n.saturating_add(1);
            delay
        };
        self.add_after(key, delay);
        delay
    }

    /// Forgets the key's failures (it succeeded).
    pub fn forget(&self, key: &Key) {
        self.lock().failures.remove(key);
    }

    /// How often the key has failed since it last succeeded.
    pub fn failures(&self, key: &Key) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to process, waiting for one.
    pub async fn get(&self) -> Key {
        loop {
            let next_due = {
                let mut inner = self.lock();
                let now = Instant::now();
                while let Some(entry) = inner.delayed.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let key = entry.remove();
                    inner.add(key);
                }
                if let Some(key) = inner.queue.pop_front() {
                    inner.dirty.remove(&key);
                    inner.processing.insert(key.clone());
                    return key;
                }
                inner.delayed.keys().next().map(|(when, _)| *when)
            };
            match next_due {
                Some(when) => {
                    tokio::select! {
                        () = self.ready.notified() => {}
                        () = tokio::time::sleep_until(when) => {}
                    }
                }
                None => self.ready.notified().await,
            }
        }
    }

    /// The worker is done with `key`; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &Key) {
        let requeue = {
            let mut inner = self.lock();
            inner.processing.remove(key);
            let again = inner.dirty.contains(key);
            if again {
                inner.queue.push_back(key.clone());
            }
            again
        };
        if requeue {
            self.ready.notify_one();
        }
    }

    /// Keys queued now (not counting delayed ones).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: &str) -> Key {
        Key::new("ns", n)
    }

    #[tokio::test]
    async fn keys_are_deduplicated_and_never_processed_twice_at_once() {
        let q = Queue::new(Backoff::default());
        q.add(k("a"));
        q.add(k("a"));
        q.add(k("b"));
        assert_eq!(q.len(), 2);
        let a = q.get().await;
        assert_eq!(a, k("a"));
        q.add(k("a")); // changed while processing: waits for done
        assert_eq!(q.get().await, k("b"));
        assert!(q.is_empty());
        q.done(&a);
        assert_eq!(q.get().await, k("a"), "queued again after done");
    }

    #[test]
    fn backoff_doubles_from_5ms_to_1000s() {
        let b = Backoff::default();
        let ms: Vec<u128> = (0..4).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(ms, [5, 10, 20, 40]);
        assert_eq!(b.delay(40), Duration::from_secs(1000));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1000));
    }

    #[tokio::test]
    async fn failures_back_off_until_forgotten() {
        let q = Queue::new(Backoff::default());
        assert_eq!(q.add_rate_limited(k("a")), Duration::from_millis(5));
        assert_eq!(q.add_rate_limited(k("a")), Duration::from_millis(10));
        assert_eq!(q.failures(&k("a")), 2);
        let started = Instant::now();
        assert_eq!(q.get().await, k("a"));
        assert!(started.elapsed() >= Duration::from_millis(5));
        q.forget(&k("a"));
        assert_eq!(q.add_rate_limited(k("a")), Duration::from_millis(5));
    }
}
