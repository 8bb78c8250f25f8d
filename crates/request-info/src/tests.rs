//! Cases from upstream's `requestinfo_test.go`, as data through one `check` helper.

use super::*;

/// `want` is `verb prefix group version namespace resource name subresource`, `-` for empty.
fn check(method: &str, url: &str, want: &str) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let info = parse(method, path, query).unwrap();
    assert!(
        info.is_resource_request,
        "{url} should be a resource request"
    );
    let got = [
        &info.verb,
        &info.api_prefix,
        &info.api_group,
        &info.api_version,
        &info.namespace,
        &info.resource,
        &info.name,
        &info.subresource,
    ]
    .iter()
    .map(|s| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    })
    .collect::<Vec<_>>()
    .join(" ");
    assert_eq!(got, want, "{method} {url}");
}

fn check_non_resource(method: &str, url: &str, verb: &str) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let info = parse(method, path, query).unwrap();
    assert!(
        !info.is_resource_request,
        "{url} should be a non-resource request"
    );
    assert_eq!(info.verb, verb);
}

#[test]
fn resource_requests() {
    check(
        "GET",
        "/api/v1/namespaces",
        "list api - v1 - namespaces - -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other",
        "get api - v1 other namespaces other -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other/pods/foo",
        "get api - v1 other pods foo -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other/pods",
        "list api - v1 other pods - -",
    );
    check("GET", "/api/v1/pods", "list api - v1 - pods - -");
    check(
        "HEAD",
        "/api/v1/namespaces/other/pods/foo",
        "get api - v1 other pods foo -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other/pods?watch=true",
        "watch api - v1 other pods - -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other/pods?watch=false",
        "list api - v1 other pods - -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other/pods?watch=1",
        "watch api - v1 other pods - -",
    );
    check(
        "GET",
        "/api/v1/watch/namespaces/other/pods",
        "watch api - v1 other pods - -",
    );
    check("GET", "/api/v1/watch/pods", "watch api - v1 - pods - -");
    check(
        "POST",
        "/api/v1/namespaces/other/pods",
        "create api - v1 other pods - -",
    );
    check(
        "PUT",
        "/api/v1/namespaces/other/pods/foo",
        "update api - v1 other pods foo -",
    );
    check(
        "PATCH",
        "/api/v1/namespaces/other/pods/foo",
        "patch api - v1 other pods foo -",
    );
    check(
        "DELETE",
        "/api/v1/namespaces/other/pods/foo",
        "delete api - v1 other pods foo -",
    );
    check(
        "DELETE",
        "/api/v1/namespaces/other/pods",
        "deletecollection api - v1 other pods - -",
    );
    check(
        "GET",
        "/api/v1/namespaces/other/pods/foo/log",
        "get api - v1 other pods foo log",
    );
    check(
        "PUT",
        "/api/v1/namespaces/other/finalize",
        "update api - v1 other namespaces other finalize",
    );
    check(
        "PUT",
        "/api/v1/namespaces/other/status",
        "update api - v1 other namespaces other status",
    );
    check(
        "POST",
        "/api/v1/namespaces/ns/serviceaccounts/sa/token",
        "create api - v1 ns serviceaccounts sa token",
    );
    check(
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles/r",
        "get apis rbac.authorization.k8s.io v1 a roles r -",
    );
    check(
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "list apis rbac.authorization.k8s.io v1 - clusterroles - -",
    );
    // A field selector that pins metadata.name names the object, as upstream (for RBAC on lists).
    check(
        "GET",
        "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb-0&watch=true",
        "watch api - v1 default pods web-0 -",
    );
    check(
        "GET",
        "/api/v1/namespaces/default/pods?fieldSelector=metadata.name!%3Dweb-0",
        "list api - v1 default pods - -",
    );
}

#[test]
fn non_resource_requests() {
    check_non_resource("GET", "/api", "get");
    check_non_resource("GET", "/api/v1", "get");
    check_non_resource("GET", "/apis", "get");
    check_non_resource("GET", "/apis/rbac.authorization.k8s.io", "get");
    check_non_resource("GET", "/apis/rbac.authorization.k8s.io/v1", "get");
    check_non_resource("GET", "/version", "get");
    check_non_resource("POST", "/healthz", "post");
    check_non_resource("GET", "/", "get");
}

#[test]
fn watch_prefix_without_kind_is_an_error() {
    assert!(parse("GET", "/api/v1/watch", "").is_err());
    assert!(parse("GET", "/apis/g/v1/watch", "").is_err());
}

#[test]
fn an_escaped_slash_separates_segments_as_in_go() {
    // Go decodes the path before RequestInfoFactory splits it (found by the request_path fuzz
    // target: `po%2Fds` was one resource named with a slash).
    check(
        "GET",
        "/api/v1/namespaces/ns/secrets/a%2Fb",
        "get api - v1 ns secrets a b",
    );
    check(
        "GET",
        "/api/v1/namespaces/ns%2Fsecrets",
        "list api - v1 ns secrets - -",
    );
    check(
        "GET",
        "/api/v1/namespaces/ns/po%2Fds/p/proxy/a/b",
        "get api - v1 ns po ds p",
    );
}
