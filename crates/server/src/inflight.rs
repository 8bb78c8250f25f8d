//! Overload protection, as kube-apiserver's two filters:
//!
//! - with `--enable-priority-and-fairness` (the default), a fair queue modelled on API
//!   Priority and Fairness (`apiserver/pkg/server/filters/priority-and-fairness.go`,
//!   `util/flowcontrol/fairqueuing/queueset`): one priority level whose seats are the sum of
//!   `--max-requests-inflight` and `--max-mutating-requests-inflight` (as upstream's
//!   `BuildPriorityAndFairness`), one flow per user (upstream's `global-default` schema
//!   distinguishes by user), a request waiting at most a quarter of `--request-timeout` (as
//!   upstream passes `RequestTimeout/4`) in a queue of at most 50 per flow (upstream's
//!   `queueLengthLimit`). A freed seat goes to the waiting flow that holds the fewest seats,
//!   the one served longest ago among equals: a client sending ten times the capacity gets
//!   its share and the rest of its requests wait or are refused, while a quiet user's
//!   request waits for one seat at most. Without FlowSchema objects there is no UID to send,
//!   so the `X-Kubernetes-PF-*` headers are not sent.
//! - without it, `WithMaxInFlightLimit` (`filters/maxinflight.go`): a request over its kind's
//!   limit is refused at once.
//!
//! Either way the refusal is 429 with `Retry-After: 1` and upstream's message, and
//! `system:masters` (upstream's `exempt` level), long-running requests (watches) and health
//! checks (the `probes` schema) are never held.

use api_types::{StatusError, UserInfo};
use request_info::RequestInfo;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Upstream's `queueLengthLimit` for its default priority levels.
pub const QUEUE_LENGTH_LIMIT: usize = 50;

/// Requests waiting at once, over all flows: upstream's `global-default` level has 128 queues
/// of 50.
pub const TOTAL_WAITING_LIMIT: usize = 128 * QUEUE_LENGTH_LIMIT;

/// The server's limits.
#[derive(Debug, Clone)]
pub enum InFlightLimits {
    /// `--enable-priority-and-fairness=false`: two limits, refused at once over them; None is
    /// unlimited (a flag of 0).
    MaxInFlight {
        /// `--max-requests-inflight`: gets, lists.
        read: Option<Arc<Semaphore>>,
        /// `--max-mutating-requests-inflight`: everything else.
        mutating: Option<Arc<Semaphore>>,
    },
    /// The fair queue (None: both flags 0, no limit).
    Fair(Option<FairQueue>),
}

impl Default for InFlightLimits {
    /// Upstream's defaults: 400 reads and 200 writes, priority and fairness on, requests
    /// waiting at most 15 s (a quarter of the default request timeout).
    fn default() -> Self {
        Self::new(400, 200, true, Duration::from_secs(15))
    }
}

const NON_MUTATING: [&str; 3] = ["get", "list", "watch"];

/// Why a request was refused, as upstream's `apiserver_flowcontrol_rejected_requests_total`
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Its flow's queue (or every queue together) was full.
    QueueFull,
    /// It waited its longest without a seat.
    TimeOut,
    /// Without priority and fairness: its kind's limit was reached.
    ConcurrencyLimit,
}

impl Rejection {
    /// The metric's `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue-full",
            Rejection::TimeOut => "time-out",
            Rejection::ConcurrencyLimit => "concurrency-limit",
        }
    }

    /// The answer: 429, as both upstream filters send it.
    pub fn status(self) -> StatusError {
        StatusError::too_many_requests("Too many requests, please try again later.", 1)
    }
}

/// A place held while a request runs; given back when dropped.
#[derive(Debug)]
pub enum Seat {
    /// Not limited.
    Exempt,
    /// One of the max-in-flight permits.
    Permit(#[allow(dead_code, reason = "held for its Drop")] OwnedSemaphorePermit),
    /// A seat of the fair queue.
    Fair(FairSeat),
}

impl InFlightLimits {
    /// At most `read` non-mutating and `mutating` mutating requests at once (0: no limit);
    /// with `fair`, their sum shared fairly by user, a request waiting at most `wait`.
    pub fn new(read: usize, mutating: usize, fair: bool, wait: Duration) -> Self {
        if fair {
            let seats = read + mutating;
            return InFlightLimits::Fair((seats > 0).then(|| FairQueue::new(seats, wait)));
        }
        let limit = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        InFlightLimits::MaxInFlight {
            read: limit(read),
            mutating: limit(mutating),
        }
    }

    /// A place for this request while it runs (waiting for it in the fair queue), or why not.
    pub(crate) async fn admit(
        &self,
        user: &UserInfo,
        info: &RequestInfo,
    ) -> Result<Seat, Rejection> {
        let health = !info.is_resource_request
            && ["/healthz", "/livez", "/readyz"]
                .iter()
                .any(|p| info.path == *p || info.path.starts_with(&format!("{p}/")));
        // Watches, exec, attach and log streams hold no seat for their lifetime.
        let long_running = crate::deadline::is_long_running(info);
        if health || long_running || user.in_group("system:masters") {
            return Ok(Seat::Exempt);
        }
        match self {
            InFlightLimits::Fair(None) => Ok(Seat::Exempt),
            InFlightLimits::Fair(Some(q)) => q.admit(&user.name).await.map(Seat::Fair),
            InFlightLimits::MaxInFlight { read, mutating } => {
                let pool = if NON_MUTATING.contains(&info.verb.as_str()) {
                    read
                } else {
                    mutating
                };
                let Some(pool) = pool else {
                    return Ok(Seat::Exempt);
                };
                pool.clone()
                    .try_acquire_owned()
                    .map(Seat::Permit)
                    .map_err(|_| Rejection::ConcurrencyLimit)
            }
        }
    }
}

/// The fair queue: its seats and flows behind one lock, held only to count and hand over.
#[derive(Debug, Clone)]
pub struct FairQueue {
    state: Arc<Mutex<Seats>>,
    wait: Duration,
}

impl FairQueue {
    /// `seats` requests at once; a request waits at most `wait` for one.
    pub fn new(seats: usize, wait: Duration) -> Self {
        FairQueue {
            state: Arc::new(Mutex::new(Seats::new(seats))),
            wait,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seats> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A seat for a request of `flow`: at once if one is free, else after waiting its turn.
    /// A request dropped while it waits (its client went away) leaves the queue.
    pub async fn admit(&self, flow: &str) -> Result<FairSeat, Rejection> {
        let (id, granted) = match self.lock().enter(flow)? {
            Entry::Seated => return Ok(self.seat(flow)),
            Entry::Queued(id, rx) => (id, rx),
        };
        let mut waiting = Waiting {
            queue: self,
            flow,
            id,
            done: false,
        };
        let granted = tokio::time::timeout(self.wait, granted).await;
        waiting.done = true;
        if let Ok(Ok(())) = granted {
            return Ok(self.seat(flow));
        }
        // Out of time: leave the queue, unless the seat was handed over meanwhile (a hand-over
        // happens under the lock, so the queue says which).
        if self.lock().leave(flow, id) {
            Err(Rejection::TimeOut)
        } else {
            Ok(self.seat(flow))
        }
    }

    fn seat(&self, flow: &str) -> FairSeat {
        FairSeat {
            queue: self.clone(),
            flow: flow.to_string(),
        }
    }

    /// Requests running and waiting now (for tests and the benchmark).
    pub fn counts(&self) -> (usize, usize) {
        let s = self.lock();
        (s.seats - s.free, s.waiting)
    }
}

/// A request in the queue; dropped before it is done (its future cancelled), it leaves the
/// queue, or gives back the seat it was handed.
struct Waiting<'a> {
    queue: &'a FairQueue,
    flow: &'a str,
    id: u64,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut s = self.queue.lock();
        if !s.leave(self.flow, self.id) {
            s.release(self.flow);
        }
    }
}

/// A seat of the fair queue, handed to the next waiting flow when dropped.
#[derive(Debug)]
pub struct FairSeat {
    queue: FairQueue,
    flow: String,
}

impl Drop for FairSeat {
    fn drop(&mut self) {
        self.queue.lock().release(&self.flow);
    }
}

/// What `enter` did with a request.
#[derive(Debug)]
enum Entry {
    /// It has a seat.
    Seated,
    /// It waits, with this ticket, for the seat the receiver will be told of.
    Queued(u64, oneshot::Receiver<()>),
}

/// The queue's state: plain data, every change a method.
#[derive(Debug)]
struct Seats {
    seats: usize,
    free: usize,
    /// Requests waiting, over all flows.
    waiting: usize,
    flows: HashMap<String, Flow>,
    /// Tickets and turns, counted up.
    next_id: u64,
    turn: u64,
}

/// One user's requests: how many hold seats and which wait, in order.
#[derive(Debug, Default)]
struct Flow {
    executing: usize,
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
    /// The turn at which it was last handed a seat.
    served: u64,
}

impl Seats {
    fn new(seats: usize) -> Self {
        Seats {
            seats,
            free: seats,
            waiting: 0,
            flows: HashMap::new(),
            next_id: 0,
            turn: 0,
        }
    }

    /// A request arrives: seated if a seat is free (no one waits then: a freed seat goes
    /// to a waiting request first), queued if its flow's queue has room, else refused.
    fn enter(&mut self, flow: &str) -> Result<Entry, Rejection> {
        if self.free > 0 {
            self.free -= 1;
            self.flows.entry(flow.to_string()).or_default().executing += 1;
            return Ok(Entry::Seated);
        }
        if self.waiting >= TOTAL_WAITING_LIMIT {
            return Err(Rejection::QueueFull);
        }
        let f = self.flows.entry(flow.to_string()).or_default();
        if f.queue.len() >= QUEUE_LENGTH_LIMIT {
            return Err(Rejection::QueueFull);
        }
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        f.queue.push_back((self.next_id, tx));
        self.waiting += 1;
        Ok(Entry::Queued(self.next_id, rx))
    }

    /// Takes ticket `id` out of `flow`'s queue; false if it is not there (it was seated).
    fn leave(&mut self, flow: &str, id: u64) -> bool {
        let Some(f) = self.flows.get_mut(flow) else {
            return false;
        };
        let Some(at) = f.queue.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        f.queue.remove(at);
        self.waiting -= 1;
        self.forget_if_idle(flow);
        true
    }

    /// A seat of `flow` is given back: to the waiting flow holding the fewest seats (served
    /// longest ago among equals), or kept free if no one waits.
    fn release(&mut self, flow: &str) {
        if let Some(f) = self.flows.get_mut(flow) {
            f.executing = f.executing.saturating_sub(1);
        }
        self.forget_if_idle(flow);
        while self.waiting > 0 {
            let Some(next) = self
                .flows
                .iter()
                .filter(|(_, f)| !f.queue.is_empty())
                .min_by_key(|(_, f)| (f.executing, f.served))
                .map(|(name, _)| name.clone())
            else {
                break;
            };
            self.turn += 1;
            let turn = self.turn;
            let f = self.flows.get_mut(&next).expect("chosen from the map");
            let (_, tx) = f.queue.pop_front().expect("chosen for a waiting request");
            self.waiting -= 1;
            // The receiver is dropped only after its ticket has left the queue (`Waiting`), so
            // this cannot fail; if it did, the seat goes to the next.
            if tx.send(()).is_ok() {
                f.executing += 1;
                f.served = turn;
                return;
            }
            self.forget_if_idle(&next);
        }
        self.free += 1;
    }

    fn forget_if_idle(&mut self, flow: &str) {
        if self
            .flows
            .get(flow)
            .is_some_and(|f| f.executing == 0 && f.queue.is_empty())
        {
            self.flows.remove(flow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(e: Result<Entry, Rejection>) -> oneshot::Receiver<()> {
        match e {
            Ok(Entry::Queued(_, rx)) => rx,
            other => panic!("expected a queued request, got {other:?}"),
        }
    }

    #[test]
    fn a_freed_seat_goes_to_the_flow_holding_fewest() {
        let mut s = Seats::new(2);
        assert!(matches!(s.enter("noisy"), Ok(Entry::Seated)));
        assert!(matches!(s.enter("noisy"), Ok(Entry::Seated)));
        let mut noisy: Vec<_> = (0..5).map(|_| queued(s.enter("noisy"))).collect();
        let mut quiet = queued(s.enter("quiet"));
        // The quiet user came last but holds no seat: the first freed seat is its.
        s.release("noisy");
        assert!(quiet.try_recv().is_ok());
        assert!(noisy[0].try_recv().is_err());
        // Now each holds one; the next goes to noisy, whose queue is the only one.
        s.release("noisy");
        assert!(noisy[0].try_recv().is_ok());
        assert_eq!(s.waiting, 4);
        assert_eq!(s.free, 0);
        noisy.clear();
    }

    #[test]
    fn a_full_queue_refuses_and_an_idle_flow_is_forgotten() {
        let mut s = Seats::new(1);
        assert!(matches!(s.enter("a"), Ok(Entry::Seated)));
        let mut held: Vec<_> = (0..QUEUE_LENGTH_LIMIT)
            .map(|_| queued(s.enter("a")))
            .collect();
        assert_eq!(s.enter("a").err(), Some(Rejection::QueueFull));
        // Another flow still has room.
        let b = s.enter("b");
        let Ok(Entry::Queued(id, _rx)) = b else {
            panic!("b should wait");
        };
        assert!(s.leave("b", id));
        assert!(!s.flows.contains_key("b"));
        held.clear();
        // The receivers are gone (without `Waiting`, which would have taken their tickets
        // out): a send to a dropped receiver passes the seat on, and in the end it is free.
        s.release("a");
        assert_eq!(s.free, 1);
        assert_eq!(s.waiting, 0);
        assert!(s.flows.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_request_times_out_or_is_cancelled_without_losing_a_seat() {
        let q = FairQueue::new(1, Duration::from_millis(50));
        let seat = q.admit("a").await.expect("a free seat");
        assert_eq!(q.admit("b").await.err(), Some(Rejection::TimeOut));
        // Cancelled while waiting: the ticket leaves the queue.
        let waiting = q.admit("c");
        let cancelled = tokio::time::timeout(Duration::from_millis(10), waiting).await;
        assert!(cancelled.is_err());
        assert_eq!(q.counts(), (1, 0));
        // Handed over on release.
        let q2 = q.clone();
        let next = tokio::spawn(async move { q2.admit("d").await.map(|_| ()) });
        while q.counts().1 == 0 {
            tokio::task::yield_now().await;
        }
        drop(seat);
        assert_eq!(next.await.expect("the task ran"), Ok(()));
        assert_eq!(q.counts(), (0, 0));
    }
}
