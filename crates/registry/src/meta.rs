//! Accessors for the parts of objects every kind shares (`metadata`, and any field that must
//! be an object), in one place so no code edits JSON with `as_object_mut().unwrap()`.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `obj[key]` as a JSON object, created when absent. Strategies run on bodies whose shape
/// the typed check already accepted, so a non-object there cannot happen; it is replaced.
pub fn object_field<'a>(obj: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(serde_json::Map::new());
    }
    let slot = obj
        .as_object_mut()
        .expect("made an object above")
        .entry(key)
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(serde_json::Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

/// `metadata` (an empty map when absent).
pub fn meta(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `metadata.<field>` as text ("" when absent or not text).
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    meta(obj).get(field).and_then(Value::as_str).unwrap_or("")
}

/// `metadata`, made an object when it is not one.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    object_field(obj, "metadata")
}

/// `metadata.labels` as a map, for selectors.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    meta(obj)
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}
