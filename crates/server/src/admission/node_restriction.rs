//! NodeRestriction (`plugin/pkg/admission/noderestriction/admission.go`): what the Node
//! authorizer lets every node do, limited to the node's own objects. A node writes only its
//! own Node and Lease, the status of pods bound to it, deletes only those pods, creates only
//! mirror pods bound to itself, and mints only tokens bound to its own pods. Messages are
//! upstream's, each inside the usual Forbidden.

use crate::State;
use api_types::{StatusError, UserInfo};
use authz::node::{node_identity, NODE_LEASE_NAMESPACE};
use registry::{kinds, ResourceDef};
use serde_json::Value;
use std::sync::Arc;

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn forbidden(def: &ResourceDef, name: &str, why: String) -> StatusError {
    StatusError::forbidden(&def.group_resource(), name, &why)
}

/// The node a request comes from, when it does (a `system:node:<name>` in `system:nodes`).
/// An unidentifiable node (no name) may do nothing here.
pub(super) fn node_of(user: &UserInfo) -> Option<&str> {
    node_identity(user)
}

/// Whether NodeRestriction looks at writes of this kind at all.
pub(super) fn handles(def: &ResourceDef) -> bool {
    [&kinds::PODS, &kinds::NODES, &kinds::LEASES]
        .iter()
        .any(|k| def.is(k))
}

/// The check on the final object of a create or update by `node`.
pub(super) fn admission(
    node: &str,
    def: &'static ResourceDef,
    subresource: &str,
    name: &str,
) -> registry::Admission {
    let (node, subresource, name) = (node.to_string(), subresource.to_string(), name.to_string());
    Arc::new(move |new: &Value, old: Option<&Value>| {
        let obj_name = match text(new, "/metadata/name") {
            "" => name.as_str(),
            n => n,
        };
        if def.is(&kinds::NODES) {
            if obj_name != node {
                return Err(forbidden(
                    def,
                    obj_name,
                    format!("node {node:?} is not allowed to modify node {obj_name:?}"),
                ));
            }
            return Ok(());
        }
        if def.is(&kinds::LEASES) {
            if text(new, "/metadata/namespace") != NODE_LEASE_NAMESPACE {
                return Err(forbidden(
                    def,
                    obj_name,
                    format!(
                        "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
                    ),
                ));
            }
            if obj_name != node {
                return Err(forbidden(
                    def,
                    obj_name,
                    "can only access node lease with the same name as the requesting node".into(),
                ));
            }
            return Ok(());
        }
        // Pods.
        match (old, subresource.as_str()) {
            (None, "") => {
                if text(new, &format!("/metadata/annotations/{}", MIRROR_ANNOTATION.replace('/', "~1")))
                    .is_empty()
                {
                    return Err(forbidden(
                        def,
                        obj_name,
                        format!("pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"),
                    ));
                }
                if text(new, "/spec/nodeName") != node {
                    return Err(forbidden(
                        def,
                        obj_name,
                        format!("node {node:?} can only create pods with spec.nodeName set to itself"),
                    ));
                }
                Ok(())
            }
            (Some(old), "status") => {
                if text(old, "/spec/nodeName") != node {
                    return Err(forbidden(
                        def,
                        obj_name,
                        format!("node {node:?} can only update pod status for pods with spec.nodeName set to itself"),
                    ));
                }
                Ok(())
            }
            (Some(_), "") => Err(forbidden(
                def,
                obj_name,
                format!("unexpected operation \"UPDATE\", node {node:?} can only create and delete mirror pods"),
            )),
            (_, other) => Err(forbidden(
                def,
                obj_name,
                format!("unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed"),
            )),
        }
    })
}

/// A delete by `node`: only a pod bound to itself (read as stored), or its own Node or
/// Lease.
pub(super) fn delete(
    state: &State,
    node: &str,
    def: &'static ResourceDef,
    namespace: &str,
    name: &str,
) -> Result<(), StatusError> {
    if def.is(&kinds::PODS) {
        let pod = state.registry.get(def, namespace, name)?;
        if text(&pod, "/spec/nodeName") != node {
            return Err(forbidden(
                def,
                name,
                format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
            ));
        }
    } else if def.is(&kinds::NODES) && name != node {
        return Err(forbidden(
            def,
            name,
            format!("node {node:?} is not allowed to modify node {name:?}"),
        ));
    } else if def.is(&kinds::LEASES) && (namespace != NODE_LEASE_NAMESPACE || name != node) {
        return Err(forbidden(
            def,
            name,
            "can only access node lease with the same name as the requesting node".into(),
        ));
    }
    Ok(())
}

/// A TokenRequest by a node (`admitServiceAccount`): bound to a pod, of that account, on
/// this node, with the pod's UID.
pub(crate) fn token_request(
    state: &State,
    user: &UserInfo,
    namespace: &str,
    account: &str,
    body: &Value,
) -> Result<(), StatusError> {
    let Some(node) = node_of(user) else {
        return Ok(());
    };
    let gr = api_types::GroupResource::new("", "serviceaccounts");
    let refused = |why: String| StatusError::forbidden(&gr, account, &why);
    let r = body
        .pointer("/spec/boundObjectRef")
        .filter(|v| !v.is_null());
    let Some(r) = r else {
        return Err(refused("node requested token not bound to a pod".into()));
    };
    if text(r, "/kind") != "Pod" {
        return Err(refused("node requested token not bound to a pod".into()));
    }
    let uid = text(r, "/uid");
    if uid.is_empty() {
        return Err(refused(
            "node requested token with a pod binding without a uid".into(),
        ));
    }
    let pod = state
        .registry
        .get(&kinds::PODS, namespace, text(r, "/name"))?;
    if text(&pod, "/metadata/uid") != uid {
        return Err(refused("the UID in the bound object reference does not match the UID in record. The object might have been deleted and then recreated".into()));
    }
    if text(&pod, "/spec/nodeName") != node {
        return Err(refused(
            "node requested token bound to a pod scheduled on a different node".into(),
        ));
    }
    Ok(())
}
