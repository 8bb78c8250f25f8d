//! A container's environment and command line, as the kubelet makes them
//! (`pkg/kubelet/kubelet_pods.go` `makeEnvironmentVariables`, `pkg/kubelet/envvars/envvars.go`,
//! `third_party/forked/golang/expansion`): the `kubernetes` service's variables first, then
//! `envFrom`, then `env` in order (values may refer to earlier ones as `$(NAME)`), and
//! `$(NAME)` expanded in `command` and `args`.

use super::volumes::{field_ref, object_data, VolumeError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where pods reach the API server.
#[derive(Debug, Clone)]
pub struct ApiEndpoint {
    /// Its address (the server's listen address).
    pub host: String,
    /// Its port.
    pub port: u16,
}

/// `envvars.FromServices` for the `kubernetes` service, pointing where the server listens.
pub fn service_variables(api: &ApiEndpoint) -> Vec<(String, String)> {
    let (h, p) = (&api.host, api.port);
    vec![
        ("KUBERNETES_SERVICE_HOST".into(), h.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), p.to_string()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), p.to_string()),
        ("KUBERNETES_PORT".into(), format!("tcp://{h}:{p}")),
        (format!("KUBERNETES_PORT_{p}_TCP"), format!("tcp://{h}:{p}")),
        (format!("KUBERNETES_PORT_{p}_TCP_PROTO"), "tcp".into()),
        (format!("KUBERNETES_PORT_{p}_TCP_PORT"), p.to_string()),
        (format!("KUBERNETES_PORT_{p}_TCP_ADDR"), h.clone()),
    ]
}

/// `expansion.Expand`: `$(NAME)` replaced by a known variable, `$$` is `$`, anything else
/// left as written.
pub fn expand(input: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let b = input.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            match b[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(end) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + end];
                        match vars(name) {
                            Some(v) => out.push_str(&v),
                            None => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let ch = input[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The objects a container's variables read, fetched by the caller.
pub type Objects = BTreeMap<(String, String), Option<Value>>;

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The (kind, name) pairs a container's `env` and `envFrom` read: "secret" or "configmap".
pub fn referenced(container: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(n) = e.pointer("/secretRef/name").and_then(Value::as_str) {
            out.push(("secret".to_string(), n.to_string()));
        }
        if let Some(n) = e.pointer("/configMapRef/name").and_then(Value::as_str) {
            out.push(("configmap".to_string(), n.to_string()));
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        if let Some(n) = e
            .pointer("/valueFrom/secretKeyRef/name")
            .and_then(Value::as_str)
        {
            out.push(("secret".to_string(), n.to_string()));
        }
        if let Some(n) = e
            .pointer("/valueFrom/configMapKeyRef/name")
            .and_then(Value::as_str)
        {
            out.push(("configmap".to_string(), n.to_string()));
        }
    }
    out
}

/// A container's variables, in the order the kubelet sets them (a later one wins).
pub fn environment(
    pod: &Value,
    container: &Value,
    api: &ApiEndpoint,
    host_ip: &str,
    objects: &Objects,
) -> Result<Vec<(String, String)>, VolumeError> {
    let mut vars: Vec<(String, String)> = service_variables(api);
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        vars.retain(|(n, _)| *n != k);
        vars.push((k, v));
    };
    let lookup = |kind: &str, name: &str| {
        objects
            .get(&(kind.to_string(), name.to_string()))
            .cloned()
            .flatten()
    };
    for e in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = text(e, "/prefix");
        for (kind, ptr) in [("secret", "/secretRef"), ("configmap", "/configMapRef")] {
            let Some(r) = e.pointer(ptr) else { continue };
            let name = text(r, "/name");
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match lookup(kind, name) {
                Some(obj) => {
                    for (k, v) in object_data(&obj) {
                        set(
                            &mut vars,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        );
                    }
                }
                None if optional => {}
                None => return Err(VolumeError::Missing(format!("{kind} {name:?} not found"))),
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = text(e, "/name").to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            let known = vars.clone();
            expand(v, &|n| {
                known
                    .iter()
                    .rev()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            })
        } else if let Some(from) = e.get("valueFrom") {
            if let Some(f) = from.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
                field_ref(pod, f, host_ip)?
            } else if let Some(r) = from.get("resourceFieldRef") {
                resource_field(container, text(r, "/resource"))
            } else {
                let (kind, r) = match (from.get("secretKeyRef"), from.get("configMapKeyRef")) {
                    (Some(r), _) => ("secret", r),
                    (_, Some(r)) => ("configmap", r),
                    _ => continue,
                };
                let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
                let (obj_name, key) = (text(r, "/name"), text(r, "/key"));
                match lookup(kind, obj_name)
                    .map(|o| object_data(&o))
                    .and_then(|d| d.get(key).cloned())
                {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None if optional => continue,
                    None => {
                        return Err(VolumeError::Missing(format!(
                            "couldn't find key {key} in {} {}/{obj_name}",
                            if kind == "secret" {
                                "Secret"
                            } else {
                                "ConfigMap"
                            },
                            text(pod, "/metadata/namespace")
                        )))
                    }
                }
            }
        } else {
            String::new()
        };
        set(&mut vars, name, value);
    }
    Ok(vars)
}

/// `resourceFieldRef` without limits: the node's figure, as the kubelet falls back to
/// allocatable; with a limit, the limit as written.
fn resource_field(container: &Value, resource: &str) -> String {
    let (section, name) = resource.split_once('.').unwrap_or(("limits", resource));
    container
        .pointer(&format!("/resources/{section}/{name}"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match name {
            "cpu" => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .to_string(),
            _ => "0".into(),
        })
}

/// The command line: `command` then `args`, each `$(NAME)` expanded; None when the container
/// names neither (it idles).
pub fn command_line(container: &Value, vars: &[(String, String)]) -> Option<Vec<String>> {
    let look = |n: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let list = |k: &str| -> Vec<String> {
        container[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| expand(s, &look))
            .collect()
    };
    let argv: Vec<String> = list("command").into_iter().chain(list("args")).collect();
    (!argv.is_empty()).then_some(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_as_upstream() {
        let vars = |n: &str| (n == "A").then(|| "x".to_string());
        assert_eq!(expand("$(A)-$(B)-$$(A)-$A-$(", &vars), "x-$(B)-$(A)-$A-$(");
    }

    #[test]
    fn the_kubernetes_variables_come_first_and_env_wins() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n"}, "spec": {}});
        let c = json!({"name": "c",
            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
            "env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "override"},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "GREETING", "value": "hi $(NS)"},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}]});
        let mut objects = Objects::new();
        objects.insert(
            ("configmap".into(), "cm".into()),
            Some(json!({"kind": "ConfigMap", "data": {"k": "v"}})),
        );
        objects.insert(
            ("secret".into(), "s".into()),
            Some(json!({"kind": "Secret", "data": {"pw": "c2VjcmV0"}})),
        );
        let api = ApiEndpoint {
            host: "127.0.0.1".into(),
            port: 6443,
        };
        let vars = environment(&pod, &c, &api, "127.0.0.1", &objects).unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("KUBERNETES_PORT_6443_TCP_ADDR"), Some("127.0.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("6443"));
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("override"));
        assert_eq!(get("CM_k"), Some("v"));
        assert_eq!(get("GREETING"), Some("hi n"));
        assert_eq!(get("PASS"), Some("secret"));
        objects.insert(("secret".into(), "s".into()), None);
        let e = environment(&pod, &c, &api, "", &objects).unwrap_err();
        assert_eq!(e.to_string(), "couldn't find key pw in Secret n/s");
        assert_eq!(
            command_line(&json!({"command": ["echo"], "args": ["$(PASS)"]}), &vars),
            Some(vec!["echo".to_string(), "secret".to_string()])
        );
        assert_eq!(command_line(&json!({}), &vars), None);
    }
}
