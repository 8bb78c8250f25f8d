//! The registry on every backend, each behind the watch cache as the binary runs it: metadata,
//! concurrency, selectors, watch semantics. Each test runs on memory, SQLite and a real etcd
//! member (`memory::`, `sqlite::`, `etcd::`).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use registry::{DeleteOptions, ListOptions, Registry, WatchOptions, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use storage::etcd_server::EtcdCluster;
use storage::{Cacher, MemoryStorage, SqliteStorage, Storage};

/// The stores the registry runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
    Etcd,
}

/// What a test's store needs kept alive: its file's directory, or its etcd member.
#[allow(dead_code, reason = "held for their Drop")]
enum Held {
    Nothing,
    Dir(tempfile::TempDir),
    Etcd(EtcdCluster),
}

/// A registry on `backend` behind the watch cache, with the `default` namespace.
fn setup(backend: Backend) -> (Arc<Registry>, Arc<dyn Storage>, Held) {
    let (inner, held): (Arc<dyn Storage>, Held) = match backend {
        Backend::Memory => (Arc::new(MemoryStorage::new()), Held::Nothing),
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let db = SqliteStorage::open(&dir.path().join("state.db")).unwrap();
            (Arc::new(db), Held::Dir(dir))
        }
        // A member of its own: a test compacts, which would reach every test on a shared one.
        Backend::Etcd => {
            let etcd = EtcdCluster::start(1);
            (Arc::new(etcd.storage("/kw")), Held::Etcd(etcd))
        }
    };
    let storage: Arc<dyn Storage> =
        Arc::new(Cacher::new(inner, registry::resource_prefix_len).unwrap());
    let fixed: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let reg = Arc::new(Registry::new(storage.clone(), Arc::new(move || fixed)));
    reg.ensure_namespaces(&["default"]).unwrap();
    (reg, storage, held)
}

/// Each test once per backend: `memory::name`, `sqlite::name`, `etcd::name`.
macro_rules! on_every_backend {
    (sync: [$($s:ident),* $(,)?], async: [$($a:ident),* $(,)?]) => {
        on_every_backend!(@mod memory, Memory, [$($s),*], [$($a),*]);
        on_every_backend!(@mod sqlite, Sqlite, [$($s),*], [$($a),*]);
        on_every_backend!(@mod etcd, Etcd, [$($s),*], [$($a),*]);
    };
    (@mod $m:ident, $b:ident, [$($s:ident),*], [$($a:ident),*]) => {
        mod $m {
            $(
                #[test]
                fn $s() {
                    super::$s(super::Backend::$b)
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $a() {
                    super::$a(super::Backend::$b).await
                }
            )*
        }
    };
}

on_every_backend!(
    sync: [
        create_fills_system_metadata_from_the_injected_clock,
        update_with_a_stale_resource_version_conflicts,
        an_update_that_changes_nothing_keeps_the_resource_version,
        immutable_secrets_refuse_data_changes,
        pod_spec_is_immutable_but_image_may_change,
        status_subresource_changes_only_status,
        delete_preconditions,
        field_selectors_per_kind,
    ],
    async: [
        watch_translates_selector_transitions,
        watch_from_a_compacted_revision_is_an_error_event_410,
        watch_without_resource_version_starts_with_the_current_state,
    ]
);

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn create_fills_system_metadata_from_the_injected_clock(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn update_with_a_stale_resource_version_conflicts(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn an_update_that_changes_nothing_keeps_the_resource_version(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn immutable_secrets_refuse_data_changes(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn pod_spec_is_immutable_but_image_may_change(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn status_subresource_changes_only_status(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn delete_preconditions(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

fn field_selectors_per_kind(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

async fn watch_translates_selector_transitions(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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

async fn watch_from_a_compacted_revision_is_an_error_event_410(backend: Backend) {
    let (reg, storage, _held) = setup(backend);
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

async fn watch_without_resource_version_starts_with_the_current_state(backend: Backend) {
    let (reg, _, _held) = setup(backend);
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
