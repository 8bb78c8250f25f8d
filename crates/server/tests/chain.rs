//! The handler chain as a function: request parts and body bytes in, status, reason and
//! message out, with no socket. One table of cases for authentication, impersonation,
//! authorization, negotiation and errors, each checked through one `check` helper.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::sync::Arc;

use std::time::Duration;

const ADMIN: &str = "Bearer admin-token";
const ALICE: &str = "Bearer alice-token";
const AS_ALICE: &[(&str, &[u8])] = &[("authorization", ALICE.as_bytes())];

/// A server state over memory storage with the default RBAC policy, a static token file
/// (`admin` in system:masters, `alice` with view in `team`), and anonymous requests allowed;
/// `tweak` adjusts it before it is shared.
async fn state_with(anonymous: bool, tweak: impl FnOnce(&mut server::State)) -> Arc<server::State> {
    let storage: Arc<dyn storage::Storage> = Arc::new(storage::MemoryStorage::new());
    let registry = Arc::new(registry::Registry::new(
        storage,
        Arc::new(jiff::Timestamp::now),
    ));
    registry.ensure_namespaces(&["default", "team"]).unwrap();
    let index = Arc::new(authz::rbac::Index::new());
    let tokens = authn::TokenFile::parse(
        "tokens.csv",
        "admin-token,admin,1,\"system:masters\"\nalice-token,alice,2\n",
    )
    .unwrap();
    let mut state = server::State::new(
        registry,
        "127.0.0.1:6443".into(),
        anonymous,
        Some(index.clone()),
    )
    .with_token_authenticator(Box::new(tokens));
    tweak(&mut state);
    let state = Arc::new(state);
    let apiserver: Arc<dyn registry::Client> = Arc::new(server::InProcess::new(
        state.clone(),
        api_types::UserInfo::authenticated("system:apiserver", &["system:masters"]),
        "kube-apiserver",
    ));
    controllers::post_start(apiserver.clone(), Some(index.clone()))
        .await
        .unwrap();
    let binding = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "alice-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]});
    apiserver
        .create(&registry::kinds::ROLE_BINDINGS, "team", binding)
        .await
        .unwrap();
    // The binding reaches the index through its informer's watch.
    let alice_reads = authz::Attributes {
        user: api_types::UserInfo::authenticated("alice", &[]),
        verb: "get".into(),
        resource_request: true,
        namespace: "team".into(),
        resource: "configmaps".into(),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !matches!(
        state.authorizer.authorize(&alice_reads),
        authz::Decision::Allow(_)
    ) {
        assert!(
            std::time::Instant::now() < deadline,
            "alice's binding never reached the index"
        );
        tokio::task::yield_now().await;
    }
    state.set_ready();
    state
}

async fn state(anonymous: bool) -> Arc<server::State> {
    state_with(anonymous, |_| {}).await
}

/// One case: the request, and what must come back.
struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static [u8])],
    body: &'static [u8],
    status: u16,
    /// The Status reason ("" when the answer is not a Status).
    reason: &'static str,
    /// A part of the message ("" to skip).
    message: &'static str,
}

async fn check(state: &Arc<server::State>, c: &Case) {
    let mut req = http::Request::builder().method(c.method).uri(c.path);
    for (k, v) in c.headers {
        req = req.header(*k, http::HeaderValue::from_bytes(v).unwrap());
    }
    let req = req.body(Full::new(Bytes::from_static(c.body))).unwrap();
    let resp = server::chain::handle(state.clone(), None, req).await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, c.status, "{}: {body}", c.what);
    if !c.reason.is_empty() {
        assert_eq!(body["kind"], "Status", "{}", c.what);
        assert_eq!(body["reason"], c.reason, "{}: {body}", c.what);
        assert_eq!(body["code"], c.status, "{}", c.what);
    }
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains(c.message),
        "{}: {message:?} lacks {:?}",
        c.what,
        c.message
    );
}

const fn get(
    what: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static [u8])],
    status: u16,
    reason: &'static str,
    message: &'static str,
) -> Case {
    Case {
        what,
        method: "GET",
        path,
        headers,
        body: b"",
        status,
        reason,
        message,
    }
}

static CASES: &[Case] = &[
    // Authentication.
    get("anonymous may read the version", "/version", &[], 200, "", ""),
    get("anonymous is authorized like anyone", "/api/v1/namespaces", &[], 403, "Forbidden",
        "namespaces is forbidden: User \"system:anonymous\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"),
    get("an unknown token is 401, never anonymous", "/version", &[("authorization", b"Bearer nope")], 401, "Unauthorized", "Unauthorized"),
    get("a token that is not text is 401", "/version", &[("authorization", b"Bearer t\xf8k")], 401, "Unauthorized", "Unauthorized"),
    get("another scheme is 401", "/version", &[("authorization", b"Basic YTpi")], 401, "Unauthorized", ""),
    get("system:masters may do anything", "/api/v1/namespaces", &[("authorization", ADMIN.as_bytes())], 200, "", ""),
    // Authorization.
    get("a binding in one namespace", "/api/v1/namespaces/team/configmaps", &[("authorization", ALICE.as_bytes())], 200, "", ""),
    get("view does not read secrets", "/api/v1/namespaces/team/secrets", &[("authorization", ALICE.as_bytes())], 403, "Forbidden",
        "secrets is forbidden: User \"alice\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\""),
    get("nor another namespace", "/api/v1/namespaces/default/configmaps", &[("authorization", ALICE.as_bytes())], 403, "Forbidden",
        "in the namespace \"default\""),
    // Impersonation.
    get("impersonating needs the verb", "/api/v1/namespaces/team/configmaps",
        &[("authorization", ALICE.as_bytes()), ("impersonate-user", b"bob")], 403, "Forbidden",
        "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
    get("the impersonated user is the one authorized", "/api/v1/namespaces/team/configmaps",
        &[("authorization", ADMIN.as_bytes()), ("impersonate-user", b"alice")], 200, "", ""),
    get("impersonated, the admin has alice's rights only", "/api/v1/namespaces/team/secrets",
        &[("authorization", ADMIN.as_bytes()), ("impersonate-user", b"alice")], 403, "Forbidden", "User \"alice\" cannot list"),
    get("an impersonation header that is not UTF-8 is 400", "/api/v1/namespaces/team/secrets",
        &[("authorization", ADMIN.as_bytes()), ("impersonate-user", b"b\xf8b")], 400, "BadRequest", "impersonate-user"),
    get("a group without a user is 400", "/version",
        &[("authorization", ADMIN.as_bytes()), ("impersonate-group", b"devs")], 400, "BadRequest", "without impersonating a user"),
    get("an empty Impersonate-User asks for nothing", "/api/v1/namespaces/team/secrets",
        &[("authorization", ADMIN.as_bytes()), ("impersonate-user", b"")], 200, "", ""),
    // Negotiation and errors.
    get("an Accept nothing can produce is 406", "/api/v1/namespaces/team/configmaps",
        &[("authorization", ADMIN.as_bytes()), ("accept", b"text/html")], 406, "NotAcceptable", "only the following media types are accepted"),
    get("an unknown path is 404", "/api/v1/widgets", &[("authorization", ADMIN.as_bytes())], 404, "NotFound", "the server could not find the requested resource"),
    get("a missing object is 404 by name", "/api/v1/namespaces/team/configmaps/nope", &[("authorization", ADMIN.as_bytes())], 404, "NotFound",
        "configmaps \"nope\" not found"),
    get("a dot name is 400", "/api/v1/namespaces/team/configmaps/..", &[("authorization", ADMIN.as_bytes())], 400, "BadRequest",
        "Name parameter invalid: \"..\": may not be '..'"),
    get("a future resourceVersion is 504", "/api/v1/namespaces/team/configmaps?resourceVersion=999999&resourceVersionMatch=NotOlderThan",
        &[("authorization", ADMIN.as_bytes())], 504, "Timeout", "Too large resource version: 999999"),
    get("a malformed ?timeout= is 400 before authentication", "/api/v1/namespaces?timeout=soon", &[], 400, "BadRequest",
        "invalid timeout specified in the request URL - time: invalid duration \"soon\""),
    get("a ?timeout= within the maximum is kept", "/api/v1/namespaces?timeout=5s", &[("authorization", ADMIN.as_bytes())], 200, "", ""),
    Case {
        what: "an unknown method is 405",
        method: "FOO",
        path: "/api/v1/namespaces/team/configmaps",
        headers: &[("authorization", ADMIN.as_bytes())],
        body: b"",
        status: 405,
        reason: "MethodNotAllowed",
        message: "the server does not allow this method on the requested resource",
    },
    Case {
        what: "a body in an unknown media type is 415",
        method: "POST",
        path: "/api/v1/namespaces/team/configmaps",
        headers: &[("authorization", ADMIN.as_bytes()), ("content-type", b"text/plain")],
        body: b"x",
        status: 415,
        reason: "UnsupportedMediaType",
        message: "",
    },
    Case {
        what: "a malformed JSON body is 400",
        method: "POST",
        path: "/api/v1/namespaces/team/configmaps",
        headers: &[("authorization", ADMIN.as_bytes()), ("content-type", b"application/json")],
        body: b"{",
        status: 400,
        reason: "BadRequest",
        message: "json parse error",
    },
    Case {
        what: "repeated keys under Strict are 400",
        method: "POST",
        path: "/api/v1/namespaces/team/configmaps?fieldValidation=Strict",
        headers: &[("authorization", ADMIN.as_bytes()), ("content-type", b"application/json")],
        body: br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{},"data":{}}"#,
        status: 400,
        reason: "BadRequest",
        message: "strict decoding error: duplicate field \"data\"",
    },
    Case {
        what: "a write is authorized before its body is read",
        method: "POST",
        path: "/api/v1/namespaces/team/configmaps",
        headers: &[("authorization", ALICE.as_bytes()), ("content-type", b"application/json")],
        body: b"not even JSON",
        status: 403,
        reason: "Forbidden",
        message: "User \"alice\" cannot create resource \"configmaps\"",
    },
];

#[tokio::test]
async fn the_chain_answers_as_upstream() {
    let state = state(true).await;
    for c in CASES {
        check(&state, c).await;
    }
}

#[tokio::test]
async fn without_anonymous_auth_no_credential_is_401() {
    let state = state(false).await;
    check(
        &state,
        &get(
            "no credential",
            "/version",
            &[],
            401,
            "Unauthorized",
            "Unauthorized",
        ),
    )
    .await;
    check(
        &state,
        &get("a token still works", "/version", AS_ALICE, 200, "", ""),
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let state = state(true).await;
    let big = vec![b' '; server::chain::MAX_BODY_BYTES + 1];
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/team/configmaps")
        .header("authorization", ADMIN)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(big)))
        .unwrap();
    let resp = server::chain::handle(state, None, req).await;
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body["message"],
        "Request entity too large: limit is 3145728"
    );
}

/// A body whose bytes never come.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_is_504_at_the_request_timeout() {
    let state = state_with(true, |s| {
        s.request_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/team/configmaps")
        .header("authorization", ADMIN)
        .header("content-type", "application/json")
        .body(Stalled)
        .unwrap();
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        server::chain::handle(state, None, req),
    )
    .await
    .expect("the chain waited for the body with no end");
    assert_eq!(resp.status().as_u16(), 504);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["reason"], "Timeout");
}

/// A body fed from a channel: its bytes come when the test sends them.
struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Channel {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// `?timeout=` shortens the deadline; past it the client has upstream's 504, the metrics
/// count a termination, and a body that comes after it is never written.
#[tokio::test]
async fn past_its_timeout_a_write_is_504_and_its_late_body_never_lands() {
    let state = state(true).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/team/configmaps?timeout=300ms")
        .header("authorization", ADMIN)
        .header("content-type", "application/json")
        .body(Channel(rx))
        .unwrap();
    let resp = server::chain::handle(state.clone(), None, req).await;
    assert_eq!(resp.status().as_u16(), 504);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body["message"],
        "Timeout: request did not complete within the allotted timeout"
    );
    // The body comes now, too late: the handler, still running, must have let go of it.
    let late = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}}"#;
    let _ = tx.send(Bytes::from_static(late)).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), tx.closed())
        .await
        .expect("the timed-out handler let go of the body");
    let get = http::Request::builder()
        .uri("/api/v1/namespaces/team/configmaps/late")
        .header("authorization", ADMIN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = server::chain::handle(state.clone(), None, get).await;
    assert_eq!(resp.status().as_u16(), 404, "the late body was not written");
    let metrics = state.metrics.render(&[], &[]);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("apiserver_request_terminations_total{"))
        .expect("a termination counted");
    assert!(line.contains(r#"verb="POST""#) && line.contains(r#"resource="configmaps""#));
    assert!(
        line.contains(r#"code="504""#) && line.ends_with(" 1"),
        "{line}"
    );
}

#[tokio::test]
async fn over_the_in_flight_limit_is_429_but_never_for_masters_or_health() {
    // Without priority and fairness: refused at once.
    over_the_limit(
        server::inflight::InFlightLimits::new(1, 1, false, Duration::from_secs(15)),
        "concurrency-limit",
    )
    .await;
    // With it (one seat): refused once the request has waited its longest.
    over_the_limit(
        server::inflight::InFlightLimits::new(1, 0, true, Duration::from_millis(50)),
        "time-out",
    )
    .await;
}

async fn over_the_limit(limits: server::inflight::InFlightLimits, reason: &str) {
    let state = state_with(true, |s| s.in_flight = limits).await;
    // Alice's GET holds the one read place while its body never comes.
    let held = http::Request::builder()
        .method("GET")
        .uri("/api/v1/namespaces/team/configmaps")
        .header("authorization", ALICE)
        .body(Stalled)
        .unwrap();
    let holder = tokio::spawn(server::chain::handle(state.clone(), None, held));
    let get = |auth: &'static str, path: &'static str| {
        http::Request::builder()
            .uri(path)
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let refused = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the limit never refused"
        );
        let resp = server::chain::handle(
            state.clone(),
            None,
            get(ALICE, "/api/v1/namespaces/team/configmaps"),
        )
        .await;
        if resp.status() == 429 {
            break resp;
        }
        // The holder has not reached the limit yet.
        tokio::task::yield_now().await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value =
        serde_json::from_slice(&refused.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body["message"],
        "Too many requests, please try again later."
    );
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    for (what, auth, path) in [
        (
            "masters are exempt",
            ADMIN,
            "/api/v1/namespaces/team/configmaps",
        ),
        ("health checks are exempt", ALICE, "/readyz"),
    ] {
        let resp = server::chain::handle(state.clone(), None, get(auth, path)).await;
        assert_eq!(resp.status(), 200, "{what}");
    }
    holder.abort();
    let _ = holder.await;
    let resp = server::chain::handle(
        state.clone(),
        None,
        get(ALICE, "/api/v1/namespaces/team/configmaps"),
    )
    .await;
    assert_eq!(resp.status(), 200, "the place is free again");
    let metrics = state.metrics.render(&[], &[]);
    let rejected = metrics
        .lines()
        .find(|l| l.starts_with("apiserver_flowcontrol_rejected_requests_total{"))
        .expect("the refusal counted");
    assert!(
        rejected.contains(&format!(r#"reason="{reason}""#)),
        "{rejected}"
    );
}

#[tokio::test]
async fn a_refused_credential_of_any_bytes_is_audited_without_a_panic() {
    let dir = std::env::temp_dir().join(format!("kubeward-chain-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n",
    )
    .unwrap();
    let log = dir.join("audit.log");
    let state = state_with(true, |s| {
        s.audit = Some(
            server::audit::AuditLog::start(
                policy.to_str().unwrap(),
                log.to_str().unwrap(),
                server::audit::Rotation::default(),
                Arc::new(jiff::Timestamp::now),
                &s.metrics,
            )
            .unwrap(),
        );
    })
    .await;
    for auth in [
        "Basicé x",
        "bearer",
        "Bearer  x y",
        "béarer token",
        "Basic",
        "Bearer nope",
    ] {
        let req = http::Request::builder()
            .uri("/api")
            .header(
                "authorization",
                http::HeaderValue::from_bytes(auth.as_bytes()).unwrap(),
            )
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = server::chain::handle(state.clone(), None, req).await;
        assert!(
            matches!(resp.status().as_u16(), 401 | 403),
            "{auth:?}: {}",
            resp.status()
        );
        assert!(resp.headers().contains_key("audit-id"), "{auth:?}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Authentication failed, attempted: bearer") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 401 event in {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
