//! NamespaceLifecycle (`staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go`):
//! the system namespaces are never deleted; nothing new is created in a namespace that does
//! not exist or is terminating. Upstream reads an informer's cache and falls back to a live
//! read; the registry is the live read here, so no create waits for a cache to warm.

use crate::State;
use api_types::{Cause, GroupResource, StatusError};
use registry::{kinds, Admission};
use serde_json::Value;
use std::sync::Arc;

/// Namespaces that can never be deleted (`--immortal-namespaces`' defaults).
pub(crate) const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// A delete of an immortal namespace is refused.
pub(crate) fn delete(def: &registry::ResourceDef, name: &str) -> Result<(), StatusError> {
    if def.is(&kinds::NAMESPACES) && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(StatusError::forbidden(
            &def.group_resource(),
            name,
            "this namespace may not be deleted",
        ));
    }
    Ok(())
}

/// The check of a create of `def` in `namespace`.
pub(crate) fn create(
    state: &State,
    def: &'static registry::ResourceDef,
    namespace: &str,
) -> Admission {
    let (registry, namespace) = (state.registry.clone(), namespace.to_string());
    Arc::new(move |obj: &Value, _: Option<&Value>| {
        // From the watch cache, as upstream's plug-in reads its namespace lister (a miss is
        // looked up live): a create costs the store one write, not a read and a write.
        let ns = match registry.get_cached(&kinds::NAMESPACES, "", &namespace) {
            Ok(ns) => ns,
            Err(e) if e.code == 404 => {
                return Err(StatusError::not_found(
                    &GroupResource::new("", "namespaces"),
                    &namespace,
                ))
            }
            Err(e) => return Err(e),
        };
        if ns.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating") {
            return Ok(());
        }
        let why = format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        );
        let mut err = StatusError::forbidden(&def.group_resource(), &super::object_name(obj), &why);
        if let Some(d) = err.details.as_mut() {
            d.causes.push(Cause {
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {namespace} is being terminated"),
                field: "metadata.namespace".into(),
            });
        }
        Err(err)
    })
}

/// `admission.NewForbidden`'s name: the object's, else its generateName, else "Unknown" (a
/// create's name is not generated yet when admission runs).
/// NamespaceExists: the namespace must exist (404 `namespaces "x" not found`).
pub(crate) fn exists(state: &State, namespace: &str) -> Result<(), StatusError> {
    exists_in(&state.registry, namespace)
}

/// [`exists`] against a registry (for the check run inside the store).
pub(crate) fn exists_in(registry: &registry::Registry, namespace: &str) -> Result<(), StatusError> {
    match registry.get_cached(&kinds::NAMESPACES, "", namespace) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Err(StatusError::not_found(
            &GroupResource::new("", "namespaces"),
            namespace,
        )),
        Err(e) => Err(e),
    }
}

/// NamespaceAutoProvision: a missing namespace is created (one made meanwhile by another
/// writer is as good).
pub(crate) fn provision(state: &State, namespace: &str) -> Result<(), StatusError> {
    if exists(state, namespace).is_ok() {
        return Ok(());
    }
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    match state.registry.create(
        &kinds::NAMESPACES,
        "",
        ns,
        &registry::WriteOptions::by("kube-apiserver"),
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
