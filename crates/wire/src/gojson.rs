//! A JSON body refused in the words of Go's `encoding/json`, which kube-apiserver's JSON
//! serializer reads a body's `apiVersion` and `kind` with first (`SimpleMetaFactory.Interpret`,
//! `apimachinery/pkg/runtime/serializer/json/meta.go`), so its errors are what a client of
//! kube-apiserver sees: `couldn't get version/kind; json parse error: <these words>`.
//!
//! - [`syntax_error`]: the first `SyntaxError` of `checkValid`, the scanner's state machine
//!   (`src/encoding/json/scanner.go`): `invalid character 'x' <where>`, or `unexpected end
//!   of JSON input`.
//! - [`type_error`]: the `UnmarshalTypeError` of a well-formed body that is not an object,
//!   or whose `apiVersion` or `kind` is not a string.
//!
//! [`syntax_error`] is looked for only once a body is refused, off the path of good writes;
//! [`type_error`] looks at two fields of every body.
//!
//! Sans-IO: bytes or values in, Go's words out.

use serde_json::Value;

/// Go's `maxNestingDepth`.
const MAX_DEPTH: usize = 10_000;

/// What the scanner expects next (the scanner's `step` functions).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `stateBeginValue`: the start of any value.
    BeginValue,
    /// `stateBeginValueOrEmpty`: after `[`.
    BeginValueOrEmpty,
    /// `stateBeginStringOrEmpty`: after `{`.
    BeginStringOrEmpty,
    /// `stateBeginString`: after `{"key": value,`.
    BeginString,
    /// `stateEndValue`: after a whole value.
    EndValue,
    /// `stateEndTop`: after the top-level value.
    EndTop,
    /// `stateInString` and its escapes (`\`, then `\u` with `n` hex digits read).
    InString,
    InStringEsc,
    InStringEscU(u8),
    /// Numbers: `-`, `0`, `1`-`9`…, `.`, digits after `.`, `e`, `e±`, exponent digits.
    Neg,
    Zero,
    One,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside `true`, `false` or `null`: the literal and how much of it was read.
    Literal(&'static str, usize),
}

/// What a composite value being scanned waits for (the scanner's `parseState`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parse {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

struct Scanner {
    step: Step,
    stack: Vec<Parse>,
    /// The error that ends the scan at the next byte (`stateEndTop`'s delayed complaint).
    pending: Option<String>,
}

/// `quoteChar`: a byte as Go quotes it, as a rune (a byte of 0x80 or more is U+0080…U+00FF,
/// `strconv.Quote`'s escapes for what is not printable).
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\\' => r"'\\'".to_string(),
        0x07 => r"'\a'".to_string(),
        0x08 => r"'\b'".to_string(),
        0x0c => r"'\f'".to_string(),
        b'\n' => r"'\n'".to_string(),
        b'\r' => r"'\r'".to_string(),
        b'\t' => r"'\t'".to_string(),
        0x0b => r"'\v'".to_string(),
        0x00..=0x1f | 0x7f => format!(r"'\x{c:02x}'"),
        // C1 controls, the no-break space and the soft hyphen are not printable in Go.
        0x80..=0xa0 | 0xad => format!(r"'\u{c:04x}'"),
        _ => format!("'{}'", char::from(c)),
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn invalid(c: u8, context: &str) -> String {
    if context.is_empty() {
        format!("invalid character {} ", quote_char(c))
    } else {
        format!("invalid character {} {context}", quote_char(c))
    }
}

impl Scanner {
    fn push(&mut self, c: u8, p: Parse) -> Result<(), String> {
        self.stack.push(p);
        if self.stack.len() > MAX_DEPTH {
            return Err(invalid(c, "exceeded max depth"));
        }
        Ok(())
    }

    fn pop(&mut self) {
        self.stack.pop();
        self.step = if self.stack.is_empty() {
            Step::EndTop
        } else {
            Step::EndValue
        };
    }

    fn begin_value(&mut self, c: u8) -> Result<(), String> {
        if is_space(c) {
            return Ok(());
        }
        self.step = match c {
            b'{' => {
                self.step = Step::BeginStringOrEmpty;
                return self.push(c, Parse::ObjectKey);
            }
            b'[' => {
                self.step = Step::BeginValueOrEmpty;
                return self.push(c, Parse::ArrayValue);
            }
            b'"' => Step::InString,
            b'-' => Step::Neg,
            b'0' => Step::Zero,
            b't' => Step::Literal("true", 1),
            b'f' => Step::Literal("false", 1),
            b'n' => Step::Literal("null", 1),
            b'1'..=b'9' => Step::One,
            _ => return Err(invalid(c, "looking for beginning of value")),
        };
        Ok(())
    }

    fn begin_string(&mut self, c: u8) -> Result<(), String> {
        if is_space(c) {
            return Ok(());
        }
        if c == b'"' {
            self.step = Step::InString;
            return Ok(());
        }
        Err(invalid(c, "looking for beginning of object key string"))
    }

    fn end_value(&mut self, c: u8) -> Result<(), String> {
        let Some(&top) = self.stack.last() else {
            self.step = Step::EndTop;
            return self.end_top(c);
        };
        if is_space(c) {
            self.step = Step::EndValue;
            return Ok(());
        }
        let n = self.stack.len() - 1;
        match (top, c) {
            (Parse::ObjectKey, b':') => {
                self.stack[n] = Parse::ObjectValue;
                self.step = Step::BeginValue;
            }
            (Parse::ObjectKey, _) => return Err(invalid(c, "after object key")),
            (Parse::ObjectValue, b',') => {
                self.stack[n] = Parse::ObjectKey;
                self.step = Step::BeginString;
            }
            (Parse::ObjectValue, b'}') | (Parse::ArrayValue, b']') => self.pop(),
            (Parse::ObjectValue, _) => return Err(invalid(c, "after object key:value pair")),
            (Parse::ArrayValue, b',') => self.step = Step::BeginValue,
            (Parse::ArrayValue, _) => return Err(invalid(c, "after array element")),
        }
        Ok(())
    }

    fn end_top(&mut self, c: u8) -> Result<(), String> {
        // Go records the complaint and stops at the next byte (or at the end).
        if !is_space(c) && self.pending.is_none() {
            self.pending = Some(invalid(c, "after top-level value"));
        }
        Ok(())
    }

    /// One byte: `Err` is the scan's error.
    fn step(&mut self, c: u8) -> Result<(), String> {
        if let Some(e) = &self.pending {
            return Err(e.clone());
        }
        let hex = c.is_ascii_hexdigit();
        let digit = c.is_ascii_digit();
        match self.step {
            Step::BeginValue => self.begin_value(c),
            Step::BeginValueOrEmpty => match c {
                _ if is_space(c) => Ok(()),
                b']' => self.end_value(c),
                _ => self.begin_value(c),
            },
            Step::BeginStringOrEmpty => match c {
                _ if is_space(c) => Ok(()),
                b'}' => {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Parse::ObjectValue;
                    }
                    self.end_value(c)
                }
                _ => self.begin_string(c),
            },
            Step::BeginString => self.begin_string(c),
            Step::EndValue => self.end_value(c),
            Step::EndTop => self.end_top(c),
            Step::InString => {
                match c {
                    b'"' => self.step = Step::EndValue,
                    b'\\' => self.step = Step::InStringEsc,
                    0..=0x1f => return Err(invalid(c, "in string literal")),
                    _ => {}
                }
                Ok(())
            }
            Step::InStringEsc => {
                self.step = match c {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => Step::InString,
                    b'u' => Step::InStringEscU(0),
                    _ => return Err(invalid(c, "in string escape code")),
                };
                Ok(())
            }
            Step::InStringEscU(n) => {
                if !hex {
                    return Err(invalid(c, r"in \u hexadecimal character escape"));
                }
                self.step = if n == 3 {
                    Step::InString
                } else {
                    Step::InStringEscU(n + 1)
                };
                Ok(())
            }
            Step::Neg => {
                self.step = match c {
                    b'0' => Step::Zero,
                    b'1'..=b'9' => Step::One,
                    _ => return Err(invalid(c, "in numeric literal")),
                };
                Ok(())
            }
            Step::One if digit => Ok(()),
            Step::One | Step::Zero => match c {
                b'.' => {
                    self.step = Step::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.step = Step::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            Step::Dot if digit => {
                self.step = Step::Dot0;
                Ok(())
            }
            Step::Dot => Err(invalid(c, "after decimal point in numeric literal")),
            Step::Dot0 if digit => Ok(()),
            Step::Dot0 => match c {
                b'e' | b'E' => {
                    self.step = Step::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            Step::E if matches!(c, b'+' | b'-') => {
                self.step = Step::ESign;
                Ok(())
            }
            Step::E | Step::ESign if digit => {
                self.step = Step::E0;
                Ok(())
            }
            Step::E | Step::ESign => Err(invalid(c, "in exponent of numeric literal")),
            Step::E0 if digit => Ok(()),
            Step::E0 => self.end_value(c),
            Step::Literal(word, read) => {
                let want = word.as_bytes()[read];
                if c != want {
                    return Err(invalid(
                        c,
                        &format!("in literal {word} (expecting '{}')", char::from(want)),
                    ));
                }
                self.step = if read + 1 == word.len() {
                    Step::EndValue
                } else {
                    Step::Literal(word, read + 1)
                };
                Ok(())
            }
        }
    }
}

/// `checkValid`: the first syntax error of `data` in Go's words, or `None` when Go's scanner
/// finds it well formed (Go, unlike serde_json, takes invalid UTF-8 and lone surrogates in
/// strings, and nests up to 10,000 deep; the caller keeps its own words for those).
pub fn syntax_error(data: &[u8]) -> Option<String> {
    let mut s = Scanner {
        step: Step::BeginValue,
        stack: Vec::new(),
        pending: None,
    };
    for &c in data {
        if let Err(e) = s.step(c) {
            return Some(e);
        }
    }
    if let Some(e) = s.pending {
        return Some(e);
    }
    // `eof`: a space ends a number; anything else unfinished is the end of the input.
    if s.step != Step::EndTop {
        if let Err(e) = s.step(b' ') {
            return Some(e);
        }
    }
    (s.step != Step::EndTop).then(|| "unexpected end of JSON input".to_string())
}

/// The name `UnmarshalTypeError` gives a JSON value's type.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The type `SimpleMetaFactory.Interpret` decodes into, as Go prints it.
const FIND_KIND: &str = r#"struct { APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" }"#;

/// `json.Unmarshal(data, &findKind)`'s `UnmarshalTypeError` for `v`, the well-formed body
/// `data`: a body that is not an object (null is no error to Go: nothing is set), or an
/// `apiVersion` or `kind` that is not a string (null again sets nothing). Of two bad fields,
/// Go reports the one it meets first in the body.
pub fn type_error(data: &[u8], v: &Value) -> Option<String> {
    let both_bad = ["apiVersion", "kind"]
        .iter()
        .all(|k| v.get(k).is_some_and(|v| !v.is_null() && !v.is_string()));
    let first = if both_bad {
        first_of(data, "apiVersion", "kind")
    } else {
        "kind"
    };
    type_error_in_order(v, first)
}

/// Which of the top-level keys `a` and `b` an object's text names first (`a` when neither).
fn first_of<'k>(data: &[u8], a: &'k str, b: &'k str) -> &'k str {
    struct First<'k>(&'k str, &'k str);
    impl<'de, 'k> serde::de::DeserializeSeed<'de> for First<'k> {
        type Value = &'k str;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<&'k str, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de, 'k> serde::de::Visitor<'de> for First<'k> {
        type Value = &'k str;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<&'k str, M::Error> {
            // The whole map is read (serde_json refuses a map left half read).
            let mut first = None;
            while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                if first.is_none() && (k == self.0 || k == self.1) {
                    first = Some(if k == self.0 { self.0 } else { self.1 });
                }
                m.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(first.unwrap_or(self.0))
        }
    }
    use serde::de::DeserializeSeed;
    First(a, b)
        .deserialize(&mut serde_json::Deserializer::from_slice(data))
        .unwrap_or(a)
}

fn type_error_in_order(v: &Value, first: &str) -> Option<String> {
    let Value::Object(o) = v else {
        return (!v.is_null()).then(|| {
            format!(
                "json: cannot unmarshal {} into Go value of type {FIND_KIND}",
                json_type(v)
            )
        });
    };
    let bad = |k: &str| {
        o.get(k)
            .filter(|v| !v.is_null() && !v.is_string())
            .map(|v| {
                format!(
                    "json: cannot unmarshal {} into Go struct field .{k} of type string",
                    json_type(v)
                )
            })
    };
    let second = if first == "kind" {
        "apiVersion"
    } else {
        "kind"
    };
    bad(first).or_else(|| bad(second))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn syntax_errors_as_gos_scanner_words_them() {
        // Cases of Go's own scanner and decoder tests, and what kubectl users type.
        let check = |data: &str, want: Option<&str>| {
            assert_eq!(syntax_error(data.as_bytes()).as_deref(), want, "{data:?}");
        };
        for ok in [
            "{}",
            " {\"a\": [1, -2.5e+3, 0, 0.1E9, true, false, null, \"\\u00e9\\n\"]} ",
            "0",
            "123",
            "\"x\"",
            "[]",
            "[[[]]]",
            "{\"a\":{}}\n",
        ] {
            check(ok, None);
        }
        for (bad, want) in [
            ("", "unexpected end of JSON input"),
            ("   ", "unexpected end of JSON input"),
            (
                r#"{"metadata": {"name": "x""#,
                "unexpected end of JSON input",
            ),
            ("[2, 3", "unexpected end of JSON input"),
            // `eof` feeds a space first: what a space cannot end is refused for the space.
            ("-", "invalid character ' ' in numeric literal"),
            (
                "1.",
                "invalid character ' ' after decimal point in numeric literal",
            ),
            ("1e", "invalid character ' ' in exponent of numeric literal"),
            (
                "tru",
                "invalid character ' ' in literal true (expecting 'e')",
            ),
            ("\"\\", "invalid character ' ' in string escape code"),
            (
                r#"{"X": "foo", "Y"}"#,
                "invalid character '}' after object key",
            ),
            ("[1, 2, 3+]", "invalid character '+' after array element"),
            (
                r#"{"X":12x}"#,
                "invalid character 'x' after object key:value pair",
            ),
            (
                r#"{"a":1,}"#,
                "invalid character '}' looking for beginning of object key string",
            ),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                "{a: 1}",
                "invalid character 'a' looking for beginning of object key string",
            ),
            (
                "{'a': 1}",
                r"invalid character '\'' looking for beginning of object key string",
            ),
            (
                "apiVersion: v1",
                "invalid character 'a' looking for beginning of value",
            ),
            ("{} {}", "invalid character '{' after top-level value"),
            ("1 2", "invalid character '2' after top-level value"),
            ("01", "invalid character '1' after top-level value"),
            ("\"a\tb\"", r"invalid character '\t' in string literal"),
            (r#""\x""#, "invalid character 'x' in string escape code"),
            (
                r#""\u12g4""#,
                r"invalid character 'g' in \u hexadecimal character escape",
            ),
            ("-a", "invalid character 'a' in numeric literal"),
            (
                "1.e5",
                "invalid character 'e' after decimal point in numeric literal",
            ),
            (
                "1e+x",
                "invalid character 'x' in exponent of numeric literal",
            ),
            (
                "trux",
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            (
                "fals",
                "invalid character ' ' in literal false (expecting 'e')",
            ),
            (
                "fale",
                "invalid character 'e' in literal false (expecting 's')",
            ),
            (
                "nil",
                "invalid character 'i' in literal null (expecting 'u')",
            ),
            (
                "{\"a\":\u{e9}}",
                "invalid character 'Ã' looking for beginning of value",
            ),
            // A character of two bytes: its first byte, as the rune Go makes of a byte.
            (
                "[\u{a0}]",
                "invalid character 'Â' looking for beginning of value",
            ),
            (
                "[\\]",
                r"invalid character '\\' looking for beginning of value",
            ),
            ("[\"]", "unexpected end of JSON input"),
            (
                "[\x7f]",
                r"invalid character '\x7f' looking for beginning of value",
            ),
        ] {
            check(bad, Some(want));
        }
        // Bytes that are not printable as runes (C1 controls, no-break space, soft hyphen).
        for (bad, want) in [
            (&b"[\xa0]"[..], r"'\u00a0'"),
            (b"[\x85]", r"'\u0085'"),
            (b"[\xad]", r"'\u00ad'"),
            (b"[\xff]", "'ÿ'"),
        ] {
            assert_eq!(
                syntax_error(bad),
                Some(format!(
                    "invalid character {want} looking for beginning of value"
                ))
            );
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        check(&deep, Some("invalid character '[' exceeded max depth"));
        check(&"[".repeat(MAX_DEPTH), Some("unexpected end of JSON input"));
    }

    #[test]
    fn type_errors_as_interpret_words_them() {
        let check = |v: Value, first: &str, want: Option<&str>| {
            assert_eq!(type_error_in_order(&v, first).as_deref(), want, "{v}");
        };
        check(
            json!([1]),
            "kind",
            Some(&format!(
                "json: cannot unmarshal array into Go value of type {FIND_KIND}"
            )),
        );
        check(
            json!("x"),
            "kind",
            Some(&format!(
                "json: cannot unmarshal string into Go value of type {FIND_KIND}"
            )),
        );
        check(json!(null), "kind", None);
        check(json!({"kind": null, "apiVersion": "v1"}), "kind", None);
        check(
            json!({"kind": 5}),
            "kind",
            Some("json: cannot unmarshal number into Go struct field .kind of type string"),
        );
        check(
            json!({"kind": true, "apiVersion": {}}),
            "apiVersion",
            Some("json: cannot unmarshal object into Go struct field .apiVersion of type string"),
        );
        // Of two bad fields, the one the body names first (nested keys do not count).
        for (text, field, found) in [
            (
                r#"{"metadata":{"kind":1},"kind":2,"apiVersion":[]}"#,
                "kind",
                "number",
            ),
            (r#"{"apiVersion":[],"kind":2}"#, "apiVersion", "array"),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                type_error(text.as_bytes(), &v).unwrap(),
                format!(
                    "json: cannot unmarshal {found} into Go struct field .{field} of type string"
                )
            );
        }
    }
}
