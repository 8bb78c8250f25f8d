//! The ClusterRole aggregation controller
//! (`pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`): a ClusterRole
//! with an `aggregationRule` gets, in selector order and by role name, the rules of every
//! ClusterRole its selectors match, each rule once.

use crate::runtime::{Action, AlwaysLeader, Controller, Key, Watch};
use registry::{ListOptions, Registry, WriteOptions};
use serde_json::Value;
use std::sync::Arc;

/// A `metav1.LabelSelector` as `labelSelector` text.
fn selector_text(sel: &Value) -> String {
    let mut terms = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        terms.extend(
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))),
        );
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or("");
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match e["operator"].as_str() {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("DoesNotExist") => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    terms.join(",")
}

/// Brings every aggregated ClusterRole up to date, repeating until nothing changes (an
/// aggregated role can feed another: view feeds edit, edit feeds admin). Returns how many
/// writes it took.
pub fn aggregate_all(registry: &Registry) -> Result<usize, api_types::StatusError> {
    let mut total = 0;
    for _ in 0..8 {
        let n = aggregate_once(registry)?;
        total += n;
        if n == 0 {
            break;
        }
    }
    Ok(total)
}

fn aggregate_once(registry: &Registry) -> Result<usize, api_types::StatusError> {
    let all = registry.list(
        &registry::kinds::CLUSTER_ROLES,
        None,
        &ListOptions::default(),
    )?;
    let mut written = 0;
    for role in all
        .items
        .iter()
        .filter(|r| r.get("aggregationRule").is_some_and(|a| !a.is_null()))
    {
        let name = role["metadata"]["name"].as_str().unwrap_or("").to_string();
        let mut rules: Vec<Value> = Vec::new();
        for sel in role["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let opts = ListOptions {
                label_selector: selector_text(sel),
                ..Default::default()
            };
            let Ok(matched) = registry.list(&registry::kinds::CLUSTER_ROLES, None, &opts) else {
                continue;
            };
            // Lists come back in name order, as the controller sorts them.
            for m in matched
                .items
                .iter()
                .filter(|m| m["metadata"]["name"] != name.as_str())
            {
                for r in m
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if !rules.contains(r) {
                        rules.push(r.clone());
                    }
                }
            }
        }
        let current: Vec<Value> = role
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if current != rules {
            let mut updated = role.clone();
            updated["rules"] = Value::Array(rules);
            match registry.update(
                &registry::kinds::CLUSTER_ROLES,
                "",
                &name,
                updated,
                None,
                &WriteOptions::by("kube-controller-manager"),
            ) {
                Ok(_) => written += 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(written)
}

/// The ClusterRole aggregation controller: any ClusterRole's change wakes the one key that
/// re-aggregates them all (a conflict with a concurrent writer is retried with back-off).
pub fn aggregation_controller(registry: Arc<Registry>) -> Controller {
    Controller {
        name: "clusterrole-aggregation",
        watches: vec![
            Watch::objects(&registry::kinds::CLUSTER_ROLES).waking(|_| vec![Key::new("", "")])
        ],
        reconcile: Arc::new(move |_: &Key| aggregate_all(&registry).map(|_| Action::Done)),
    }
}

/// Runs the aggregation controller.
pub async fn run_aggregation_controller(registry: Arc<Registry>) {
    aggregation_controller(registry.clone())
        .run(registry, Arc::new(AlwaysLeader))
        .await;
}
