//! A pod's volumes: what each holds (secret, configMap, downwardAPI, projected with its
//! service-account token, emptyDir), as plain functions of the objects they name, and the
//! kubelet's atomic writer (`pkg/volume/util/atomic_writer.go`) that puts a payload in place
//! so that a reader sees the old files or the new ones, never a mixture or a partial file:
//! the files go into a fresh `..<timestamp>` directory, a `..data_tmp` symlink to it is
//! renamed over `..data`, and each user-visible name is a symlink into `..data`.

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// File contents and modes by relative path.
pub type Payload = BTreeMap<String, (Vec<u8>, u32)>;

/// Why a volume cannot be made (the container waits with this message, as the kubelet's
/// `CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    /// A volume type the node agent does not materialise.
    #[error("volume {0:?}: unsupported volume type (kubeward materialises secret, configMap, downwardAPI, projected and emptyDir)")]
    Unsupported(String),
    /// An object a volume or variable names is missing and not optional.
    #[error("{0}")]
    Missing(String),
    /// A downward API field the agent does not know.
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// A Secret's or ConfigMap's keys decoded: Secret `data` is base64, ConfigMap `data` is text
/// and `binaryData` base64.
pub fn object_data(obj: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret =
        obj.get("kind").and_then(Value::as_str) == Some("Secret") || obj.get("type").is_some();
    if let Some(m) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in m {
            let s = v.as_str().unwrap_or("");
            let bytes = if secret {
                b64.decode(s).unwrap_or_default()
            } else {
                s.as_bytes().to_vec()
            };
            out.insert(k.clone(), bytes);
        }
    }
    if let Some(m) = obj.get("binaryData").and_then(Value::as_object) {
        for (k, v) in m {
            out.insert(
                k.clone(),
                b64.decode(v.as_str().unwrap_or("")).unwrap_or_default(),
            );
        }
    }
    out
}

/// A secret or config map projected: every key, or only `items` (key → path, mode).
pub fn project_keys(
    what: &str,
    name: &str,
    data: Option<&BTreeMap<String, Vec<u8>>>,
    items: Option<&Vec<Value>>,
    optional: bool,
    mode: u32,
    out: &mut Payload,
) -> Result<(), VolumeError> {
    let Some(data) = data else {
        if optional {
            return Ok(());
        }
        return Err(VolumeError::Missing(format!("{what} {name:?} not found")));
    };
    match items {
        Some(items) if !items.is_empty() => {
            for it in items {
                let key = text(it, "/key");
                let Some(bytes) = data.get(key) else {
                    if optional {
                        continue;
                    }
                    return Err(VolumeError::Missing(format!(
                        "{what} references non-existent config key: {key}"
                    )));
                };
                let m = it
                    .get("mode")
                    .and_then(Value::as_u64)
                    .map_or(mode, |m| m as u32);
                out.insert(text(it, "/path").to_string(), (bytes.clone(), m));
            }
        }
        _ => {
            for (k, v) in data {
                out.insert(k.clone(), (v.clone(), mode));
            }
        }
    }
    Ok(())
}

/// A downward API `fieldRef`'s value (`pkg/fieldpath`), for files and variables alike.
pub fn field_ref(pod: &Value, path: &str, host_ip: &str) -> Result<String, VolumeError> {
    let meta_map = |m: &str| {
        pod.pointer(&format!("/metadata/{m}"))
            .and_then(Value::as_object)
            .map(|o| {
                // `FormatMap`: sorted key="value" lines.
                let mut lines: Vec<String> = o
                    .iter()
                    .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
                    .collect();
                lines.sort();
                lines.join("\n")
            })
            .unwrap_or_default()
    };
    let keyed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    Ok(match path {
        "metadata.name" => text(pod, "/metadata/name").to_string(),
        "metadata.namespace" => text(pod, "/metadata/namespace").to_string(),
        "metadata.uid" => text(pod, "/metadata/uid").to_string(),
        "metadata.labels" => meta_map("labels"),
        "metadata.annotations" => meta_map("annotations"),
        "spec.nodeName" => text(pod, "/spec/nodeName").to_string(),
        "spec.serviceAccountName" => text(pod, "/spec/serviceAccountName").to_string(),
        "status.hostIP" | "status.podIP" => host_ip.to_string(),
        "status.hostIPs" | "status.podIPs" => host_ip.to_string(),
        _ => {
            if let Some(k) = keyed("metadata.labels") {
                return Ok(text(
                    pod,
                    &format!(
                        "/metadata/labels/{}",
                        k.replace('~', "~0").replace('/', "~1")
                    ),
                )
                .to_string());
            }
            if let Some(k) = keyed("metadata.annotations") {
                return Ok(text(
                    pod,
                    &format!(
                        "/metadata/annotations/{}",
                        k.replace('~', "~0").replace('/', "~1")
                    ),
                )
                .to_string());
            }
            return Err(VolumeError::FieldPath(path.to_string()));
        }
    })
}

/// Writes `payload` into `dir` atomically. `now` names the new payload directory; the old
/// one and user-visible names no longer in the payload are removed afterwards.
pub fn atomic_write(dir: &Path, payload: &Payload, now: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ts_name = format!("..{now}");
    let ts_dir = dir.join(&ts_name);
    std::fs::create_dir_all(&ts_dir)?;
    for (rel, (bytes, mode)) in payload {
        let p = ts_dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::File::create(&p)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))?;
    }
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))?;
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&ts_name, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    // User-visible names: the payload's top-level entries, as links through `..data`.
    let top: std::collections::BTreeSet<String> = payload
        .keys()
        .map(|k| k.split('/').next().unwrap_or(k).to_string())
        .collect();
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("..") {
            // Earlier payloads (`..data` now names the new one).
            if name.starts_with("..20") && name != ts_name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if !top.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_items_and_optional_as_upstream() {
        let data: BTreeMap<String, Vec<u8>> = [
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
        ]
        .into();
        let mut out = Payload::new();
        project_keys("configmap", "c", Some(&data), None, false, 0o644, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let mut out = Payload::new();
        let items = vec![json!({"key": "b", "path": "dir/b.txt", "mode": 0o600})];
        project_keys(
            "configmap",
            "c",
            Some(&data),
            Some(&items),
            false,
            0o644,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.get("dir/b.txt"), Some(&(b"2".to_vec(), 0o600)));
        let missing = vec![json!({"key": "z", "path": "z"})];
        let e = project_keys(
            "configmap",
            "c",
            Some(&data),
            Some(&missing),
            false,
            0o644,
            &mut out,
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "configmap references non-existent config key: z"
        );
        assert!(project_keys("secret", "s", None, None, true, 0o644, &mut out).is_ok());
        assert!(project_keys("secret", "s", None, None, false, 0o644, &mut out).is_err());
    }

    #[test]
    fn field_refs() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n", "labels": {"b": "2", "a": "1"}},
                         "spec": {"nodeName": "node"}});
        assert_eq!(
            field_ref(&pod, "metadata.namespace", "1.2.3.4").unwrap(),
            "n"
        );
        assert_eq!(
            field_ref(&pod, "metadata.labels", "").unwrap(),
            "a=\"1\"\nb=\"2\""
        );
        assert_eq!(field_ref(&pod, "metadata.labels['b']", "").unwrap(), "2");
        assert_eq!(
            field_ref(&pod, "status.podIP", "1.2.3.4").unwrap(),
            "1.2.3.4"
        );
        assert!(field_ref(&pod, "spec.nope", "").is_err());
    }

    #[test]
    fn the_atomic_writer_swaps_whole_payloads() {
        let dir = std::env::temp_dir().join(format!("kw-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut p = Payload::new();
        p.insert("token".into(), (b"one".to_vec(), 0o644));
        p.insert("ca.crt".into(), (b"ca".to_vec(), 0o644));
        atomic_write(&dir, &p, "2026_01_01_00_00_00.000000001").unwrap();
        assert_eq!(std::fs::read(dir.join("token")).unwrap(), b"one");
        assert_eq!(
            std::fs::read_link(dir.join("token")).unwrap(),
            Path::new("..data/token")
        );
        p.insert("token".into(), (b"two".to_vec(), 0o644));
        p.remove("ca.crt");
        atomic_write(&dir, &p, "2026_01_01_00_00_01.000000001").unwrap();
        assert_eq!(std::fs::read(dir.join("token")).unwrap(), b"two");
        assert!(std::fs::symlink_metadata(dir.join("ca.crt")).is_err());
        let dirs: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("..20"))
            .collect();
        assert_eq!(dirs, ["..2026_01_01_00_00_01.000000001"]);
        let mode = std::fs::metadata(dir.join("token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
