//! The served kinds' list table (`registry::lists`) through strategic merge patch: the cases
//! upstream's tests state for pods, config maps and service accounts, and the property that
//! without lists and directives a strategic merge patch is a JSON merge patch.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use serde_json::{json, Map, Value};
use strategicpatch::SmpError;

/// Applies `patch` to `doc`, an object of `kind`, with the registry's list table.
fn apply(doc: &mut Value, patch: &Value, kind: &str) -> Result<(), SmpError> {
    strategicpatch::apply_with(doc, patch, &|path| registry::lists::rule(kind, path).0)
}

/// (kind, original, patch, expected) as upstream's strategic merge tests state them.
fn check(kind: &str, orig: Value, patch: Value, want: Value) {
    let mut doc = orig.clone();
    apply(&mut doc, &patch, kind).unwrap();
    assert_eq!(doc, want, "\noriginal {orig}\npatch {patch}");
}

#[test]
fn maps_merge_and_null_deletes() {
    check(
        "ConfigMap",
        json!({"data": {"a": "1", "b": "2"}}),
        json!({"data": {"a": null, "c": "3"}}),
        json!({"data": {"b": "2", "c": "3"}}),
    );
}

#[test]
fn containers_and_env_merge_by_name() {
    let pod = json!({"spec": {"containers": [
        {"name": "main", "image": "busybox:1.36", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "side", "image": "nginx"}]}});
    // kubectl apply's patch for a changed image and a dropped env entry.
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}, {"name": "A", "value": "9"}],
                        "image": "busybox:1.37", "name": "main"}]}});
    check(
        "Pod",
        pod,
        patch,
        json!({"spec": {"containers": [
        {"name": "main", "image": "busybox:1.37", "env": [{"name": "A", "value": "9"}]},
        {"name": "side", "image": "nginx"}]}}),
    );
}

#[test]
fn set_element_order_reorders() {
    let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}});
    check(
        "Pod",
        pod,
        patch,
        json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}}),
    );
}

#[test]
fn lists_without_a_strategy_are_replaced() {
    let role = json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]});
    let patch =
        json!({"rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]}]});
    check("Role", role, patch.clone(), patch);
    let pod = json!({"spec": {"containers": [{"name": "c", "args": ["a", "b"]}]}});
    let patch = json!({"spec": {"containers": [{"name": "c", "args": ["z"]}]}});
    check(
        "Pod",
        pod,
        patch,
        json!({"spec": {"containers": [{"name": "c", "args": ["z"]}]}}),
    );
}

#[test]
fn directives() {
    // $patch: replace on a map.
    check(
        "ConfigMap",
        json!({"data": {"a": "1", "b": "2"}}),
        json!({"data": {"$patch": "replace", "c": "3"}}),
        json!({"data": {"c": "3"}}),
    );
    // $patch: delete on a map.
    check(
        "Pod",
        json!({"spec": {"securityContext": {"runAsUser": 1}}}),
        json!({"spec": {"securityContext": {"$patch": "delete"}}}),
        json!({"spec": {"securityContext": {}}}),
    );
    // $retainKeys keeps only the listed keys.
    check(
        "Pod",
        json!({"spec": {"a": 1, "b": 2, "c": 3}}),
        json!({"spec": {"$retainKeys": ["a", "c"], "c": 4}}),
        json!({"spec": {"a": 1, "c": 4}}),
    );
    // $deleteFromPrimitiveList and primitive merge of finalizers.
    check(
        "ConfigMap",
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}}),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    // A list element {"$patch": "replace"} replaces the whole list.
    let pod = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}});
    check(
        "Pod",
        pod,
        json!({"spec": {"volumes": [{"name": "c"}, {"$patch": "replace"}]}}),
        json!({"spec": {"volumes": [{"name": "c"}]}}),
    );
    let mut doc = json!({});
    assert_eq!(
        apply(&mut doc, &json!({"$bogus": 1}), "Pod"),
        Err(SmpError::UnknownDirective("$bogus".into()))
    );
}

#[test]
fn service_account_secrets_merge_by_name() {
    let sa = json!({"secrets": [{"name": "a"}]});
    check(
        "ServiceAccount",
        sa,
        json!({"secrets": [{"name": "b"}]}),
        json!({"secrets": [{"name": "a"}, {"name": "b"}]}),
    );
}

/// Without lists and directives, a strategic merge patch is a JSON merge patch (RFC 7386):
/// checked on generated documents and patches.
#[test]
fn without_lists_it_equals_json_merge_patch() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    fn value(rng: &mut StdRng, depth: u32, allow_null: bool) -> Value {
        match rng.random_range(0..if depth == 0 { 3 } else { 5 }) {
            0 if allow_null => Value::Null,
            0 | 1 => json!(rng.random_range(0..4)),
            2 => json!(["a", "b", "c"][rng.random_range(0..3)]),
            _ => {
                let mut m = Map::new();
                for _ in 0..rng.random_range(0..4) {
                    m.insert(
                        ["a", "b", "c", "d"][rng.random_range(0..4)].to_string(),
                        value(rng, depth - 1, allow_null),
                    );
                }
                Value::Object(m)
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..5_000 {
        let mut doc = json!({"spec": value(&mut rng, 3, false)});
        let patch = json!({"spec": value(&mut rng, 3, true)});
        let mut want = doc.clone();
        json_patch::merge(&mut want, &patch);
        apply(&mut doc, &patch, "Pod").unwrap();
        assert_eq!(doc, want, "patch {patch}");
    }
}
