//! Feeds the RBAC index from the API (list, then watch, for each of the four RBAC
//! resources), as kube-apiserver's RBAC authorizer is fed by informers over its loopback
//! client. A binding written through the API reaches the index with its watch event.

use authz::rbac::{Binding, Index, PolicyRule, RoleRef, Subject};
use registry::{kinds, Change, Client, Informer, ResourceDef};
use serde_json::Value;
use std::sync::Arc;

const RESOURCES: [&ResourceDef; 4] = [
    &kinds::CLUSTER_ROLES,
    &kinds::ROLES,
    &kinds::CLUSTER_ROLE_BINDINGS,
    &kinds::ROLE_BINDINGS,
];

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Applies one object of `def` (or its removal) to the index.
pub fn apply(index: &Index, def: &ResourceDef, obj: &Value, deleted: bool) {
    let (ns, name) = (meta(obj, "namespace"), meta(obj, "name"));
    match def.is(&kinds::CLUSTER_ROLES) || def.is(&kinds::ROLES) {
        true => {
            let rules = (!deleted).then(|| {
                obj.get("rules")
                    .and_then(Value::as_array)
                    .map(|rs| {
                        rs.iter()
                            .filter_map(|r| serde_json::from_value::<PolicyRule>(r.clone()).ok())
                            .collect()
                    })
                    .unwrap_or_default()
            });
            index.set_role(ns, name, rules);
        }
        _ => {
            let binding = (!deleted).then(|| Binding {
                namespace: ns.to_string(),
                name: name.to_string(),
                subjects: obj
                    .get("subjects")
                    .and_then(Value::as_array)
                    .map(|ss| {
                        ss.iter()
                            .filter_map(|s| serde_json::from_value::<Subject>(s.clone()).ok())
                            .collect()
                    })
                    .unwrap_or_default(),
                role_ref: obj
                    .get("roleRef")
                    .and_then(|r| serde_json::from_value::<RoleRef>(r.clone()).ok())
                    .unwrap_or_default(),
            });
            index.set_binding(ns, name, binding);
        }
    }
}

/// Loads every RBAC object into the index (before the server answers its first request);
/// returns the informers, which [`run_rbac_informer`] then keeps following. `client` must be
/// one the index does not authorize (the apiserver's own, in `system:masters`).
pub async fn sync(
    client: &dyn Client,
    index: &Index,
) -> Result<Vec<Informer>, api_types::StatusError> {
    let mut informers = Vec::new();
    for r in RESOURCES {
        let mut informer = Informer::new(r, "");
        informer.list(client, &mut |c| change(index, r, c)).await?;
        informers.push(informer);
    }
    Ok(informers)
}

fn change(index: &Index, resource: &ResourceDef, c: Change<'_>) {
    match c {
        Change::Applied(obj) => apply(index, resource, obj, false),
        Change::Deleted(obj) => apply(index, resource, obj, true),
    }
}

/// Keeps the index current: each RBAC resource's informer, from the revision `sync` read;
/// a re-list after a watch ends tells the index what was removed meanwhile.
pub async fn run_rbac_informer(
    client: Arc<dyn Client>,
    index: Arc<Index>,
    informers: Vec<Informer>,
) {
    for informer in informers {
        let (client, index) = (client.clone(), index.clone());
        let resource = informer.def();
        tokio::spawn(informer.run(client, move |c| change(&index, resource, c)));
    }
}

/// Feeds the Node authorizer's graph with every pod, as kube-apiserver's graph populator
/// does from its pod informer: loaded before this returns, then kept current on a task.
pub async fn sync_node_graph(
    client: Arc<dyn Client>,
    graph: Arc<authz::node::NodeAuthorizer>,
) -> Result<(), api_types::StatusError> {
    let mut informer = Informer::new(&kinds::PODS, "");
    let pod = |graph: &authz::node::NodeAuthorizer, c: Change<'_>| {
        let (obj, gone) = match c {
            Change::Applied(o) => (o, false),
            Change::Deleted(o) => (o, true),
        };
        graph.set_pod(
            meta(obj, "namespace"),
            meta(obj, "name"),
            (!gone).then_some(obj),
        );
    };
    informer
        .list(client.as_ref(), &mut |c| pod(&graph, c))
        .await?;
    tokio::spawn(informer.run(client, move |c| pod(&graph, c)));
    Ok(())
}
