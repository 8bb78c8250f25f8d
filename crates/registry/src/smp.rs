//! Strategic merge patch (`k8s.io/apimachinery/pkg/util/strategicpatch`): a merge patch that
//! merges lists by key where the API says so (`patchStrategy:"merge"`, `patchMergeKey`), and
//! understands kubectl's directives: `$patch: replace|delete|merge`, `$retainKeys`,
//! `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.

use serde_json::{Map, Value};

/// Why a patch could not be applied (answered 400 for malformed, 422 for unprocessable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// A `$` key this implementation (and upstream) does not know.
    #[error("unknown patch directive {0:?}")]
    UnknownDirective(String),
    /// A directive with a value of the wrong shape.
    #[error("invalid value for {0}")]
    BadDirective(String),
    /// A merge key whose value is an object or a list (the served kinds' keys are scalars).
    #[error("map: {element} has a merge key {key} that is not a string, number or boolean")]
    BadMergeKey {
        /// The element, as JSON.
        element: String,
        /// The merge key.
        key: String,
    },
    /// Objects or lists in a list that merges scalars.
    #[error("merging lists of objects or lists requires a merge key: {0}")]
    NoMergeKey(String),
    /// An element of a list merged by key lacks the key (upstream's `ErrNoMergeKey`).
    #[error("map: {element} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// The element, as JSON.
        element: String,
        /// The merge key.
        key: String,
    },
}

use crate::lists::{self, Patch as ListStrategy};

/// The list strategy of a field path (without indices): the served kinds' table in the
/// server, any table in tests.
pub type Rules<'a> = &'a dyn Fn(&str) -> ListStrategy;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes directives, and null map values (which mean "absent" once the object is decoded
/// into its type, as upstream always does), from a value that is being set wholesale.
fn is_directive(k: &str) -> bool {
    k == "$patch"
        || k == "$retainKeys"
        || k.starts_with("$setElementOrder/")
        || k.starts_with("$deleteFromPrimitiveList/")
}

/// A patch value stored as it is (nothing to merge it into): directives and nulls dropped, and
/// a `$` key that is no directive refused, wherever it sits.
fn strip(v: &Value) -> Result<Value, SmpError> {
    Ok(match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if k.starts_with('$') {
                    if !is_directive(k) {
                        return Err(SmpError::UnknownDirective(k.clone()));
                    }
                } else if !x.is_null() {
                    out.insert(k.clone(), strip(x)?);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| !is_directive_element(e))
                .map(strip)
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn is_directive_element(e: &Value) -> bool {
    e.get("$patch").is_some()
}

/// Applies `patch` to `doc` (an object of kind `kind`).
pub fn apply(doc: &mut Value, patch: &Value, kind: &str) -> Result<(), SmpError> {
    apply_with(doc, patch, &|path| lists::rule(kind, path).0)
}

/// Applies `patch` to `doc` with the list strategies `rules` gives.
pub fn apply_with(doc: &mut Value, patch: &Value, rules: Rules<'_>) -> Result<(), SmpError> {
    let (Value::Object(d), Value::Object(p)) = (&mut *doc, patch) else {
        return Ok(());
    };
    merge_map(d, p, rules, "")
}

fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    rules: Rules<'_>,
    path: &str,
) -> Result<(), SmpError> {
    match patch.get("$patch").map(|v| v.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => {
            *orig = strip(&Value::Object(patch.clone()))?
                .as_object()
                .cloned()
                .unwrap_or_default();
            return Ok(());
        }
        Some(Some("delete")) => {
            orig.clear();
            return Ok(());
        }
        _ => return Err(SmpError::BadDirective("$patch".into())),
    }
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    // Merged lists: (field, its items before the patch, the patch's own order).
    let mut merged: Vec<(String, Vec<Value>, Vec<Value>)> = Vec::new();
    for (k, v) in patch {
        if let Some(list) = k.strip_prefix("$setElementOrder/") {
            orders.push((
                list.to_string(),
                v.as_array()
                    .cloned()
                    .ok_or_else(|| SmpError::BadDirective(k.clone()))?,
            ));
            continue;
        }
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let gone = v
                .as_array()
                .ok_or_else(|| SmpError::BadDirective(k.clone()))?;
            if let Some(Value::Array(items)) = orig.get_mut(list) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if k == "$patch" || k == "$retainKeys" {
            continue;
        }
        if k.starts_with('$') {
            return Err(SmpError::UnknownDirective(k.clone()));
        }
        let field = join(path, k);
        match v {
            Value::Null => {
                orig.remove(k);
            }
            Value::Object(pm) => match orig.get_mut(k) {
                Some(Value::Object(om)) => merge_map(om, pm, rules, &field)?,
                _ => {
                    if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                        orig.remove(k);
                    } else {
                        // Nothing to merge into: merged into an empty map all the same, so its
                        // directives are checked and applied (upstream's `mergeMap` on nil).
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, pm, rules, &field)?;
                        orig.insert(k.clone(), Value::Object(fresh));
                    }
                }
            },
            Value::Array(pl) => {
                let strategy = rules(&field);
                let replace_all = pl
                    .iter()
                    .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"));
                match (strategy, orig.get_mut(k)) {
                    (_, _) if replace_all => {
                        orig.insert(k.clone(), strip(v)?);
                    }
                    (ListStrategy::MergeByKey(key), Some(Value::Array(ol))) => {
                        let before = ol.clone();
                        merge_list(ol, pl, key, rules, &field)?;
                        let order = pl.iter().filter(|e| !is_directive_element(e)).cloned();
                        merged.push((k.clone(), before, order.collect()));
                    }
                    (ListStrategy::MergePrimitive, existing) => {
                        if pl.iter().any(|e| e.is_object() || e.is_array()) {
                            return Err(SmpError::NoMergeKey(field));
                        }
                        let before = match existing {
                            Some(Value::Array(ol)) => ol.clone(),
                            _ => Vec::new(),
                        };
                        let mut union = before.clone();
                        for e in pl {
                            if !union.contains(e) {
                                union.push(e.clone());
                            }
                        }
                        orig.insert(k.clone(), Value::Array(union));
                        merged.push((k.clone(), before, pl.clone()));
                    }
                    (ListStrategy::MergeByKey(key), _) => {
                        // Nothing to merge into: the patch's elements merged into an empty list.
                        let mut fresh = Vec::new();
                        merge_list(&mut fresh, pl, key, rules, &field)?;
                        orig.insert(k.clone(), Value::Array(fresh));
                    }
                    _ => {
                        orig.insert(k.clone(), strip(v)?);
                    }
                }
            }
            scalar => {
                orig.insert(k.clone(), scalar.clone());
            }
        }
    }
    // Element order (`normalizeElementOrder`): `$setElementOrder` when sent, else the patch's.
    for (list, order) in &orders {
        if !merged.iter().any(|(k, _, _)| k == list) {
            if let Some(Value::Array(items)) = orig.get(list) {
                merged.push((list.clone(), items.clone(), order.clone()));
            }
        }
    }
    for (list, before, patch_order) in merged {
        let key = match rules(&join(path, &list)) {
            ListStrategy::MergeByKey(key) => Some(key),
            ListStrategy::MergePrimitive => None,
            ListStrategy::Replace => continue,
        };
        let order = orders
            .iter()
            .find(|(k, _)| *k == list)
            .map_or(&patch_order, |(_, o)| o);
        if let Some(Value::Array(items)) = orig.get_mut(&list) {
            *items = normalize_order(std::mem::take(items), order, &before, key);
        }
    }
    match patch.get("$retainKeys") {
        None => {}
        Some(Value::Array(keep)) => {
            let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
            // Every field the patch sets must be kept (`applyRetainKeysDirective`).
            let outside = patch
                .iter()
                .any(|(k, v)| !k.starts_with('$') && !v.is_null() && !keep.contains(&k.as_str()));
            if outside {
                return Err(SmpError::BadDirective("$retainKeys".into()));
            }
            orig.retain(|k, _| keep.contains(&k.as_str()));
        }
        Some(_) => return Err(SmpError::BadDirective("$retainKeys".into())),
    }
    Ok(())
}

/// Orders a merged list as upstream: the items the patch names, in the patch's order,
/// interleaved with the others in their original order (`mergeSortedSlice`).
fn normalize_order(
    items: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let ident = |v: &Value| match key {
        Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
        None => v.clone(),
    };
    let index = |list: &[Value], v: &Value| {
        let id = ident(v);
        list.iter().position(|x| ident(x) == id)
    };
    let (mut named, mut rest): (Vec<Value>, Vec<Value>) = items
        .into_iter()
        .partition(|v| index(patch_order, v).is_some());
    named.sort_by_key(|v| index(patch_order, v));
    rest.sort_by_key(|v| index(server_order, v).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(named.len() + rest.len());
    let (mut l, mut r) = (named.into_iter().peekable(), rest.into_iter().peekable());
    loop {
        let take_left = match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => matches!(
                (index(server_order, a), index(server_order, b)),
                (Some(i), Some(j)) if i < j
            ),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_left { l.next() } else { r.next() });
    }
    out
}

fn merge_list(
    orig: &mut Vec<Value>,
    patch: &[Value],
    key: &str,
    rules: Rules<'_>,
    path: &str,
) -> Result<(), SmpError> {
    for e in patch {
        let id = e.get(key);
        match e.get("$patch").and_then(Value::as_str) {
            Some("delete") => {
                orig.retain(|o| o.get(key) != id || id.is_none());
                continue;
            }
            Some("merge") | None => {}
            Some(_) => return Err(SmpError::BadDirective("$patch".into())),
        }
        match id {
            None => {
                return Err(SmpError::MissingMergeKey {
                    element: e.to_string(),
                    key: key.to_string(),
                })
            }
            Some(Value::Object(_) | Value::Array(_)) => {
                return Err(SmpError::BadMergeKey {
                    element: e.to_string(),
                    key: key.to_string(),
                })
            }
            Some(_) => {}
        }
        let existing = id.and_then(|id| orig.iter_mut().find(|o| o.get(key) == Some(id)));
        match (existing, e) {
            (Some(Value::Object(om)), Value::Object(pm)) => merge_map(om, pm, rules, path)?,
            (None, Value::Object(pm)) => {
                let mut fresh = Map::new();
                merge_map(&mut fresh, pm, rules, path)?;
                orig.push(Value::Object(fresh));
            }
            _ => orig.push(strip(e)?),
        }
    }
    Ok(())
}

/// The fuzz target's body (`fuzz/fuzz_targets/strategic_merge_patch.rs`), also run on
/// generated input by `tests/smp_fuzz.rs`: `data` is an object and a patch, as two JSON texts
/// separated by a newline. Applying a patch never panics, keeps an object an object, and is
/// idempotent: a second application changes nothing. Panics when an invariant breaks.
pub fn fuzz(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((doc, patch)) = text.split_once('\n') else {
        return;
    };
    let (Ok(doc), Ok(patch)) = (
        serde_json::from_str::<Value>(doc),
        serde_json::from_str::<Value>(patch),
    ) else {
        return;
    };
    for kind in ["Pod", "ServiceAccount", "ClusterRole", "ConfigMap"] {
        let mut once = doc.clone();
        if apply(&mut once, &patch, kind).is_err() {
            continue;
        }
        assert_eq!(once.is_object(), doc.is_object(), "{kind}: shape changed");
        let mut twice = once.clone();
        apply(&mut twice, &patch, kind).expect("a patch that applied once applies again");
        assert_eq!(
            twice, once,
            "{kind}: not idempotent\ndoc {doc}\npatch {patch}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let patch =
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}});
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
}
