//! Strategic merge patch (`k8s.io/apimachinery/pkg/util/strategicpatch`): a merge patch that
//! merges lists by key where the API says so (`patchStrategy:"merge"`, `patchMergeKey`), and
//! understands kubectl's directives: `$patch: replace|delete|merge`, `$retainKeys`,
//! `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
//!
//! Sans-IO and schema-free: how each list merges comes from the caller ([`Rules`]), as
//! upstream's `LookupPatchMeta` supplies it from the Go types (the registry passes its table of
//! the served kinds' lists).

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

use serde_json::{Map, Value};

/// How strategic merge patch treats a list (`patchStrategy` / `patchMergeKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Replaced whole (no patch strategy): RBAC rules and subjects, command, args, ...
    Replace,
    /// Elements merged by this key.
    MergeByKey(&'static str),
    /// A list of scalars unioned (`finalizers`).
    MergePrimitive,
}

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

/// The list strategy of a field path (without indices): the served kinds' table in the
/// registry, any table in tests.
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

/// The list strategies the fuzz target runs with, a stand-in for an API's table over the
/// shapes its input uses: lists named `containers`, `env`, `volumes` or `secrets` merged by
/// `name` wherever they sit, `finalizers` as a set of scalars, every other list replaced.
pub fn sample_rules(path: &str) -> ListStrategy {
    match path.rsplit('.').next().unwrap_or(path) {
        "containers" | "env" | "volumes" | "secrets" => ListStrategy::MergeByKey("name"),
        "finalizers" => ListStrategy::MergePrimitive,
        _ => ListStrategy::Replace,
    }
}

/// Whether a list the rules merge by key holds an element whose key is null, anywhere in
/// `patch` (at `path`).
fn null_merge_key(patch: &Value, rules: Rules<'_>, path: &str) -> bool {
    match patch {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| null_merge_key(v, rules, &join(path, k))),
        Value::Array(items) => {
            let keyed = match rules(path) {
                ListStrategy::MergeByKey(key) => Some(key),
                _ => None,
            };
            items.iter().any(|e| {
                keyed.is_some_and(|key| e.get(key).is_some_and(Value::is_null))
                    || null_merge_key(e, rules, path)
            })
        }
        _ => false,
    }
}

/// The fuzz target's body (`fuzz/fuzz_targets/strategic_merge_patch.rs`), also run on
/// generated input by `tests/fuzz.rs`: `data` is an object and a patch, as two JSON texts
/// separated by a newline. Applying a patch never panics, keeps an object an object, and is
/// idempotent: a second application changes nothing. Panics when an invariant breaks.
pub fn fuzz(data: &[u8]) {
    fuzz_with(data, &sample_rules);
}

/// [`fuzz`] with other list strategies (the registry runs it with the served kinds').
pub fn fuzz_with(data: &[u8], rules: Rules<'_>) {
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
    let mut once = doc.clone();
    if apply_with(&mut once, &patch, rules).is_err() {
        return;
    }
    assert_eq!(once.is_object(), doc.is_object(), "shape changed");
    if null_merge_key(&patch, rules, "") {
        // An element whose merge key is null matches nothing and is appended at each
        // application, upstream too (`findMapInSliceBasedOnKeyValue`); no kind accepts one.
        return;
    }
    let mut twice = once.clone();
    apply_with(&mut twice, &patch, rules).expect("a patch that applied once applies again");
    assert_eq!(twice, once, "not idempotent\ndoc {doc}\npatch {patch}");
}
