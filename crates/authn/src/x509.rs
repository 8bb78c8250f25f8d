//! x509 client certificates (`authentication/request/x509/x509.go`): the chain verified
//! against the client CAs for client authentication (`KeyUsages: [ClientAuth]`), then
//! CommonNameUserConversion. The TLS layer only requests a certificate and checks that the
//! client holds its key (Go's `tls.RequestClientCert`, as kube-apiserver configures it), so a
//! certificate that does not verify is a 401 here, never a failed handshake.

use api_types::UserInfo;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use std::collections::BTreeMap;
use std::time::Duration;
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

/// Signature algorithms a client chain may use (webpki's, over ring).
static CHAIN_ALGS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_3072_8192_SHA384,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// The certificate authorities client certificates must chain to (`--client-ca-file`; here
/// the cluster CA).
#[derive(Debug, Clone)]
pub struct ClientCAs {
    certs: Vec<CertificateDer<'static>>,
}

/// A chain that verified: who it names, and the time window in which that stays true.
#[derive(Debug, Clone)]
pub struct Verified {
    /// None when the certificate has no CN: not authenticated by x509 (no error either).
    pub user: Option<UserInfo>,
    /// The latest `notBefore` and earliest `notAfter` of the certificates sent, in seconds
    /// since the epoch.
    pub not_before: i64,
    /// See `not_before`.
    pub not_after: i64,
}

impl Verified {
    /// Whether the verification still holds at `now`.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

impl ClientCAs {
    /// The CA certificates of a PEM bundle.
    pub fn from_pem(pem: &[u8]) -> Result<ClientCAs, crate::AuthnError> {
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| crate::AuthnError::Certificate(format!("reading the client CA: {e}")))?;
        for c in &certs {
            webpki::anchor_from_trusted_cert(c).map_err(|e| {
                crate::AuthnError::Certificate(format!("the client CA is unusable: {e}"))
            })?;
        }
        Ok(ClientCAs { certs })
    }

    /// The DER-encoded subject names of the CAs (the TLS layer's `certificate_authorities`
    /// hint, as Go sends for `ClientCAs`).
    pub fn subjects(&self) -> Vec<Vec<u8>> {
        self.certs
            .iter()
            .filter_map(|c| {
                X509Certificate::from_der(c.as_ref())
                    .ok()
                    .map(|(_, p)| p.subject().as_raw().to_vec())
            })
            .collect()
    }

    /// Verifies a client's chain (leaf first; the rest are intermediates) at `now` (seconds
    /// since the epoch) and maps it to a user. An error, which fails authentication, has
    /// upstream's shape: `verifying certificate SN=..., SKID=..., AKID=... failed: ...`.
    pub fn verify(&self, chain: &[Vec<u8>], now: i64) -> Result<Verified, crate::AuthnError> {
        let Some((leaf_der, intermediates)) = chain.split_first() else {
            return Err(crate::AuthnError::Certificate(
                "no client certificate".into(),
            ));
        };
        let (_, leaf) = X509Certificate::from_der(leaf_der).map_err(|e| {
            crate::AuthnError::Certificate(format!("x509: malformed certificate: {e}"))
        })?;
        let fail = |why: String| {
            crate::AuthnError::Certificate(format!(
                "verifying certificate {} failed: {why}",
                describe(&leaf)
            ))
        };
        let mut window = (i64::MIN, i64::MAX);
        for der in chain {
            let Ok((_, c)) = X509Certificate::from_der(der) else {
                return Err(fail("x509: malformed intermediate certificate".into()));
            };
            let v = c.validity();
            window.0 = window.0.max(v.not_before.timestamp());
            window.1 = window.1.min(v.not_after.timestamp());
        }
        let secs = u64::try_from(now).unwrap_or(0);
        let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        if leaf.version() == X509Version::V1 {
            // webpki reads only v3 certificates; Go also accepts a v1 leaf (what
            // `openssl x509 -req` without extensions makes). It has no extensions, so no
            // key-usage limits: it must be signed by a CA directly and be valid now.
            self.verify_v1_leaf(&leaf, now).map_err(fail)?;
        } else {
            let anchors: Vec<TrustAnchor<'_>> = self
                .certs
                .iter()
                .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
                .collect();
            let inter: Vec<CertificateDer<'_>> = intermediates
                .iter()
                .map(|d| CertificateDer::from(d.as_slice()))
                .collect();
            let leaf_cert = CertificateDer::from(leaf_der.as_slice());
            let ee = webpki::EndEntityCert::try_from(&leaf_cert)
                .map_err(|e| fail(go_reason(&e, &leaf, now)))?;
            ee.verify_for_usage(
                CHAIN_ALGS,
                &anchors,
                &inter,
                time,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map_err(|e| fail(go_reason(&e, &leaf, now)))?;
        }
        Ok(Verified {
            user: user_from_certificate(leaf_der)?,
            not_before: window.0,
            not_after: window.1,
        })
    }

    fn verify_v1_leaf(&self, leaf: &X509Certificate<'_>, now: i64) -> Result<(), String> {
        if !validity_holds(leaf, now) {
            return Err(expired(leaf, now));
        }
        let issuer = leaf.issuer().as_raw();
        for ca in &self.certs {
            let Ok((_, ca)) = X509Certificate::from_der(ca.as_ref()) else {
                continue;
            };
            if ca.subject().as_raw() == issuer
                && leaf.verify_signature(Some(ca.public_key())).is_ok()
            {
                return Ok(());
            }
        }
        Err("x509: certificate signed by unknown authority".into())
    }
}

fn validity_holds(c: &X509Certificate<'_>, now: i64) -> bool {
    let v = c.validity();
    v.not_before.timestamp() <= now && now <= v.not_after.timestamp()
}

fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

fn expired(c: &X509Certificate<'_>, now: i64) -> String {
    let v = c.validity();
    let (rel, bound) = if now < v.not_before.timestamp() {
        ("before", v.not_before.timestamp())
    } else {
        ("after", v.not_after.timestamp())
    };
    format!(
        "x509: certificate has expired or is not yet valid: current time {} is {rel} {}",
        rfc3339(now),
        rfc3339(bound)
    )
}

/// webpki's error in the words of Go's `x509.Certificate.Verify`, where it has them.
fn go_reason(e: &webpki::Error, leaf: &X509Certificate<'_>, now: i64) -> String {
    match e {
        webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
            expired(leaf, now)
        }
        webpki::Error::UnknownIssuer => "x509: certificate signed by unknown authority".into(),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "x509: certificate specifies an incompatible key usage".into()
        }
        other => format!("x509: {other:?}"),
    }
}

/// `SN=<decimal serial>, SKID=<AA:BB..>, AKID=<..>` as upstream's error names a certificate.
fn describe(c: &X509Certificate<'_>) -> String {
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let mut skid = String::new();
    let mut akid = String::new();
    for ext in c.extensions() {
        match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => skid = hex(k.0),
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                akid = a
                    .key_identifier
                    .as_ref()
                    .map(|k| hex(k.0))
                    .unwrap_or_default();
            }
            _ => {}
        }
    }
    format!("SN={}, SKID={skid}, AKID={akid}", c.tbs_certificate.serial)
}

/// The DER SubjectPublicKeyInfo of a certificate (for checking the TLS handshake's
/// signature with the key of any certificate version).
pub fn subject_public_key_info(der: &[u8]) -> Option<Vec<u8>> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some(c.public_key().raw.to_vec())
}

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

/// A DER SubjectPublicKeyInfo as (the AlgorithmIdentifier's contents, the key's bits), the
/// two parts a signature algorithm checks.
pub fn split_spki(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    use crate::jwt::der;
    let (tag, body, rest) = der(spki)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (alg_tag, alg, rest) = der(body)?;
    let (key_tag, key, rest) = der(rest)?;
    if alg_tag != 0x30 || key_tag != 0x03 || !rest.is_empty() {
        return None;
    }
    // A BIT STRING starts with its count of unused bits, zero for keys.
    match key.split_first() {
        Some((0, bits)) => Some((alg, bits)),
        _ => None,
    }
}
