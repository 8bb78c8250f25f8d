//! Endpoints that are not objects: health, version, discovery and OpenAPI.

use crate::discovery::wants_aggregated;
use crate::negotiate::{self, Output};
use crate::respond::{self, Resp};
use crate::State;
use api_types::StatusError;
use http::HeaderMap;
use request_info::RequestInfo;
use serde_json::{json, Value};

/// The version kube-apiserver v1.33 reports, marked as kubeward's build (as k3s marks its own).
pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0+kubeward",
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-11-29T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": format!("linux/{}", if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
    })
}

pub(crate) fn handle(
    state: &State,
    info: &RequestInfo,
    query: &str,
    headers: &HeaderMap,
) -> Result<Resp, StatusError> {
    let accept = headers.get("accept").and_then(|v| v.to_str().ok());
    let path = info.path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    if info.verb != "get" && info.verb != "head" {
        return Err(StatusError::path_not_found());
    }
    let json_out = |v: &Value| -> Result<Resp, StatusError> {
        let out = negotiate::output(accept, false)?;
        Ok(respond::object(
            200,
            v,
            if out == Output::Table {
                Output::Json
            } else {
                out
            },
            &[],
        ))
    };
    if let Some(resp) = crate::health::handle(state, path, query) {
        return Ok(resp);
    }
    match path {
        "/version" => json_out(&version_info()),
        // Authorized like any path (`system:monitoring` may read it).
        "/metrics" => Ok(respond::raw(
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state
                .metrics
                .render(
                    &state.registry.stored_counts(),
                    &state.registry.watch_cache_stats(),
                )
                .into_bytes(),
        )),
        "/.well-known/openid-configuration" | "/openid/v1/jwks" => {
            let issuer = state
                .issuer
                .as_ref()
                .ok_or_else(StatusError::path_not_found)?;
            let (doc, ct) = if path == "/openid/v1/jwks" {
                (crate::tokens::jwks(issuer), "application/jwk-set+json")
            } else {
                (
                    crate::tokens::openid_configuration(issuer, &state.server_url),
                    "application/json",
                )
            };
            let mut r = respond::raw(200, ct, respond::json_bytes(&doc));
            r.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("public, max-age=3600"),
            );
            Ok(r)
        }
        "/api" | "/apis" => {
            let core = path == "/api";
            if let Some(v) = wants_aggregated(accept) {
                let ct = format!(
                    "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                );
                return Ok(respond::raw(
                    200,
                    &ct,
                    respond::json_bytes(&state.discovery.aggregated(core, v)),
                ));
            }
            json_out(&if core {
                state.discovery.api_versions()
            } else {
                state.discovery.api_group_list()
            })
        }
        "/api/v1" => json_out(
            &state
                .discovery
                .resource_list("", "v1")
                .ok_or_else(StatusError::path_not_found)?,
        ),
        p if p.starts_with("/openapi/") => {
            crate::openapi::handle(p, query, headers).ok_or_else(StatusError::path_not_found)
        }
        p => {
            if let Some(rest) = p.strip_prefix("/apis/") {
                let mut parts = rest.split('/');
                let (g, v) = (parts.next().unwrap_or(""), parts.next());
                let doc = match v {
                    None => state.discovery.api_group(g),
                    Some(v) => state.discovery.resource_list(g, v),
                };
                if let Some(doc) = doc {
                    return json_out(&doc);
                }
            }
            Err(StatusError::path_not_found())
        }
    }
}
