//! RBAC from a running server, reached as kubectl reaches it ([`crate::kubeconfig`]): the four
//! RBAC resources are listed (in pages, as `kubectl get` does) and fed to the same engine the
//! server's authorizer uses. Any Kubernetes API server answers these lists, not only
//! kubeward; the caller needs `list` on roles, clusterroles, rolebindings and
//! clusterrolebindings cluster-wide.

use crate::kubeconfig::{KubeconfigError, Target};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use registry::{kinds, ResourceDef};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the server's policy could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OnlineError {
    /// The kubeconfig names no usable server.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The server address is not a URL this client can reach.
    #[error("the server {0:?}: {1}")]
    Url(String, String),
    /// The TLS settings (CA, client certificate) are not usable.
    #[error("TLS settings of context {0:?}: {1}")]
    Tls(String, String),
    /// The connection failed or timed out.
    #[error("connecting to {0}: {1}")]
    Connect(String, String),
    /// The server answered with an error Status (kubectl's words for it).
    #[error("{what}: Error from server ({reason}): {message}")]
    Refused {
        /// What was asked (`listing roles.rbac.authorization.k8s.io`).
        what: String,
        /// The Status's reason, or the HTTP status text.
        reason: String,
        /// The Status's message.
        message: String,
    },
    /// The answer was not what was asked for (a list, JSON, an audit event).
    #[error("{0}: {1}")]
    Body(String, String),
}

/// No wait for the server (a connection, an answer, its next chunk) is longer than this
/// (kubectl has no default; a command should not hang).
const TIMEOUT: Duration = Duration::from_secs(60);
/// The largest JSON answer read (a page of 500 RBAC objects is a few MiB at most).
const MAX_JSON: usize = 256 << 20;
/// What of an error answer is read for its Status.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Items per page, as `kubectl get`'s `--chunk-size` default.
const PAGE: usize = 500;
/// Debian's bundle of public CAs: the trust for a cluster whose kubeconfig names none.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One connection to the API server, with the user's credentials.
pub(crate) struct Api {
    sender: Sender,
    host: String,
    prefix: String,
    authorization: Option<String>,
}

fn tls_config(t: &Target) -> Result<rustls::ClientConfig, OnlineError> {
    let err = |e: String| OnlineError::Tls(t.context.clone(), e);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?;
    let builder = if t.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let pem = match &t.ca {
            Some(ca) => ca.read()?,
            None => std::fs::read(SYSTEM_ROOTS).map_err(|e| {
                err(format!(
                    "no certificate-authority, and the system's CAs ({SYSTEM_ROOTS}): {e}"
                ))
            })?,
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&pem) {
            let c = c.map_err(|e| err(format!("certificate-authority: {e}")))?;
            roots
                .add(c)
                .map_err(|e| err(format!("certificate-authority: {e}")))?;
        }
        if roots.is_empty() {
            return Err(err("certificate-authority holds no certificate".into()));
        }
        builder.with_root_certificates(roots)
    };
    let mut cfg = match &t.client_cert {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(&cert.read()?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(format!("client-certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(&key.read()?)
                .map_err(|e| err(format!("client-key: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| err(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// `insecure-skip-tls-verify`: any server certificate is taken (its handshake signature is
/// still checked, so the session is with the holder of its key).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Api {
    /// Connects to the target's server (TLS for `https://`), bounded by [`TIMEOUT`].
    pub(crate) async fn connect(t: &Target) -> Result<Api, OnlineError> {
        let bad = |e: &str| OnlineError::Url(t.server.clone(), e.to_string());
        let uri: http::Uri = t.server.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be https or http")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?.to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let authority = uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or(host.clone());
        let connect_err = |e: String| OnlineError::Connect(t.server.clone(), e);
        let tcp = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((bare.as_str(), port)),
        )
        .await
        .map_err(|_| connect_err("timed out".into()))?
        .map_err(|e| connect_err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let sender = if tls {
            let name = t.tls_server_name.clone().unwrap_or(bare);
            let name = ServerName::try_from(name)
                .map_err(|e| OnlineError::Tls(t.context.clone(), e.to_string()))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(t)?));
            let stream = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| connect_err("the TLS handshake timed out".into()))?
                .map_err(|e| connect_err(e.to_string()))?;
            handshake(TokioIo::new(stream)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
        .map_err(connect_err)?;
        let authorization = match (&t.token, &t.basic) {
            (Some(token), _) => {
                let token = String::from_utf8_lossy(&token.read()?).trim().to_string();
                Some(format!("Bearer {token}"))
            }
            (None, Some((user, password))) => {
                use base64::Engine;
                let pair = format!("{user}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, None) => None,
        };
        Ok(Api {
            sender,
            host: authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
            authorization,
        })
    }

    /// `GET path`, its body handed to `on_chunk` as it arrives (never held whole here); a
    /// non-2xx answer is an error carrying the Status's reason and message. No wait for the
    /// server (the answer's head, or its next chunk) is longer than [`TIMEOUT`]. `what` names
    /// the request in errors; an error from `on_chunk` ends the request with it.
    pub(crate) async fn stream(
        &mut self,
        path: &str,
        what: &str,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), OnlineError> {
        let mut req = http::Request::get(format!("{}{path}", self.prefix))
            .header(http::header::HOST, &self.host)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("kubeward/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(a) = &self.authorization {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| OnlineError::Body(what.into(), e.to_string()))?;
        let host = self.host.clone();
        let fail = |e: String| OnlineError::Connect(host.clone(), e);
        let late = || fail("no answer in time".into());
        let head = async {
            self.sender.ready().await.map_err(|e| e.to_string())?;
            self.sender
                .send_request(req)
                .await
                .map_err(|e| e.to_string())
        };
        let resp = tokio::time::timeout(TIMEOUT, head)
            .await
            .map_err(|_| late())?
            .map_err(fail)?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut error_body = Vec::new();
        loop {
            let frame = tokio::time::timeout(TIMEOUT, body.frame())
                .await
                .map_err(|_| late())?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| fail(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if status.is_success() {
                on_chunk(&data).map_err(|e| OnlineError::Body(what.into(), e))?;
            } else {
                error_body.extend_from_slice(&data);
                if error_body.len() >= MAX_ERROR_BODY {
                    // Enough for a Status; the rest is not waited for.
                    break;
                }
            }
        }
        if status.is_success() {
            return Ok(());
        }
        let value: Option<Value> = serde_json::from_slice(&error_body).ok();
        let field = |f: &str| {
            value
                .as_ref()
                .and_then(|v| v.get(f))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Err(OnlineError::Refused {
            what: what.into(),
            reason: field("reason")
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string()),
            message: field("message")
                .unwrap_or_else(|| String::from_utf8_lossy(&error_body).trim().to_string()),
        })
    }

    /// `GET path` as JSON, at most [`MAX_JSON`] bytes of it.
    async fn get(&mut self, path: &str, what: &str) -> Result<Value, OnlineError> {
        let mut body = Vec::new();
        self.stream(path, what, &mut |chunk| {
            if body.len() + chunk.len() > MAX_JSON {
                return Err(format!("the answer is larger than {} MiB", MAX_JSON >> 20));
            }
            body.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        serde_json::from_slice(&body)
            .map_err(|_| OnlineError::Body(what.into(), "the answer is not JSON".into()))
    }

    /// Every object of `def` cluster-wide, page by page.
    pub(crate) async fn list(&mut self, def: &ResourceDef) -> Result<Vec<Value>, OnlineError> {
        let what = if def.group.is_empty() {
            format!("listing {}", def.resource)
        } else {
            format!("listing {}.{}", def.resource, def.group)
        };
        let base = if def.group.is_empty() {
            format!("/api/{}/{}", def.api_version(), def.resource)
        } else {
            format!("/apis/{}/{}", def.api_version(), def.resource)
        };
        let mut items = Vec::new();
        let mut token = String::new();
        loop {
            let mut path = format!("{base}?limit={PAGE}");
            if !token.is_empty() {
                let escaped: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
                path.push_str(&format!("&continue={escaped}"));
            }
            let mut page = self.get(&path, &what).await?;
            match page.get_mut("items").map(Value::take) {
                Some(Value::Array(got)) => items.extend(got),
                Some(Value::Null) | None => {}
                Some(_) => return Err(OnlineError::Body(what, "items is not a list".into())),
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if token.is_empty() {
                return Ok(items);
            }
        }
    }
}

async fn handshake<T>(io: T) -> Result<Sender, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// The server the kubeconfig names (`kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`;
/// its `context`, else the current one).
pub(crate) fn target(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Target, OnlineError> {
    let env = std::env::var_os("KUBECONFIG");
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let paths = crate::kubeconfig::files(kubeconfig, env.as_deref(), home.as_deref());
    let docs = crate::kubeconfig::read(&paths, kubeconfig.is_some())?;
    Ok(crate::kubeconfig::resolve(&docs, context)?)
}

/// The RBAC objects the server holds, as the engine's policy.
pub(crate) async fn policy(t: &Target) -> Result<authz::rbac::Policy, OnlineError> {
    let mut api = Api::connect(t).await?;
    let index = authz::rbac::Index::new();
    for def in [
        &kinds::CLUSTER_ROLES,
        &kinds::ROLES,
        &kinds::CLUSTER_ROLE_BINDINGS,
        &kinds::ROLE_BINDINGS,
    ] {
        for obj in api.list(def).await? {
            controllers::rbac::apply(&index, def, &obj, false);
        }
    }
    Ok(index.policy())
}
