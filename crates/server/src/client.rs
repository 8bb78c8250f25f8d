//! The in-process client: [`registry::Client`]'s verbs sent through the whole handler chain
//! as one identity, without TCP (kube-apiserver's loopback client; client-go's typed clients
//! over it). Controllers, the apiserver's own start-up work and tests use it, so what they do
//! is authorized, admitted and (once audit lands) recorded exactly as a request from kubectl.

use crate::body::Body;
use crate::chain;
use crate::State;
use api_types::{StatusError, UserInfo};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use registry::{
    BoxFuture, Client, DeleteOptions, ListOptions, ListOut, PatchType, ResourceDef, WatchEvent,
    WatchRequest,
};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A client acting as one user inside the process.
pub struct InProcess {
    state: Arc<State>,
    user: UserInfo,
    user_agent: String,
    /// The field manager of its applies (the component's name).
    component: String,
}

impl InProcess {
    /// A client for `user`, identifying as `component` (`kube-controller-manager`,
    /// `kube-apiserver`) in its user agent as upstream's binaries do
    /// (`<component>/<version> (<os>/<arch>) kubernetes/<commit>/<user>`), so the objects it
    /// writes are owned by `component` in `managedFields`.
    pub fn new(state: Arc<State>, user: UserInfo, component: &str) -> Self {
        let version = crate::version_info();
        let user_agent = format!(
            "{component}/{} ({}) kubernetes/{}/{}",
            version["gitVersion"].as_str().unwrap_or("v0.0.0"),
            version["platform"].as_str().unwrap_or("linux/amd64"),
            version["gitCommit"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(7)
                .collect::<String>(),
            user.name,
        );
        InProcess {
            state,
            user,
            user_agent,
            component: component.to_string(),
        }
    }

    /// The user this client acts as.
    pub fn user(&self) -> &UserInfo {
        &self.user
    }

    /// One request through the chain.
    async fn send(
        &self,
        method: Method,
        uri: String,
        body: Option<Value>,
    ) -> Result<http::Response<Body>, StatusError> {
        self.send_as(method, uri, body, "application/json").await
    }

    async fn send_as(
        &self,
        method: Method,
        uri: String,
        body: Option<Value>,
        content_type: &str,
    ) -> Result<http::Response<Body>, StatusError> {
        let bytes = body
            .map(|b| crate::respond::json_bytes(&b))
            .unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::USER_AGENT, self.user_agent.as_str())
            .body(Full::new(Bytes::from(bytes)))
            .map_err(StatusError::internal)?;
        // On the caller's task, as a connection polls its requests; a panic in a handler is
        // this request's 500, never the caller's.
        let resp = crate::CatchPanic::new(
            chain::handle_as(self.state.clone(), self.user.clone(), req),
            None,
        )
        .await;
        Ok(match resp {
            Ok(r) => r.map(crate::body::Tracked::into_inner),
            Err(never) => match never {},
        })
    }

    /// A request whose answer is one JSON document: the object, or the Status as an error.
    async fn call(
        &self,
        method: Method,
        uri: String,
        body: Option<Value>,
    ) -> Result<Value, StatusError> {
        self.call_as(method, uri, body, "application/json").await
    }

    async fn call_as(
        &self,
        method: Method,
        uri: String,
        body: Option<Value>,
        content_type: &str,
    ) -> Result<Value, StatusError> {
        let resp = self.send_as(method, uri, body, content_type).await?;
        let code = resp.status().as_u16();
        let bytes = match resp.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(never) => match never {},
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            StatusError::internal(format!("decoding an in-process response ({code}): {e}"))
        })?;
        if code >= 400 {
            return Err(StatusError::from_status(code, &value));
        }
        Ok(value)
    }
}

/// A path segment, percent-encoded (names are validated by the server; this keeps any
/// byte from changing the path's shape).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/api/v1[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]]`, or `/apis/<group>/...`.
fn path(def: &ResourceDef, ns: Option<&str>, name: Option<&str>, sub: Option<&str>) -> String {
    let version = def.versions.first().copied().unwrap_or("v1");
    let mut p = if def.group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{}/{version}", def.group)
    };
    if let Some(ns) = ns.filter(|n| def.namespaced && !n.is_empty()) {
        p.push_str(&format!("/namespaces/{}", segment(ns)));
    }
    p.push('/');
    p.push_str(def.resource);
    for part in [name, sub].into_iter().flatten() {
        p.push('/');
        p.push_str(&segment(part));
    }
    p
}

fn with_query(path: String, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    }
}

fn list_query(opts: &ListOptions) -> Vec<(&'static str, String)> {
    vec![
        ("labelSelector", opts.label_selector.clone()),
        ("fieldSelector", opts.field_selector.clone()),
        (
            "limit",
            match opts.limit {
                0 => String::new(),
                n => n.to_string(),
            },
        ),
        ("continue", opts.continue_token.clone()),
        ("resourceVersion", opts.resource_version.clone()),
        ("resourceVersionMatch", opts.resource_version_match.clone()),
    ]
}

fn borrowed<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A write's body says what it is, as client-go's typed clients always send it.
fn typed(api_version: String, kind: &str, mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.entry("apiVersion").or_insert(api_version.into());
        o.entry("kind").or_insert(kind.into());
    }
    body
}

fn delete_body(opts: &DeleteOptions) -> Value {
    let mut body = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
    if opts.dry_run {
        body["dryRun"] = json!(["All"]);
    }
    if let Some(uid) = &opts.precondition_uid {
        body["preconditions"]["uid"] = uid.clone().into();
    }
    if let Some(rv) = &opts.precondition_resource_version {
        body["preconditions"]["resourceVersion"] = rv.clone().into();
    }
    if let Some(g) = opts.grace_period_seconds {
        body["gracePeriodSeconds"] = g.into();
    }
    body
}

/// The event types a watch sends, as the registry names them.
fn event_type(t: &str) -> Option<&'static str> {
    ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
        .into_iter()
        .find(|k| *k == t)
}

impl Client for InProcess {
    fn get<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        Box::pin(self.call(
            Method::GET,
            path(def, Some(namespace), Some(name), None),
            None,
        ))
    }

    fn get_cached<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        let uri = with_query(
            path(def, Some(namespace), Some(name), None),
            &[("resourceVersion", "0")],
        );
        Box::pin(self.call(Method::GET, uri, None))
    }

    fn list<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: Option<&'a str>,
        opts: &'a ListOptions,
    ) -> BoxFuture<'a, Result<ListOut, StatusError>> {
        Box::pin(async move {
            let q = list_query(opts);
            let uri = with_query(path(def, namespace, None, None), &borrowed(&q));
            let mut list = self.call(Method::GET, uri, None).await?;
            let meta = |k: &str| {
                list.pointer(&format!("/metadata/{k}"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (resource_version, continue_token) = (meta("resourceVersion"), meta("continue"));
            let items = match list.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            let remaining_item_count = list
                .pointer("/metadata/remainingItemCount")
                .and_then(Value::as_i64);
            Ok(ListOut {
                items,
                resource_version,
                continue_token,
                remaining_item_count,
            })
        })
    }

    fn watch<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: Option<&'a str>,
        opts: WatchRequest,
    ) -> BoxFuture<'a, Result<mpsc::Receiver<WatchEvent>, StatusError>> {
        Box::pin(async move {
            let timeout = opts.timeout.as_secs().max(1).to_string();
            let uri = with_query(
                path(def, namespace, None, None),
                &[
                    ("watch", "true"),
                    ("allowWatchBookmarks", "true"),
                    ("fieldSelector", &opts.field_selector),
                    ("labelSelector", &opts.label_selector),
                    ("resourceVersion", &opts.resource_version),
                    ("timeoutSeconds", &timeout),
                ],
            );
            let resp = self.send(Method::GET, uri, None).await?;
            let code = resp.status().as_u16();
            let mut body = resp.into_body();
            let Body::Stream(mut chunks) = body else {
                // Not a stream: the watch did not start, and this is its Status.
                let bytes = match std::mem::replace(&mut body, Body::empty()).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(never) => match never {},
                };
                let status: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                return Err(StatusError::from_status(code, &status));
            };
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(async move {
                let mut pending: Vec<u8> = Vec::new();
                while let Some(chunk) = chunks.recv().await {
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let Ok(mut ev) = serde_json::from_slice::<Value>(&line) else {
                            return;
                        };
                        let Some(type_) = ev["type"].as_str().and_then(event_type) else {
                            return;
                        };
                        let object = ev["object"].take();
                        if tx.send(WatchEvent { type_, object }).await.is_err() {
                            return;
                        }
                    }
                }
            });
            Ok(rx)
        })
    }

    fn create<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        body: Value,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        Box::pin(self.call(
            Method::POST,
            path(def, Some(namespace), None, None),
            Some(typed(def.api_version(), def.kind, body)),
        ))
    }

    fn create_subresource<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        subresource: &'a str,
        mut body: Value,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        // The body says what it is: the subresource's kind (a Binding, a TokenRequest).
        if let Some((group, version, kind)) = def.subresource(subresource).and_then(|s| s.kind) {
            let api_version = match group {
                "" => version.to_string(),
                g => format!("{g}/{version}"),
            };
            body = typed(api_version, kind, body);
        }
        Box::pin(self.call(
            Method::POST,
            path(def, Some(namespace), Some(name), Some(subresource)),
            Some(body),
        ))
    }

    fn update<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        body: Value,
        subresource: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        Box::pin(self.call(
            Method::PUT,
            path(def, Some(namespace), Some(name), subresource),
            Some(typed(def.api_version(), def.kind, body)),
        ))
    }

    fn patch<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        patch_type: PatchType,
        patch: Value,
        subresource: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        Box::pin(async move {
            let (content_type, query): (&str, Vec<(&str, &str)>) = match patch_type {
                PatchType::Json => ("application/json-patch+json", vec![]),
                PatchType::Merge => ("application/merge-patch+json", vec![]),
                PatchType::StrategicMerge => ("application/strategic-merge-patch+json", vec![]),
                PatchType::Apply { force } => (
                    "application/apply-patch+yaml",
                    vec![
                        ("fieldManager", self.component.as_str()),
                        ("force", if force { "true" } else { "" }),
                    ],
                ),
            };
            let uri = with_query(path(def, Some(namespace), Some(name), subresource), &query);
            self.call_as(Method::PATCH, uri, Some(patch), content_type)
                .await
        })
    }

    fn delete<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        opts: &'a DeleteOptions,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        Box::pin(self.call(
            Method::DELETE,
            path(def, Some(namespace), Some(name), None),
            Some(delete_body(opts)),
        ))
    }

    fn delete_collection<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        opts: &'a ListOptions,
    ) -> BoxFuture<'a, Result<Vec<Value>, StatusError>> {
        Box::pin(async move {
            let q = list_query(opts);
            let uri = with_query(path(def, Some(namespace), None, None), &borrowed(&q));
            let mut list = self.call(Method::DELETE, uri, None).await?;
            Ok(match list.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_api_s() {
        let cases = [
            (
                path(
                    &registry::kinds::NAMESPACES,
                    Some("x"),
                    Some("a"),
                    Some("finalize"),
                ),
                "/api/v1/namespaces/a/finalize",
            ),
            (
                path(&registry::kinds::SECRETS, Some("team"), Some("s.1"), None),
                "/api/v1/namespaces/team/secrets/s.1",
            ),
            (
                path(&registry::kinds::SECRETS, None, None, None),
                "/api/v1/secrets",
            ),
            (
                path(
                    &registry::kinds::CLUSTER_ROLES,
                    Some(""),
                    Some("system:x"),
                    None,
                ),
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:x",
            ),
            (
                path(&registry::kinds::ROLES, Some("a b"), Some("../x"), None),
                "/apis/rbac.authorization.k8s.io/v1/namespaces/a%20b/roles/..%2Fx",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        assert_eq!(
            with_query("/p".into(), &[("a", "x=1,y"), ("b", "")]),
            "/p?a=x%3D1%2Cy"
        );
    }
}
