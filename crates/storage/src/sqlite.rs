//! The default backend: one SQLite file in WAL mode. Every write is one row keyed by its
//! revision, so the table is the revision history; compaction deletes superseded rows and SQLite
//! reuses their pages, so the file does not grow without bound (kine's known failure).

use crate::watch::{channel, Watcher};
use crate::{
    prefix_end, Bytes, Event, EventKind, KeyValue, ListOptions, ListResult, Memo, Result, Revision,
    Storage, StorageError,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    rev        INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    create_rev INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    value      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_rev ON kv (key, rev);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1), ('compacted', 0);
";

struct Inner {
    conn: Connection,
    revision: Revision,
    compacted: Revision,
}

/// The SQLite backend.
pub struct SqliteStorage {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
}

/// The newest row of `key` at or before `at`: (rev, create_rev, deleted, value).
type Row = (Revision, Revision, bool, Vec<u8>);

fn row_at(conn: &Connection, key: &str, at: Revision) -> rusqlite::Result<Option<Row>> {
    conn.prepare_cached(
        "SELECT rev, create_rev, deleted, value FROM kv WHERE key = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1",
    )?
    .query_row(params![key, at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
    .optional()
}

impl SqliteStorage {
    /// Opens or creates the database file. A new file is created readable by its owner only
    /// (0600) from its first byte, whatever the umask; SQLite gives its `-wal` and `-shm`
    /// files the database file's mode.
    pub fn open(path: &Path) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| StorageError::Create {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_connection(Connection::open(path)?)
    }

    /// A private in-memory database (for tests of this backend).
    pub fn open_in_memory() -> Result<Self> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(conn: Connection) -> Result<Self> {
        // WAL keeps readers and the writer apart and survives crashes; NORMAL syncs at
        // checkpoints, which keeps the file consistent after a crash (the last transactions
        // before a power loss may be lost, as with etcd's batched fsync).
        // Exclusive: one kubeward per database file (a second one fails to start rather than
        // corrupting revisions), and WAL without the shared-memory index.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        conn.execute_batch(SCHEMA)?;
        let get = |name: &str| -> rusqlite::Result<Revision> {
            conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
        };
        // The newest row holds the current revision; `meta.revision` covers the case where
        // compaction removed that row (a deletion), so revisions never go backwards.
        let newest: Option<Revision> =
            conn.query_row("SELECT MAX(rev) FROM kv", [], |r| r.get(0))?;
        let revision = get("revision")?.max(newest.unwrap_or(0));
        let compacted = get("compacted")?;
        Ok(SqliteStorage {
            inner: Mutex::new(Inner {
                conn,
                revision,
                compacted,
            }),
            events: channel(),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| StorageError::Poisoned)
    }

    /// Appends one row in one transaction and publishes its event. `check` sees the key's
    /// current row and decides whether the write goes ahead.
    fn write(
        &self,
        key: &str,
        check: impl FnOnce(Option<&Row>) -> Result<()>,
        value: Option<Vec<u8>>,
    ) -> Result<KeyValue> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        // One connection, behind the lock, in exclusive locking mode: the read and the single
        // INSERT below cannot interleave with another writer, and the INSERT commits atomically
        // on its own.
        let current = row_at(&inner.conn, key, Revision::MAX)?.filter(|r| !r.2);
        check(current.as_ref())?;
        let rev = inner.revision + 1;
        let (kind, create_rev, deleted, stored, prev) = match (value, current) {
            (Some(v), None) => (EventKind::Created, rev, false, v, None),
            (Some(v), Some(cur)) => (EventKind::Modified, cur.1, false, v, Some(cur.3)),
            (None, Some(cur)) => (EventKind::Deleted, cur.1, true, cur.3.clone(), Some(cur.3)),
            (None, None) => return Err(StorageError::NotFound(key.to_string())),
        };
        inner
            .conn
            .prepare_cached(
                "INSERT INTO kv (rev, key, create_rev, deleted, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![rev, key, create_rev, deleted, stored])?;
        inner.revision = rev;
        let kv = KeyValue {
            memo: Memo::default(),
            key: key.to_string(),
            value: Bytes::from(stored),
            create_revision: create_rev,
            mod_revision: rev,
        };
        // Published under the lock, so watchers see events in revision order.
        let _ = self.events.send(Arc::new(Event {
            kind,
            kv: kv.clone(),
            prev_value: prev,
        }));
        Ok(kv)
    }
}

fn expect_revision(
    key: &str,
    expected: Option<Revision>,
) -> impl FnOnce(Option<&Row>) -> Result<()> + '_ {
    move |row| match (row, expected) {
        (None, _) => Err(StorageError::NotFound(key.to_string())),
        (Some(r), Some(e)) if r.0 != e => Err(StorageError::Conflict {
            key: key.to_string(),
            expected: e,
            current: r.0,
        }),
        _ => Ok(()),
    }
}

impl Storage for SqliteStorage {
    fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let inner = self.lock()?;
        Ok(row_at(&inner.conn, key, Revision::MAX)?
            .filter(|r| !r.2)
            .map(|(rev, create, _, value)| KeyValue {
                memo: Memo::default(),
                key: key.to_string(),
                value: Bytes::from(value),
                create_revision: create,
                mod_revision: rev,
            }))
    }

    fn count(&self, prefix: &str) -> Result<u64> {
        let inner = self.lock()?;
        // The newest row of each key under the prefix, counted when it is not a deletion.
        let mut stmt = inner.conn.prepare_cached(
            "SELECT COUNT(*) FROM kv AS a
             WHERE key >= ?1 AND key < ?2 AND deleted = 0
               AND rev = (SELECT MAX(rev) FROM kv AS b WHERE b.key = a.key)",
        )?;
        let n: i64 = stmt.query_row(params![prefix, prefix_end(prefix)], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn count_after(&self, prefix: &str, after: &str, revision: Revision) -> Result<u64> {
        let inner = self.lock()?;
        crate::readable(revision, inner.compacted, inner.revision)?;
        let start = if after >= prefix {
            format!("{after}\0")
        } else {
            prefix.to_string()
        };
        // The rows a list at `revision` would return past `after`, counted, not read.
        let mut stmt = inner.conn.prepare_cached(
            "SELECT COUNT(*) FROM kv AS a
             WHERE key >= ?1 AND key < ?2 AND deleted = 0
               AND rev = (SELECT MAX(rev) FROM kv AS b WHERE b.key = a.key AND b.rev <= ?3)",
        )?;
        let n: i64 = stmt.query_row(params![start, prefix_end(prefix), revision], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> Result<ListResult> {
        let inner = self.lock()?;
        let at = opts.revision.unwrap_or(inner.revision);
        crate::readable(at, inner.compacted, inner.revision)?;
        let start = match opts.start_after {
            Some(s) if s >= prefix => format!("{s}\0"),
            _ => prefix.to_string(),
        };
        let fetch = if opts.limit == 0 {
            -1
        } else {
            opts.limit as i64 + 1
        };
        let mut stmt = inner.conn.prepare_cached(
            "SELECT key, value, create_rev, rev FROM kv AS a
             WHERE key >= ?1 AND key < ?2 AND deleted = 0
               AND rev = (SELECT MAX(rev) FROM kv AS b WHERE b.key = a.key AND b.rev <= ?3)
             ORDER BY key LIMIT ?4",
        )?;
        let mut kvs = stmt
            .query_map(params![start, prefix_end(prefix), at, fetch], |r| {
                Ok(KeyValue {
                    memo: Memo::default(),
                    key: r.get(0)?,
                    value: Bytes::from(r.get::<_, Vec<u8>>(1)?),
                    create_revision: r.get(2)?,
                    mod_revision: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let more = opts.limit > 0 && kvs.len() > opts.limit;
        kvs.truncate(if opts.limit == 0 {
            kvs.len()
        } else {
            opts.limit
        });
        Ok(ListResult {
            kvs,
            revision: at,
            more,
        })
    }

    fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.write(
            key,
            |row| match row {
                Some(_) => Err(StorageError::AlreadyExists(key.to_string())),
                None => Ok(()),
            },
            Some(value),
        )
    }

    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> Result<KeyValue> {
        self.write(key, expect_revision(key, Some(expected)), Some(value))
    }

    fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.write(key, expect_revision(key, expected), None)
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
        let mut stmt = inner.conn.prepare_cached(
            "SELECT a.rev, a.key, a.create_rev, a.deleted, a.value,
                    (SELECT CASE WHEN b.deleted THEN NULL ELSE b.value END FROM kv AS b
                      WHERE b.key = a.key AND b.rev < a.rev ORDER BY b.rev DESC LIMIT 1)
             FROM kv AS a WHERE a.rev > ?1 AND a.key >= ?2 AND a.key < ?3 ORDER BY a.rev",
        )?;
        let history = stmt
            .query_map(params![after, prefix, prefix_end(prefix)], |r| {
                let deleted: bool = r.get(3)?;
                let prev_value: Option<Vec<u8>> = r.get(5)?;
                let kind = match (deleted, &prev_value) {
                    (true, _) => EventKind::Deleted,
                    (false, None) => EventKind::Created,
                    (false, Some(_)) => EventKind::Modified,
                };
                Ok(Event {
                    kind,
                    kv: KeyValue {
                        memo: Memo::default(),
                        mod_revision: r.get(0)?,
                        key: r.get(1)?,
                        create_revision: r.get(2)?,
                        value: Bytes::from(r.get::<_, Vec<u8>>(4)?),
                    },
                    prev_value,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Watcher::new(prefix, history, live, inner.revision))
    }

    fn current_revision(&self) -> Result<Revision> {
        Ok(self.lock()?.revision)
    }

    fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.lock()?.compacted)
    }

    fn compact(&self, revision: Revision) -> Result<()> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let revision = revision.min(inner.revision);
        if revision <= inner.compacted {
            return Ok(());
        }
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Drop every row at or before `revision` except each key's newest one there, and drop
        // that one too when it records a deletion.
        tx.execute(
            "DELETE FROM kv WHERE rev <= ?1 AND (deleted = 1 OR rev <
                 (SELECT MAX(b.rev) FROM kv AS b WHERE b.key = kv.key AND b.rev <= ?1))",
            [revision],
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
            [revision],
        )?;
        // Compaction may delete the newest row (a deletion); remember the revision it had.
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'revision'",
            [inner.revision],
        )?;
        tx.commit()?;
        inner.compacted = revision;
        Ok(())
    }
}
