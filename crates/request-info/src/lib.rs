//! Sans-IO request classification, following kube-apiserver's
//! `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go` step by step.
//!
//! Architecture invariant: this crate knows nothing of HTTP libraries, resources or storage. It
//! turns a method, a path and a query string into a [`RequestInfo`]; authorization and routing
//! both read that one value, so they can never disagree about what a request is.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

use percent_encoding::percent_decode_str;

/// What a request addresses, as upstream's `request.RequestInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// False for `/version`, `/healthz`, discovery documents and anything else that is not an
    /// object path; authorization then uses `path` and `verb`.
    pub is_resource_request: bool,
    /// The decoded path.
    pub path: String,
    /// `get list watch create update patch delete deletecollection`, or for non-resource
    /// requests the lower-cased HTTP method.
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// The API group ("" for core).
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The namespace the path names ("" when none).
    pub namespace: String,
    /// The resource (plural), e.g. `pods`.
    pub resource: String,
    /// The subresource, e.g. `status` ("" when none).
    pub subresource: String,
    /// The object's name ("" for collections).
    pub name: String,
    /// The path segments from the resource on.
    pub parts: Vec<String>,
    /// A list's or watch's `fieldSelector`, decoded ("" when none): the Node authorizer
    /// reads the `spec.nodeName` it pins (`AuthorizeNodeWithSelectors`).
    pub field_selector: String,
}

/// Why a path could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `/api/v1/watch` with nothing after the special verb (upstream: "unable to determine kind
    /// and namespace from url").
    #[error("unable to determine kind and namespace from url, {0}")]
    MissingKind(String),
}

/// The decoded path's segments. Upstream splits `req.URL.Path`, which Go has already
/// percent-decoded, so an escaped slash (`%2F`) separates segments there too: a name, namespace
/// or resource never holds a `/`.
fn split_path(decoded: &str) -> Vec<String> {
    let trimmed = decoded.trim_matches('/');
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').map(str::to_string).collect()
}

/// Go's `strconv.ParseBool` truth set, which upstream uses for `watch=`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The value a field selector pins `field` to exactly (`=` or `==`), as `RequiresExactMatch`.
pub fn exact_match<'a>(selector: &'a str, field: &str) -> Option<&'a str> {
    let mut found = None;
    for term in selector.split(',') {
        let (k, v) = if let Some((k, v)) = term.split_once("==") {
            (k, v)
        } else if term.contains("!=") {
            continue;
        } else if let Some((k, v)) = term.split_once('=') {
            (k, v)
        } else {
            continue;
        };
        if k.trim() == field {
            found = Some(v.trim());
        }
    }
    found
}

/// A valid path segment name (`path.IsValidPathSegmentName`).
fn valid_path_segment(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// Classifies one request. `query` is the raw query string without `?`.
pub fn parse(method: &str, path: &str, query: &str) -> Result<RequestInfo, ParseError> {
    let mut info = RequestInfo {
        path: percent_decode_str(path).decode_utf8_lossy().into_owned(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    let mut parts = split_path(&info.path);
    if parts.len() < 3 || (parts[0] != "api" && parts[0] != "apis") {
        return Ok(info);
    }
    info.api_prefix = parts.remove(0);
    if info.api_prefix == "apis" {
        if parts.len() < 3 {
            return Ok(info);
        }
        info.api_group = parts.remove(0);
    }
    info.is_resource_request = true;
    info.api_version = parts.remove(0);

    if parts[0] == "watch" || parts[0] == "proxy" {
        if parts.len() < 2 {
            return Err(ParseError::MissingKind(info.path));
        }
        info.verb = parts.remove(0);
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .into();
    }

    // `/namespaces/{ns}/{resource}/...`: the namespace's own subresources (status, finalize)
    // stay on the namespace; anything else is a resource in it.
    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].clone();
        if parts.len() > 2 && parts[2] != "status" && parts[2] != "finalize" {
            parts.drain(..2);
        }
    }
    let n = parts.len();
    if n >= 3 && info.verb != "proxy" {
        info.subresource = parts[2].clone();
    }
    if n >= 2 {
        info.name = parts[1].clone();
    }
    info.resource = parts[0].clone();
    info.parts = parts;

    if info.name.is_empty() && info.verb == "get" {
        let mut watch = false;
        let mut field_selector = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "watch" => {
                    watch = parse_bool(&v).unwrap_or(!matches!(&*v.to_lowercase(), "false" | "0"))
                }
                "fieldSelector" => field_selector = Some(v.into_owned()),
                _ => {}
            }
        }
        info.verb = if watch { "watch" } else { "list" }.into();
        if let Some(selector) = field_selector {
            if let Some(name) = exact_match(&selector, "metadata.name") {
                if valid_path_segment(name) {
                    info.name = name.to_string();
                }
            }
            info.field_selector = selector;
        }
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".into();
    }
    Ok(info)
}

#[cfg(test)]
mod tests;
