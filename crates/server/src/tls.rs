//! rustls configuration: the serving certificate, ALPN h2 and http/1.1, and client
//! certificates requested but not verified here, as kube-apiserver's `tls.RequestClientCert`:
//! the handshake proves the client holds the certificate's key, and the x509 authenticator
//! verifies the chain per request, so a bad certificate is a 401 with a reason, not a failed
//! handshake, and an X.509 v1 certificate from the cluster CA works as with Go.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::pki_types::{SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// Why TLS could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file held no certificate or key, or a malformed one.
    #[error("reading PEM {what}")]
    Pem {
        /// Which file's contents.
        what: &'static str,
        #[source]
        /// What was wrong with it.
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the material.
    #[error("configuring TLS")]
    Rustls(
        #[from]
        #[source]
        rustls::Error,
    ),
    /// The client CA could not be read.
    #[error("reading the client CA")]
    ClientCa(
        #[from]
        #[source]
        authn::AuthnError,
    ),
}

/// A server config for `cert_pem`/`key_pem` that asks for (but does not require) client
/// certificates, naming `cas` (the ones the x509 authenticator verifies against) as the
/// acceptable issuers.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    cas: &authn::x509::ClientCAs,
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
    let verifier = RequestClientCert {
        hints: cas
            .subjects()
            .into_iter()
            .map(DistinguishedName::from)
            .collect(),
        algs: provider.signature_verification_algorithms,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Go's `tls.RequestClientCert`: any certificate is taken (the authenticator judges it), but
/// the handshake signature must verify with its public key, so a client cannot present a
/// certificate whose key it lacks.
#[derive(Debug)]
struct RequestClientCert {
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
}

impl RequestClientCert {
    fn spki(cert: &CertificateDer<'_>) -> Result<Vec<u8>, rustls::Error> {
        authn::x509::subject_public_key_info(cert.as_ref()).ok_or(
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding),
        )
    }
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // rustls's own TLS 1.2 check parses the certificate with webpki (v3 only); this
        // takes the key from any version and tries the scheme's algorithms as it does.
        let spki = Self::spki(cert)?;
        let (alg_id, key) = authn::x509::split_spki(&spki).ok_or(
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding),
        )?;
        let candidates = self.algs.mapping.iter().find(|(s, _)| *s == dss.scheme);
        for alg in candidates.map(|(_, a)| *a).unwrap_or_default() {
            if alg.public_key_alg_id().as_ref() == alg_id
                && alg.verify_signature(key, message, dss.signature()).is_ok()
            {
                return Ok(HandshakeSignatureValid::assertion());
            }
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadSignature,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let spki = Self::spki(cert)?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki.as_slice()),
            dss,
            &self.algs,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
