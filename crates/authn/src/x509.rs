//! x509 client certificates (`authentication/request/x509/x509.go`, CommonNameUserConversion).
//! The TLS layer has already verified the chain against the client CA.

use api_types::UserInfo;
use std::collections::BTreeMap;

/// CN → user, O → groups (in order), the certificate's SHA-256 as credential id, and
/// `system:authenticated`. None when the certificate has no CN (not authenticated by x509).
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
