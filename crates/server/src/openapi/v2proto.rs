//! Encodes an OpenAPI v2 document (JSON) as gnostic's `openapi.v2.Document` protobuf, the form
//! kubectl fetches from `/openapi/v2` (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
//! Only what a Kubernetes document uses: info; paths, with each operation's tags, description,
//! ID, media types, query, path and body parameters, responses, schemes and `x-` extensions;
//! definitions, and per schema the
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

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Each string of the array `v[k]` as a repeated `field`.
fn strings(m: &mut Msg, field: u32, v: &Value, k: &str) {
    for s in v.get(k).and_then(Value::as_array).into_iter().flatten() {
        m.string(field, s.as_str().unwrap_or(""));
    }
}

/// `ParametersItem { Parameter parameter = 1 }`: `Parameter { BodyParameter body_parameter = 1;
/// NonBodyParameter non_body_parameter = 2 }`; a query parameter is the non-body one's
/// `QueryParameterSubSchema` (3), a path parameter its `PathParameterSubSchema` (4).
fn parameters_item(p: &Value) -> Msg {
    let required = p.get("required") == Some(&Value::Bool(true));
    let mut parameter = Msg::default();
    if str_of(p, "in") == "body" {
        let mut body = Msg::default();
        body.string(1, str_of(p, "description"));
        body.string(2, str_of(p, "name"));
        body.string(3, "body");
        body.boolean(4, required);
        if let Some(s) = p.get("schema") {
            body.message(5, schema(s));
        }
        parameter.message(1, body);
    } else {
        // (field in NonBodyParameter, type's field, uniqueItems' field)
        let (which, type_field, unique_field) = match str_of(p, "in") {
            "path" => (4, 5, 19),
            _ => (3, 6, 20),
        };
        let mut sub = Msg::default();
        sub.boolean(1, required);
        sub.string(2, str_of(p, "in"));
        sub.string(3, str_of(p, "description"));
        sub.string(4, str_of(p, "name"));
        sub.string(type_field, str_of(p, "type"));
        sub.boolean(
            unique_field,
            p.get("uniqueItems") == Some(&Value::Bool(true)),
        );
        let mut non_body = Msg::default();
        non_body.message(which, sub);
        parameter.message(2, non_body);
    }
    let mut item = Msg::default();
    item.message(1, parameter);
    item
}

/// `Responses { repeated NamedResponseValue response_code = 1 }`, each value a
/// `ResponseValue { Response response = 1 }`, each `Response { description = 1;
/// SchemaItem schema = 2 }` and `SchemaItem { Schema schema = 1 }`.
fn responses(v: &Value) -> Msg {
    let mut m = Msg::default();
    for (code, r) in v.as_object().into_iter().flatten() {
        let mut response = Msg::default();
        response.string(1, str_of(r, "description"));
        if let Some(s) = r.get("schema") {
            let mut item = Msg::default();
            item.message(1, schema(s));
            response.message(2, item);
        }
        let mut value = Msg::default();
        value.message(1, response);
        let mut named = Msg::default();
        named.string(1, code);
        named.message(2, value);
        m.message(1, named);
    }
    m
}

/// `Operation { tags = 1; description = 3; operation_id = 5; produces = 6; consumes = 7;
/// parameters = 8; responses = 9; schemes = 10; vendor_extension = 13 }`.
fn operation(op: &Value) -> Msg {
    let mut m = Msg::default();
    strings(&mut m, 1, op, "tags");
    m.string(3, str_of(op, "description"));
    m.string(5, str_of(op, "operationId"));
    strings(&mut m, 6, op, "produces");
    strings(&mut m, 7, op, "consumes");
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameters_item(p));
    }
    if let Some(r) = op.get("responses") {
        m.message(9, responses(r));
    }
    strings(&mut m, 10, op, "schemes");
    for (k, x) in op.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            m.message(13, named_any(k, x));
        }
    }
    m
}

/// `PathItem { get = 2; put = 3; post = 4; delete = 5; patch = 8; parameters = 9 }`.
fn path_item(item: &Value) -> Msg {
    let mut m = Msg::default();
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (8, "patch"),
    ] {
        if let Some(op) = item.get(method) {
            m.message(field, operation(op));
        }
    }
    for p in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(9, parameters_item(p));
    }
    m
}

/// The protobuf form of a v2 document with `swagger`, `info`, `paths` and `definitions`.
pub(super) fn encode(doc: &Value) -> Vec<u8> {
    let mut d = Msg::default();
    d.string(1, doc["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Msg::default();
    info.string(1, doc["info"]["title"].as_str().unwrap_or(""));
    info.string(2, doc["info"]["version"].as_str().unwrap_or(""));
    d.message(2, info);
    if let Some(Value::Object(all)) = doc.get("paths") {
        // `Paths { repeated NamedPathItem path = 2 }`, `NamedPathItem { name = 1; value = 2 }`.
        let mut paths = Msg::default();
        for (name, item) in all {
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, path_item(item));
            paths.message(2, named);
        }
        d.message(8, paths);
    }
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

    /// The length-delimited fields of a message: (field number, bytes).
    fn fields(mut b: &[u8]) -> Vec<(u64, &[u8])> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0;
            for shift in (0..64).step_by(7) {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let tag = varint(&mut b);
            match tag & 7 {
                2 => {
                    let len = varint(&mut b) as usize;
                    out.push((tag >> 3, &b[..len]));
                    b = &b[len..];
                }
                0 => {
                    varint(&mut b);
                }
                t => panic!("wire type {t}"),
            }
        }
        out
    }

    fn field(b: &[u8], n: u64) -> Vec<&[u8]> {
        fields(b)
            .into_iter()
            .filter(|(f, _)| *f == n)
            .map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn paths_are_where_kubectls_verifier_reads_them() {
        // cli-runtime's supportsQueryParam: doc.Paths.Path[i].Value.Patch: its
        // x-kubernetes-group-version-kind extension, and each parameter's
        // Parameter.NonBodyParameter.QueryParameterSubSchema.Name.
        let doc = json!({"paths": {"/api/v1/namespaces/{name}": {
            "patch": {
                "operationId": "patchCoreV1Namespace",
                "parameters": [
                    {"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/x"}},
                    {"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true},
                ],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/y"}}},
                "x-kubernetes-group-version-kind": {"group": "", "kind": "Namespace", "version": "v1"},
            },
            "parameters": [{"name": "name", "in": "path", "required": true, "type": "string"}],
        }}});
        let bytes = encode(&doc);
        let paths = field(&bytes, 8);
        let named = field(paths[0], 2);
        assert_eq!(
            field(named[0], 1),
            [b"/api/v1/namespaces/{name}".as_slice()]
        );
        let item = field(named[0], 2)[0];
        let patch = field(item, 8)[0];
        assert_eq!(field(patch, 5), [b"patchCoreV1Namespace".as_slice()]);
        let ext = field(patch, 13)[0];
        assert_eq!(
            field(ext, 1),
            [b"x-kubernetes-group-version-kind".as_slice()]
        );
        let yaml: Value =
            serde_json::from_slice(field(field(ext, 2)[0], 2)[0]).expect("JSON is YAML");
        assert_eq!(yaml["kind"], "Namespace");
        let params = field(patch, 8);
        // The body: Parameter.body_parameter (1) with its schema's reference.
        let body = field(field(params[0], 1)[0], 1)[0];
        assert_eq!(field(body, 2), [b"body".as_slice()]);
        assert_eq!(field(field(body, 5)[0], 1), [b"#/definitions/x".as_slice()]);
        // The query parameter: non_body_parameter (2), query_parameter_sub_schema (3), name (4).
        let query = field(field(field(params[1], 1)[0], 2)[0], 3)[0];
        assert_eq!(field(query, 4), [b"fieldValidation".as_slice()]);
        assert_eq!(field(query, 6), [b"string".as_slice()]);
        // The path item's parameter: path_parameter_sub_schema (4).
        let path = field(field(field(field(item, 9)[0], 1)[0], 2)[0], 4)[0];
        assert_eq!(field(path, 4), [b"name".as_slice()]);
        // responses (9): response_code (1) "200", ResponseValue.response (1), schema (2).
        let code = field(field(patch, 9)[0], 1)[0];
        assert_eq!(field(code, 1), [b"200".as_slice()]);
        let response = field(field(code, 2)[0], 1)[0];
        assert_eq!(field(response, 1), [b"OK".as_slice()]);
        let schema = field(field(response, 2)[0], 1)[0];
        assert_eq!(field(schema, 1), [b"#/definitions/y".as_slice()]);
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
