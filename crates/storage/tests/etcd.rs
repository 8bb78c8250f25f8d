//! The etcd backend's behaviour beyond the conformance suite: members that fail and return.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests: a failed step fails the run, and they run on the real clock"
)]

use std::time::{Duration, Instant};
use storage::etcd_server::EtcdCluster;
use storage::{EtcdConfig, EtcdStorage, Storage, StorageError};

fn client(etcd: &EtcdCluster, timeout: Duration) -> EtcdStorage {
    EtcdStorage::connect(&EtcdConfig {
        endpoints: etcd.endpoints(),
        prefix: "/kw".into(),
        tls: None,
        request_timeout: timeout,
    })
    .unwrap()
}

/// Retries `f` until it succeeds or 20 s pass (a cluster electing a leader, a client
/// reconnecting): the first success is the result.
fn eventually<T>(mut f: impl FnMut() -> storage::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("still failing after 20 s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_hung_or_stopped_etcd_is_unavailable_and_the_client_recovers() {
    let mut etcd = EtcdCluster::start(1);
    let s = client(&etcd, Duration::from_secs(1));
    let a = s.create("/r/a", b"1".to_vec()).unwrap();
    // A member that hangs keeps its connection open: only the call's own timeout ends a call.
    etcd.freeze(0);
    match s.get("/r/a") {
        Err(StorageError::Unavailable(m)) => {
            assert!(m.contains("etcd did not answer within 1s"), "{m}")
        }
        other => panic!("a read while etcd hangs: {other:?}"),
    }
    etcd.thaw(0);
    assert_eq!(eventually(|| s.get("/r/a")), Some(a.clone()));
    // A member that is gone refuses connections.
    etcd.kill(0);
    match s.get("/r/a") {
        Err(StorageError::Unavailable(m)) => assert!(m.contains("etcd"), "{m}"),
        other => panic!("a read while etcd is down: {other:?}"),
    }
    assert!(matches!(
        s.create("/r/b", b"2".to_vec()),
        Err(StorageError::Unavailable(_))
    ));
    etcd.restart(0);
    let back = eventually(|| s.get("/r/a"));
    assert_eq!(
        back,
        Some(a),
        "the data is still there, and the client reconnected"
    );
    assert!(
        s.get("/r/b").unwrap().is_none(),
        "the failed create wrote nothing"
    );
}

#[test]
fn a_three_member_cluster_keeps_serving_when_one_member_stops() {
    let mut etcd = EtcdCluster::start(3);
    let s = client(&etcd, Duration::from_secs(2));
    let a = s.create("/r/a", b"1".to_vec()).unwrap();
    for down in 0..3 {
        etcd.kill(down);
        // The balancer leaves the stopped member; a leader is elected if it was the leader.
        let cur = eventually(|| s.get("/r/a")).unwrap();
        let next = eventually(|| s.update("/r/a", cur.mod_revision, cur.value.to_vec()));
        assert!(next.mod_revision > cur.mod_revision);
        etcd.restart(down);
    }
    let last = eventually(|| s.get("/r/a")).unwrap();
    assert_eq!(last.create_revision, a.create_revision);
    assert_eq!(last.value, &b"1"[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_an_error_when_its_member_goes_away() {
    let mut etcd = EtcdCluster::start(1);
    let s = client(&etcd, Duration::from_secs(1));
    let now = s.current_revision().unwrap();
    let mut w = s.watch("/r/", now).unwrap();
    s.create("/r/a", b"1".to_vec()).unwrap();
    assert_eq!(w.next().await.unwrap().unwrap().kv.key, "/r/a");
    etcd.kill(0);
    let end = tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .expect("the watch ended, within the keep-alive's time");
    assert!(
        matches!(end, Some(Err(_))),
        "an error, so the client re-lists: {end:?}"
    );
}
