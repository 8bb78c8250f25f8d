//! kubeward's HTTPS front door: TLS with client certificates, the handler chain
//! ([`chain`]), the resource and non-resource handlers, discovery and content negotiation.
//!
//! Architecture invariant: this is the only crate that knows HTTP and TLS. The registry,
//! storage and request-info crates take and return plain values.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod admission;
/// Which admission plug-ins run (`--enable-admission-plugins`, `--disable-admission-plugins`).
pub use admission::plugins::Enabled as AdmissionPlugins;
pub mod audit;
mod authorization;
mod binding;
mod body;
pub mod chain;
pub mod client;
pub mod conn;
mod crds;
pub mod deadline;
mod discovery;
mod dupkeys;
mod exec;
mod handlers;
mod health;
pub mod inflight;
pub mod kubelet;
mod logs;
pub mod map;
pub mod metrics;
pub mod negotiate;
mod nonresource;
mod openapi;
/// Protobuf request bodies, decoded by the `wire` schema (re-exported for the fuzz targets).
pub use wire::protobuf;
mod respond;
mod reviews;
pub mod runtime_config;
pub mod shutdown;
pub mod spdy;
pub mod tls;
pub mod tokens;
pub mod websocket;

use api_types::UserInfo;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use registry::{Registry, ResourceDef};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

pub use client::InProcess;
pub use discovery::Discovery;
pub use nonresource::version_info;

/// Shared by every request.
pub struct State {
    /// The objects.
    pub registry: Arc<Registry>,
    /// The discovery documents, built once.
    pub discovery: Discovery,
    /// `--anonymous-auth`.
    pub anonymous: bool,
    /// The authorizer chain requests and access reviews are answered by.
    pub authorizer: Arc<dyn authz::Authorizer>,
    /// The RBAC index inside that chain (for SelfSubjectRulesReview).
    pub rbac: Arc<authz::rbac::Index>,
    /// `--explain-forbidden`: a 403 carries the nearest miss, for callers who may read their
    /// own rules.
    pub explain_forbidden: bool,
    /// The bootstrap policy's own bindings (cluster-wide, and kube-system's and
    /// kube-public's): the RBAC map's findings through them, unchanged, are expected (Info),
    /// as `kubeward audit-rbac` counts them.
    pub bootstrap_bindings: Arc<authz::rbac::Policy>,
    /// The admission plug-ins that run.
    pub admission: AdmissionPlugins,
    /// The group versions served (`--runtime-config`); set with [`State::set_runtime_config`].
    runtime: runtime_config::RuntimeConfig,
    /// The node agent, once it runs: `pods/log` and exec are answered through it.
    pub kubelet: std::sync::OnceLock<Arc<dyn kubelet::Kubelet>>,
    /// The Node authorizer inside that chain; its graph is fed with every pod.
    pub node_authorizer: Arc<authz::node::NodeAuthorizer>,
    /// Token authenticators, in order (`--token-auth-file`, then service-account JWTs).
    pub tokens: Vec<Box<dyn authn::TokenAuthenticator>>,
    /// Successful token authentications, for 10 s (upstream's TTL), voided by deletions.
    pub token_cache: authn::cache::TokenCache,
    /// Signs TokenRequests and publishes the OIDC documents, when configured.
    pub issuer: Option<tokens::Issuer>,
    /// `https://host:port` as clients reach the server (for `jwks_uri`).
    pub server_url: String,
    /// `--legacy-token-secrets`: pods mount their account's token Secret.
    pub legacy_token_secrets: bool,
    /// `--client-ca-file` (the cluster CA): client certificates must chain to it; None turns
    /// the x509 authenticator off.
    pub client_cas: Option<authn::x509::ClientCAs>,
    /// `--max-requests-inflight` and `--max-mutating-requests-inflight`.
    pub in_flight: inflight::InFlightLimits,
    /// The request metrics `/metrics` serves.
    pub metrics: Arc<metrics::Metrics>,
    /// The audit log (`--audit-log-path` with `--audit-policy-file`), when on.
    pub audit: Option<Arc<audit::AuditLog>>,
    /// How long a request body may take to arrive (kube-apiserver's `--request-timeout`
    /// default, 60 s, bounds its handlers the same way).
    pub request_timeout: std::time::Duration,
    /// Where the server is in its shutdown.
    pub shutdown: shutdown::Shutdown,
    ready: AtomicBool,
    defs: &'static [&'static ResourceDef],
}

impl State {
    /// `--authorization-mode=RBAC` (default): `system:masters`, then RBAC over `rbac`.
    /// `AlwaysAllow` (`rbac` None): every request is allowed.
    pub fn new(
        registry: Arc<Registry>,
        server_address: String,
        anonymous: bool,
        rbac: Option<Arc<authz::rbac::Index>>,
    ) -> Self {
        let defs = registry::resources();
        let node_authorizer = Arc::new(authz::node::NodeAuthorizer::new());
        let (authorizer, rbac): (Arc<dyn authz::Authorizer>, _) = match rbac {
            Some(index) => {
                // `--authorization-mode=Node,RBAC`, after the privileged groups as upstream.
                let chain = authz::Chain(vec![
                    Box::new(authz::PrivilegedGroups),
                    Box::new(Shared(node_authorizer.clone())),
                    Box::new(Shared(index.clone())),
                    // The RBAC map's page, for authenticated users RBAC has not answered.
                    Box::new(map::MapPage),
                ]);
                (Arc::new(chain), index)
            }
            None => (
                Arc::new(authz::AlwaysAllow),
                Arc::new(authz::rbac::Index::new()),
            ),
        };
        State {
            registry,
            discovery: Discovery::new(defs, server_address.clone(), &|_, _| true),
            anonymous,
            authorizer,
            rbac,
            node_authorizer,
            kubelet: std::sync::OnceLock::new(),
            explain_forbidden: false,
            bootstrap_bindings: Arc::default(),
            admission: AdmissionPlugins::default(),
            runtime: runtime_config::RuntimeConfig::default(),
            tokens: Vec::new(),
            token_cache: authn::cache::TokenCache::new(std::time::Duration::from_secs(10), 4096),
            issuer: None,
            server_url: format!("https://{server_address}"),
            legacy_token_secrets: false,
            client_cas: None,
            audit: None,
            metrics: Arc::new(metrics::Metrics::new()),
            in_flight: inflight::InFlightLimits::default(),
            request_timeout: std::time::Duration::from_secs(60),
            shutdown: shutdown::Shutdown::default(),
            ready: AtomicBool::new(false),
            defs,
        }
    }

    /// Issues bound service-account tokens with `issuer` and accepts them.
    /// (And secret-based ones), checking the objects they name in `lookup`.
    pub fn with_issuer(
        mut self,
        issuer: tokens::Issuer,
        lookup: Arc<dyn authn::serviceaccount::ObjectLookup>,
    ) -> Self {
        let legacy = authn::serviceaccount::LegacyTokenAuthenticator {
            keys: issuer.keys.clone(),
            lookup: lookup.clone(),
        };
        let auth = authn::serviceaccount::BoundTokenAuthenticator {
            issuers: issuer.issuers.clone(),
            api_audiences: issuer.api_audiences.clone(),
            keys: issuer.keys.clone(),
            lookup,
            now: {
                let r = self.registry.clone();
                Arc::new(move || r.now().as_second())
            },
        };
        // Upstream's order: legacy (secret-based) tokens, then bound tokens.
        self.tokens.push(Box::new(legacy));
        self.tokens.push(Box::new(auth));
        self.issuer = Some(issuer);
        self
    }

    /// Adds a token authenticator after those already present.
    pub fn with_token_authenticator(mut self, a: Box<dyn authn::TokenAuthenticator>) -> Self {
        self.tokens.push(a);
        self
    }

    /// Authenticates a bearer token as a request's Authorization header would be.
    /// The verified-token cache first, then the token authenticators in order.
    pub(crate) fn authenticate_token(&self, token: &str) -> Result<UserInfo, authn::AuthnError> {
        let now = self.registry.now().as_second();
        if let Some(u) = self.token_cache.get(token, now) {
            return Ok(u);
        }
        let refs: Vec<&dyn authn::TokenAuthenticator> =
            self.tokens.iter().map(|b| b.as_ref()).collect();
        let user = authn::authenticate_token(token, &refs)?;
        let exp = authn::jwt::unverified_claims(token)
            .and_then(|c| authn::jwt::numeric_date(&c, "exp").ok().flatten());
        self.token_cache.put(token, &user, exp);
        Ok(user)
    }

    /// Authenticates a token for the audiences a TokenReview names (not cached: the cache
    /// holds answers for the API's own audiences).
    pub(crate) fn authenticate_token_for(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<UserInfo, authn::AuthnError> {
        let refs: Vec<&dyn authn::TokenAuthenticator> =
            self.tokens.iter().map(|b| b.as_ref()).collect();
        authn::authenticate_token_for(token, &refs, Some(audiences))
    }

    /// Marks the server ready (`/readyz` answers ok).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub(crate) fn resolve(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<&'static ResourceDef> {
        if !self.runtime.serves(group, version) {
            return None;
        }
        self.defs
            .iter()
            .copied()
            .find(|d| d.group == group && d.resource == resource && d.versions.contains(&version))
    }

    /// Whether the group version is served (`--runtime-config`).
    pub(crate) fn serves(&self, group: &str, version: &str) -> bool {
        self.runtime.serves(group, version)
    }

    /// Serves only the group versions `config` leaves on: routing, discovery and OpenAPI v3.
    pub fn set_runtime_config(&mut self, config: runtime_config::RuntimeConfig) {
        let address = self.discovery.server_address().to_string();
        self.discovery = Discovery::new(self.defs, address, &|g, v| config.serves(g, v));
        self.runtime = config;
    }
}

/// Accepts connections until the shutdown's Stopping phase ([`shutdown`]): an accept error is
/// logged and retried with back-off, never the end of the server ([`conn`] says what bounds
/// each connection). Each connection: TLS handshake (bounded in time), the client
/// certificate, then HTTP/2 or HTTP/1.1 by ALPN. Once stopping, every connection is asked to
/// finish; this returns when all have closed, or after `limits.drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    limits: conn::Limits,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let table = Arc::new(conn::Table::new());
    let limits = Arc::new(limits);
    let mut backoff = conn::Backoff::default();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = state.shutdown.reached(shutdown::Phase::Stopping) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => {
                backoff.reset();
                tcp
            }
            Err(e) => {
                // Out of descriptors: the idlest connection gives its back. Go's Serve logs
                // "http: Accept error: ...; retrying in 5ms" and sleeps the same way.
                let evicted = conn::is_resource_exhaustion(&e) && table.evict_idlest();
                let delay = backoff.next();
                tracing::warn!(
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    evicted_idle_connection = evicted,
                    "accept failed"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if table.len() >= limits.max_connections && !table.evict_idlest() {
            // Every connection has a request in flight: refuse the new one (close it) rather
            // than queue it where nothing bounds the wait.
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached with every connection busy; closing a new one"
            );
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let (id, c) = table.open();
        let (acceptor, state, table, limits) = (
            acceptor.clone(),
            state.clone(),
            table.clone(),
            limits.clone(),
        );
        tokio::spawn(async move {
            connection(tcp, acceptor, state, c, &limits).await;
            table.close(id);
        });
    }
    drop(listener);
    let open = table.len();
    tracing::info!(
        connections = open,
        "shutting down: the listener is closed; connections finish what they have in flight"
    );
    let drained = tokio::time::timeout(limits.drain_timeout, table.close_all()).await;
    if drained.is_err() {
        tracing::warn!(
            connections = table.len(),
            "shutting down: connections still open after the drain timeout"
        );
    }
    Ok(())
}

/// One connection from accept to close.
async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
    c: Arc<conn::Conn>,
    limits: &conn::Limits,
) {
    let remote = tcp.peer_addr().ok().map(|a| chain::RemoteAddr(a.ip()));
    let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            _ => return,
        },
        () = c.close.notified() => return,
    };
    // The certificate chain the client presented; the x509 authenticator verifies it for
    // each request (a bad one is a 401, as upstream, not a failed handshake).
    let chain: Option<Arc<chain::PeerCertificates>> = stream
        .get_ref()
        .1
        .peer_certificates()
        .filter(|c| !c.is_empty())
        .map(|certs| {
            Arc::new(chain::PeerCertificates::new(
                certs.iter().map(|c| c.as_ref().to_vec()).collect(),
            ))
        });
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let busy = c.clone();
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        if let Some(addr) = remote {
            req.extensions_mut().insert(addr);
        }
        let guard = busy.begin();
        // A panic in a handler becomes a 500 for this request, never a dead server.
        CatchPanic::new(
            chain::handle(state.clone(), chain.clone(), req),
            Some(guard),
        )
    });
    let io = TokioIo::new(stream);
    if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        drive(b.serve_connection(io, svc), &c, limits).await;
    } else {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes);
        drive(b.serve_connection(io, svc).with_upgrades(), &c, limits).await;
    }
}

/// A hyper connection that can be asked to finish.
trait Graceful: std::future::Future {
    fn shutdown(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = body::Tracked>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, body::Tracked>,
{
    fn shutdown(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = body::Tracked>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    fn shutdown(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Serves a connection until it ends, it is evicted, or it has been idle for the idle timeout;
/// then lets it finish what is in flight, for a bounded time.
async fn drive<F: Graceful>(conn: F, c: &conn::Conn, limits: &conn::Limits) {
    let mut conn = std::pin::pin!(conn);
    loop {
        let wait = match c.idle_for() {
            Some(idle) if idle >= limits.idle_timeout => break,
            Some(idle) => limits.idle_timeout - idle,
            None => limits.idle_timeout,
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = c.close.notified() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    conn.as_mut().shutdown();
    // With requests in flight, time for them to finish; idle, only for the goodbye (an HTTP/2
    // client that ignores GOAWAY must not hold the connection for the whole drain).
    let bound = if c.idle_for().is_some() {
        limits.handshake_timeout
    } else {
        limits.drain_timeout
    };
    let _ = tokio::time::timeout(bound, conn).await;
}

/// An authorizer shared between the chain and the informer that feeds it (the RBAC index,
/// the Node authorizer's graph).
struct Shared<T>(Arc<T>);

impl<T: authz::Authorizer> authz::Authorizer for Shared<T> {
    fn authorize(&self, a: &authz::Attributes) -> authz::Decision {
        self.0.authorize(a)
    }
}

/// Polls a handler and turns a panic into a 500 response, without a task per request. The
/// connection counts the request as in flight until its response body is done. After a
/// panic the handler's state is dropped at once, with its audit record writing the Panic
/// stage.
pub(crate) struct CatchPanic<F>(
    pub(crate) Option<std::pin::Pin<Box<F>>>,
    pub(crate) Option<conn::InFlight>,
);

impl<F: std::future::Future<Output = respond::Resp>> CatchPanic<F> {
    pub(crate) fn new(fut: F, guard: Option<conn::InFlight>) -> Self {
        CatchPanic(Some(Box::pin(fut)), guard)
    }
}

impl<F: std::future::Future<Output = respond::Resp>> std::future::Future for CatchPanic<F> {
    type Output = Result<http::Response<body::Tracked>, std::convert::Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(fut) = self.0.as_mut() else {
            // Polled after it answered: hyper does not, and there is nothing left to do.
            return std::task::Poll::Pending;
        };
        let fut = fut.as_mut();
        let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(std::task::Poll::Ready(r)) => r,
            Ok(std::task::Poll::Pending) => return std::task::Poll::Pending,
            Err(_) => {
                tracing::error!("a request handler panicked");
                let fut = self.0.take();
                audit::after_panic(|| drop(fut));
                respond::status(&api_types::StatusError::internal(
                    "the request handler panicked",
                ))
            }
        };
        self.0 = None;
        let guard = self.1.take();
        std::task::Poll::Ready(Ok(r.map(|b| body::Tracked::new(b, guard))))
    }
}
