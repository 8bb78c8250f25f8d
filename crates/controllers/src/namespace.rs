//! The namespace controller (`pkg/controller/namespace/deletion`): a namespace with a
//! deletionTimestamp has its contents deleted, then loses its `kubernetes` finalizer, and with
//! that is gone.

use registry::{DeleteOptions, ListOptions, Registry, WatchOptions, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Deletes what a terminating namespace holds. Returns true when it is empty and its
/// `kubernetes` finalizer was removed.
pub fn finalize_namespace(registry: &Registry, name: &str) -> Result<bool, api_types::StatusError> {
    let mut remaining = 0;
    for def in registry::resources()
        .iter()
        .filter(|d| d.namespaced && !d.is_review())
    {
        let deleted = registry.delete_collection(
            def,
            Some(name),
            &ListOptions::default(),
            &DeleteOptions::default(),
        )?;
        // Objects with finalizers of their own stay until those are removed.
        remaining += deleted
            .iter()
            .filter(|o| {
                o.pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty())
            })
            .count();
    }
    if remaining > 0 {
        return Ok(false);
    }
    let ns_def = registry::served("", "namespaces");
    let ns = match registry.get(ns_def, "", name) {
        Ok(ns) => ns,
        Err(e) if e.code == 404 => return Ok(true),
        Err(e) => return Err(e),
    };
    let mut finalizers: Vec<Value> = ns
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    finalizers.retain(|f| f != "kubernetes");
    let mut body = ns.clone();
    body["spec"] = json!({"finalizers": finalizers});
    match registry.update(
        ns_def,
        "",
        name,
        body,
        Some("finalize"),
        &WriteOptions::by("kube-controller-manager"),
    ) {
        Ok(_) => Ok(true),
        Err(e) if e.code == 404 => Ok(true),
        Err(e) => Err(e),
    }
}

/// Watches namespaces and finalizes those being deleted; re-checks unfinished ones every
/// `resync` (objects with finalizers of their own may take a while).
pub async fn run_namespace_controller(registry: Arc<Registry>, resync: Duration) {
    let ns_def = registry::served("", "namespaces");
    loop {
        let opts = WatchOptions {
            timeout: Duration::from_secs(3600),
            ..Default::default()
        };
        let mut events = match registry.watch(ns_def, None, opts) {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "namespace controller: watch failed");
                tokio::time::sleep(resync).await;
                continue;
            }
        };
        let mut pending: Vec<String> = Vec::new();
        loop {
            let ev = tokio::select! {
                ev = events.recv() => ev,
                _ = tokio::time::sleep(resync), if !pending.is_empty() => {
                    pending.retain(|n| !matches!(finalize_namespace(&registry, n), Ok(true)));
                    continue;
                }
            };
            let Some(ev) = ev else { break };
            if ev.type_ == "ERROR" {
                break;
            }
            let terminating = ev
                .object
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null());
            let name = ev
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if ev.type_ == "DELETED" || !terminating || name.is_empty() {
                continue;
            }
            match finalize_namespace(&registry, &name) {
                Ok(true) => pending.retain(|n| *n != name),
                Ok(false) => {
                    if !pending.contains(&name) {
                        pending.push(name)
                    }
                }
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e, "namespace controller: finalize failed");
                    if !pending.contains(&name) {
                        pending.push(name)
                    }
                }
            }
        }
    }
}
