//! Authorization until the RBAC issue lands: `system:masters` may do anything (as upstream's
//! privileged-group authorizer), everyone may read the health and version endpoints
//! (`system:public-info-viewer`), authenticated users may read discovery and OpenAPI
//! (`system:discovery`); everything else is refused with upstream's Forbidden message.

use api_types::{GroupResource, StatusError, UserInfo};
use request_info::RequestInfo;

/// Allow, deny, or (for a chain) no opinion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    #[allow(
        dead_code,
        reason = "no authorizer denies yet; RBAC never does, webhooks and Node may"
    )]
    Deny(String),
    NoOpinion,
}

fn path_matches(path: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p,
    })
}

/// The decision for one request.
pub fn authorize(user: &UserInfo, info: &RequestInfo) -> Decision {
    if user.in_group("system:masters") {
        return Decision::Allow;
    }
    if !info.is_resource_request && info.verb == "get" {
        let public = [
            "/healthz",
            "/healthz/*",
            "/livez",
            "/livez/*",
            "/readyz",
            "/readyz/*",
            "/version",
            "/version/",
        ];
        if path_matches(&info.path, &public) {
            return Decision::Allow;
        }
        let discovery = [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/openapi",
            "/openapi/*",
        ];
        if user.in_group("system:authenticated") && path_matches(&info.path, &discovery) {
            return Decision::Allow;
        }
    }
    Decision::NoOpinion
}

/// `responsewriters.Forbidden`: the 403 for a request no authorizer allowed.
pub fn forbidden(user: &UserInfo, info: &RequestInfo, reason: &str) -> StatusError {
    let msg = if !info.is_resource_request {
        format!(
            "User {:?} cannot {} path {:?}",
            user.name, info.verb, info.path
        )
    } else {
        let mut resource = info.resource.clone();
        if !info.subresource.is_empty() {
            resource = format!("{resource}/{}", info.subresource);
        }
        if info.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                user.name, info.verb, resource, info.api_group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                user.name, info.verb, resource, info.api_group, info.namespace
            )
        }
    };
    let msg = if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    };
    let gr = GroupResource::new(&info.api_group, &info.resource);
    StatusError::forbidden(&gr, &info.name, &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_match_upstream() {
        let sa = UserInfo {
            name: "system:serviceaccount:default:default".into(),
            ..Default::default()
        };
        let info = request_info::parse("GET", "/api/v1/pods", "").unwrap();
        // The tutorial's message, byte for byte.
        assert_eq!(
            forbidden(&sa, &info, "").message,
            r#"pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" at the cluster scope"#
        );
        let info = request_info::parse("GET", "/api/v1/namespaces/b/pods/web/log", "").unwrap();
        assert_eq!(
            forbidden(&sa, &info, "").message,
            r#"pods "web" is forbidden: User "system:serviceaccount:default:default" cannot get resource "pods/log" in API group "" in the namespace "b""#
        );
        let info = request_info::parse("GET", "/api", "").unwrap();
        assert_eq!(
            forbidden(&UserInfo::anonymous(), &info, "").message,
            r#"forbidden: User "system:anonymous" cannot get path "/api""#
        );
    }

    #[test]
    fn decisions() {
        let anon = UserInfo::anonymous();
        let admin = UserInfo {
            name: "kubeward-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            ..Default::default()
        };
        let get = |p: &str| request_info::parse("GET", p, "").unwrap();
        assert_eq!(authorize(&anon, &get("/version")), Decision::Allow);
        assert_eq!(authorize(&anon, &get("/readyz")), Decision::Allow);
        assert_eq!(authorize(&anon, &get("/api")), Decision::NoOpinion);
        assert_eq!(authorize(&anon, &get("/api/v1/pods")), Decision::NoOpinion);
        assert_eq!(authorize(&admin, &get("/api/v1/pods")), Decision::Allow);
    }
}
