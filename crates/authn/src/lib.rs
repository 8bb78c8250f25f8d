//! Authentication as kube-apiserver's authenticator chain (`pkg/kubeapiserver/authenticator`):
//! the x509 client certificate, then bearer tokens through the token authenticators, then
//! anonymous; a presented credential that no authenticator accepts is an error (401), never
//! anonymous. Also the impersonation rules.
//!
//! Architecture invariant: no HTTP framework and no I/O. Callers pass header values and the
//! connection's certificate; the token file is parsed from text.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

pub mod cache;
pub mod impersonation;
pub mod jwt;
pub mod serviceaccount;
pub mod tokenfile;
pub mod x509;

pub use tokenfile::TokenFile;
pub use x509::user_from_certificate;

use api_types::UserInfo;

/// Why authentication failed (the text never reaches the client, which sees `Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    /// A bearer token no token authenticator accepted (`invalid bearer token`).
    #[error("invalid bearer token")]
    InvalidBearerToken,
    /// A token an authenticator recognised and refused, with its reasons (aggregated as
    /// upstream: one bare, several as `[a, b]`).
    #[error("{0}")]
    Token(String),
    /// An Authorization header with a scheme nothing here handles.
    #[error("unsupported authorization scheme")]
    UnsupportedScheme,
    /// A client certificate that does not verify against the client CAs, or that verified
    /// but cannot name a user (several UIDs, an empty one).
    #[error("{0}")]
    Certificate(String),
    /// Anonymous requests are disabled and no credential was presented.
    #[error("anonymous requests are not allowed")]
    AnonymousDisabled,
}

/// A token authenticator (static token file, service-account JWTs).
pub trait TokenAuthenticator: Send + Sync {
    /// None when the token is not this authenticator's; Some(Err) when it is and is refused.
    fn authenticate_token(&self, token: &str) -> Option<Result<UserInfo, String>>;

    /// The same for a TokenReview that names the audiences it wants (authenticators that
    /// check audiences use these instead of the API's).
    fn authenticate_token_for(
        &self,
        token: &str,
        _audiences: &[String],
    ) -> Option<Result<UserInfo, String>> {
        self.authenticate_token(token)
    }
}

/// What a request's Authorization header holds (`bearertoken.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No usable token: no header, an empty token, or `Bearer  <token>` with two spaces
    /// (which upstream ignores with a warning).
    Absent {
        /// The warning to send, for `Bearer  <token>`.
        warning: Option<&'static str>,
    },
    /// A bearer token.
    Token(&'a str),
    /// Some other scheme (Basic, ...).
    Other,
    /// A header whose bytes are not text: a credential nothing can accept.
    Unreadable,
}

/// Parses an Authorization header value as upstream: trimmed, split on single spaces,
/// scheme case-insensitive.
pub fn parse_bearer(header: Option<&[u8]>) -> Bearer<'_> {
    let Some(h) = header else {
        return Bearer::Absent { warning: None };
    };
    let Ok(h) = std::str::from_utf8(h) else {
        return Bearer::Unreadable;
    };
    let h = h.trim();
    if h.is_empty() {
        return Bearer::Absent { warning: None };
    }
    let mut parts = h.splitn(3, ' ');
    let scheme = parts.next().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Bearer::Other;
    }
    match (parts.next(), parts.next()) {
        (Some(""), Some(_)) => Bearer::Absent {
            warning: Some("the provided Authorization header contains extra space before the bearer token, and is ignored"),
        },
        (Some(t), None) if !t.is_empty() => Bearer::Token(t),
        (Some(t), Some(_)) if !t.is_empty() => Bearer::Token(t),
        _ => Bearer::Absent { warning: None },
    }
}

/// `AuthenticatedGroupAdder`: `system:authenticated` at the end, unless anonymous or already
/// marked either way.
pub fn add_authenticated_group(mut u: UserInfo) -> UserInfo {
    if u.name != "system:anonymous"
        && !u.in_group("system:authenticated")
        && !u.in_group("system:unauthenticated")
    {
        u.groups.push("system:authenticated".into());
    }
    u
}

/// Runs a bearer token through the token authenticators in order.
pub fn authenticate_token(
    token: &str,
    authenticators: &[&dyn TokenAuthenticator],
) -> Result<UserInfo, AuthnError> {
    authenticate_token_for(token, authenticators, None)
}

/// The same, for the audiences a TokenReview names (None: the API's). The first acceptance
/// wins; refusals are aggregated as upstream's union does (one bare, several as `[a, b]`).
pub fn authenticate_token_for(
    token: &str,
    authenticators: &[&dyn TokenAuthenticator],
    audiences: Option<&[String]>,
) -> Result<UserInfo, AuthnError> {
    let mut errors = Vec::new();
    for a in authenticators {
        let r = match audiences {
            Some(aud) => a.authenticate_token_for(token, aud),
            None => a.authenticate_token(token),
        };
        match r {
            Some(Ok(u)) => return Ok(add_authenticated_group(u)),
            Some(Err(e)) => errors.push(e),
            None => {}
        }
    }
    match errors.len() {
        0 => Err(AuthnError::InvalidBearerToken),
        1 => Err(AuthnError::Token(errors.remove(0))),
        _ => Err(AuthnError::Token(format!("[{}]", errors.join(", ")))),
    }
}

/// The whole chain for one request, as upstream's union: the x509 authenticator's answer
/// (`cert`: None when it does not apply), then the Authorization header (through `token`, the
/// token authenticators with their cache), then anonymous only if nothing failed
/// (`union.NewFailOnError`). A certificate that failed does not stop a good token, as in the
/// union; with no token it is the error. Returns the user and any warning to send.
pub fn authenticate(
    cert: Option<&Result<UserInfo, AuthnError>>,
    authorization: Option<&[u8]>,
    token: &dyn Fn(&str) -> Result<UserInfo, AuthnError>,
    anonymous: bool,
) -> (Result<UserInfo, AuthnError>, Option<&'static str>) {
    let cert_error = match cert {
        Some(Ok(u)) => return (Ok(u.clone()), None),
        Some(Err(e)) => Some(e.clone()),
        None => None,
    };
    let (bearer, warning) = match parse_bearer(authorization) {
        Bearer::Token(t) => (Some(token(t)), None),
        Bearer::Other => (Some(Err(AuthnError::UnsupportedScheme)), None),
        Bearer::Unreadable => (Some(Err(AuthnError::InvalidBearerToken)), None),
        Bearer::Absent { warning } => (None, warning),
    };
    let r = match (bearer, cert_error) {
        (Some(Ok(u)), _) => Ok(u),
        (Some(Err(e)), None) => Err(e),
        (Some(Err(e)), Some(c)) => Err(AuthnError::Token(format!("[{c}, {e}]"))),
        (None, Some(c)) => Err(c),
        (None, None) if anonymous => Ok(UserInfo::anonymous()),
        (None, None) => Err(AuthnError::AnonymousDisabled),
    };
    (r, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_as_upstream() {
        assert_eq!(
            parse_bearer(Some("Bearer abc".as_bytes())),
            Bearer::Token("abc")
        );
        assert_eq!(
            parse_bearer(Some("bearer abc ".as_bytes())),
            Bearer::Token("abc"),
            "trailing space is trimmed"
        );
        assert_eq!(
            parse_bearer(Some("  Bearer abc".as_bytes())),
            Bearer::Token("abc")
        );
        assert!(matches!(
            parse_bearer(Some("Bearer  abc".as_bytes())),
            Bearer::Absent { warning: Some(_) }
        ));
        assert!(matches!(
            parse_bearer(Some("Bearer".as_bytes())),
            Bearer::Absent { warning: None }
        ));
        assert_eq!(
            parse_bearer(Some("Basic dXNlcjpwYXNz".as_bytes())),
            Bearer::Other
        );
        assert!(matches!(
            parse_bearer(None),
            Bearer::Absent { warning: None }
        ));
    }

    #[test]
    fn a_refused_token_is_an_error_never_anonymous() {
        let none = |t: &str| authenticate_token(t, &[]);
        let (r, _) = authenticate(None, Some(b"Bearer nope"), &none, true);
        assert_eq!(r, Err(AuthnError::InvalidBearerToken));
        let (r, _) = authenticate(None, None, &none, true);
        assert_eq!(r.unwrap().name, "system:anonymous");
        let (r, _) = authenticate(None, None, &none, false);
        assert_eq!(r, Err(AuthnError::AnonymousDisabled));
        // A token that is not text is a presented credential: 401, not anonymous.
        let (r, _) = authenticate(None, Some(b"Bearer t\xf8k"), &none, true);
        assert_eq!(r, Err(AuthnError::InvalidBearerToken));
    }

    #[test]
    fn a_failed_certificate_is_the_error_unless_a_token_succeeds() {
        let alice = UserInfo {
            name: "alice".into(),
            ..Default::default()
        };
        let good = |_: &str| Ok(alice.clone());
        let none = |t: &str| authenticate_token(t, &[]);
        let bad_cert = Err(AuthnError::Certificate("expired".into()));
        let (r, _) = authenticate(Some(&bad_cert), None, &none, true);
        assert_eq!(r, bad_cert, "never anonymous");
        let (r, _) = authenticate(Some(&bad_cert), Some(b"Bearer t"), &good, true);
        assert_eq!(r.unwrap().name, "alice", "the union goes on to the token");
        let (r, _) = authenticate(Some(&bad_cert), Some(b"Bearer t"), &none, true);
        assert_eq!(
            r,
            Err(AuthnError::Token("[expired, invalid bearer token]".into()))
        );
        let cert_user = Ok(UserInfo {
            name: "cn".into(),
            ..Default::default()
        });
        let (r, _) = authenticate(Some(&cert_user), Some(b"Bearer t"), &good, true);
        assert_eq!(r.unwrap().name, "cn", "x509 comes first");
    }

    #[test]
    fn authenticated_group_is_added_once() {
        let u = add_authenticated_group(UserInfo {
            name: "u".into(),
            groups: vec!["a".into()],
            ..Default::default()
        });
        assert_eq!(u.groups, ["a", "system:authenticated"]);
        assert_eq!(add_authenticated_group(u.clone()).groups, u.groups);
        assert_eq!(
            add_authenticated_group(UserInfo::anonymous()).groups,
            ["system:unauthenticated"]
        );
    }
}
