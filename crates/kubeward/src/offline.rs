//! RBAC from manifests, without a server: the same objects a server would hold. An in-memory
//! kubeward (memory storage, no listener) gets the bootstrap policy unless told not to, then
//! every RBAC object and Namespace of the manifests through its own handler chain — so they
//! are validated, defaulted and aggregated exactly as on a server — and its RBAC objects are
//! read back into the engine's [`authz::rbac::Policy`].

use registry::{kinds, Client, PatchType, ResourceDef};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why manifests could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OfflineError {
    /// A file or directory could not be read.
    #[error("reading {0}: {1}")]
    Read(String, std::io::Error),
    /// A file is not YAML or JSON.
    #[error("{0}: {1}")]
    Parse(String, String),
    /// The server refused an object, as `kubectl apply` would have been refused.
    #[error("{file}: {kind} {name:?}: {message}")]
    Refused {
        /// The manifest.
        file: String,
        /// The object's kind.
        kind: String,
        /// Its name.
        name: String,
        /// The server's message.
        message: String,
    },
    /// Starting the in-memory server failed.
    #[error("the in-memory server: {0}")]
    Server(String),
}

/// The manifest files `paths` name (`-` for standard input; a directory's `.yaml`, `.yml`
/// and `.json` files, recursively, in name order), each with its documents.
fn documents(paths: &[PathBuf]) -> Result<Vec<(String, Value)>, OfflineError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let mut out = Vec::new();
    for (name, text) in files {
        let docs: Vec<Value> =
            serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(&text, options())
                .map_err(|e| OfflineError::Parse(name.clone(), e.to_string()))?;
        for doc in docs {
            flatten(&name, doc, &mut out);
        }
    }
    Ok(out)
}

/// The YAML reader's limits for manifests. A dump of a large cluster (`kubectl get
/// rolebindings -A -o yaml`: one document of millions of nodes, or thousands of documents) is
/// read whole: counts that grow with the file's own size are not limited, since the file is
/// already in memory. What lets a small file grow large (aliases, anchors, their recorded
/// copies, nesting) keeps the reader's defaults: at most a million events replayed from
/// aliases in all, whatever the budget says.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: usize::MAX,
            max_nodes: usize::MAX,
            max_events: usize::MAX,
            max_total_scalar_bytes: usize::MAX,
        },
    }
}

fn collect(p: &Path, files: &mut Vec<(String, String)>) -> Result<(), OfflineError> {
    let shown = p.display().to_string();
    if shown == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| OfflineError::Read(shown, e))?;
        files.push(("<stdin>".into(), text));
        return Ok(());
    }
    let meta = std::fs::metadata(p).map_err(|e| OfflineError::Read(shown.clone(), e))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| OfflineError::Read(shown.clone(), e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            let manifest = e
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json");
            if e.is_dir() || manifest {
                collect(&e, files)?;
            }
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(p).map_err(|e| OfflineError::Read(shown.clone(), e))?;
    files.push((shown, text));
    Ok(())
}

/// A document, or each item of a `List` (`v1 List`, `RoleList`, ...).
fn flatten(file: &str, doc: Value, out: &mut Vec<(String, Value)>) {
    if doc.is_null() {
        return;
    }
    if let Some(items) = doc.get("items").and_then(Value::as_array) {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("List") {
            for item in items {
                flatten(file, item.clone(), out);
            }
            return;
        }
    }
    out.push((file.to_string(), doc));
}

/// The served kind a manifest's apiVersion and kind name, for the kinds that shape access:
/// RBAC (v1, and v1beta1 read as v1: the same schema) and Namespaces.
fn rbac_kind(doc: &Value) -> Option<&'static ResourceDef> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let defs: [&'static ResourceDef; 5] = [
        &kinds::NAMESPACES,
        &kinds::CLUSTER_ROLES,
        &kinds::ROLES,
        &kinds::CLUSTER_ROLE_BINDINGS,
        &kinds::ROLE_BINDINGS,
    ];
    defs.into_iter().find(|d| {
        d.kind == kind
            && (api == d.api_version()
                || (d.group == "rbac.authorization.k8s.io"
                    && api == "rbac.authorization.k8s.io/v1beta1"))
    })
}

/// Where each manifest object came from: (kind, namespace, name) → file.
pub(crate) type Sources = std::collections::BTreeMap<(String, String, String), String>;

/// What the manifests make.
pub(crate) struct Loaded {
    /// The policy: the bootstrap policy (unless `no_defaults`) with the manifests over it.
    pub(crate) policy: authz::rbac::Policy,
    /// The file each RBAC object of the manifests came from.
    pub(crate) sources: Sources,
    /// The bootstrap policy alone, as it was before the manifests (empty with `no_defaults`).
    pub(crate) defaults: authz::rbac::Policy,
}

impl Loaded {
    /// Whether `b` is one of the bootstrap policy's own bindings, unchanged (what audit-rbac
    /// expects and `unused` leaves out).
    pub(crate) fn is_default(&self, b: &authz::rbac::Binding) -> bool {
        self.defaults.has_binding(b)
    }
}

/// Loads the manifests `paths` into an in-memory kubeward, over the bootstrap policy unless
/// `no_defaults`.
pub(crate) async fn load(paths: &[PathBuf], no_defaults: bool) -> Result<Loaded, OfflineError> {
    let docs = documents(paths)?;
    let mut sources = Sources::new();
    #[allow(
        clippy::disallowed_methods,
        reason = "the offline mode makes its own real Clock, as the binary does"
    )]
    let clock: registry::Clock = Arc::new(jiff::Timestamp::now);
    let registry = Arc::new(registry::Registry::new(
        Arc::new(storage::MemoryStorage::new()),
        clock,
    ));
    let state = Arc::new(server::State::new(registry, "offline".into(), false, None));
    let client: Arc<dyn Client> = Arc::new(server::InProcess::new(
        state,
        api_types::UserInfo::authenticated("system:apiserver", &["system:masters"]),
        "kubeward-offline",
    ));
    let server_error = |e: api_types::StatusError| OfflineError::Server(e.message);
    if no_defaults {
        for name in controllers::SYSTEM_NAMESPACES {
            ensure_namespace(client.as_ref(), name)
                .await
                .map_err(server_error)?;
        }
    } else {
        controllers::post_start(client.clone(), None)
            .await
            .map_err(server_error)?;
    }
    let defaults = if no_defaults {
        authz::rbac::Policy::default()
    } else {
        policy_of(client.as_ref()).await.map_err(server_error)?
    };
    // Namespaces first, so the objects in them have somewhere to go.
    let mut ordered: Vec<_> = docs
        .iter()
        .filter_map(|(f, d)| Some((f, d, rbac_kind(d)?)))
        .collect();
    ordered.sort_by_key(|(_, _, def)| !def.is(&kinds::NAMESPACES));
    for (file, doc, def) in ordered {
        let mut doc = doc.clone();
        doc["apiVersion"] = def.api_version().into();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !doc.get("metadata").is_some_and(Value::is_object) {
            return Err(OfflineError::Refused {
                file: file.clone(),
                kind: def.kind.to_string(),
                name,
                message: "metadata must be an object with a name".into(),
            });
        }
        let ns = if def.namespaced {
            let ns = doc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            doc["metadata"]["namespace"] = ns.clone().into();
            ensure_namespace(client.as_ref(), &ns)
                .await
                .map_err(server_error)?;
            ns
        } else {
            String::new()
        };
        // As `kubectl apply --server-side --force-conflicts`: created, or made what it says.
        let refused = |e: api_types::StatusError| OfflineError::Refused {
            file: file.clone(),
            kind: def.kind.to_string(),
            name: name.clone(),
            message: e.message,
        };
        client
            .patch(def, &ns, &name, PatchType::Apply { force: true }, doc, None)
            .await
            .map_err(refused)?;
        sources.insert(
            (def.kind.to_string(), ns.clone(), name.clone()),
            file.clone(),
        );
    }
    controllers::aggregate_all(client.as_ref(), client.as_ref())
        .await
        .map_err(server_error)?;
    let policy = policy_of(client.as_ref()).await.map_err(server_error)?;
    Ok(Loaded {
        policy,
        sources,
        defaults,
    })
}

/// The RBAC objects the server holds now, as the engine's policy.
async fn policy_of(client: &dyn Client) -> Result<authz::rbac::Policy, api_types::StatusError> {
    let index = authz::rbac::Index::new();
    controllers::rbac::sync(client, &index).await?;
    Ok(index.policy())
}

async fn ensure_namespace(client: &dyn Client, name: &str) -> Result<(), api_types::StatusError> {
    match client.get(&kinds::NAMESPACES, "", name).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => {
            let ns = serde_json::json!({"metadata": {"name": name}});
            match client.create(&kinds::NAMESPACES, "", ns).await {
                Err(e) if e.code != 409 => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_dump_is_read_and_an_alias_bomb_is_not() {
        // 280,000 nodes in one document: past the reader's default budget of 250,000.
        let items: Vec<String> = (0..20_000)
            .map(|i| {
                format!(
                    "- {{kind: RoleBinding, metadata: {{name: b{i}, namespace: n}}, x: [1, 2, 3]}}"
                )
            })
            .collect();
        let dump = format!("kind: List\nitems:\n{}\n", items.join("\n"));
        let docs: Vec<Value> =
            serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(&dump, options())
                .unwrap();
        assert_eq!(docs[0]["items"].as_array().map(Vec::len), Some(20_000));
        // Nine levels of ten aliases each: a billion nodes from a few hundred bytes.
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let refused =
            serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(&bomb, options())
                .unwrap_err();
        assert!(refused.to_string().contains("Anchor"), "{refused}");
    }
}
