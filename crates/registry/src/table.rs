//! Server-side printing: `meta.k8s.io/v1` Tables with upstream's columns and row objects.

use crate::resource::ResourceDef;
use api_types::{human_duration, parse_rfc3339};
use jiff::Timestamp;
use serde_json::{json, Value};

/// What each row carries in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    #[default]
    /// The object's metadata (as PartialObjectMetadata).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// From the `includeObject` parameter ("" is the default).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// The AGE cell of an object.
pub fn age(obj: &Value, now: Timestamp) -> String {
    match obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
    {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

/// One row for `obj` (which carries kind and apiVersion).
pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let cells = def.strategy.cells(obj, &age(obj, now));
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            });
        }
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of `rows`. `headers` is false for watch events after the first (`NoHeaders`).
pub fn table(def: &ResourceDef, rows: Vec<Value>, metadata: Value, headers: bool) -> Value {
    let columns: Value = if headers {
        def.strategy
            .columns()
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format,
                       "description": c.description, "priority": c.priority})
            })
            .collect()
    } else {
        Value::Null
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
