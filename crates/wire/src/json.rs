//! JSON as kube-apiserver writes it (`apimachinery/pkg/runtime/serializer/json/json.go`,
//! `doEncode`): Go's `encoding/json` over the typed object, so
//!
//! - a struct's fields come in Go declaration order, `kind` and `apiVersion` first (the
//!   embedded `TypeMeta`), inlined structs' fields in place ([`crate::schema`]);
//! - a map's keys come sorted bytewise (Go sorts map keys);
//! - strings are escaped as Go escapes them: `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`...,
//!   `\b \f \n \r \t` short, other control characters as `\u00XX`;
//! - compact output ends with a newline (`json.Encoder.Encode`); pretty output
//!   (`json.MarshalIndent(obj, "", "  ")`) does not.
//!
//! Sans-IO: a `serde_json::Value` in, bytes out. Keys the schema does not know (a kind of
//! kubeward's own, a field newer than 1.33) follow the known ones, sorted, so nothing is lost.

use crate::schema::{self, FieldType, MsgId, Repr, Schema};
use serde_json::{Map, Value};

/// Layout: compact (with the trailing newline) or two-space indented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `json.Encoder.Encode`: no spaces, a newline at the end.
    Compact,
    /// `json.MarshalIndent(obj, "", "  ")`: no newline at the end.
    Pretty,
}

/// An object (or list, Status, discovery document...), typed by its own `apiVersion` and
/// `kind`.
pub fn to_vec(v: &Value, layout: Layout) -> Vec<u8> {
    let mut w = Writer::new(layout);
    w.object(v);
    w.finish()
}

/// An object whose `kind` is implied rather than written (a discovery document of kind
/// `APIVersions` written without it is still ordered as one): `message` is the schema's short
/// name (`meta.v1.APIVersions`).
pub fn to_vec_as(v: &Value, message: &str, layout: Layout) -> Vec<u8> {
    let mut w = Writer::new(layout);
    match schema::get().id(message) {
        Some(id) => w.typed(v, FieldType::Message(id), true),
        None => w.any(v),
    }
    w.finish()
}

/// One item of a list, as a list's encoding holds it: typed by the kind `api_version` and
/// `kind` name (the item itself usually carries neither), compact, without the newline.
/// [`splice_items`] joins such items into a list.
pub fn item(v: &Value, api_version: &str, kind: &str) -> Vec<u8> {
    let mut w = Writer::new(Layout::Compact);
    match w.schema.kind(api_version, kind) {
        // As a list's `items` field writes each element.
        Some(id) => w.typed(v, FieldType::Message(id), false),
        None => w.any(v),
    }
    w.out
}

/// A list whose items are encoded already ([`item`]): `envelope` is the list with an empty
/// `items` array (kind, apiVersion, metadata), encoded compact as [`to_vec`] encodes it;
/// its `"items":[]` is replaced by the items joined. The same bytes as [`to_vec`] of the list
/// holding the items, since an array's elements are written by themselves, with nothing
/// between them but a comma.
pub fn splice_items(envelope: &Value, items: &[impl AsRef<[u8]>]) -> Vec<u8> {
    let head = to_vec(envelope, Layout::Compact);
    // `"items":[]` outside a string: inside one, its quotes would be escaped; ListMeta's
    // keys are fixed, so this is the envelope's own items field.
    const EMPTY: &[u8] = b"\"items\":[]";
    let Some(at) = head.windows(EMPTY.len()).position(|w| w == EMPTY) else {
        // No items field to fill (not a list): nothing to splice into.
        return head;
    };
    let at = at + EMPTY.len() - 1;
    let size: usize = items.iter().map(|i| i.as_ref().len() + 1).sum();
    let mut out = Vec::with_capacity(head.len() + size);
    out.extend_from_slice(&head[..at]);
    for (n, i) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(i.as_ref());
    }
    out.extend_from_slice(&head[at..]);
    out
}

/// A watch event (`metav1.WatchEvent`: `type`, then `object`), one line of a JSON watch stream.
pub fn watch_event(type_: &str, object: &Value) -> Vec<u8> {
    let mut w = Writer::new(Layout::Compact);
    w.out.extend_from_slice(b"{\"type\":");
    write_str(&mut w.out, type_);
    w.out.extend_from_slice(b",\"object\":");
    w.object(object);
    w.out.push(b'}');
    w.finish()
}

struct Writer {
    out: Vec<u8>,
    pretty: bool,
    depth: usize,
    schema: &'static Schema,
}

impl Writer {
    fn new(layout: Layout) -> Self {
        Writer {
            out: Vec::with_capacity(256),
            pretty: layout == Layout::Pretty,
            depth: 0,
            schema: schema::get(),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if !self.pretty {
            self.out.push(b'\n');
        }
        self.out
    }

    /// An object typed by its own `apiVersion` and `kind`.
    fn object(&mut self, v: &Value) {
        let id = match v {
            // Discovery's APIVersions is written with a kind and no apiVersion.
            Value::Object(m) => match (m.get("apiVersion"), m.get("kind")) {
                (Some(Value::String(av)), Some(Value::String(k))) => self.schema.kind(av, k),
                (None, Some(Value::String(k))) => self.schema.kind("v1", k),
                _ => None,
            },
            _ => None,
        };
        match id {
            Some(id) => self.typed(v, FieldType::Message(id), true),
            None => self.any(v),
        }
    }

    fn newline(&mut self) {
        if self.pretty {
            self.out.push(b'\n');
            for _ in 0..self.depth {
                self.out.extend_from_slice(b"  ");
            }
        }
    }

    fn key(&mut self, first: &mut bool, k: &str) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        self.newline();
        write_str(&mut self.out, k);
        self.out.push(b':');
        if self.pretty {
            self.out.push(b' ');
        }
    }

    /// Opens a container; `close` must follow with the same `first` flag.
    fn open(&mut self, c: u8) {
        self.out.push(c);
        self.depth += 1;
    }

    fn close(&mut self, c: u8, empty: bool) {
        self.depth -= 1;
        if !empty {
            self.newline();
        }
        self.out.push(c);
    }

    /// A value of a known type.
    fn typed(&mut self, v: &Value, ty: FieldType, top: bool) {
        let FieldType::Message(id) = ty else {
            return self.any(v);
        };
        match (self.schema.message(id).repr, v) {
            (Repr::Struct, Value::Object(m)) => self.strukt(m, id, top),
            (Repr::Embedded, _) => self.object(v),
            _ => self.any(v),
        }
    }

    fn strukt(&mut self, m: &Map<String, Value>, id: MsgId, top: bool) {
        let schema = self.schema;
        let order = schema.order(id);
        self.open(b'{');
        let mut first = true;
        if top {
            for k in ["kind", "apiVersion"] {
                if let Some(v) = m.get(k) {
                    self.key(&mut first, k);
                    self.any(v);
                }
            }
        }
        // The object's keys by their place in the struct (up to 32 on the stack; a larger
        // object, or keys the schema lacks, take the slower way).
        const STACK: usize = 32;
        let mut known: [(u16, Option<&Value>); STACK] = [(0, None); STACK];
        let (mut n, mut unknown, mut overflow) = (0, false, false);
        for (k, v) in m {
            match order.position(k) {
                Some(p) if n < STACK => {
                    known[n] = (p, Some(v));
                    n += 1;
                }
                Some(_) => overflow = true,
                None if top && (k == "kind" || k == "apiVersion") => {}
                None => unknown = true,
            }
        }
        if overflow {
            // Too many keys for the stack: every slot in order, looked up.
            for slot in &order.slots {
                if let Some(v) = slot.field.json.and_then(|name| m.get(name)) {
                    self.slot(&mut first, slot, v);
                }
            }
        } else {
            let known = &mut known[..n];
            known.sort_unstable_by_key(|(p, _)| *p);
            for (p, v) in known.iter() {
                if let Some(v) = v {
                    self.slot(&mut first, &order.slots[usize::from(*p)], v);
                }
            }
        }
        if unknown {
            // Keys the schema does not know, sorted, after the known ones.
            for (k, v) in m {
                let typemeta = top && (k == "kind" || k == "apiVersion");
                if !typemeta && order.position(k).is_none() {
                    self.key(&mut first, k);
                    self.any(v);
                }
            }
        }
        self.close(b'}', first);
    }

    /// One field of a struct, key and value.
    fn slot(&mut self, first: &mut bool, slot: &schema::Slot, v: &Value) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        self.newline();
        self.out.extend_from_slice(&slot.quoted);
        if self.pretty {
            self.out.push(b' ');
        }
        let f = &slot.field;
        match v {
            Value::Array(items) if f.repeated => {
                self.open(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.newline();
                    self.typed(item, f.ty, false);
                }
                self.close(b']', items.is_empty());
            }
            Value::Object(entries) if f.map_key.is_some() => {
                self.open(b'{');
                let mut first = true;
                for (k, v) in entries {
                    self.key(&mut first, k);
                    self.typed(v, f.ty, false);
                }
                self.close(b'}', first);
            }
            v => self.typed(v, f.ty, false),
        }
    }

    /// Any JSON, keys sorted (a map, or a kind the schema lacks).
    fn any(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.out
                        .extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                } else {
                    self.out.extend_from_slice(n.to_string().as_bytes());
                }
            }
            Value::String(s) => write_str(&mut self.out, s),
            Value::Array(items) => {
                self.open(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.newline();
                    self.any(item);
                }
                self.close(b']', items.is_empty());
            }
            Value::Object(m) => {
                self.open(b'{');
                let mut first = true;
                for (k, v) in m {
                    self.key(&mut first, k);
                    self.any(v);
                }
                self.close(b'}', first);
            }
        }
    }
}

/// Compact JSON (as [`to_vec`] writes it) laid out as `json.MarshalIndent(v, "", "  ")` would
/// lay out the same value: Go's `json.Indent` over `json.Marshal`'s bytes, so empty objects and
/// arrays stay `{}` and `[]`, and the encoder's trailing newline goes. The pretty serializer
/// upstream's negotiation picks for `?pretty=1` and for curl, Wget and browsers.
pub fn indent(compact: &[u8]) -> Vec<u8> {
    let src = compact.strip_suffix(b"\n").unwrap_or(compact);
    let mut out = Vec::with_capacity(src.len() + src.len() / 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(b"  ");
        }
    };
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        i += 1;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                out.push(c);
                // An empty object or array stays closed up.
                if matches!(src.get(i), Some(b'}' | b']')) {
                    out.push(src[i]);
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Which bytes a Go JSON string escapes: 0 none; `u` as `\u00XX`; a letter as `\<letter>`;
/// `h` the HTML-safe `\u00XX` escapes; `x` a lead byte of U+2028/U+2029 to look at.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'<' as usize] = b'h';
    t[b'>' as usize] = b'h';
    t[b'&' as usize] = b'h';
    t[0xe2] = b'x';
    t
};

/// A JSON string as Go's `encoding/json` writes it (HTML-safe, U+2028/2029 escaped).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let class = ESCAPE[usize::from(b)];
        if class == 0 {
            i += 1;
            continue;
        }
        if class == b'x' {
            // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: E2 80 A8/A9.
            if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            } else {
                i += 1;
            }
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match class {
            b'u' | b'h' => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            c => {
                out.push(b'\\');
                out.push(c);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests;
