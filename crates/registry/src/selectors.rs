//! Label selectors (`k8s.io/apimachinery/pkg/labels/selector.go`) and field selectors
//! (`pkg/fields/selector.go`), parsed into plain data and matched against plain maps.

use crate::validation::{label_value, qualified_name};
use std::collections::BTreeMap;

/// Why a selector did not parse; answered as 400 BadRequest with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The label selector text does not follow the grammar.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// A field selector term has no operator.
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    Field(String, String),
    /// The kind has no such field label (upstream's conversion-func error).
    #[error("field label not supported: {0}")]
    UnknownField(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// One parsed `labelSelector`: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<(String, Op)>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, SelectorError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '>' => {
                out.push(Tok::Gt);
                i += 1
            }
            '<' => {
                out.push(Tok::Lt);
                i += 1
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::DoubleEq);
                i += 2
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::NotEq);
                i += 2
            }
            '!' => {
                out.push(Tok::Bang);
                i += 1
            }
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r(),<>=!".contains(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn valid_key(k: &str) -> Result<(), SelectorError> {
    match qualified_name(k).into_iter().next() {
        Some(e) => Err(SelectorError::Label(format!(
            "key: Invalid value: {k:?}: {e}"
        ))),
        None => Ok(()),
    }
}

fn valid_value(v: &str) -> Result<(), SelectorError> {
    match label_value(v).into_iter().next() {
        Some(e) => Err(SelectorError::Label(format!(
            "values[0][{v}]: Invalid value: {v:?}: {e}"
        ))),
        None => Ok(()),
    }
}

impl LabelSelector {
    /// Parses `labels.Parse` syntax; the empty string selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let toks = lex(s)?;
        let mut reqs = Vec::new();
        let mut i = 0;
        let err = |m: &str| SelectorError::Label(m.to_string());
        while i < toks.len() {
            let negate = toks[i] == Tok::Bang;
            if negate {
                i += 1;
            }
            let Some(Tok::Ident(key)) = toks.get(i).cloned() else {
                return Err(err(&format!(
                    "found '{}', expected: identifier",
                    show(toks.get(i))
                )));
            };
            valid_key(&key)?;
            i += 1;
            let op = if negate {
                Op::NotExists
            } else {
                match toks.get(i) {
                    None | Some(Tok::Comma) => Op::Exists,
                    Some(Tok::Eq | Tok::DoubleEq | Tok::NotEq) => {
                        let is_ne = toks[i] == Tok::NotEq;
                        i += 1;
                        let value = match toks.get(i) {
                            Some(Tok::Ident(v)) => {
                                i += 1;
                                v.clone()
                            }
                            None | Some(Tok::Comma) => String::new(),
                            Some(t) => {
                                return Err(err(&format!(
                                    "found '{}', expected: identifier",
                                    show(Some(t))
                                )))
                            }
                        };
                        valid_value(&value)?;
                        if is_ne {
                            Op::NotEquals(value)
                        } else {
                            Op::Equals(value)
                        }
                    }
                    Some(Tok::Gt | Tok::Lt) => {
                        let gt = toks[i] == Tok::Gt;
                        i += 1;
                        let Some(Tok::Ident(v)) = toks.get(i) else {
                            return Err(err("found '', expected: identifier"));
                        };
                        i += 1;
                        let n: i64 = v.parse().map_err(|_| {
                            err("for 'Gt', 'Lt' operators, the value must be an integer")
                        })?;
                        if gt {
                            Op::Gt(n)
                        } else {
                            Op::Lt(n)
                        }
                    }
                    Some(Tok::Ident(word)) if word == "in" || word == "notin" => {
                        let is_in = word == "in";
                        i += 1;
                        if toks.get(i) != Some(&Tok::Open) {
                            return Err(err(&format!(
                                "found '{}', expected: '('",
                                show(toks.get(i))
                            )));
                        }
                        i += 1;
                        let mut values = Vec::new();
                        loop {
                            match toks.get(i) {
                                Some(Tok::Ident(v)) => {
                                    valid_value(v)?;
                                    values.push(v.clone());
                                    i += 1
                                }
                                Some(Tok::Close) if values.is_empty() => {
                                    // `key in ()` selects the empty value set, as upstream.
                                }
                                other => {
                                    return Err(err(&format!(
                                        "found '{}', expected: identifier",
                                        show(other)
                                    )))
                                }
                            }
                            match toks.get(i) {
                                Some(Tok::Comma) => i += 1,
                                Some(Tok::Close) => {
                                    i += 1;
                                    break;
                                }
                                other => {
                                    return Err(err(&format!(
                                        "found '{}', expected: ',' or ')'",
                                        show(other)
                                    )))
                                }
                            }
                        }
                        if is_in {
                            Op::In(values)
                        } else {
                            Op::NotIn(values)
                        }
                    }
                    Some(t) => {
                        return Err(err(&format!(
                            "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                            show(Some(t))
                        )))
                    }
                }
            };
            reqs.push((key, op));
            match toks.get(i) {
                None => break,
                Some(Tok::Comma) => {
                    i += 1;
                    if i == toks.len() {
                        return Err(err("found '', expected: identifier after ','"));
                    }
                }
                Some(t) => {
                    return Err(err(&format!(
                        "found '{}', expected: ',' or 'end of string'",
                        show(Some(t))
                    )))
                }
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(k, op)| {
            let v = labels.get(k);
            match op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Equals(x) => v == Some(x),
                Op::NotEquals(x) => v != Some(x),
                Op::In(xs) => v.is_some_and(|v| xs.contains(v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.contains(v)),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

fn show(t: Option<&Tok>) -> String {
    match t {
        None => String::new(),
        Some(Tok::Ident(s)) => s.clone(),
        Some(Tok::Eq) => "=".into(),
        Some(Tok::DoubleEq) => "==".into(),
        Some(Tok::NotEq) => "!=".into(),
        Some(Tok::Bang) => "!".into(),
        Some(Tok::Gt) => ">".into(),
        Some(Tok::Lt) => "<".into(),
        Some(Tok::Open) => "(".into(),
        Some(Tok::Close) => ")".into(),
        Some(Tok::Comma) => ",".into(),
    }
}

/// One parsed `fieldSelector`: `field=value`, `field==value`, `field!=value`, comma-joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses the text and checks each field against the kind's supported `fields`.
    pub fn parse(s: &str, fields: &[&str]) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for term in split_unescaped(s) {
            if term.is_empty() {
                continue;
            }
            let (field, eq, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError::Field(s.to_string(), term.clone()));
            };
            if !fields.contains(&field) {
                return Err(SelectorError::UnknownField(field.to_string()));
            }
            terms.push((
                field.to_string(),
                eq,
                value
                    .replace("\\,", ",")
                    .replace("\\=", "=")
                    .replace("\\\\", "\\"),
            ));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value a term pins with `=`, if any.
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| f == field && *eq)
            .map(|(_, _, v)| v.as_str())
    }

    /// True when the object's field values satisfy every term.
    pub fn matches(&self, values: &dyn Fn(&str) -> String) -> bool {
        self.0.iter().all(|(f, eq, v)| (values(f) == *v) == *eq)
    }
}

fn split_unescaped(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        match c {
            ',' if !escaped => out.push(String::new()),
            _ => {
                escaped = c == '\\' && !escaped;
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> BTreeMap<String, String> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// `want` lists, for each label set, whether the selector matches it.
    fn check(selector: &str, cases: &[(&str, bool)]) {
        let sel = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
        for (ls, want) in cases {
            assert_eq!(sel.matches(&labels(ls)), *want, "{selector} on {ls}");
        }
    }

    #[test]
    fn label_selectors_match_as_upstream() {
        check("", &[("", true), ("a=b", true)]);
        check(
            "app=web",
            &[("app=web", true), ("app=db", false), ("", false)],
        );
        check("app==web", &[("app=web", true)]);
        check(
            "app!=web",
            &[("app=web", false), ("app=db", true), ("", true)],
        );
        check("app", &[("app=x", true), ("", false)]);
        check("!app", &[("app=x", false), ("b=c", true)]);
        check(
            "env in (prod, qa)",
            &[("env=qa", true), ("env=dev", false), ("", false)],
        );
        check(
            "env notin (prod,qa)",
            &[("env=qa", false), ("env=dev", true), ("", true)],
        );
        check(
            "app=web,tier!=backend",
            &[
                ("app=web,tier=front", true),
                ("app=web,tier=backend", false),
            ],
        );
        check("n>3", &[("n=4", true), ("n=3", false), ("n=x", false)]);
        check("n<3", &[("n=2", true), ("n=3", false)]);
    }

    #[test]
    fn bad_label_selectors_are_errors() {
        for bad in [
            "app=",
            "=x",
            "env in prod",
            "env in (a",
            "a,",
            "a b",
            "Bad Key=1",
            "a=b c",
        ] {
            if bad == "app=" {
                // An empty value is allowed (`app=` selects app with the empty value).
                assert!(LabelSelector::parse(bad).is_ok());
                continue;
            }
            assert!(
                LabelSelector::parse(bad).is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn field_selectors() {
        let fs = FieldSelector::parse(
            "metadata.name=a,status.phase!=Running",
            &["metadata.name", "status.phase"],
        )
        .unwrap();
        let obj = |f: &str| match f {
            "metadata.name" => "a".to_string(),
            _ => "Pending".to_string(),
        };
        assert!(fs.matches(&obj));
        assert_eq!(fs.exact("metadata.name"), Some("a"));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", &["metadata.name"]),
            Err(SelectorError::UnknownField("spec.foo".into()))
        );
        assert!(FieldSelector::parse("nonsense", &["metadata.name"]).is_err());
    }
}
