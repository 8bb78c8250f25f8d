//! Watches: an initial state (for resourceVersion "0" or unset), then changes, filtered by
//! selectors the way the watch cache filters them, with bookmarks and a deadline.

use crate::resource::ResourceDef;
use crate::store::{status_from_storage, Filter, ListOptions, Registry};
use serde_json::{json, Value};
use std::time::Duration;
use storage::{EventKind, Revision, StorageError};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One event of a watch stream (`metav1.WatchEvent`).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub type_: &'static str,
    /// The object (for BOOKMARK, only its resourceVersion).
    pub object: Value,
}

/// What a watch asks for.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Which objects, from which revision.
    pub list: ListOptions,
    /// `allowWatchBookmarks`.
    pub allow_bookmarks: bool,
    /// When the server ends the stream (`timeoutSeconds`, or its own default).
    pub timeout: Duration,
}

/// Upstream's cacher sends a bookmark at least this often, and 2 s before the deadline.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

impl Registry {
    /// Starts a watch. Selector errors come back at once; a compacted revision comes back as
    /// one ERROR event, as kube-apiserver streams it.
    pub fn watch(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        opts: WatchOptions,
    ) -> Result<mpsc::Receiver<WatchEvent>, crate::StatusError> {
        let filter = Filter::new(def, &opts.list)?;
        let prefix = Registry::prefix(def, ns);
        let (tx, rx) = mpsc::channel(256);
        let mut initial = Vec::new();
        let from: Revision = match opts.list.resource_version.as_str() {
            "" | "0" => {
                let all = self.list(
                    def,
                    ns,
                    &ListOptions {
                        limit: 0,
                        continue_token: String::new(),
                        resource_version: String::new(),
                        ..opts.list.clone()
                    },
                )?;
                initial = all
                    .items
                    .into_iter()
                    .map(|o| WatchEvent {
                        type_: "ADDED",
                        object: o,
                    })
                    .collect();
                all.resource_version.parse().unwrap_or(0)
            }
            rv => rv.parse().map_err(|_| {
                crate::StatusError::bad_request(format!("invalid resource version: {rv}"))
            })?,
        };
        let watcher = match self.storage().watch(&prefix, from) {
            Ok(w) => Some(w),
            Err(e @ StorageError::Compacted { .. }) => {
                let status = status_from_storage(def, "watch", "", e).to_status();
                let _ = tx.try_send(WatchEvent {
                    type_: "ERROR",
                    object: status,
                });
                None
            }
            Err(e) => return Err(status_from_storage(def, "watch", "", e)),
        };
        let Some(mut watcher) = watcher else {
            return Ok(rx);
        };
        let deadline = Instant::now() + opts.timeout;
        tokio::spawn(async move {
            for e in initial {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            let mut last = from;
            let next_bookmark = |now: Instant| {
                let before_deadline = deadline
                    .checked_sub(Duration::from_secs(2))
                    .unwrap_or(deadline);
                (now + BOOKMARK_EVERY).min(before_deadline)
            };
            let mut bookmark_at = next_bookmark(Instant::now());
            loop {
                tokio::select! {
                    ev = watcher.next() => {
                        let event = match ev {
                            None => return,
                            Some(Err(e)) => {
                                let _ = tx.send(WatchEvent { type_: "ERROR", object: status_from_storage(def, "watch", "", e).to_status() }).await;
                                return;
                            }
                            Some(Ok(e)) => e,
                        };
                        last = event.kv.mod_revision;
                        let Some(out) = translate(def, &filter, &event) else { continue };
                        if tx.send(out).await.is_err() {
                            return;
                        }
                    }
                    _ = tokio::time::sleep_until(bookmark_at), if opts.allow_bookmarks => {
                        let bookmark = json!({"kind": def.kind, "apiVersion": def.api_version(),
                                              "metadata": {"resourceVersion": last.to_string()}});
                        if tx.send(WatchEvent { type_: "BOOKMARK", object: bookmark }).await.is_err() {
                            return;
                        }
                        bookmark_at = next_bookmark(Instant::now()).max(Instant::now() + Duration::from_secs(1));
                    }
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}

/// The event a watcher with `filter` sees for one storage event (the cacher's rules: an object
/// that starts matching is ADDED, one that stops matching is DELETED).
fn translate(def: &ResourceDef, filter: &Filter, e: &storage::Event) -> Option<WatchEvent> {
    let decode = |bytes: &[u8]| {
        let kv = storage::KeyValue {
            memo: storage::Memo::default(),
            value: storage::Bytes::copy_from_slice(bytes),
            ..e.kv.clone()
        };
        Registry::decode(def, &kv).ok()
    };
    let cur = decode(&e.kv.value)?;
    let prev_matches = e
        .prev_value
        .as_deref()
        .and_then(decode)
        .is_some_and(|p| filter.matches(def, &p));
    let type_ = match e.kind {
        EventKind::Created => filter.matches(def, &cur).then_some("ADDED")?,
        EventKind::Deleted => prev_matches.then_some("DELETED")?,
        EventKind::Modified => match (prev_matches, filter.matches(def, &cur)) {
            (true, true) => "MODIFIED",
            (false, true) => "ADDED",
            (true, false) => "DELETED",
            (false, false) => return None,
        },
    };
    Some(WatchEvent { type_, object: cur })
}
