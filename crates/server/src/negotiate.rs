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
    match essence(content_type) {
        "" | JSON => crate::dupkeys::from_slice(body)
            .map_err(|e| bad(format!("couldn't get version/kind; json parse error: {e}"))),
        YAML => {
            let text = std::str::from_utf8(body).map_err(|_| bad("yaml: invalid UTF-8".into()))?;
            yaml_to_value(text)
                .map(|v| (v, Vec::new()))
                .map_err(|e| bad(format!("error converting YAML to JSON: {e}")))
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
