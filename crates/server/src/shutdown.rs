//! Graceful shutdown, in kube-apiserver's order (`server/genericapiserver.go`,
//! `preparedGenericAPIServer.RunWithContext`):
//!
//! 1. **Draining** (on SIGTERM): `/readyz` fails its `shutdown` check so load balancers stop
//!    sending; everything else is served as before for `--shutdown-delay-duration`.
//! 2. **Stopping**: the listener closes; each connection finishes the requests it has in
//!    flight (a write that began lands) and closes; watch streams from the network end cleanly
//!    (their chunked body is terminated, so clients see the end of a watch and re-list
//!    elsewhere). The server returns when every connection has closed, or after the drain
//!    timeout.

use tokio::sync::watch;

/// Where the server is in its shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Serving.
    Serving,
    /// `/readyz` fails; still serving.
    Draining,
    /// No new connections; in-flight requests finish, watches end.
    Stopping,
}

/// The shutdown phase, shared by the accept loop, the connections, the health checks and the
/// watch streams.
#[derive(Debug)]
pub struct Shutdown(watch::Sender<Phase>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(watch::Sender::new(Phase::Serving))
    }
}

impl Shutdown {
    /// Moves on to `phase` (never back).
    pub fn enter(&self, phase: Phase) {
        self.0.send_if_modified(|now| {
            let later = phase > *now;
            if later {
                *now = phase;
            }
            later
        });
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.0.borrow()
    }

    /// Resolves once the server has reached `phase`.
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.0.subscribe();
        // The sender lives in the state, which outlives every waiter.
        let _ = rx.wait_for(|now| *now >= phase).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_only_move_forward_and_waiters_wake() {
        let s = std::sync::Arc::new(Shutdown::default());
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.reached(Phase::Stopping).await })
        };
        s.enter(Phase::Draining);
        assert_eq!(s.phase(), Phase::Draining);
        assert!(!waiter.is_finished());
        s.enter(Phase::Stopping);
        waiter.await.unwrap();
        s.enter(Phase::Serving);
        assert_eq!(s.phase(), Phase::Stopping, "never back");
        s.reached(Phase::Draining).await;
    }
}
