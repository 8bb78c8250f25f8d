//! Walks over an object and its schema (`sigs.k8s.io/structured-merge-diff/typed`): the set of
//! fields a value sets, the comparison of two values, the merge of an applied configuration
//! into a live object, and the removal of a set of fields.

use crate::fieldpath::{Path, PathElement, Set};
use crate::schema::{ListKind, Schema, Type, TypeId};
use serde_json::{Map, Value};

/// Why a value does not fit its schema well enough to track its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedError {
    /// An item of a keyed list lacks one of the keys (and the key has no default).
    #[error(".{path}: element {index}: associative list with keys has an element that omits key field {key:?} (and doesn't have default value)")]
    MissingKey {
        /// The list's path.
        path: String,
        /// The item's index.
        index: usize,
        /// The key it lacks.
        key: String,
    },
    /// Two items of a keyed list or set are the same item.
    #[error(".{path}: duplicate entries for key {key}")]
    Duplicate {
        /// The list's path.
        path: String,
        /// The repeated key.
        key: String,
    },
}

/// What changed between two values (`typed.Comparison`).
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    /// Fields the new object has and the old lacked.
    pub added: Set,
    /// Fields both have, with different values.
    pub modified: Set,
    /// Fields the old object had and the new lacks.
    pub removed: Set,
}

fn dotted(path: &Path) -> String {
    crate::fieldpath::path_string(path)
        .trim_start_matches('.')
        .to_string()
}

/// The path element of item `i` of a list (`listItemToPathElement`). Keys that upstream's
/// schema defaults (a port's protocol) take their default when absent.
fn item_element(
    kind: &ListKind,
    i: usize,
    item: &Value,
    path: &Path,
) -> Result<PathElement, TypedError> {
    match kind {
        ListKind::Map(keys) => {
            let mut kv = Vec::with_capacity(keys.len());
            for k in keys {
                let v = match item.get(k) {
                    Some(v) if !v.is_null() => v.clone(),
                    _ if k == "protocol" => Value::String("TCP".into()),
                    _ => {
                        return Err(TypedError::MissingKey {
                            path: dotted(path),
                            index: i,
                            key: k.clone(),
                        })
                    }
                };
                kv.push((k.clone(), v.to_string()));
            }
            kv.sort();
            Ok(PathElement::Key(kv))
        }
        ListKind::Set => Ok(PathElement::Value(item.to_string())),
        ListKind::Atomic => Ok(PathElement::Index(i)),
    }
}

/// The items of a list by path element, in order, first occurrence winning.
fn index_items<'a>(
    kind: &ListKind,
    items: &'a [Value],
    path: &Path,
    strict: bool,
) -> Result<Vec<(PathElement, &'a Value)>, TypedError> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pe = item_element(kind, i, item, path)?;
        if out.iter().any(|(p, _)| *p == pe) {
            if strict {
                return Err(TypedError::Duplicate {
                    path: dotted(path),
                    key: pe.to_string(),
                });
            }
            continue;
        }
        out.push((pe, item));
    }
    Ok(out)
}

/// The type of `key` in an object of type `t`, and whether it is a declared struct field
/// (rather than a free map key).
fn field_type(t: &Type, key: &str) -> (Option<TypeId>, bool) {
    match t {
        Type::Struct { fields, .. } => (fields.get(key).copied(), fields.contains_key(key)),
        Type::Map { elem, .. } => (Some(*elem), false),
        _ => (None, false),
    }
}

fn child_type(t: &Type, key: &str) -> Option<TypeId> {
    field_type(t, key).0
}

/// The items of a list value (none for anything else), by path element.
fn items<'a>(
    kind: &ListKind,
    v: Option<&'a Value>,
    path: &Path,
    strict: bool,
) -> Result<Vec<Item<'a>>, TypedError> {
    match v {
        Some(Value::Array(a)) => index_items(kind, a, path, strict),
        _ => Ok(Vec::new()),
    }
}

/// The keys of two object values (none for anything else), with each side's value: the left's
/// keys first, then the right's own.
fn fields<'a>(
    l: Option<&'a Value>,
    r: Option<&'a Value>,
) -> Vec<(&'a String, Option<&'a Value>, Option<&'a Value>)> {
    let (lm, rm) = (l.and_then(Value::as_object), r.and_then(Value::as_object));
    let mut out: Vec<_> = lm
        .into_iter()
        .flatten()
        .map(|(k, a)| (k, Some(a), rm.and_then(|m| m.get(k))))
        .collect();
    out.extend(
        rm.into_iter()
            .flatten()
            .filter(|(k, _)| !lm.is_some_and(|m| m.contains_key(*k)))
            .map(|(k, b)| (k, None, Some(b))),
    );
    out
}

/// The fields a value sets (`TypedValue.ToFieldSet`).
pub fn to_field_set(s: &Schema, ty: TypeId, v: &Value) -> Result<Set, TypedError> {
    let mut set = Set::default();
    field_set(s, Some(ty), v, &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn field_set(
    s: &Schema,
    ty: Option<TypeId>,
    v: &Value,
    path: &mut Path,
    out: &mut Set,
) -> Result<(), TypedError> {
    let t = ty.map(|id| s.ty(id)).unwrap_or(&Type::Untyped);
    match (t, v) {
        (Type::List { elem, kind }, Value::Array(items)) if *kind != ListKind::Atomic => {
            for (pe, item) in index_items(kind, items, path, true)? {
                path.push(pe);
                field_set(s, Some(*elem), item, path, out)?;
                out.insert(path);
                path.pop();
            }
        }
        (
            Type::Struct { atomic: false, .. } | Type::Map { atomic: false, .. },
            Value::Object(m),
        ) => {
            for (k, child) in m {
                let (cty, declared) = field_type(t, k);
                path.push(PathElement::Field(k.clone()));
                field_set(s, cty, child, path, out)?;
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !declared {
                    out.insert(path);
                }
                path.pop();
            }
        }
        (Type::List { .. } | Type::Struct { .. } | Type::Map { .. }, Value::Null) => {}
        _ => out.insert(path),
    }
    Ok(())
}

/// What changed from `lhs` to `rhs` (`TypedValue.Compare`).
pub fn compare(s: &Schema, ty: TypeId, lhs: &Value, rhs: &Value) -> Result<Comparison, TypedError> {
    let mut c = Comparison::default();
    cmp(s, Some(ty), Some(lhs), Some(rhs), &mut Vec::new(), &mut c)?;
    Ok(c)
}

fn leaf(l: Option<&Value>, r: Option<&Value>, path: &Path, c: &mut Comparison) {
    match (l, r) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(a), Some(b)) if a != b => c.modified.insert(path),
        _ => {}
    }
}

fn is_empty_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        _ => false,
    }
}

fn cmp(
    s: &Schema,
    ty: Option<TypeId>,
    l: Option<&Value>,
    r: Option<&Value>,
    path: &mut Path,
    c: &mut Comparison,
) -> Result<(), TypedError> {
    let t = ty.map(|id| s.ty(id)).unwrap_or(&Type::Untyped);
    match t {
        Type::List { elem, kind } => {
            if *kind == ListKind::Atomic || (is_empty_value(l) && is_empty_value(r)) {
                leaf(l, r, path, c);
                return Ok(());
            }
            let (li, ri) = (items(kind, l, path, false)?, items(kind, r, path, false)?);
            for (pe, a, b) in merge_order(&li, &ri) {
                path.push(pe);
                cmp(s, Some(*elem), a, b, path, c)?;
                path.pop();
            }
        }
        Type::Struct { atomic, .. } | Type::Map { atomic, .. } => {
            if *atomic || (is_empty_value(l) && is_empty_value(r)) {
                leaf(l, r, path, c);
                return Ok(());
            }
            for (k, a, b) in fields(l, r) {
                path.push(PathElement::Field(k.clone()));
                cmp(s, child_type(t, k), a, b, path, c)?;
                path.pop();
            }
        }
        Type::Scalar | Type::Untyped => {
            leaf(l, r, path, c);
            return Ok(());
        }
    }
    // Upstream's post-item hook: a whole new or gone struct, map, list or item.
    match (l, r) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
    Ok(())
}

/// Merges an applied configuration into the live object, the configuration winning
/// (`TypedValue.Merge` with keep-RHS).
pub fn merge(s: &Schema, ty: TypeId, live: &Value, config: &Value) -> Result<Value, TypedError> {
    Ok(mrg(s, Some(ty), Some(live), Some(config), &mut Vec::new())?.unwrap_or(Value::Null))
}

fn mrg(
    s: &Schema,
    ty: Option<TypeId>,
    l: Option<&Value>,
    r: Option<&Value>,
    path: &mut Path,
) -> Result<Option<Value>, TypedError> {
    let t = ty.map(|id| s.ty(id)).unwrap_or(&Type::Untyped);
    let keep_rhs = || r.or(l).cloned();
    match t {
        Type::List { elem, kind } => {
            if *kind == ListKind::Atomic || (is_empty_value(l) && is_empty_value(r)) {
                return Ok(keep_rhs());
            }
            let (li, ri) = (items(kind, l, path, false)?, items(kind, r, path, true)?);
            let mut out = Vec::with_capacity(li.len().max(ri.len()));
            for (pe, a, b) in merge_order(&li, &ri) {
                path.push(pe);
                if let Some(v) = mrg(s, Some(*elem), a, b, path)? {
                    out.push(v);
                }
                path.pop();
            }
            Ok(Some(Value::Array(out)))
        }
        Type::Struct { atomic, .. } | Type::Map { atomic, .. } => {
            if *atomic || (is_empty_value(l) && is_empty_value(r)) {
                return Ok(keep_rhs());
            }
            let mut out = Map::new();
            for (k, a, b) in fields(l, r) {
                path.push(PathElement::Field(k.clone()));
                if let Some(v) = mrg(s, child_type(t, k), a, b, path)? {
                    out.insert(k.clone(), v);
                }
                path.pop();
            }
            Ok(Some(Value::Object(out)))
        }
        Type::Scalar | Type::Untyped => Ok(keep_rhs()),
    }
}

type Item<'a> = (PathElement, &'a Value);

/// The order of a merged keyed list (structured-merge-diff's `visitListItems`): items of both
/// sides follow the applied order; live-only items keep their place among them.
fn merge_order<'a>(
    li: &[Item<'a>],
    ri: &[Item<'a>],
) -> Vec<(PathElement, Option<&'a Value>, Option<&'a Value>)> {
    let in_l = |pe: &PathElement| li.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let in_r = |pe: &PathElement| ri.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let mut shared: std::collections::VecDeque<&PathElement> = ri
        .iter()
        .map(|(p, _)| p)
        .filter(|p| in_l(p).is_some())
        .collect();
    let mut next_shared = shared.pop_front();
    let mut out = Vec::with_capacity(li.len() + ri.len());
    let (mut a, mut b) = (0, 0);
    while a < li.len() || b < ri.len() {
        if a < li.len() && b < ri.len() {
            let pe = &li[a].0;
            if *pe == ri[b].0 {
                out.push((pe.clone(), Some(li[a].1), Some(ri[b].1)));
                a += 1;
                b += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if in_r(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                a += 1;
                continue;
            }
        }
        if a < li.len() {
            let pe = &li[a].0;
            if in_r(pe).is_none() {
                out.push((pe.clone(), Some(li[a].1), None));
                a += 1;
                continue;
            }
        }
        if b < ri.len() {
            let pe = &ri[b].0;
            out.push((pe.clone(), in_l(pe), Some(ri[b].1)));
            b += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// Removes the fields of `set` from a value (`TypedValue.RemoveItems`): a member goes with
/// everything below it. None when nothing is left of a list or map.
pub fn remove_items(s: &Schema, ty: TypeId, v: &Value, set: &Set) -> Value {
    rm(s, Some(ty), v, set).unwrap_or(Value::Null)
}

fn rm(s: &Schema, ty: Option<TypeId>, v: &Value, set: &Set) -> Option<Value> {
    let t = ty.map(|id| s.ty(id)).unwrap_or(&Type::Untyped);
    match (t, v) {
        (Type::List { elem, kind }, Value::Array(items)) => {
            if items.is_empty() || *kind == ListKind::Atomic {
                return Some(v.clone());
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Ok(pe) = item_element(kind, i, item, &Vec::new()) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => out.extend(rm(s, Some(*elem), item, sub)),
                    None => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        (
            Type::Struct { atomic: false, .. } | Type::Map { atomic: false, .. },
            Value::Object(m),
        ) => {
            if m.is_empty() {
                return Some(v.clone());
            }
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => {
                        if let Some(c) = rm(s, child_type(t, k), child, sub) {
                            out.insert(k.clone(), c);
                        }
                    }
                    None => {
                        out.insert(k.clone(), child.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ => Some(v.clone()),
    }
}
