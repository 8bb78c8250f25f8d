//! The RBAC map: a page under `/map/` that draws the RBAC graph (web/map/, with Cytoscape.js
//! from the npm registry, embedded at compile time so nothing is fetched at run time), and
//! its data at `/map/graph`, cut to the RBAC objects the reader may `list`. The page shell
//! holds no data: it is served to every authenticated user ([`MapPage`]); what it shows comes
//! from the graph and from the access reviews, each authorized as the reader.
//!
//! [`page`] also writes the self-contained file of `kubeward map`: the same page with its
//! script, style and graph inline, and a Content-Security-Policy that lets it fetch nothing.

use crate::respond::{self, Resp};
use crate::State;
use api_types::{StatusError, UserInfo};
use authz::{Attributes, Authorizer, Decision};
use http::{header, HeaderValue};
use serde_json::Value;

const INDEX: &str = include_str!("../../../web/map/index.html");
const SCRIPT: &str = include_str!("../../../web/map/map.js");
const STYLE: &str = include_str!("../../../web/map/map.css");
/// Cytoscape.js, as `scripts/vendor-web` copies it from the npm package the lockfile pins.
const CYTOSCAPE: &str = include_str!("../../../web/map/vendor/cytoscape.min.js");

/// The path the page lives under.
pub const PREFIX: &str = "/map";

/// Whether a request path is the map's.
pub(crate) fn is_map_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/map/")
}

/// Lets every authenticated user `get` the page shell and its graph (what the graph holds is
/// authorized per object, as the reader). Last in the chain: RBAC may still allow it first.
pub struct MapPage;

impl Authorizer for MapPage {
    fn authorize(&self, a: &Attributes) -> Decision {
        let get = a.verb == "get" || a.verb == "head";
        if !a.resource_request
            && get
            && is_map_path(&a.path)
            && a.user.in_group("system:authenticated")
        {
            Decision::Allow("kubeward: the RBAC map's page is open to authenticated users".into())
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}

/// JSON inside a `<script>` element: `<`, `>` and `&` escaped, so no text in it (a subject
/// name is free text) can close the element or open a comment.
fn script_json(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The page: with `graph`, the self-contained file (everything inline); without, the shell a
/// server serves, which loads its parts and its graph from beside it.
pub fn page(graph: Option<&Value>) -> String {
    let (head, scripts) = match graph {
        None => (
            r#"<link rel="stylesheet" href="map.css">"#.to_string(),
            r#"<script src="cytoscape.min.js"></script>
<script src="map.js"></script>"#
                .to_string(),
        ),
        Some(g) => (
            format!(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
                 script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n\
                 <style>\n{STYLE}</style>"
            ),
            format!(
                "<script type=\"application/json\" id=\"kubeward-graph\">{}</script>\n\
                 <script>\n{CYTOSCAPE}\n</script>\n<script>\n{SCRIPT}</script>",
                script_json(g)
            ),
        ),
    };
    INDEX
        .replace("<!-- kubeward:head -->", &head)
        .replace("<!-- kubeward:scripts -->", &scripts)
}

/// The graph for `reader`: the RBAC objects it may list, and the audit findings whose every
/// step it may see.
pub fn graph_for(state: &State, reader: &UserInfo) -> Value {
    let policy = state.rbac.policy();
    let defaults = &state.bootstrap_bindings;
    let all = authz::rbac::audit::all_findings(&policy, &|b| defaults.has_binding(b));
    let may_list = |resource: &str, namespace: &str| {
        state
            .authorizer
            .authorize(&Attributes {
                user: reader.clone(),
                verb: "list".into(),
                resource_request: true,
                namespace: namespace.into(),
                api_group: "rbac.authorization.k8s.io".into(),
                api_version: "v1".into(),
                resource: resource.into(),
                ..Default::default()
            })
            .allowed()
    };
    authz::rbac::map::graph(&policy, &all, &may_list)
}

fn asset(content_type: &'static str, body: &'static str) -> Resp {
    let mut r = http::Response::new(crate::body::Body::full(body.as_bytes()));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Serves the page, its parts and its graph. Only `get` (and `head`) reach here.
pub(crate) fn handle(state: &State, user: &UserInfo, path: &str) -> Result<Resp, StatusError> {
    let mut resp = match path {
        // Relative links resolve under the directory, as through `kubectl proxy`.
        PREFIX => {
            let mut r = asset("text/plain; charset=utf-8", "");
            *r.status_mut() = http::StatusCode::MOVED_PERMANENTLY;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("map/"));
            r
        }
        "/map/" => {
            let mut r = http::Response::new(crate::body::Body::full(page(None).into_bytes()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        "/map/map.js" => asset("text/javascript; charset=utf-8", SCRIPT),
        "/map/map.css" => asset("text/css; charset=utf-8", STYLE),
        "/map/cytoscape.min.js" => asset("text/javascript; charset=utf-8", CYTOSCAPE),
        "/map/graph" => {
            let mut r = http::Response::new(crate::body::Body::full(respond::json_bytes(
                &graph_for(state, user),
            )));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        _ => return Err(StatusError::path_not_found()),
    };
    let h = resp.headers_mut();
    // Its own parts only: no inline script, nothing from elsewhere, not framed. (Inline
    // styles are allowed: Cytoscape.js writes style attributes on the elements it draws in.)
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The graph is the reader's own view of the policy: never kept by a shared cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let g = json!({"subjects": [{"name": "</script><script>alert(1)</script><!--&"}]});
        let file = page(Some(&g));
        let start = file.find("id=\"kubeward-graph\">").unwrap();
        let end = start + file[start..].find("</script>").unwrap();
        let embedded = &file[start + "id=\"kubeward-graph\">".len()..end];
        assert!(!embedded.contains('<') && !embedded.contains('>'));
        let back: Value = serde_json::from_str(embedded).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn the_file_is_self_contained_and_the_shell_holds_no_data() {
        let file = page(Some(&json!({})));
        assert!(!file.contains("src=\""));
        assert!(file
            .split("href=\"")
            .skip(1)
            .all(|h| h.starts_with("data:")));
        assert!(file.contains("default-src 'none'"));
        let shell = page(None);
        assert!(!shell.contains("kubeward-graph\">"));
        assert!(shell.contains("<script src=\"map.js\">"));
    }

    #[test]
    fn the_page_is_open_to_authenticated_users_only() {
        let ask = |user: UserInfo, verb: &str, path: &str| {
            MapPage
                .authorize(&Attributes {
                    user,
                    verb: verb.into(),
                    path: path.into(),
                    ..Default::default()
                })
                .allowed()
        };
        let alice = UserInfo::authenticated("alice", &[]);
        assert!(ask(alice.clone(), "get", "/map/"));
        assert!(ask(alice.clone(), "get", "/map/graph"));
        assert!(!ask(alice.clone(), "get", "/mapping"));
        assert!(!ask(alice.clone(), "post", "/map/graph"));
        let anonymous = UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..Default::default()
        };
        assert!(!ask(anonymous, "get", "/map/"));
    }
}
