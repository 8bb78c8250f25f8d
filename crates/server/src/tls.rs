//! rustls configuration: the serving certificate, optional client certificates verified
//! against the cluster CA, ALPN h2 and http/1.1.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;

/// Why TLS could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file held no certificate or key, or a malformed one.
    #[error("reading PEM {what}")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the material.
    #[error("configuring TLS")]
    Rustls(
        #[from]
        #[source]
        rustls::Error,
    ),
    /// The client CA could not be used for verification.
    #[error("building the client certificate verifier")]
    Verifier(
        #[from]
        #[source]
        rustls::server::VerifierBuilderError,
    ),
}

/// A server config for `cert_pem`/`key_pem` that asks for (but does not require) client
/// certificates signed by `client_ca_pem`.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Pem {
            what: "serving certificate",
            source,
        })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| TlsError::Pem {
        what: "serving key",
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem) {
        roots.add(ca.map_err(|source| TlsError::Pem {
            what: "client CA",
            source,
        })?)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
