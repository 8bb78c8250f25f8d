//! Two per-namespace controllers of kube-controller-manager:
//! - the ServiceAccount controller (`pkg/controller/serviceaccount/serviceaccounts_controller.go`):
//!   every active namespace has a `default` service account, re-created if deleted;
//! - the root CA publisher (`pkg/controller/certificates/rootcacertpublisher/publisher.go`):
//!   every active namespace has the ConfigMap `kube-root-ca.crt` with the cluster CA under
//!   `ca.crt`, re-created if deleted and restored if changed.

use registry::{ListOptions, Registry, ResourceDef, WatchOptions, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

fn def(resource: &str) -> &'static ResourceDef {
    registry::served("", resource)
}

fn active(registry: &Registry, ns: &str) -> bool {
    registry.get(def("namespaces"), "", ns).is_ok_and(|n| {
        n.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating")
            && n.pointer("/metadata/deletionTimestamp")
                .is_none_or(Value::is_null)
    })
}

/// Makes `ns` hold what both controllers want. Errors are conflicts with concurrent writers
/// or a namespace that began terminating; the next event retries.
pub fn reconcile_namespace(registry: &Registry, ns: &str, ca_pem: &str) {
    if !active(registry, ns) {
        return;
    }
    if registry.get(def("serviceaccounts"), ns, "default").is_err() {
        let sa =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        let _ = registry.create(
            def("serviceaccounts"),
            ns,
            sa,
            &WriteOptions::by("kube-controller-manager"),
        );
    }
    let want = json!({"ca.crt": ca_pem});
    match registry.get(def("configmaps"), ns, "kube-root-ca.crt") {
        Ok(mut cm) if cm.get("data") != Some(&want) => {
            cm["data"] = want;
            let _ = registry.update(
                def("configmaps"),
                ns,
                "kube-root-ca.crt",
                cm,
                None,
                &WriteOptions::by("kube-controller-manager"),
            );
        }
        Ok(_) => {}
        Err(_) => {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": DESCRIPTION}},
                            "data": want});
            let _ = registry.create(
                def("configmaps"),
                ns,
                cm,
                &WriteOptions::by("kube-controller-manager"),
            );
        }
    }
}

/// Reconciles every namespace now, then on every change of a namespace, a `default` service
/// account or a `kube-root-ca.crt` ConfigMap.
pub async fn run_namespace_defaults(registry: Arc<Registry>, ca_pem: String) {
    if let Ok(all) = registry.list(def("namespaces"), None, &ListOptions::default()) {
        for ns in &all.items {
            reconcile_namespace(
                &registry,
                ns["metadata"]["name"].as_str().unwrap_or(""),
                &ca_pem,
            );
        }
    }
    let watches = [
        ("namespaces", ""),
        ("serviceaccounts", "metadata.name=default"),
        ("configmaps", "metadata.name=kube-root-ca.crt"),
    ];
    for (resource, fields) in watches {
        let (registry, ca_pem) = (registry.clone(), ca_pem.clone());
        tokio::spawn(async move {
            loop {
                let list = ListOptions {
                    field_selector: fields.into(),
                    ..Default::default()
                };
                let opts = WatchOptions {
                    list,
                    timeout: Duration::from_secs(3600),
                    ..Default::default()
                };
                let Ok(mut events) = registry.watch(def(resource), None, opts) else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                while let Some(ev) = events.recv().await {
                    if ev.type_ == "ERROR" {
                        break;
                    }
                    let ns = if resource == "namespaces" {
                        ev.object.pointer("/metadata/name")
                    } else {
                        ev.object.pointer("/metadata/namespace")
                    };
                    if let Some(ns) = ns.and_then(Value::as_str) {
                        reconcile_namespace(&registry, ns, &ca_pem);
                    }
                }
            }
        });
    }
}
