//! Leader election through a `coordination.k8s.io` Lease, as client-go's
//! `tools/leaderelection/leaderelection.go` does it for kube-controller-manager's
//! `--leader-elect` (Lease `kube-system/kube-controller-manager`):
//!
//! - **acquire**: every retry period (with up to 1.2 periods of jitter, as `JitterUntil`), try
//!   to take or renew the lease; it can be taken when nobody holds it, or when its record has
//!   not changed for its `leaseDurationSeconds` as *this* process measured it (the time the
//!   record was last seen to change, on the local monotonic clock: clocks of different machines
//!   are never compared);
//! - **renew**: every retry period, renew; when no renewal succeeded within the renew
//!   deadline, leadership is lost and the controllers stop (client-go's `OnStoppedLeading`; the
//!   process then tries to acquire again rather than exit, since it also serves the API);
//! - each write is an update conditioned on the resourceVersion last read, so two candidates
//!   never both succeed.
//!
//! A lost leader stops acting within `retry period + renew deadline` of its last renewal, and
//! another takes over no sooner than `lease duration` after it last saw a renewal: the
//! defaults (15 s, 10 s, 2 s) keep the first shorter than the second.

use crate::runtime::Elector;
use api_types::{format_micro_time, StatusError};
use registry::{kinds, Client, Clock, Random};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// kube-controller-manager's lease: its namespace and name.
pub const CONTROLLER_MANAGER_LEASE: (&str, &str) = ("kube-system", "kube-controller-manager");

/// The timings of an election (kube-controller-manager's `--leader-elect-*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a lease holds after its last renewal, as candidates see it.
    pub lease_duration: Duration,
    /// How long a leader goes on retrying a renewal before it stops leading.
    pub renew_deadline: Duration,
    /// How long between tries.
    pub retry_period: Duration,
}

impl Default for Timings {
    /// kube-controller-manager's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The Lease's spec as client-go's `LeaderElectionRecord` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Who holds it ("" when released).
    pub holder: String,
    /// `leaseDurationSeconds`.
    pub lease_duration_seconds: u64,
    /// `acquireTime` (MicroTime text).
    pub acquire_time: String,
    /// `renewTime` (MicroTime text).
    pub renew_time: String,
    /// `leaseTransitions`.
    pub transitions: u64,
}

impl Record {
    /// The record in a Lease object's spec.
    pub fn from_lease(lease: &Value) -> Self {
        let spec = &lease["spec"];
        let text = |k: &str| spec[k].as_str().unwrap_or_default().to_string();
        Record {
            holder: text("holderIdentity"),
            lease_duration_seconds: spec["leaseDurationSeconds"].as_u64().unwrap_or(0),
            acquire_time: text("acquireTime"),
            renew_time: text("renewTime"),
            transitions: spec["leaseTransitions"].as_u64().unwrap_or(0),
        }
    }

    /// The Lease spec that says this record.
    pub fn to_spec(&self) -> Value {
        json!({
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        })
    }
}

/// What this candidate last saw of the lease, and when (client-go's `observedRecord`,
/// `observedRawRecord` and `observedTime`).
#[derive(Debug, Clone)]
pub struct Observed {
    /// The record last seen (or last written by this candidate).
    pub record: Record,
    /// The Lease object it came in (its resourceVersion conditions the next write).
    pub lease: Value,
    /// When the record was last seen to change.
    pub at: Instant,
}

/// What one try decides, from what was read (sans-IO: `try_acquire_or_renew` does the I/O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Someone else holds a lease that is still valid.
    HeldByOther,
    /// Write this record (create the lease when none was read).
    Write(Record),
}

/// The decision of `tryAcquireOrRenew` after its read: whether `me` may write, and what.
/// `observed` is what was seen (already updated with the read), `now` the local time.
pub fn decide(me: &str, observed: &Observed, now: Instant, fresh: Record) -> Step {
    let held_by_me = observed.record.holder == me;
    let valid = observed.at + Duration::from_secs(observed.record.lease_duration_seconds) > now;
    if !observed.record.holder.is_empty() && valid && !held_by_me {
        return Step::HeldByOther;
    }
    let mut record = fresh;
    if held_by_me {
        record.acquire_time = observed.record.acquire_time.clone();
        record.transitions = observed.record.transitions;
    } else {
        record.transitions = observed.record.transitions + 1;
    }
    Step::Write(record)
}

/// One candidate in an election over a Lease.
pub struct LeaderElector {
    /// `namespace`, `name` of the Lease.
    lease: (String, String),
    identity: String,
    timings: Timings,
    client: Arc<dyn Client>,
    clock: Clock,
    random: Random,
    leading: watch::Sender<bool>,
}

impl LeaderElector {
    /// A candidate named `identity` (unique per process: kube-controller-manager's is the host
    /// name and a UUID) for the lease `lease`, acting through `client`.
    pub fn new(
        lease: (&str, &str),
        identity: String,
        timings: Timings,
        client: Arc<dyn Client>,
        clock: Clock,
        random: Random,
    ) -> Arc<Self> {
        Arc::new(LeaderElector {
            lease: (lease.0.to_string(), lease.1.to_string()),
            identity,
            timings,
            client,
            clock,
            random,
            leading: watch::channel(false).0,
        })
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this candidate leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Runs the election until the task is dropped: acquire, renew until a renewal misses its
    /// deadline, and again.
    pub async fn run(self: Arc<Self>) {
        let mut observed: Option<Observed> = None;
        loop {
            // Acquire: until a try succeeds, every retry period with jitter.
            loop {
                let bound = self.timings.lease_duration;
                let tried = tokio::time::timeout(bound, self.try_acquire_or_renew(&mut observed));
                if matches!(tried.await, Ok(true)) {
                    break;
                }
                tokio::time::sleep(self.jittered(self.timings.retry_period)).await;
            }
            tracing::info!(identity = %self.identity, lease = %self.lease.1, "successfully acquired lease");
            self.leading.send_replace(true);
            // Renew: every retry period; each renewal retried until the renew deadline.
            loop {
                let deadline = Instant::now() + self.timings.renew_deadline;
                let renewed = loop {
                    let tried =
                        tokio::time::timeout_at(deadline, self.try_acquire_or_renew(&mut observed));
                    match tried.await {
                        Ok(true) => break true,
                        Ok(false) if Instant::now() + self.timings.retry_period < deadline => {
                            tokio::time::sleep(self.timings.retry_period).await;
                        }
                        _ => break false,
                    }
                };
                if !renewed {
                    break;
                }
                tokio::time::sleep(self.timings.retry_period).await;
            }
            tracing::warn!(identity = %self.identity, lease = %self.lease.1, "leader election lost");
            self.leading.send_replace(false);
        }
    }

    /// `period` plus up to 1.2 periods (`wait.Jitter(period, 1.2)`).
    fn jittered(&self, period: Duration) -> Duration {
        let mut b = [0u8; 2];
        (self.random)(&mut b);
        let fraction = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
        period + period.mul_f64(1.2 * fraction)
    }

    /// One try (client-go's `tryAcquireOrRenew`): true when this candidate holds the lease
    /// afterwards.
    async fn try_acquire_or_renew(&self, observed: &mut Option<Observed>) -> bool {
        match self.try_once(observed).await {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(identity = %self.identity, error = %e, "lease not acquired or renewed");
                false
            }
        }
    }

    async fn try_once(&self, observed: &mut Option<Observed>) -> Result<bool, StatusError> {
        let def = &kinds::LEASES;
        let (ns, name) = (&self.lease.0, &self.lease.1);
        let now_text = format_micro_time((self.clock)());
        let fresh = Record {
            holder: self.identity.clone(),
            lease_duration_seconds: self.timings.lease_duration.as_secs(),
            acquire_time: now_text.clone(),
            renew_time: now_text,
            transitions: 0,
        };
        // 1. The leader's fast path: write over what it wrote last, while that is valid.
        if let Some(o) = observed.as_ref() {
            let valid =
                o.at + Duration::from_secs(o.record.lease_duration_seconds) > Instant::now();
            if o.record.holder == self.identity && valid {
                let mut record = fresh.clone();
                record.acquire_time = o.record.acquire_time.clone();
                record.transitions = o.record.transitions;
                if let Ok(stored) = self.write(o.lease.clone(), &record).await {
                    *observed = Some(Observed {
                        record,
                        lease: stored,
                        at: Instant::now(),
                    });
                    return Ok(true);
                }
            }
        }
        // 2. Read the lease, or create it.
        let lease = match self.client.get(def, ns, name).await {
            Ok(l) => l,
            Err(e) if e.code == 404 => {
                let body = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": fresh.to_spec(),
                });
                let stored = self.client.create(def, ns, body).await?;
                *observed = Some(Observed {
                    record: fresh,
                    lease: stored,
                    at: Instant::now(),
                });
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        // 3. What was read: a changed record restarts the lease's time as seen from here.
        let record = Record::from_lease(&lease);
        let now = Instant::now();
        let o = match observed.take() {
            Some(o) if o.record == record => Observed { lease, ..o },
            _ => Observed {
                record,
                lease,
                at: now,
            },
        };
        let step = decide(&self.identity, &o, now, fresh);
        let lease = o.lease.clone();
        *observed = Some(o);
        // 4. Take or renew it.
        let Step::Write(record) = step else {
            return Ok(false);
        };
        let stored = self.write(lease, &record).await?;
        *observed = Some(Observed {
            record,
            lease: stored,
            at: Instant::now(),
        });
        Ok(true)
    }

    /// Updates `lease` (conditioned on its resourceVersion) to say `record`.
    async fn write(&self, mut lease: Value, record: &Record) -> Result<Value, StatusError> {
        lease["spec"] = record.to_spec();
        let (ns, name) = (&self.lease.0, &self.lease.1);
        self.client
            .update(&kinds::LEASES, ns, name, lease, None)
            .await
    }
}

impl Elector for LeaderElector {
    fn acquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut leading = self.leading.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`: an error cannot happen while borrowed.
            let _ = leading.wait_for(|l| *l).await;
        })
    }

    fn lost(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut leading = self.leading.subscribe();
        Box::pin(async move {
            let _ = leading.wait_for(|l| !*l).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str, secs: u64, transitions: u64) -> Record {
        Record {
            holder: holder.into(),
            lease_duration_seconds: secs,
            acquire_time: format!("acquired-by-{holder}"),
            renew_time: "t0".into(),
            transitions,
        }
    }

    fn fresh(me: &str) -> Record {
        Record {
            holder: me.into(),
            lease_duration_seconds: 15,
            acquire_time: "now".into(),
            renew_time: "now".into(),
            transitions: 0,
        }
    }

    /// A case: (holder seen, seen how long ago, lease seconds) → None to wait, or the
    /// (acquireTime, leaseTransitions) written.
    type Case = (&'static str, u64, u64, Option<(&'static str, u64)>);

    /// client-go's cases, as data.
    #[test]
    fn decisions() {
        let t0 = Instant::now();
        let cases: &[Case] = &[
            // A valid lease held by another: wait.
            ("b", 5, 15, None),
            // Expired as measured here: take it, one more transition, acquired now.
            ("b", 16, 15, Some(("now", 4))),
            // Released (no holder): take it at once.
            ("", 0, 15, Some(("now", 4))),
            // Held by me: renew, keeping acquireTime and the count.
            ("a", 5, 15, Some(("acquired-by-a", 3))),
            ("a", 30, 15, Some(("acquired-by-a", 3))),
        ];
        for &(holder, ago, secs, want) in cases {
            let observed = Observed {
                record: record(holder, secs, 3),
                lease: Value::Null,
                at: t0,
            };
            let step = decide("a", &observed, t0 + Duration::from_secs(ago), fresh("a"));
            match (want, step) {
                (None, Step::HeldByOther) => {}
                (Some((acquired, transitions)), Step::Write(r)) => {
                    assert_eq!(r.holder, "a");
                    assert_eq!(r.renew_time, "now", "{holder} {ago}");
                    assert_eq!(
                        (r.acquire_time.as_str(), r.transitions),
                        (acquired, transitions),
                        "{holder} {ago}"
                    );
                }
                (want, got) => panic!("{holder} seen {ago}s ago: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn records_round_trip_through_a_lease() {
        let r = Record {
            holder: "host_1".into(),
            lease_duration_seconds: 15,
            acquire_time: "2026-12-06T07:00:00.000000Z".into(),
            renew_time: "2026-12-06T07:00:02.000000Z".into(),
            transitions: 2,
        };
        let lease = json!({"spec": r.to_spec()});
        assert_eq!(Record::from_lease(&lease), r);
        assert_eq!(Record::from_lease(&json!({})), Record::default());
    }
}
