//! Two per-namespace controllers of kube-controller-manager:
//! - the ServiceAccount controller (`pkg/controller/serviceaccount/serviceaccounts_controller.go`):
//!   every active namespace has a `default` service account, re-created if deleted;
//! - the root CA publisher (`pkg/controller/certificates/rootcacertpublisher/publisher.go`):
//!   every active namespace has the ConfigMap `kube-root-ca.crt` with the cluster CA under
//!   `ca.crt`, re-created if deleted and restored if changed.

use crate::runtime::{Action, AlwaysLeader, Controller, Elector, Key, Watch};
use api_types::StatusError;
use registry::{Change, Registry, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;

const ROOT_CA: &str = "kube-root-ca.crt";

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

fn active(registry: &Registry, ns: &str) -> Result<bool, StatusError> {
    match registry.get(&registry::kinds::NAMESPACES, "", ns) {
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
pub(crate) fn created(r: Result<registry::Written, StatusError>) -> Result<Action, StatusError> {
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
pub fn reconcile_service_account(registry: &Registry, ns: &str) -> Result<Action, StatusError> {
    if !active(registry, ns)? {
        return Ok(Action::Done);
    }
    match registry.get(&registry::kinds::SERVICE_ACCOUNTS, ns, "default") {
        Ok(_) => Ok(Action::Done),
        Err(e) if e.code == 404 => {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
            created(registry.create(
                &registry::kinds::SERVICE_ACCOUNTS,
                ns,
                sa,
                &WriteOptions::by("kube-controller-manager"),
            ))
        }
        Err(e) => Err(e),
    }
}

/// The root CA publisher's reconcile for one namespace: `kube-root-ca.crt` holds the CA.
pub fn reconcile_root_ca(
    registry: &Registry,
    ns: &str,
    ca_pem: &str,
) -> Result<Action, StatusError> {
    if !active(registry, ns)? {
        return Ok(Action::Done);
    }
    let want = json!({"ca.crt": ca_pem});
    match registry.get(&registry::kinds::CONFIG_MAPS, ns, ROOT_CA) {
        Ok(cm) if cm.get("data") == Some(&want) => Ok(Action::Done),
        Ok(mut cm) => {
            cm["data"] = want;
            registry.update(
                &registry::kinds::CONFIG_MAPS,
                ns,
                ROOT_CA,
                cm,
                None,
                &WriteOptions::by("kube-controller-manager"),
            )?;
            Ok(Action::Done)
        }
        Err(e) if e.code == 404 => {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": ROOT_CA, "annotations": {"kubernetes.io/description": DESCRIPTION}},
                            "data": want});
            created(registry.create(
                &registry::kinds::CONFIG_MAPS,
                ns,
                cm,
                &WriteOptions::by("kube-controller-manager"),
            ))
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
pub fn service_account_controller(registry: Arc<Registry>) -> Controller {
    Controller {
        name: "serviceaccount",
        watches: vec![
            Watch::objects(&registry::kinds::NAMESPACES).waking(namespace_key),
            Watch::objects(&registry::kinds::SERVICE_ACCOUNTS)
                .selecting("metadata.name=default")
                .waking(namespace_key),
        ],
        reconcile: Arc::new(move |k: &Key| reconcile_service_account(&registry, &k.name)),
    }
}

/// `root-ca-cert-publisher`: woken by namespaces and `kube-root-ca.crt` ConfigMaps.
pub fn root_ca_publisher(registry: Arc<Registry>, ca_pem: String) -> Controller {
    Controller {
        name: "root-ca-cert-publisher",
        watches: vec![
            Watch::objects(&registry::kinds::NAMESPACES).waking(namespace_key),
            Watch::objects(&registry::kinds::CONFIG_MAPS)
                .selecting(&format!("metadata.name={ROOT_CA}"))
                .waking(namespace_key),
        ],
        reconcile: Arc::new(move |k: &Key| reconcile_root_ca(&registry, &k.name, &ca_pem)),
    }
}

/// Runs both per-namespace controllers.
pub async fn run_namespace_defaults(registry: Arc<Registry>, ca_pem: String) {
    let leader: Arc<dyn Elector> = Arc::new(AlwaysLeader);
    tokio::spawn(
        service_account_controller(registry.clone()).run(registry.clone(), leader.clone()),
    );
    root_ca_publisher(registry.clone(), ca_pem)
        .run(registry, leader)
        .await;
}
