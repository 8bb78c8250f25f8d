//! The structure of the served kinds, as server-side apply needs it: which objects are structs
//! (fixed fields) and which are maps (free keys), which lists are atomic, sets or keyed maps.
//! Read once from the generated OpenAPI definitions (`openapi/definitions.json`, written by
//! `tests/sourcegen.rs` from k8s-openapi's types and [`crate::lists`]), as upstream's
//! `managedfields.TypeConverter` reads the OpenAPI models; descriptions are not kept.

use std::sync::OnceLock;

/// The OpenAPI v2 definitions of every served kind (generated; see the module docs).
pub const DEFINITIONS: &str = include_str!("../openapi/definitions.json");

/// The OpenAPI definition name of a served kind, as upstream names them:
/// `io.k8s.api.rbac.v1.ClusterRole`, `io.k8s.api.core.v1.Pod`.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    if !group.is_empty() && !group.ends_with(".k8s.io") {
        // A group of kubeward's own, by its reversed domain (as aggregated APIs name theirs).
        let reversed: Vec<&str> = group.split('.').rev().collect();
        return format!("{}.{version}.{kind}", reversed.join("."));
    }
    let g = match group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{g}.{version}.{kind}")
}

pub use managedfields::schema::{ListKind, Schema, Type, TypeId};

/// The schema of the served kinds, parsed on first use.
pub fn get() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Schema::from_openapi(DEFINITIONS).expect("generated definitions are JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_kind_has_a_struct_schema() {
        let s = get();
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
        let s = get();
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
