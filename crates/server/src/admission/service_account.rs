//! The ServiceAccount plug-in (`plugin/pkg/admission/serviceaccount/admission.go`): a pod
//! being created gets its service account (`default` unless named), and, unless it or the
//! account opts out, the projected token volume and its mount in every container.

use crate::State;
use api_types::{GroupResource, StatusError};
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ServiceAccount plugin's Admit for a pod create in `ns`.
pub(crate) async fn service_account_for_pod(
    state: &State,
    ns: &str,
    mut pod: Value,
) -> Result<Value, StatusError> {
    if pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Ok(pod);
    }
    let Some(fields) = pod.as_object_mut() else {
        return Ok(pod);
    };
    let spec = fields.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        return Ok(pod);
    }
    // The deprecated `serviceAccount` fills an empty `serviceAccountName` (v1 defaulting).
    let mut sa_name = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if sa_name.is_empty() {
        sa_name = spec
            .get("serviceAccount")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        spec["serviceAccountName"] = sa_name.clone().into();
    }
    let pod_name = super::object_name(&pod);
    let sa_def = &registry::kinds::SERVICE_ACCOUNTS;
    // `default` may not exist yet in a new namespace: wait for the ServiceAccount controller,
    // as upstream does (10 attempts, 100–199 ms apart).
    let attempts = if sa_name == "default" { 10 } else { 1 };
    let mut sa = None;
    for i in 0..attempts {
        match state.registry.get(sa_def, ns, &sa_name) {
            Ok(found) => {
                sa = Some(found);
                break;
            }
            Err(e) if e.code != 404 => return Err(e),
            Err(_) if i + 1 < attempts => {
                let wait = Duration::from_millis(100 + state.registry.random_below(100));
                tokio::time::sleep(wait).await
            }
            Err(_) => {}
        }
    }
    let Some(sa) = sa else {
        return Err(StatusError::forbidden(
            &GroupResource::new("", "pods"),
            &pod_name,
            &format!("error looking up service account {ns}/{sa_name}: serviceaccount {sa_name:?} not found"),
        ));
    };
    // Legacy mode (Kubernetes <= 1.23): the account's token Secret is mounted instead of the
    // projected volume; it may still be on its way from the tokens controller.
    let legacy_secret = if state.legacy_token_secrets {
        let mut found = None;
        for _ in 0..20 {
            let current = state
                .registry
                .get(sa_def, ns, &sa_name)
                .unwrap_or_else(|_| sa.clone());
            found = current
                .get("secrets")
                .and_then(Value::as_array)
                .and_then(|l| {
                    l.iter()
                        .find_map(|s| s["name"].as_str().map(str::to_string))
                });
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(found.ok_or_else(|| {
            StatusError::forbidden(
                &GroupResource::new("", "pods"),
                &pod_name,
                &format!("no API token found for service account {sa_name:?}, retry after the token is automatically created and added to the service account"),
            )
        })?)
    } else {
        None
    };
    let spec = pod["spec"].as_object_mut().expect("checked above");
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            sa.get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if automount {
        let existing = spec
            .get("volumes")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter().find_map(|v| {
                    v["name"]
                        .as_str()
                        .filter(|n| n.starts_with("kube-api-access-"))
                })
            })
            .map(str::to_string);
        let volume = match (&legacy_secret, &existing) {
            (Some(secret), _) => secret.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => format!("kube-api-access-{}", state.registry.name_suffix()),
        };
        let mut added = false;
        for list in ["initContainers", "containers"] {
            for c in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(c) = c.as_object_mut() else { continue };
                let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
                let Some(mounts) = mounts.as_array_mut() else {
                    continue;
                };
                if mounts.iter().any(|m| m["mountPath"] == TOKEN_MOUNT_PATH) {
                    continue;
                }
                mounts
                    .push(json!({"name": volume, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}));
                added = true;
            }
        }
        if added && legacy_secret.is_some() {
            let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Some(vs) = volumes.as_array_mut() {
                vs.push(
                    json!({"name": volume, "secret": {"secretName": volume, "defaultMode": 420}}),
                );
            }
        } else if added && existing.is_none() {
            let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Some(vs) = volumes.as_array_mut() {
                vs.push(json!({
                    "name": volume,
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                        ]
                    }
                }));
            }
        }
    }
    let no_pull_secrets = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_pull_secrets {
        if let Some(ps) = sa
            .get("imagePullSecrets")
            .filter(|p| p.as_array().is_some_and(|a| !a.is_empty()))
        {
            spec.insert("imagePullSecrets".into(), ps.clone());
        }
    }
    Ok(pod)
}
