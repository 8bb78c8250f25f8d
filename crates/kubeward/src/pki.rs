//! The data directory's PKI: a CA, a serving certificate, the admin client certificate and the
//! service-account signing key. Created on first start, reused after (so tokens and
//! kubeconfigs survive restarts); the serving certificate is re-issued when it no longer
//! covers the listen host.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Why the PKI could not be made or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PkiError {
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// rcgen could not build or parse a certificate or key.
    #[error("certificate {what}")]
    Cert {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
}

/// Paths and PEM contents of the PKI.
pub(crate) struct Pki {
    pub ca_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    /// The node agent's client certificate and key, when a node agent runs.
    pub node: Option<(String, String)>,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.into(),
            source,
        }),
    }
}

/// Writes a file readable only by its owner, atomically (temp file + rename).
fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.into(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

fn validity(params: &mut CertificateParams, years: i32) {
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
    let (y, m, d) = (now.year() as i32, now.month() as u8, now.day() as u8);
    params.not_before =
        rcgen::date_time_ymd(y, m, d.min(28)) - std::time::Duration::from_secs(86_400);
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Cert { what, source }
}

/// Subject alternative names for the serving certificate.
/// A client certificate `<stem>.crt`/`<stem>.key` in `dir` for `cn` in `orgs`, signed by the CA;
/// reused while its subject is the one asked for.
fn client_cert(
    dir: &Path,
    stem: &str,
    cn: &str,
    orgs: &[&str],
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), PkiError> {
    let (crt, key_path, subject) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
        dir.join(format!("{stem}.subject")),
    );
    let want = format!("{cn}\n{}", orgs.join("\n"));
    // The admin certificate of an earlier version has no subject file: it is kept.
    let subject_ok = read(&subject)?.is_none_or(|s| s == want);
    if let (Some(c), Some(k), true) = (read(&crt)?, read(&key_path)?, subject_ok) {
        return Ok((c, k));
    }
    let key = KeyPair::generate().map_err(cert_err("client key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    for o in orgs {
        params.distinguished_name.push(DnType::OrganizationName, *o);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    validity(&mut params, 10);
    let cert = params
        .signed_by(&key, issuer)
        .map_err(cert_err("client certificate"))?;
    write_private(&key_path, &key.serialize_pem())?;
    write_private(&crt, &cert.pem())?;
    write_private(&subject, &want)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn serving_sans(listen_host: &str) -> Vec<String> {
    let mut sans: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let unspecified = listen_host
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if !listen_host.is_empty() && !unspecified && !sans.iter().any(|s| s == listen_host) {
        sans.push(listen_host.to_string());
    }
    sans
}

fn san_types(sans: &[String]) -> Vec<SanType> {
    sans.iter()
        .filter_map(|s| match s.parse::<IpAddr>() {
            Ok(ip) => Some(SanType::IpAddress(ip)),
            Err(_) => s.as_str().try_into().ok().map(SanType::DnsName),
        })
        .collect()
}

impl Pki {
    /// Loads the PKI from `data_dir/pki`, creating what is missing.
    pub(crate) fn ensure(
        data_dir: &Path,
        listen_host: &str,
        node: Option<&str>,
    ) -> Result<Pki, PkiError> {
        let dir = data_dir.join("pki");
        crate::private_dir(&dir).map_err(|source| PkiError::Io {
            path: dir.clone(),
            source,
        })?;
        let p = |n: &str| dir.join(n);

        let (ca_pem, ca_key_pem) = match (read(&p("ca.crt"))?, read(&p("ca.key"))?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let key = KeyPair::generate().map_err(cert_err("CA key"))?;
                let mut params = CertificateParams::default();
                params
                    .distinguished_name
                    .push(DnType::CommonName, "kubeward-ca");
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                validity(&mut params, 10);
                let cert = params.self_signed(&key).map_err(cert_err("CA"))?;
                write_private(&p("ca.key"), &key.serialize_pem())?;
                write_private(&p("ca.crt"), &cert.pem())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(cert_err("CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(cert_err("CA"))?;

        let sans = serving_sans(listen_host);
        let sans_file = p("apiserver.sans");
        let serving = match (
            read(&p("apiserver.crt"))?,
            read(&p("apiserver.key"))?,
            read(&sans_file)?,
        ) {
            (Some(c), Some(k), Some(s))
                if s.lines().map(str::to_string).collect::<Vec<_>>() == sans =>
            {
                (c, k)
            }
            _ => {
                let key = KeyPair::generate().map_err(cert_err("serving key"))?;
                let mut params = CertificateParams::default();
                params
                    .distinguished_name
                    .push(DnType::CommonName, "kube-apiserver");
                params.subject_alt_names = san_types(&sans);
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                validity(&mut params, 10);
                let cert = params
                    .signed_by(&key, &issuer)
                    .map_err(cert_err("serving"))?;
                write_private(&p("apiserver.key"), &key.serialize_pem())?;
                write_private(&p("apiserver.crt"), &cert.pem())?;
                write_private(&sans_file, &sans.join("\n"))?;
                (cert.pem(), key.serialize_pem())
            }
        };

        let admin = client_cert(
            &dir,
            "admin",
            "kubeward-admin",
            &["system:masters"],
            &issuer,
        )?;
        // The node agent's credential, as a kubelet's after TLS bootstrap
        // (`system:node:<name>` in `system:nodes`): the agent acts as this identity in process;
        // `kubelet.kubeconfig` lets anyone holding it act as the node over TLS.
        let node = match node {
            Some(name) => Some(client_cert(
                &dir,
                "kubelet",
                &format!("system:node:{name}"),
                &["system:nodes"],
                &issuer,
            )?),
            None => None,
        };

        // The service-account signing key (ES256), used by the token issue.
        if read(&p("sa.key"))?.is_none() {
            let key = KeyPair::generate().map_err(cert_err("service-account key"))?;
            write_private(&p("sa.key"), &key.serialize_pem())?;
            write_private(&p("sa.pub"), &key.public_key_pem())?;
        }

        Ok(Pki {
            ca_pem,
            serving_cert_pem: serving.0,
            serving_key_pem: serving.1,
            admin_cert_pem: admin.0,
            admin_key_pem: admin.1,
            node,
        })
    }

    /// Writes `admin.kubeconfig` for `server_url` with the admin client certificate embedded.
    pub(crate) fn write_admin_kubeconfig(
        &self,
        path: &Path,
        server_url: &str,
    ) -> Result<(), PkiError> {
        self.write_kubeconfig(
            path,
            server_url,
            "kubeward-admin",
            &self.admin_cert_pem,
            &self.admin_key_pem,
        )
    }

    /// Writes `kubelet.kubeconfig` (the node agent's credential), when there is a node.
    pub(crate) fn write_node_kubeconfig(
        &self,
        path: &Path,
        server_url: &str,
    ) -> Result<(), PkiError> {
        match &self.node {
            Some((cert, key)) => self.write_kubeconfig(path, server_url, "kubelet", cert, key),
            None => Ok(()),
        }
    }

    fn write_kubeconfig(
        &self,
        path: &Path,
        server_url: &str,
        user: &str,
        cert: &str,
        key: &str,
    ) -> Result<(), PkiError> {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubeward\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: kubeward\n  context:\n    cluster: kubeward\n    user: {user}\n    namespace: default\ncurrent-context: kubeward\npreferences: {{}}\n",
            b64(&self.ca_pem),
            b64(cert),
            b64(key),
        );
        write_private(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("kubeward-pki-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = Pki::ensure(&dir, "127.0.0.1", None).unwrap();
        let b = Pki::ensure(&dir, "127.0.0.1", None).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.admin_cert_pem, b.admin_cert_pem);
        assert_eq!(a.serving_cert_pem, b.serving_cert_pem);
        let c = Pki::ensure(&dir, "10.1.2.3", None).unwrap();
        assert_ne!(
            a.serving_cert_pem, c.serving_cert_pem,
            "a new listen host gets a new serving certificate"
        );
        assert_eq!(a.ca_pem, c.ca_pem);
        // A node's credential appears with the node, is kept, and follows its name.
        assert!(c.node.is_none());
        let n1 = Pki::ensure(&dir, "10.1.2.3", Some("n1"))
            .unwrap()
            .node
            .unwrap();
        let again = Pki::ensure(&dir, "10.1.2.3", Some("n1"))
            .unwrap()
            .node
            .unwrap();
        assert_eq!(n1, again);
        let n2 = Pki::ensure(&dir, "10.1.2.3", Some("n2"))
            .unwrap()
            .node
            .unwrap();
        assert_ne!(n1, n2);
        assert_eq!(
            Pki::ensure(&dir, "10.1.2.3", Some("n2"))
                .unwrap()
                .admin_cert_pem,
            a.admin_cert_pem,
            "the admin certificate is kept"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("pki/ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "keys are private");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
