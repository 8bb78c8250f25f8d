//! The hardening issue's figures, each beside its baseline in the same run:
//! - the audit log: GET and CREATE throughput and p99 with it off, at Metadata and at
//!   RequestResponse (three servers, measured in alternation);
//! - metrics: what counting one request costs (route labels and observation, in process),
//!   beside the time a GET takes end to end;
//! - priority and fairness: a quiet user's GETs beside a noisy user sending ten times what
//!   the seats take, with the fair queue and with upstream's max-in-flight filter instead.

use super::{client_config, connect, sa, send, Kubeward, Sender};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a sample"
    )]
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

pub(crate) async fn run(dir: &Path) {
    audit(dir).await;
    metrics();
    fairness(dir).await;
}

const POLICY_METADATA: &str =
    "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n";
const POLICY_RR: &str =
    "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: RequestResponse}]\n";

async fn audit(dir: &Path) {
    let mut servers = Vec::new();
    for (name, policy) in [
        ("off", None),
        ("Metadata", Some(POLICY_METADATA)),
        ("RequestResponse", Some(POLICY_RR)),
    ] {
        let d = dir.join(format!("audit-{name}"));
        std::fs::create_dir_all(&d).unwrap();
        let (k, _) = match policy {
            None => Kubeward::start(&d, 0),
            Some(p) => {
                let file = d.join("policy.yaml");
                std::fs::write(&file, p).unwrap();
                let log = d.join("audit.log");
                Kubeward::start_with(
                    &d,
                    0,
                    &[
                        "--audit-policy-file",
                        file.to_str().unwrap(),
                        "--audit-log-path",
                        log.to_str().unwrap(),
                    ],
                )
            }
        };
        let admin = client_config(&d, true);
        let mut s = connect(k.port, admin.clone()).await;
        let (code, _) = send(
            &mut s,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts",
            Some(sa("bench-0")),
        )
        .await;
        assert_eq!(code, 201);
        servers.push((name, k, admin));
    }
    let dur = Duration::from_secs(3);
    let get = "/api/v1/namespaces/default/serviceaccounts/bench-0";
    let create = "/api/v1/namespaces/default/serviceaccounts";
    // Three rounds, each server in turn, by median throughput.
    let mut results: Vec<[Vec<(f64, Duration, Duration)>; 2]> =
        vec![[Vec::new(), Vec::new()]; servers.len()];
    for _ in 0..3 {
        for (i, (_, k, admin)) in servers.iter().enumerate() {
            results[i][0].push(super::load(k.port, admin.clone(), get, false, 8, dur).await);
            results[i][1].push(super::load(k.port, admin.clone(), create, true, 8, dur).await);
        }
    }
    println!("| audit log | GET one ServiceAccount, 8 conn | CREATE ServiceAccount, 8 conn |");
    println!("|---|---|---|");
    let base: Vec<f64> = (0..2)
        .map(|j| {
            let mut r = results[0][j].clone();
            r.sort_by(|a, b| a.0.total_cmp(&b.0));
            r[1].0
        })
        .collect();
    for (i, (name, k, _)) in servers.iter().enumerate() {
        let cell = |j: usize| {
            let mut r = results[i][j].clone();
            r.sort_by(|a, b| a.0.total_cmp(&b.0));
            let m = r[1];
            format!(
                "{:.0} req/s ({:.0}% of off), p99 {:.2} ms",
                m.0,
                100.0 * m.0 / base[j],
                ms(m.2)
            )
        };
        let log = k.dir.join("audit.log");
        let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let note = if size > 0 {
            format!(" ({} MB of log)", size / 1_000_000)
        } else {
            String::new()
        };
        println!("| {name}{note} | {} | {} |", cell(0), cell(1));
    }
}

/// The in-process cost of counting one request (labels, counter, two histograms).
fn metrics() {
    let m = server::metrics::Metrics::new();
    let info = request_info::parse(
        "GET",
        "/api/v1/namespaces/default/serviceaccounts/bench-0",
        "",
    )
    .unwrap();
    let def = &registry::kinds::SERVICE_ACCOUNTS;
    let n = 200_000u32;
    let t = Instant::now();
    for i in 0..n {
        let r = server::metrics::Metrics::route(&info, Some(def), "GET", None, false);
        m.observe(&r, 200, 0.0001 * f64::from(i % 7), Some(700));
    }
    let per = t.elapsed() / n;
    println!(
        "| metrics: route labels + apiserver_request_total + duration and size histograms, per request | {:.2} µs (in process, {n} requests) |",
        per.as_secs_f64() * 1e6
    );
}

static TOKEN_FILE: &str = "noisy-token,noisy,1\nquiet-token,quiet,2\n";

async fn send_as(s: &mut Sender, token: &str, path: &str) -> u16 {
    let req = Request::builder()
        .method("GET")
        .uri(path)
        .header("host", "127.0.0.1")
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    s.ready().await.unwrap();
    let resp = s.send_request(req).await.unwrap();
    let code = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    code
}

/// Four seats; forty noisy connections listing 100 ServiceAccounts back to back (ten times the
/// seats), one quiet connection getting one. Returns the quiet user's (successes, refusals,
/// p50, p99 of successes) and the noisy user's (ok/s, 429/s).
async fn flood(dir: &Path, fair: bool) -> ((usize, usize, Duration, Duration), (f64, f64)) {
    std::fs::create_dir_all(dir).unwrap();
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, TOKEN_FILE).unwrap();
    let (k, _) = Kubeward::start_with(
        dir,
        0,
        &[
            "--token-auth-file",
            tokens.to_str().unwrap(),
            "--max-requests-inflight",
            "4",
            "--max-mutating-requests-inflight",
            "0",
            &format!("--enable-priority-and-fairness={fair}"),
        ],
    );
    let admin = client_config(dir, true);
    let mut s = connect(k.port, admin.clone()).await;
    for user in ["noisy", "quiet"] {
        let binding = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": user}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]});
        let (code, _) = send(
            &mut s,
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            Some(serde_json::to_vec(&binding).unwrap()),
        )
        .await;
        assert_eq!(code, 201);
    }
    for i in 0..100 {
        send(
            &mut s,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts",
            Some(sa(&format!("bench-{i}"))),
        )
        .await;
    }
    let plain = client_config(dir, false);
    let dur = Duration::from_secs(6);
    let start = Instant::now();
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut noisy = Vec::new();
    for _ in 0..40 {
        let (plain, ok, refused, port) = (plain.clone(), ok.clone(), refused.clone(), k.port);
        noisy.push(tokio::spawn(async move {
            let mut s = connect(port, plain).await;
            while start.elapsed() < dur {
                match send_as(
                    &mut s,
                    "noisy-token",
                    "/api/v1/namespaces/default/serviceaccounts",
                )
                .await
                {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    429 => refused.fetch_add(1, Ordering::Relaxed),
                    c => panic!("noisy GET answered {c}"),
                };
            }
        }));
    }
    // The quiet user starts once the flood is on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut q = connect(k.port, plain.clone()).await;
    let (mut lat, mut quiet_refused) = (Vec::new(), 0);
    while start.elapsed() < dur - Duration::from_millis(500) {
        let t = Instant::now();
        match send_as(
            &mut q,
            "quiet-token",
            "/api/v1/namespaces/default/serviceaccounts/bench-0",
        )
        .await
        {
            200 => lat.push(t.elapsed()),
            429 => quiet_refused += 1,
            c => panic!("quiet GET answered {c}"),
        }
    }
    for t in noisy {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    #[allow(clippy::cast_precision_loss, reason = "a rate")]
    let rates = (
        ok.load(Ordering::Relaxed) as f64 / secs,
        refused.load(Ordering::Relaxed) as f64 / secs,
    );
    drop(k);
    (
        (
            lat.len(),
            quiet_refused,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
        ),
        rates,
    )
}

async fn fairness(dir: &Path) {
    println!("| 4 seats, noisy user at 40 connections, quiet user at 1 | quiet: answered / refused, p50, p99 | noisy: 200/s, 429/s |");
    println!("|---|---|---|");
    for (round, fair) in [(0, true), (0, false), (1, true), (1, false)] {
        let ((n, refused, p50, p99), (ok, no)) =
            flood(&dir.join(format!("fair-{fair}-{round}")), fair).await;
        let what = if fair {
            "fair queue (--enable-priority-and-fairness=true)"
        } else {
            "max-in-flight filter (=false)"
        };
        println!(
            "| {what} | {n} / {refused}, p50 {:.2} ms, p99 {:.2} ms | {ok:.0} / {no:.0} |",
            ms(p50),
            ms(p99)
        );
    }
}
