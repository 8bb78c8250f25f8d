//! The handler chain, top to bottom in request order, as kube-apiserver's
//! `DefaultBuildHandlerChain` (which is written bottom-up; this reads the way a request
//! travels). Each step says why it sits where it does.

use crate::authorization;
use crate::handlers::{self, Query, Req};
use crate::respond::{self, Resp};
use crate::{audit, deadline, nonresource, State};
use api_types::{StatusError, UserInfo};
use authz::Decision;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use std::sync::Arc;

/// kube-apiserver's `--max-request-body-bytes` default (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// One request through every layer: plain request parts and a body of any kind (hyper's from
/// a connection; a buffer from tests and in-process callers), with the certificates the
/// client presented. Never panics outward: the caller answers 500 if it does.
pub async fn handle<B>(
    state: Arc<State>,
    peer: Option<Arc<PeerCertificates>>,
    req: Request<B>,
) -> Resp
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // 0. The pretty serializer, last on the way out (decided here, from the request):
    //    curl and browsers get indented JSON.
    // 1. Request info: a pure function of the request line, which the deadline and every
    //    later layer read.
    // 1b. The deadline: it bounds everything after it, authentication included; past it the
    //     client has its 504 and the handler runs on to its end.
    // An HTTP/1.1 upgrade (exec's WebSocket or SPDY) is handed to its handler, which answers
    // 101 and takes the connection over once it is switched.
    let pretty = respond::wants_pretty(req.uri().query(), req.headers());
    // 0b. Errors in the negotiated media type (`ErrorNegotiated`): a Status made anywhere
    //     below goes out as protobuf or YAML where the client asked for that first.
    //     Only the Accept header is kept here; it is read only for an error.
    let accept = req.headers().get(http::header::ACCEPT).cloned();
    let mut req = req;
    if req.headers().contains_key(http::header::UPGRADE) {
        if let Some(on) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() {
            req.extensions_mut().insert(crate::exec::Upgrade::new(on));
        }
    }
    let resp = within_deadline(state, req, |state, info, req| async move {
        let mut warnings = Vec::new();
        let mut resp = match run(&state, peer.as_deref(), info, req, &mut warnings).await {
            Ok(r) => r,
            Err(e) => respond::status(&e),
        };
        respond::add_warnings(&mut resp, &warnings);
        // A watch from the network ends cleanly when the server stops (the in-process
        // informers' watches go on until the process ends).
        end_at_shutdown(state, resp)
    })
    .await;
    let resp = respond::negotiated(resp, accept.as_ref());
    if pretty {
        respond::pretty(resp)
    } else {
        resp
    }
}

/// Parses the request's info and deadline (a 400 when they are bad), then runs `serve` within
/// the deadline, the request carrying its [`deadline::Expiry`].
async fn within_deadline<B, F, Fut>(state: Arc<State>, req: Request<B>, serve: F) -> Resp
where
    F: FnOnce(Arc<State>, request_info::RequestInfo, Request<B>) -> Fut,
    Fut: std::future::Future<Output = Resp> + Send + 'static,
{
    let query = req.uri().query().unwrap_or("");
    let info = match request_info::parse(req.method().as_str(), req.uri().path(), query) {
        Ok(info) => info,
        Err(e) => {
            return refused(
                &state,
                req.headers(),
                &StatusError::bad_request(e.to_string()),
            )
        }
    };
    let limit = match deadline::limit(&info, query, state.request_timeout) {
        Ok(limit) => limit,
        Err(e) => {
            let (parts, _) = req.into_parts();
            return bad_timeout(&state, &parts, &info, &e);
        }
    };
    let expiry = deadline::Expiry::default();
    let mut req = req;
    req.extensions_mut().insert(expiry.clone());
    // The metrics' labels, worked out once: for the answer and, if it comes to that, the 504.
    let route = Arc::new(route(
        &state,
        &info,
        req.method(),
        req.headers(),
        req.uri().query(),
    ));
    req.extensions_mut().insert(route.clone());
    let metrics = state.metrics.clone();
    let timed_out = move || metrics.terminated(&route, 504);
    deadline::within(limit, expiry, serve(state, info, req), timed_out).await
}

/// A streamed body that ends (cleanly: the chunked body is terminated) once the server is
/// stopping.
fn end_at_shutdown(state: Arc<State>, resp: Resp) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = match body {
        crate::body::Body::Stream(chunks) => crate::body::Body::Stream(crate::body::relay(
            chunks,
            async move {
                state
                    .shutdown
                    .reached(crate::shutdown::Phase::Stopping)
                    .await
            },
            || {},
        )),
        full => full,
    };
    http::Response::from_parts(parts, body)
}

/// One request by a caller inside the process that is already `user` (a controller, the
/// apiserver's own start-up work): every layer after authentication, exactly as for a
/// request from the network (kube-apiserver's loopback client, without the TCP).
pub async fn handle_as<B>(state: Arc<State>, user: UserInfo, req: Request<B>) -> Resp
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    within_deadline(state, req, |state, info, req| async move {
        let (parts, body) = req.into_parts();
        match after_authentication(&state, user, info, parts, body).await {
            Ok(r) => r,
            Err(e) => respond::status(&e),
        }
    })
    .await
}

/// The answer to a request refused before it is authenticated, with its audit ID.
fn refused(state: &State, headers: &http::HeaderMap, e: &StatusError) -> Resp {
    let mut resp = respond::status(e);
    if let Ok(v) = http::HeaderValue::from_str(&audit_id(state, headers)) {
        resp.headers_mut().insert("audit-id", v);
    }
    resp
}

/// The metrics' labels for a request.
fn route(
    state: &State,
    info: &request_info::RequestInfo,
    method: &http::Method,
    headers: &http::HeaderMap,
    query: Option<&str>,
) -> crate::metrics::Route {
    crate::metrics::Metrics::route(
        info,
        info.is_resource_request
            .then(|| state.resolve(&info.api_group, &info.api_version, &info.resource))
            .flatten(),
        method.as_str(),
        headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        query.unwrap_or("").split('&').any(|kv| kv == "dryRun=All"),
    )
}

async fn run<B>(
    state: &State,
    peer: Option<&PeerCertificates>,
    info: request_info::RequestInfo,
    req: Request<B>,
    warnings: &mut Vec<String>,
) -> Result<Resp, StatusError>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();

    // 2. Authentication: x509, then bearer tokens, then anonymous. A refused credential is a
    //    401 and never becomes anonymous. It precedes everything that needs to know who asks.
    let now = state.registry.now().as_second();
    let cert = peer.and_then(|p| p.identity(state.client_cas.as_ref(), now));
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes);
    let token = |t: &str| state.authenticate_token(t);
    let started = std::time::Instant::now();
    let (result, warning) =
        authn::authenticate(cert.as_ref(), authorization, &token, state.anonymous);
    state
        .metrics
        .authentication(result.is_ok(), started.elapsed().as_secs_f64());
    let Ok(user) = result else {
        return Ok(unauthenticated(state, &parts, &info, peer.is_some()));
    };
    warnings.extend(warning.map(str::to_string));
    after_authentication(state, user, info, parts, body).await
}

/// A bad `?timeout=`: the 400, with its audit ID and, when the policy wants it, its event
/// (stage ResponseStarted, no user yet: upstream's `withFailedRequestAudit` in
/// `filters/request_deadline.go`).
fn bad_timeout(
    state: &State,
    parts: &http::request::Parts,
    info: &request_info::RequestInfo,
    e: &StatusError,
) -> Resp {
    let audit_id = audit_id(state, &parts.headers);
    let mut resp = respond::status(e);
    if let Ok(v) = http::HeaderValue::from_str(&audit_id) {
        resp.headers_mut().insert("audit-id", v);
    }
    if let Some(log) = state.audit.as_ref() {
        let nobody = UserInfo::default();
        let uri = request_target(&parts.uri);
        let request = audit_request(state, parts, &audit_id, &nobody, info, &uri);
        log.failed(&request, &e.message, e.code);
    }
    resp
}

/// The 401, with its audit ID and, when the policy wants it, its event: stage ResponseStarted
/// with no user and the methods tried (`WithFailedAuthenticationAudit`).
fn unauthenticated(
    state: &State,
    parts: &http::request::Parts,
    info: &request_info::RequestInfo,
    presented_cert: bool,
) -> Resp {
    let mut resp = respond::status(&StatusError::unauthorized());
    let audit_id = audit_id(state, &parts.headers);
    if let Ok(v) = http::HeaderValue::from_str(&audit_id) {
        resp.headers_mut().insert("audit-id", v);
    }
    let Some(log) = state.audit.as_ref() else {
        return resp;
    };
    let nobody = UserInfo::default();
    let uri = request_target(&parts.uri);
    let request = audit_request(state, parts, &audit_id, &nobody, info, &uri);
    let mut methods = Vec::new();
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if auth
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("basic "))
    {
        methods.push("basic");
    }
    if auth.split(' ').count() > 1
        && auth
            .split(' ')
            .next()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
    {
        methods.push("bearer");
    }
    if presented_cert {
        methods.push("x509");
    }
    let message = if methods.is_empty() {
        "Authentication failed, no credentials provided".to_string()
    } else {
        format!("Authentication failed, attempted: {}", methods.join(", "))
    };
    log.failed(&request, &message, 401);
    resp
}

/// Everything after authentication, for network and in-process requests alike.
async fn after_authentication<B>(
    state: &State,
    user: UserInfo,
    info: request_info::RequestInfo,
    parts: http::request::Parts,
    body: B,
) -> Result<Resp, StatusError>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // 3. Audit: every authenticated request has an audit ID (sent back as `Audit-Id`); the
    //    policy decides what is recorded, as the authenticated user, before anything else.
    let audit_id = audit_id(state, &parts.headers);
    let mut record = state.audit.as_ref().and_then(|log| {
        let uri = request_target(&parts.uri);
        log.begin(&audit_request(state, &parts, &audit_id, &user, &info, &uri))
    });
    let started = std::time::Instant::now();
    let route = match parts.extensions.get::<Arc<crate::metrics::Route>>() {
        Some(r) => r.clone(),
        None => Arc::new(route(
            state,
            &info,
            &parts.method,
            &parts.headers,
            parts.uri.query(),
        )),
    };
    let result = authorize_and_serve(state, user, &info, &parts, body, record.as_mut()).await;
    let mut resp = result.unwrap_or_else(|e| respond::status(&e));
    if let Ok(v) = http::HeaderValue::from_str(&audit_id) {
        resp.headers_mut().insert("audit-id", v);
    }
    // Metrics: counted when the answer is ready (a watch when its stream starts, and held in
    // `apiserver_longrunning_requests` until it ends).
    let size = match resp.body() {
        crate::body::Body::Full(b) => Some(b.as_ref().map_or(0, bytes::Bytes::len)),
        crate::body::Body::Stream(_) => None,
    };
    let code = resp.status().as_u16();
    state
        .metrics
        .observe(&route, code, started.elapsed().as_secs_f64(), size);
    if size.is_none() {
        let held = state.metrics.long_running(&route);
        resp = on_stream_end(resp, move || drop(held));
    }
    if let Some(record) = record {
        resp = finish_record(state, record, resp);
    }
    Ok(resp)
}

/// Runs `done` when a streamed body ends (or its reader goes away).
fn on_stream_end(resp: Resp, done: impl FnOnce() + Send + 'static) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = match body {
        crate::body::Body::Stream(chunks) => {
            crate::body::Body::Stream(crate::body::relay(chunks, std::future::pending(), done))
        }
        full => full,
    };
    http::Response::from_parts(parts, body)
}

/// What the audit log is told of a request.
fn audit_request<'a>(
    state: &State,
    parts: &'a http::request::Parts,
    audit_id: &'a str,
    user: &'a UserInfo,
    info: &'a request_info::RequestInfo,
    uri: &'a str,
) -> audit::Request<'a> {
    audit::Request {
        audit_id,
        user,
        info,
        uri,
        path: parts.uri.path(),
        source_ips: source_ips(parts),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        now: state.registry.now(),
    }
}

/// The request's `Audit-ID` header when it has a usable one (upstream keeps a client's), else
/// a new one.
fn audit_id(state: &State, headers: &http::HeaderMap) -> String {
    headers
        .get("audit-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| crate::tokens::uuid_like(state.registry.random_bytes()))
}

/// `X-Forwarded-For`'s addresses, then the peer's (in process: the loopback address the
/// apiserver's own client would come from).
fn source_ips(parts: &http::request::Parts) -> Vec<String> {
    let mut ips: Vec<String> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
        .collect();
    let peer = parts
        .extensions
        .get::<RemoteAddr>()
        .map(|a| a.0.to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    if ips.last() != Some(&peer) {
        ips.push(peer);
    }
    ips
}

/// The address a request came from (set by the connection).
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub std::net::IpAddr);

/// The response's events: ResponseComplete for a whole body; for a stream, ResponseStarted
/// now and ResponseComplete when it ends.
fn finish_record(state: &State, mut record: audit::Record, resp: Resp) -> Resp {
    let code = resp.status().as_u16();
    let json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t == crate::negotiate::PROTOBUF);
    if let crate::body::Body::Full(bytes) = resp.body() {
        record.complete(
            code,
            bytes.as_deref().filter(|_| json),
            state.registry.now(),
        );
        return resp;
    }
    record.started(code, state.registry.now());
    let registry = state.registry.clone();
    on_stream_end(resp, move || record.finished(registry.now()))
}

/// Impersonation, authorization, the body and the handlers.
async fn authorize_and_serve<B>(
    state: &State,
    user: UserInfo,
    info: &request_info::RequestInfo,
    parts: &http::request::Parts,
    body: B,
    mut record: Option<&mut audit::Record>,
) -> Result<Resp, StatusError>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let query = parts.uri.query().unwrap_or("");

    // 4. Impersonation: before authorization, so the impersonated user is the one authorized;
    //    each part of it is itself authorized for the requesting user (verb impersonate).
    let headers = impersonation_headers(&parts.headers)?;
    let user = match authn::impersonation::Request::from_headers(headers.into_iter()) {
        None => user,
        Some(imp) => {
            // Upstream answers this with a plain-text 500; it is the client's mistake, so 400.
            let checks = imp.checks().map_err(|e| {
                StatusError::bad_request(format!(
                    "Internal Server Error: {:?}: {e}",
                    parts.uri.to_string()
                ))
            })?;
            for c in checks {
                let attrs = authz::Attributes {
                    user: user.clone(),
                    verb: "impersonate".into(),
                    resource_request: true,
                    namespace: c.namespace,
                    api_group: c.api_group,
                    resource: c.resource,
                    subresource: c.subresource,
                    name: c.name,
                    ..Default::default()
                };
                if let Decision::Deny(reason) | Decision::NoOpinion(reason) =
                    state.authorizer.authorize(&attrs)
                {
                    return Err(authorization::forbidden(&attrs, &reason));
                }
            }
            let as_user = imp.user();
            if let Some(r) = record.as_deref_mut() {
                r.impersonated(&as_user);
            }
            as_user
        }
    };
    // 4b. Priority and fairness (or the plain in-flight limit), for the user the request acts
    //     as (upstream's order: after impersonation, before authorization): a seat, waited for
    //     in the user's queue, held until the answer is ready; or 429.
    let _seat = state.in_flight.admit(&user, info).await.map_err(|r| {
        state.metrics.rejected(r.reason());
        r.status()
    })?;
    let mut attrs = authorization::attributes(&user, info);
    authorization::websocket_upgrade_is_create(&mut attrs, &parts.headers);

    // 5. Authorization: before any body is read or any handler runs. The audit event notes the
    //    decision and the authorizer's reason, as upstream's `authorization.k8s.io/*`.
    let decision = state.authorizer.authorize(&attrs);
    state.metrics.decision(decision.allowed());
    if let Some(r) = record.as_deref_mut() {
        let word = if decision.allowed() {
            "allow"
        } else {
            "forbid"
        };
        r.annotate("authorization.k8s.io/decision", word);
        r.annotate("authorization.k8s.io/reason", decision.reason());
    }
    match decision {
        Decision::Allow(_) => {}
        Decision::Deny(reason) | Decision::NoOpinion(reason) => {
            let mut e = authorization::forbidden(&attrs, &reason);
            if state.explain_forbidden {
                if let Some(hint) =
                    authorization::explain_forbidden(state.authorizer.as_ref(), &state.rbac, &attrs)
                {
                    e.message = format!("{}; {hint}", e.message);
                }
            }
            return Err(e);
        }
    }

    // 6. Body: read whole, bounded in size and in time (a body sent a byte at a time would
    //    otherwise hold its connection, which counts as busy and is never shed), only for
    //    requests allowed to send one.
    // Bounded by the request's deadline (past it the client has its 504, and a body that
    // comes later must not become a write: upstream's `timeoutReader`), and for a
    // long-running request by `--request-timeout`.
    let expiry = parts
        .extensions
        .get::<deadline::Expiry>()
        .cloned()
        .unwrap_or_default();
    let read = tokio::time::timeout(
        state.request_timeout,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    );
    let body = tokio::select! {
        r = read => match r {
            Err(_) => return Err(StatusError::timeout()),
            Ok(r) => r,
        },
        () = expiry.expired() => return Err(StatusError::timeout()),
    };
    let body = match body {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(StatusError::too_large(MAX_BODY_BYTES))
        }
        Err(_) => return Err(StatusError::bad_request("error reading the request body")),
    };
    if let Some(r) = record {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        r.request_object(&body, content_type);
    }

    // 7. Route: objects to the resource handlers, everything else to the non-resource ones.
    if !info.is_resource_request {
        if crate::map::is_map_path(&info.path) && (info.verb == "get" || info.verb == "head") {
            return crate::map::handle(state, &user, &info.path);
        }
        return nonresource::handle(state, info, parts.uri.query().unwrap_or(""), &parts.headers);
    }
    let Some(def) = state.resolve(&info.api_group, &info.api_version, &info.resource) else {
        if crate::crds::is_crd_request(info) {
            return crate::crds::handle(state, info, &parts.headers);
        }
        return Err(StatusError::path_not_found());
    };
    // A deprecated version's request is answered with its deprecation warning, as
    // upstream's installer wraps such handlers.
    let deprecated = crate::runtime_config::deprecation(def.group, &info.api_version, def.kind);
    let resp = handlers::resource(
        state,
        Req {
            info,
            def,
            user: &user,
            query: Query::parse(query),
            headers: &parts.headers,
            body,
            extensions: &parts.extensions,
        },
    )
    .await;
    resp.map(|mut r| {
        if let Some(w) = deprecated {
            respond::add_warnings(&mut r, &[w]);
        }
        r
    })
}

/// The `Impersonate-*` headers as text. A value that is not UTF-8 fails the request (400):
/// skipping it would run the request as the impersonator, with its rights.
fn impersonation_headers(headers: &http::HeaderMap) -> Result<Vec<(&str, &str)>, StatusError> {
    let mut out = Vec::new();
    for (k, v) in headers {
        if !k.as_str().starts_with("impersonate-") {
            continue;
        }
        let value = std::str::from_utf8(v.as_bytes()).map_err(|_| {
            StatusError::bad_request(format!(
                "invalid {} header: the value is not valid UTF-8",
                k.as_str()
            ))
        })?;
        out.push((k.as_str(), value));
    }
    Ok(out)
}

/// The certificates a connection's client presented (leaf first), and their verification
/// while it holds: the x509 authenticator runs per request, as upstream's, but a chain that
/// verified is not verified again until one of its certificates' validity ends.
pub struct PeerCertificates {
    chain: Vec<Vec<u8>>,
    verified: std::sync::Mutex<Option<authn::x509::Verified>>,
}

impl PeerCertificates {
    /// The chain a client presented, leaf first.
    pub fn new(chain: Vec<Vec<u8>>) -> Self {
        PeerCertificates {
            chain,
            verified: std::sync::Mutex::new(None),
        }
    }

    /// The x509 authenticator's answer at `now`: None when it does not authenticate this
    /// request (no client CA configured, or a verified certificate without a CN).
    pub fn identity(
        &self,
        cas: Option<&authn::x509::ClientCAs>,
        now: i64,
    ) -> Option<Result<UserInfo, authn::AuthnError>> {
        let cas = cas?;
        let mut cached = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let verified = match cached.as_ref().filter(|v| v.valid_at(now)) {
            Some(v) => v.clone(),
            None => match cas.verify(&self.chain, now) {
                Ok(v) => {
                    *cached = Some(v.clone());
                    v
                }
                Err(e) => {
                    tracing::debug!(error = %e, "client certificate refused");
                    return Some(Err(e));
                }
            },
        };
        verified.user.map(Ok)
    }
}

/// The request target as sent, path and query: what Go's `Request.RequestURI` holds and the
/// audit log records. Over HTTP/2 hyper's URI also carries the scheme and `:authority`, which
/// Go leaves out.
fn request_target(uri: &http::Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), ToString::to_string)
}
