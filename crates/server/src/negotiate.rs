//! Content negotiation, as upstream's `endpoints/handlers/negotiation`: which media type a
//! response takes from `Accept`, and how a request body is decoded from `Content-Type`.

use crate::protobuf;
use api_types::StatusError;
use serde_json::Value;

/// The JSON media type.
pub const JSON: &str = "application/json";
/// The YAML media type.
pub const YAML: &str = "application/yaml";
/// The Kubernetes protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// What a response is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// `meta.k8s.io/v1` Table, JSON-encoded.
    Table,
    /// Kubernetes protobuf (`application/vnd.kubernetes.protobuf`), for a kind the wire
    /// schema describes; anything else is answered as JSON, which every client that asks for
    /// protobuf also accepts.
    Protobuf,
}

impl Output {
    /// Tables exist for objects and lists only; anything else is JSON where a Table was asked.
    pub fn without_table(self) -> Output {
        if self == Output::Table {
            Output::Json
        } else {
            self
        }
    }
}

/// One media range of an `Accept` header.
struct MediaRange<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

fn parse_ranges(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .map(|r| {
            let mut parts = r.split(';').map(str::trim);
            let essence = parts.next().unwrap_or("");
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect();
            MediaRange { essence, params }
        })
        .filter(|r| !r.essence.is_empty())
        .collect()
}

/// Picks the output for an object or list response. `table_ok` is false where Tables are not
/// offered (non-resource endpoints). Protobuf is answered as protobuf where the kind has a
/// protobuf form (kubectl's typed commands send `protobuf,application/json`).
pub fn output(accept: Option<&str>, table_ok: bool) -> Result<Output, StatusError> {
    let accept = accept.unwrap_or("").trim();
    if accept.is_empty() {
        return Ok(Output::Json);
    }
    for r in parse_ranges(accept) {
        let param = |k: &str| r.params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match (r.essence, param("as")) {
            (JSON, Some("Table"))
                if table_ok
                    && param("g") == Some("meta.k8s.io")
                    && matches!(param("v"), Some("v1" | "v1beta1")) =>
            {
                return Ok(Output::Table)
            }
            (JSON, Some(_)) => continue,
            (JSON | "application/*" | "*/*", None) => return Ok(Output::Json),
            (YAML, None) => return Ok(Output::Yaml),
            (PROTOBUF, None) => return Ok(Output::Protobuf),
            _ => continue,
        }
    }
    Err(StatusError::not_acceptable(
        "application/json, application/yaml, application/vnd.kubernetes.protobuf",
    ))
}

/// The bare media type of a Content-Type header.
pub fn essence(content_type: Option<&str>) -> &str {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
}

/// Parses YAML into JSON values with serde-saphyr, whose default budget bounds alias expansion
/// and nesting (billion-laughs input is refused).
/// A YAML body as JSON. Of a stream of several documents only the first counts, as
/// `sigs.k8s.io/yaml` (go-yaml's `Unmarshal` reads one document) does upstream.
pub fn yaml_to_value(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(text)
        .map(|docs| docs.into_iter().next().unwrap_or(Value::Null))
        .map_err(|e| e.to_string())
}

/// Decodes an object body by its Content-Type, with the paths of repeated JSON keys (the
/// registry reports them as `fieldValidation` says).
pub fn decode_object(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(Value, Vec<String>), StatusError> {
    let bad = |e: String| StatusError::bad_request(e);
    // What `SimpleMetaFactory.Interpret` says of a body it cannot read kind and version from.
    let interpret = |why: String| {
        bad(format!(
            "couldn't get version/kind; json parse error: {why}"
        ))
    };
    match essence(content_type) {
        "" | JSON => {
            let (v, dups) = crate::dupkeys::from_slice(body).map_err(|e| {
                // Go's words where Go's scanner refuses the body too.
                interpret(wire::gojson::syntax_error(body).unwrap_or_else(|| e.to_string()))
            })?;
            if let Some(why) = wire::gojson::type_error(body, &v) {
                return Err(interpret(why));
            }
            Ok((v, dups))
        }
        YAML => {
            let text = std::str::from_utf8(body).map_err(|_| bad("yaml: invalid UTF-8".into()))?;
            let v = yaml_to_value(text)
                .map_err(|e| bad(format!("error converting YAML to JSON: {e}")))?;
            // As JSON, which upstream converts YAML to before reading kind and version (of
            // two bad fields, the JSON written here names apiVersion first).
            if let Some(why) =
                wire::gojson::type_error(&serde_json::to_vec(&v).unwrap_or_default(), &v)
            {
                return Err(interpret(why));
            }
            Ok((v, Vec::new()))
        }
        PROTOBUF => protobuf::decode(body)
            .map(|v| (v, Vec::new()))
            .map_err(|e| match e {
                protobuf::ProtobufError::UnknownKind(_) => {
                    StatusError::unsupported_media_type("application/json, application/yaml")
                        .with_message(e.to_string())
                }
                e => bad(e.to_string()),
            }),
        _ => Err(StatusError::unsupported_media_type(
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )),
    }
}

/// A create's or update's body of kind `kind`, decoded as [`decode_object`] does; a body that
/// cannot be read at all (its kind and version unknown) is refused as upstream's
/// `transformDecodeError` words it: `the object provided is unrecognized (must be of type
/// Secret): <why> (<the body's start>)`.
pub fn decode_body(
    kind: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(Value, Vec<String>), StatusError> {
    decode_object(content_type, body).map_err(|e| {
        if e.code != 400 {
            return e;
        }
        StatusError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): {} ({})",
            e.message,
            summarize(body)
        ))
    })
}

/// `summarizeData(body, 30)` (apiserver's `endpoints/handlers/rest.go`): a body that starts
/// like a JSON object as text, anything else in hex; 30 bytes at most, then ` ...`.
fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let head = &body[..body.len().min(MAX)];
    let more = if body.len() > MAX { " ..." } else { "" };
    match body.first() {
        None => "<empty>".to_string(),
        // Go's string of the bytes; its JSON encoder writes an invalid sequence as U+FFFD.
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(head)),
        Some(_) => {
            let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_kubectl_sends() {
        let check =
            |a: Option<&str>, want: Option<Output>| assert_eq!(output(a, true).ok(), want, "{a:?}");
        check(None, Some(Output::Json));
        check(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"), Some(Output::Table));
        check(Some("application/json, */*"), Some(Output::Json));
        check(
            Some("application/vnd.kubernetes.protobuf,application/json"),
            Some(Output::Protobuf),
        );
        check(Some("application/yaml"), Some(Output::Yaml));
        check(Some("application/json;as=Table;v=v9;g=meta.k8s.io"), None);
        check(Some("text/html"), None);
        assert_eq!(
            output(
                Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
                false
            )
            .unwrap(),
            Output::Json
        );
    }

    #[test]
    fn bodies_summarized_as_summarize_data() {
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(40));
        for (body, want) in [
            (&b""[..], "<empty>".to_string()),
            (b"{}", "{}".to_string()),
            (long.as_bytes(), format!("{} ...", &long[..30])),
            (b"[1]", "5b315d".to_string()),
            // A character cut at the 30th byte is written as U+FFFD, as Go's JSON encoder does.
            (
                "{\"a\":\"01234567890123456789012é".as_bytes(),
                "{\"a\":\"01234567890123456789012\u{fffd} ...".to_string(),
            ),
        ] {
            assert_eq!(summarize(body), want, "{body:?}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(
            decode_object(Some("application/json"), br#"{"a":1}"#)
                .unwrap()
                .0["a"],
            1
        );
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: 1\nb: [x]\n")
                .unwrap()
                .0["b"][0],
            "x"
        );
        assert_eq!(
            decode_object(Some("application/json"), b"{")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: [")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(Some("text/plain"), b"x").unwrap_err().code,
            415
        );
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
        assert_eq!(
            decode_object(Some("application/yaml"), bomb.as_bytes())
                .unwrap_err()
                .code,
            400,
            "alias expansion is bounded"
        );
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            decode_object(Some("application/json"), deep.as_bytes())
                .unwrap_err()
                .code,
            400,
            "nesting is bounded"
        );
    }
}
