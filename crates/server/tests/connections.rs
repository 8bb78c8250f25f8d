//! The connection bounds of `server::conn`, on a real listener with real TLS and small limits
//! (kube-apiserver's are seconds long; the e2e suite meets those at their real values).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

struct Fixture {
    addr: std::net::SocketAddr,
    client: Arc<rustls::ClientConfig>,
}

async fn start(limits: server::conn::Limits) -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let tls = server::tls::server_config(
        cert_pem.as_bytes(),
        key_pem.as_bytes(),
        &authn::x509::ClientCAs::from_pem(cert_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let storage: Arc<dyn storage::Storage> = Arc::new(storage::MemoryStorage::new());
    let registry = Arc::new(registry::Registry::new(
        storage,
        Arc::new(jiff::Timestamp::now),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(server::State::new(registry, addr.to_string(), true, None));
    state.set_ready();
    tokio::spawn(server::serve(listener, tls, state, limits));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Fixture {
        addr,
        client: Arc::new(client),
    }
}

impl Fixture {
    async fn try_tls(&self, alpn: &[u8]) -> std::io::Result<TlsStream<TcpStream>> {
        let mut cfg = (*self.client).clone();
        cfg.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let tcp = TcpStream::connect(self.addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await
    }

    async fn tls(&self, alpn: &[u8]) -> TlsStream<TcpStream> {
        self.try_tls(alpn).await.unwrap()
    }

    /// GET /version over a fresh HTTP/1.1 connection: the status line ("" when the server
    /// closed the connection first).
    async fn get_version(&self) -> String {
        let Ok(mut s) = self.try_tls(b"http/1.1").await else {
            return String::new();
        };
        s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }
}

/// Reads until the server closes the stream; how long that took.
async fn until_closed<S: AsyncReadExt + Unpin>(s: &mut S, within: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "the server kept the connection open past {within:?}"
    );
    start.elapsed()
}

fn small() -> server::conn::Limits {
    server::conn::Limits {
        max_connections: 4,
        handshake_timeout: Duration::from_millis(500),
        header_read_timeout: Duration::from_millis(700),
        idle_timeout: Duration::from_millis(900),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_http2_connection_without_requests_closes_at_the_idle_timeout() {
    let f = start(small()).await;
    let mut s = f.tls(b"h2").await;
    // The client preface and an empty SETTINGS frame, then nothing.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let took = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(700), "closed early: {took:?}");
}

#[tokio::test]
async fn a_header_that_never_ends_closes_at_the_header_timeout() {
    let f = start(small()).await;
    let mut s = f.tls(b"http/1.1").await;
    s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(500), "closed early: {took:?}");
}

#[tokio::test]
async fn a_connection_that_never_handshakes_closes_at_the_handshake_timeout() {
    let f = start(small()).await;
    let mut tcp = TcpStream::connect(f.addr).await.unwrap();
    until_closed(&mut tcp, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn at_the_cap_the_idlest_connection_gives_way_to_a_new_one() {
    let f = start(server::conn::Limits {
        handshake_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..small()
    })
    .await;
    let mut oldest = f.tls(b"http/1.1").await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(f.tls(b"http/1.1").await);
    }
    // Four idle connections hold the cap; a fifth client is still served.
    assert_eq!(f.get_version().await, "HTTP/1.1 200 OK");
    until_closed(&mut oldest, Duration::from_secs(5)).await;
    for s in &mut others {
        let mut b = [0u8; 1];
        let still_open = tokio::time::timeout(Duration::from_millis(100), s.read(&mut b))
            .await
            .is_err();
        assert!(still_open, "only the idlest connection is shed");
    }
}

#[tokio::test]
async fn a_connection_with_a_request_in_flight_is_never_shed() {
    let f = start(server::conn::Limits {
        max_connections: 1,
        idle_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..small()
    })
    .await;
    // A watch keeps its request in flight, past the idle timeout and a newcomer.
    let mut watch = f.tls(b"http/1.1").await;
    watch
        .write_all(b"GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    watch.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let newcomer = f.get_version().await;
    assert_eq!(
        newcomer, "",
        "with every connection busy, a new one is closed"
    );
    let mut b = [0u8; 1];
    let still_open = tokio::time::timeout(Duration::from_millis(600), watch.read(&mut b))
        .await
        .map_or(true, |r| r.is_ok_and(|n| n > 0));
    assert!(
        still_open,
        "the watch outlived the idle timeout and the newcomer"
    );
}
