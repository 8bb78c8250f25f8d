//! The hardening issue's figures, each beside its baseline in the same run:
//! - the audit log: GET and CREATE throughput and p99 with it off, at Metadata and at
//!   RequestResponse (three servers, measured in alternation);
//! - metrics: what counting one request costs (route labels and observation, in process),
//!   beside the time a GET takes end to end;
//! - priority and fairness: a quiet user's creates beside a noisy user whose requests hold
//!   their seats (slow bodies) at ten times what the seats take, with the fair queue and with
//!   upstream's max-in-flight filter instead. (Requests that only use CPU hold a seat for
//!   microseconds: on two cores the seats never run out for them.)

use super::{client_config, connect, sa, send, Kubeward};
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
        // The log and its rotated backups.
        let size: u64 = std::fs::read_dir(&k.dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("audit"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        let mut s = connect(k.port, servers[i].2.clone()).await;
        let (_, metrics) = send(&mut s, "GET", "/metrics", None).await;
        let metrics = String::from_utf8_lossy(&metrics).to_string();
        let count = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let note = if size > 0 {
            format!(
                " ({} MB of log; {:.0} events written, {:.0} dropped as the buffer was full)",
                size / 1_000_000,
                count("apiserver_audit_event_total"),
                count("apiserver_audit_error_total")
            )
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

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn raw_connect(port: u16, tls: Arc<rustls::ClientConfig>) -> Tls {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    tokio_rustls::TlsConnector::from(tls)
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap()
}

/// Reads one response head and its Content-Length body; the status code.
async fn read_response(s: &mut Tls, buf: &mut Vec<u8>) -> u16 {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let code: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 8192];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..end + 4 + len);
            return code;
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A create whose body is sent `hold` after the server asks for it (`Expect: 100-continue`):
/// the server asks once the request has its seat, so the seat is held that long. Returns the
/// code and whether the connection can be used again (not after a refusal before the body).
async fn slow_create(
    s: &mut Tls,
    buf: &mut Vec<u8>,
    token: &str,
    name: &str,
    hold: Duration,
) -> (u16, bool) {
    use tokio::io::AsyncWriteExt;
    let body = sa(name);
    let head = format!(
        "POST /api/v1/namespaces/default/serviceaccounts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if hold.is_zero() { "" } else { "Expect: 100-continue\r\n" }
    );
    s.write_all(head.as_bytes()).await.unwrap();
    if !hold.is_zero() {
        let code = read_response(s, buf).await;
        if code != 100 {
            return (code, false);
        }
        tokio::time::sleep(hold).await;
    }
    s.write_all(&body).await.unwrap();
    let code = read_response(s, buf).await;
    // A refusal closes the connection (the body may not have been read).
    (code, code != 429)
}

/// Four seats; forty noisy connections each holding a seat 50 ms (ten times what the seats
/// take), one quiet connection creating with no hold. Returns the quiet user's (successes,
/// refusals, p50, p99 of successes) and the noisy user's (created/s, refused/s).
async fn flood(dir: &Path, fair: bool) -> ((usize, usize, Duration, Duration), (f64, f64)) {
    static NAMES: AtomicU64 = AtomicU64::new(0);
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
            "0",
            "--max-mutating-requests-inflight",
            "4",
            &format!("--enable-priority-and-fairness={fair}"),
        ],
    );
    let admin = client_config(dir, true);
    let mut s = connect(k.port, admin.clone()).await;
    for user in ["noisy", "quiet"] {
        let binding = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": user}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
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
    let plain = client_config(dir, false);
    let dur = Duration::from_secs(6);
    let start = Instant::now();
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut noisy = Vec::new();
    for _ in 0..40 {
        let (plain, ok, refused, port) = (plain.clone(), ok.clone(), refused.clone(), k.port);
        noisy.push(tokio::spawn(async move {
            let (mut s, mut buf) = (raw_connect(port, plain.clone()).await, Vec::new());
            while start.elapsed() < dur {
                let name = format!("noisy-{}", NAMES.fetch_add(1, Ordering::Relaxed));
                let (code, reusable) = slow_create(
                    &mut s,
                    &mut buf,
                    "noisy-token",
                    &name,
                    Duration::from_millis(50),
                )
                .await;
                match code {
                    201 => ok.fetch_add(1, Ordering::Relaxed),
                    429 => refused.fetch_add(1, Ordering::Relaxed),
                    c => panic!("noisy create answered {c}"),
                };
                if code == 429 {
                    // As client-go: Retry-After (1 s) before the next.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                if !reusable {
                    (s, buf) = (raw_connect(port, plain.clone()).await, Vec::new());
                }
            }
        }));
    }
    // The quiet user starts once the flood is on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut q, mut buf) = (raw_connect(k.port, plain.clone()).await, Vec::new());
    let (mut lat, mut quiet_refused) = (Vec::new(), 0);
    while start.elapsed() < dur - Duration::from_millis(500) {
        let t = Instant::now();
        let name = format!("quiet-{}", NAMES.fetch_add(1, Ordering::Relaxed));
        let (code, reusable) =
            slow_create(&mut q, &mut buf, "quiet-token", &name, Duration::ZERO).await;
        match code {
            201 => lat.push(t.elapsed()),
            429 => quiet_refused += 1,
            c => panic!("quiet create answered {c}"),
        }
        if !reusable {
            (q, buf) = (raw_connect(k.port, plain.clone()).await, Vec::new());
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
    println!("| 4 write seats; noisy user: 40 connections each holding a seat 50 ms; quiet user: 1 connection | quiet: created / refused, p50, p99 | noisy: created/s, refused/s |");
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
