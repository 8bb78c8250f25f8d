//! Leader election between two replicas of the server on one store: one leads, the other
//! takes over when the leader dies, and a leader whose lease is taken stops leading.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests: a failed step fails the run, and they run on the real clock"
)]

mod common;

use common::{until, Cluster};
use controllers::leaderelection::{
    LeaderElector, Record, Timings, CONTROLLER_MANAGER_LEASE as LEASE,
};
use controllers::manager::manager_user;
use controllers::runtime::Elector;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Short timings, so a test waits two seconds, not fifteen (a lease counts whole seconds).
const FAST: Timings = Timings {
    lease_duration: Duration::from_secs(2),
    renew_deadline: Duration::from_millis(1500),
    retry_period: Duration::from_millis(100),
};

fn candidate(cluster: &Cluster, name: &str) -> Arc<LeaderElector> {
    LeaderElector::new(
        LEASE,
        name.to_string(),
        FAST,
        cluster.client(manager_user()),
        Arc::new(jiff::Timestamp::now),
        registry::os_random(),
    )
}

async fn lease(cluster: &Cluster) -> Record {
    let l = cluster
        .admin()
        .get(&registry::kinds::LEASES, LEASE.0, LEASE.1)
        .await
        .unwrap();
    Record::from_lease(&l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_the_other_takes_over_when_it_dies() {
    let store: Arc<dyn storage::Storage> = Arc::new(storage::MemoryStorage::new());
    let (a, b) = (
        Cluster::on(store.clone(), &[]).await,
        Cluster::on(store, &[]).await,
    );
    let (ea, eb) = (candidate(&a, "replica-a"), candidate(&b, "replica-b"));
    let ta = tokio::spawn(ea.clone().run());
    let tb = tokio::spawn(eb.clone().run());
    until("a leader", || async { ea.is_leader() || eb.is_leader() }).await;
    let (leader, follower, leader_task, follower_task) = if ea.is_leader() {
        (ea, eb, ta, tb)
    } else {
        (eb, ea, tb, ta)
    };
    let first = lease(&a).await;
    assert_eq!(first.holder, leader.identity());
    assert_eq!(first.lease_duration_seconds, 2);
    // For twice the lease's duration, the leader renews and the follower never leads.
    let watch_until = Instant::now() + FAST.lease_duration * 2;
    while Instant::now() < watch_until {
        assert!(
            leader.is_leader() && !follower.is_leader(),
            "exactly one leads"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let renewed = lease(&b).await;
    assert_eq!(renewed.holder, leader.identity());
    assert_eq!(
        renewed.acquire_time, first.acquire_time,
        "renewals keep acquireTime"
    );
    assert_ne!(renewed.renew_time, first.renew_time, "and move renewTime");

    // The leader dies: its lease runs out and the follower takes it.
    leader_task.abort();
    let died = Instant::now();
    until("the follower to lead", || async { follower.is_leader() }).await;
    let took = died.elapsed();
    assert!(
        took >= FAST.lease_duration - FAST.retry_period * 2,
        "no take-over before the lease expired as the follower saw it ({took:?})"
    );
    let taken = lease(&a).await;
    assert_eq!(taken.holder, follower.identity());
    assert_eq!(taken.transitions, renewed.transitions + 1);
    assert_ne!(taken.acquire_time, first.acquire_time);
    follower_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stops_leading() {
    let a = Cluster::new(&[]).await;
    let leader = candidate(&a, "replica-a");
    let task = tokio::spawn(leader.clone().run());
    tokio::time::timeout(Duration::from_secs(10), leader.acquire())
        .await
        .expect("a lone candidate leads");
    // Someone else writes the lease, and keeps renewing it: the leader's conditioned writes
    // fail, it sees a valid lease of another's, and stops within its renew deadline.
    let admin = a.admin();
    let lost = leader.lost();
    let intruder = async {
        loop {
            let def = &registry::kinds::LEASES;
            let mut l = admin.get(def, LEASE.0, LEASE.1).await.unwrap();
            l["spec"]["holderIdentity"] = "intruder".into();
            l["spec"]["renewTime"] = api_types::format_micro_time(jiff::Timestamp::now()).into();
            let _ = admin.update(def, LEASE.0, LEASE.1, l, None).await;
            tokio::time::sleep(FAST.retry_period).await;
        }
    };
    let started = Instant::now();
    tokio::select! {
        () = lost => {}
        () = intruder => unreachable!("the intruder loops"),
        () = tokio::time::sleep(Duration::from_secs(10)) => panic!("the leader did not stop"),
    }
    assert!(!leader.is_leader());
    assert!(
        started.elapsed() < FAST.lease_duration * 3,
        "stopped within the renew deadline, not much later ({:?})",
        started.elapsed()
    );
    task.abort();
}
