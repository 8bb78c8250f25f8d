//! The structure of a set of kinds, as field management needs it: which objects are structs
//! (fixed fields) and which are maps (free keys), which lists are atomic, sets or keyed maps.
//! Read from OpenAPI v2 definitions with their `x-kubernetes-*` extensions, as upstream's
//! `managedfields.TypeConverter` reads the OpenAPI models; descriptions are not kept.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// An index into [`Schema::types`].
pub type TypeId = usize;

/// How the items of a list are told apart (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// The list is one value.
    Atomic,
    /// Scalars, each its own item.
    Set,
    /// Objects keyed by these fields.
    Map(Vec<String>),
}

/// One type of the schema.
#[derive(Debug, Clone)]
pub enum Type {
    /// A string, number or boolean.
    Scalar,
    /// Anything (an object without declared fields): treated as one value.
    Untyped,
    /// An object with declared fields; `atomic` when `x-kubernetes-map-type: atomic`.
    Struct {
        /// The declared fields' types.
        fields: HashMap<String, TypeId>,
        /// `x-kubernetes-map-type: atomic`.
        atomic: bool,
    },
    /// An object with free keys (`additionalProperties`).
    Map {
        /// The values' type.
        elem: TypeId,
        /// `x-kubernetes-map-type: atomic`.
        atomic: bool,
    },
    /// A list.
    List {
        /// The items' type.
        elem: TypeId,
        /// How its items merge.
        kind: ListKind,
    },
}

/// Every type, with each served kind's root by (group, version, kind).
#[derive(Debug)]
pub struct Schema {
    /// Every type, indexed by `TypeId`.
    pub types: Vec<Type>,
    kinds: HashMap<(String, String, String), TypeId>,
}

/// The part of an OpenAPI schema this module reads; everything else (descriptions above all)
/// is skipped while parsing, never allocated.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(rename = "$ref")]
    reference: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    properties: Option<BTreeMap<String, Raw>>,
    #[serde(rename = "additionalProperties")]
    additional: Option<Box<Raw>>,
    items: Option<Box<Raw>>,
    #[serde(rename = "x-kubernetes-map-type")]
    map_type: Option<String>,
    #[serde(rename = "x-kubernetes-list-type")]
    list_type: Option<String>,
    #[serde(rename = "x-kubernetes-list-map-keys")]
    list_map_keys: Option<Vec<String>>,
    #[serde(rename = "x-kubernetes-group-version-kind")]
    gvk: Option<Vec<Gvk>>,
}

#[derive(Debug, Default, Deserialize)]
struct Gvk {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
}

impl Schema {
    /// The schema of OpenAPI v2 `definitions` (a JSON object of named schemas; kinds are
    /// found by their `x-kubernetes-group-version-kind`).
    pub fn from_openapi(definitions: &str) -> Result<Schema, serde_json::Error> {
        let defs: BTreeMap<String, Raw> = serde_json::from_str(definitions)?;
        Ok(Schema::from_raw(&defs))
    }

    fn from_raw(defs: &BTreeMap<String, Raw>) -> Schema {
        let mut s = Schema {
            types: Vec::new(),
            kinds: HashMap::new(),
        };
        // Named types first, so references resolve to fixed ids.
        let names: HashMap<&str, TypeId> = defs
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        s.types = vec![Type::Untyped; names.len()];
        for (i, def) in defs.values().enumerate() {
            let t = s.convert_inline(def, &names);
            s.types[i] = t;
            for gvk in def.gvk.iter().flatten() {
                s.kinds.insert(
                    (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()),
                    i,
                );
            }
        }
        s.types.shrink_to_fit();
        s
    }

    fn add(&mut self, t: Type) -> TypeId {
        self.types.push(t);
        self.types.len() - 1
    }

    fn convert(&mut self, v: &Raw, names: &HashMap<&str, TypeId>) -> TypeId {
        if let Some(id) = reference(v).and_then(|r| names.get(r)) {
            return *id;
        }
        let t = self.convert_inline(v, names);
        self.add(t)
    }

    fn convert_inline(&mut self, v: &Raw, names: &HashMap<&str, TypeId>) -> Type {
        if let Some(id) = reference(v).and_then(|r| names.get(r)) {
            return self.types.get(*id).cloned().unwrap_or(Type::Untyped);
        }
        let atomic = v.map_type.as_deref() == Some("atomic");
        if let Some(props) = &v.properties {
            let fields = props
                .iter()
                .map(|(k, p)| (k.clone(), self.convert(p, names)))
                .collect();
            return Type::Struct { fields, atomic };
        }
        if let Some(ap) = &v.additional {
            let elem = self.convert(ap, names);
            return Type::Map { elem, atomic };
        }
        match v.ty.as_deref() {
            Some("array") => {
                let elem = match &v.items {
                    Some(items) => self.convert(items, names),
                    None => self.add(Type::Untyped),
                };
                let kind = match v.list_type.as_deref() {
                    Some("set") => ListKind::Set,
                    Some("map") => ListKind::Map(v.list_map_keys.clone().unwrap_or_default()),
                    _ => ListKind::Atomic,
                };
                Type::List { elem, kind }
            }
            Some("object") | None => Type::Untyped,
            Some(_) => Type::Scalar,
        }
    }

    /// The root type of a served kind at a version.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<TypeId> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .copied()
    }

    /// The type with this id.
    pub fn ty(&self, id: TypeId) -> &Type {
        &self.types[id]
    }
}

fn reference(v: &Raw) -> Option<&str> {
    v.reference
        .as_deref()
        .and_then(|r| r.strip_prefix("#/definitions/"))
}
