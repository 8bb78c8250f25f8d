//! kube-apiserver's post-start hooks that concern access, run before the first request: the
//! system namespaces (`start-system-namespaces-controller`), `rbac/bootstrap-roles` (the
//! default policy created and reconciled), the aggregated roles completed once, and the RBAC
//! index loaded, then kept current by its informers. All of it
//! goes through `apiserver`, the server's own in-process client (`system:apiserver` in
//! `system:masters`, authorized before the index it fills is consulted).

use crate::{aggregation, bootstrap, rbac};
use api_types::StatusError;
use registry::Client;
use serde_json::Value;
use std::sync::Arc;

/// The namespaces the control plane relies on.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Runs the hooks; with `index` (RBAC authorization), loads it and spawns its informers.
pub async fn post_start(
    apiserver: Arc<dyn Client>,
    index: Option<Arc<authz::rbac::Index>>,
) -> Result<(), StatusError> {
    let namespaces = &registry::kinds::NAMESPACES;
    for name in SYSTEM_NAMESPACES {
        // Read first: a restart writes nothing.
        match apiserver.get(namespaces, "", name).await {
            Ok(_) => continue,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        let ns = serde_json::json!({"metadata": {"name": name}});
        match apiserver.create(namespaces, "", ns).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    until_done("the bootstrap policy", || {
        bootstrap::ensure_bootstrap_policy(apiserver.as_ref())
    })
    .await?;
    tracing::debug!("post-start: bootstrap policy reconciled");
    // The aggregation controller keeps them so afterwards, as its own identity.
    until_done("the aggregated roles", || {
        aggregation::aggregate_all(apiserver.as_ref(), apiserver.as_ref())
    })
    .await?;
    tracing::debug!("post-start: roles aggregated");
    if let Some(index) = index {
        let informers = rbac::sync(apiserver.as_ref(), &index).await?;
        tokio::spawn(rbac::run_rbac_informer(apiserver, index, informers));
    }
    Ok(())
}

/// Runs `step` again every 100 ms while it fails, for at most 30 s, as upstream's
/// `rbac/bootstrap-roles` hook polls: a replica starting beside another makes the same writes,
/// and one the other made first (a 409) is simply read again on the next round.
pub async fn until_done<T, F, Fut>(what: &str, mut step: F) -> Result<T, StatusError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StatusError>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match step().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "post-start: {what} not done yet; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// kube-apiserver's `kubernetes` Service in `default` (`pkg/controlplane/controller/
/// kubernetesservice`): where clients inside the cluster reach the API. As upstream: the first
/// IP of the service range (`service_ip`), port 443 named `https`, target port the secure port;
/// its Endpoints say where the server really listens (`endpoint_ip`:`port`), which is what a
/// pod's `KUBERNETES_SERVICE_*` variables say too, pods sharing the host's network here.
/// Created when missing; its ports put right when the server moved (a restart on another
/// port), its cluster IP left as it was given (it cannot change).
pub async fn ensure_kubernetes_service(
    apiserver: &dyn Client,
    service_ip: &str,
    endpoint_ip: &str,
    port: u16,
) -> Result<(), StatusError> {
    let def = &registry::kinds::SERVICES;
    let ports =
        serde_json::json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]);
    ensure_kubernetes_endpoints(apiserver, endpoint_ip, port).await?;
    ensure_kubernetes_endpoint_slice(apiserver, endpoint_ip, port).await?;
    match apiserver.get(def, "default", "kubernetes").await {
        Ok(mut svc) => {
            if svc["spec"].get("ports") == Some(&ports) {
                return Ok(());
            }
            svc["spec"]["ports"] = ports;
            apiserver
                .update(def, "default", "kubernetes", svc, None)
                .await
                .map(|_| ())
        }
        Err(e) if e.code == 404 => {
            let svc = serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": service_ip, "ports": ports, "sessionAffinity": "None", "type": "ClusterIP"},
            });
            match apiserver.create(def, "default", svc).await {
                Ok(_) => Ok(()),
                Err(e) if e.code == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The `kubernetes` Service's EndpointSlice, as upstream's endpoints adapter derives it from
/// the Endpoints (`pkg/controlplane/reconcilers/endpointsadapter.go`): named after the
/// Service, labelled with it, one ready endpoint, the same port.
async fn ensure_kubernetes_endpoint_slice(
    apiserver: &dyn Client,
    ip: &str,
    port: u16,
) -> Result<(), StatusError> {
    let def = &registry::kinds::ENDPOINT_SLICES;
    let address_type = if ip.contains(':') { "IPv6" } else { "IPv4" };
    let want = serde_json::json!({
        "addressType": address_type,
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    let same = |have: &Value| {
        ["addressType", "endpoints", "ports"]
            .iter()
            .all(|k| have.get(*k) == want.get(*k))
    };
    match apiserver.get(def, "default", "kubernetes").await {
        Ok(have) if same(&have) => Ok(()),
        Ok(have) if have.get("addressType") != want.get("addressType") => {
            // The address type is immutable: a new slice.
            apiserver
                .delete(def, "default", "kubernetes", &Default::default())
                .await?;
            create_kubernetes_slice(apiserver, want).await
        }
        Ok(mut have) => {
            have["endpoints"] = want["endpoints"].clone();
            have["ports"] = want["ports"].clone();
            apiserver
                .update(def, "default", "kubernetes", have, None)
                .await
                .map(|_| ())
        }
        Err(e) if e.code == 404 => create_kubernetes_slice(apiserver, want).await,
        Err(e) => Err(e),
    }
}

async fn create_kubernetes_slice(
    apiserver: &dyn Client,
    mut slice: Value,
) -> Result<(), StatusError> {
    slice["apiVersion"] = "discovery.k8s.io/v1".into();
    slice["kind"] = "EndpointSlice".into();
    slice["metadata"] = serde_json::json!({"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}});
    match apiserver
        .create(&registry::kinds::ENDPOINT_SLICES, "default", slice)
        .await
    {
        // 404: discovery.k8s.io/v1 is turned off (`--runtime-config`): no slice to keep.
        Ok(_)
        | Err(StatusError {
            code: 409 | 404, ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The `kubernetes` Service's Endpoints (the endpoint reconciler's): the server's address.
async fn ensure_kubernetes_endpoints(
    apiserver: &dyn Client,
    ip: &str,
    port: u16,
) -> Result<(), StatusError> {
    let def = &registry::kinds::ENDPOINTS;
    let subsets = serde_json::json!([{"addresses": [{"ip": ip}],
                                      "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]);
    match apiserver.get(def, "default", "kubernetes").await {
        Ok(ep) if ep.get("subsets") == Some(&subsets) => Ok(()),
        Ok(mut ep) => {
            ep["subsets"] = subsets;
            apiserver
                .update(def, "default", "kubernetes", ep, None)
                .await
                .map(|_| ())
        }
        Err(e) if e.code == 404 => {
            let ep = serde_json::json!({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": subsets,
            });
            match apiserver.create(def, "default", ep).await {
                Ok(_) | Err(StatusError { code: 409, .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
