//! A backend in process memory: the whole revision history in two ordered maps. For tests and
//! throw-away servers (`--storage memory://`).

use crate::watch::{channel, Watcher};
use crate::{
    prefix_end, Bytes, Event, EventKind, KeyValue, ListOptions, ListResult, Memo, Result, Revision,
    Storage, StorageError,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
struct Row {
    key: String,
    value: Bytes,
    create_revision: Revision,
    deleted: bool,
}

#[derive(Default)]
struct Inner {
    revision: Revision,
    compacted: Revision,
    /// Every retained write, by revision.
    log: BTreeMap<Revision, Row>,
    /// The retained revisions of each key, ascending.
    keys: BTreeMap<String, Vec<Revision>>,
}

impl Inner {
    fn latest(&self, key: &str) -> Option<(Revision, &Row)> {
        let rev = *self.keys.get(key)?.last()?;
        Some((rev, &self.log[&rev]))
    }

    fn at(&self, key: &str, at: Revision) -> Option<(Revision, &Row)> {
        let revs = self.keys.get(key)?;
        let idx = revs.partition_point(|r| *r <= at);
        let rev = *revs.get(idx.checked_sub(1)?)?;
        Some((rev, &self.log[&rev]))
    }

    fn write(&mut self, row: Row) -> Revision {
        self.revision += 1;
        let rev = self.revision;
        self.keys.entry(row.key.clone()).or_default().push(rev);
        self.log.insert(rev, row);
        rev
    }
}

/// The in-memory backend.
pub struct MemoryStorage {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        MemoryStorage {
            inner: Mutex::new(Inner {
                revision: 1,
                compacted: 0,
                ..Default::default()
            }),
            events: channel(),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| StorageError::Poisoned)
    }

    fn publish(&self, kind: EventKind, kv: &KeyValue, prev_value: Option<Vec<u8>>) {
        // No receivers is not an error: nobody is watching.
        let _ = self.events.send(Arc::new(Event {
            kind,
            kv: kv.clone(),
            prev_value,
        }));
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let inner = self.lock()?;
        Ok(inner
            .latest(key)
            .filter(|(_, r)| !r.deleted)
            .map(|(rev, r)| KeyValue {
                memo: Memo::default(),
                key: key.to_string(),
                value: r.value.clone(),
                create_revision: r.create_revision,
                mod_revision: rev,
            }))
    }

    fn count(&self, prefix: &str) -> Result<u64> {
        let inner = self.lock()?;
        let end = prefix_end(prefix);
        let live = inner
            .keys
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Excluded(end.as_str()),
            ))
            .filter(|(key, _)| inner.latest(key).is_some_and(|(_, r)| !r.deleted))
            .count();
        Ok(live as u64)
    }

    fn count_after(&self, prefix: &str, after: &str, revision: Revision) -> Result<u64> {
        let inner = self.lock()?;
        crate::readable(revision, inner.compacted, inner.revision)?;
        let end = prefix_end(prefix);
        let from = match after {
            a if a >= end.as_str() => return Ok(0),
            a if a >= prefix => std::ops::Bound::Excluded(a),
            _ => std::ops::Bound::Included(prefix),
        };
        // Keys only: the values stay where they are (the default, a list, copied them all).
        let live = inner
            .keys
            .range::<str, _>((from, std::ops::Bound::Excluded(end.as_str())))
            .filter(|(key, _)| inner.at(key, revision).is_some_and(|(_, r)| !r.deleted))
            .count();
        Ok(live as u64)
    }

    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> Result<ListResult> {
        let inner = self.lock()?;
        let at = opts.revision.unwrap_or(inner.revision);
        crate::readable(at, inner.compacted, inner.revision)?;
        let end = prefix_end(prefix);
        let mut kvs = Vec::new();
        let mut more = false;
        // A page starts just past the previous page's last key: a seek, not a walk from the
        // prefix (which made paging through n objects cost n² / page).
        let from = match opts.start_after {
            // Past the prefix's last possible key: nothing more (and a range whose start lies
            // past its end would panic).
            Some(after) if after >= end.as_str() => {
                return Ok(ListResult {
                    kvs,
                    revision: at,
                    more,
                })
            }
            Some(after) if after >= prefix => std::ops::Bound::Excluded(after),
            _ => std::ops::Bound::Included(prefix),
        };
        for key in inner
            .keys
            .range::<str, _>((from, std::ops::Bound::Excluded(end.as_str())))
        {
            let key = key.0.as_str();
            let Some((rev, row)) = inner.at(key, at) else {
                continue;
            };
            if row.deleted {
                continue;
            }
            if opts.limit > 0 && kvs.len() == opts.limit {
                more = true;
                break;
            }
            kvs.push(KeyValue {
                memo: Memo::default(),
                key: key.to_string(),
                value: row.value.clone(),
                create_revision: row.create_revision,
                mod_revision: rev,
            });
        }
        Ok(ListResult {
            kvs,
            revision: at,
            more,
        })
    }

    fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let value = Bytes::from(value);
        let mut inner = self.lock()?;
        if inner.latest(key).is_some_and(|(_, r)| !r.deleted) {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        let rev = inner.revision + 1;
        inner.write(Row {
            key: key.to_string(),
            value: value.clone(),
            create_revision: rev,
            deleted: false,
        });
        let kv = KeyValue {
            memo: Memo::default(),
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
        };
        self.publish(EventKind::Created, &kv, None);
        Ok(kv)
    }

    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> Result<KeyValue> {
        let value = Bytes::from(value);
        let mut inner = self.lock()?;
        let (cur, row) = match inner.latest(key) {
            Some((rev, r)) if !r.deleted => (rev, r.clone()),
            _ => return Err(StorageError::NotFound(key.to_string())),
        };
        if cur != expected {
            return Err(StorageError::Conflict {
                key: key.to_string(),
                expected,
                current: cur,
            });
        }
        let rev = inner.write(Row {
            key: key.to_string(),
            value: value.clone(),
            create_revision: row.create_revision,
            deleted: false,
        });
        let kv = KeyValue {
            memo: Memo::default(),
            key: key.to_string(),
            value,
            create_revision: row.create_revision,
            mod_revision: rev,
        };
        self.publish(EventKind::Modified, &kv, Some(row.value.to_vec()));
        Ok(kv)
    }

    fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let mut inner = self.lock()?;
        let (cur, row) = match inner.latest(key) {
            Some((rev, r)) if !r.deleted => (rev, r.clone()),
            _ => return Err(StorageError::NotFound(key.to_string())),
        };
        if let Some(expected) = expected.filter(|e| *e != cur) {
            return Err(StorageError::Conflict {
                key: key.to_string(),
                expected,
                current: cur,
            });
        }
        let rev = inner.write(Row {
            deleted: true,
            ..row.clone()
        });
        let kv = KeyValue {
            memo: Memo::default(),
            key: key.to_string(),
            value: row.value.clone(),
            create_revision: row.create_revision,
            mod_revision: rev,
        };
        self.publish(EventKind::Deleted, &kv, Some(row.value.to_vec()));
        Ok(kv)
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<Watcher> {
        let inner = self.lock()?;
        if after < inner.compacted {
            return Err(StorageError::Compacted {
                requested: after,
                compacted: inner.compacted,
            });
        }
        let live = self.events.subscribe();
        let mut history = Vec::new();
        for (&rev, row) in inner.log.range(after + 1..) {
            if !row.key.starts_with(prefix) {
                continue;
            }
            let prev = inner
                .at(&row.key, rev - 1)
                .filter(|(_, r)| !r.deleted)
                .map(|(_, r)| r.value.to_vec());
            let kind = if row.deleted {
                EventKind::Deleted
            } else if prev.is_none() {
                EventKind::Created
            } else {
                EventKind::Modified
            };
            history.push(Event {
                kind,
                kv: KeyValue {
                    memo: Memo::default(),
                    key: row.key.clone(),
                    value: row.value.clone(),
                    create_revision: row.create_revision,
                    mod_revision: rev,
                },
                prev_value: prev,
            });
        }
        Ok(Watcher::new(prefix, history, live, inner.revision))
    }

    fn current_revision(&self) -> Result<Revision> {
        Ok(self.lock()?.revision)
    }

    fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.lock()?.compacted)
    }

    fn compact(&self, revision: Revision) -> Result<()> {
        let mut inner = self.lock()?;
        let revision = revision.min(inner.revision);
        if revision <= inner.compacted {
            return Ok(());
        }
        let inner = &mut *inner;
        let mut drop_revs = Vec::new();
        inner.keys.retain(|_, revs| {
            let idx = revs.partition_point(|r| *r <= revision);
            // Keep the newest write at or before `revision` unless it is a deletion.
            let keep_from = match idx.checked_sub(1) {
                Some(last) if !inner.log[&revs[last]].deleted => last,
                _ => idx,
            };
            drop_revs.extend(revs.drain(..keep_from));
            !revs.is_empty()
        });
        for r in drop_revs {
            inner.log.remove(&r);
        }
        inner.compacted = revision;
        Ok(())
    }
}
