//! Endpoints that are not objects: health, version, discovery and OpenAPI.

use crate::discovery::wants_aggregated;
use crate::negotiate::{self, Output};
use crate::respond::{self, Resp};
use crate::State;
use api_types::StatusError;
use http::HeaderMap;
use request_info::RequestInfo;
use serde_json::Value;

/// The version kube-apiserver v1.33 reports, marked as kubeward's build (as k3s marks its own):
/// `version.Info`'s fields in their Go order.
fn version_fields() -> [(&'static str, String); 13] {
    let platform = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    [
        ("major", "1".into()),
        ("minor", "33".into()),
        ("emulationMajor", "1".into()),
        ("emulationMinor", "33".into()),
        ("minCompatibilityMajor", "1".into()),
        ("minCompatibilityMinor", "32".into()),
        ("gitVersion", "v1.33.0+kubeward".into()),
        ("gitCommit", env!("CARGO_PKG_VERSION").into()),
        ("gitTreeState", "clean".into()),
        ("buildDate", "2026-11-29T00:00:00Z".into()),
        ("goVersion", "go1.24.2".into()),
        ("compiler", "gc".into()),
        ("platform", format!("linux/{platform}")),
    ]
}

/// The version as a JSON value.
pub fn version_info() -> Value {
    Value::Object(
        version_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect(),
    )
}

/// `/version` as upstream writes it (`responsewriters.WriteRawJSON`: `json.MarshalIndent`
/// of the struct, whoever asks): indented, fields in Go order.
fn version_body() -> Vec<u8> {
    let mut compact = b"{".to_vec();
    for (i, (k, v)) in version_fields().iter().enumerate() {
        if i > 0 {
            compact.push(b',');
        }
        wire::json::write_str(&mut compact, k);
        compact.push(b':');
        wire::json::write_str(&mut compact, v);
    }
    compact.push(b'}');
    wire::json::indent(&compact)
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
            // Discovery and the other documents here are JSON, whatever else is accepted.
            if matches!(out, Output::Table | Output::Protobuf) {
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
        "/version" => Ok(respond::raw(200, "application/json", version_body())),
        // Authorized like any path: cluster-admin's `*`, or a rule naming it.
        crate::logs::AUDIT => crate::logs::audit(state),
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
            crate::openapi::handle(p, query, headers, &|g, v| state.serves(g, v))
                .ok_or_else(StatusError::path_not_found)
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
