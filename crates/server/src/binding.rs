//! `pods/binding` (`pkg/registry/core/pod/storage/storage.go`, `BindingREST`): a `Binding`
//! assigns a pod to a node, once. The transition itself is the pod kind's
//! (`registry::kinds::bind_pod`); this is the request around it: the body checked as
//! upstream checks it, admission of a create, the write as one read-modify-write of the pod.

use crate::admission;
use crate::handlers::Req;
use crate::negotiate;
use crate::respond::{self, Resp};
use crate::State;
use api_types::{GroupResource, StatusError};
use registry::kinds;
use registry::validation::FieldErrors;
use serde_json::{json, Map, Value};

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// POST on `pods/<name>/binding`: 201 with a success Status.
pub(crate) fn create(state: &State, r: &Req<'_>) -> Result<Resp, StatusError> {
    // The one verb it declares, as the handlers answer any other subresource's others.
    if r.info.verb != "create" {
        return Err(StatusError::method_not_supported(
            &kinds::PODS.group_resource(),
            &r.info.verb,
        ));
    }
    let (binding, _) = negotiate::decode_body("Binding", r.header("content-type"), &r.body)?;
    let kind = text(&binding, "/kind");
    if !kind.is_empty() && kind != "Binding" {
        return Err(StatusError::bad_request(format!(
            "not a Binding object: {kind}"
        )));
    }
    let name = r.info.name.as_str();
    if text(&binding, "/metadata/name") != name {
        return Err(StatusError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    // `ValidatePodBinding`.
    let mut errs = FieldErrors::default();
    let target_kind = binding
        .pointer("/target/kind")
        .cloned()
        .unwrap_or(Value::Null);
    if !text(&binding, "/target/kind").is_empty() && target_kind != "Node" {
        errs.not_supported("target.kind", &target_kind, &["Node", "<empty>"]);
    }
    let node = text(&binding, "/target/name").to_string();
    if node.is_empty() {
        errs.required("target.name", "");
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid("", "Binding", "Binding", name, errs.0));
    }
    let attrs = r.admission(admission::Operation::Create);
    if let Some(admit) = admission::on_create(state, &attrs) {
        admit(&binding, None)?;
    }
    let dry_run = r.query.write_options()?.dry_run;
    let (want_uid, want_rv) = (
        text(&binding, "/metadata/uid").to_string(),
        text(&binding, "/metadata/resourceVersion").to_string(),
    );
    let annotations: Map<String, Value> = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let now = api_types::format_rfc3339(state.registry.now());
    let pods = kinds::PODS.group_resource();
    state.registry.guaranteed_update(
        &kinds::PODS,
        r.ns(),
        name,
        dry_run,
        &|pod: &mut Value| {
            // Storage preconditions: a Conflict on the pod itself.
            let (uid, rv) = (text(pod, "/metadata/uid"), text(pod, "/metadata/resourceVersion"));
            if !want_uid.is_empty() && want_uid != uid {
                return Err(StatusError::conflict(&pods, name, &format!(
                    "Precondition failed: UID in precondition: {want_uid}, UID in object meta: {uid}"
                )));
            }
            if !want_rv.is_empty() && want_rv != rv {
                return Err(StatusError::conflict(&pods, name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {want_rv}, ResourceVersion in object meta: {rv}"
                )));
            }
            kinds::bind_pod(pod, &node, &annotations, &now).map_err(|why| {
                StatusError::conflict(&GroupResource::new("", "pods/binding"), name, &why)
            })
        },
    )?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(respond::object(
        201,
        &status,
        r.output()?.without_table(),
        &[],
    ))
}
