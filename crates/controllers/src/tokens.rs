//! The tokens controller (`pkg/controller/serviceaccount/tokens_controller.go`): Secrets of
//! type `kubernetes.io/service-account-token` naming a service account get a signed
//! secret-based token, `ca.crt`, `namespace` and the account's UID; they are deleted when
//! their account is gone. With `--legacy-token-secrets` (Kubernetes ≤ 1.23), every service
//! account also gets an auto-created `<name>-token-<5 chars>` Secret listed in `.secrets`.

use base64::Engine;
use rand::Rng;
use registry::{ListOptions, Registry, ResourceDef, WatchOptions, WriteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

/// Signs the claims of a secret-based token.
pub type Sign = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// What the controller needs.
#[derive(Clone)]
pub struct TokenController {
    pub registry: Arc<Registry>,
    pub sign: Sign,
    pub ca_pem: String,
    /// `--legacy-token-secrets`.
    pub auto_create: bool,
}

fn def(resource: &str) -> &'static ResourceDef {
    registry::served("", resource)
}

fn annotation<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.pointer(&format!("/metadata/annotations/{}", key.replace('/', "~1")))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl TokenController {
    /// Fills or deletes one token Secret.
    pub fn sync_secret(&self, ns: &str, secret_name: &str) {
        let Ok(mut secret) = self.registry.get(def("secrets"), ns, secret_name) else {
            return;
        };
        if secret.get("type").and_then(Value::as_str) != Some(TOKEN_TYPE) {
            return;
        }
        let sa_name = annotation(&secret, NAME_ANNOTATION).to_string();
        let want_uid = annotation(&secret, UID_ANNOTATION).to_string();
        let sa = self.registry.get(def("serviceaccounts"), ns, &sa_name).ok();
        let sa_uid = sa
            .as_ref()
            .and_then(|s| s.pointer("/metadata/uid"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if sa.is_none() || (!want_uid.is_empty() && want_uid != sa_uid) {
            let opts = registry::DeleteOptions {
                precondition_uid: secret
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ..Default::default()
            };
            let _ = self.registry.delete(def("secrets"), ns, secret_name, &opts);
            return;
        }
        let mut changed = false;
        let data = secret
            .as_object_mut()
            .unwrap()
            .entry("data")
            .or_insert_with(|| json!({}));
        if data
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            let claims = authn::serviceaccount::legacy_claims(ns, &sa_name, &sa_uid, secret_name);
            data["token"] = B64.encode((self.sign)(&claims)).into();
            changed = true;
        }
        let ca = B64.encode(&self.ca_pem);
        if data.get("ca.crt").and_then(Value::as_str) != Some(ca.as_str()) {
            data["ca.crt"] = ca.into();
            changed = true;
        }
        if data
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            data["namespace"] = B64.encode(ns).into();
            changed = true;
        }
        if want_uid.is_empty() {
            secret["metadata"]["annotations"][UID_ANNOTATION] = sa_uid.into();
            changed = true;
        }
        if changed {
            let _ = self.registry.update(
                def("secrets"),
                ns,
                secret_name,
                secret,
                None,
                &WriteOptions::by("kube-controller-manager"),
            );
        }
    }

    /// After a service account changes: with auto-creation, make sure it has a token Secret.
    pub fn sync_service_account(&self, ns: &str, sa_name: &str) {
        if !self.auto_create {
            return;
        }
        let Ok(sa) = self.registry.get(def("serviceaccounts"), ns, sa_name) else {
            return;
        };
        let listed: Vec<String> = sa
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .map(str::to_string)
            .collect();
        let has_token = listed.iter().any(|s| {
            self.registry.get(def("secrets"), ns, s).is_ok_and(|sec| {
                sec.get("type").and_then(Value::as_str) == Some(TOKEN_TYPE)
                    && annotation(&sec, NAME_ANNOTATION) == sa_name
            })
        });
        if has_token {
            return;
        }
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let suffix: String = (0..5)
            .map(|_| ALPHABET[rand::rng().random_range(0..ALPHABET.len())] as char)
            .collect();
        let secret_name = format!("{sa_name}-token-{suffix}");
        let uid = sa
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
                            "metadata": {"name": secret_name, "annotations": {NAME_ANNOTATION: sa_name, UID_ANNOTATION: uid}}});
        if let Err(e) = self.registry.create(
            def("secrets"),
            ns,
            secret,
            &WriteOptions::by("kube-controller-manager"),
        ) {
            tracing::warn!(namespace = ns, service_account = sa_name, error = %e, "tokens controller: creating the token secret");
            return;
        }
        self.sync_secret(ns, &secret_name);
        let mut sa = sa;
        let secrets = sa
            .as_object_mut()
            .unwrap()
            .entry("secrets")
            .or_insert_with(|| json!([]));
        if let Some(list) = secrets.as_array_mut() {
            list.push(json!({"name": secret_name}));
        }
        let _ = self.registry.update(
            def("serviceaccounts"),
            ns,
            sa_name,
            sa,
            None,
            &WriteOptions::by("kube-controller-manager"),
        );
    }

    /// A service account is gone: its token Secrets go too.
    fn service_account_deleted(&self, ns: &str, sa_name: &str) {
        let opts = ListOptions {
            field_selector: format!("type={TOKEN_TYPE}"),
            ..Default::default()
        };
        let Ok(list) = self.registry.list(def("secrets"), Some(ns), &opts) else {
            return;
        };
        for s in list
            .items
            .iter()
            .filter(|s| annotation(s, NAME_ANNOTATION) == sa_name)
        {
            let _ = self
                .registry
                .delete(def("secrets"), ns, name(s), &Default::default());
        }
    }

    /// A token Secret is gone: drop it from its account's `.secrets` (then, with
    /// auto-creation, the account gets a new one).
    fn secret_deleted(&self, ns: &str, secret: &Value) {
        let sa_name = annotation(secret, NAME_ANNOTATION);
        let Ok(mut sa) = self.registry.get(def("serviceaccounts"), ns, sa_name) else {
            return;
        };
        let Some(list) = sa.get_mut("secrets").and_then(Value::as_array_mut) else {
            return;
        };
        let before = list.len();
        list.retain(|s| s["name"] != name(secret));
        if list.len() != before {
            let _ = self.registry.update(
                def("serviceaccounts"),
                ns,
                sa_name,
                sa,
                None,
                &WriteOptions::by("kube-controller-manager"),
            );
        }
    }

    fn handle(&self, resource: &str, type_: &str, obj: &Value) {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        match (resource, type_) {
            ("secrets", "DELETED") => self.secret_deleted(ns, obj),
            ("secrets", _) => self.sync_secret(ns, name(obj)),
            ("serviceaccounts", "DELETED") => self.service_account_deleted(ns, name(obj)),
            ("serviceaccounts", _) => self.sync_service_account(ns, name(obj)),
            _ => {}
        }
    }

    /// Watches token Secrets and service accounts (from their current state) and keeps them
    /// consistent.
    pub async fn run(self) {
        for (resource, fields) in [
            ("secrets", format!("type={TOKEN_TYPE}")),
            ("serviceaccounts", String::new()),
        ] {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    let list = ListOptions {
                        field_selector: fields.clone(),
                        ..Default::default()
                    };
                    let opts = WatchOptions {
                        list,
                        timeout: Duration::from_secs(3600),
                        ..Default::default()
                    };
                    let Ok(mut events) = this.registry.watch(def(resource), None, opts) else {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    };
                    while let Some(ev) = events.recv().await {
                        if ev.type_ == "ERROR" {
                            break;
                        }
                        this.handle(resource, ev.type_, &ev.object);
                    }
                }
            });
        }
    }
}
