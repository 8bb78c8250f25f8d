//! x509 client certificates (`authentication/request/x509/x509.go`, CommonNameUserConversion).
//! The TLS layer has already verified the chain against the client CA.

use api_types::UserInfo;
use std::collections::BTreeMap;

/// CN → user, O → groups (in order), the X.500 UID attribute → uid (feature
/// `AllowParsingUserUIDFromCertAuth`, on in 1.33), the certificate's SHA-256 as credential id,
/// and `system:authenticated`. `Ok(None)` when the certificate has no CN (not authenticated
/// by x509); an error, which fails authentication, for a malformed UID.
pub fn user_from_certificate(der: &[u8]) -> Result<Option<UserInfo>, crate::AuthnError> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Ok(None);
    };
    let Some(user) = user_from_parsed(&cert, der) else {
        return Ok(None);
    };
    Ok(Some(UserInfo {
        uid: uid_of(&cert)?,
        ..user
    }))
}

/// The UID attribute (OID 0.9.2342.19200300.100.1.1): at most one, never empty.
fn uid_of(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<String, crate::AuthnError> {
    let uids: Vec<String> = cert
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_USERID)
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    match uids.as_slice() {
        [] => Ok(String::new()),
        [one] if one.is_empty() => Err(crate::AuthnError::Certificate(
            "UID cannot be an empty string".into(),
        )),
        [one] => Ok(one.clone()),
        many => Err(crate::AuthnError::Certificate(format!(
            "expected 1 UID, but found multiple: {many:?}"
        ))),
    }
}

fn user_from_parsed(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    der: &[u8],
) -> Option<UserInfo> {
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
    let groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut extra = BTreeMap::new();
    extra.insert(
        "authentication.kubernetes.io/credential-id".to_string(),
        vec![format!("X509SHA256={hex}")],
    );
    Some(crate::add_authenticated_group(UserInfo {
        name,
        uid: String::new(),
        groups,
        extra,
    }))
}
