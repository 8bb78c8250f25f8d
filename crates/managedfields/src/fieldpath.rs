//! Field paths and sets of them, and their `FieldsV1` form
//! (`sigs.k8s.io/structured-merge-diff/fieldpath`).

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One step of a path. Variants are ordered as upstream orders them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or map key: `f:<name>`.
    Field(String),
    /// A keyed list item: `k:{"name":"c"}`; (field, JSON value) pairs sorted by field.
    Key(Vec<(String, String)>),
    /// An item of a set, by its JSON value: `v:"x"`.
    Value(String),
    /// An item of a list by position: `i:3`.
    Index(usize),
}

impl PathElement {
    /// The `FieldsV1` key.
    pub fn to_key(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(kv) => {
                let m: Map<String, Value> = kv
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or(Value::Null)))
                    .collect();
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key.
    pub fn from_key(s: &str) -> Option<PathElement> {
        let (kind, rest) = s.split_once(':')?;
        Some(match kind {
            "f" => PathElement::Field(rest.to_string()),
            "k" => {
                let Value::Object(m) = serde_json::from_str(rest).ok()? else {
                    return None;
                };
                PathElement::Key(m.into_iter().map(|(k, v)| (k, v.to_string())).collect())
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                PathElement::Value(v.to_string())
            }
            "i" => PathElement::Index(rest.parse().ok()?),
            _ => return None,
        })
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(kv) => {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

/// Prints a path as upstream does: `.spec.containers[name="c"].image`.
pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(ToString::to_string).collect()
}

/// A set of paths as a tree: `members` are paths ending here, `children` go deeper.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    /// Adds a path (the empty path is not representable and is ignored).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the set holds `path`.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths under `pe`, relative to it.
    pub fn child(&self, pe: &PathElement) -> Option<&Set> {
        self.children.get(pe).filter(|c| !c.is_empty())
    }

    /// The paths in either set.
    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not in `other` (a member of `other` does not remove the
    /// paths below it: upstream's `Difference`).
    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// Removes `pe` and everything below it (upstream's `RecursiveDifference` with one path).
    pub fn remove_subtree(&mut self, pe: &PathElement) {
        self.members.remove(pe);
        self.children.remove(pe);
    }

    /// Every path, members of a node before its children, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.walk(&mut Vec::new(), &mut out);
        out
    }

    fn walk(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.walk(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` form: `{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for pe in &self.members {
            if self.children.get(pe).is_none_or(Set::is_empty) {
                m.insert(pe.to_key(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            let mut v = c.to_fields_v1();
            if self.members.contains(pe) {
                if let Value::Object(o) = &mut v {
                    o.insert(".".into(), Value::Object(Map::new()));
                }
            }
            m.insert(pe.to_key(), v);
        }
        Value::Object(m)
    }

    /// Parses `FieldsV1`; None when it is not well formed.
    pub fn from_fields_v1(v: &Value) -> Option<Set> {
        let mut out = Set::default();
        for (k, child) in v.as_object()? {
            if k == "." {
                continue;
            }
            let pe = PathElement::from_key(k)?;
            let c = child.as_object()?;
            if c.is_empty() || c.contains_key(".") {
                out.members.insert(pe.clone());
            }
            if c.keys().any(|k| k != ".") {
                out.children.insert(pe, Set::from_fields_v1(child)?);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> PathElement {
        PathElement::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trips_upstream_shapes() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {},
                "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}},
            "f:metadata2": {"f:finalizers": {".": {}, "v:\"a\"": {}}}
        });
        let s = Set::from_fields_v1(&v).expect("parses");
        assert!(s.has(&[f("metadata"), f("labels")]));
        assert!(s.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!s.has(&[f("metadata")]));
        assert_eq!(s.to_fields_v1(), v);
        let port = PathElement::Key(vec![
            ("containerPort".into(), "80".into()),
            ("protocol".into(), "\"TCP\"".into()),
        ]);
        assert_eq!(port.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        let paths: Vec<String> = s.paths().iter().map(|p| path_string(p)).collect();
        assert!(paths.contains(&".spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].containerPort".to_string()));
    }

    #[test]
    fn set_algebra() {
        let mut a = Set::default();
        a.insert(&[f("a"), f("b")]);
        a.insert(&[f("a")]);
        a.insert(&[f("c")]);
        let mut b = Set::default();
        b.insert(&[f("a"), f("b")]);
        let d = a.difference(&b);
        assert!(d.has(&[f("a")]) && d.has(&[f("c")]) && !d.has(&[f("a"), f("b")]));
        let i = a.intersection(&b);
        assert_eq!(i, b);
        assert_eq!(a.union(&b), a);
        assert!(Set::from_fields_v1(&json!({"x:bad": {}})).is_none());
    }
}
