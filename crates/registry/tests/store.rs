//! The registry over the memory backend: metadata, concurrency, selectors, watch semantics.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use registry::{DeleteOptions, ListOptions, Registry, WatchOptions, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use storage::{MemoryStorage, Storage};

fn setup() -> (Arc<Registry>, Arc<dyn Storage>) {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let fixed: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let reg = Arc::new(Registry::new(storage.clone(), Arc::new(move || fixed)));
    reg.ensure_namespaces(&["default"]).unwrap();
    (reg, storage)
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

#[test]
fn create_fills_system_metadata_from_the_injected_clock() {
    let (reg, _) = setup();
    let w = reg
        .create(
            &registry::kinds::CONFIG_MAPS,
            "default",
            cm("a", json!({})),
            &WriteOptions::default(),
        )
        .unwrap();
    let m = &w.object["metadata"];
    assert_eq!(m["creationTimestamp"], "2026-11-29T00:00:00Z");
    assert_eq!(m["namespace"], "default");
    assert_eq!(m["uid"].as_str().unwrap().len(), 36);
    assert!(
        m["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    assert!(
        m.get("labels").is_none(),
        "empty maps are omitted, as Go's omitempty"
    );
}

#[test]
fn update_with_a_stale_resource_version_conflicts() {
    let (reg, _) = setup();
    let w = reg
        .create(
            &registry::kinds::CONFIG_MAPS,
            "default",
            cm("a", json!({})),
            &WriteOptions::default(),
        )
        .unwrap();
    let mut first = w.object.clone();
    first["data"]["k"] = "1".into();
    reg.update(
        &registry::kinds::CONFIG_MAPS,
        "default",
        "a",
        first,
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    let mut second = w.object.clone();
    second["data"]["k"] = "2".into();
    let err = reg
        .update(
            &registry::kinds::CONFIG_MAPS,
            "default",
            "a",
            second,
            None,
            &WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    // resourceVersion "0", like "", asks for no precondition: the update is unconditional
    // (`ObjectResourceVersion` reads both as 0 in the generic store's Update).
    for rv in ["0", ""] {
        let mut any = w.object.clone();
        any["metadata"]["resourceVersion"] = rv.into();
        any["data"]["k"] = format!("rv {rv:?}").into();
        let done = reg
            .update(
                &registry::kinds::CONFIG_MAPS,
                "default",
                "a",
                any,
                None,
                &WriteOptions::default(),
            )
            .unwrap();
        assert_eq!(done.object["data"]["k"], format!("rv {rv:?}"));
        assert_ne!(done.object["metadata"]["resourceVersion"], "0");
    }
}

#[test]
fn an_update_that_changes_nothing_keeps_the_resource_version() {
    let (reg, _) = setup();
    let w = reg
        .create(
            &registry::kinds::CONFIG_MAPS,
            "default",
            cm("a", json!({})),
            &WriteOptions::default(),
        )
        .unwrap();
    let again = reg
        .update(
            &registry::kinds::CONFIG_MAPS,
            "default",
            "a",
            w.object.clone(),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(
        again.object["metadata"]["resourceVersion"],
        w.object["metadata"]["resourceVersion"]
    );
}

#[test]
fn immutable_secrets_refuse_data_changes() {
    let (reg, _) = setup();
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "immutable": true, "stringData": {"a": "b"}});
    let w = reg
        .create(
            &registry::kinds::SECRETS,
            "default",
            s,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(w.object["data"]["a"], "Yg==");
    assert_eq!(w.object["type"], "Opaque");
    let mut changed = w.object.clone();
    changed["data"]["a"] = "Yw==".into();
    let err = reg
        .update(
            &registry::kinds::SECRETS,
            "default",
            "s",
            changed,
            None,
            &WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Secret \"s\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
}

#[test]
fn pod_spec_is_immutable_but_image_may_change() {
    let (reg, _) = setup();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}});
    let w = reg
        .create(
            &registry::kinds::PODS,
            "default",
            pod,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(
        w.object["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let mut image = w.object.clone();
    image["spec"]["containers"][0]["image"] = "busybox:1.37".into();
    let w2 = reg
        .update(
            &registry::kinds::PODS,
            "default",
            "p",
            image,
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    let mut policy = w2.object.clone();
    policy["spec"]["restartPolicy"] = "Never".into();
    let err = reg
        .update(
            &registry::kinds::PODS,
            "default",
            "p",
            policy,
            None,
            &WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert!(err
        .message
        .contains("spec: Forbidden: pod updates may not change fields other than"));
}

#[test]
fn status_subresource_changes_only_status() {
    let (reg, _) = setup();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let w = reg
        .create(
            &registry::kinds::PODS,
            "default",
            pod,
            &WriteOptions::default(),
        )
        .unwrap();
    let mut body = w.object.clone();
    body["status"]["phase"] = "Running".into();
    body["spec"]["containers"][0]["image"] = "ignored".into();
    let s = reg
        .update(
            &registry::kinds::PODS,
            "default",
            "p",
            body.clone(),
            Some("status"),
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(s.object["status"]["phase"], "Running");
    assert_eq!(s.object["spec"]["containers"][0]["image"], "i");
    // The main resource ignores status.
    let mut main = s.object.clone();
    main["status"]["phase"] = "Failed".into();
    let m = reg
        .update(
            &registry::kinds::PODS,
            "default",
            "p",
            main,
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(m.object["status"]["phase"], "Running");
}

#[test]
fn delete_preconditions() {
    let (reg, _) = setup();
    reg.create(
        &registry::kinds::CONFIG_MAPS,
        "default",
        cm("a", json!({})),
        &WriteOptions::default(),
    )
    .unwrap();
    let opts = DeleteOptions {
        precondition_uid: Some("nope".into()),
        ..Default::default()
    };
    let err = reg
        .delete(&registry::kinds::CONFIG_MAPS, "default", "a", &opts)
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert!(err
        .message
        .contains("Precondition failed: UID in precondition: nope"));
    assert!(
        reg.delete(
            &registry::kinds::CONFIG_MAPS,
            "default",
            "a",
            &DeleteOptions::default()
        )
        .unwrap()
        .finished
    );
}

#[test]
fn field_selectors_per_kind() {
    let (reg, _) = setup();
    for (name, t) in [("a", "Opaque"), ("b", "kubernetes.io/tls")] {
        let mut s =
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": t});
        if t == "kubernetes.io/tls" {
            s["data"] = json!({"tls.crt": "", "tls.key": ""});
        }
        reg.create(
            &registry::kinds::SECRETS,
            "default",
            s,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let opts = ListOptions {
        field_selector: "type=kubernetes.io/tls".into(),
        ..Default::default()
    };
    let l = reg
        .list(&registry::kinds::SECRETS, Some("default"), &opts)
        .unwrap();
    assert_eq!(l.items.len(), 1);
    assert_eq!(l.items[0]["metadata"]["name"], "b");
    let bad = ListOptions {
        field_selector: "spec.nope=1".into(),
        ..Default::default()
    };
    let err = reg.list(&registry::kinds::SECRETS, None, &bad).unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "field label not supported: spec.nope")
    );
}

#[tokio::test]
async fn watch_translates_selector_transitions() {
    let (reg, _) = setup();
    let w = reg
        .create(
            &registry::kinds::CONFIG_MAPS,
            "default",
            cm("a", json!({"x": "no"})),
            &WriteOptions::default(),
        )
        .unwrap();
    let rv = w.object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let opts = WatchOptions {
        list: ListOptions {
            label_selector: "x=yes".into(),
            resource_version: rv,
            ..Default::default()
        },
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut rx = reg
        .watch(&registry::kinds::CONFIG_MAPS, Some("default"), opts)
        .unwrap();
    let set = |v: &str| {
        let cur = reg
            .get(&registry::kinds::CONFIG_MAPS, "default", "a")
            .unwrap();
        let mut next = cur.clone();
        next["metadata"]["labels"]["x"] = v.into();
        reg.update(
            &registry::kinds::CONFIG_MAPS,
            "default",
            "a",
            next,
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    };
    set("yes");
    set("no");
    assert_eq!(
        rx.recv().await.unwrap().type_,
        "ADDED",
        "starting to match is an ADDED"
    );
    assert_eq!(
        rx.recv().await.unwrap().type_,
        "DELETED",
        "no longer matching is a DELETED"
    );
}

#[tokio::test]
async fn watch_from_a_compacted_revision_is_an_error_event_410() {
    let (reg, storage) = setup();
    let first = reg
        .create(
            &registry::kinds::CONFIG_MAPS,
            "default",
            cm("a", json!({})),
            &WriteOptions::default(),
        )
        .unwrap();
    let old_rv = first.object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    reg.create(
        &registry::kinds::CONFIG_MAPS,
        "default",
        cm("b", json!({})),
        &WriteOptions::default(),
    )
    .unwrap();
    storage
        .compact(storage.current_revision().unwrap())
        .unwrap();
    let opts = WatchOptions {
        list: ListOptions {
            resource_version: old_rv.clone(),
            ..Default::default()
        },
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut rx = reg
        .watch(&registry::kinds::CONFIG_MAPS, Some("default"), opts)
        .unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.type_, "ERROR");
    assert_eq!(ev.object["code"], 410);
    assert_eq!(ev.object["reason"], "Expired");
    assert!(ev.object["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("too old resource version: {old_rv} (")));
    assert!(rx.recv().await.is_none(), "the stream ends after the error");
}

#[tokio::test]
async fn watch_without_resource_version_starts_with_the_current_state() {
    let (reg, _) = setup();
    reg.create(
        &registry::kinds::CONFIG_MAPS,
        "default",
        cm("a", json!({})),
        &WriteOptions::default(),
    )
    .unwrap();
    let opts = WatchOptions {
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut rx = reg
        .watch(&registry::kinds::CONFIG_MAPS, Some("default"), opts)
        .unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(
        (ev.type_, ev.object["metadata"]["name"].as_str()),
        ("ADDED", Some("a"))
    );
    reg.delete(
        &registry::kinds::CONFIG_MAPS,
        "default",
        "a",
        &DeleteOptions::default(),
    )
    .unwrap();
    assert_eq!(rx.recv().await.unwrap().type_, "DELETED");
}
