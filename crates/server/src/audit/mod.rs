//! The audit log (`--audit-log-path`, `--audit-policy-file`): `audit.k8s.io/v1` Events as
//! JSON lines, one per stage, as kube-apiserver's log backend writes them
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go`, `pkg/audit/request.go`).
//! The policy ([`policy`]) picks each request's level; the chain records the stages. Writing
//! never blocks a request: events go through a bounded buffer to a writer thread, and what
//! does not fit is counted as dropped (`--audit-log-mode=batch` upstream; lines are written,
//! not fsynced, so a crash may lose the last ones).
//!
//! Secret data, TokenRequest and TokenReview tokens are never written, at any level
//! (upstream leaves that to the policy's author); an event that had them says so in the
//! annotation `audit.kubeward.io/redacted`. Request headers are never recorded.

pub(crate) mod file;
mod policy;

pub use file::Rotation;
pub use policy::{fuzz as fuzz_policy, PolicyError};
pub(crate) use policy::{Level, Stage};

use api_types::{format_micro_time as micro_time, UserInfo};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Events buffered before new ones are dropped (`--audit-log-batch-buffer-size`'s default).
pub const BUFFER: usize = 10_000;

/// Why the audit log could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The policy file could not be read.
    #[error("reading the audit policy {0}: {1}")]
    ReadPolicy(String, std::io::Error),
    /// The policy is not a Policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The log file could not be opened.
    #[error("opening the audit log {0}: {1}")]
    Open(String, std::io::Error),
}

/// The policy and the buffer events are written from.
pub struct AuditLog {
    policy: policy::Policy,
    tx: SyncSender<Message>,
    dropped: AtomicU64,
    sent: prometheus_client::metrics::counter::Counter,
    errors: prometheus_client::metrics::counter::Counter,
    now: registry::Clock,
    /// The file (None when the log goes to standard output).
    path: Option<std::path::PathBuf>,
}

impl AuditLog {
    /// The log as files, oldest first (its backups, then the file written now); None when
    /// it goes to standard output.
    pub(crate) fn files(&self) -> Option<Vec<std::path::PathBuf>> {
        self.path.as_deref().map(file::log_files)
    }

    /// Reads the policy and opens the log (`-`: standard output), appending and rotating as
    /// `rotation` says (backups named by `now`); the writer runs on a thread of its own.
    /// Events sent and dropped are counted in `metrics`.
    pub fn start(
        policy_file: &str,
        path: &str,
        rotation: Rotation,
        now: registry::Clock,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Arc<Self>, AuditError> {
        let text = std::fs::read_to_string(policy_file)
            .map_err(|e| AuditError::ReadPolicy(policy_file.into(), e))?;
        let policy = policy::Policy::parse(&text)?;
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        } else {
            Box::new(
                file::RotatingFile::open(std::path::Path::new(path), rotation, now.clone())
                    .map_err(|e| AuditError::Open(path.into(), e))?,
            )
        };
        let (tx, rx) = sync_channel(BUFFER);
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_lines(rx, out))
            .map_err(|e| AuditError::Open(path.into(), e))?;
        Ok(Arc::new(AuditLog {
            policy,
            tx,
            dropped: AtomicU64::new(0),
            sent: metrics.audit_events.clone(),
            errors: metrics.audit_errors.clone(),
            now,
            path: (path != "-").then(|| path.into()),
        }))
    }

    /// Events dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most `limit`) until every event sent so far is written and flushed: at
    /// shutdown, so the last requests' events are not lost with the process.
    pub fn flush(&self, limit: std::time::Duration) -> bool {
        let (done, wait) = std::sync::mpsc::channel();
        if self.tx.send(Message::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(limit).is_ok()
    }

    fn send(&self, event: &Event) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        match self.tx.try_send(Message::Line(line)) {
            Ok(()) => {
                self.sent.inc();
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.errors.inc();
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "audit buffer full: events dropped");
                }
            }
        }
    }
}

/// What the writer thread is sent.
enum Message {
    /// One event's line.
    Line(Vec<u8>),
    /// Write and flush everything before this, then say so.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Writes lines as they come, flushing whenever the buffer is empty. Each line is one write
/// (the rotating file never splits one across files).
fn write_lines(rx: Receiver<Message>, mut out: Box<dyn Write + Send>) {
    let mut pending: Vec<std::sync::mpsc::Sender<()>> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut result = Ok(());
        let mut next = Some(first);
        while let Some(m) = next.take().or_else(|| rx.try_recv().ok()) {
            match m {
                Message::Line(line) => result = result.and_then(|()| out.write_all(&line)),
                Message::Flush(done) => pending.push(done),
            }
        }
        if let Err(e) = result.and_then(|()| out.flush()) {
            tracing::error!(error = %e, "writing the audit log");
        }
        for done in pending.drain(..) {
            let _ = done.send(());
        }
    }
}

/// `authentication.k8s.io/v1` UserInfo as events carry it.
#[derive(Debug, Clone, Serialize)]
struct User {
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extra: BTreeMap<String, Vec<String>>,
}

impl From<&UserInfo> for User {
    fn from(u: &UserInfo) -> Self {
        User {
            username: u.name.clone(),
            uid: u.uid.clone(),
            groups: u.groups.clone(),
            extra: u.extra.clone(),
        }
    }
}

/// `ObjectReference` of an event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef {
    resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    api_group: String,
    api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    subresource: String,
}

/// `audit.k8s.io/v1` Event, its fields in upstream's order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    kind: &'static str,
    api_version: &'static str,
    level: Level,
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: Stage,
    #[serde(rename = "requestURI")]
    request_uri: String,
    verb: String,
    user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    impersonated_user: Option<User>,
    #[serde(rename = "sourceIPs")]
    source_ips: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_ref: Option<ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_status: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_object: Option<Value>,
    request_received_timestamp: String,
    stage_timestamp: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// What the chain knows of a request when it is authenticated.
pub(crate) struct Request<'a> {
    pub(crate) audit_id: &'a str,
    pub(crate) user: &'a UserInfo,
    pub(crate) info: &'a request_info::RequestInfo,
    pub(crate) uri: &'a str,
    pub(crate) path: &'a str,
    pub(crate) source_ips: Vec<String>,
    pub(crate) user_agent: &'a str,
    pub(crate) now: jiff::Timestamp,
}

/// One request's events, from RequestReceived on.
pub(crate) struct Record {
    log: Arc<AuditLog>,
    decision: policy::Decision,
    event: Event,
    redacted: bool,
    /// Its last stage is written.
    done: bool,
}

thread_local! {
    /// Set while a panicked handler's state is dropped ([`after_panic`]).
    static PANICKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `drop_handler` (dropping the state of a handler that panicked) so that the records it
/// drops write their Panic stage, as upstream's audit filter does when it recovers a panic.
pub(crate) fn after_panic(drop_handler: impl FnOnce()) {
    PANICKED.with(|p| p.set(true));
    drop_handler();
    PANICKED.with(|p| p.set(false));
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.done || !PANICKED.with(std::cell::Cell::get) {
            return;
        }
        self.done = true;
        self.event.response_status = Some(serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": "APIServer panic'd: the request handler panicked",
            "reason": "InternalError",
            "code": 500,
        }));
        let now = (self.log.now)();
        self.emit(Stage::Panic, now);
    }
}

impl AuditLog {
    /// A request refused before it had a user (at authentication, 401 saying which methods
    /// were tried; or for a bad `?timeout=`, 400): one event at ResponseStarted, with no user.
    pub(crate) fn failed(self: &Arc<Self>, r: &Request<'_>, message: &str, code: u16) {
        if let Some(mut record) = self.record(r) {
            record.event.response_status =
                Some(serde_json::json!({"metadata": {}, "message": message, "code": code}));
            record.emit(Stage::ResponseStarted, r.now);
        }
    }

    /// The record of a request the policy wants, with its RequestReceived event written;
    /// None at level None.
    pub(crate) fn begin(self: &Arc<Self>, r: &Request<'_>) -> Option<Record> {
        let record = self.record(r)?;
        record.emit(Stage::RequestReceived, r.now);
        Some(record)
    }

    fn record(self: &Arc<Self>, r: &Request<'_>) -> Option<Record> {
        let decision = self.policy.decide(&policy::Attributes {
            user: &r.user.name,
            groups: &r.user.groups,
            verb: &r.info.verb,
            resource_request: r.info.is_resource_request,
            path: r.path,
            api_group: &r.info.api_group,
            namespace: &r.info.namespace,
            resource: &r.info.resource,
            subresource: &r.info.subresource,
            name: &r.info.name,
        });
        if decision.level == Level::None {
            return None;
        }
        let at = micro_time(r.now);
        let object_ref = r.info.is_resource_request.then(|| ObjectRef {
            resource: r.info.resource.clone(),
            namespace: r.info.namespace.clone(),
            name: r.info.name.clone(),
            api_group: r.info.api_group.clone(),
            api_version: r.info.api_version.clone(),
            subresource: r.info.subresource.clone(),
        });
        let record = Record {
            log: self.clone(),
            event: Event {
                kind: "Event",
                api_version: "audit.k8s.io/v1",
                level: decision.level,
                audit_id: r.audit_id.to_string(),
                stage: Stage::RequestReceived,
                request_uri: r.uri.to_string(),
                verb: r.info.verb.clone(),
                user: r.user.into(),
                impersonated_user: None,
                source_ips: r.source_ips.clone(),
                user_agent: r.user_agent.to_string(),
                object_ref,
                response_status: None,
                request_object: None,
                response_object: None,
                request_received_timestamp: at.clone(),
                stage_timestamp: at,
                annotations: BTreeMap::new(),
            },
            decision,
            redacted: false,
            done: false,
        };
        Some(record)
    }
}

impl Record {
    fn emit(&self, stage: Stage, now: jiff::Timestamp) {
        if self.decision.omit_stages.contains(&stage) {
            return;
        }
        let mut event = self.event.clone();
        event.stage = stage;
        event.stage_timestamp = micro_time(now);
        if stage == Stage::RequestReceived {
            // Upstream's first event has no annotations or objects yet.
            event.annotations.clear();
        }
        if self.redacted {
            event
                .annotations
                .insert("audit.kubeward.io/redacted".into(), REDACTED_NOTE.into());
        }
        self.log.send(&event);
    }

    /// The user the request acts as, after impersonation.
    pub(crate) fn impersonated(&mut self, user: &UserInfo) {
        self.event.impersonated_user = Some(user.into());
    }

    /// An annotation (the authorizer's decision and reason).
    pub(crate) fn annotate(&mut self, key: &str, value: &str) {
        self.event.annotations.insert(key.into(), value.into());
    }

    /// The request's object: it names the object reference's missing name and namespace
    /// (a create's), as upstream's `LogRequestObject`; recorded at level Request and above.
    pub(crate) fn request_object(&mut self, body: &[u8], content_type: Option<&str>) {
        if body.is_empty() {
            return;
        }
        // As the handlers decode it (JSON, YAML, protobuf); a patch is recorded as sent.
        let parsed = crate::negotiate::decode_object(content_type, body)
            .map(|(v, _)| v)
            .ok()
            .or_else(|| serde_json::from_slice::<Value>(body).ok());
        let Some(mut v) = parsed else { return };
        if let Some(r) = self.event.object_ref.as_mut() {
            let meta = |k: &str| {
                v.pointer(&format!("/metadata/{k}"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            if r.name.is_empty() && r.subresource.is_empty() {
                r.name = meta("name");
            }
            if r.namespace.is_empty() {
                r.namespace = meta("namespace");
            }
        }
        if self.decision.level >= Level::Request {
            self.clean(&mut v);
            self.event.request_object = Some(v);
        }
    }

    fn clean(&mut self, v: &mut Value) {
        if self.decision.omit_managed_fields {
            strip_managed_fields(v);
        }
        self.redacted |= redact(v);
        // A patch names no kind: what it writes is known by where it goes.
        let target = self.event.object_ref.as_ref().map(|r| {
            (
                r.api_group.as_str(),
                r.resource.as_str(),
                r.subresource.as_str(),
            )
        });
        self.redacted |= match target {
            Some(("", "secrets", "")) => redact_secret_patch(v),
            Some(("authentication.k8s.io", "tokenreviews", "")) => {
                blank(v.pointer_mut("/spec/token"))
            }
            Some(("", "serviceaccounts", "token")) => blank(v.pointer_mut("/status/token")),
            _ => false,
        };
    }

    /// A response that is complete (everything but watches): its ResponseComplete event.
    pub(crate) fn complete(mut self, code: u16, body: Option<&[u8]>, now: jiff::Timestamp) {
        // Read back only when the event will carry it: a failure's Status, or the object at
        // RequestResponse (a large list at Metadata is not parsed for nothing).
        let wanted = code >= 400 || self.decision.level == Level::RequestResponse;
        // The body as the client got it: JSON, or protobuf for a client that prefers it.
        let parsed = body.filter(|_| wanted).and_then(|b| {
            if b.starts_with(b"k8s\0") {
                wire::protobuf::decode(b).ok()
            } else {
                serde_json::from_slice::<Value>(b).ok()
            }
        });
        self.event.response_status = Some(response_status(code, parsed.as_ref()));
        if self.decision.level == Level::RequestResponse {
            if let Some(mut v) = parsed {
                self.clean(&mut v);
                self.event.response_object = Some(v);
            }
        }
        self.done = true;
        self.emit(Stage::ResponseComplete, now);
    }

    /// A streamed response (a watch): ResponseStarted now; call [`Record::finished`] when
    /// the stream ends.
    pub(crate) fn started(&mut self, code: u16, now: jiff::Timestamp) {
        self.event.response_status = Some(response_status(code, None));
        self.emit(Stage::ResponseStarted, now);
    }

    /// The stream ended: ResponseComplete.
    pub(crate) fn finished(mut self, now: jiff::Timestamp) {
        self.done = true;
        self.emit(Stage::ResponseComplete, now);
    }
}

const REDACTED_NOTE: &str = "Secret data, TokenRequest and TokenReview tokens are not recorded";

/// `{"metadata":{},"code":N}`, or the Status a failure answered with (without its type).
fn response_status(code: u16, body: Option<&Value>) -> Value {
    match body {
        Some(Value::Object(o)) if code >= 400 && o.get("kind") == Some(&"Status".into()) => {
            let mut o = o.clone();
            o.remove("kind");
            o.remove("apiVersion");
            Value::Object(o)
        }
        _ => serde_json::json!({"metadata": {}, "code": code}),
    }
}

fn strip_managed_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip_managed_fields);
    }
}

/// Blanks what must never be written: a Secret's `data` and `stringData` values (in lists
/// too), a TokenRequest's `status.token`, a TokenReview's `spec.token`. True if it did.
fn redact(v: &mut Value) -> bool {
    let mut did = false;
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match kind.as_str() {
        "TokenRequest" => did |= blank(v.pointer_mut("/status/token")),
        "TokenReview" => did |= blank(v.pointer_mut("/spec/token")),
        // A list's items carry no kind of their own.
        "SecretList" => {
            for item in v
                .get_mut("items")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                did |= redact_secret(item);
            }
        }
        _ => {}
    }
    match kind.as_str() {
        "Secret" => did |= redact_secret(v),
        // A Table's rows may carry their objects (`includeObject=Object`).
        "Table" => {
            for row in v
                .get_mut("rows")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(obj) = row.get_mut("object") {
                    did |= redact(obj);
                }
            }
        }
        _ => {}
    }
    did
}

/// A write to a Secret in any form: an object or merge patch (its `data`/`stringData`
/// values), or a JSON patch (every operation's `value`).
fn redact_secret_patch(v: &mut Value) -> bool {
    match v {
        Value::Array(ops) => {
            let mut did = false;
            for op in ops.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(value) = op.get_mut("value") {
                    *value = Value::String(String::new());
                    did = true;
                }
            }
            did
        }
        other => redact_secret(other),
    }
}

fn redact_secret(v: &mut Value) -> bool {
    let mut did = false;
    for field in ["data", "stringData"] {
        if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
            for value in m.values_mut() {
                *value = Value::String(String::new());
                did = true;
            }
        }
    }
    did
}

fn blank(v: Option<&mut Value>) -> bool {
    match v {
        Some(t) if t.as_str().is_some_and(|s| !s.is_empty()) => {
            *t = Value::String(String::new());
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_and_tokens_are_blanked() {
        let mut s =
            json!({"kind": "Secret", "data": {"password": "czNjcjN0"}, "stringData": {"k": "v"}});
        assert!(redact(&mut s));
        assert_eq!(
            s,
            json!({"kind": "Secret", "data": {"password": ""}, "stringData": {"k": ""}})
        );
        let mut list = json!({"kind": "SecretList", "items": [{"data": {"a": "b"}}]});
        assert!(redact(&mut list));
        assert_eq!(list["items"][0]["data"]["a"], "");
        let mut tr = json!({"kind": "TokenRequest", "status": {"token": "eyJ..", "expirationTimestamp": "x"}});
        assert!(redact(&mut tr));
        assert_eq!(
            tr["status"],
            json!({"token": "", "expirationTimestamp": "x"})
        );
        let mut review = json!({"kind": "TokenReview", "spec": {"token": "abc"}});
        assert!(redact(&mut review));
        let mut patch = json!([{"op": "add", "path": "/data/k", "value": "czNjcjN0"}]);
        assert!(redact_secret_patch(&mut patch));
        assert_eq!(patch[0]["value"], "");
        let mut merge = json!({"data": {"k": "czNjcjN0"}});
        assert!(redact_secret_patch(&mut merge));
        assert_eq!(merge["data"]["k"], "");
        let mut cm = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        assert!(!redact(&mut cm), "config maps are not secrets");
        assert_eq!(cm["data"]["k"], "v");
    }

    #[test]
    fn times_are_micro_times() {
        let t: jiff::Timestamp = "2026-12-02T01:02:03.456789123Z".parse().unwrap();
        assert_eq!(micro_time(t), "2026-12-02T01:02:03.456789Z");
        let whole: jiff::Timestamp = "2026-12-02T01:02:03Z".parse().unwrap();
        assert_eq!(micro_time(whole), "2026-12-02T01:02:03.000000Z");
    }

    #[test]
    fn a_failure_reports_its_status() {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404});
        assert_eq!(
            response_status(404, Some(&status)),
            json!({"metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404})
        );
        assert_eq!(
            response_status(200, Some(&status)),
            json!({"metadata": {}, "code": 200})
        );
    }

    /// A handler that panicked leaves a Panic event with upstream's 500 status; a record
    /// dropped otherwise (a client gone) writes nothing more; `flush` waits for the writer.
    #[test]
    fn a_panicked_handler_leaves_a_panic_event() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.yaml");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n",
        )
        .unwrap();
        let path = dir.path().join("audit.log");
        let t: jiff::Timestamp = "2026-12-02T01:02:03Z".parse().unwrap();
        let log = AuditLog::start(
            policy.to_str().unwrap(),
            path.to_str().unwrap(),
            Rotation::default(),
            Arc::new(move || t),
            &crate::metrics::Metrics::new(),
        )
        .unwrap();
        let user = UserInfo::authenticated("alice", &[]);
        let info = request_info::parse("GET", "/api/v1/namespaces/a/secrets/s", "").unwrap();
        let request = Request {
            audit_id: "id-1",
            user: &user,
            info: &info,
            uri: "/api/v1/namespaces/a/secrets/s",
            path: "/api/v1/namespaces/a/secrets/s",
            source_ips: vec!["127.0.0.1".into()],
            user_agent: "test",
            now: t,
        };
        let abandoned = log.begin(&request).unwrap();
        drop(abandoned);
        let panicked = log.begin(&request).unwrap();
        after_panic(|| drop(panicked));
        assert!(log.flush(std::time::Duration::from_secs(10)));
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let stages: Vec<&str> = events
            .iter()
            .map(|e| e["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["RequestReceived", "RequestReceived", "Panic"]);
        assert_eq!(
            events[2]["responseStatus"],
            json!({"metadata": {}, "status": "Failure", "message": "APIServer panic'd: the request handler panicked", "reason": "InternalError", "code": 500})
        );
        assert_eq!(events[2]["auditID"], "id-1");
    }
}
