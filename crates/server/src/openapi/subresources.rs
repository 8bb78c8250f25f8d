//! A kind's subresource paths, as apiserver's installer registers them
//! (`endpoints/installer.go`, `registerResourceHandlers`): the words and operation names use
//! the parent's kind (`read status of the specified Pod`, `createCoreV1NamespacedPodBinding`),
//! the group-version-kind and the schema the subresource's own (a `Binding`, a `TokenRequest`;
//! the parent's for `status`). `log` is read as text with `PodLogOptions`; `exec` and `attach`
//! are connected by GET and POST with their options and no `pretty`.

use super::{
    name_param, namespace_param, operation_id, pretty_param, request_body, responses, write_params,
    PATCH_TYPES,
};
use registry::resource::Subresource;
use registry::ResourceDef;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// `log`'s query parameters (`PodLogOptions` as the installer adds them; `sinceTime`, a
/// struct, is not one).
const LOG_PARAMS: [(&str, &str); 9] = [
    ("container", "string"),
    ("follow", "boolean"),
    ("insecureSkipTLSVerifyBackend", "boolean"),
    ("limitBytes", "integer"),
    ("previous", "boolean"),
    ("sinceSeconds", "integer"),
    ("stream", "string"),
    ("tailLines", "integer"),
    ("timestamps", "boolean"),
];

/// `exec`'s (`PodExecOptions`) and, without `command`, `attach`'s (`PodAttachOptions`).
const CONNECT_PARAMS: [(&str, &str); 6] = [
    ("command", "string"),
    ("container", "string"),
    ("stderr", "boolean"),
    ("stdin", "boolean"),
    ("stdout", "boolean"),
    ("tty", "boolean"),
];

/// What the subresource is, for its operations' shape.
enum Shape {
    /// Read and written as a kind (`status`, `finalize`, `binding`, `token`).
    Object,
    /// Read as text with options (`log`).
    Log,
    /// Connected to, with options (`exec`, `attach`).
    Connect(&'static str),
}

fn shape(sub: &Subresource) -> Shape {
    if sub.name == Subresource::LOG.name {
        Shape::Log
    } else if sub.name == Subresource::EXEC.name {
        Shape::Connect("PodExecOptions")
    } else if sub.name == Subresource::ATTACH.name {
        Shape::Connect("PodAttachOptions")
    } else {
        Shape::Object
    }
}

/// `s` with its first letter upper-cased (Go's `strings.Title` of one word).
fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The paths of `def`'s subresources below `item` (the object's path), in `group`/`version`;
/// `reached` gathers the definitions they name.
pub(super) fn paths(
    def: &ResourceDef,
    group: &str,
    version: &str,
    item: &str,
    reached: &mut BTreeSet<String>,
) -> Vec<(String, Value)> {
    let tag = super::operation_tag(group, version);
    let scope = if def.namespaced { "Namespaced" } else { "" };
    let mut out = Vec::new();
    for sub in def.subresources {
        let (sub_group, sub_version, sub_kind) = sub.kind.unwrap_or((group, version, def.kind));
        let schema = registry::schema::definition_name(sub_group, sub_version, sub_kind);
        let gvk = json!({"group": sub_group, "version": sub_version, "kind": sub_kind});
        let name = format!("{scope}{}{}", def.kind, title(sub.name));
        let shape = shape(sub);
        // `verb` then the group version, then `infix` and the name (`connect`, `CoreV1`,
        // `Get`, `NamespacedPodExec`).
        let op = |action: &str, verb: &str, infix: &str, description: String, out: Value| {
            json!({
                "description": description,
                "tags": [tag],
                "operationId": operation_id(verb, group, version, &format!("{infix}{name}")),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "responses": out,
            })
        };
        let text = |types: &[&str]| {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": {"type": "string"}})))
                .collect();
            json!({"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}})
        };
        let mut path = Map::new();
        for verb in sub.verbs {
            let (method, mut o) = match (&shape, *verb) {
                (Shape::Connect(options), "get" | "create") => {
                    let method = if *verb == "get" { "GET" } else { "POST" };
                    let mut o = op(
                        "connect",
                        "connect",
                        &title(&method.to_lowercase()),
                        format!("connect {method} requests to {} of {}", sub.name, def.kind),
                        text(&["*/*"]),
                    );
                    o["parameters"] = CONNECT_PARAMS
                        .iter()
                        .filter(|(n, _)| *options == "PodExecOptions" || *n != "command")
                        .map(|(n, t)| super::param(options, n, t))
                        .collect();
                    (method.to_lowercase(), o)
                }
                (Shape::Log, "get") => {
                    let mut o = op(
                        "get",
                        "read",
                        "",
                        format!("read {} of the specified {}", sub.name, def.kind),
                        text(&[
                            "application/json",
                            "application/vnd.kubernetes.protobuf",
                            "application/yaml",
                            "text/plain",
                        ]),
                    );
                    o["parameters"] = LOG_PARAMS
                        .iter()
                        .map(|(n, t)| super::param("PodLogOptions", n, t))
                        .collect();
                    ("get".into(), o)
                }
                (Shape::Object, "get") => {
                    reached.insert(schema.clone());
                    let o = op(
                        "get",
                        "read",
                        "",
                        format!("read {} of the specified {}", sub.name, def.kind),
                        responses("get", &schema),
                    );
                    ("get".into(), o)
                }
                (Shape::Object, "update") => {
                    reached.insert(schema.clone());
                    let mut o = op(
                        "put",
                        "replace",
                        "",
                        format!("replace {} of the specified {}", sub.name, def.kind),
                        responses("put", &schema),
                    );
                    o["parameters"] = write_params("UpdateOptions").into();
                    o["requestBody"] = request_body(&schema, &["*/*"]);
                    ("put".into(), o)
                }
                (Shape::Object, "patch") => {
                    reached.insert(schema.clone());
                    reached.insert("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into());
                    let mut o = op(
                        "patch",
                        "patch",
                        "",
                        format!(
                            "partially update {} of the specified {}",
                            sub.name, def.kind
                        ),
                        responses("patch", &schema),
                    );
                    o["parameters"] = write_params("PatchOptions").into();
                    o["requestBody"] =
                        request_body("io.k8s.apimachinery.pkg.apis.meta.v1.Patch", &PATCH_TYPES);
                    ("patch".into(), o)
                }
                (Shape::Object, "create") => {
                    reached.insert(schema.clone());
                    let mut o = op(
                        "post",
                        "create",
                        "",
                        format!(
                            "create {} of{}{}",
                            sub.name,
                            super::article(def.kind),
                            def.kind
                        ),
                        responses("post", &schema),
                    );
                    o["parameters"] = write_params("CreateOptions").into();
                    o["requestBody"] = request_body(&schema, &["*/*"]);
                    ("post".into(), o)
                }
                _ => continue,
            };
            if o["parameters"].as_array().is_some_and(Vec::is_empty) {
                o.as_object_mut().map(|m| m.remove("parameters"));
            }
            path.insert(method, o);
        }
        if path.is_empty() {
            continue;
        }
        let mut params = vec![name_param(def.kind)];
        if def.namespaced {
            params.push(namespace_param());
        }
        if !matches!(shape, Shape::Connect(_)) {
            params.push(pretty_param());
        }
        path.insert("parameters".into(), Value::Array(params));
        out.push((format!("{item}/{}", sub.name), Value::Object(path)));
    }
    out
}

/// The options kinds' descriptions exist for every parameter named here.
#[cfg(test)]
pub(super) fn option_names() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&str, &str)> = LOG_PARAMS
        .iter()
        .map(|(n, _)| ("PodLogOptions", *n))
        .collect();
    all.extend(CONNECT_PARAMS.iter().map(|(n, _)| ("PodExecOptions", *n)));
    all.extend(
        CONNECT_PARAMS
            .iter()
            .filter(|(n, _)| *n != "command")
            .map(|(n, _)| ("PodAttachOptions", *n)),
    );
    all
}

#[cfg(test)]
#[test]
fn every_subresource_parameter_has_upstreams_description() {
    for (kind, name) in option_names() {
        assert!(!super::option_text(kind, name).is_empty(), "{kind}.{name}");
    }
}
