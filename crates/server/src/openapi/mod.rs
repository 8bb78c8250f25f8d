//! `/openapi/v2` (protobuf or JSON, as the Accept header asks) and `/openapi/v3` (JSON, one
//! document per group-version), built from the generated definitions
//! (`registry::schema::DEFINITIONS`) and the served resources. Built once, on first request,
//! with a gzip copy and an ETag each; v3 documents are addressed by `?hash=` as upstream's
//! `kube-openapi/pkg/handler3`, so clients cache them for good.
//!
//! Each PATCH operation lists `fieldValidation` and `dryRun`: kubectl reads that to trust the
//! server's own validation and dry-run instead of validating against the schema itself.

mod subresources;
mod v2;
mod v2proto;

use crate::respond::{self, Resp};
use http::HeaderMap;
use registry::ResourceDef;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::OnceLock;

/// One served document.
pub(crate) struct Doc {
    body: Vec<u8>,
    gzip: Vec<u8>,
    hash: String,
    content_type: &'static str,
}

/// FNV-1a: a stable hash without another dependency.
fn fnv(parts: &[&[u8]]) -> String {
    let h = parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{h:016X}")
}

/// The hash of a document, known before it is built: every document is a pure function of
/// the generated definitions, the served resources and this build, all fixed per binary.
fn version_hash(name: &str) -> String {
    fnv(&[
        registry::schema::DEFINITIONS.as_bytes(),
        VERSION.as_bytes(),
        env!("CARGO_PKG_VERSION").as_bytes(),
        name.as_bytes(),
    ])
}

impl Doc {
    fn new(body: Vec<u8>, content_type: &'static str, hash: String) -> Doc {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).expect("writing to memory");
        let gzip = enc.finish().expect("writing to memory");
        Doc {
            body,
            gzip,
            hash,
            content_type,
        }
    }

    /// The response: 304 when the client has this version, gzip when it takes it.
    fn respond(&self, headers: &HeaderMap, immutable: bool) -> Resp {
        let etag = format!("\"{}\"", self.hash);
        let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut r = if header("if-none-match") == etag {
            respond::raw(304, self.content_type, Vec::new())
        } else if header("accept-encoding")
            .split(',')
            .any(|e| e.trim().starts_with("gzip"))
        {
            let mut r = respond::raw(200, self.content_type, self.gzip.clone());
            r.headers_mut().insert(
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static("gzip"),
            );
            r
        } else {
            respond::raw(200, self.content_type, self.body.clone())
        };
        let h = r.headers_mut();
        if let Ok(v) = http::HeaderValue::from_str(&etag) {
            h.insert(http::header::ETAG, v);
        }
        h.insert(
            http::header::VARY,
            http::HeaderValue::from_static("Accept-Encoding"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static(if immutable {
                "public, immutable"
            } else {
                "no-cache, private"
            }),
        );
        r
    }
}

/// Every document, each built on its first request: `kubectl explain serviceaccount` builds
/// the root and `api/v1` only. They hold every group version kubeward has; a server's
/// `--runtime-config` decides which it answers ([`handle`]).
pub(crate) struct Docs {
    v2: OnceLock<Doc>,
    /// The same document as JSON (`Accept: application/json`, or no Accept at all).
    v2_json: OnceLock<Doc>,
    /// The root for every group version on; one for another set is made when asked.
    v3_root: Doc,
    /// By path below `/openapi/v3/`: `api/v1`, `apis/rbac.authorization.k8s.io/v1`, ...
    v3: BTreeMap<String, (String, String, OnceLock<Doc>)>,
}

fn docs() -> &'static Docs {
    static DOCS: OnceLock<Docs> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut v3 = BTreeMap::new();
        for def in registry::resources() {
            for v in def.versions {
                v3.entry(gv_path(def.group, v))
                    .or_insert_with(|| (def.group.to_string(), v.to_string(), OnceLock::new()));
            }
        }
        let v3_root = v3_root(v3.keys());
        Docs {
            v2: OnceLock::new(),
            v2_json: OnceLock::new(),
            v3_root,
            v3,
        }
    })
}

/// The `/openapi/v3` root listing the group versions `paths`, hashed by what it lists.
fn v3_root<'a>(paths: impl Iterator<Item = &'a String>) -> Doc {
    let listed: Map<String, Value> = paths
        .map(|p| {
            let url = format!("/openapi/v3/{p}?hash={}", version_hash(p));
            (p.clone(), json!({"serverRelativeURL": url}))
        })
        .collect();
    let names: Vec<&str> = listed.keys().map(String::as_str).collect();
    let hash = version_hash(&names.join(","));
    let root = serde_json::to_vec(&json!({"paths": listed})).expect("JSON");
    Doc::new(root, "application/json", hash)
}

impl Docs {
    fn v2(&self) -> &Doc {
        self.v2.get_or_init(|| {
            Doc::new(
                v2proto::encode(&v2_document()),
                V2_PROTOBUF,
                version_hash("v2"),
            )
        })
    }

    fn v2_json(&self) -> &Doc {
        self.v2_json.get_or_init(|| {
            let body = serde_json::to_vec(&v2_document()).expect("JSON");
            Doc::new(body, "application/json", version_hash("v2.json"))
        })
    }

    fn v3(&self, path: &str) -> Option<&Doc> {
        let (group, version, doc) = self.v3.get(path)?;
        Some(doc.get_or_init(|| {
            let served: Vec<&ResourceDef> = registry::resources()
                .iter()
                .copied()
                .filter(|d| d.group == group && d.versions.contains(&version.as_str()))
                .collect();
            let doc = gv_document(&definitions(), group, version, &served);
            let body = serde_json::to_vec(&doc).expect("JSON");
            Doc::new(body, "application/json", version_hash(path))
        }))
    }
}

const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The v2 document of every group version kubeward has.
fn v2_document() -> Value {
    let gvs: Vec<(String, String)> = docs()
        .v3
        .values()
        .map(|(g, v, _)| (g.clone(), v.clone()))
        .collect();
    v2::document(definitions(), &gvs)
}

/// Which form of `/openapi/v2` an Accept header asks for, as kube-openapi's
/// `OpenAPIV2BytesService` negotiates (`pkg/handler/handler.go`): the clauses by quality (then
/// the more specific first, as goautoneg sorts them), each tried against JSON, then protobuf
/// under its two names; no Accept is `*/*` (JSON). None: 406.
fn v2_form(accept: &str) -> Option<bool> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<(f64, String, String)> = accept
        .split(',')
        .filter_map(|c| {
            let mut parts = c.split(';');
            let (t, sub) = parts.next()?.trim().split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            Some((q, t.trim().to_string(), sub.trim().to_string()))
        })
        .collect();
    clauses.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| (a.1 == "*").cmp(&(b.1 == "*")))
            .then_with(|| (a.2 == "*").cmp(&(b.2 == "*")))
    });
    // (subtype, is protobuf)
    const ACCEPTED: [(&str, bool); 3] = [
        ("json", false),
        ("com.github.proto-openapi.spec.v2@v1.0+protobuf", true),
        ("com.github.proto-openapi.spec.v2.v1.0+protobuf", true),
    ];
    clauses.iter().find_map(|(_, t, sub)| {
        ACCEPTED
            .iter()
            .find(|(s, _)| (t == "application" || t == "*") && (sub == s || sub == "*"))
            .map(|(_, protobuf)| *protobuf)
    })
}
const TITLE: &str = "Kubernetes";
const VERSION: &str = "v1.33.0+kubeward";

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The generated definitions, parsed anew for each document built (and dropped after).
fn definitions() -> Value {
    let mut defs: Value = serde_json::from_str(registry::schema::DEFINITIONS)
        .expect("generated definitions are JSON");
    defs["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = json!({
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object"
    });
    defs
}

/// v2 schema spelling to v3: references into `components/schemas`, a reference with siblings
/// wrapped in `allOf` (as upstream's v3 documents), int-or-string by its extension only.
fn to_v3(v: &Value, reached: &mut BTreeSet<String>) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            let mut reference = None;
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(name) = x.as_str().and_then(|r| r.strip_prefix("#/definitions/")) {
                        reached.insert(name.to_string());
                        reference = Some(format!("#/components/schemas/{name}"));
                    }
                } else {
                    out.insert(k.clone(), to_v3(x, reached));
                }
            }
            if out.get("format").and_then(Value::as_str) == Some("int-or-string") {
                out.remove("format");
                out.remove("type");
                out.insert("x-kubernetes-int-or-string".into(), true.into());
            }
            match reference {
                Some(r) if out.is_empty() => json!({"$ref": r}),
                Some(r) => {
                    out.insert("allOf".into(), json!([{"$ref": r}]));
                    Value::Object(out)
                }
                None => Value::Object(out),
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| to_v3(x, reached)).collect()),
        other => other.clone(),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// kube-apiserver's descriptions of its operations' query parameters: each options kind's
/// `SwaggerDoc()`, as `scripts/openapi-options` takes them from apimachinery.
const OPTIONS: &str = include_str!("options.txt");

/// The description of `kind`'s field `field` (`ListOptions`, `limit`).
fn option_text(kind: &str, field: &str) -> String {
    OPTIONS
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(k, _)| k.strip_prefix(kind).and_then(|r| r.strip_prefix('.')) == Some(field))
        .and_then(|(_, text)| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// A query parameter of an operation taking options `kind`, as upstream documents it.
fn param(kind: &str, name: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "description": option_text(kind, name), "schema": {"type": ty, "uniqueItems": true}})
}

/// The `name` path parameter of an object's paths (its own and its subresources').
fn name_param(kind: &str) -> Value {
    json!({"name": "name", "in": "path", "description": format!("name of the {kind}"), "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

/// The `namespace` path parameter of a namespaced kind's paths.
fn namespace_param() -> Value {
    json!({"name": "namespace", "in": "path", "description": "object name and auth scope, such as for teams and projects", "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

/// A required request body of `schema`, in each of the media `types`.
fn request_body(schema: &str, types: &[&str]) -> Value {
    let content: Map<String, Value> = types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": schema_ref(schema)})))
        .collect();
    json!({"content": content, "required": true})
}

/// The `pretty` parameter every path takes (apiserver's installer).
fn pretty_param() -> Value {
    json!({"name": "pretty", "in": "query", "description": "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).", "schema": {"type": "string", "uniqueItems": true}})
}

/// A list's query parameters, in upstream's (alphabetical) order; a watch's too, and
/// deletecollection's without `allowWatchBookmarks` and `watch`.
const LIST_PARAMS: [(&str, &str); 10] = [
    ("allowWatchBookmarks", "boolean"),
    ("continue", "string"),
    ("fieldSelector", "string"),
    ("labelSelector", "string"),
    ("limit", "integer"),
    ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"),
    ("sendInitialEvents", "boolean"),
    ("timeoutSeconds", "integer"),
    ("watch", "boolean"),
];

/// A delete's query parameters (`DeleteOptions`), alphabetical.
const DELETE_PARAMS: [(&str, &str); 5] = [
    ("dryRun", "string"),
    ("gracePeriodSeconds", "integer"),
    (
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "boolean",
    ),
    ("orphanDependents", "boolean"),
    ("propagationPolicy", "string"),
];

/// The tag upstream files a group-version's operations under: the group without
/// `.k8s.io`, its dots turned to camelCase, then the version (`core_v1`,
/// `rbacAuthorization_v1`; apiserver's installer).
fn operation_tag(group: &str, version: &str) -> String {
    let name = match group {
        "" => "core",
        g => g.strip_suffix(".k8s.io").unwrap_or(g),
    };
    let mut tag = String::new();
    for (i, part) in name.split('.').enumerate() {
        let mut chars = part.chars();
        match (i, chars.next()) {
            (0, Some(c)) => tag.push(c),
            (_, Some(c)) => tag.extend(c.to_uppercase()),
            (_, None) => {}
        }
        tag.push_str(chars.as_str());
    }
    format!("{tag}_{version}")
}

/// apimachinery's `ToValidOperationID`: letters, `_` and (not first) digits kept, anything else
/// dropped and the next letter capitalized (`rbac.authorization` → `RbacAuthorization`).
fn valid_operation_id(s: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut capitalize = capitalize_first;
    for (i, c) in s.chars().enumerate() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

/// An operation's ID as kube-apiserver's OpenAPI builder makes it from the installer's name
/// (`GetOperationIDAndTagsFromRoute`, apiserver's `endpoints/openapi/openapi.go`): the verb,
/// then the group (core for `/api`, without `.k8s.io`) and version, then the rest of the name:
/// `list` + `NamespacedServiceAccount` → `listCoreV1NamespacedServiceAccount`.
fn operation_id(verb: &str, group: &str, version: &str, rest: &str) -> String {
    let group = match group {
        "" => "core",
        g => g.strip_suffix(".k8s.io").unwrap_or(g),
    };
    format!(
        "{verb}{}{}{}",
        valid_operation_id(group, true),
        valid_operation_id(version, true),
        valid_operation_id(rest, true)
    )
}

fn list_params() -> Vec<Value> {
    LIST_PARAMS
        .iter()
        .map(|(n, t)| param("ListOptions", n, t))
        .collect()
}

fn delete_params() -> Vec<Value> {
    DELETE_PARAMS
        .iter()
        .map(|(n, t)| param("DeleteOptions", n, t))
        .collect()
}

/// deletecollection's: the delete's and the list's but the watch's own, alphabetical.
fn delete_collection_params() -> Vec<Value> {
    let mut p: Vec<(&str, Value)> = DELETE_PARAMS
        .iter()
        .map(|(n, t)| (*n, param("DeleteOptions", n, t)))
        .chain(
            LIST_PARAMS
                .iter()
                .filter(|(n, _)| !matches!(*n, "allowWatchBookmarks" | "watch"))
                .map(|(n, t)| (*n, param("ListOptions", n, t))),
        )
        .collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    p.into_iter().map(|(_, v)| v).collect()
}

/// A create's, update's or patch's query parameters, from `CreateOptions`, `UpdateOptions` or
/// `PatchOptions` (which adds `force`).
fn write_params(options: &str) -> Vec<Value> {
    let mut p = vec![
        param(options, "dryRun", "string"),
        param(options, "fieldManager", "string"),
        param(options, "fieldValidation", "string"),
    ];
    if options == "PatchOptions" {
        p.push(param(options, "force", "boolean"));
    }
    p
}

/// An operation's responses as the installer documents them: each code it may answer with
/// (a create's 201 and 202, an update's or patch's 201, a delete's 202), in every media type
/// the server writes (a list or watch also streams), and 401.
fn responses(action: &str, schema: &str) -> Value {
    let types: &[&str] = if matches!(action, "list" | "watch" | "watchlist") {
        &[
            "application/json",
            "application/json;stream=watch",
            "application/vnd.kubernetes.protobuf",
            "application/vnd.kubernetes.protobuf;stream=watch",
            "application/yaml",
        ]
    } else {
        &[
            "application/json",
            "application/vnd.kubernetes.protobuf",
            "application/yaml",
        ]
    };
    let content: Map<String, Value> = types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": schema_ref(schema)})))
        .collect();
    let codes: &[(&str, &str)] = match action {
        "post" => &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
        "put" | "patch" => &[("200", "OK"), ("201", "Created")],
        "delete" => &[("200", "OK"), ("202", "Accepted")],
        _ => &[("200", "OK")],
    };
    let mut out: Map<String, Value> = codes
        .iter()
        .map(|(code, text)| {
            (
                code.to_string(),
                json!({"description": text, "content": content}),
            )
        })
        .collect();
    out.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(out)
}

/// The article before a kind in an operation's words, padded with spaces (apiserver's
/// `GetArticleForNoun`): none for a plural (`create Endpoints`), `an` before a vowel
/// (`create an EndpointSlice`), else `a`.
fn article(kind: &str) -> &'static str {
    if kind.ends_with('s') && !kind.ends_with("ss") {
        " "
    } else if kind
        .chars()
        .next()
        .is_some_and(|c| "aeiou".contains(c.to_ascii_lowercase()))
    {
        " an "
    } else {
        " a "
    }
}

/// The patch types a PATCH operation takes.
const PATCH_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// What a watch path answers with.
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";

fn gv_document(defs: &Value, group: &str, version: &str, served: &[&ResourceDef]) -> Value {
    let mut reached = BTreeSet::new();
    let paths = gv_paths(group, version, served, &mut reached);
    // Everything the documented kinds reach, converted to v3.
    let mut schemas = Map::new();
    let mut todo: Vec<String> = reached.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        let Some(s) = defs.get(&name) else { continue };
        let mut more = BTreeSet::new();
        schemas.insert(name, to_v3(s, &mut more));
        todo.extend(more.into_iter().filter(|n| !schemas.contains_key(n)));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// The paths of a group version's served kinds, in v3's spelling; `reached` gathers the
/// definitions they name.
fn gv_paths(
    group: &str,
    version: &str,
    served: &[&ResourceDef],
    reached: &mut BTreeSet<String>,
) -> Map<String, Value> {
    let mut paths = Map::new();
    let tag = operation_tag(group, version);
    for def in served {
        let kind_schema = registry::schema::definition_name(group, version, def.kind);
        reached.insert(kind_schema.clone());
        let list_schema = format!("{kind_schema}List");
        let gvk = json!({"group": group, "version": version, "kind": def.kind});
        let base = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let collection = if def.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", def.resource)
        } else {
            format!("{base}/{}", def.resource)
        };
        let item = format!("{collection}/{{name}}");
        let has = |v: &str| def.verbs.contains(&v);
        let op = |action: &str, id: String, params: Vec<Value>, body: Option<Value>, out: &str| {
            // Upstream's words for each action (apiserver's installer).
            let description = match action {
                "list" => format!("list or watch objects of kind {}", def.kind),
                "post" => format!("create{}{}", article(def.kind), def.kind),
                "deletecollection" => format!("delete collection of {}", def.kind),
                "get" => format!("read the specified {}", def.kind),
                "put" => format!("replace the specified {}", def.kind),
                "patch" => format!("partially update the specified {}", def.kind),
                "delete" => format!("delete{}{}", article(def.kind), def.kind),
                _ => String::new(),
            };
            let mut o = json!({
                "description": description,
                "tags": [tag],
                "operationId": id,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "responses": responses(action, out),
            });
            if !params.is_empty() {
                o["parameters"] = Value::Array(params);
            }
            if let Some(b) = body {
                o["requestBody"] = b;
            }
            o
        };
        // The installer's operation names: `listNamespacedServiceAccount`, `readClusterRole`.
        let scope = if def.namespaced { "Namespaced" } else { "" };
        let id = |verb: &str, infix: &str| {
            operation_id(verb, group, version, &format!("{infix}{scope}{}", def.kind))
        };
        let delete_body = || json!({"content": {"*/*": {"schema": schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")}}});
        let mut coll = Map::new();
        if has("list") {
            reached.insert(list_schema.clone());
            coll.insert(
                "get".into(),
                op("list", id("list", ""), list_params(), None, &list_schema),
            );
        }
        if has("create") {
            coll.insert(
                "post".into(),
                op(
                    "post",
                    id("create", ""),
                    write_params("CreateOptions"),
                    Some(request_body(&kind_schema, &["*/*"])),
                    &kind_schema,
                ),
            );
        }
        if has("deletecollection") {
            reached.insert("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".into());
            coll.insert(
                "delete".into(),
                op(
                    "deletecollection",
                    id("delete", "Collection"),
                    delete_collection_params(),
                    Some(delete_body()),
                    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                ),
            );
        }
        if !coll.is_empty() {
            let mut params = vec![];
            if def.namespaced {
                params.push(namespace_param());
            }
            params.push(pretty_param());
            coll.insert("parameters".into(), Value::Array(params));
            paths.insert(collection.clone(), Value::Object(coll));
        }
        // A namespaced kind is listed across namespaces at the group version's own path
        // (`listCoreV1ServiceAccountForAllNamespaces`).
        if def.namespaced && has("list") {
            let all = format!("{base}/{}", def.resource);
            let rest = format!("{}ForAllNamespaces", def.kind);
            let listing = op(
                "list",
                operation_id("list", group, version, &rest),
                list_params(),
                None,
                &list_schema,
            );
            paths.insert(all, json!({"get": listing, "parameters": [pretty_param()]}));
        }
        // The deprecated watch paths the server still serves (`/api/v1/watch/...`): a list's
        // and one object's, and across namespaces (apiserver's installer, WATCHLIST and WATCH).
        if has("watch") {
            reached.insert(WATCH_EVENT.into());
            let watch_base = format!("{base}/watch");
            let ns_part = if def.namespaced {
                "/namespaces/{namespace}"
            } else {
                ""
            };
            let list_text = format!(
                "watch individual changes to a list of {}. deprecated: use the 'watch' parameter with a list operation instead.",
                def.kind
            );
            let one_text = format!(
                "watch changes to an object of kind {}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
                def.kind
            );
            let watch_op = |action: &str, rest: String, text: &str| {
                let mut o = op(
                    action,
                    operation_id("watch", group, version, &rest),
                    list_params(),
                    None,
                    WATCH_EVENT,
                );
                o["description"] = text.into();
                o
            };
            let mut with_params = |path: String, o: Value, name: bool, ns: bool| {
                let mut params = Vec::new();
                if name {
                    params.push(name_param(def.kind));
                }
                if ns {
                    params.push(namespace_param());
                }
                params.push(pretty_param());
                paths.insert(path, json!({"get": o, "parameters": params}));
            };
            with_params(
                format!("{watch_base}{ns_part}/{}", def.resource),
                watch_op("watchlist", format!("{scope}{}List", def.kind), &list_text),
                false,
                def.namespaced,
            );
            if has("get") {
                with_params(
                    format!("{watch_base}{ns_part}/{}/{{name}}", def.resource),
                    watch_op("watch", format!("{scope}{}", def.kind), &one_text),
                    true,
                    def.namespaced,
                );
            }
            if def.namespaced {
                with_params(
                    format!("{watch_base}/{}", def.resource),
                    watch_op(
                        "watchlist",
                        format!("{}ListForAllNamespaces", def.kind),
                        &list_text,
                    ),
                    false,
                    false,
                );
            }
        }
        let mut one = Map::new();
        if has("get") {
            one.insert(
                "get".into(),
                op("get", id("read", ""), vec![], None, &kind_schema),
            );
        }
        if has("update") {
            one.insert(
                "put".into(),
                op(
                    "put",
                    id("replace", ""),
                    write_params("UpdateOptions"),
                    Some(request_body(&kind_schema, &["*/*"])),
                    &kind_schema,
                ),
            );
        }
        if has("patch") {
            reached.insert("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into());
            one.insert(
                "patch".into(),
                op(
                    "patch",
                    id("patch", ""),
                    write_params("PatchOptions"),
                    Some(request_body(
                        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
                        &PATCH_TYPES,
                    )),
                    &kind_schema,
                ),
            );
        }
        if has("delete") {
            reached.insert("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".into());
            one.insert(
                "delete".into(),
                op(
                    "delete",
                    id("delete", ""),
                    delete_params(),
                    Some(delete_body()),
                    if def.strategy.return_deleted_object() {
                        &kind_schema
                    } else {
                        "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
                    },
                ),
            );
        }
        if !one.is_empty() {
            let mut params = vec![name_param(def.kind)];
            if def.namespaced {
                params.push(namespace_param());
            }
            params.push(pretty_param());
            one.insert("parameters".into(), Value::Array(params));
            paths.insert(item.clone(), Value::Object(one));
        }
        for (path, sub) in subresources::paths(def, group, version, &item, reached) {
            paths.insert(path, sub);
        }
    }
    reached.insert("io.k8s.apimachinery.pkg.apis.meta.v1.Status".into());
    for item in paths.values_mut() {
        hoist_common_parameters(item);
    }
    paths
}

/// Moves the parameters every operation of a path takes to the path, which lists its own
/// sorted by name, as kube-openapi's builder does (`findCommonParameters`): a path with one
/// operation (a watch path, a list across namespaces, a review's create) has all of them there.
fn hoist_common_parameters(item: &mut Value) {
    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
    let Some(item) = item.as_object_mut() else {
        return;
    };
    let ops: Vec<&str> = METHODS
        .into_iter()
        .filter(|m| item.contains_key(*m))
        .collect();
    let params_of = |item: &Map<String, Value>, m: &str| -> Vec<Value> {
        item[m]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let Some(first) = ops.first() else { return };
    let common: Vec<Value> = params_of(item, first)
        .into_iter()
        .filter(|p| ops[1..].iter().all(|m| params_of(item, m).contains(p)))
        .collect();
    if common.is_empty() {
        return;
    }
    for m in &ops {
        let kept: Vec<Value> = params_of(item, m)
            .into_iter()
            .filter(|p| !common.contains(p))
            .collect();
        if let Some(op) = item[*m].as_object_mut() {
            if kept.is_empty() {
                op.remove("parameters");
            } else {
                op.insert("parameters".into(), Value::Array(kept));
            }
        }
    }
    let mut shared = item
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    shared.extend(common);
    shared.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    item.insert("parameters".into(), Value::Array(shared));
}

/// Answers `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<group-version>` for the group
/// versions `serves` says are on (`--runtime-config`, as discovery); None for other paths.
pub(crate) fn handle(
    path: &str,
    query: &str,
    headers: &HeaderMap,
    serves: &dyn Fn(&str, &str) -> bool,
) -> Option<Resp> {
    let docs = docs();
    match path {
        "/openapi/v2" => {
            let accept = headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let mut r = match v2_form(accept) {
                Some(true) => docs.v2().respond(headers, false),
                Some(false) => docs.v2_json().respond(headers, false),
                None => respond::raw(406, "text/plain", Vec::new()),
            };
            r.headers_mut()
                .append(http::header::VARY, http::HeaderValue::from_static("Accept"));
            Some(r)
        }
        "/openapi/v3" => {
            let on: Vec<&String> = docs
                .v3
                .iter()
                .filter(|(_, (g, v, _))| serves(g, v))
                .map(|(p, _)| p)
                .collect();
            if on.len() == docs.v3.len() {
                Some(docs.v3_root.respond(headers, false))
            } else {
                Some(v3_root(on.into_iter()).respond(headers, false))
            }
        }
        p => {
            let gv = p.strip_prefix("/openapi/v3/")?;
            let (g, v, _) = docs.v3.get(gv)?;
            if !serves(g, v) {
                return None;
            }
            let doc = docs.v3(gv)?;
            let hash = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "hash")
                .map(|(_, v)| v.into_owned());
            match hash {
                // An old hash: upstream redirects to the current document.
                Some(h) if h != doc.hash => {
                    let mut r = respond::raw(301, "text/plain", Vec::new());
                    if let Ok(v) =
                        http::HeaderValue::from_str(&format!("/openapi/v3/{gv}?hash={}", doc.hash))
                    {
                        r.headers_mut().insert(http::header::LOCATION, v);
                    }
                    Some(r)
                }
                Some(_) => Some(doc.respond(headers, true)),
                None => Some(doc.respond(headers, false)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_v2_is_negotiated_as_kube_openapi_does() {
        // (Accept, protobuf?) — None is 406.
        for (accept, want) in [
            ("", Some(false)),
            ("*/*", Some(false)),
            ("application/json", Some(false)),
            ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", Some(true)),
            ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", Some(true)),
            // kubectl's: protobuf first, JSON as the fallback.
            (
                "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json",
                Some(true),
            ),
            ("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf", Some(true)),
            ("text/html", None),
            ("application/yaml", None),
            ("text/html, */*;q=0.1", Some(false)),
        ] {
            assert_eq!(super::v2_form(accept), want, "{accept:?}");
        }
    }

    use super::*;

    #[test]
    fn operation_ids_as_the_openapi_builder_makes_them() {
        for (verb, group, version, rest, want) in [
            (
                "list",
                "",
                "v1",
                "NamespacedServiceAccount",
                "listCoreV1NamespacedServiceAccount",
            ),
            (
                "delete",
                "",
                "v1",
                "CollectionNamespacedServiceAccount",
                "deleteCoreV1CollectionNamespacedServiceAccount",
            ),
            (
                "read",
                "rbac.authorization.k8s.io",
                "v1beta1",
                "ClusterRole",
                "readRbacAuthorizationV1beta1ClusterRole",
            ),
            (
                "list",
                "coordination.k8s.io",
                "v1",
                "LeaseForAllNamespaces",
                "listCoordinationV1LeaseForAllNamespaces",
            ),
            (
                "create",
                "access.kubeward.io",
                "v1alpha1",
                "AccessReview",
                "createAccessKubewardIoV1alpha1AccessReview",
            ),
        ] {
            assert_eq!(operation_id(verb, group, version, rest), want);
        }
        // A leading digit is dropped and, as any dropped character, capitalizes what follows.
        assert_eq!(valid_operation_id("1a-b.c_d2", false), "ABC_d2");
    }

    #[test]
    fn every_served_group_version_has_a_document_with_its_kinds() {
        let docs = docs();
        for def in registry::resources() {
            for v in def.versions {
                let doc = docs.v3(&gv_path(def.group, v)).expect("document");
                let parsed: Value = serde_json::from_slice(&doc.body).expect("JSON");
                let name = registry::schema::definition_name(def.group, v, def.kind);
                let s = &parsed["components"]["schemas"][&name];
                assert_eq!(
                    s["x-kubernetes-group-version-kind"][0]["kind"], def.kind,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn every_query_parameter_has_upstreams_description() {
        let kinds = [
            ("ListOptions", LIST_PARAMS.to_vec()),
            ("DeleteOptions", DELETE_PARAMS.to_vec()),
        ];
        for (kind, params) in kinds {
            for (name, _) in params {
                assert!(!option_text(kind, name).is_empty(), "{kind}.{name}");
            }
        }
        for kind in ["CreateOptions", "UpdateOptions", "PatchOptions"] {
            for p in write_params(kind) {
                assert!(
                    p["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{kind}: {p}"
                );
            }
        }
        assert_eq!(operation_tag("", "v1"), "core_v1");
        assert_eq!(
            operation_tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(
            operation_tag("flowcontrol.apiserver.k8s.io", "v1"),
            "flowcontrolApiserver_v1"
        );
        // Go's escapes read back: a quote and a paragraph break.
        assert!(option_text("ListOptions", "allowWatchBookmarks").contains("type \"BOOKMARK\""));
        assert!(option_text("ListOptions", "resourceVersion").ends_with("\n\nDefaults to unset"));
    }

    #[test]
    fn articles_as_get_article_for_noun() {
        for (kind, want) in [
            ("Pod", " a "),
            ("Event", " an "),
            ("EndpointSlice", " an "),
            ("Endpoints", " "),
            ("Class", " a "),
            ("AccessReview", " an "),
        ] {
            assert_eq!(article(kind), want, "{kind}");
        }
    }

    #[test]
    fn parameters_every_operation_takes_move_to_the_path_sorted() {
        let p = |n: &str| json!({"name": n, "in": "query"});
        let mut one = json!({"parameters": [p("pretty")], "post": {"parameters": [p("fieldValidation"), p("dryRun")]}});
        hoist_common_parameters(&mut one);
        assert_eq!(
            one,
            json!({"parameters": [p("dryRun"), p("fieldValidation"), p("pretty")], "post": {}})
        );
        // Shared by some operations only: left where they are.
        let mut two = json!({"get": {"parameters": [p("limit")]}, "post": {"parameters": [p("dryRun")]},
            "delete": {"parameters": [p("dryRun"), p("limit")]}});
        let before = two.clone();
        hoist_common_parameters(&mut two);
        assert_eq!(two, before);
        let mut both = json!({"get": {"parameters": [p("tty"), p("stdin")]}, "post": {"parameters": [p("stdin"), p("tty")]}});
        hoist_common_parameters(&mut both);
        assert_eq!(
            both,
            json!({"parameters": [p("stdin"), p("tty")], "get": {}, "post": {}})
        );
    }

    #[test]
    fn patch_operations_advertise_server_side_validation() {
        let doc: Value =
            serde_json::from_slice(&docs().v3("api/v1").expect("core").body).expect("JSON");
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "ServiceAccount"
        );
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(names.contains(&"fieldValidation") && names.contains(&"dryRun"));
        // References resolve, and a reference with a description is wrapped in allOf.
        let sa = &doc["components"]["schemas"]["io.k8s.api.core.v1.ServiceAccount"];
        assert_eq!(
            sa["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(doc["components"]["schemas"]
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .is_some());
    }
}
