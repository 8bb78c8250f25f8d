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
}

use crate::lists::{self, Patch as ListStrategy};

fn list_strategy(kind: &str, path: &str) -> ListStrategy {
    lists::rule(kind, path).0
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes directives, and null map values (which mean "absent" once the object is decoded
/// into its type, as upstream always does), from a value that is being set wholesale.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| !is_directive_element(e))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_directive_element(e: &Value) -> bool {
    e.get("$patch").is_some()
}

/// Applies `patch` to `doc` (an object of kind `kind`).
pub fn apply(doc: &mut Value, patch: &Value, kind: &str) -> Result<(), SmpError> {
    let (Value::Object(d), Value::Object(p)) = (&mut *doc, patch) else {
        return Ok(());
    };
    merge_map(d, p, kind, "")
}

fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    kind: &str,
    path: &str,
) -> Result<(), SmpError> {
    match patch.get("$patch").map(|v| v.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => {
            *orig = strip(&Value::Object(patch.clone()))
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
                Some(Value::Object(om)) => merge_map(om, pm, kind, &field)?,
                _ => {
                    if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                        orig.remove(k);
                    } else {
                        orig.insert(k.clone(), strip(v));
                    }
                }
            },
            Value::Array(pl) => {
                let strategy = list_strategy(kind, &field);
                let replace_all = pl
                    .iter()
                    .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"));
                match (strategy, orig.get_mut(k)) {
                    (_, _) if replace_all => {
                        orig.insert(k.clone(), strip(v));
                    }
                    (ListStrategy::MergeByKey(key), Some(Value::Array(ol))) => {
                        merge_list(ol, pl, key, kind, &field)?
                    }
                    (ListStrategy::MergePrimitive, Some(Value::Array(ol))) => {
                        for e in pl {
                            if !ol.contains(e) {
                                ol.push(e.clone());
                            }
                        }
                    }
                    (ListStrategy::MergeByKey(_), _) => {
                        // Nothing to merge into: the patch's elements, without deletions.
                        orig.insert(
                            k.clone(),
                            Value::Array(
                                pl.iter()
                                    .filter(|e| !is_directive_element(e))
                                    .map(strip)
                                    .collect(),
                            ),
                        );
                    }
                    _ => {
                        orig.insert(k.clone(), strip(v));
                    }
                }
            }
            scalar => {
                orig.insert(k.clone(), scalar.clone());
            }
        }
    }
    for (list, order) in orders {
        let field = join(path, &list);
        if let (ListStrategy::MergeByKey(key), Some(Value::Array(items))) =
            (list_strategy(kind, &field), orig.get_mut(&list))
        {
            let pos = |item: &Value| {
                order
                    .iter()
                    .position(|o| o.get(key) == item.get(key))
                    .unwrap_or(usize::MAX)
            };
            items.sort_by_key(pos);
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(
    orig: &mut Vec<Value>,
    patch: &[Value],
    key: &str,
    kind: &str,
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
        let existing = id.and_then(|id| orig.iter_mut().find(|o| o.get(key) == Some(id)));
        match (existing, e) {
            (Some(Value::Object(om)), Value::Object(pm)) => merge_map(om, pm, kind, path)?,
            _ => orig.push(strip(e)),
        }
    }
    Ok(())
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
