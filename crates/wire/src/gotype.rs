//! The first type mismatch between a JSON object and its kind's Go struct, worded as Go's
//! `encoding/json` words it (`UnmarshalTypeError.Error()`), which is what kube-apiserver's
//! decoder (sigs.k8s.io/json, a fork of it) answers a body with:
//!
//! `json: cannot unmarshal number into Go struct field ConfigMap.data of type string`
//!
//! The struct is the innermost Go struct being decoded, the field its dotted path of JSON
//! names from the object's top (no indices, no map keys), the type the Go type of the value
//! expected there (`int32`, `[]string`, `map[string]string`, `v1.PodSpec`). Values with a
//! decoder of their own are judged as it judges them ([`crate::godecode`]): `Time` and
//! `MicroTime` as `time.Parse` (a value that is no string in the words above, of type
//! `string`), `Quantity` as `ParseQuantity`, `IntOrString` as a string or an `int32`, `[]byte`
//! as standard base64; their own errors carry no field, as Go's do (only a type mismatch gets
//! the decoder's context). Raw extensions and free-form JSON are not judged. Go reports the
//! first mismatch in document order; the object's keys are walked in the order `serde_json`
//! keeps them (sorted), which is the same whenever there is one mismatch.

use crate::godecode;
use crate::schema::{FieldType, MsgId, Repr, Scalar, Schema};
use serde_json::Value;
use std::sync::OnceLock;

/// Nesting deeper than this is not walked (the decoder's own depth limit stops it earlier).
const MAX_DEPTH: usize = 64;

/// The first mismatch of `v` against message `id`, in Go's words; None when every value has
/// the JSON type its field takes.
pub fn first_error(schema: &Schema, id: MsgId, v: &Value) -> Option<String> {
    let mut path = Vec::new();
    object(schema, id, v, &mut path, 0)
}

/// Whether objects of message `id` can hold a `resource.Quantity` (a Pod, a Node): its
/// decoder refuses strings the typed round trip lets through, so such kinds are walked on
/// every write, not only when the round trip refuses them.
pub fn holds_quantity(schema: &Schema, id: MsgId) -> bool {
    static HOLDS: OnceLock<Vec<bool>> = OnceLock::new();
    let holds = HOLDS.get_or_init(|| {
        let n = schema.len();
        let mut holds: Vec<bool> = (0..n)
            .map(|i| schema.message(i).name == "resource.Quantity")
            .collect();
        // To a fixed point: a message holds one when a field's message does.
        loop {
            let mut changed = false;
            for i in 0..n {
                if holds[i] {
                    continue;
                }
                let reaches = schema.message(i).fields.iter().any(|f| match f.ty {
                    FieldType::Message(m) => holds[m],
                    FieldType::Scalar(_) => false,
                });
                if reaches {
                    holds[i] = true;
                    changed = true;
                }
            }
            if !changed {
                return holds;
            }
        }
    });
    holds.get(id).copied().unwrap_or(false)
}

/// Go's name for a message: its package and type (`core.v1.PodSpec` → `v1.PodSpec`).
fn go_message(schema: &Schema, id: MsgId) -> String {
    let name = schema.message(id).name;
    let mut parts = name.rsplitn(3, '.');
    let ty = parts.next().unwrap_or(name);
    match parts.next() {
        Some(package) => format!("{package}.{ty}"),
        None => ty.to_string(),
    }
}

/// The bare struct name Go puts before the field (`ConfigMap`, `ServicePort`).
fn struct_name(schema: &Schema, id: MsgId) -> &'static str {
    let name = schema.message(id).name;
    name.rsplit('.').next().unwrap_or(name)
}

fn go_scalar(s: Scalar) -> &'static str {
    match s {
        Scalar::String => "string",
        Scalar::Bool => "bool",
        Scalar::Int32 => "int32",
        Scalar::Int64 => "int64",
        Scalar::Double => "float64",
        Scalar::Bytes => "[]uint8",
        Scalar::Any => "interface {}",
    }
}

fn go_element(schema: &Schema, ty: FieldType) -> String {
    match ty {
        FieldType::Scalar(s) => go_scalar(s).to_string(),
        FieldType::Message(m) => go_message(schema, m),
    }
}

/// What Go calls the JSON value it found (`UnmarshalTypeError.Value`).
fn found(v: &Value) -> String {
    match v {
        Value::String(_) => "string".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
        Value::Null => "null".into(),
    }
}

fn error(value: &str, within: &str, path: &[&str], ty: &str) -> String {
    format!(
        "json: cannot unmarshal {value} into Go struct field {within}.{} of type {ty}",
        path.join(".")
    )
}

fn object<'a>(
    schema: &Schema,
    id: MsgId,
    v: &'a Value,
    path: &mut Vec<&'a str>,
    depth: usize,
) -> Option<String> {
    let Value::Object(fields) = v else {
        return None;
    };
    if depth > MAX_DEPTH {
        return None;
    }
    let order = schema.order(id);
    for (key, value) in fields {
        let Some(slot) = order.position(key).map(|i| &order.slots[usize::from(i)]) else {
            continue; // unknown fields are reported apart (fieldValidation)
        };
        let f = &slot.field;
        path.push(key);
        let within = struct_name(schema, id);
        let err = if value.is_null() {
            None
        } else if f.map_key.is_some() {
            match value {
                Value::Object(m) => m
                    .values()
                    .find_map(|e| element(schema, f.ty, e, within, path, depth)),
                other => Some(error(
                    &found(other),
                    within,
                    path,
                    &format!("map[string]{}", go_element(schema, f.ty)),
                )),
            }
        } else if f.repeated {
            match value {
                Value::Array(items) => items
                    .iter()
                    .find_map(|e| element(schema, f.ty, e, within, path, depth)),
                other => Some(error(
                    &found(other),
                    within,
                    path,
                    &format!("[]{}", go_element(schema, f.ty)),
                )),
            }
        } else {
            element(schema, f.ty, value, within, path, depth)
        };
        if err.is_some() {
            return err;
        }
        path.pop();
    }
    None
}

/// One value against one (element) type.
fn element<'a>(
    schema: &Schema,
    ty: FieldType,
    v: &'a Value,
    within: &str,
    path: &mut Vec<&'a str>,
    depth: usize,
) -> Option<String> {
    if v.is_null() {
        return None;
    }
    match ty {
        FieldType::Message(m) => match schema.message(m).repr {
            // A decoder of its own, with its own words.
            Repr::Leaf => leaf(schema.message(m).name, v, within, path),
            Repr::Embedded => None,
            Repr::Struct => match v {
                Value::Object(_) => object(schema, m, v, path, depth + 1),
                other => Some(error(&found(other), within, path, &go_message(schema, m))),
            },
        },
        FieldType::Scalar(s) => {
            if let (Scalar::Bytes, Value::String(text)) = (s, v) {
                return godecode::base64_std(text).err();
            }
            let ok = match s {
                Scalar::String | Scalar::Bytes => v.is_string(),
                Scalar::Bool => v.is_boolean(),
                Scalar::Double => v.is_number(),
                Scalar::Any => true,
                Scalar::Int32 | Scalar::Int64 => {
                    if let Value::Number(n) = v {
                        let fits = match (s, n.as_i64()) {
                            (Scalar::Int32, Some(i)) => i32::try_from(i).is_ok(),
                            (_, Some(_)) => true,
                            (_, None) => false,
                        };
                        if !fits {
                            // Go names the number when it is one, but not of this type.
                            return Some(error(&format!("number {n}"), within, path, go_scalar(s)));
                        }
                        true
                    } else {
                        false
                    }
                }
            };
            (!ok).then(|| error(&found(v), within, path, go_scalar(s)))
        }
    }
}

/// A value with a decoder of its own, judged as that decoder judges it.
fn leaf(name: &str, v: &Value, within: &str, path: &[&str]) -> Option<String> {
    match name {
        // `UnmarshalJSON` reads a string, then `time.Parse`s it.
        "meta.v1.Time" | "meta.v1.MicroTime" => match v {
            Value::String(text) => {
                let layout = if name == "meta.v1.Time" {
                    godecode::RFC3339
                } else {
                    godecode::RFC3339_MICRO
                };
                godecode::time(layout, text).err()
            }
            other => Some(error(&found(other), within, path, "string")),
        },
        // `ParseQuantity` of the string, or of the JSON text itself when it is no string.
        "resource.Quantity" => {
            let text = match v {
                Value::String(t) => t.trim().to_string(),
                other => other.to_string(),
            };
            godecode::quantity(&text).err().map(str::to_string)
        }
        // A string, else `json.Unmarshal` into the `int32`.
        "intstr.IntOrString" => match v {
            Value::String(_) => None,
            Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => None,
            Value::Number(n) => Some(error(&format!("number {n}"), within, path, "int32")),
            other => Some(error(&found(other), within, path, "int32")),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(api_version: &str, kind: &str, body: Value) -> Option<String> {
        let s = crate::schema::get();
        first_error(s, s.kind(api_version, kind).unwrap(), &body)
    }

    /// Upstream's own answers, as kube-apiserver 1.33 gives them (and as kubectl, Helm and
    /// their users quote them).
    #[test]
    fn go_words_for_each_mismatch() {
        let cases: &[(&str, &str, Value, Option<&str>)] = &[
            ("v1", "ConfigMap", json!({"data": {"a": 1}}),
             Some("json: cannot unmarshal number into Go struct field ConfigMap.data of type string")),
            ("v1", "ConfigMap", json!({"data": {"a": {"b": "c"}}}),
             Some("json: cannot unmarshal object into Go struct field ConfigMap.data of type string")),
            ("v1", "ConfigMap", json!({"data": {"a": true}}),
             Some("json: cannot unmarshal bool into Go struct field ConfigMap.data of type string")),
            ("v1", "ConfigMap", json!({"data": 1}),
             Some("json: cannot unmarshal number into Go struct field ConfigMap.data of type map[string]string")),
            ("v1", "Service", json!({"spec": {"ports": [{"port": "80"}]}}),
             Some("json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32")),
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": true}]}]}}),
             Some("json: cannot unmarshal bool into Go struct field EnvVar.spec.containers.env.value of type string")),
            ("v1", "Pod", json!({"spec": {"containers": {"name": "a"}}}),
             Some("json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container")),
            ("v1", "Pod", json!({"spec": "x"}),
             Some("json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec")),
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1.5}]}]}}),
             Some("json: cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32")),
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "args": "x"}]}}),
             Some("json: cannot unmarshal string into Go struct field Container.spec.containers.args of type []string")),
            ("v1", "Secret", json!({"data": {"a": 1}}),
             Some("json: cannot unmarshal number into Go struct field Secret.data of type []uint8")),
            ("v1", "ServiceAccount", json!({"metadata": {"labels": {"a": 1}}}),
             Some("json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string")),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", json!({"rules": [{"verbs": "get"}]}),
             Some("json: cannot unmarshal string into Go struct field PolicyRule.rules.verbs of type []string")),
            // Decoders of their own, in their words.
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "lots"}}}]}}),
             Some(godecode::QUANTITY_FORMAT)),
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": true}}}]}}),
             Some(godecode::QUANTITY_FORMAT)),
            ("v1", "Pod", json!({"spec": {"overhead": {"memory": "1mi"}}}), Some(godecode::QUANTITY_SUFFIX)),
            ("v1", "ConfigMap", json!({"metadata": {"creationTimestamp": 5}}),
             Some("json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string")),
            ("v1", "ConfigMap", json!({"metadata": {"creationTimestamp": "yesterday"}}),
             Some(r#"parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006""#)),
            ("coordination.k8s.io/v1", "Lease", json!({"spec": {"renewTime": "2026-12-06T18:00:00Z"}}),
             Some(r#"parsing time "2026-12-06T18:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000""#)),
            ("v1", "Service", json!({"spec": {"ports": [{"port": 80, "targetPort": true}]}}),
             Some("json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32")),
            ("v1", "Service", json!({"spec": {"ports": [{"port": 80, "targetPort": 1.5}]}}),
             Some("json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32")),
            ("v1", "Secret", json!({"data": {"a": "%%%"}}), Some("illegal base64 data at input byte 0")),
            // What is right is not judged; nor are unknown fields (fieldValidation's).
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "100m", "memory": 5}}}]}}), None),
            ("v1", "ConfigMap", json!({"data": {"a": "1"}, "metadata": {"creationTimestamp": "2026-12-06T18:00:00Z"}, "unknown": 1}), None),
            ("v1", "Service", json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}), None),
            ("v1", "Secret", json!({"data": {"a": "YWJj"}}), None),
            ("v1", "Pod", json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}}), None),
        ];
        let s = crate::schema::get();
        let id = |k| s.kind("v1", k).unwrap();
        assert!(holds_quantity(s, id("Pod")) && holds_quantity(s, id("Node")));
        assert!(!holds_quantity(s, id("ConfigMap")) && !holds_quantity(s, id("Secret")));
        for (api_version, kind, body, want) in cases {
            assert_eq!(
                check(api_version, kind, body.clone()).as_deref(),
                *want,
                "{kind} {body}"
            );
        }
    }
}
