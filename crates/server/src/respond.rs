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
        Output::Protobuf => match wire::protobuf::encode(v) {
            Ok(b) => with_type(code, crate::negotiate::PROTOBUF, b),
            // A kind without a protobuf form (kubeward's own): JSON, which the client accepts.
            Err(_) => with_type(code, "application/json", json_bytes(v)),
        },
    };
    add_warnings(&mut r, warnings);
    r
}

/// JSON as kube-apiserver's serializer writes it: Go field order, Go's escaping, and the
/// encoder's trailing newline (the pretty layout is the chain's last layer, [`pretty`]).
pub(crate) fn json_bytes(v: &Value) -> Vec<u8> {
    wire::json::to_vec(v, wire::Layout::Compact)
}

/// Whether a request gets the pretty serializer (`NegotiateOutputMediaType` in apiserver's
/// `endpoints/handlers/negotiation/negotiate.go`): `pretty=1` as a media-type parameter of
/// `Accept`, or `isPrettyPrint`: a `pretty` query parameter decides when it is set (by Go's
/// `strconv.ParseBool`; anything else is false), else a `User-Agent` of curl, Wget or a browser.
pub(crate) fn wants_pretty(query: Option<&str>, headers: &http::HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if accept
        .split(',')
        .any(|r| r.split(';').skip(1).any(|p| p.trim() == "pretty=1"))
    {
        return true;
    }
    if let Some(q) = query.filter(|q| q.contains("pretty")) {
        let value = form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "pretty")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !value.is_empty() {
            return matches!(value.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True");
        }
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    ["curl", "Wget", "Mozilla/5.0"]
        .iter()
        .any(|p| agent.starts_with(p))
}

/// A whole JSON response laid out by the pretty serializer (`json.MarshalIndent`); streams
/// (watch) and other media types are left as they are, as upstream's stream serializers
/// have no pretty form.
pub(crate) fn pretty(resp: Resp) -> Resp {
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let body = match body {
        Body::Full(Some(b)) => {
            let out = wire::json::indent(&b);
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::full(out)
        }
        other => other,
    };
    Response::from_parts(parts, body)
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
    let status = e.to_status();
    let mut r = with_type(e.code, "application/json", json_bytes(&status));
    r.extensions_mut().insert(Negotiable(status));
    let retry = e.details.as_ref().and_then(|d| d.retry_after_seconds);
    if let (Some(s), true) = (retry, e.code == 429 || e.code >= 500) {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// A Status answer's object, kept beside its JSON body so that [`negotiated`] can write it in
/// the media type the client asked for.
#[derive(Clone)]
struct Negotiable(Value);

/// A Status answer in the negotiated media type, as upstream's `ErrorNegotiated`: protobuf
/// or YAML where the client asks for it first, JSON otherwise (a Table request gets its
/// Status as JSON, as does an `Accept` nothing satisfies). Decided once, from the request,
/// for every error however deep it was made, from the request's `Accept`; other answers are
/// left as they are.
pub(crate) fn negotiated(resp: Resp, accept: Option<&HeaderValue>) -> Resp {
    let (mut parts, body) = resp.into_parts();
    let Some(Negotiable(status)) = parts.extensions.remove::<Negotiable>() else {
        return Response::from_parts(parts, body);
    };
    let accept = accept.and_then(|h| h.to_str().ok());
    let out = crate::negotiate::output(accept, false).unwrap_or(Output::Json);
    let encoded = match out {
        Output::Protobuf => wire::protobuf::encode(&status)
            .ok()
            .map(|b| (crate::negotiate::PROTOBUF, b)),
        Output::Yaml => serde_saphyr::to_string(&status)
            .ok()
            .map(|y| ("application/yaml", y.into_bytes())),
        Output::Json | Output::Table => None,
    };
    let Some((content_type, bytes)) = encoded else {
        return Response::from_parts(parts, body);
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::full(bytes))
}

/// A plain-text body (health checks).
pub(crate) fn text(code: u16, s: &str) -> Resp {
    with_type(code, "text/plain; charset=utf-8", s.as_bytes().to_vec())
}

/// A raw body with its content type (discovery, OpenAPI).
pub(crate) fn raw(code: u16, content_type: &str, body: Vec<u8>) -> Resp {
    with_type(code, content_type, body)
}
