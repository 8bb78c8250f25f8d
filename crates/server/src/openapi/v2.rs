//! The `/openapi/v2` document: every served group version's operations and every definition.
//!
//! The operations are the v3 documents' ([`super::gv_paths`]) in v2's spelling, as
//! kube-openapi's v2 builder writes the same routes (`pkg/builder/openapi.go`): query and path
//! parameters with their type beside them, a request body as a `body` parameter first, the
//! media types an operation consumes and produces, the response schema beside its
//! description.
//!
//! kubectl 1.27–1.33 reads these: for a kind whose v3 document has no PATCH (every review) it
//! looks here, finds Namespace's PATCH taking `fieldValidation`, and asks the server whether
//! the kind is a custom resource ([`crate::crds`]).

use super::{gv_paths, TITLE, VERSION};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// What every answer can be written as (apiserver's negotiated serializers).
const PRODUCES: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// What a list or watch can also stream.
const STREAMS: [&str; 2] = [
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];

/// The whole document: `paths` of every group version `gvs` names, and `definitions`.
pub(super) fn document(definitions: Value, gvs: &[(String, String)]) -> Value {
    let mut paths = Map::new();
    for (group, version) in gvs {
        let served: Vec<&registry::ResourceDef> = registry::resources()
            .iter()
            .copied()
            .filter(|d| d.group == group && d.versions.contains(&version.as_str()))
            .collect();
        let mut reached = BTreeSet::new();
        for (path, item) in gv_paths(group, version, &served, &mut reached) {
            paths.insert(path, path_item(&item));
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": paths,
        "definitions": definitions,
    })
}

/// A v3 path item in v2's spelling.
fn path_item(item: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in item.as_object().into_iter().flatten() {
        let converted = match k.as_str() {
            "parameters" => params(v),
            _ => operation(v),
        };
        out.insert(k.clone(), converted);
    }
    Value::Object(out)
}

/// `#/components/schemas/X` → `#/definitions/X`.
fn reference(schema: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            json!({"$ref": format!("#/definitions/{name}")})
        }
        None => schema.clone(),
    }
}

/// Query and path parameters: the schema's type and uniqueness beside the name.
fn params(v: &Value) -> Value {
    let converted = v.as_array().into_iter().flatten().map(|p| {
        let mut o = json!({
            "uniqueItems": true,
            "type": p["schema"]["type"],
            "description": p["description"],
            "name": p["name"],
            "in": p["in"],
        });
        if p["required"] == true {
            o["required"] = true.into();
        }
        o
    });
    Value::Array(converted.collect())
}

fn operation(op: &Value) -> Value {
    let mut out = Map::new();
    let mut parameters = Vec::new();
    let mut consumes = vec![Value::from("*/*")];
    for (k, v) in op.as_object().into_iter().flatten() {
        match k.as_str() {
            "requestBody" => {
                let content = v["content"].as_object();
                let types: Vec<Value> = content
                    .into_iter()
                    .flatten()
                    .map(|(t, _)| Value::from(t.as_str()))
                    .collect();
                if !types.is_empty() {
                    consumes = types;
                }
                let schema = content
                    .and_then(|c| c.values().next())
                    .map(|c| reference(&c["schema"]))
                    .unwrap_or_default();
                let mut body = json!({"name": "body", "in": "body", "schema": schema});
                if v["required"] == true {
                    body["required"] = true.into();
                }
                // The body first, as the v2 builder lists it.
                parameters.insert(0, body);
            }
            "parameters" => parameters.extend(params(v).as_array().cloned().unwrap_or_default()),
            "responses" => {
                let mut responses = Map::new();
                for (code, r) in v.as_object().into_iter().flatten() {
                    let mut response = json!({"description": r["description"]});
                    if let Some(schema) = r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|c| &c["schema"])
                    {
                        response["schema"] = reference(schema);
                    }
                    responses.insert(code.clone(), response);
                }
                out.insert(k.clone(), Value::Object(responses));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let streams = matches!(
        op["x-kubernetes-action"].as_str(),
        Some("list" | "watch" | "watchlist")
    );
    // What the 200 answer's content says, in the v2 builder's order: a connection's anything,
    // a log's text first, else the serializers (and streams).
    let answers = |t: &str| op["responses"]["200"]["content"].get(t).is_some();
    let produces: Vec<&str> = if answers("*/*") {
        vec!["*/*"]
    } else if answers("text/plain") {
        std::iter::once("text/plain")
            .chain(PRODUCES.iter().copied())
            .collect()
    } else {
        PRODUCES
            .iter()
            .chain(STREAMS.iter().filter(|_| streams))
            .copied()
            .collect()
    };
    out.insert("consumes".into(), Value::Array(consumes));
    out.insert("produces".into(), json!(produces));
    out.insert("schemes".into(), json!(["https"]));
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    Value::Object(out)
}
