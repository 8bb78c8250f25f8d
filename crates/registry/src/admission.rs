//! Admission that every cluster runs and that the registry calls in its write path:
//! NamespaceLifecycle (`plugin/pkg/admission/namespace/lifecycle/admission.go`).
//! Plugins that need other objects (ServiceAccount, ...) arrive with their issues.

use crate::kinds;
use crate::resource::ResourceDef;
use api_types::{Cause, GroupResource, StatusError};
use serde_json::Value;

/// Namespaces that can never be deleted.
pub const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// Refuses a create in a namespace that is missing or terminating. `namespace` is the
/// namespace object, if it exists.
pub fn namespace_allows_create(
    def: &ResourceDef,
    name: &str,
    ns_name: &str,
    namespace: Option<&Value>,
) -> Result<(), StatusError> {
    let Some(ns) = namespace else {
        return Err(StatusError::not_found(
            &GroupResource::new("", "namespaces"),
            ns_name,
        ));
    };
    let terminating = ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        || ns
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
    if terminating {
        let why = format!(
            "unable to create new content in namespace {ns_name} because it is being terminated"
        );
        let mut err = StatusError::forbidden(&def.group_resource(), name, &why);
        if let Some(d) = err.details.as_mut() {
            d.causes.push(Cause {
                reason: "NamespaceTerminating".into(),
                message: why.clone(),
                field: "metadata.namespace".into(),
            });
        }
        return Err(err);
    }
    Ok(())
}

/// Refuses deleting the namespaces the control plane itself relies on.
pub fn namespace_allows_delete(def: &ResourceDef, name: &str) -> Result<(), StatusError> {
    if def.is(&kinds::NAMESPACES) && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(StatusError::forbidden(
            &def.group_resource(),
            name,
            "this namespace may not be deleted",
        ));
    }
    Ok(())
}
