//! Server-side apply through the registry (memory backend): creation, refusals, dry-run, no-op
//! applies, and the ownership every other write records.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use registry::{PatchType, Registry, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use storage::MemoryStorage;

fn setup() -> Registry {
    let fixed: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let reg = Registry::new(Arc::new(MemoryStorage::new()), Arc::new(move || fixed));
    reg.ensure_namespaces(&["default"]).unwrap();
    reg
}

fn by(manager: &str) -> WriteOptions {
    WriteOptions::by(manager)
}

fn apply(
    reg: &Registry,
    name: &str,
    body: Value,
    sub: Option<&str>,
    opts: &WriteOptions,
) -> Result<registry::Written, registry::StatusError> {
    let def = &registry::kinds::CONFIG_MAPS;
    let bytes = serde_json::to_vec(&body).unwrap();
    reg.patch(
        def,
        "default",
        name,
        PatchType::Apply { force: false },
        &bytes,
        sub,
        opts,
    )
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
}

#[test]
fn an_apply_creates_then_changes_nothing_when_repeated() {
    let reg = setup();
    let w = apply(&reg, "c", cm(json!({"a": "1"})), None, &by("m")).unwrap();
    assert!(w.created);
    let entries = w.object["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["operation"], "Apply");
    assert_eq!(entries[0]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    let rv = w.object["metadata"]["resourceVersion"].clone();
    let again = apply(&reg, "c", cm(json!({"a": "1"})), None, &by("m")).unwrap();
    assert!(!again.created);
    assert_eq!(
        again.object["metadata"]["resourceVersion"], rv,
        "a no-op apply writes nothing"
    );
}

#[test]
fn refusals() {
    let reg = setup();
    let status = |r: Result<registry::Written, registry::StatusError>| {
        let e = r.unwrap_err();
        (e.code, e.message)
    };
    assert_eq!(
        status(apply(&reg, "c", cm(json!({})), Some("status"), &by("m"))),
        (404, "configmaps \"c\" not found".to_string())
    );
    let mut with_owners = cm(json!({}));
    with_owners["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        status(apply(&reg, "c", with_owners, None, &by("m"))),
        (400, "metadata.managedFields must be nil".to_string())
    );
    let (code, message) = status(apply(
        &reg,
        "c",
        json!({"metadata": {"name": "c"}}),
        None,
        &by("m"),
    ));
    assert_eq!(code, 400);
    assert!(
        message.starts_with("Object 'Kind' is missing in"),
        "{message}"
    );
    let (code, message) = status(apply(&reg, "other", cm(json!({})), None, &by("m")));
    assert_eq!(
        (code, message.as_str()),
        (
            400,
            "the name of the object (c) does not match the name on the URL (other)"
        )
    );
    let dup = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "i"}, {"name": "a", "image": "j"}]}});
    let e = reg
        .patch(
            &registry::kinds::PODS,
            "default",
            "p",
            PatchType::Apply { force: false },
            &serde_json::to_vec(&dup).unwrap(),
            None,
            &by("m"),
        )
        .unwrap_err();
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("duplicate entries for key [name=\"a\"]"),
        "{}",
        e.message
    );
}

#[test]
fn a_dry_run_apply_stores_nothing() {
    let reg = setup();
    let opts = WriteOptions {
        dry_run: true,
        ..by("m")
    };
    let w = apply(&reg, "c", cm(json!({"a": "1"})), None, &opts).unwrap();
    assert_eq!(w.object["data"]["a"], "1");
    let e = reg
        .get(&registry::kinds::CONFIG_MAPS, "default", "c")
        .unwrap_err();
    assert_eq!(e.code, 404);
}

#[test]
fn updates_record_their_manager_and_a_reset_clears_all() {
    let reg = setup();
    let def = &registry::kinds::CONFIG_MAPS;
    let w = reg
        .create(def, "default", cm(json!({"a": "1"})), &by("creator"))
        .unwrap();
    let managers = |o: &Value| -> Vec<String> {
        o["metadata"]["managedFields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["manager"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(managers(&w.object), ["creator"]);
    let mut edited = w.object.clone();
    edited["data"]["b"] = json!("2");
    let w = reg
        .update(def, "default", "c", edited, None, &by("editor"))
        .unwrap();
    assert_eq!(managers(&w.object), ["creator", "editor"]);
    let mut reset = w.object.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let w = reg
        .update(def, "default", "c", reset, None, &by("editor"))
        .unwrap();
    assert!(
        w.object["metadata"].get("managedFields").is_none(),
        "{}",
        w.object
    );
}

#[test]
fn an_apply_to_status_is_owned_with_its_subresource() {
    let reg = setup();
    let pods = &registry::kinds::PODS;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]}});
    reg.create(pods, "default", pod, &by("creator")).unwrap();
    let status = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let w = reg
        .patch(
            pods,
            "default",
            "p",
            PatchType::Apply { force: false },
            &serde_json::to_vec(&status).unwrap(),
            Some("status"),
            &by("kubelet"),
        )
        .unwrap();
    assert_eq!(w.object["status"]["conditions"][0]["type"], "Ready");
    let entries = w.object["metadata"]["managedFields"].as_array().unwrap();
    let kubelet = entries
        .iter()
        .find(|e| e["manager"] == "kubelet")
        .expect("kubelet's entry");
    assert_eq!(kubelet["subresource"], "status");
    assert_eq!(kubelet["operation"], "Apply");
    assert_eq!(
        kubelet["fieldsV1"],
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
    assert!(
        entries.iter().any(|e| e["manager"] == "creator"),
        "the creator keeps its entry"
    );
}

#[test]
fn an_unowned_object_is_first_owned_by_before_first_apply() {
    let reg = setup();
    let def = &registry::kinds::CONFIG_MAPS;
    let w = reg
        .create(def, "default", cm(json!({"a": "1"})), &by("creator"))
        .unwrap();
    let mut reset = w.object.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    reg.update(def, "default", "c", reset, None, &by("resetter"))
        .unwrap();
    let e = apply(&reg, "c", cm(json!({"a": "2"})), None, &by("m")).unwrap_err();
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.a"
    );
    let w = apply(&reg, "c", cm(json!({"a": "1", "b": "2"})), None, &by("m")).unwrap();
    let managers: Vec<&str> = w.object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["m", "before-first-apply"]);
}
