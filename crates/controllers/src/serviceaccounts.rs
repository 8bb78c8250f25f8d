//! Two per-namespace controllers of kube-controller-manager:
//! - the ServiceAccount controller (`pkg/controller/serviceaccount/serviceaccounts_controller.go`):
//!   every active namespace has a `default` service account, re-created if deleted;
//! - the root CA publisher (`pkg/controller/certificates/rootcacertpublisher/publisher.go`):
//!   every active namespace has the ConfigMap `kube-root-ca.crt` with the cluster CA under
//!   `ca.crt`, re-created if deleted and restored if changed.
//!
//! As upstream, each reads what its informers' listers would hold through the manager's
//! shared client (`read`) and writes with its own identity (`write`), so its role needs only
//! the verbs it writes with.

use crate::runtime::{reconcile, Action, Controller, Key, Watch};
use api_types::StatusError;
use registry::{Change, Client};
use serde_json::{json, Value};
use std::sync::Arc;

const ROOT_CA: &str = "kube-root-ca.crt";

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

async fn active(read: &dyn Client, ns: &str) -> Result<bool, StatusError> {
    match read.get(&registry::kinds::NAMESPACES, "", ns).await {
        Ok(n) => Ok(
            n.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating")
                && n.pointer("/metadata/deletionTimestamp")
                    .is_none_or(Value::is_null),
        ),
        Err(e) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// A create that lost a race to another writer (409), or to the namespace's deletion
/// (NamespaceLifecycle's 403), is done: the next change wakes the key again.
pub(crate) fn created(r: Result<Value, StatusError>) -> Result<Action, StatusError> {
    match r {
        Ok(_) => Ok(Action::Done),
        Err(e) if e.code == 409 => Ok(Action::Done),
        Err(e) if e.code == 403 && e.message.contains("because it is being terminated") => {
            Ok(Action::Done)
        }
        Err(e) => Err(e),
    }
}

/// The ServiceAccount controller's reconcile for one namespace: its `default` account exists.
pub async fn reconcile_service_account(
    read: &dyn Client,
    write: &dyn Client,
    ns: &str,
) -> Result<Action, StatusError> {
    if !active(read, ns).await? {
        return Ok(Action::Done);
    }
    match read
        .get(&registry::kinds::SERVICE_ACCOUNTS, ns, "default")
        .await
    {
        Ok(_) => Ok(Action::Done),
        Err(e) if e.code == 404 => {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
            created(
                write
                    .create(&registry::kinds::SERVICE_ACCOUNTS, ns, sa)
                    .await,
            )
        }
        Err(e) => Err(e),
    }
}

/// The root CA publisher's reconcile for one namespace: `kube-root-ca.crt` holds the CA.
pub async fn reconcile_root_ca(
    read: &dyn Client,
    write: &dyn Client,
    ns: &str,
    ca_pem: &str,
) -> Result<Action, StatusError> {
    if !active(read, ns).await? {
        return Ok(Action::Done);
    }
    let want = json!({"ca.crt": ca_pem});
    match read.get(&registry::kinds::CONFIG_MAPS, ns, ROOT_CA).await {
        Ok(cm) if cm.get("data") == Some(&want) => Ok(Action::Done),
        Ok(mut cm) => {
            cm["data"] = want;
            write
                .update(&registry::kinds::CONFIG_MAPS, ns, ROOT_CA, cm, None)
                .await?;
            Ok(Action::Done)
        }
        Err(e) if e.code == 404 => {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": ROOT_CA, "annotations": {"kubernetes.io/description": DESCRIPTION}},
                            "data": want});
            created(write.create(&registry::kinds::CONFIG_MAPS, ns, cm).await)
        }
        Err(e) => Err(e),
    }
}

/// A namespace's own key, from the namespace or from an object in it.
fn namespace_key(c: Change<'_>) -> Vec<Key> {
    let obj = c.object();
    let ns = crate::meta_str(obj, "namespace");
    vec![Key::new(
        "",
        if ns.is_empty() {
            crate::meta_str(obj, "name")
        } else {
            ns
        },
    )]
}

/// `serviceaccounts-controller`: woken by namespaces and `default` service accounts.
pub fn service_account_controller(read: Arc<dyn Client>, write: Arc<dyn Client>) -> Controller {
    Controller {
        name: "serviceaccount",
        watches: vec![
            Watch::objects(&registry::kinds::NAMESPACES).waking(namespace_key),
            Watch::objects(&registry::kinds::SERVICE_ACCOUNTS)
                .selecting("metadata.name=default")
                .waking(namespace_key),
        ],
        reconcile: reconcile(move |k| {
            let (read, write) = (read.clone(), write.clone());
            async move { reconcile_service_account(read.as_ref(), write.as_ref(), &k.name).await }
        }),
    }
}

/// `root-ca-cert-publisher`: woken by namespaces and `kube-root-ca.crt` ConfigMaps.
pub fn root_ca_publisher(
    read: Arc<dyn Client>,
    write: Arc<dyn Client>,
    ca_pem: String,
) -> Controller {
    let ca_pem = Arc::new(ca_pem);
    Controller {
        name: "root-ca-cert-publisher",
        watches: vec![
            Watch::objects(&registry::kinds::NAMESPACES).waking(namespace_key),
            Watch::objects(&registry::kinds::CONFIG_MAPS)
                .selecting(&format!("metadata.name={ROOT_CA}"))
                .waking(namespace_key),
        ],
        reconcile: reconcile(move |k| {
            let (read, write, ca_pem) = (read.clone(), write.clone(), ca_pem.clone());
            async move { reconcile_root_ca(read.as_ref(), write.as_ref(), &k.name, &ca_pem).await }
        }),
    }
}
