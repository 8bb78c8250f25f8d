//! Connections: the accept loop and the bounds on every connection, as Go's `net/http` server
//! and kube-apiserver's secure serving (`staging/src/k8s.io/apiserver/pkg/server/secure_serving.go`)
//! set them:
//!
//! - an accept error (EMFILE, ENFILE, ECONNABORTED, ...) is logged and retried with back-off
//!   (5 ms doubling to 1 s, as `Server.Serve`); it never ends the server;
//! - the TLS handshake is bounded in time, and so is reading a request's header
//!   (`ReadHeaderTimeout`, 32 s);
//! - a connection without a request in flight for `IdleTimeout` (90 s) is closed;
//! - an HTTP/2 connection carries at most 250 concurrent streams (`MaxConcurrentStreams`);
//! - headers are limited to 1 MiB (`MaxHeaderBytes`), answered 431 beyond;
//! - the number of open connections is capped below the process's file-descriptor limit. A
//!   new connection beyond the cap, or an accept that fails for want of descriptors, closes the
//!   connection that has been idle longest (never one with a request in flight), so idle or
//!   slow clients cannot lock out a working one. Go has no such cap; the file limit is the one
//!   resource every client shares.
//!
//! A deviation: hyper's HTTP/1 header timer also runs while a kept-alive connection waits for
//! its next request, so an idle HTTP/1.1 connection closes after 32 s rather than Go's 90 s.
//! Clients reconnect transparently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What bounds connections. [`Limits::default`] is kube-apiserver's.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most (see [`max_connections_for_fd_limit`]).
    pub max_connections: usize,
    /// From accept to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    /// From the start of waiting for a request's header to its end (HTTP/1).
    pub header_read_timeout: Duration,
    /// With no request in flight for this long, a connection is closed.
    pub idle_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Request line and headers together, in bytes.
    pub max_header_bytes: usize,
    /// How long a closing connection may take to finish what it has in flight (at shutdown,
    /// or evicted): kube-apiserver's `ShutdownTimeout`, its request timeout.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(32),
            idle_timeout: Duration::from_secs(90),
            max_concurrent_streams: 250,
            max_header_bytes: 1 << 20,
            drain_timeout: Duration::from_secs(60),
        }
    }
}

/// Descriptors kept for everything but client connections (the database and its WAL, the
/// listener, log files, the runtime's own).
const RESERVED_FDS: u64 = 64;

/// The most connections the cap allows however high the file limit (eviction scans them).
const MAX_CONNECTIONS: u64 = 65_536;

/// The connection cap for a process allowed `nofile` open files: all but a reserve, at least
/// 16 and at most 65,536.
pub fn max_connections_for_fd_limit(nofile: u64) -> usize {
    let cap = nofile
        .saturating_sub(RESERVED_FDS)
        .clamp(16, MAX_CONNECTIONS);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// One open connection, as the accept loop sees it.
pub(crate) struct Conn {
    /// Requests whose response has not been fully written or dropped.
    in_flight: AtomicUsize,
    /// When `in_flight` last fell to zero (or the connection opened), in ms since `epoch`.
    idle_since_ms: AtomicU64,
    epoch: Instant,
    /// Told when the connection must close (evicted to make room).
    pub(crate) close: Notify,
}

impl Conn {
    fn new(epoch: Instant) -> Self {
        let c = Conn {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            epoch,
            close: Notify::new(),
        };
        c.mark_idle();
        c
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_idle(&self) {
        self.idle_since_ms.store(self.now_ms(), Ordering::SeqCst);
    }

    /// A request starts; the guard ends it when dropped (with its response body).
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// How long the connection has had nothing in flight; None while a request is.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::SeqCst);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }
}

/// Keeps a connection busy while a request or its response body lives.
pub(crate) struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.mark_idle();
        }
    }
}

/// Every open connection, for the cap and for eviction.
pub(crate) struct Table {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Conn>>>,
    epoch: Instant,
    /// Told whenever a connection is removed.
    closed: Notify,
}

impl Table {
    pub(crate) fn new() -> Self {
        Table {
            next: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection; the returned id removes it.
    pub(crate) fn open(&self) -> (u64, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let c = Arc::new(Conn::new(self.epoch));
        self.lock().insert(id, c.clone());
        (id, c)
    }

    pub(crate) fn close(&self, id: u64) {
        self.lock().remove(&id);
        self.closed.notify_waiters();
    }

    /// Asks every open connection to finish and close, and resolves when none is left.
    pub(crate) async fn close_all(&self) {
        loop {
            let closed = self.closed.notified();
            let mut closed = std::pin::pin!(closed);
            closed.as_mut().enable();
            {
                let live = self.lock();
                if live.is_empty() {
                    return;
                }
                for c in live.values() {
                    c.close.notify_one();
                }
            }
            closed.await;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Tells the connection idle longest to close, and forgets it; false when every
    /// connection has a request in flight.
    pub(crate) fn evict_idlest(&self) -> bool {
        let mut live = self.lock();
        // Idle longest first; between equals, the older connection (the smaller id).
        let victim = live
            .iter()
            .filter_map(|(id, c)| c.idle_for().map(|d| (d, *id)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, id)| id);
        match victim.and_then(|id| live.remove(&id)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Go's accept back-off: 5 ms, doubling, at most 1 s; reset by a successful accept.
#[derive(Debug, Default)]
pub(crate) struct Backoff(Option<Duration>);

impl Backoff {
    pub(crate) fn next(&mut self) -> Duration {
        let d = match self.0 {
            None => Duration::from_millis(5),
            Some(d) => (d * 2).min(Duration::from_secs(1)),
        };
        self.0 = Some(d);
        d
    }

    pub(crate) fn reset(&mut self) {
        self.0 = None;
    }
}

/// Accept errors that mean the process or system ran out of something a closed connection
/// gives back (EMFILE, ENFILE, ENOBUFS, ENOMEM).
pub(crate) fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let seq: Vec<u128> = (0..10).map(|_| b.next().as_millis()).collect();
        assert_eq!(seq, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.next().as_millis(), 5);
    }

    #[test]
    fn eviction_takes_the_longest_idle_and_never_a_busy_connection() {
        let t = Table {
            epoch: Instant::now() - Duration::from_secs(10),
            ..Table::new()
        };
        let (_, busy) = t.open();
        let guard = busy.begin();
        let (old_id, old) = t.open();
        old.idle_since_ms.store(0, Ordering::SeqCst);
        let (_, newer) = t.open();
        newer.idle_since_ms.store(9_000, Ordering::SeqCst);
        assert!(t.evict_idlest());
        assert_eq!(t.len(), 2);
        assert!(
            !t.lock().contains_key(&old_id),
            "the longest idle went first"
        );
        assert!(t.evict_idlest());
        assert!(!t.evict_idlest(), "the busy connection stays");
        assert_eq!(t.len(), 1);
        drop(guard);
        assert!(
            busy.idle_for().is_some(),
            "idle again once its request ended"
        );
        assert!(t.evict_idlest());
    }

    #[test]
    fn the_cap_leaves_a_reserve() {
        assert_eq!(max_connections_for_fd_limit(1024), 960);
        assert_eq!(max_connections_for_fd_limit(10), 16);
        assert_eq!(max_connections_for_fd_limit(1 << 20), 65_536);
    }
}
