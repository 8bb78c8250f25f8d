//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`,
//! `apimachinery/pkg/runtime/serializer/protobuf`): the `k8s\0` magic, a `runtime.Unknown`
//! envelope naming the kind, and the object inside, decoded by the [`crate::schema`] every
//! JSON response is ordered by, into the JSON the same object would have been sent as.
//!
//! go-to-protobuf's proto2 semantics: a Go field that is not a pointer is always written, so
//! an empty string, a zero number or `false` on the wire means "not set", as `omitempty`
//! would leave it out of JSON; a pointer field (`*bool`, `*int64`) is written only when set,
//! so its zero is kept. Inside repeated fields and maps every element is real (`""` in a
//! PolicyRule's apiGroups is the core group; a label may be empty).
//!
//! Sans-IO: bytes in, a `serde_json::Value` out; every malformed input is an error, never a
//! panic (a fuzz target drives it).

use crate::schema::{self, Field, FieldType, MsgId, Repr, Scalar, Schema};
use base64::Engine;
use serde_json::{Map, Value};

/// How deep messages may nest (an embedded object inside a RawExtension counts once more).
/// Served kinds nest at most about 12 deep; a body of 3 MiB could otherwise nest a million.
const MAX_DEPTH: usize = 64;

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
    Utf8(String),
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

    fn fixed(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if n > self.buf.len() {
            return Err(ProtobufError::Malformed("fixed field past end of message"));
        }
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b)
    }

    fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| ProtobufError::Malformed("length overflow"))?;
        if len > self.buf.len() {
            return Err(ProtobufError::Malformed("length past end of message"));
        }
        self.fixed(len)
    }

    fn skip(&mut self, wire: u64) -> Result<(), ProtobufError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed(8).map(drop),
            2 => self.bytes().map(drop),
            5 => self.fixed(4).map(drop),
            _ => Err(ProtobufError::Malformed("unsupported wire type")),
        }
    }

    /// The next (field number, wire type), or `None` at the end.
    fn tag(&mut self) -> Result<Option<(u32, u64)>, ProtobufError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let t = self.varint()?;
        let num =
            u32::try_from(t >> 3).map_err(|_| ProtobufError::Malformed("field number overflow"))?;
        if num == 0 {
            return Err(ProtobufError::Malformed("illegal tag 0"));
        }
        Ok(Some((num, t & 7)))
    }
}

/// Decodes a `k8s\0`-prefixed body into JSON with `apiVersion` and `kind` set.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
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
    let s = schema::get();
    let id = s
        .kind(&api_version, &kind)
        .filter(|id| s.message(*id).repr == Repr::Struct)
        .ok_or_else(|| ProtobufError::UnknownKind(kind.clone()))?;
    let mut obj = Decoder { schema: s }.message(raw, id, depth + 1)?;
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.into());
    Ok(Value::Object(obj))
}

fn utf8(b: &[u8], field: &str) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError::Utf8(field.to_string()))
}

struct Decoder {
    schema: &'static Schema,
}

impl Decoder {
    fn message(
        &self,
        b: &[u8],
        id: MsgId,
        depth: usize,
    ) -> Result<Map<String, Value>, ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(ProtobufError::Malformed("messages nested too deeply"));
        }
        let mut out = Map::new();
        let mut r = Reader { buf: b };
        let fields = &self.schema.message(id).fields;
        while let Some((num, wire)) = r.tag()? {
            let Some(f) = fields.iter().find(|f| f.number == num) else {
                r.skip(wire)?;
                continue;
            };
            self.field(&mut r, wire, f, &mut out, depth)?;
        }
        Ok(out)
    }

    fn field(
        &self,
        r: &mut Reader<'_>,
        wire: u64,
        f: &Field,
        out: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        let Some(name) = f.json else {
            // An inlined struct: its fields are the parent's.
            let FieldType::Message(inner) = f.ty else {
                return r.skip(wire);
            };
            if wire != 2 {
                return Err(ProtobufError::Malformed(
                    "wire type does not match the field",
                ));
            }
            for (k, v) in self.message(r.bytes()?, inner, depth + 1)? {
                out.insert(k, v);
            }
            return Ok(());
        };
        if let Some(key) = f.map_key {
            if wire != 2 {
                return Err(ProtobufError::Malformed(
                    "wire type does not match the field",
                ));
            }
            let (k, v) = self.map_entry(r.bytes()?, key, f.ty, name, depth)?;
            if let Value::Object(m) = out.entry(name).or_insert_with(|| Value::Object(Map::new())) {
                m.insert(k, v);
            }
            return Ok(());
        }
        if f.repeated {
            // Numbers may come packed: one length-delimited run of values.
            if let (FieldType::Scalar(s), 2) = (f.ty, wire) {
                if !matches!(s, Scalar::String | Scalar::Bytes | Scalar::Any) {
                    let mut packed = Reader { buf: r.bytes()? };
                    while !packed.buf.is_empty() {
                        let wire = if s == Scalar::Double { 1 } else { 0 };
                        let v = self.value(&mut packed, wire, f.ty, name, depth)?;
                        push(out, name, v.unwrap_or(Value::Null));
                    }
                    return Ok(());
                }
            }
            let v = self.value(r, wire, f.ty, name, depth)?;
            push(out, name, v.unwrap_or_else(|| zero(f.ty)));
            return Ok(());
        }
        match self.value(r, wire, f.ty, name, depth)? {
            Some(v) if f.pointer || !is_zero(&v) => {
                out.insert(name.into(), v);
            }
            // A non-pointer's zero is "not set"; it also unsets an earlier occurrence (the
            // last one wins in protobuf).
            _ => {
                out.remove(name);
            }
        }
        Ok(())
    }

    /// One value of type `ty`; `None` for a message with no JSON form here (an empty time).
    fn value(
        &self,
        r: &mut Reader<'_>,
        wire: u64,
        ty: FieldType,
        name: &str,
        depth: usize,
    ) -> Result<Option<Value>, ProtobufError> {
        let mismatch = || ProtobufError::Malformed("wire type does not match the field");
        let scalar = match ty {
            FieldType::Scalar(s) => s,
            FieldType::Message(id) => {
                if wire != 2 {
                    return Err(mismatch());
                }
                return self.typed_message(r.bytes()?, id, depth);
            }
        };
        let want = match scalar {
            Scalar::String | Scalar::Bytes | Scalar::Any => 2,
            Scalar::Double => 1,
            Scalar::Bool | Scalar::Int32 | Scalar::Int64 => 0,
        };
        if wire != want {
            return Err(mismatch());
        }
        Ok(Some(match scalar {
            Scalar::String => utf8(r.bytes()?, name)?.into(),
            Scalar::Bytes => base64::engine::general_purpose::STANDARD
                .encode(r.bytes()?)
                .into(),
            Scalar::Any => serde_json::from_slice(r.bytes()?).unwrap_or(Value::Null),
            Scalar::Bool => Value::Bool(r.varint()? != 0),
            // int32 negatives are sign-extended to 64 bits on the wire.
            Scalar::Int32 => Value::from(r.varint()? as i64 as i32),
            Scalar::Int64 => Value::from(r.varint()? as i64),
            Scalar::Double => {
                let b = r.fixed(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                serde_json::Number::from_f64(f64::from_le_bytes(a))
                    .map(Value::Number)
                    .ok_or(ProtobufError::Malformed("a double that JSON cannot hold"))?
            }
        }))
    }

    /// A message, in the JSON form of its kind: an object, or a leaf's own form.
    fn typed_message(
        &self,
        b: &[u8],
        id: MsgId,
        depth: usize,
    ) -> Result<Option<Value>, ProtobufError> {
        let m = self.schema.message(id);
        match m.repr {
            Repr::Struct => Ok(Some(Value::Object(self.message(b, id, depth + 1)?))),
            Repr::Embedded => {
                // runtime.RawExtension: `raw` holds the object, as JSON or as protobuf.
                let raw = self.first_bytes(b, 1)?;
                Ok(match raw {
                    None | Some([]) => None,
                    Some(raw) if raw.starts_with(b"k8s\0") => Some(decode_at(raw, depth + 1)?),
                    Some(raw) => serde_json::from_slice::<Value>(raw)
                        .ok()
                        .filter(Value::is_object),
                })
            }
            Repr::Leaf => self.leaf(b, m.name),
        }
    }

    fn leaf(&self, b: &[u8], name: &str) -> Result<Option<Value>, ProtobufError> {
        let mut r = Reader { buf: b };
        match name {
            "meta.v1.Time" | "meta.v1.MicroTime" => {
                let (mut secs, mut nanos) = (0i64, 0i64);
                while let Some((num, wire)) = r.tag()? {
                    match (num, wire) {
                        (1, 0) => secs = r.varint()? as i64,
                        (2, 0) => nanos = i64::from(r.varint()? as i64 as i32),
                        (_, w) => r.skip(w)?,
                    }
                }
                // JSON carries seconds (Time) or microseconds (MicroTime), no finer.
                nanos = if name == "meta.v1.Time" {
                    0
                } else {
                    nanos / 1000 * 1000
                };
                // Go's zero time is written as an empty message: JSON null, left unset here.
                if secs == 0 && nanos == 0 {
                    return Ok(None);
                }
                let Ok(t) = jiff::Timestamp::new(secs, i32::try_from(nanos).unwrap_or(0)) else {
                    return Err(ProtobufError::Malformed("timestamp out of range"));
                };
                Ok(Some(if name == "meta.v1.Time" {
                    api_types::format_rfc3339(t).into()
                } else {
                    api_types::format_micro_time(t).into()
                }))
            }
            "intstr.IntOrString" => {
                let (mut kind, mut int, mut string) = (0u64, 0i64, String::new());
                while let Some((num, wire)) = r.tag()? {
                    match (num, wire) {
                        (1, 0) => kind = r.varint()?,
                        (2, 0) => int = i64::from(r.varint()? as i64 as i32),
                        (3, 2) => string = utf8(r.bytes()?, "strVal")?,
                        (_, w) => r.skip(w)?,
                    }
                }
                Ok(Some(if kind == 1 { string.into() } else { int.into() }))
            }
            "resource.Quantity" => Ok(self
                .first_bytes(b, 1)?
                .map(|s| utf8(s, "quantity"))
                .transpose()?
                .map(Value::from)),
            "meta.v1.FieldsV1" => Ok(self
                .first_bytes(b, 1)?
                .and_then(|raw| serde_json::from_slice(raw).ok())),
            // Verbs, ExtraValue: a list of strings, as `items`.
            _ => {
                let mut items = Vec::new();
                while let Some((num, wire)) = r.tag()? {
                    match (num, wire) {
                        (1, 2) => items.push(Value::from(utf8(r.bytes()?, "items")?)),
                        (_, w) => r.skip(w)?,
                    }
                }
                Ok(Some(Value::Array(items)))
            }
        }
    }

    /// The last occurrence of length-delimited field `num` in a message.
    fn first_bytes<'a>(&self, b: &'a [u8], num: u32) -> Result<Option<&'a [u8]>, ProtobufError> {
        let mut r = Reader { buf: b };
        let mut found = None;
        while let Some((n, wire)) = r.tag()? {
            if n == num && wire == 2 {
                found = Some(r.bytes()?);
            } else {
                r.skip(wire)?;
            }
        }
        Ok(found)
    }

    fn map_entry(
        &self,
        b: &[u8],
        key: Scalar,
        value: FieldType,
        name: &str,
        depth: usize,
    ) -> Result<(String, Value), ProtobufError> {
        let mut r = Reader { buf: b };
        let (mut k, mut v) = (String::new(), None);
        while let Some((num, wire)) = r.tag()? {
            match num {
                1 => {
                    k = match self.value(&mut r, wire, FieldType::Scalar(key), name, depth)? {
                        Some(Value::String(s)) => s,
                        Some(other) => other.to_string(),
                        None => String::new(),
                    }
                }
                2 => v = self.value(&mut r, wire, value, name, depth)?,
                _ => r.skip(wire)?,
            }
        }
        Ok((k, v.unwrap_or_else(|| zero(value))))
    }
}

/// Encodes an object (with `apiVersion` and `kind`) as upstream's protobuf serializer does:
/// `k8s\0`, then a `runtime.Unknown` whose `raw` is the message, fields in number order as
/// gogo-protobuf writes them; every non-pointer field is written, its zero when unset; maps
/// in key order. The inverse of [`decode`] for what JSON can say.
pub fn encode(v: &Value) -> Result<Vec<u8>, ProtobufError> {
    let s = schema::get();
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let id = struct_kind(s, api_version, kind)?;
    let mut raw = Vec::new();
    Encoder { schema: s }.message(&mut raw, v.as_object(), id, 0)?;
    Ok(envelope_bytes(api_version, kind, &raw))
}

/// `k8s\0`, then the `runtime.Unknown` holding `raw`: its typeMeta, the message, and the
/// empty content encoding and type upstream writes.
fn envelope_bytes(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = b"k8s\0".to_vec();
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, raw);
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    out
}

/// One item of a list, as a list's `items` field holds it: the kind's message (typed by
/// `api_version` and `kind`; the item itself need carry neither), without its field tag and
/// length. [`splice_items`] joins such items into a list.
pub fn item(v: &Value, api_version: &str, kind: &str) -> Result<Vec<u8>, ProtobufError> {
    let s = schema::get();
    let id = struct_kind(s, api_version, kind)?;
    let mut out = Vec::new();
    Encoder { schema: s }.message(&mut out, v.as_object(), id, 0)?;
    Ok(out)
}

/// A list whose items are encoded already ([`item`]): `envelope` is the list (apiVersion,
/// kind, metadata) with no items. The same bytes as [`encode`] of the list holding them: a
/// list message is its `ListMeta` (field 1) and then its items (field 2), written in field
/// order, so the items follow the envelope's own fields.
pub fn splice_items(
    envelope: &Value,
    items: &[impl AsRef<[u8]>],
) -> Result<Vec<u8>, ProtobufError> {
    let s = schema::get();
    let text = |k: &str| envelope.get(k).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let id = struct_kind(s, api_version, kind)?;
    let items_field = s
        .message(id)
        .fields
        .iter()
        .find(|f| f.json == Some("items") && f.repeated)
        .map(|f| f.number)
        .ok_or(ProtobufError::Malformed("not a list kind"))?;
    if s.message(id).fields.iter().any(|f| f.number > items_field) {
        return Err(ProtobufError::Malformed("a list field after items"));
    }
    let mut raw = Vec::new();
    Encoder { schema: s }.message(&mut raw, envelope.as_object(), id, 0)?;
    for i in items {
        put_bytes(&mut raw, items_field, i.as_ref());
    }
    Ok(envelope_bytes(api_version, kind, &raw))
}

/// Whether a kind has a protobuf form of its own: what [`encode`] writes for it.
pub fn has_form(api_version: &str, kind: &str) -> bool {
    struct_kind(schema::get(), api_version, kind).is_ok()
}

/// One frame of a protobuf watch stream (`application/vnd.kubernetes.protobuf;stream=watch`),
/// as apiserver's `WatchServer` writes it: a `meta.v1.WatchEvent` encoded raw (no `k8s\0`
/// envelope: the stream's media type names it; apimachinery's `RawSerializer`), whose
/// `object` is a `runtime.RawExtension` holding `object`, the embedded object's whole
/// encoding ([`encode`]), behind `LengthDelimitedFramer`'s 4-byte big-endian length
/// (`apimachinery/pkg/util/framer`). `None` for an event past 4 GiB, which no frame can say.
pub fn watch_event_frame(type_: &str, object: &[u8]) -> Option<Vec<u8>> {
    let mut raw = Vec::with_capacity(object.len() + 8);
    put_bytes(&mut raw, 1, object);
    let mut event = Vec::with_capacity(raw.len() + type_.len() + 8);
    put_bytes(&mut event, 1, type_.as_bytes());
    put_bytes(&mut event, 2, &raw);
    let len = u32::try_from(event.len()).ok()?;
    let mut out = Vec::with_capacity(event.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&event);
    Some(out)
}

/// The message of a kind with a protobuf form of its own (a struct).
fn struct_kind(s: &Schema, api_version: &str, kind: &str) -> Result<MsgId, ProtobufError> {
    s.kind(api_version, kind)
        .filter(|id| s.message(*id).repr == Repr::Struct)
        .ok_or_else(|| ProtobufError::UnknownKind(kind.to_string()))
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_tag(out: &mut Vec<u8>, num: u32, wire: u64) {
    put_varint(out, (u64::from(num) << 3) | wire);
}

fn put_bytes(out: &mut Vec<u8>, num: u32, b: &[u8]) {
    put_tag(out, num, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Encoder {
    schema: &'static Schema,
}

impl Encoder {
    fn message(
        &self,
        out: &mut Vec<u8>,
        m: Option<&Map<String, Value>>,
        id: MsgId,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(ProtobufError::Malformed("messages nested too deeply"));
        }
        let mut fields: Vec<&Field> = self.schema.message(id).fields.iter().collect();
        fields.sort_by_key(|f| f.number);
        for f in fields {
            let Some(name) = f.json else {
                if let FieldType::Message(inner) = f.ty {
                    // An inlined struct: its fields come from the parent's object.
                    let mut sub = Vec::new();
                    self.message(&mut sub, m, inner, depth + 1)?;
                    put_bytes(out, f.number, &sub);
                }
                continue;
            };
            let v = m.and_then(|m| m.get(name)).filter(|v| !v.is_null());
            if let Some(key) = f.map_key {
                for (k, v) in v.and_then(Value::as_object).into_iter().flatten() {
                    let mut entry = Vec::new();
                    self.value(
                        &mut entry,
                        1,
                        &Value::from(k.as_str()),
                        FieldType::Scalar(key),
                        depth,
                    )?;
                    self.value(&mut entry, 2, v, f.ty, depth)?;
                    put_bytes(out, f.number, &entry);
                }
            } else if f.repeated {
                for item in v.and_then(Value::as_array).into_iter().flatten() {
                    self.value(out, f.number, item, f.ty, depth)?;
                }
            } else if let Some(v) = v {
                self.value(out, f.number, v, f.ty, depth)?;
            } else if !f.pointer {
                self.value(out, f.number, &zero(f.ty), f.ty, depth)?;
            }
        }
        Ok(())
    }

    fn value(
        &self,
        out: &mut Vec<u8>,
        num: u32,
        v: &Value,
        ty: FieldType,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        let bad = || ProtobufError::Malformed("a value does not match its field's type");
        match ty {
            FieldType::Scalar(Scalar::String) => {
                put_bytes(out, num, v.as_str().ok_or_else(bad)?.as_bytes());
            }
            FieldType::Scalar(Scalar::Bytes) => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().ok_or_else(bad)?)
                    .map_err(|_| bad())?;
                put_bytes(out, num, &b);
            }
            FieldType::Scalar(Scalar::Any) => put_bytes(out, num, v.to_string().as_bytes()),
            FieldType::Scalar(Scalar::Bool) => {
                put_tag(out, num, 0);
                put_varint(out, u64::from(v.as_bool().ok_or_else(bad)?));
            }
            FieldType::Scalar(Scalar::Int32 | Scalar::Int64) => {
                put_tag(out, num, 0);
                put_varint(out, v.as_i64().ok_or_else(bad)? as u64);
            }
            FieldType::Scalar(Scalar::Double) => {
                put_tag(out, num, 1);
                out.extend_from_slice(&v.as_f64().ok_or_else(bad)?.to_le_bytes());
            }
            FieldType::Message(id) => {
                let mut sub = Vec::new();
                let m = self.schema.message(id);
                match m.repr {
                    Repr::Struct => self.message(&mut sub, v.as_object(), id, depth + 1)?,
                    Repr::Embedded => {
                        if v.is_object() {
                            put_bytes(&mut sub, 1, v.to_string().as_bytes());
                        }
                    }
                    Repr::Leaf => leaf(&mut sub, m.name, v).ok_or_else(bad)?,
                }
                put_bytes(out, num, &sub);
            }
        }
        Ok(())
    }
}

/// A leaf message from its JSON form; `None` when the JSON is not of that form.
fn leaf(out: &mut Vec<u8>, name: &str, v: &Value) -> Option<()> {
    match name {
        "meta.v1.Time" | "meta.v1.MicroTime" => {
            if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                let t = api_types::parse_rfc3339(s)?;
                put_tag(out, 1, 0);
                put_varint(out, t.as_second() as u64);
                if name == "meta.v1.MicroTime" {
                    put_tag(out, 2, 0);
                    put_varint(out, u64::from(t.subsec_nanosecond().unsigned_abs()));
                }
            }
        }
        "intstr.IntOrString" => {
            let (kind, int, string) = match v {
                Value::String(s) => (1, 0, s.as_str()),
                Value::Number(n) => (0, n.as_i64()?, ""),
                _ => (0, 0, ""), // unset: the zero IntOrString
            };
            put_tag(out, 1, 0);
            put_varint(out, kind);
            put_tag(out, 2, 0);
            put_varint(out, int as u64);
            put_bytes(out, 3, string.as_bytes());
        }
        "resource.Quantity" => {
            if let Some(q) = v.as_str() {
                put_bytes(out, 1, q.as_bytes());
            }
        }
        "meta.v1.FieldsV1" => put_bytes(out, 1, v.to_string().as_bytes()),
        _ => {
            for item in v.as_array()? {
                put_bytes(out, 1, item.as_str()?.as_bytes());
            }
        }
    }
    Some(())
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    if let Value::Array(a) = out.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
        a.push(v);
    }
}

/// A type's zero value in JSON (an element or map value that was written empty).
fn zero(ty: FieldType) -> Value {
    match ty {
        FieldType::Scalar(Scalar::String | Scalar::Bytes) => Value::from(""),
        FieldType::Scalar(Scalar::Bool) => Value::Bool(false),
        FieldType::Scalar(Scalar::Int32 | Scalar::Int64 | Scalar::Double) => Value::from(0),
        FieldType::Scalar(Scalar::Any) => Value::Null,
        FieldType::Message(_) => Value::Object(Map::new()),
    }
}

/// Whether a decoded value is its type's zero, which a non-pointer field writes when unset:
/// an empty string, `false`, 0 (an IntOrString's zero too), an empty struct (a `spec` or
/// `status` the client never filled).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
    }
}

#[cfg(test)]
mod tests;
