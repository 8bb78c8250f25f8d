//! kube-apiserver's post-start hooks that concern access, run before the first request: the
//! system namespaces (`start-system-namespaces-controller`), `rbac/bootstrap-roles` (the
//! default policy created and reconciled), the aggregated roles completed once, and the RBAC
//! index loaded, then kept current by its informers. All of it
//! goes through `apiserver`, the server's own in-process client (`system:apiserver` in
//! `system:masters`, authorized before the index it fills is consulted).

use crate::{aggregation, bootstrap, rbac};
use api_types::StatusError;
use registry::Client;
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
    bootstrap::ensure_bootstrap_policy(apiserver.as_ref()).await?;
    tracing::debug!("post-start: bootstrap policy reconciled");
    // The aggregation controller keeps them so afterwards, as its own identity.
    aggregation::aggregate_all(apiserver.as_ref(), apiserver.as_ref()).await?;
    tracing::debug!("post-start: roles aggregated");
    if let Some(index) = index {
        let informers = rbac::sync(apiserver.as_ref(), &index).await?;
        tokio::spawn(rbac::run_rbac_informer(apiserver, index, informers));
    }
    Ok(())
}
