use crate::{Event, Revision, StorageError};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// Live events fan out through one channel per store; a watcher that lags further behind than
/// this many events is ended with [`StorageError::Lagged`], as upstream ends slow watchers.
pub(crate) const FANOUT_CAPACITY: usize = 8192;

pub(crate) fn channel() -> broadcast::Sender<Arc<Event>> {
    broadcast::channel(FANOUT_CAPACITY).0
}

/// What a watch delivers: a change under its prefix, or word that nothing under it changed up
/// to a revision (etcd's progress notification), which lets a cache know it is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// A change.
    Event(Event),
    /// Every change up to this revision has been delivered.
    Progress(Revision),
}

/// A stream of changes under one prefix: first the history after the requested revision, then
/// live events, in revision order.
pub struct Watcher {
    source: Source,
}

enum Source {
    /// An in-process store (or cache): created under its write lock, so nothing falls between
    /// the history and the live events. The channel's closing ends the watch.
    Local {
        prefix: String,
        history: VecDeque<Event>,
        live: broadcast::Receiver<Arc<Event>>,
        /// Events at or below this revision were already delivered.
        seen: Revision,
    },
    /// A remote store's stream, fed by a task that ends when this receiver is dropped.
    Remote(mpsc::Receiver<Result<WatchItem, StorageError>>),
}

impl Watcher {
    pub(crate) fn new(
        prefix: &str,
        history: Vec<Event>,
        live: broadcast::Receiver<Arc<Event>>,
        seen: Revision,
    ) -> Self {
        Watcher {
            source: Source::Local {
                prefix: prefix.to_string(),
                history: history.into(),
                live,
                seen,
            },
        }
    }

    /// A watcher fed through a channel (an error ends it: nothing is sent after one).
    pub(crate) fn remote(items: mpsc::Receiver<Result<WatchItem, StorageError>>) -> Self {
        Watcher {
            source: Source::Remote(items),
        }
    }

    /// The next change, or `None` when the store is gone (or the cache serving it started
    /// over: the watcher re-lists, as after upstream's cacher terminates its watchers).
    pub async fn next(&mut self) -> Option<Result<Event, StorageError>> {
        loop {
            match self.next_item().await? {
                Ok(WatchItem::Event(e)) => return Some(Ok(e)),
                Ok(WatchItem::Progress(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next change or progress notification. An in-process store reports progress at
    /// every write under another prefix; etcd's are not passed on (see the etcd backend).
    pub async fn next_item(&mut self) -> Option<Result<WatchItem, StorageError>> {
        let (prefix, history, live, seen) = match &mut self.source {
            Source::Remote(items) => return items.recv().await,
            Source::Local {
                prefix,
                history,
                live,
                seen,
            } => (prefix, history, live, seen),
        };
        if let Some(e) = history.pop_front() {
            return Some(Ok(WatchItem::Event(e)));
        }
        loop {
            match live.recv().await {
                Ok(e) => {
                    if e.kv.mod_revision <= *seen {
                        continue;
                    }
                    *seen = e.kv.mod_revision;
                    if !e.kv.key.starts_with(prefix.as_str()) {
                        return Some(Ok(WatchItem::Progress(e.kv.mod_revision)));
                    }
                    return Some(Ok(WatchItem::Event((*e).clone())));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Err(StorageError::Lagged))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
