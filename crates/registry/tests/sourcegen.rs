//! Generates `openapi/definitions.json`, the OpenAPI v2 definitions of every served kind, from
//! k8s-openapi's types (their doc comments are upstream's field descriptions) plus the list
//! rules of `registry::lists` and the group-version-kind of each kind. The file is checked in
//! so that release builds do not compile the schemas; this test fails when it is stale and
//! rewrites it (rust-analyzer's `sourcegen` pattern): run `cargo test -p registry --test
//! sourcegen` and commit the result.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use k8s_openapi::api::{authentication, authorization, coordination, core, discovery, rbac};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use registry::lists::{self, ListType, Patch};
use registry::schema::definition_name;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The root types: every served kind, its list, and the meta kinds the API returns.
fn roots(g: &mut schemars::SchemaGenerator) {
    macro_rules! add {
        ($($t:ty),* $(,)?) => { $( g.subschema_for::<$t>(); )* };
    }
    add!(
        core::v1::Namespace,
        core::v1::ServiceAccount,
        core::v1::Secret,
        core::v1::ConfigMap,
        core::v1::Pod,
        core::v1::Binding,
        core::v1::Node,
        core::v1::Event,
        core::v1::Service,
        core::v1::Endpoints,
        discovery::v1::EndpointSlice,
        coordination::v1::Lease,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        authentication::v1::TokenRequest,
        authentication::v1::TokenReview,
        authentication::v1::SelfSubjectReview,
        authorization::v1::SubjectAccessReview,
        authorization::v1::SelfSubjectAccessReview,
        authorization::v1::LocalSubjectAccessReview,
        authorization::v1::SelfSubjectRulesReview,
        meta::Status,
        meta::ListMeta,
        meta::DeleteOptions,
        meta::WatchEvent<core::v1::Pod>,
    );
}

fn generate() -> Value {
    let mut g = schemars::generate::SchemaSettings::draft07().into_generator();
    roots(&mut g);
    let mut defs = g.take_definitions(false);
    // The watch event is generic in k8s-openapi; upstream has one untyped definition.
    let watch: Vec<String> = defs
        .keys()
        .filter(|k| k.contains("WatchEvent"))
        .cloned()
        .collect();
    for k in watch {
        defs.remove(&k);
    }
    defs.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent".into(),
        json!({
            "description": "Event represents a single event to a watched resource.",
            "type": "object",
            "required": ["type", "object"],
            "properties": {
                "object": {"description": "Object is:\n * If Type is Added or Modified: the new state of the object.\n * If Type is Deleted: the state of the object immediately before deletion.\n * If Type is Error: *Status is recommended; other types may make sense\n   depending on context.", "$ref": "#/definitions/io.k8s.apimachinery.pkg.runtime.RawExtension"},
                "type": {"type": "string"}
            }
        }),
    );
    defs.insert(
        "io.k8s.apimachinery.pkg.runtime.RawExtension".into(),
        json!({"description": "RawExtension is used to hold extensions in external versions.", "type": "object"}),
    );
    // kubeward's AccessReview: a SubjectAccessReview whose status also carries the
    // explanation.
    let sar = defs["io.k8s.api.authorization.v1.SubjectAccessReview"].clone();
    let mut status = defs["io.k8s.api.authorization.v1.SubjectAccessReviewStatus"].clone();
    status["properties"]["explanation"] = json!({
        "description": "Explanation is the decision explained: every binding, role and rule that grants it (grants), or the nearest misses and what each lacks (misses) and the smallest Role and binding that would allow it (suggestion). Bindings the caller may not get are left out and counted (hiddenGrants, hiddenMisses).",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    });
    status["description"] =
        "AccessReviewStatus is a SubjectAccessReviewStatus with the explanation.".into();
    let mut review = sar;
    review["description"] = "AccessReview checks whether a user or group can perform an action, as a SubjectAccessReview does, and explains the answer.".into();
    review["properties"]["status"]["$ref"] =
        "#/definitions/io.kubeward.access.v1alpha1.AccessReviewStatus".into();
    defs.insert("io.kubeward.access.v1alpha1.AccessReview".into(), review);
    defs.insert(
        "io.kubeward.access.v1alpha1.AccessReviewStatus".into(),
        status,
    );
    // kubeward's WhoCanReview and AccessMatrixReview: a SubjectAccessReview's spec (without a
    // user, or with the request left open), each with a status of its own.
    let statuses = [
        (
            "WhoCanReview",
            "WhoCanReview lists every user, group and service account RBAC allows the request of its spec (resourceAttributes or nonResourceAttributes, no user), each with the binding, role and rule that grant it.",
            json!({
                "description": "WhoCanReviewStatus lists who may make the request.",
                "type": "object",
                "properties": {
                    "subjects": {"description": "Subjects allowed, in the authorizer's walk order: system:masters first (allowed before RBAC), then each subject of each granting binding, with the binding, role, rule and its index. A subject bound twice is listed for each binding.", "type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "hiddenSubjects": {"description": "How many subjects were left out because the caller may not get the binding that grants them.", "type": "integer", "format": "int32"}
                }
            }),
        ),
        (
            "AccessMatrixReview",
            "AccessMatrixReview gives the verbs the user of its spec holds on every served resource and subresource, cluster-wide or in spec.resourceAttributes.namespace.",
            json!({
                "description": "AccessMatrixReviewStatus holds, for each served resource and subresource, the verbs the user may use.",
                "type": "object",
                "properties": {
                    "namespace": {"description": "The namespace the matrix is for; empty for cluster-wide.", "type": "string"},
                    "verbs": {"description": "The verbs asked about, in column order.", "type": "array", "items": {"type": "string"}},
                    "resources": {"description": "resource[.group][/subresource] to the verbs held on it.", "type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
                }
            }),
        ),
    ];
    for (kind, description, status) in statuses {
        let mut review = defs["io.k8s.api.authorization.v1.SubjectAccessReview"].clone();
        review["description"] = description.into();
        review["properties"]["status"]["$ref"] =
            format!("#/definitions/io.kubeward.access.v1alpha1.{kind}Status").into();
        defs.insert(format!("io.kubeward.access.v1alpha1.{kind}"), review);
        defs.insert(format!("io.kubeward.access.v1alpha1.{kind}Status"), status);
    }
    for v in defs.values_mut() {
        tidy(v);
    }
    // Upstream's v2 spelling of int-or-string (v3 has only the extension).
    let ios = defs
        .get_mut("io.k8s.apimachinery.pkg.util.intstr.IntOrString")
        .expect("IntOrString");
    ios["type"] = "string".into();
    ios["format"] = "int-or-string".into();
    // Kinds served at versions k8s-openapi no longer carries (rbac v1beta1 and v1alpha1) have
    // the v1 schema, as upstream's types there are copies of v1's, in the version's own words
    // (a kind's carries its deprecation) and with the version's own copies of the types they
    // name (`io.k8s.api.rbac.v1beta1.PolicyRule`), as upstream's definitions have them.
    for def in registry::resources() {
        for version in &def.versions[1..] {
            let from = definition_name(def.group, "v1", def.kind);
            let to = definition_name(def.group, version, def.kind);
            copy_in_words_of(&mut defs, &from, &to, version);
        }
    }
    // k8s-openapi has one generic `List<T>` without a schema; each kind's list is written here
    // in upstream's shape, at every served version, with upstream's words (`list_doc`).
    for def in registry::resources() {
        let kind = def.kind;
        for version in def.versions {
            let name = definition_name(def.group, version, kind);
            if !def.verbs.contains(&"list") || !defs.contains_key(&name) {
                continue;
            }
            let text = |f: &str| defs[&name]["properties"][f]["description"].clone();
            let doc = |field: &str| list_doc(def.group, version, &format!("{kind}List"), field);
            let list = json!({
                "description": doc(""),
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"description": text("apiVersion"), "type": "string"},
                    "kind": {"description": text("kind"), "type": "string"},
                    "items": {"description": doc("items"), "type": "array", "items": {"$ref": format!("#/definitions/{name}")}},
                    "metadata": {"description": doc("metadata"), "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}
                }
            });
            defs.insert(format!("{name}List"), list);
        }
    }
    for def in registry::resources() {
        for version in def.versions {
            let name = definition_name(def.group, version, def.kind);
            let gvk = |kind: &str| json!([{"group": def.group, "kind": kind, "version": version}]);
            let d = defs.get_mut(&name).unwrap_or_else(|| {
                panic!("served kind {name} has no schema: add its type to roots()")
            });
            d["x-kubernetes-group-version-kind"] = gvk(def.kind);
            if let Some(l) = defs.get_mut(&format!("{name}List")) {
                l["x-kubernetes-group-version-kind"] = gvk(&format!("{}List", def.kind));
            }
            annotate_lists(&mut defs, &name, def.kind, "");
        }
    }
    defs.get_mut("io.k8s.apimachinery.pkg.apis.meta.v1.Status")
        .expect("Status")["x-kubernetes-group-version-kind"] =
        json!([{"group": "", "kind": "Status", "version": "v1"}]);
    defs.get_mut("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        .expect("DeleteOptions")["x-kubernetes-group-version-kind"] =
        json!([{"group": "", "kind": "DeleteOptions", "version": "v1"}]);
    // A subresource's own kind (a pod's Binding, an account's TokenRequest) is a kind of its
    // group version; the options kinds of connect subresources have no schema in documents.
    for def in registry::resources() {
        for sub in def.subresources {
            let Some((group, version, kind)) = sub.kind else {
                continue;
            };
            if let Some(d) = defs.get_mut(&definition_name(group, version, kind)) {
                d["x-kubernetes-group-version-kind"] =
                    json!([{"group": group, "kind": kind, "version": version}]);
            }
        }
    }
    for name in lists::ATOMIC_STRUCTS {
        if let Some(d) = defs.get_mut(*name) {
            d["x-kubernetes-map-type"] = "atomic".into();
        }
    }
    Value::Object(defs.into_iter().collect())
}

/// Upstream's words for a list type (`scripts/openapi-list-docs` takes them from each group's
/// `types_swagger_doc_generated.go`); `field` "" for the type's own description.
fn list_doc(group: &str, version: &str, list_kind: &str, field: &str) -> String {
    let package = match group {
        "" => format!("core/{version}"),
        g => format!("{}/{version}", g.split('.').next().unwrap_or(g)),
    };
    upstream_doc(&package, list_kind, field).unwrap_or_else(|| {
        panic!(
            "no upstream text for {package} {list_kind} {field:?}: rerun scripts/openapi-list-docs"
        )
    })
}

/// A text of `scripts/openapi-list-docs`: package (`rbac/v1beta1`), type, field ("" for the
/// type's own).
fn upstream_doc(package: &str, ty: &str, field: &str) -> Option<String> {
    const DOCS: &str = include_str!("../openapi/list_docs.txt");
    DOCS.lines()
        .map(|l| l.splitn(4, '\t').collect::<Vec<_>>())
        .find(|p| p.len() == 4 && p[0] == package && p[1] == ty && p[2] == field)
        .map(|p| serde_json::from_str(p[3]).unwrap())
}

/// The fields upstream documents for `ty` in `package`, with their texts.
fn upstream_fields(package: &str, ty: &str) -> Vec<(String, String)> {
    const DOCS: &str = include_str!("../openapi/list_docs.txt");
    DOCS.lines()
        .map(|l| l.splitn(4, '\t').collect::<Vec<_>>())
        .filter(|p| p.len() == 4 && p[0] == package && p[1] == ty && !p[2].is_empty())
        .map(|p| (p[2].to_string(), serde_json::from_str(p[3]).unwrap()))
        .collect()
}

/// Definition `to` (`io.k8s.api.rbac.v1beta1.Role`) as a copy of `from` (its v1 type) in
/// `version`'s words: the type's and each field's description where upstream has one for
/// that version, and each type it names that the version has its own copy of, copied the
/// same way and named by the version.
fn copy_in_words_of(defs: &mut Map<String, Value>, from: &str, to: &str, version: &str) {
    if defs.contains_key(to) {
        return;
    }
    let Some(mut s) = defs.get(from).cloned() else {
        return;
    };
    // io.k8s.api.<group>.<version>.<Type>
    let parts: Vec<&str> = to.split('.').collect();
    let (group, ty) = (parts[3], parts[parts.len() - 1]);
    let package = format!("{group}/{version}");
    let v1_prefix = format!("io.k8s.api.{group}.v1.");
    if let Some(text) = upstream_doc(&package, ty, "") {
        s["description"] = text.into();
    }
    let mut named = Vec::new();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        // The version's own fields, where they differ from v1's (v1alpha1's Subject names
        // an `apiVersion`, a string, where v1 has `apiGroup`): upstream documents every field.
        // A kind's TypeMeta (`apiVersion`, `kind`) is inline and documented by no type.
        let own = upstream_fields(&package, ty);
        let type_meta = |field: &str| {
            matches!(field, "apiVersion" | "kind") && own.iter().any(|(f, _)| f == "metadata")
        };
        if !own.is_empty() {
            props.retain(|field, _| type_meta(field) || own.iter().any(|(f, _)| f == field));
            for (field, text) in own {
                props
                    .entry(field)
                    .or_insert_with(|| json!({"description": text, "type": "string"}));
            }
        }
        for (field, schema) in props.iter_mut() {
            if let Some(text) = upstream_doc(&package, ty, field) {
                schema["description"] = text.into();
            }
            let slot = match schema.get_mut("items") {
                Some(items) => items,
                None => schema,
            };
            let Some(inner) = ref_name(slot) else {
                continue;
            };
            let Some(inner_ty) = inner.strip_prefix(&v1_prefix) else {
                continue;
            };
            if upstream_doc(&package, inner_ty, "").is_some() {
                let own = format!("io.k8s.api.{group}.{version}.{inner_ty}");
                slot["$ref"] = format!("#/definitions/{own}").into();
                named.push((inner, own));
            }
        }
    }
    defs.insert(to.to_string(), s);
    for (inner, own) in named {
        copy_in_words_of(defs, &inner, &own, version);
    }
}

/// Schemars' spelling to upstream's: `#/definitions/` references, and no `required` metadata
/// (k8s-openapi marks it required for its own decoding; the API does not).
fn tidy(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(req)) = m.get_mut("required") {
                req.retain(|r| r != "metadata");
                if req.is_empty() {
                    m.remove("required");
                }
            }
            for x in m.values_mut() {
                tidy(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn ref_name(s: &Value) -> Option<String> {
    s.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
        .map(str::to_string)
}

/// Walks `kind`'s schema from definition `name` and writes each list's rule beside it.
fn annotate_lists(defs: &mut Map<String, Value>, name: &str, kind: &str, path: &str) {
    let Some(props) = defs
        .get(name)
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    for (field, schema) in props {
        let p = if path.is_empty() {
            field.clone()
        } else {
            format!("{path}.{field}")
        };
        if schema.get("type").and_then(Value::as_str) == Some("array") {
            let (patch, list) = lists::rule(kind, &p);
            let slot = &mut defs[name]["properties"][&field];
            match patch {
                Patch::Replace => {}
                Patch::MergeByKey(key) => {
                    slot["x-kubernetes-patch-merge-key"] = key.into();
                    slot["x-kubernetes-patch-strategy"] = "merge".into();
                }
                Patch::MergePrimitive => slot["x-kubernetes-patch-strategy"] = "merge".into(),
            }
            match list {
                ListType::Atomic => slot["x-kubernetes-list-type"] = "atomic".into(),
                ListType::Set => slot["x-kubernetes-list-type"] = "set".into(),
                ListType::Map(keys) => {
                    slot["x-kubernetes-list-type"] = "map".into();
                    slot["x-kubernetes-list-map-keys"] = json!(keys);
                }
            }
            if let Some(item) = schema.get("items").and_then(ref_name) {
                annotate_lists(defs, &item, kind, &p);
            }
        } else if let Some(child) = ref_name(&schema) {
            annotate_lists(defs, &child, kind, &p);
        }
    }
}

#[test]
fn openapi_definitions_are_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/definitions.json");
    let want = serde_json::to_string_pretty(&generate()).expect("JSON") + "\n";
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &want).expect("write");
        panic!(
            "{} was stale and has been regenerated; commit it",
            path.display()
        );
    }
}
