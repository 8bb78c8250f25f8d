//! Writing responses: objects as JSON or YAML, errors as `Status`, warnings as headers.

use crate::body::Body;
use crate::negotiate::Output;
use api_types::StatusError;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::Value;

pub(crate) type Resp = Response<Body>;

fn with_type(code: u16, content_type: &str, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    r
}

/// An object (or list, or Table) in the negotiated format.
pub(crate) fn object(code: u16, v: &Value, out: Output, warnings: &[String]) -> Resp {
    let mut r = match out {
        Output::Yaml => match serde_saphyr::to_string(v) {
            Ok(y) => with_type(code, "application/yaml", y.into_bytes()),
            Err(e) => return status(&StatusError::internal(format!("encoding YAML: {e}"))),
        },
        Output::Table => with_type(
            code,
            "application/json;as=Table;v=v1;g=meta.k8s.io",
            json_bytes(v),
        ),
        Output::Json => with_type(code, "application/json", json_bytes(v)),
    };
    add_warnings(&mut r, warnings);
    r
}

pub(crate) fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON values always serialize")
}

/// `Warning: 299 - "text"` headers, which kubectl prints as `Warning: text`.
pub(crate) fn add_warnings(r: &mut Resp, warnings: &[String]) {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(h) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
}

/// A Status error.
/// A Status error; one that says when to retry (429, 5xx) says it in `Retry-After` too, as
/// upstream's `ErrorNegotiated`.
pub(crate) fn status(e: &StatusError) -> Resp {
    let mut r = with_type(e.code, "application/json", json_bytes(&e.to_status()));
    let retry = e.details.as_ref().and_then(|d| d.retry_after_seconds);
    if let (Some(s), true) = (retry, e.code == 429 || e.code >= 500) {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// A plain-text body (health checks).
pub(crate) fn text(code: u16, s: &str) -> Resp {
    with_type(code, "text/plain; charset=utf-8", s.as_bytes().to_vec())
}

/// A raw body with its content type (discovery, OpenAPI).
pub(crate) fn raw(code: u16, content_type: &str, body: Vec<u8>) -> Resp {
    with_type(code, content_type, body)
}
