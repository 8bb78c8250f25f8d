//! The ClusterRole aggregation controller
//! (`pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`): a ClusterRole
//! with an `aggregationRule` gets, in selector order and by role name, the rules of every
//! ClusterRole its selectors match, each rule once. It reads through the manager's shared
//! client and writes as `system:serviceaccount:kube-system:clusterrole-aggregation-controller`,
//! whose role holds `escalate` on ClusterRoles for exactly this.

use crate::runtime::{reconcile, Action, Controller, Key, Watch};
use registry::meta::labels_of;
use registry::selectors::LabelSelector;
use registry::{Client, ListOptions};
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
pub async fn aggregate_all(
    read: &dyn Client,
    write: &dyn Client,
) -> Result<usize, api_types::StatusError> {
    let mut total = 0;
    for _ in 0..8 {
        let n = aggregate_once(read, write).await?;
        total += n;
        if n == 0 {
            break;
        }
    }
    Ok(total)
}

/// One pass over one list of every ClusterRole (the lister's view): each aggregated role
/// gets the rules of the roles its selectors match, in name order; a role written in the pass
/// is seen with its new rules by the roles after it.
async fn aggregate_once(
    read: &dyn Client,
    write: &dyn Client,
) -> Result<usize, api_types::StatusError> {
    let mut roles = read
        .list(
            &registry::kinds::CLUSTER_ROLES,
            None,
            &ListOptions::default(),
        )
        .await?
        .items;
    let mut written = 0;
    for i in 0..roles.len() {
        let role = &roles[i];
        if role.get("aggregationRule").is_none_or(Value::is_null) {
            continue;
        }
        let name = role["metadata"]["name"].as_str().unwrap_or("").to_string();
        let mut rules: Vec<Value> = Vec::new();
        for sel in role["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Ok(selector) = LabelSelector::parse(&selector_text(sel)) else {
                continue;
            };
            // The list is in name order, as the controller sorts the matches.
            for m in roles.iter().filter(|m| {
                m["metadata"]["name"] != name.as_str() && selector.matches(&labels_of(m))
            }) {
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
            roles[i] = write
                .update(&registry::kinds::CLUSTER_ROLES, "", &name, updated, None)
                .await?;
            written += 1;
        }
    }
    Ok(written)
}

/// The ClusterRole aggregation controller: any ClusterRole's change wakes the one key that
/// re-aggregates them all (a conflict with a concurrent writer is retried with back-off).
pub fn aggregation_controller(read: Arc<dyn Client>, write: Arc<dyn Client>) -> Controller {
    Controller {
        name: "clusterrole-aggregation",
        watches: vec![
            Watch::objects(&registry::kinds::CLUSTER_ROLES).waking(|_| vec![Key::new("", "")])
        ],
        reconcile: reconcile(move |_| {
            let (read, write) = (read.clone(), write.clone());
            async move {
                aggregate_all(read.as_ref(), write.as_ref())
                    .await
                    .map(|_| Action::Done)
            }
        }),
    }
}
