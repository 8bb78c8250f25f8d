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

/// A stream of changes under one prefix: first the history after the requested revision, then
/// live events, in revision order.
pub struct Watcher {
    source: Source,
}

enum Source {
    /// An in-process store: created under the store's write lock, so nothing falls between the
    /// history and the live events.
    Local {
        prefix: String,
        history: VecDeque<Event>,
        live: broadcast::Receiver<Arc<Event>>,
        /// Events at or below this revision were already in `history`.
        seen: Revision,
    },
    /// A remote store's stream, fed by a task that ends when this receiver is dropped.
    Remote(mpsc::Receiver<Result<Event, StorageError>>),
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
    pub(crate) fn remote(events: mpsc::Receiver<Result<Event, StorageError>>) -> Self {
        Watcher {
            source: Source::Remote(events),
        }
    }

    /// The next change, or `None` when the store is gone.
    pub async fn next(&mut self) -> Option<Result<Event, StorageError>> {
        let (prefix, history, live, seen) = match &mut self.source {
            Source::Remote(rx) => return rx.recv().await,
            Source::Local {
                prefix,
                history,
                live,
                seen,
            } => (prefix, history, live, seen),
        };
        if let Some(e) = history.pop_front() {
            return Some(Ok(e));
        }
        loop {
            match live.recv().await {
                Ok(e) => {
                    if e.kv.mod_revision <= *seen || !e.kv.key.starts_with(prefix.as_str()) {
                        continue;
                    }
                    *seen = e.kv.mod_revision;
                    return Some(Ok((*e).clone()));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Err(StorageError::Lagged))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
