//! Revisioned key-value storage with etcd's semantics, which kube-apiserver's registry assumes:
//! one global revision that every write increments, compare-and-swap on a key's mod revision,
//! consistent lists at a revision, watches that resume from a revision, and compaction.
//!
//! Architecture invariant: backends know nothing of HTTP, Kubernetes objects or RBAC; values
//! are opaque bytes. Every backend passes the same conformance suite (`conformance`, behind the
//! feature of that name: test support, carried only by test builds).

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod background;
mod cacher;
mod compaction;
#[cfg(feature = "conformance")]
pub mod conformance;
mod etcd;
#[cfg(feature = "conformance")]
pub mod etcd_server;
mod memory;
mod observed;
mod sqlite;
mod watch;

pub use cacher::{Cacher, ResourceOf};
pub use compaction::run_compactor;
pub use etcd::{EtcdConfig, EtcdStorage, EtcdTls};
pub use memory::MemoryStorage;
pub use observed::{Observed, Observer};
pub use sqlite::SqliteStorage;
pub use watch::{WatchItem, Watcher};

pub use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// A revision: etcd's `mod_revision`, which kubeward serves as `metadata.resourceVersion`.
pub type Revision = i64;

/// One key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value, opaque bytes (shared by its clones: a list from the watch cache copies none).
    pub value: Bytes,
    /// The revision at which the key was created.
    pub create_revision: Revision,
    /// The revision of this write (for a deletion event: the deletion's revision).
    pub mod_revision: Revision,
    /// A slot for a form the caller derives from this revision's value (the registry keeps
    /// the object's encoded JSON here). Not part of the value: equality ignores it.
    pub memo: Memo,
}

/// Slots for what a caller derives from one revision of a key's value, shared by every
/// reader of that revision: a watch cache keeps a memo with each object it holds, so the
/// registry encodes an object once per revision however often it is listed (as upstream's
/// cacher keeps each object's serializations, `cachingObject`). A store reading its own files
/// or etcd gives an empty one ([`Memo::default`]), which keeps nothing. It holds bytes, one
/// slot per form the caller names (`0..MEMO_FORMS`), and knows nothing of what they mean.
#[derive(Clone, Default)]
pub struct Memo(Option<Arc<[Slot; MEMO_FORMS]>>);

/// One form's bytes, made once.
type Slot = OnceLock<Arc<[u8]>>;

/// How many forms a [`Memo`] keeps (the registry's: JSON and protobuf).
pub const MEMO_FORMS: usize = 2;

impl Memo {
    /// A memo that keeps what is put in it, shared by its clones.
    pub fn shared() -> Memo {
        Memo(Some(Arc::new([OnceLock::new(), OnceLock::new()])))
    }

    /// Whether this memo keeps what is put in it.
    pub fn is_shared(&self) -> bool {
        self.0.is_some()
    }

    /// The bytes of form `form`, made by `make` (and kept, in a shared memo) when it holds
    /// none. Two callers racing may both make them; one result is kept, and each is the same
    /// function of the same value. A form past [`MEMO_FORMS`] is made and not kept.
    pub fn get_or_try_init<E>(
        &self,
        form: usize,
        make: impl FnOnce() -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<Arc<[u8]>, E> {
        let Some(cell) = self.0.as_ref().and_then(|slots| slots.get(form)) else {
            return make().map(Arc::from);
        };
        if let Some(b) = cell.get() {
            return Ok(b.clone());
        }
        let b: Arc<[u8]> = Arc::from(make()?);
        Ok(cell.get_or_init(|| b).clone())
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl Eq for Memo {}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held: Vec<Option<usize>> = self
            .0
            .iter()
            .flat_map(|slots| slots.iter().map(|c| c.get().map(|b| b.len())))
            .collect();
        f.debug_tuple("Memo").field(&held).finish()
    }
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created.
    Created,
    /// The key's value was replaced.
    Modified,
    /// The key was deleted.
    Deleted,
}

/// One change, as delivered to watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened to the key.
    pub kind: EventKind,
    /// The new value; for `Deleted`, the last value before deletion, at the deletion revision.
    pub kv: KeyValue,
    /// The value before this change (`None` for `Created`).
    pub prev_value: Option<Vec<u8>>,
}

/// What a watch cache did for one resource ([`Storage::cache_stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// The resource's key prefix.
    pub prefix: String,
    /// How often the cache listed the resource and began watching it: once, then once after
    /// each time its store watch ended.
    pub initializations: u64,
    /// Watches opened on the store for the resource: the cache's own, and those it passed on
    /// (resumes from before its window).
    pub store_watches: u64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// The keys, in key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the list is consistent at.
    pub revision: Revision,
    /// True when keys past the last one returned remain.
    pub more: bool,
}

/// Errors of every backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A create found the key present.
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// An update or delete found no key.
    #[error("key {0} not found")]
    NotFound(String),
    /// A compare-and-swap found another revision than the caller read.
    #[error("key {key}: expected revision {expected}, found {current}")]
    Conflict {
        /// The key written.
        key: String,
        /// The revision the writer read.
        expected: Revision,
        /// The key's revision now.
        current: Revision,
    },
    /// A list or watch asked for history that compaction removed.
    #[error("revision {requested} is compacted (oldest available is {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The newest revision compaction removed.
        compacted: Revision,
    },
    /// A list or watch asked for a revision the store has not reached.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's newest revision.
        current: Revision,
    },
    /// A watcher fell so far behind that its events were dropped; it must re-list.
    #[error("watcher fell behind and missed events")]
    Lagged,
    /// The SQLite engine failed.
    #[error("sqlite")]
    Sqlite(
        #[from]
        #[source]
        rusqlite::Error,
    ),
    /// The store could not be reached in time (etcd down, partitioned or without a leader).
    #[error("{0}")]
    Unavailable(String),
    /// etcd refused a call, in its own words.
    #[error("etcd: {0}")]
    Etcd(String),
    /// A thread panicked while holding the store's lock.
    #[error("storage lock poisoned")]
    Poisoned,
    /// The database file could not be created.
    #[error("creating {path}")]
    Create {
        /// The database file.
        path: std::path::PathBuf,
        #[source]
        /// Why it could not be created.
        source: std::io::Error,
    },
}

/// A storage operation's result.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// How a list is bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions<'a> {
    /// Only keys strictly after this one (a continue token's position).
    pub start_after: Option<&'a str>,
    /// At most this many keys; 0 means all.
    pub limit: usize,
    /// Read the state at this revision instead of the current one.
    pub revision: Option<Revision>,
    /// Any state at least as new as this revision will do (`resourceVersion=N`, "not older
    /// than"; 0 for any recent state, `resourceVersion=0`): a cache that has seen it may
    /// answer without first making sure it is current. `None`: the current state.
    pub not_older_than: Option<Revision>,
}

/// The store kubeward's registry runs on. Calls are short and synchronous; watches are async.
pub trait Storage: Send + Sync + 'static {
    /// The key's current value.
    fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// The key's value as a cache in front of the store holds it once it has seen revision
    /// `not_older_than` (0: whatever it holds now), which may lag the store by the cache's
    /// watch (as an informer's lister lags kube-apiserver); a key the cache does not hold, or
    /// a cache that does not reach that revision in time, is read from the store. Without a
    /// cache, [`Storage::get`].
    fn get_cached(&self, key: &str, not_older_than: Revision) -> Result<Option<KeyValue>> {
        let _ = not_older_than;
        self.get(key)
    }
    /// Keys under `prefix`, in key order.
    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> Result<ListResult>;
    /// Writes a key that must not exist.
    fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;
    /// Replaces a key whose mod revision must still be `expected`.
    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> Result<KeyValue>;
    /// Removes a key, when `expected` is given only at that mod revision. Returns the last value
    /// with the deletion's revision.
    fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;
    /// Changes under `prefix` after revision `after`, in revision order.
    fn watch(&self, prefix: &str, after: Revision) -> Result<Watcher>;
    /// Whether this store's watchers report progress ([`WatchItem::Progress`]) at every
    /// write, so a cache can tell it is current by its watch alone. etcd's are not trusted
    /// (see the etcd backend): a cache then answers a list at the current revision from the
    /// store, as kube-apiserver does without consistent reads from cache.
    fn reports_progress(&self) -> bool {
        true
    }
    /// What a watch cache in front of the store did, per resource; empty without one.
    fn cache_stats(&self) -> Vec<CacheStats> {
        Vec::new()
    }
    /// How many keys under `prefix` sort after `after` at `revision`: what a page of a list
    /// leaves (upstream's `remainingItemCount`, from etcd's count of the page's range).
    fn count_after(&self, prefix: &str, after: &str, revision: Revision) -> Result<u64> {
        let rest = self.list(
            prefix,
            &ListOptions {
                start_after: Some(after),
                limit: 0,
                revision: Some(revision),
                not_older_than: None,
            },
        )?;
        Ok(rest.kvs.len() as u64)
    }
    /// How many keys live under `prefix` now (etcd's count-only range; what
    /// `apiserver_storage_objects` reports).
    fn count(&self, prefix: &str) -> Result<u64>;
    /// The newest revision.
    fn current_revision(&self) -> Result<Revision>;
    /// The oldest revision still readable.
    fn compacted_revision(&self) -> Result<Revision>;
    /// Drops history before `revision`; lists and watches from older revisions then fail.
    fn compact(&self, revision: Revision) -> Result<()>;
}

/// Whether a read at revision `at` can be answered by a store whose history starts at
/// `compacted` and ends at `current`: 410-style Compacted before it, FutureRevision past it.
pub(crate) fn readable(at: Revision, compacted: Revision, current: Revision) -> Result<()> {
    if at < compacted {
        return Err(StorageError::Compacted {
            requested: at,
            compacted,
        });
    }
    if at > current {
        return Err(StorageError::FutureRevision {
            requested: at,
            current,
        });
    }
    Ok(())
}

/// The smallest key greater than every key with this prefix.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7f {
            bytes.push(last + 1);
            return String::from_utf8(bytes).unwrap_or_default();
        }
    }
    "\u{7f}".repeat(prefix.len() + 1)
}
