//! The structure of every kind kubeward returns, as kube-apiserver 1.33 declares it: each
//! message's fields in Go struct order, with protobuf numbers, JSON names, types, and which
//! embedded structs are inlined. Read once from `schema.txt`, which `scripts/wire-schema`
//! generates from upstream's `generated.proto` and `types.go` files, plus the few kinds that
//! have no protobuf form ([`HAND`]).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The generated schema (see the module docs; do not edit it by hand).
pub const GENERATED: &str = include_str!("schema.txt");

/// The meta kinds upstream marks `+protobuf=false`, so `generated.proto` lacks them: the
/// server-side printing Table (`staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go`,
/// `Table`, `TableColumnDefinition`, `TableRow`, `TableRowCondition`), in Go struct order and
/// with numbers of our own. Cells are any JSON.
pub const HAND: &str = "\
message meta.v1.Table
1 metadata meta.v1.ListMeta
2 columnDefinitions meta.v1.TableColumnDefinition repeated
3 rows meta.v1.TableRow repeated
message meta.v1.TableColumnDefinition
1 name string
2 type string
3 format string
4 description string
5 priority int32
message meta.v1.TableRow
1 cells any repeated
2 conditions meta.v1.TableRowCondition repeated
3 object runtime.RawExtension
message meta.v1.TableRowCondition
1 type string
2 status string
3 reason string
4 message string
";

/// A field line as read: number, JSON name, type, and the whole line (for its flags).
type RawField = (u32, &'static str, &'static str, &'static str);

/// A message's index in the [`Schema`].
pub type MsgId = usize;

/// A scalar field's protobuf type; `Any` is free-form JSON (a Table cell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// `string`.
    String,
    /// `bool`.
    Bool,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `double`.
    Double,
    /// `bytes` (base64 in JSON).
    Bytes,
    /// Any JSON value (no protobuf form).
    Any,
}

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A scalar.
    Scalar(Scalar),
    /// A message.
    Message(MsgId),
}

/// One field of a message.
#[derive(Debug, Clone)]
pub struct Field {
    /// The protobuf field number.
    pub number: u32,
    /// The JSON name; `None` for an embedded struct whose fields are inlined (`json:",inline"`).
    pub json: Option<&'static str>,
    /// The (element or map value) type.
    pub ty: FieldType,
    /// A repeated field (a JSON array).
    pub repeated: bool,
    /// A map field: the key's scalar type.
    pub map_key: Option<Scalar>,
    /// A Go pointer (`*bool`, `*int64`): a zero value on the wire is set, not absent.
    pub pointer: bool,
}

/// How a message is written as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// An object of the message's fields.
    Struct,
    /// A value with a JSON form of its own (a string, number or array), written as it is:
    /// `Time`, `MicroTime`, `Quantity`, `IntOrString`, `FieldsV1`, `Verbs`, `ExtraValue`.
    Leaf,
    /// `runtime.RawExtension`: an embedded object, written as the kind it names.
    Embedded,
}

/// One message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its short name, `core.v1.Pod`, `meta.v1.ObjectMeta`.
    pub name: &'static str,
    /// Its fields in declaration (Go struct) order.
    pub fields: Vec<Field>,
    /// How it is written as JSON.
    pub repr: Repr,
}

/// A message's JSON keys in the order Go writes them, inlined structs' fields in place:
/// what the JSON encoder walks.
#[derive(Debug)]
pub struct Order {
    /// The keys in output order.
    pub slots: Vec<Slot>,
    /// (name, index into `slots`), sorted by length then bytes, for lookups by key: most
    /// keys differ from most names in length, so few comparisons reach the bytes.
    by_name: Vec<(&'static str, u16)>,
}

/// One JSON key of a message.
#[derive(Debug)]
pub struct Slot {
    /// `"name":`, ready to write.
    pub quoted: Box<[u8]>,
    /// The field (for its type).
    pub field: Field,
}

impl Order {
    /// The position of a JSON key among the slots.
    pub fn position(&self, key: &str) -> Option<u16> {
        self.by_name
            .binary_search_by(|(n, _)| (n.len(), n.as_bytes()).cmp(&(key.len(), key.as_bytes())))
            .ok()
            .map(|i| self.by_name[i].1)
    }
}

/// Every message, by index and by name.
#[derive(Debug)]
pub struct Schema {
    messages: Vec<Message>,
    orders: Vec<Order>,
    by_name: HashMap<&'static str, MsgId>,
}

/// Why schema text could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// A line is not `message NAME` or a field line.
    #[error("line {0}: not a message or field line")]
    Syntax(usize),
    /// A field names a type that is neither a scalar nor a message of the schema.
    #[error("message {0}: unknown type {1}")]
    UnknownType(String, String),
}

fn scalar(s: &str) -> Option<Scalar> {
    Some(match s {
        "string" => Scalar::String,
        "bool" => Scalar::Bool,
        "int32" => Scalar::Int32,
        "int64" => Scalar::Int64,
        "double" => Scalar::Double,
        "bytes" => Scalar::Bytes,
        "any" => Scalar::Any,
        _ => return None,
    })
}

fn repr(name: &str) -> Repr {
    match name {
        "runtime.RawExtension" => Repr::Embedded,
        "meta.v1.Time"
        | "meta.v1.MicroTime"
        | "meta.v1.Duration"
        | "meta.v1.FieldsV1"
        | "meta.v1.Verbs"
        | "resource.Quantity"
        | "intstr.IntOrString"
        | "authentication.v1.ExtraValue"
        | "authorization.v1.ExtraValue" => Repr::Leaf,
        _ => Repr::Struct,
    }
}

impl Schema {
    /// Reads schema text (the format `scripts/wire-schema` documents).
    pub fn parse(texts: &[&'static str]) -> Result<Schema, SchemaError> {
        // Two passes: names first, so that a field may name a message declared after it.
        let mut raw: Vec<(&'static str, Vec<RawField>)> = Vec::new();
        for text in texts {
            for (i, line) in text.lines().enumerate() {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if let Some(name) = line.strip_prefix("message ") {
                    raw.push((name, Vec::new()));
                    continue;
                }
                let mut parts = line.split(' ');
                let (Some(num), Some(json), Some(ty), Some(current)) =
                    (parts.next(), parts.next(), parts.next(), raw.last_mut())
                else {
                    return Err(SchemaError::Syntax(i + 1));
                };
                let num = num.parse().map_err(|_| SchemaError::Syntax(i + 1))?;
                current.1.push((num, json, ty, line));
            }
        }
        let by_name: HashMap<&'static str, MsgId> =
            raw.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
        let mut messages = Vec::with_capacity(raw.len());
        for (name, fields) in raw {
            let mut out = Vec::with_capacity(fields.len());
            for (number, json, ty, line) in fields {
                let flags: Vec<&str> = line.split(' ').skip(3).collect();
                let ty = match scalar(ty) {
                    Some(s) => FieldType::Scalar(s),
                    None => FieldType::Message(*by_name.get(ty).ok_or_else(|| {
                        SchemaError::UnknownType(name.to_string(), ty.to_string())
                    })?),
                };
                out.push(Field {
                    number,
                    json: (!flags.contains(&"inline")).then_some(json),
                    ty,
                    repeated: flags.contains(&"repeated"),
                    map_key: flags
                        .iter()
                        .find_map(|f| f.strip_prefix("map="))
                        .and_then(scalar),
                    pointer: flags.contains(&"ptr"),
                });
            }
            messages.push(Message {
                name,
                fields: out,
                repr: repr(name),
            });
        }
        let orders = (0..messages.len())
            .map(|id| {
                let mut slots = Vec::new();
                flatten(&messages, id, &mut slots, 0);
                let mut by_name: Vec<(&'static str, u16)> = slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s): (usize, &Slot)| {
                        Some((s.field.json?, u16::try_from(i).ok()?))
                    })
                    .collect();
                by_name.sort_unstable_by(|(a, i), (b, j)| {
                    (a.len(), a.as_bytes(), i).cmp(&(b.len(), b.as_bytes(), j))
                });
                by_name.dedup_by_key(|(n, _)| *n);
                Order { slots, by_name }
            })
            .collect();
        Ok(Schema {
            messages,
            orders,
            by_name,
        })
    }

    /// A message's keys in output order.
    pub fn order(&self, id: MsgId) -> &Order {
        &self.orders[id]
    }

    /// How many messages there are (their ids are `0..len()`).
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// A message by index.
    pub fn message(&self, id: MsgId) -> &Message {
        &self.messages[id]
    }

    /// A message by its short name (`core.v1.Pod`).
    pub fn id(&self, name: &str) -> Option<MsgId> {
        self.by_name.get(name).copied()
    }

    /// The message of an object's `apiVersion` and `kind`: the group's package
    /// (`rbac.authorization.k8s.io/v1` → `rbac.v1`, `v1` → `core.v1`), then apimachinery's
    /// own kinds, which every group version returns (`Status`, `APIResourceList`, `List`).
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<MsgId> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let package = match group {
            "" => "core",
            g => g.split('.').next().unwrap_or(g),
        };
        let mut name = String::with_capacity(package.len() + version.len() + kind.len() + 2);
        for p in [package, "meta"] {
            name.clear();
            name.push_str(p);
            name.push('.');
            name.push_str(if p == "meta" { "v1" } else { version });
            name.push('.');
            name.push_str(kind);
            if let Some(id) = self.id(&name) {
                return Some(id);
            }
        }
        None
    }

    /// Whether `key` is a JSON name of message `id` (inlined structs' fields included).
    pub fn has_field(&self, id: MsgId, key: &str) -> bool {
        self.orders[id].position(key).is_some()
    }
}

/// The JSON keys of message `id`, inlined structs expanded in place (nesting bounded).
fn flatten(messages: &[Message], id: MsgId, out: &mut Vec<Slot>, depth: usize) {
    for f in &messages[id].fields {
        match (f.json, f.ty) {
            (Some(name), _) => {
                let mut quoted = Vec::with_capacity(name.len() + 3);
                crate::json::write_str(&mut quoted, name);
                quoted.push(b':');
                out.push(Slot {
                    quoted: quoted.into_boxed_slice(),
                    field: f.clone(),
                });
            }
            (None, FieldType::Message(inner)) if depth < 8 => {
                flatten(messages, inner, out, depth + 1);
            }
            (None, _) => {}
        }
    }
}

/// The schema of kube-apiserver 1.33's kinds, parsed on first use.
pub fn get() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(&[GENERATED, HAND]).expect("the generated schema parses"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parses_and_every_type_resolves() {
        let s = get();
        assert!(s.messages.len() > 250, "{}", s.messages.len());
        let pod = s.kind("v1", "Pod").expect("Pod");
        let names: Vec<_> = s.message(pod).fields.iter().map(|f| f.json).collect();
        assert_eq!(names, [Some("metadata"), Some("spec"), Some("status")]);
        assert_eq!(
            s.kind("rbac.authorization.k8s.io/v1", "ClusterRole"),
            s.id("rbac.v1.ClusterRole")
        );
        assert_eq!(s.kind("v1", "Status"), s.id("meta.v1.Status"));
        assert_eq!(s.kind("meta.k8s.io/v1", "Table"), s.id("meta.v1.Table"));
        assert_eq!(s.kind("v1", "NoSuchKind"), None);
        let volume = s.id("core.v1.Volume").expect("Volume");
        assert!(s.has_field(volume, "secret") && s.has_field(volume, "name"));
        assert!(!s.has_field(volume, "volumeSource"));
        let spec = s.id("core.v1.ServiceSpec").expect("ServiceSpec");
        let field = |n: &str| {
            s.message(spec)
                .fields
                .iter()
                .find(|f| f.json == Some(n))
                .cloned()
                .expect(n)
        };
        assert!(field("allocateLoadBalancerNodePorts").pointer);
        assert!(!field("clusterIP").pointer && field("clusterIPs").repeated);
        assert_eq!(field("selector").map_key, Some(Scalar::String));
    }

    #[test]
    fn bad_text_is_refused_with_its_line() {
        assert_eq!(
            Schema::parse(&["message a.B\nnot-a-number x string\n"]).err(),
            Some(SchemaError::Syntax(2))
        );
        assert_eq!(
            Schema::parse(&["message a.B\n1 x a.C\n"]).err(),
            Some(SchemaError::UnknownType("a.B".into(), "a.C".into()))
        );
    }
}
