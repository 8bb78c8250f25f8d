//! Upstream's own strategic merge patch examples (`strategicpatch/patch_test.go`:
//! `customStrategicMergePatchTestCaseData`, `createStrategicMergePatchTestCaseData` and the raw
//! cases), re-expressed as data over upstream's test type `MergeItem`: `mergingList` and
//! `retainKeysMergingList` merge by `name`, `mergingIntList` is a merged set of scalars, every
//! other list is replaced.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use serde_json::{json, Value};
use strategicpatch::{apply_with, ListStrategy as Patch, SmpError};

fn merge_item_rules(path: &str) -> Patch {
    match path.rsplit('.').next().unwrap_or(path) {
        "mergingList" | "retainKeysMergingList" | "mergeItemPtr" => Patch::MergeByKey("name"),
        "mergingIntList" => Patch::MergePrimitive,
        _ => Patch::Replace,
    }
}

/// Applies `patch` to `original` and compares with `want`: Ok(object) or Err(text the error
/// must contain).
fn check(case: &str, original: Value, patch: Value, want: Result<Value, &str>) {
    let mut doc = original.clone();
    let got = apply_with(&mut doc, &patch, &merge_item_rules).map(|()| doc);
    match (got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "{case}\noriginal {original}\npatch {patch}"),
        (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{case}: {e}"),
        (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn custom_cases() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "unique scalars when merging lists",
            json!({"mergingIntList": [1, 2]}),
            json!({"mergingIntList": [2, 3]}),
            json!({"mergingIntList": [1, 2, 3]}),
        ),
        (
            "delete map from nested map",
            json!({"simpleMap": {"key1": 1, "key2": 1}}),
            json!({"simpleMap": {"$patch": "delete"}}),
            json!({"simpleMap": {}}),
        ),
        (
            "delete all items from merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"$patch": "replace"}]}),
            json!({"mergingList": []}),
        ),
        (
            "merge empty merging lists",
            json!({"mergingList": []}),
            json!({"mergingList": []}),
            json!({"mergingList": []}),
        ),
        (
            "delete all keys from map",
            json!({"name": 1, "value": 1}),
            json!({"$patch": "replace"}),
            json!({}),
        ),
        (
            "add key and delete all keys from map",
            json!({"name": 1, "value": 1}),
            json!({"other": "a", "$patch": "replace"}),
            json!({"other": "a"}),
        ),
        // One delete directive removes every entry with the key (`deleteMatchingEntries`).
        (
            "delete all duplicate entries in a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 2, "value": "a"}]}),
        ),
        (
            "retainKeys map can add a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo"}}),
            json!({"retainKeysMap": {"value": "bar"}}),
            json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
        ),
        (
            "retainKeys map can change a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            json!({"retainKeysMap": {"value": "b"}}),
            json!({"retainKeysMap": {"name": "foo", "value": "b"}}),
        ),
        (
            "retainKeys map can delete a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            json!({"retainKeysMap": {"value": null}}),
            json!({"retainKeysMap": {"name": "foo"}}),
        ),
        (
            "retainKeys map merge an empty map",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            json!({"retainKeysMap": {}}),
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
        ),
        (
            "retainKeys list can add a field when no retainKeys directive present",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
            json!({"retainKeysMergingList": [{"name": "foo", "value": "a"}]}),
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
        ),
        (
            "retainKeys list can delete a field when no retainKeys directive present",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
            json!({"retainKeysMergingList": [{"name": "foo", "value": null}]}),
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
        ),
        (
            "preserve the order from the patch in a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}]}),
        ),
        (
            "preserve the order from the patch in a merging list 2",
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
            json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
        ),
        (
            "preserve the order from the patch in a merging int list",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1, 2]}),
            json!({"mergingIntList": [3, 1, 2]}),
        ),
        (
            "preserve the order from the patch in a merging int list, partial",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1]}),
            json!({"mergingIntList": [2, 3, 1]}),
        ),
        (
            "$setElementOrder contains item that is not present in the list to be merged",
            json!({"mergingList": [{"name": 1}, {"name": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
                   "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        ),
        (
            "$setElementOrder contains item that is not present in the int list to be merged",
            json!({"mergingIntList": [1, 3]}),
            json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
            json!({"mergingIntList": [3, 1]}),
        ),
    ];
    for (case, original, patch, want) in cases {
        check(case, original, patch, Ok(want));
    }
}

/// Three-way cases: kubectl's patch applied to the live object ("current" and "result").
#[test]
fn three_way_results() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "add field to map",
            json!({"name": 1, "other": "a"}),
            json!({"value": 1}),
            json!({"name": 1, "value": 1, "other": "a"}),
        ),
        (
            "add field to map with conflict",
            json!({"name": "a", "other": "a"}),
            json!({"name": 1, "value": 1}),
            json!({"name": 1, "value": 1, "other": "a"}),
        ),
        (
            "add field and delete field from map",
            json!({"name": 1, "other": "a"}),
            json!({"name": null, "value": 1}),
            json!({"value": 1, "other": "a"}),
        ),
        (
            "delete field from nested map with conflict",
            json!({"simpleMap": {"key1": "a", "key2": 1, "other": "a"}}),
            json!({"simpleMap": {"key1": 1, "key2": null}}),
            json!({"simpleMap": {"key1": 1, "other": "a"}}),
        ),
        (
            "delete all fields from map",
            json!({"name": 1, "value": 1, "other": "a"}),
            json!({"name": null, "value": null}),
            json!({"other": "a"}),
        ),
        (
            "replace list of scalars with conflict",
            json!({"nonMergingIntList": [1, 4]}),
            json!({"nonMergingIntList": [2, 3]}),
            json!({"nonMergingIntList": [2, 3]}),
        ),
        (
            "delete all maps from merging list with conflict",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
            json!({"mergingList": []}),
        ),
        (
            "delete all maps from empty merging list",
            json!({"mergingList": []}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
            json!({"mergingList": []}),
        ),
        (
            "defined null values should propagate overwrite current fields (with conflict)",
            json!({"name": "a", "other": "a"}),
            json!({"name": 1, "value": 1, "other": null}),
            json!({"name": 1, "value": 1}),
        ),
        (
            "delete items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [1, 2, 4]}),
        ),
        (
            "delete all duplicate items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [1, 2, 4]}),
        ),
        (
            "merge lists of maps",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
                   "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"},
                                   {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
        ),
        (
            "merge lists of maps with conflict",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
                   "mergingList": [{"name": 2, "value": 2}, {"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
        ),
        (
            "add field to map in merging list",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"name": 1, "value": 1}]}),
            json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        ),
    ];
    for (case, current, patch, result) in cases {
        check(case, current, patch, Ok(result));
    }
}

#[test]
fn malformed_patches_are_errors() {
    check(
        "an unknown directive",
        json!({"name": 1}),
        json!({"$bogus": 1}),
        Err("unknown patch directive"),
    );
    check(
        "an unknown $patch value",
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"name": 1, "$patch": "explode"}]}),
        Err("invalid value for $patch"),
    );
    check(
        "missing merge key should error out",
        json!({"mergingList": [{"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"value": "b"}]}),
        Err("does not contain declared merge key: name"),
    );
    check(
        "a field the patch sets but $retainKeys drops",
        json!({"retainKeysMap": {"name": "foo"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "name": "foo", "value": "bar"}}),
        Err("invalid value for $retainKeys"),
    );
    check(
        "$retainKeys keeps what it names",
        json!({"retainKeysMap": {"name": "foo", "value": "a", "other": "b"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "c"}}),
        Ok(json!({"retainKeysMap": {"name": "foo", "value": "c"}})),
    );
    assert!(matches!(
        apply_with(
            &mut json!({}),
            &json!({"$retainKeys": "x"}),
            &merge_item_rules
        ),
        Err(SmpError::BadDirective(_))
    ));
}
