//! The wire encoders in process, each beside its baseline on the same value in the same run:
//! `wire::json::to_vec` (Go field order, Go escaping) beside `serde_json::to_vec` (sorted
//! keys), on a ServiceAccount list of 100 and 10,000 items and a list of 100 pods; the
//! pretty layout (`wire::json::indent`) beside serde_json's pretty printer; protobuf decoding
//! of a Pod beside parsing the same Pod from JSON.

use serde_json::{json, Value};
use std::time::Instant;

fn service_account(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": format!("sa-{i}"), "namespace": "default",
        "uid": format!("6c7ed570-be53-4c1d-b901-{i:012}"), "resourceVersion": format!("{}", 1000 + i),
        "creationTimestamp": "2026-12-06T10:00:00Z", "labels": {"app": "web", "tier": "backend"}},
        "secrets": [{"name": format!("sa-{i}-token")}]})
}

fn pod(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p-{i}"), "namespace": "default",
        "uid": format!("6c7ed570-be53-4c1d-b901-{i:012}"), "resourceVersion": format!("{}", 1000 + i),
        "creationTimestamp": "2026-12-06T10:00:00Z", "labels": {"app": "web"}},
        "spec": {"volumes": [{"name": "kube-api-access-x", "projected": {"sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}], "defaultMode": 420}}],
                 "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                     "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                     "imagePullPolicy": "Always", "volumeMounts": [{"name": "kube-api-access-x", "readOnly": true,
                     "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                 "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                 "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
                 "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": true,
                 "preemptionPolicy": "PreemptLowerPriority"},
        "status": {"phase": "Pending", "qosClass": "BestEffort"}})
}

/// A list as the server writes it: items without their kind and apiVersion (a typed list's).
fn list(kind: &str, mut items: Vec<Value>) -> Value {
    for i in &mut items {
        if let Some(o) = i.as_object_mut() {
            o.remove("kind");
            o.remove("apiVersion");
        }
    }
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "12345"}, "items": items})
}

/// Operations per second of `f`, run for about 1.5 s (median of three half-second runs).
fn rate(mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut rates = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed().as_millis() < 500 {
            size = std::hint::black_box(f());
            n += 1;
        }
        rates.push(f64::from(n) / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    (rates[1], size)
}

fn row(what: &str, ours: impl FnMut() -> usize, base: impl FnMut() -> usize) {
    let ((a, sa), (b, sb)) = (rate(ours), rate(base));
    println!(
        "| {what} | {a:.0}/s ({sa} B) | {b:.0}/s ({sb} B) | {:.2}x |",
        a / b
    );
}

pub(crate) fn run() {
    println!("| what | wire | baseline | ratio |");
    println!("|---|---|---|---|");
    let small = list(
        "ServiceAccountList",
        (0..100).map(service_account).collect(),
    );
    let large = list(
        "ServiceAccountList",
        (0..10_000).map(service_account).collect(),
    );
    let pods = list("PodList", (0..100).map(pod).collect());
    for (what, v) in [
        (
            "JSON, ServiceAccountList of 100, wire::json vs serde_json::to_vec",
            &small,
        ),
        ("JSON, ServiceAccountList of 10,000", &large),
        ("JSON, PodList of 100", &pods),
    ] {
        row(
            what,
            || wire::json::to_vec(v, wire::Layout::Compact).len(),
            || serde_json::to_vec(v).map_or(0, |b| b.len()),
        );
    }
    let compact = wire::json::to_vec(&pods, wire::Layout::Compact);
    row(
        "pretty PodList of 100: wire::json::indent of the bytes vs serde_json::to_vec_pretty of the value",
        || wire::json::indent(&compact).len(),
        || serde_json::to_vec_pretty(&pods).map_or(0, |b| b.len()),
    );
    let one = pod(1);
    let proto = wire::protobuf::encode(&one).unwrap_or_default();
    let text = serde_json::to_vec(&one).unwrap_or_default();
    row(
        "decode a Pod: wire::protobuf::decode vs serde_json::from_slice of its JSON",
        || wire::protobuf::decode(&proto).map_or(0, |v| v.as_object().map_or(0, |m| m.len())),
        || {
            serde_json::from_slice::<Value>(&text)
                .map_or(0, |v| v.as_object().map_or(0, |m| m.len()))
        },
    );
}
