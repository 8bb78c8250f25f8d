//! `cargo run --release -p bench -- [all|startup|memory|http|creates|hardening|access|...]`
//!
//! Starts the release `kubeward` binary (`target/release/kubeward`, or `$KUBEWARD_BIN`) on a
//! scratch data directory and measures it side by side with a baseline in the same run:
//! - startup: restart on an existing SQLite data dir to the first `/readyz` 200;
//! - memory: resident set size when idle after startup and a little traffic;
//! - http: GET one object and LIST a namespace over TLS keep-alive with concurrent clients,
//!   against a bare hyper+rustls server returning the same bytes (the ceiling);
//! - creates: sequential ServiceAccount creates on SQLite;
//! - etcd: creates on etcd beside raw etcd puts, and a write on one replica to its watch event
//!   on another;
//! - hardening: the audit log's cost by level, the metrics' cost per request, and a quiet
//!   user beside a noisy one with and without the fair queue;
//! - access, access-server: who-can, the access matrix and audit-rbac in process; and against a
//!   server holding 10,000 and 100,000 bindings, beside one SubjectAccessReview per subject or
//!   cell and a list-then-scan by the CLI.
//!
//! Results print as Markdown rows for BENCHMARKS.md.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

mod access_bench;
mod access_server_bench;
mod authz_bench;
mod etcd_bench;
mod hardening_bench;
mod pods_bench;
mod wire_bench;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

fn kubeward_bin() -> PathBuf {
    std::env::var_os("KUBEWARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/kubeward")
        })
}

struct Kubeward {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Kubeward {
    fn start(dir: &Path, port: u16) -> (Kubeward, Duration) {
        Self::start_with(dir, port, &[])
    }

    /// With more `serve` flags.
    fn start_with(dir: &Path, port: u16, args: &[&str]) -> (Kubeward, Duration) {
        let t0 = Instant::now();
        let mut child = Command::new(kubeward_bin())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir)
            .args(args)
            // As before the node agent, unless a bench asks for one (as root it would run).
            .args(if args.contains(&"--node-agent") {
                &[][..]
            } else {
                &["--node-agent", "off"][..]
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {}: {e} (run `cargo build --release` first)",
                    kubeward_bin().display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .rsplit_once("127.0.0.1:")
            .and_then(|(_, r)| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("ready line with a port");
        (
            Kubeward {
                child,
                port,
                dir: dir.to_path_buf(),
            },
            t0.elapsed(),
        )
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Kubeward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_config(dir: &Path, with_cert: bool) -> Arc<rustls::ClientConfig> {
    let read = |n: &str| std::fs::read(dir.join("pki").join(n)).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&read("ca.crt")) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = if with_cert {
        let certs = CertificateDer::pem_slice_iter(&read("admin.crt"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        b.with_client_auth_cert(
            certs,
            PrivateKeyDer::from_pem_slice(&read("admin.key")).unwrap(),
        )
        .unwrap()
    } else {
        b.with_no_client_auth()
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// Unique names for created objects across every load run.
static NEXT: AtomicU64 = AtomicU64::new(0);

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(port: u16, tls: Arc<rustls::ClientConfig>) -> Sender {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn send(s: &mut Sender, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Bytes) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("accept", "application/json");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    s.ready().await.unwrap();
    let resp = s.send_request(req).await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.into_body().collect().await.unwrap().to_bytes())
}

/// Requests per second and p50/p99 latency of `concurrency` keep-alive connections sending
/// `GET path` (or, with `create`, POSTing a new ServiceAccount to `path` each time) for `dur`.
async fn load(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    path: &'static str,
    create: bool,
    concurrency: usize,
    dur: Duration,
) -> (f64, Duration, Duration) {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..concurrency {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = connect(port, tls).await;
            let mut lat = Vec::new();
            while start.elapsed() < dur {
                let t = Instant::now();
                let (code, _) = if create {
                    send(
                        &mut s,
                        "POST",
                        path,
                        Some(sa(&format!(
                            "load-{c}-{}",
                            NEXT.fetch_add(1, Ordering::Relaxed)
                        ))),
                    )
                    .await
                } else {
                    send(&mut s, "GET", path, None).await
                };
                assert!(code == 200 || code == 201, "{path}: {code}");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99))
}

/// The baseline in its own process, like kubeward, so both pay the same cross-process costs.
struct Baseline {
    child: Child,
    port: u16,
}

impl Baseline {
    fn start(dir: &Path, body: &[u8]) -> Baseline {
        let body_file = dir.join(format!("baseline-body-{}", body.len()));
        std::fs::write(&body_file, body).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("baseline-server")
            .arg(dir)
            .arg(&body_file)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Baseline {
            child,
            port: line.trim().parse().expect("baseline prints its port"),
        }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `load` three times, alternating with whatever else the caller measures, by median
/// throughput (the run whose latencies are reported too).
async fn median3(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    path: &'static str,
    create: bool,
    concurrency: usize,
    dur: Duration,
) -> (f64, Duration, Duration) {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(load(port, tls.clone(), path, create, concurrency, dur).await);
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs[1]
}

/// A bare hyper+rustls server answering every request with `body` (the ceiling): the same TLS
/// configuration as kubeward, the same multi-threaded runtime, no routing, no storage.
async fn baseline(dir: &Path, body: Bytes) -> u16 {
    let read = |n: &str| std::fs::read(dir.join("pki").join(n)).unwrap();
    let tls = server::tls::server_config(
        &read("apiserver.crt"),
        &read("apiserver.key"),
        &authn::x509::ClientCAs::from_pem(&read("ca.crt")).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            // As kubeward does: without it, large bodies stall on Nagle and delayed ACKs.
            let _ = tcp.set_nodelay(true);
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        let mut r = hyper::Response::new(Full::new(body));
                        r.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kubeward-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn sa(name: &str) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name": name}}),
    )
    .unwrap()
}

async fn startup_and_memory(dir: &Path) {
    // First start creates the PKI and the database; it is not what we measure.
    let (first, _) = Kubeward::start(dir, 0);
    let port = first.port;
    drop(first);
    let tls = client_config(dir, false);
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..10 {
        let t0 = Instant::now();
        let (k, _) = Kubeward::start(dir, port);
        loop {
            if let Ok(tcp) = TcpStream::connect(("127.0.0.1", k.port)).await {
                drop(tcp);
                let mut s = connect(k.port, tls.clone()).await;
                if send(&mut s, "GET", "/readyz", None).await.0 == 200 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(t0.elapsed());
        // Idle memory: after a little traffic, once the server has nothing to do.
        let admin = client_config(&k.dir, true);
        let mut s = connect(k.port, admin).await;
        for _ in 0..20 {
            send(&mut s, "GET", "/api/v1/namespaces", None).await;
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss = rss.max(k.rss_kib());
    }
    times.sort_unstable();
    println!(
        "| restart to `/readyz` 200 (SQLite, median of 10) | {:.1} ms | target ≤ 50 ms |",
        times[5].as_secs_f64() * 1e3
    );
    println!(
        "| idle resident memory (max of 10 starts) | {:.1} MiB | target ≤ 25 MiB |",
        rss as f64 / 1024.0
    );
}

async fn http(dir: &Path) {
    let (k, _) = Kubeward::start(dir, 0);
    let admin = client_config(dir, true);
    let mut s = connect(k.port, admin.clone()).await;
    for i in 0..100 {
        let (code, _) = send(
            &mut s,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts",
            Some(sa(&format!("bench-{i}"))),
        )
        .await;
        assert!(code == 201 || code == 409);
    }
    let (_, one) = send(
        &mut s,
        "GET",
        "/api/v1/namespaces/default/serviceaccounts/bench-0",
        None,
    )
    .await;
    let (_, list) = send(
        &mut s,
        "GET",
        "/api/v1/namespaces/default/serviceaccounts",
        None,
    )
    .await;
    let base_one_srv = Baseline::start(dir, &one);
    let base_list_srv = Baseline::start(dir, &list);
    let (base_one, base_list) = (base_one_srv.port, base_list_srv.port);
    let dur = Duration::from_secs(3);
    let row = |what: String, k: (f64, Duration, Duration), b: (f64, Duration, Duration)| {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {what} | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | {:.0}% |",
            k.0,
            ms(k.1),
            ms(k.2),
            b.0,
            ms(b.1),
            ms(b.2),
            100.0 * k.0 / b.0
        );
    };
    let one_path = "/api/v1/namespaces/default/serviceaccounts/bench-0";
    let list_path = "/api/v1/namespaces/default/serviceaccounts";
    for conc in [1, 8] {
        let k1 = median3(k.port, admin.clone(), one_path, false, conc, dur).await;
        let b1 = median3(base_one, admin.clone(), "/x", false, conc, dur).await;
        row(
            format!("GET one ServiceAccount ({} B), {conc} conn", one.len()),
            k1,
            b1,
        );
    }
    let kl = median3(k.port, admin.clone(), list_path, false, 8, dur).await;
    let bl = median3(base_list, admin.clone(), "/x", false, 8, dur).await;
    row(
        format!("LIST 100 ServiceAccounts ({} B), 8 conn", list.len()),
        kl,
        bl,
    );
    let kc = median3(k.port, admin.clone(), list_path, true, 8, dur).await;
    let bc = median3(base_one, admin.clone(), "/x", true, 8, dur).await;
    row("CREATE ServiceAccount (SQLite), 8 conn".to_string(), kc, bc);
}

/// OpenAPI: what building and holding every document costs (resident memory before and after
/// fetching them all, time of the first request, which builds them), and the rate of serving a
/// built one against the bare server returning the same bytes.
async fn openapi(dir: &Path) {
    let (k, _) = Kubeward::start(dir, 0);
    let admin = client_config(dir, true);
    let mut s = connect(k.port, admin.clone()).await;
    send(&mut s, "GET", "/api/v1/namespaces", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = k.rss_kib();
    let (code, root) = send(&mut s, "GET", "/openapi/v3", None).await;
    assert_eq!(code, 200);
    let root: serde_json::Value = serde_json::from_slice(&root).unwrap();
    let url = |gv: &str| {
        root["paths"][gv]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // What `kubectl explain serviceaccount` fetches: the root and the core document.
    let t0 = Instant::now();
    let core_url = url("api/v1");
    let (code, core_body) = send(&mut s, "GET", &core_url, None).await;
    let first = t0.elapsed();
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let explained = k.rss_kib();
    let mut total = 0;
    for gv in root["paths"].as_object().unwrap().keys() {
        let (code, body) = send(&mut s, "GET", &url(gv), None).await;
        assert_eq!(code, 200);
        total += body.len();
    }
    let core = (core_url, core_body);
    let (code, v2) = send(&mut s, "GET", "/openapi/v2", None).await;
    assert_eq!(code, 200);
    drop(s);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = k.rss_kib();
    println!(
        "| first GET of `/openapi/v3/api/v1` (builds it) | {:.1} ms |",
        first.as_secs_f64() * 1e3
    );
    println!(
        "| resident memory: idle / after the core document / after every document ({} v3, {} KiB; v2 protobuf {} KiB) | {:.1} / {:.1} / {:.1} MiB |",
        root["paths"].as_object().unwrap().len(),
        total / 1024,
        v2.len() / 1024,
        before as f64 / 1024.0,
        explained as f64 / 1024.0,
        after as f64 / 1024.0
    );
    let base = Baseline::start(dir, &core.1);
    let path: &'static str = Box::leak(core.0.into_boxed_str());
    let dur = Duration::from_secs(3);
    let kr = median3(k.port, admin.clone(), path, false, 8, dur).await;
    let br = median3(base.port, admin.clone(), "/x", false, 8, dur).await;
    println!(
        "| GET /openapi/v3/api/v1 ({} KiB), 8 conn | {:.0} req/s, p99 {:.2} ms | bare server, same bytes: {:.0} req/s, p99 {:.2} ms | {:.0}% |",
        core.1.len() / 1024,
        kr.0,
        kr.2.as_secs_f64() * 1e3,
        br.0,
        br.2.as_secs_f64() * 1e3,
        100.0 * kr.0 / br.0
    );
}

async fn creates(dir: &Path) {
    let (k, _) = Kubeward::start(dir, 0);
    let mut s = connect(k.port, client_config(dir, true)).await;
    let n = 5000;
    let mut rates = Vec::new();
    for round in 0..3 {
        let t0 = Instant::now();
        for i in 0..n {
            let body = sa(&format!("create-{round}-{i}"));
            let (code, _) = send(
                &mut s,
                "POST",
                "/api/v1/namespaces/default/serviceaccounts",
                Some(body),
            )
            .await;
            assert_eq!(code, 201);
        }
        rates.push(n as f64 / t0.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "| sequential ServiceAccount creates, SQLite, one connection (median of 3 × {n}) | {:.0} creates/s (range {:.0}–{:.0}) | target ≥ 5,000/s |",
        rates[1], rates[0], rates[2]
    );
}

/// Service-account token costs, in process: ES256 signing (TokenRequest), signature
/// verification alone, and a full bound-token authentication (claims, audience, time and the
/// service-account lookup, here an in-memory map).
fn tokens_bench() {
    use authn::serviceaccount::{bound_claims, BoundTokenAuthenticator, ObjectLookup};
    use authn::TokenAuthenticator;
    struct Lookup;
    impl ObjectLookup for Lookup {
        fn lookup(&self, kind: &str, _: &str, _: &str) -> Option<(String, bool)> {
            (kind == "ServiceAccount").then(|| ("uid-1".to_string(), false))
        }
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let signer = authn::jwt::Signer::from_pkcs8(pkcs8.as_ref()).unwrap();
    let iss = "https://kubernetes.default.svc.cluster.local".to_string();
    let now = 2_000_000_000i64;
    let claims = bound_claims(
        &iss,
        std::slice::from_ref(&iss),
        "default",
        "bot",
        "uid-1",
        &[],
        now,
        3600,
        "jti",
    );
    let rate = |f: &mut dyn FnMut()| -> f64 {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_secs(1) {
            f();
            n += 1;
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    let mut token = String::new();
    let sign = rate(&mut || token = signer.sign(&claims));
    let keys = vec![signer.public.clone()];
    let verify = rate(&mut || assert!(authn::jwt::verify(&token, &keys).is_ok()));
    let auth = BoundTokenAuthenticator {
        issuers: vec![iss.clone()],
        api_audiences: vec![iss.clone()],
        keys: keys.clone(),
        lookup: Arc::new(Lookup),
        now: Arc::new(move || now),
    };
    let full = rate(&mut || assert!(matches!(auth.authenticate_token(&token), Some(Ok(_)))));
    let cache = authn::cache::TokenCache::new(Duration::from_secs(10), 4096);
    cache.put(&token, &api_types::UserInfo::default(), Some(now + 3600));
    let hit = rate(&mut || assert!(cache.get(&token, now).is_some()));
    println!("| ES256 token signing (TokenRequest) | {sign:.0}/s |");
    println!("| ES256 signature verification alone | {verify:.0}/s |");
    println!(
        "| ES256 bound-token authentication, cache miss (verify + claims + lookup) | {full:.0}/s |"
    );
    println!("| bound-token authentication, cache hit | {hit:.0}/s |");

    // RS256: a key made by openssl, signed with ring (never the `rsa` crate).
    let dir = std::env::temp_dir().join(format!("kubeward-bench-rsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        assert!(
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap()
                .status
                .success(),
            "openssl {args:?}"
        )
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.key",
    ]);
    run(&["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"]);
    let der = |pem: &str| {
        use base64::Engine;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let rsa = ring::signature::RsaKeyPair::from_pkcs8(&der(&std::fs::read_to_string(
        dir.join("rsa.key"),
    )
    .unwrap()))
    .unwrap();
    let rsa_pub =
        authn::jwt::public_keys_from_pem(&std::fs::read_to_string(dir.join("rsa.pub")).unwrap())
            .unwrap();
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    };
    let input = format!(
        "{}.{}",
        b64(serde_json::json!({"alg": "RS256", "kid": rsa_pub[0].kid})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; rsa.public().modulus_len()];
    rsa.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &rng,
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let rs_token = format!("{input}.{}", b64(&sig));
    let rs_verify = rate(&mut || assert!(authn::jwt::verify(&rs_token, &rsa_pub).is_ok()));
    let rs_auth = BoundTokenAuthenticator {
        keys: rsa_pub.clone(),
        ..auth
    };
    let rs_full =
        rate(&mut || assert!(matches!(rs_auth.authenticate_token(&rs_token), Some(Ok(_)))));
    println!("| RS256 (2048-bit) signature verification alone | {rs_verify:.0}/s |");
    println!("| RS256 bound-token authentication, cache miss | {rs_full:.0}/s |");
    let _ = std::fs::remove_dir_all(&dir);
}

/// TokenRequests per second over HTTPS, and how long a deleted service account's token keeps
/// working.
async fn token_requests(dir: &Path) {
    let (k, _) = Kubeward::start(dir, 0);
    let mut s = connect(k.port, client_config(dir, true)).await;
    let path = "/api/v1/namespaces/default/serviceaccounts";
    assert_eq!(send(&mut s, "POST", path, Some(sa("minted"))).await.0, 201);
    let body = serde_json::to_vec(&serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})).unwrap();
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            send(
                &mut s,
                "POST",
                "/api/v1/namespaces/default/serviceaccounts/minted/token",
                Some(body.clone())
            )
            .await
            .0,
            201
        );
        n += 1;
    }
    println!(
        "| TokenRequests over HTTPS, one connection | {:.0}/s |",
        n as f64 / t0.elapsed().as_secs_f64()
    );

    let anon = client_config(dir, false);
    let review = serde_json::to_vec(
        &serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .unwrap();
    let mut gaps = Vec::new();
    for i in 0..20 {
        let name = format!("doomed{i}");
        assert_eq!(send(&mut s, "POST", path, Some(sa(&name))).await.0, 201);
        let (_, resp) = send(
            &mut s,
            "POST",
            &format!("{path}/{name}/token"),
            Some(body.clone()),
        )
        .await;
        let token = serde_json::from_slice::<serde_json::Value>(&resp).unwrap()["status"]["token"]
            .as_str()
            .unwrap()
            .to_string();
        let mut user = connect(k.port, anon.clone()).await;
        let as_user = |token: &str| {
            Request::builder()
                .method("POST")
                .uri("/apis/authentication.k8s.io/v1/selfsubjectreviews")
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(Full::new(Bytes::from(review.clone())))
                .unwrap()
        };
        user.ready().await.unwrap();
        assert_eq!(
            user.send_request(as_user(&token)).await.unwrap().status(),
            201,
            "the token works (and is now cached)"
        );
        let t = Instant::now();
        assert_eq!(
            send(&mut s, "DELETE", &format!("{path}/{name}"), None)
                .await
                .0,
            200
        );
        loop {
            user.ready().await.unwrap();
            let r = user.send_request(as_user(&token)).await.unwrap();
            let code = r.status().as_u16();
            let _ = r.into_body().collect().await;
            if code == 401 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the token outlived its account"
            );
        }
        gaps.push(t.elapsed());
    }
    gaps.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| service account deletion → its (cached) token's first 401 (20 accounts) | median {:.2} ms, max {:.2} ms (target ≤ 1 s) |",
        ms(gaps[gaps.len() / 2]),
        ms(gaps[gaps.len() - 1])
    );
}

/// p50/p99 of SubjectAccessReviews over HTTPS with 10,000 RoleBindings in place.
async fn sar(dir: &Path) {
    let (k, _) = Kubeward::start(dir, 0);
    let mut s = connect(k.port, client_config(dir, true)).await;
    let namespaces = 1_000;
    for ns in 0..namespaces {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns{ns}")}});
        assert_eq!(
            send(
                &mut s,
                "POST",
                "/api/v1/namespaces",
                Some(serde_json::to_vec(&body).unwrap())
            )
            .await
            .0,
            201
        );
    }
    for i in 0..10_000 {
        let ns = i % namespaces;
        let body = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": format!("rb{i}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": format!("user{i}")}]});
        let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/ns{ns}/rolebindings");
        assert_eq!(
            send(
                &mut s,
                "POST",
                &path,
                Some(serde_json::to_vec(&body).unwrap())
            )
            .await
            .0,
            201
        );
    }
    let mut lat = Vec::new();
    let mut allowed = 0;
    let t0 = Instant::now();
    let mut i = 0usize;
    while t0.elapsed() < Duration::from_secs(3) {
        let body = serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": format!("user{}", (i * 7919) % 10_000), "groups": ["system:authenticated"],
                     "resourceAttributes": {"namespace": format!("ns{}", (i * 7919) % 10_000 % namespaces), "verb": "list", "resource": "pods"}}});
        let t = Instant::now();
        let (code, resp) = send(
            &mut s,
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
        lat.push(t.elapsed());
        assert_eq!(code, 201);
        allowed += usize::from(
            serde_json::from_slice::<serde_json::Value>(&resp).unwrap()["status"]["allowed"]
                == true,
        );
        i += 1;
    }
    assert_eq!(
        allowed,
        lat.len(),
        "every reviewed user is bound in the namespace asked about"
    );
    // Propagation: a RoleBinding written through the API, then SARs until it is in effect.
    let mut prop = Vec::new();
    for i in 0..20 {
        let user = format!("late{i}");
        let body = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": user},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]});
        let sar = serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": {"namespace": "ns0", "verb": "list", "resource": "pods"}}});
        let t = Instant::now();
        let path = "/apis/rbac.authorization.k8s.io/v1/namespaces/ns0/rolebindings";
        assert_eq!(
            send(
                &mut s,
                "POST",
                path,
                Some(serde_json::to_vec(&body).unwrap())
            )
            .await
            .0,
            201
        );
        loop {
            let review = Some(serde_json::to_vec(&sar).unwrap());
            let (_, resp) = send(
                &mut s,
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                review,
            )
            .await;
            if serde_json::from_slice::<serde_json::Value>(&resp).unwrap()["status"]["allowed"]
                == true
            {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "binding never took effect"
            );
        }
        prop.push(t.elapsed());
    }
    prop.sort_unstable();
    lat.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| SubjectAccessReview over HTTPS, 10,000 RoleBindings, one connection | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms |",
        lat.len() as f64 / t0.elapsed().as_secs_f64(),
        ms(lat[lat.len() / 2]),
        ms(lat[lat.len() * 99 / 100])
    );
    println!(
        "| RoleBinding create → first allowed SubjectAccessReview (20 bindings) | median {:.2} ms, max {:.2} ms (target ≤ 100 ms) |",
        ms(prop[prop.len() / 2]),
        ms(prop[prop.len() - 1])
    );
}

#[tokio::main]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if what == "baseline-server" {
        let args: Vec<String> = std::env::args().collect();
        let body = Bytes::from(std::fs::read(&args[3]).unwrap());
        let port = baseline(Path::new(&args[2]), body).await;
        println!("{port}");
        std::future::pending::<()>().await;
    }
    let dir = scratch();
    let all = what == "all";
    if all || what == "startup" || what == "memory" {
        startup_and_memory(&dir.join("startup")).await;
    }
    if all || what == "authz" {
        println!("| bindings | indexed | reference | speed-up | allowed | index memory |");
        println!("|---|---|---|---|---|---|");
        authz_bench::run();
    }
    if all || what == "tokens" {
        tokens_bench();
        token_requests(&dir.join("tokens")).await;
    }
    if all || what == "sar" {
        sar(&dir.join("sar")).await;
    }
    if all || what == "creates" {
        creates(&dir.join("creates")).await;
    }
    if all || what == "openapi" {
        openapi(&dir.join("openapi")).await;
    }
    if all || what == "http" {
        http(&dir.join("http")).await;
    }
    if all || what == "access" {
        access_bench::run();
    }
    if all || what == "access-server" {
        access_server_bench::run(&dir.join("access-server")).await;
    }
    if all || what == "hardening" {
        hardening_bench::run(&dir.join("hardening")).await;
    }
    if all || what == "etcd" {
        etcd_bench::run(&dir.join("etcd")).await;
    }
    if all || what == "pods" {
        pods_bench::run(&dir.join("pods")).await;
    }
    if all || what == "wire" {
        wire_bench::run();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
