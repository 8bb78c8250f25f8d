//! `customresourcedefinitions.apiextensions.k8s.io/v1`, answered as kubeward has them: none.
//!
//! kubectl 1.27–1.33 decides whether a kind takes `fieldValidation` from OpenAPI. For a kind
//! with no PATCH operation (every review) its v3 check fails and it reads `/openapi/v2`; there,
//! finding no PATCH for the kind but one for Namespace that takes the parameter, it lists CRDs
//! to learn whether the kind is a custom one (cli-runtime's `query_param_verifier.go`,
//! `CRDFromDynamic`). The list must answer, and answer that there are none, or
//! `kubectl create -f review.yaml` fails with `failed to check CRD`. A user who may not list
//! CRDs meets that failure here as on kube-apiserver: the request is authorized as any.
//!
//! The collection is not in discovery and its kind not in OpenAPI: nothing can be created in
//! it, and clients that look for CRDs through discovery learn that there are none the same way.

use crate::negotiate::Output;
use crate::respond::{self, Resp};
use crate::State;
use api_types::{GroupResource, StatusError};
use request_info::RequestInfo;

const GROUP: &str = "apiextensions.k8s.io";
const VERSION: &str = "v1";
const RESOURCE: &str = "customresourcedefinitions";

/// Whether the request is for the CRD collection or one of its (absent) objects.
pub(crate) fn is_crd_request(info: &RequestInfo) -> bool {
    info.is_resource_request
        && info.api_group == GROUP
        && info.api_version == VERSION
        && info.resource == RESOURCE
        && info.namespace.is_empty()
}

/// The answer: an empty list (its options have nothing to select from), a NotFound for a
/// name, and no other verb.
pub(crate) fn handle(
    state: &State,
    info: &RequestInfo,
    headers: &http::HeaderMap,
) -> Result<Resp, StatusError> {
    let gr = GroupResource {
        group: GROUP.into(),
        resource: RESOURCE.into(),
    };
    if !info.subresource.is_empty() {
        return Err(StatusError::path_not_found());
    }
    match info.verb.as_str() {
        "list" => {
            let out = crate::negotiate::output(
                headers.get("accept").and_then(|v| v.to_str().ok()),
                false,
            )?;
            let revision = state
                .registry
                .storage()
                .current_revision()
                .map_err(|e| StatusError::internal(e.to_string()))?;
            // The list as upstream's encoder writes it (TypeMeta, ListMeta, items); the wire
            // schema has no apiextensions kinds to order the fields by.
            let json = format!(
                "{{\"kind\":\"CustomResourceDefinitionList\",\"apiVersion\":\"{GROUP}/{VERSION}\",\"metadata\":{{\"resourceVersion\":\"{revision}\"}},\"items\":[]}}\n"
            );
            Ok(match out {
                Output::Yaml => {
                    let list: serde_json::Value =
                        serde_json::from_str(&json).expect("the list above is JSON");
                    respond::object(200, &list, out, &[])
                }
                _ => respond::raw(200, "application/json", json.into_bytes()),
            })
        }
        "get" => Err(StatusError::not_found(&gr, &info.name)),
        verb => Err(StatusError::method_not_supported(&gr, verb)),
    }
}
