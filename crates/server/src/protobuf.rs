//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`):
//! the `k8s\0` magic, a `runtime.Unknown` envelope, and the object inside, turned into the same
//! JSON the JSON decoder would produce. Sans-IO: bytes in, `serde_json::Value` out.
//!
//! kubectl ≥ 1.32 sends protobuf for its typed-client commands only, so only those kinds are
//! described here (field numbers from kubernetes/api `generated.proto`). Proto2 semantics:
//! empty strings and zero numbers arrive explicitly and mean "unset", except inside repeated
//! strings, where `""` is a real element (the core API group in a PolicyRule).

use base64::Engine;
use serde_json::{Map, Value};

/// Why a protobuf body was refused (answered as 400, or 415 for an unknown kind).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    Magic,
    /// The wire format is broken (truncated varint, length past the end, bad wire type).
    #[error("proto: {0}")]
    Malformed(&'static str),
    /// The envelope names a kind this server has no protobuf schema for.
    #[error("no protobuf schema for kind {0:?}")]
    UnknownKind(String),
    /// A string field is not UTF-8.
    #[error("proto: invalid UTF-8 in string field {0}")]
    Utf8(&'static str),
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Int,
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [F]),
    Time,
}

#[derive(Clone, Copy)]
struct F(u32, &'static str, Ty);

use Ty::*;

const OWNER_REF: &[F] = &[
    F(5, "apiVersion", Str),
    F(1, "kind", Str),
    F(3, "name", Str),
    F(4, "uid", Str),
    F(6, "controller", Bool),
    F(7, "blockOwnerDeletion", Bool),
];
const OBJECT_META: &[F] = &[
    F(1, "name", Str),
    F(2, "generateName", Str),
    F(3, "namespace", Str),
    F(5, "uid", Str),
    F(6, "resourceVersion", Str),
    F(7, "generation", Int),
    F(8, "creationTimestamp", Time),
    F(11, "labels", MapStr),
    F(12, "annotations", MapStr),
    F(13, "ownerReferences", RepMsg(OWNER_REF)),
    F(14, "finalizers", RepStr),
];
const OBJECT_REF: &[F] = &[
    F(1, "kind", Str),
    F(2, "namespace", Str),
    F(3, "name", Str),
    F(4, "uid", Str),
    F(5, "apiVersion", Str),
    F(6, "resourceVersion", Str),
    F(7, "fieldPath", Str),
];
const LOCAL_REF: &[F] = &[F(1, "name", Str)];
const SERVICE_ACCOUNT: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "secrets", RepMsg(OBJECT_REF)),
    F(3, "imagePullSecrets", RepMsg(LOCAL_REF)),
    F(4, "automountServiceAccountToken", Bool),
];
const SECRET: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "data", MapBytes),
    F(3, "type", Str),
    F(4, "stringData", MapStr),
    F(5, "immutable", Bool),
];
const CONFIG_MAP: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "data", MapStr),
    F(3, "binaryData", MapBytes),
    F(4, "immutable", Bool),
];
const NAMESPACE: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "spec", Msg(&[F(1, "finalizers", RepStr)])),
];
const POLICY_RULE: &[F] = &[
    F(1, "verbs", RepStr),
    F(2, "apiGroups", RepStr),
    F(3, "resources", RepStr),
    F(4, "resourceNames", RepStr),
    F(5, "nonResourceURLs", RepStr),
];
const SELECTOR_REQ: &[F] = &[
    F(1, "key", Str),
    F(2, "operator", Str),
    F(3, "values", RepStr),
];
const LABEL_SELECTOR: &[F] = &[
    F(1, "matchLabels", MapStr),
    F(2, "matchExpressions", RepMsg(SELECTOR_REQ)),
];
const ROLE: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "rules", RepMsg(POLICY_RULE)),
];
const CLUSTER_ROLE: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "rules", RepMsg(POLICY_RULE)),
    F(
        3,
        "aggregationRule",
        Msg(&[F(1, "clusterRoleSelectors", RepMsg(LABEL_SELECTOR))]),
    ),
];
const SUBJECT: &[F] = &[
    F(1, "kind", Str),
    F(2, "apiGroup", Str),
    F(3, "name", Str),
    F(4, "namespace", Str),
];
const ROLE_REF: &[F] = &[F(1, "apiGroup", Str), F(2, "kind", Str), F(3, "name", Str)];
const BINDING: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "subjects", RepMsg(SUBJECT)),
    F(3, "roleRef", Msg(ROLE_REF)),
];
const BOUND_REF: &[F] = &[
    F(1, "kind", Str),
    F(2, "apiVersion", Str),
    F(3, "name", Str),
    F(4, "uid", Str),
];
const TOKEN_REQUEST: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(
        2,
        "spec",
        Msg(&[
            F(1, "audiences", RepStr),
            F(4, "expirationSeconds", Int),
            F(3, "boundObjectRef", Msg(BOUND_REF)),
        ]),
    ),
];
const RESOURCE_ATTRS: &[F] = &[
    F(1, "namespace", Str),
    F(2, "verb", Str),
    F(3, "group", Str),
    F(4, "version", Str),
    F(5, "resource", Str),
    F(6, "subresource", Str),
    F(7, "name", Str),
];
const SSAR: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(
        2,
        "spec",
        Msg(&[
            F(1, "resourceAttributes", Msg(RESOURCE_ATTRS)),
            F(
                2,
                "nonResourceAttributes",
                Msg(&[F(1, "path", Str), F(2, "verb", Str)]),
            ),
        ]),
    ),
];
const SSRR: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META)),
    F(2, "spec", Msg(&[F(1, "namespace", Str)])),
];
const SELF_SUBJECT_REVIEW: &[F] = &[F(1, "metadata", Msg(OBJECT_META))];

fn schema(kind: &str) -> Option<&'static [F]> {
    Some(match kind {
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Secret" => SECRET,
        "ConfigMap" => CONFIG_MAP,
        "Namespace" => NAMESPACE,
        "Role" => ROLE,
        "ClusterRole" => CLUSTER_ROLE,
        "RoleBinding" | "ClusterRoleBinding" => BINDING,
        "TokenRequest" => TOKEN_REQUEST,
        "SelfSubjectAccessReview" => SSAR,
        "SelfSubjectRulesReview" => SSRR,
        "SelfSubjectReview" => SELF_SUBJECT_REVIEW,
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut out = 0u64;
        for i in 0..10 {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(ProtobufError::Malformed("varint overflow"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| ProtobufError::Malformed("length overflow"))?;
        if len > self.buf.len() {
            return Err(ProtobufError::Malformed("length past end of message"));
        }
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(b)
    }

    fn skip(&mut self, wire: u64) -> Result<(), ProtobufError> {
        let n = match wire {
            0 => return self.varint().map(drop),
            1 => 8,
            2 => return self.bytes().map(drop),
            5 => 4,
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        if n > self.buf.len() {
            return Err(ProtobufError::Malformed("fixed field past end of message"));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    /// Iterates (field number, wire type).
    fn tag(&mut self) -> Result<Option<(u32, u64)>, ProtobufError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let t = self.varint()?;
        let num =
            u32::try_from(t >> 3).map_err(|_| ProtobufError::Malformed("field number overflow"))?;
        Ok(Some((num, t & 7)))
    }
}

fn utf8(b: &[u8], field: &'static str) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError::Utf8(field))
}

fn map_entry(
    b: &[u8],
    bytes_value: bool,
    field: &'static str,
) -> Result<(String, Value), ProtobufError> {
    let mut r = Reader { buf: b };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((num, wire)) = r.tag()? {
        match (num, wire) {
            (1, 2) => k = utf8(r.bytes()?, field)?,
            (2, 2) if bytes_value => {
                v = base64::engine::general_purpose::STANDARD
                    .encode(r.bytes()?)
                    .into()
            }
            (2, 2) => v = utf8(r.bytes()?, field)?.into(),
            (_, w) => r.skip(w)?,
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Option<Value>, ProtobufError> {
    let mut r = Reader { buf: b };
    let mut secs = 0i64;
    while let Some((num, wire)) = r.tag()? {
        match (num, wire) {
            (1, 0) => secs = r.varint()? as i64,
            (_, w) => r.skip(w)?,
        }
    }
    if secs == 0 {
        return Ok(None);
    }
    Ok(jiff::Timestamp::from_second(secs)
        .ok()
        .map(|t| api_types::format_rfc3339(t).into()))
}

fn message(b: &[u8], fields: &'static [F]) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut r = Reader { buf: b };
    while let Some((num, wire)) = r.tag()? {
        let Some(&F(_, name, ty)) = fields.iter().find(|f| f.0 == num) else {
            r.skip(wire)?;
            continue;
        };
        let expect_len = !matches!(ty, Bool | Int);
        if expect_len != (wire == 2) || (!expect_len && wire != 0) {
            return Err(ProtobufError::Malformed(
                "wire type does not match the field",
            ));
        }
        match ty {
            Str => {
                let s = utf8(r.bytes()?, name)?;
                if !s.is_empty() {
                    out.insert(name.into(), s.into());
                }
            }
            Bool => {
                out.insert(name.into(), Value::Bool(r.varint()? != 0));
            }
            Int => {
                let n = r.varint()? as i64;
                if n != 0 {
                    out.insert(name.into(), n.into());
                }
            }
            Msg(sub) => {
                out.insert(name.into(), Value::Object(message(r.bytes()?, sub)?));
            }
            Time => {
                if let Some(t) = time(r.bytes()?)? {
                    out.insert(name.into(), t);
                }
            }
            MapStr | MapBytes => {
                let (k, v) = map_entry(r.bytes()?, matches!(ty, MapBytes), name)?;
                let m = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = m {
                    m.insert(k, v);
                }
            }
            RepStr => {
                let s = utf8(r.bytes()?, name)?;
                push(&mut out, name, s.into());
            }
            RepMsg(sub) => {
                let v = Value::Object(message(r.bytes()?, sub)?);
                push(&mut out, name, v);
            }
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    if let Value::Array(a) = out.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
        a.push(v);
    }
}

/// Decodes a `k8s\0`-prefixed body into JSON with `apiVersion` and `kind` set.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::Magic)?;
    let mut r = Reader { buf: rest };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((num, wire)) = r.tag()? {
        match (num, wire) {
            (1, 2) => {
                let mut tm = Reader { buf: r.bytes()? };
                while let Some((n, w)) = tm.tag()? {
                    match (n, w) {
                        (1, 2) => api_version = utf8(tm.bytes()?, "apiVersion")?,
                        (2, 2) => kind = utf8(tm.bytes()?, "kind")?,
                        (_, w) => tm.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?,
            (_, w) => r.skip(w)?,
        }
    }
    let fields = schema(&kind).ok_or_else(|| ProtobufError::UnknownKind(kind.clone()))?;
    let mut obj = message(raw, fields)?;
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.into());
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn kubectl_132_create_serviceaccount() {
        // Captured from `kubectl create serviceaccount sa-32` (kubectl-contract §5.2).
        let body = hex(
            "6b 38 73 00 0a 14 0a 02 76 31 12 0e 53 65 72 76 69 63 65 41 63 63 6f 75 6e 74
             12 17 0a 15 0a 05 73 61 2d 33 32 12 00 1a 00 22 00 2a 00 32 00 38 00 42 00
             1a 00 22 00",
        );
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa-32"}})
        );
    }

    #[test]
    fn kubectl_133_can_i() {
        let mut body = hex("6b 38 73 00 0a 32 0a 17");
        body.extend(b"authorization.k8s.io/v1");
        body.extend(hex("12 17"));
        body.extend(b"SelfSubjectAccessReview");
        body.extend(hex(
            "12 40 0a 10 0a 00 12 00 1a 00 22 00 2a 00 32 00 38 00 42 00
             12 22 0a 20 0a 04 64 65 6d 6f 12 06 63 72 65 61 74 65 1a 00 22 00 2a 04 70 6f 64 73 32 04 65 78 65 63 3a 00
             1a 08 08 00 12 00 1a 00 20 00 1a 00 22 00",
        ));
        let v = decode(&body).unwrap();
        assert_eq!(
            v["spec"],
            json!({"resourceAttributes":{"namespace":"demo","verb":"create","resource":"pods","subresource":"exec"}})
        );
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
    }

    #[test]
    fn repeated_empty_string_is_the_core_group() {
        // ClusterRole{metadata{name:"r"}, rules[{verbs:["get"], apiGroups:[""]}]}
        let mut raw = vec![0x0a, 0x03, 0x0a, 0x01, b'r'];
        raw.extend([0x12, 0x07, 0x0a, 0x03, b'g', b'e', b't', 0x12, 0x00]);
        let mut body = b"k8s\0".to_vec();
        let tm = [
            &[0x0a, 0x1c][..],
            b"rbac.authorization.k8s.io/v1",
            &[0x12, 0x0b],
            b"ClusterRole",
        ]
        .concat();
        body.extend([0x0a, tm.len() as u8]);
        body.extend(&tm);
        body.extend([0x12, raw.len() as u8]);
        body.extend(&raw);
        let v = decode(&body).unwrap();
        assert_eq!(v["rules"], json!([{"verbs":["get"],"apiGroups":[""]}]));
    }

    #[test]
    fn secrets_maps_and_bytes() {
        // Secret{metadata{name:"s"}, data{"k": "\x00\x01"}, type:"Opaque"}
        let entry = [0x0a, 0x01, b'k', 0x12, 0x02, 0x00, 0x01];
        let mut raw = vec![0x0a, 0x03, 0x0a, 0x01, b's', 0x12, entry.len() as u8];
        raw.extend(entry);
        raw.extend([0x1a, 0x06]);
        raw.extend(b"Opaque");
        let mut body = b"k8s\0".to_vec();
        body.extend([0x0a, 0x0c, 0x0a, 0x02, b'v', b'1', 0x12, 0x06]);
        body.extend(b"Secret");
        body.extend([0x12, raw.len() as u8]);
        body.extend(&raw);
        let v = decode(&body).unwrap();
        assert_eq!(v["data"], json!({"k": "AAE="}));
        assert_eq!(v["type"], "Opaque");
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bad in [
            &b""[..],
            b"k8s",
            b"k8s\0\xff",
            b"k8s\0\x0a\x7f",
            b"k8s\0\x12\x02\x0a",
            b"\x00\x00\x00\x00",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let unknown = [&b"k8s\0\x0a\x07\x12\x05"[..], b"Thing"].concat();
        assert_eq!(
            decode(&unknown),
            Err(ProtobufError::UnknownKind("Thing".into()))
        );
    }
}
