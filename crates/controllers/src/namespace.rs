//! The namespace controller (`pkg/controller/namespace/deletion`): a namespace with a
//! deletionTimestamp has its contents deleted, then loses its `kubernetes` finalizer, and with
//! that is gone. It acts as `system:serviceaccount:kube-system:namespace-controller`.

use crate::runtime::{reconcile, Action, Controller, Watch};
use api_types::StatusError;
use registry::{Client, ListOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Deletes what a terminating namespace holds. Returns true when it is empty and its
/// `kubernetes` finalizer was removed.
pub async fn finalize_namespace(client: &dyn Client, name: &str) -> Result<bool, StatusError> {
    let mut remaining = 0;
    for def in registry::resources()
        .iter()
        .filter(|d| d.namespaced && !d.is_review())
    {
        let deleted = client
            .delete_collection(def, name, &ListOptions::default())
            .await?;
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
    let ns = match client.get(ns_def, "", name).await {
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
    match client
        .update(ns_def, "", name, body, Some("finalize"))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.code == 404 => Ok(true),
        Err(e) => Err(e),
    }
}

/// The namespace controller, acting through `client` (its own identity): a terminating
/// namespace is emptied and finalized; one that still holds objects with finalizers of their
/// own is looked at again every `resync`.
pub fn namespace_controller(client: Arc<dyn Client>, resync: Duration) -> Controller {
    let ns_def = &registry::kinds::NAMESPACES;
    Controller {
        name: "namespace",
        watches: vec![Watch::objects(ns_def)],
        reconcile: reconcile(move |k| {
            let client = client.clone();
            async move {
                let terminating = match client.get(ns_def, "", &k.name).await {
                    Ok(ns) => ns
                        .pointer("/metadata/deletionTimestamp")
                        .is_some_and(|t| !t.is_null()),
                    Err(e) if e.code == 404 => false,
                    Err(e) => return Err(e),
                };
                if !terminating {
                    return Ok(Action::Done);
                }
                Ok(match finalize_namespace(client.as_ref(), &k.name).await? {
                    true => Action::Done,
                    false => Action::RequeueAfter(resync),
                })
            }
        }),
    }
}
