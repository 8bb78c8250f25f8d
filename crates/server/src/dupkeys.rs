//! JSON decoding that notices repeated object keys, as `sigs.k8s.io/json`'s `UnmarshalStrict`
//! does for kube-apiserver's `fieldValidation`: one pass builds the value (the last
//! occurrence wins, as Go's decoder) and lists each repeated key by its path,
//! `duplicate field "spec.replicas"`, `containers[0].name`.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// At most this many repeated keys are reported: a 3 MiB body can repeat a hundred thousand
/// keys, and each report becomes a warning header (and a linear search here).
const MAX_REPORTED: usize = 100;

/// The path to the value being decoded: a chain of parents on the stack, so nothing is
/// allocated unless a duplicate is found.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, k) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Path::Index(parent, i) => {
                parent.render(out);
                out.push_str(&format!("[{i}]"));
            }
        }
    }
}

struct Seed<'p, 'd> {
    path: Path<'p>,
    duplicates: &'d mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = Path::Index(&self.path, out.len());
            let seed = Seed {
                path,
                duplicates: &mut *self.duplicates,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed {
                path: Path::Key(&self.path, &key),
                duplicates: &mut *self.duplicates,
            })?;
            if out.insert(key.clone(), value).is_some() && self.duplicates.len() < MAX_REPORTED {
                let mut p = String::new();
                Path::Key(&self.path, &key).render(&mut p);
                if !self.duplicates.contains(&p) {
                    self.duplicates.push(p);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Parses `body` as one JSON value; returns it with the paths of repeated keys, in the order
/// they were met.
pub(crate) fn from_slice(body: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let mut duplicates = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = Seed {
        path: Path::Root,
        duplicates: &mut duplicates,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((v, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_named_by_path_and_the_last_wins() {
        let (v, d) = from_slice(
            br#"{"kind":"Pod","spec":{"replicas":1,"replicas":2,
                 "containers":[{"name":"a","name":"b"}]},"kind":"Pod"}"#,
        )
        .unwrap();
        assert_eq!(d, ["spec.replicas", "spec.containers[0].name", "kind"]);
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(v["spec"]["containers"][0]["name"], "b");
        let (v, d) = from_slice(br#"{"a":[1,2.5,null,true,"x"]}"#).unwrap();
        assert!(d.is_empty());
        assert_eq!(v, serde_json::json!({"a":[1,2.5,null,true,"x"]}));
        assert!(from_slice(b"{} x").is_err(), "trailing data");
        let many: String = (0..5000)
            .map(|i| format!("\"k{i}\":1,\"k{i}\":2,"))
            .collect();
        let (v, d) = from_slice(format!("{{{many}\"end\":0}}").as_bytes()).unwrap();
        assert_eq!(d.len(), MAX_REPORTED, "reports are bounded");
        assert_eq!(v["k4999"], 2, "every key still decodes");
        assert!(from_slice(&[b'['; 200]).is_err(), "depth is limited");
    }
}
