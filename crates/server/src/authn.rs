//! Authentication, as kube-apiserver's union authenticator: the x509 client certificate first,
//! then bearer tokens, then anonymous. A credential that is presented and not accepted is a
//! 401; it never falls back to anonymous. (Token authenticators arrive with the
//! authentication issue; until then every bearer token is refused.)

use api_types::UserInfo;
use std::collections::BTreeMap;

/// The identity a TLS connection's client certificate proves (CN → user, O → groups), as
/// `k8s.io/apiserver/pkg/authentication/request/x509` `CommonNameUserConversion`.
pub fn user_from_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    if name.is_empty() {
        return None;
    }
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    groups.push("system:authenticated".into());
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut extra = BTreeMap::new();
    extra.insert(
        "authentication.kubernetes.io/credential-id".to_string(),
        vec![format!("X509SHA256={hex}")],
    );
    Some(UserInfo {
        name,
        uid: String::new(),
        groups,
        extra,
    })
}

/// The outcome of authenticating one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Authenticated {
    User(UserInfo),
    /// A credential was presented and refused.
    Unauthorized,
}

/// Authenticates a request from its connection's certificate identity and its Authorization
/// header value.
pub fn authenticate(
    cert_user: Option<&UserInfo>,
    authorization: Option<&[u8]>,
    anonymous: bool,
) -> Authenticated {
    if let Some(u) = cert_user {
        return Authenticated::User(u.clone());
    }
    if let Some(h) = authorization {
        // Upstream's bearer authenticator trims the header; "Bearer " with an empty or
        // space-prefixed token is "no token" rather than a bad one.
        let h = String::from_utf8_lossy(h);
        let h = h.trim();
        if let Some(token) = h.strip_prefix("Bearer ") {
            if !token.is_empty() && !token.starts_with(' ') {
                return Authenticated::Unauthorized;
            }
        } else if !h.is_empty() {
            // Basic and other schemes have no authenticator here.
            return Authenticated::Unauthorized;
        }
    }
    if anonymous {
        Authenticated::User(UserInfo::anonymous())
    } else {
        Authenticated::Unauthorized
    }
}
