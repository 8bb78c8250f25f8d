//! The namespace controller (`pkg/controller/namespace/deletion`): a namespace with a
//! deletionTimestamp has its contents deleted, then loses its `kubernetes` finalizer, and with
//! that is gone.

use crate::runtime::{Action, AlwaysLeader, Controller, Key, Watch};
use registry::{DeleteOptions, ListOptions, Registry, WriteOptions};
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
    let ns_def = &registry::kinds::NAMESPACES;
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

/// The namespace controller: a terminating namespace is emptied and finalized; one that still
/// holds objects with finalizers of their own is looked at again every `resync`.
pub fn namespace_controller(registry: Arc<Registry>, resync: Duration) -> Controller {
    let ns_def = &registry::kinds::NAMESPACES;
    Controller {
        name: "namespace",
        watches: vec![Watch::objects(ns_def)],
        reconcile: Arc::new(move |k: &Key| {
            let terminating = match registry.get(ns_def, "", &k.name) {
                Ok(ns) => ns
                    .pointer("/metadata/deletionTimestamp")
                    .is_some_and(|t| !t.is_null()),
                Err(e) if e.code == 404 => false,
                Err(e) => return Err(e),
            };
            if !terminating {
                return Ok(Action::Done);
            }
            Ok(match finalize_namespace(&registry, &k.name)? {
                true => Action::Done,
                false => Action::RequeueAfter(resync),
            })
        }),
    }
}

/// Runs the namespace controller.
pub async fn run_namespace_controller(registry: Arc<Registry>, resync: Duration) {
    namespace_controller(registry.clone(), resync)
        .run(registry, Arc::new(AlwaysLeader))
        .await;
}
