//! The authorization step of the chain: request info → attributes for the authorizer chain
//! (`system:masters`, then RBAC), and upstream's Forbidden message when nobody allows.

use api_types::{GroupResource, StatusError, UserInfo};
use authz::Attributes;
use request_info::RequestInfo;

/// `authorizer.AttributesRecord` for a request.
pub(crate) fn attributes(user: &UserInfo, info: &RequestInfo) -> Attributes {
    Attributes {
        user: user.clone(),
        verb: info.verb.clone(),
        resource_request: info.is_resource_request,
        namespace: info.namespace.clone(),
        api_group: info.api_group.clone(),
        api_version: info.api_version.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        name: info.name.clone(),
        path: info.path.clone(),
        field_selector: info.field_selector.clone(),
    }
}

/// A WebSocket upgrade to `pods/exec`, `pods/attach` or `pods/portforward` arrives as a GET,
/// and is authorized as `create` (kube-apiserver 1.31+, `AuthorizePodWebsocketUpgradeCreatePermission`,
/// on by default): the same verb SPDY's POST needs, so a role that may only read pods/exec
/// cannot open a shell.
pub(crate) fn websocket_upgrade_is_create(a: &mut Attributes, headers: &http::HeaderMap) {
    let websocket = headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if websocket
        && a.verb == "get"
        && a.api_group.is_empty()
        && a.resource == registry::kinds::PODS.resource
        && matches!(a.subresource.as_str(), "exec" | "attach" | "portforward")
    {
        a.verb = "create".into();
    }
}

/// `--explain-forbidden`: the one-line hint a 403 carries, for a caller allowed to read its own
/// rules (`create selfsubjectrulesreviews`, which every authenticated user holds by
/// `system:basic-user`), naming a binding only when the caller may `get` it. None when the
/// caller may not have one. The explanation walks the part of the RBAC policy that names the
/// caller (`Index::policy_for`): its cost is in the caller's bindings, not every binding.
pub(crate) fn explain_forbidden(
    authorizer: &dyn authz::Authorizer,
    index: &authz::rbac::Index,
    a: &Attributes,
) -> Option<String> {
    let may = |verb: &str, group: &str, resource: &str, namespace: &str, name: &str| {
        authorizer
            .authorize(&Attributes {
                user: a.user.clone(),
                verb: verb.into(),
                resource_request: true,
                namespace: namespace.into(),
                api_group: group.into(),
                resource: resource.into(),
                name: name.into(),
                ..Default::default()
            })
            .allowed()
    };
    if !may(
        "create",
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "",
        "",
    ) {
        return None;
    }
    let explanation = authz::rbac::explain::explain(&index.policy_for(&a.user), a);
    let can_see = |v: &authz::rbac::explain::Via| {
        if v.binding_namespace.is_empty() {
            may(
                "get",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                "",
                &v.binding_name,
            )
        } else {
            may(
                "get",
                "rbac.authorization.k8s.io",
                "rolebindings",
                &v.binding_namespace,
                &v.binding_name,
            )
        }
    };
    Some(authz::rbac::explain::hint(a, &explanation, &can_see))
}

/// Go's `html.EscapeString` subset that `forbiddenMessage` applies to `&`, `<`, `>`.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `responsewriters.Forbidden`: the 403 for a request no authorizer allowed.
pub(crate) fn forbidden(a: &Attributes, reason: &str) -> StatusError {
    let msg = if !a.resource_request {
        format!("User {:?} cannot {} path {:?}", a.user.name, a.verb, a.path)
    } else {
        let mut resource = a.resource.clone();
        if !a.subresource.is_empty() {
            resource = format!("{resource}/{}", a.subresource);
        }
        if a.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                a.user.name, a.verb, resource, a.api_group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                a.user.name, a.verb, resource, a.api_group, a.namespace
            )
        }
    };
    let msg = escape(&msg);
    let msg = if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    };
    StatusError::forbidden(
        &GroupResource::new(&a.api_group, &a.resource),
        &a.name,
        &msg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(user: &str, method: &str, path: &str, want: &str) {
        let u = UserInfo {
            name: user.into(),
            ..Default::default()
        };
        let info = request_info::parse(method, path, "").unwrap();
        assert_eq!(forbidden(&attributes(&u, &info), "").message, want);
    }

    #[test]
    fn forbidden_messages_match_upstream() {
        // The tutorial's message, byte for byte.
        check(
            "system:serviceaccount:default:default",
            "GET",
            "/api/v1/pods",
            r#"pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" at the cluster scope"#,
        );
        check(
            "jane",
            "GET",
            "/api/v1/namespaces/prod/pods/web-0/log",
            r#"pods "web-0" is forbidden: User "jane" cannot get resource "pods/log" in API group "" in the namespace "prod""#,
        );
        check(
            "system:anonymous",
            "GET",
            "/api",
            r#"forbidden: User "system:anonymous" cannot get path "/api""#,
        );
        check(
            "jane",
            "POST",
            "/apis/apps/v1/namespaces/prod/deployments",
            r#"deployments.apps is forbidden: User "jane" cannot create resource "deployments" in API group "apps" in the namespace "prod""#,
        );
        check(
            "a<b>&c",
            "GET",
            "/x",
            r#"forbidden: User "a&lt;b&gt;&amp;c" cannot get path "/x""#,
        );
    }
}
