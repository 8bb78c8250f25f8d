use crate::{Event, Revision, StorageError};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Live events fan out through one channel per store; a watcher that lags further behind than
/// this many events is ended with [`StorageError::Lagged`], as upstream ends slow watchers.
pub(crate) const FANOUT_CAPACITY: usize = 8192;

pub(crate) fn channel() -> broadcast::Sender<Arc<Event>> {
    broadcast::channel(FANOUT_CAPACITY).0
}

/// A stream of changes under one prefix: first the history after the requested revision, then
/// live events. Created under the store's write lock, so nothing falls between the two.
pub struct Watcher {
    prefix: String,
    history: VecDeque<Event>,
    live: broadcast::Receiver<Arc<Event>>,
    /// Events at or below this revision were already in `history`.
    seen: Revision,
}

impl Watcher {
    pub(crate) fn new(
        prefix: &str,
        history: Vec<Event>,
        live: broadcast::Receiver<Arc<Event>>,
        seen: Revision,
    ) -> Self {
        Watcher {
            prefix: prefix.to_string(),
            history: history.into(),
            live,
            seen,
        }
    }

    /// The next change, or `None` when the store is gone.
    pub async fn next(&mut self) -> Option<Result<Event, StorageError>> {
        if let Some(e) = self.history.pop_front() {
            return Some(Ok(e));
        }
        loop {
            match self.live.recv().await {
                Ok(e) => {
                    if e.kv.mod_revision <= self.seen || !e.kv.key.starts_with(&self.prefix) {
                        continue;
                    }
                    self.seen = e.kv.mod_revision;
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
