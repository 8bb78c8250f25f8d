//! Encodes an OpenAPI v2 document (JSON) as gnostic's `openapi.v2.Document` protobuf, the form
//! kubectl fetches from `/openapi/v2` (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
//! Only what the schemas of a Kubernetes document use: info, definitions, and per schema the
//! reference, description, type, format, required, items, properties, additionalProperties,
//! allOf, default, enum and `x-` extensions (each extension's value as YAML text — JSON is YAML).
//! Field numbers are those of gnostic's `openapiv2/OpenAPIv2.proto`.

use serde_json::Value;

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.varint(u64::from(field) << 3 | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.varint(u64::from(field) << 3);
            self.varint(1);
        }
    }
}

/// `Any { yaml = 2 }`.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &v.to_string());
    m
}

/// `NamedAny { name = 1; value = 2 }`.
fn named_any(name: &str, v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(1, name);
    m.message(2, any(v));
    m
}

/// `NamedSchema { name = 1; value = 2 }`.
fn named_schema(name: &str, v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(1, name);
    m.message(2, schema(v));
    m
}

fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    m.string(1, s("$ref"));
    m.string(2, s("format"));
    m.string(3, s("title"));
    m.string(4, s("description"));
    if let Some(d) = v.get("default") {
        m.message(5, any(d));
    }
    if let Some(Value::Array(req)) = v.get("required") {
        for r in req.iter().filter_map(Value::as_str) {
            m.string(19, r);
        }
    }
    if let Some(Value::Array(values)) = v.get("enum") {
        for e in values {
            m.message(20, any(e));
        }
    }
    match v.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut ap = Msg::default();
            ap.boolean(2, *b);
            m.message(21, ap);
        }
        Some(ap @ Value::Object(_)) => {
            let mut item = Msg::default();
            item.message(1, schema(ap));
            m.message(21, item);
        }
        _ => {}
    }
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        let mut ty = Msg::default();
        ty.string(1, t);
        m.message(22, ty);
    }
    if let Some(items) = v.get("items") {
        let mut it = Msg::default();
        it.message(1, schema(items));
        m.message(23, it);
    }
    if let Some(Value::Array(all)) = v.get("allOf") {
        for a in all {
            m.message(24, schema(a));
        }
    }
    if let Some(Value::Object(props)) = v.get("properties") {
        let mut p = Msg::default();
        for (name, prop) in props {
            p.message(1, named_schema(name, prop));
        }
        m.message(25, p);
    }
    if let Some(obj) = v.as_object() {
        for (k, x) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            m.message(31, named_any(k, x));
        }
    }
    m
}

/// The protobuf form of a v2 document with `swagger`, `info` and `definitions`.
pub(super) fn encode(doc: &Value) -> Vec<u8> {
    let mut d = Msg::default();
    d.string(1, doc["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Msg::default();
    info.string(1, doc["info"]["title"].as_str().unwrap_or(""));
    info.string(2, doc["info"]["version"].as_str().unwrap_or(""));
    d.message(2, info);
    let mut defs = Msg::default();
    if let Some(Value::Object(all)) = doc.get("definitions") {
        for (name, s) in all {
            defs.message(1, named_schema(name, s));
        }
    }
    d.message(9, defs);
    d.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_known_bytes() {
        // swagger "2.0", empty info, one definition {"type": "string"}.
        let doc = json!({"swagger": "2.0", "info": {}, "definitions": {"a": {"type": "string"}}});
        let want: Vec<u8> = [
            &[0x0a, 3][..],
            b"2.0",
            &[0x12, 0],
            &[
                0x4a, 18, 0x0a, 16, 0x0a, 1, b'a', 0x12, 11, 0xb2, 0x01, 8, 0x0a, 6,
            ],
            b"string",
        ]
        .concat();
        assert_eq!(encode(&doc), want);
    }

    #[test]
    fn long_lengths_use_multi_byte_varints() {
        let text = "x".repeat(300);
        let doc = json!({"definitions": {"a": {"description": text}}});
        let bytes = encode(&doc);
        // description (field 4) of 300 bytes: tag 0x22, length 0xac 0x02.
        let at = bytes
            .windows(3)
            .position(|w| w == [0x22, 0xac, 0x02])
            .expect("a two-byte length");
        assert_eq!(bytes.len() - at - 3, 300);
    }
}
