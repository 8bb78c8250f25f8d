//! The structure of the served kinds, as server-side apply needs it: which objects are structs
//! (fixed fields) and which are maps (free keys), which lists are atomic, sets or keyed maps.
//! Read once from the generated OpenAPI definitions (`openapi/definitions.json`, written by
//! `tests/sourcegen.rs` from k8s-openapi's types and [`crate::lists`]), as upstream's
//! `managedfields.TypeConverter` reads the OpenAPI models; descriptions are not kept.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The OpenAPI v2 definitions of every served kind (generated; see the module docs).
pub const DEFINITIONS: &str = include_str!("../openapi/definitions.json");

/// The OpenAPI definition name of a served kind, as upstream names them:
/// `io.k8s.api.rbac.v1.ClusterRole`, `io.k8s.api.core.v1.Pod`.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let g = match group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{g}.{version}.{kind}")
}

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
    /// The schema of the served kinds, parsed on first use.
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            let defs: BTreeMap<String, Raw> =
                serde_json::from_str(DEFINITIONS).expect("generated definitions are JSON");
            Schema::from_raw(&defs)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_kind_has_a_struct_schema() {
        let s = Schema::get();
        for def in crate::resources() {
            for v in def.versions {
                let id = s
                    .kind(def.group, v, def.kind)
                    .unwrap_or_else(|| panic!("{} {v} has no schema", def.kind));
                assert!(matches!(s.ty(id), Type::Struct { .. }), "{}", def.kind);
            }
        }
    }

    #[test]
    fn pod_lists_carry_their_keys() {
        let s = Schema::get();
        let field = |id: TypeId, name: &str| match s.ty(id) {
            Type::Struct { fields, .. } => fields[name],
            other => panic!("{name}: not a struct: {other:?}"),
        };
        let pod = s.kind("", "v1", "Pod").expect("pod");
        let containers = field(field(pod, "spec"), "containers");
        let Type::List { elem, kind } = s.ty(containers) else {
            panic!("containers is a list")
        };
        assert_eq!(*kind, ListKind::Map(vec!["name".into()]));
        let Type::List { kind, .. } = s.ty(field(*elem, "ports")) else {
            panic!("ports is a list")
        };
        assert_eq!(
            *kind,
            ListKind::Map(vec!["containerPort".into(), "protocol".into()])
        );
        let labels = field(field(pod, "metadata"), "labels");
        assert!(matches!(s.ty(labels), Type::Map { atomic: false, .. }));
        let rb = s
            .kind("rbac.authorization.k8s.io", "v1", "RoleBinding")
            .expect("rb");
        assert!(matches!(
            s.ty(field(rb, "roleRef")),
            Type::Struct { atomic: true, .. }
        ));
        let Type::List { kind, .. } = s.ty(field(rb, "subjects")) else {
            panic!("subjects is a list")
        };
        assert_eq!(*kind, ListKind::Atomic);
    }
}
