//! Ownership cases in the shape of upstream's `merge/*_test.go`: a sequence of operations by
//! named managers, then the object and the owners it must end with.

use super::*;

/// The schema of kubeward's served kinds (the registry's generated definitions).
fn served() -> &'static Schema {
    static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        Schema::from_openapi(include_str!("../../registry/openapi/definitions.json")).unwrap()
    })
}
use serde_json::json;

enum Op {
    Apply(&'static str, Value),
    ForceApply(&'static str, Value),
    Update(&'static str, Value),
}

/// Runs `ops` on a ConfigMap or Pod (by the first body's kind), expecting success unless an
/// op's conflict list is given, and returns the final object and entries.
fn run(kind: &str, ops: Vec<(Op, Option<&str>)>) -> (Value, Vec<Entry>) {
    let schema = served();
    let ty = schema.kind("", "v1", kind).expect("kind");
    let mut live = zero_value("v1", kind);
    let mut entries = Vec::new();
    for (i, (op, want_conflict)) in ops.into_iter().enumerate() {
        let now = format!("2026-01-01T00:00:{i:02}Z");
        let req = |manager| Request {
            schema,
            ty,
            ignored: &[],
            manager,
            api_version: "v1",
            subresource: "",
            now: &now,
        };
        let result = match op {
            Op::Apply(m, cfg) => req(m).apply(&live, &cfg, None, entries.clone(), false),
            Op::ForceApply(m, cfg) => req(m).apply(&live, &cfg, None, entries.clone(), true),
            Op::Update(m, new) => req(m)
                .update(&live, &new, entries.clone())
                .map(|e| (new, e))
                .map_err(ManagedFieldsError::from),
        };
        match (result, want_conflict) {
            (Ok((obj, e)), None) => {
                live = obj;
                entries = e;
            }
            (Err(e), Some(want)) => {
                assert!(
                    matches!(e, ManagedFieldsError::Conflicts(_)),
                    "op {i}: {e:?}"
                );
                assert_eq!(e.to_string(), want, "op {i}");
            }
            (Ok(_), Some(want)) => panic!("op {i}: expected conflict {want}"),
            (Err(e), None) => panic!("op {i}: unexpected {e:?}"),
        }
    }
    (live, entries)
}

fn owners(entries: &[Entry]) -> Vec<(String, Value)> {
    entries
        .iter()
        .map(|e| (e.manager.clone(), e.fields.to_fields_v1()))
        .collect()
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data})
}

#[test]
fn conflict_names_the_other_manager_and_force_takes_the_field() {
    let (obj, entries) = run(
        "ConfigMap",
        vec![
            (Op::Apply("a", cm(json!({"k": "1", "only-a": "x"}))), None),
            (
                Op::Apply("b", cm(json!({"k": "2"}))),
                Some("Apply failed with 1 conflict: conflict with \"a\": .data.k"),
            ),
            (Op::ForceApply("b", cm(json!({"k": "2"}))), None),
        ],
    );
    assert_eq!(obj["data"], json!({"k": "2", "only-a": "x"}));
    assert_eq!(
        owners(&entries),
        vec![
            ("a".into(), json!({"f:data": {"f:only-a": {}}})),
            ("b".into(), json!({"f:data": {"f:k": {}}})),
        ]
    );
}

#[test]
fn equal_values_share_ownership_and_a_dropped_field_stays_while_shared() {
    let (obj, entries) = run(
        "ConfigMap",
        vec![
            (Op::Apply("a", cm(json!({"k": "1", "j": "1"}))), None),
            (Op::Apply("b", cm(json!({"k": "1"}))), None),
            // a drops both: k is still b's, j was only a's and goes.
            (Op::Apply("a", cm(json!({"other": "1"}))), None),
        ],
    );
    assert_eq!(obj["data"], json!({"k": "1", "other": "1"}));
    assert_eq!(
        owners(&entries),
        vec![
            ("a".into(), json!({"f:data": {"f:other": {}}})),
            ("b".into(), json!({"f:data": {"f:k": {}}})),
        ]
    );
}

#[test]
fn an_updater_loses_what_an_apply_forces_and_conflicts_name_its_version() {
    let (_, entries) = run(
        "ConfigMap",
        vec![
            (Op::Update("kubectl-edit", cm(json!({"k": "1"}))), None),
            (
                Op::Apply("a", cm(json!({"k": "2"}))),
                Some("Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.k"),
            ),
            (Op::ForceApply("a", cm(json!({"k": "2"}))), None),
        ],
    );
    // The updater created `data` itself and keeps owning that much, as upstream.
    assert_eq!(
        owners(&entries),
        vec![
            ("kubectl-edit".into(), json!({"f:data": {}})),
            ("a".into(), json!({"f:data": {"f:k": {}}}))
        ]
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    run(
        "ConfigMap",
        vec![
            (Op::Apply("a", cm(json!({"k": "1", "j": "1"}))), None),
            (Op::Apply("b", cm(json!({"m": "1"}))), None),
            (
                Op::Apply("c", cm(json!({"k": "2", "j": "2", "m": "2"}))),
                Some("Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.j\n- .data.k\nconflicts with \"b\":\n- .data.m"),
            ),
        ],
    );
}

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "x"}},
        "spec": {"containers": containers}})
}

#[test]
fn a_created_pod_is_owned_like_upstream() {
    let (_, entries) = run(
        "Pod",
        vec![(
            Op::Update(
                "kubectl-create",
                pod(json!([{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}])),
            ),
            None,
        )],
    );
    assert_eq!(
        owners(&entries),
        vec![(
            "kubectl-create".into(),
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                }}}
            })
        )]
    );
}

#[test]
fn keyed_lists_merge_by_key_and_applied_items_keep_the_applied_order() {
    let (obj, _) = run(
        "Pod",
        vec![
            (
                Op::Apply("a", pod(json!([{"name": "one", "image": "1"}]))),
                None,
            ),
            (
                Op::Apply("b", pod(json!([{"name": "two", "image": "2"}]))),
                None,
            ),
            (
                Op::Apply(
                    "a",
                    pod(json!([{"name": "zero", "image": "0"}, {"name": "one", "image": "1"}])),
                ),
                None,
            ),
        ],
    );
    let names: Vec<&str> = obj["spec"]["containers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["zero", "one", "two"]);
}

#[test]
fn items_without_their_key_or_twice_are_refused() {
    let schema = served();
    let ty = schema.kind("", "v1", "Pod").expect("pod");
    let bad = pod(json!([{"image": "i"}]));
    let err = typed::to_field_set(schema, ty, &bad).expect_err("no key");
    assert!(
        err.to_string().contains("omits key field \"name\""),
        "{err}"
    );
    let twice = pod(json!([{"name": "a"}, {"name": "a"}]));
    let err = typed::to_field_set(schema, ty, &twice).expect_err("duplicate");
    assert!(err.to_string().contains("duplicate entries"), "{err}");
}

#[test]
fn entries_round_trip_and_sort_applies_first() {
    let mut set = Set::default();
    set.insert(&[
        PathElement::Field("data".into()),
        PathElement::Field("k".into()),
    ]);
    let e = |m: &str, op| Entry {
        manager: m.into(),
        operation: op,
        api_version: "v1".into(),
        time: Some("2026-01-01T00:00:00Z".into()),
        subresource: String::new(),
        fields: set.clone(),
    };
    let v = encode(&[e("z", Operation::Update), e("a", Operation::Apply)]);
    assert_eq!(v[0]["operation"], "Apply");
    assert_eq!(v[1]["manager"], "z");
    let obj = json!({"metadata": {"managedFields": v}});
    let back = decode(&obj).expect("decodes");
    assert_eq!(back.len(), 2);
    assert!(decode(&json!({"metadata": {"managedFields": [{"operation": "Bogus"}]}})).is_none());
    assert!(is_reset(&json!({"metadata": {"managedFields": [{}]}})));
}

#[test]
fn more_than_ten_updaters_fold_into_ancient_changes() {
    let mut ops = Vec::new();
    for i in 0..12 {
        let mut data = serde_json::Map::new();
        for j in 0..=i {
            data.insert(format!("k{j}"), json!("v"));
        }
        let manager: &'static str = Box::leak(format!("m{i:02}").into_boxed_str());
        ops.push((Op::Update(manager, cm(Value::Object(data))), None));
    }
    let (_, entries) = run("ConfigMap", ops);
    let names: Vec<&str> = entries.iter().map(|e| e.manager.as_str()).collect();
    // The cap holds after every write: at the eleventh the two oldest (m00 owning `data` and
    // k0, m01 owning k1) became one bucket, at the twelfth m02 joined it; the bucket takes the
    // time of the last entry folded in.
    assert_eq!(names.len(), MAX_UPDATE_MANAGERS);
    assert_eq!(names[0], "ancient-changes");
    assert_eq!(
        entries[0].fields.to_fields_v1(),
        json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}})
    );
    assert_eq!(entries[0].time.as_deref(), Some("2026-01-01T00:00:02Z"));
    assert_eq!(
        &names[1..],
        ["m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10", "m11"]
    );
}
