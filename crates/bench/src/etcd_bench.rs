//! `bench etcd`: kubeward on a real etcd (one member on loopback, Debian's etcd-server),
//! beside etcd itself in the same run.
//!
//! - creates: sequential ServiceAccount creates through one replica over one connection,
//!   beside sequential raw puts of values of the stored objects' size through the same client
//!   crate to the same etcd, in alternating rounds (the target: at least half the raw
//!   rate);
//! - watch latency: a write through replica A to the event on a watch through replica B.

use crate::{client_config, connect, sa, send, Kubeward};
use std::path::Path;
use std::time::{Duration, Instant};
use storage::etcd_server::EtcdCluster;

const N: usize = 2000;

pub(crate) async fn run(dir: &Path) {
    let etcd = EtcdCluster::start(1);
    let url = etcd.url("/bench");
    let a_dir = dir.join("a");
    let (a, _) = Kubeward::start_with(&a_dir, 0, &["--storage", &url]);
    let mut s = connect(a.port, client_config(&a_dir, true)).await;

    // Sequential creates through kubeward and raw puts to the same etcd, in alternating
    // rounds (the machine's disk and etcd drift over a run; alternating lets neither side
    // have the better minutes); the median of three rounds each.
    let endpoints = etcd.endpoints();
    let mut client = etcd_client::Client::connect(
        endpoints
            .iter()
            .map(|e| format!("http://{e}"))
            .collect::<Vec<_>>(),
        None,
    )
    .await
    .unwrap();
    let (mut rates, mut raw, mut size) = (Vec::new(), Vec::new(), 0);
    for round in 0..3 {
        let t0 = Instant::now();
        for i in 0..N {
            let (code, _) = send(
                &mut s,
                "POST",
                "/api/v1/namespaces/default/serviceaccounts",
                Some(sa(&format!("etcd-{round}-{i}"))),
            )
            .await;
            assert_eq!(code, 201);
        }
        rates.push(N as f64 / t0.elapsed().as_secs_f64());
        if round == 0 {
            // The size of what kubeward stored for one of them, read back through the backend.
            let store = etcd.storage("/bench");
            size = tokio::task::spawn_blocking(move || {
                use storage::Storage;
                store
                    .get("/registry/serviceaccounts/default/etcd-0-0")
                    .unwrap()
                    .map(|kv| kv.value.len())
                    .unwrap()
            })
            .await
            .unwrap();
        }
        // Raw puts of that size through the same client crate, sequential.
        let value = vec![b'x'; size];
        let t0 = Instant::now();
        for i in 0..N {
            client
                .put(format!("/raw/{round}/{i}"), value.clone(), None)
                .await
                .unwrap();
        }
        raw.push(N as f64 / t0.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    raw.sort_by(f64::total_cmp);
    println!(
        "| sequential creates, one connection, etcd 3.4 (median of 3 × {N}; {size}-byte objects) | kubeward {:.0}/s (range {:.0}–{:.0}) | raw etcd puts of {size} bytes {:.0}/s (range {:.0}–{:.0}) | {:.2}x (target ≥ 0.5x) |",
        rates[1],
        rates[0],
        rates[2],
        raw[1],
        raw[0],
        raw[2],
        rates[1] / raw[1]
    );

    // LIST from the watch cache, beside the bare server returning the same bytes.
    let admin = client_config(&a_dir, true);
    for (ns, n, paths, conns) in [
        (
            "list100",
            100,
            [
                "/api/v1/namespaces/list100/serviceaccounts?resourceVersion=0",
                "/api/v1/namespaces/list100/serviceaccounts",
            ],
            8,
        ),
        (
            "list10k",
            10_000,
            [
                "/api/v1/namespaces/list10k/serviceaccounts?resourceVersion=0",
                "/api/v1/namespaces/list10k/serviceaccounts",
            ],
            2,
        ),
    ] {
        let body = serde_json::json!({"metadata": {"name": ns}});
        let (code, _) = send(
            &mut s,
            "POST",
            "/api/v1/namespaces",
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
        assert_eq!(code, 201);
        for i in 0..n {
            let (code, _) = send(
                &mut s,
                "POST",
                &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
                Some(sa(&format!("sa-{i}"))),
            )
            .await;
            assert_eq!(code, 201);
        }
        let (code, list) = send(&mut s, "GET", paths[1], None).await;
        assert_eq!(code, 200);
        let items = serde_json::from_slice::<serde_json::Value>(&list).unwrap()["items"]
            .as_array()
            .map_or(0, Vec::len);
        let bare = crate::Baseline::start(&a_dir, &list);
        let dur = Duration::from_secs(3);
        let b = crate::median3(bare.port, admin.clone(), "/x", false, conns, dur).await;
        let sources = [
            "the watch cache (resourceVersion=0)",
            "etcd (a consistent read)",
        ];
        for (path, from) in paths.iter().zip(sources) {
            let k = crate::median3(a.port, admin.clone(), path, false, conns, dur).await;
            println!(
                "| LIST {items} ServiceAccounts ({} B) from {from}, {conns} conn | {:.0} req/s, p50 {:.2} ms | bare server, same bytes: {:.0} req/s, p50 {:.2} ms | {:.2}x |",
                list.len(),
                k.0,
                k.1.as_secs_f64() * 1e3,
                b.0,
                b.1.as_secs_f64() * 1e3,
                k.0 / b.0
            );
        }
    }
    println!(
        "| resident memory of a replica holding 10,100+ ServiceAccounts (etcd, watch cache) | {} MiB |",
        a.rss_kib() / 1024
    );

    // A second replica with the first one's PKI: a write on A, its event on B.
    let b_dir = dir.join("b");
    std::fs::create_dir_all(&b_dir).unwrap();
    copy_dir(&a_dir.join("pki"), &b_dir.join("pki"));
    let (b, _) = Kubeward::start_with(&b_dir, 0, &["--storage", &url]);
    let latencies = watch_latency(&a, &a_dir, &b, &b_dir).await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| write on replica A → its watch event on replica B (200 writes, one at a time) | p50 {:.2} ms, p99 {:.2} ms | the write's own round trip: p50 {:.2} ms |",
        ms(latencies.0[latencies.0.len() / 2]),
        ms(latencies.0[latencies.0.len() * 99 / 100]),
        ms(latencies.1[latencies.1.len() / 2]),
    );
    drop((a, b));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// (event latencies, write round trips), each sorted.
async fn watch_latency(
    a: &Kubeward,
    a_dir: &Path,
    b: &Kubeward,
    b_dir: &Path,
) -> (Vec<Duration>, Vec<Duration>) {
    use http_body_util::BodyExt;
    let mut w = connect(b.port, client_config(b_dir, true)).await;
    let req = hyper::Request::builder()
        .uri("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0")
        .header("host", "127.0.0.1")
        .header("accept", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let mut body = w.send_request(req).await.unwrap().into_body();
    let mut s = connect(a.port, client_config(a_dir, true)).await;
    let (mut events, mut writes) = (Vec::new(), Vec::new());
    let mut pending = String::new();
    for i in 0..200 {
        let name = format!("lat-{i}");
        let t0 = Instant::now();
        let cm = serde_json::json!({"metadata": {"name": name}});
        let (code, _) = send(
            &mut s,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(serde_json::to_vec(&cm).unwrap()),
        )
        .await;
        assert_eq!(code, 201);
        writes.push(t0.elapsed());
        // Read events until this one's ADDED.
        'event: loop {
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                if line.contains(&format!("\"name\":\"{name}\"")) {
                    events.push(t0.elapsed());
                    break 'event;
                }
            }
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                pending.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
    events.sort();
    writes.sort();
    (events, writes)
}
