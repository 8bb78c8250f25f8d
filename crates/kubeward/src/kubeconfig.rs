//! kubeconfig files as kubectl reads them (client-go `tools/clientcmd/loader.go`): the file
//! `--kubeconfig` names, else every file `KUBECONFIG` lists, merged (the first file to set a
//! context, cluster or user of a name, or the current context, wins; files that do not exist
//! are skipped), else `~/.kube/config`. The context `--context` names, else the current one;
//! a relative path in a file is relative to that file's directory. Sans-IO past reading the
//! files: [`resolve`] is a plain function over their parsed documents.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Why no server could be named from the kubeconfig.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KubeconfigError {
    /// A kubeconfig file could not be read.
    #[error("reading {0}: {1}")]
    Read(String, std::io::Error),
    /// A kubeconfig file is not YAML.
    #[error("{0}: {1}")]
    Parse(String, String),
    /// No file was found (kubectl's words).
    #[error("invalid configuration: no configuration has been provided, try setting KUBECONFIG or passing --kubeconfig (looked for {0})")]
    NoFile(String),
    /// No context is named, neither by `--context` nor by `current-context`.
    #[error("invalid configuration: no context chosen: pass --context or set current-context")]
    NoContext,
    /// A context, or the cluster or user it names, is in none of the files.
    #[error("invalid configuration: {what} {name:?} not found")]
    Missing {
        /// `context`, `cluster` or `user`.
        what: &'static str,
        /// The name looked for.
        name: String,
    },
    /// A `*-data` field is not base64.
    #[error("invalid configuration: {0} is not base64")]
    Data(String),
    /// The cluster has no server address.
    #[error("invalid configuration: cluster {0:?} has no server")]
    NoServer(String),
    /// The user authenticates in a way this client does not (exec plugins, auth providers).
    #[error("user {0:?} authenticates through {1}, which kubeward's commands do not run: use a kubeconfig with a client certificate or a token")]
    Unsupported(String, &'static str),
}

/// Bytes given inline (`*-data`) or as a file to read (`certificate-authority`, `tokenFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Material {
    /// The bytes themselves.
    Data(Vec<u8>),
    /// A file holding them, its path made absolute against the kubeconfig's directory.
    File(PathBuf),
}

impl Material {
    /// The bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, KubeconfigError> {
        match self {
            Material::Data(d) => Ok(d.clone()),
            Material::File(p) => {
                std::fs::read(p).map_err(|e| KubeconfigError::Read(p.display().to_string(), e))
            }
        }
    }
}

/// Where to connect and how to prove who we are: what a context resolves to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The context's name.
    pub(crate) context: String,
    /// `https://host:port[/prefix]`.
    pub(crate) server: String,
    /// The CA bundle that signs the server's certificate (PEM).
    pub(crate) ca: Option<Material>,
    /// `insecure-skip-tls-verify`.
    pub(crate) insecure: bool,
    /// `tls-server-name`: the name the certificate is checked against, if not the host's.
    pub(crate) tls_server_name: Option<String>,
    /// The client certificate and key (PEM).
    pub(crate) client_cert: Option<(Material, Material)>,
    /// A bearer token (`token`, or `tokenFile` read at each use).
    pub(crate) token: Option<Material>,
    /// `username` and `password` (HTTP basic).
    pub(crate) basic: Option<(String, String)>,
}

/// The kubeconfig files to read, in order, as client-go's loading rules choose them.
pub(crate) fn files(
    flag: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(f) = flag {
        return vec![f.to_path_buf()];
    }
    if let Some(list) = env.filter(|v| !v.is_empty()) {
        return std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

/// Reads the files (a file `--kubeconfig` names must exist; one of `KUBECONFIG`'s may not)
/// and parses each.
pub(crate) fn read(
    paths: &[PathBuf],
    must_exist: bool,
) -> Result<Vec<(PathBuf, Value)>, KubeconfigError> {
    let mut docs = Vec::new();
    for p in paths {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => continue,
            Err(e) => return Err(KubeconfigError::Read(p.display().to_string(), e)),
        };
        let doc: Value = serde_saphyr::from_str(&text)
            .map_err(|e| KubeconfigError::Parse(p.display().to_string(), e.to_string()))?;
        docs.push((p.clone(), doc));
    }
    if docs.is_empty() {
        let looked: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(KubeconfigError::NoFile(looked.join(", ")));
    }
    Ok(docs)
}

/// The first entry named `name` in a list (`contexts`, `clusters`, `users`) across the files,
/// with the directory of the file that holds it.
fn named<'a>(
    docs: &'a [(PathBuf, Value)],
    list: &str,
    field: &str,
    name: &str,
) -> Option<(&'a Value, PathBuf)> {
    docs.iter().find_map(|(path, doc)| {
        let entry = doc
            .get(list)?
            .as_array()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Some((entry.get(field).unwrap_or(&Value::Null), dir))
    })
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `FIELD-data` (base64) if set, else `FIELD` (a path against `dir`).
fn material(v: &Value, field: &str, dir: &Path) -> Result<Option<Material>, KubeconfigError> {
    use base64::Engine;
    let data_field = format!("{field}-data");
    if let Some(d) = text(v, &data_field) {
        return base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(|b| Some(Material::Data(b)))
            .map_err(|_| KubeconfigError::Data(data_field));
    }
    Ok(text(v, field).map(|p| Material::File(dir.join(p))))
}

/// The target of the context `context` (else the current context) across `docs`, merged as
/// client-go merges them: the first file to set a name, or `current-context`, wins.
pub(crate) fn resolve(
    docs: &[(PathBuf, Value)],
    context: Option<&str>,
) -> Result<Target, KubeconfigError> {
    let name = match context.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => docs
            .iter()
            .find_map(|(_, d)| text(d, "current-context"))
            .ok_or(KubeconfigError::NoContext)?
            .to_string(),
    };
    let missing = |what, name: &str| KubeconfigError::Missing {
        what,
        name: name.to_string(),
    };
    let (ctx, _) = named(docs, "contexts", "context", &name).ok_or(missing("context", &name))?;
    let cluster_name = text(ctx, "cluster").unwrap_or("");
    let (cluster, cluster_dir) =
        named(docs, "clusters", "cluster", cluster_name).ok_or(missing("cluster", cluster_name))?;
    let server = text(cluster, "server")
        .ok_or_else(|| KubeconfigError::NoServer(cluster_name.to_string()))?;
    let mut target = Target {
        context: name.clone(),
        server: server.trim_end_matches('/').to_string(),
        ca: material(cluster, "certificate-authority", &cluster_dir)?,
        insecure: cluster
            .get("insecure-skip-tls-verify")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        tls_server_name: text(cluster, "tls-server-name").map(str::to_string),
        ..Target::default()
    };
    // A context without a user connects without credentials (anonymous), as kubectl does.
    let Some(user_name) = text(ctx, "user") else {
        return Ok(target);
    };
    let (user, user_dir) =
        named(docs, "users", "user", user_name).ok_or(missing("user", user_name))?;
    if user.get("exec").is_some_and(|v| !v.is_null()) {
        return Err(KubeconfigError::Unsupported(
            user_name.into(),
            "an exec credential plugin",
        ));
    }
    if user.get("auth-provider").is_some_and(|v| !v.is_null()) {
        return Err(KubeconfigError::Unsupported(
            user_name.into(),
            "an auth provider",
        ));
    }
    let cert = material(user, "client-certificate", &user_dir)?;
    let key = material(user, "client-key", &user_dir)?;
    target.client_cert = cert.zip(key);
    target.token = match text(user, "token") {
        Some(t) => Some(Material::Data(t.as_bytes().to_vec())),
        None => text(user, "tokenFile").map(|p| Material::File(user_dir.join(p))),
    };
    if let (Some(u), Some(p)) = (text(user, "username"), text(user, "password")) {
        target.basic = Some((u.to_string(), p.to_string()));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(path: &str, v: Value) -> (PathBuf, Value) {
        (PathBuf::from(path), v)
    }

    #[test]
    fn the_first_file_to_name_a_thing_wins_and_paths_are_relative_to_their_file() {
        let a = doc(
            "/a/config",
            json!({
                "current-context": "dev",
                "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://one:6443/", "certificate-authority": "ca.crt"}}],
            }),
        );
        let b = doc(
            "/b/config",
            json!({
                "current-context": "other",
                "contexts": [{"name": "dev", "context": {"cluster": "x", "user": "x"}},
                             {"name": "other", "context": {"cluster": "c"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://two:6443"}}],
                "users": [{"name": "u", "user": {"client-certificate": "u.crt", "client-key-data": "a2V5", "tokenFile": "/t"}}],
            }),
        );
        let t = resolve(&[a.clone(), b.clone()], None).unwrap();
        assert_eq!(t.context, "dev");
        assert_eq!(t.server, "https://one:6443");
        assert_eq!(t.ca, Some(Material::File("/a/ca.crt".into())));
        assert_eq!(
            t.client_cert,
            Some((
                Material::File("/b/u.crt".into()),
                Material::Data(b"key".to_vec())
            ))
        );
        assert_eq!(t.token, Some(Material::File("/t".into())));
        // --context picks another; a context without a user has no credentials.
        let t = resolve(&[a.clone(), b.clone()], Some("other")).unwrap();
        assert_eq!(
            (t.server.as_str(), t.client_cert, t.token),
            ("https://one:6443", None, None)
        );
        // The second file's current-context counts when the first sets none.
        let mut a2 = a.clone();
        a2.1.as_object_mut().unwrap().remove("current-context");
        assert_eq!(resolve(&[a2, b.clone()], None).unwrap().context, "other");
    }

    #[test]
    fn what_cannot_be_used_is_said() {
        let check = |v: Value, ctx: Option<&str>, want: &str| {
            let e = resolve(&[doc("/k", v)], ctx).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        };
        check(json!({}), None, "no context chosen");
        check(
            json!({"current-context": "x"}),
            None,
            "context \"x\" not found",
        );
        check(
            json!({"contexts": [{"name": "x", "context": {"cluster": "c"}}]}),
            Some("x"),
            "cluster \"c\" not found",
        );
        check(
            json!({"contexts": [{"name": "x", "context": {"cluster": "c"}}],
                   "clusters": [{"name": "c", "cluster": {}}]}),
            Some("x"),
            "has no server",
        );
        let with_user = |user: Value| {
            json!({"contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                   "clusters": [{"name": "c", "cluster": {"server": "https://h", "certificate-authority-data": "%%"}}],
                   "users": [{"name": "u", "user": user}]})
        };
        check(
            with_user(json!({})),
            Some("x"),
            "certificate-authority-data is not base64",
        );
        let mut exec = with_user(json!({"exec": {"command": "aws"}}));
        exec["clusters"][0]["cluster"]
            .as_object_mut()
            .unwrap()
            .remove("certificate-authority-data");
        check(exec, Some("x"), "exec credential plugin");
    }

    #[test]
    fn files_follow_the_loading_rules() {
        let home = Path::new("/home/u");
        assert_eq!(
            files(Some(Path::new("k")), Some("a:b".as_ref()), Some(home)),
            vec![PathBuf::from("k")]
        );
        assert_eq!(
            files(None, Some("a::b".as_ref()), Some(home)),
            vec![PathBuf::from("a"), PathBuf::from("b")]
        );
        assert_eq!(
            files(None, Some("".as_ref()), Some(home)),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
        let missing = read(&[PathBuf::from("/nonexistent/kubeconfig")], false).unwrap_err();
        assert!(missing
            .to_string()
            .contains("no configuration has been provided"));
        let named = read(&[PathBuf::from("/nonexistent/kubeconfig")], true).unwrap_err();
        assert!(named
            .to_string()
            .contains("reading /nonexistent/kubeconfig"));
    }
}
