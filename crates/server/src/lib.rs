//! kubeward's HTTPS front door: TLS with client certificates, the handler chain
//! ([`chain`]), the resource and non-resource handlers, discovery and content negotiation.
//!
//! Architecture invariant: this is the only crate that knows HTTP and TLS. The registry,
//! storage and request-info crates take and return plain values.

mod admission;
mod authorization;
mod body;
pub mod chain;
mod discovery;
mod escalation;
mod handlers;
pub mod negotiate;
mod nonresource;
mod openapi;
pub mod protobuf;
mod respond;
mod reviews;
pub mod tls;
pub mod tokens;

use api_types::UserInfo;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use registry::{Registry, ResourceDef};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use discovery::Discovery;
pub use nonresource::version_info;

/// Shared by every request.
pub struct State {
    pub registry: Arc<Registry>,
    pub discovery: Discovery,
    /// `--anonymous-auth`.
    pub anonymous: bool,
    /// The authorizer chain requests and access reviews are answered by.
    pub authorizer: Arc<dyn authz::Authorizer>,
    /// The RBAC index inside that chain (for SelfSubjectRulesReview).
    pub rbac: Arc<authz::rbac::Index>,
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
    ready: AtomicBool,
    defs: &'static [ResourceDef],
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
        let (authorizer, rbac): (Arc<dyn authz::Authorizer>, _) = match rbac {
            Some(index) => {
                let chain = authz::Chain(vec![
                    Box::new(authz::PrivilegedGroups),
                    Box::new(SharedIndex(index.clone())),
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
            discovery: Discovery::new(defs, server_address.clone()),
            anonymous,
            authorizer,
            rbac,
            tokens: Vec::new(),
            token_cache: authn::cache::TokenCache::new(std::time::Duration::from_secs(10), 4096),
            issuer: None,
            server_url: format!("https://{server_address}"),
            legacy_token_secrets: false,
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
            .and_then(|c| c.get("exp").and_then(serde_json::Value::as_i64));
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

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub(crate) fn resolve(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<&'static ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.resource == resource && d.versions.contains(&version))
    }
}

/// Accepts connections until the listener fails. Each connection: TLS handshake (bounded in
/// time), the client certificate's identity, then HTTP/2 or HTTP/1.1 by ALPN.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    _ => return,
                };
            // The certificate's identity, or the error that fails every request on this
            // connection (x509 runs first in the union, so a bad one is never skipped).
            let cert_user: Option<Arc<Result<UserInfo, ::authn::AuthnError>>> = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| ::authn::user_from_certificate(c.as_ref()).transpose())
                .map(Arc::new);
            let svc = service_fn(move |req| {
                // A panic in a handler becomes a 500 for this request, never a dead server.
                CatchPanic(Box::pin(chain::handle(
                    state.clone(),
                    cert_user.clone(),
                    req,
                )))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// The RBAC index, shared between the chain and the informer that feeds it.
struct SharedIndex(Arc<authz::rbac::Index>);

impl authz::Authorizer for SharedIndex {
    fn authorize(&self, a: &authz::Attributes) -> authz::Decision {
        self.0.authorize(a)
    }
}

/// Polls a handler and turns a panic into a 500 response, without a task per request.
struct CatchPanic<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future<Output = respond::Resp>> std::future::Future for CatchPanic<F> {
    type Output = Result<respond::Resp, std::convert::Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(std::task::Poll::Ready(r)) => std::task::Poll::Ready(Ok(r)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => {
                tracing::error!("a request handler panicked");
                std::task::Poll::Ready(Ok(respond::status(&api_types::StatusError::internal(
                    "the request handler panicked",
                ))))
            }
        }
    }
}
