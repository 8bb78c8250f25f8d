//! The tokens controller (`pkg/controller/serviceaccount/tokens_controller.go`): Secrets of
//! type `kubernetes.io/service-account-token` naming a service account get a signed
//! secret-based token, `ca.crt`, `namespace` and the account's UID; they are deleted when
//! their account is gone. With `--legacy-token-secrets` (Kubernetes ≤ 1.23), every service
//! account also gets an auto-created `<name>-token-<5 chars>` Secret listed in `.secrets`.
//! As upstream (it starts with the root client builder, before any service-account
//! credentials exist), it acts as `system:kube-controller-manager`.

use crate::runtime::{reconcile, Action, Controller, Key, Watch};
use api_types::StatusError;
use base64::Engine;
use registry::{Change, Client, ListOptions};
use serde_json::{json, Value};
use std::sync::Arc;

/// The Secret type of service-account tokens.
pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

/// Signs the claims of a secret-based token.
pub type Sign = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// What the controller needs.
#[derive(Clone)]
pub struct TokenController {
    /// Where the controller reads and writes (kube-controller-manager's own identity).
    pub client: Arc<dyn Client>,
    /// Signs a secret-based token's claims.
    pub sign: Sign,
    /// The cluster CA, written into each token Secret as `ca.crt`.
    pub ca_pem: String,
    /// `--legacy-token-secrets`.
    pub auto_create: bool,
    /// The 5-character suffix of an auto-created Secret's name (injected randomness).
    pub suffix: Arc<dyn Fn() -> String + Send + Sync>,
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

/// What wakes `syncServiceAccount`. Since 1.24 (no auto-created Secrets) upstream's only
/// work there is for an account that is gone (`deleteTokens`): only deletions wake it, so a
/// create or an update of an account costs the controller nothing. With auto-creation
/// (`--legacy-token-secrets`), every change, as upstream's queue takes them.
fn service_account_watch(auto_create: bool) -> Watch {
    fn deleted_only(c: Change<'_>) -> Vec<Key> {
        match c {
            Change::Deleted(sa) => vec![Key::of(sa)],
            Change::Applied(_) => vec![],
        }
    }
    let watch = Watch::objects(&registry::kinds::SERVICE_ACCOUNTS);
    if auto_create {
        watch
    } else {
        watch.waking(deleted_only)
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl TokenController {
    /// Fills or deletes one token Secret (`syncSecret`).
    pub async fn sync_secret(&self, ns: &str, secret_name: &str) -> Result<Action, StatusError> {
        let mut secret = match self
            .client
            .get(&registry::kinds::SECRETS, ns, secret_name)
            .await
        {
            Ok(s) => s,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        if secret.get("type").and_then(Value::as_str) != Some(TOKEN_TYPE) {
            return Ok(Action::Done);
        }
        let sa_name = annotation(&secret, NAME_ANNOTATION).to_string();
        let want_uid = annotation(&secret, UID_ANNOTATION).to_string();
        let sa = match self
            .client
            .get(&registry::kinds::SERVICE_ACCOUNTS, ns, &sa_name)
            .await
        {
            Ok(sa) => Some(sa),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        let sa_uid = sa
            .as_ref()
            .map(|s| crate::meta_str(s, "uid"))
            .unwrap_or("")
            .to_string();
        if sa.is_none() || (!want_uid.is_empty() && want_uid != sa_uid) {
            let opts = registry::DeleteOptions {
                precondition_uid: Some(crate::meta_str(&secret, "uid").to_string()),
                ..Default::default()
            };
            return match self
                .client
                .delete(&registry::kinds::SECRETS, ns, secret_name, &opts)
                .await
            {
                Ok(_) => Ok(Action::Done),
                // Gone already, or replaced by another object of that name.
                Err(e) if e.code == 404 || e.code == 409 => Ok(Action::Done),
                Err(e) => Err(e),
            };
        }
        let mut changed = false;
        let Some(fields) = secret.as_object_mut() else {
            return Ok(Action::Done);
        };
        let data = fields.entry("data").or_insert_with(|| json!({}));
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
            self.client
                .update(&registry::kinds::SECRETS, ns, secret_name, secret, None)
                .await?;
        }
        Ok(Action::Done)
    }

    /// Keeps one service account's token Secrets right (`syncServiceAccount`): a deleted
    /// account's are deleted; with auto-creation, an account without a token Secret gets one.
    /// The account is read from the watch cache, as upstream reads its informer's lister
    /// (`getServiceAccount(..., fetchOnCacheMiss=false)`): every account's every change
    /// wakes this, and a read of the store each time would double a create's work on etcd.
    /// Auto-creation, which updates the account, reads it live first, as upstream's
    /// `ensureReferencedToken` did.
    pub async fn sync_service_account(
        &self,
        ns: &str,
        sa_name: &str,
    ) -> Result<Action, StatusError> {
        let def = &registry::kinds::SERVICE_ACCOUNTS;
        match self.client.get_cached(def, ns, sa_name).await {
            Ok(_) if !self.auto_create => return Ok(Action::Done),
            Ok(_) => {}
            Err(e) if e.code == 404 => return self.delete_tokens(ns, sa_name).await,
            Err(e) => return Err(e),
        }
        let mut sa = match self.client.get(def, ns, sa_name).await {
            Ok(sa) => sa,
            Err(e) if e.code == 404 => return self.delete_tokens(ns, sa_name).await,
            Err(e) => return Err(e),
        };
        let mut has_token = false;
        let names: Vec<String> = sa
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
        for s in names {
            match self.client.get(&registry::kinds::SECRETS, ns, &s).await {
                Ok(sec) => {
                    if sec.get("type").and_then(Value::as_str) == Some(TOKEN_TYPE)
                        && annotation(&sec, NAME_ANNOTATION) == sa_name
                    {
                        has_token = true;
                        break;
                    }
                }
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        if has_token {
            return Ok(Action::Done);
        }
        let secret_name = format!("{sa_name}-token-{}", (self.suffix)());
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
                            "metadata": {"name": secret_name, "annotations": {
                                NAME_ANNOTATION: sa_name, UID_ANNOTATION: crate::meta_str(&sa, "uid")}}});
        self.client
            .create(&registry::kinds::SECRETS, ns, secret)
            .await?;
        self.sync_secret(ns, &secret_name).await?;
        if let Some(fields) = sa.as_object_mut() {
            let secrets = fields.entry("secrets").or_insert_with(|| json!([]));
            if let Some(list) = secrets.as_array_mut() {
                list.push(json!({"name": secret_name}));
            }
        }
        self.client
            .update(&registry::kinds::SERVICE_ACCOUNTS, ns, sa_name, sa, None)
            .await?;
        Ok(Action::Done)
    }

    /// A token Secret was deleted: its name leaves its account's `.secrets`
    /// (`removeSecretReference`); then, with auto-creation, the account gets a new one.
    pub async fn remove_reference(
        &self,
        ns: &str,
        sa_name: &str,
        secret: &str,
    ) -> Result<Action, StatusError> {
        let mut sa = match self
            .client
            .get(&registry::kinds::SERVICE_ACCOUNTS, ns, sa_name)
            .await
        {
            Ok(sa) => sa,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        let Some(list) = sa.get_mut("secrets").and_then(Value::as_array_mut) else {
            return Ok(Action::Done);
        };
        let before = list.len();
        list.retain(|s| s["name"] != secret);
        if list.len() != before {
            self.client
                .update(&registry::kinds::SERVICE_ACCOUNTS, ns, sa_name, sa, None)
                .await?;
        }
        self.sync_service_account(ns, sa_name).await
    }

    /// A service account is gone: its token Secrets go too (`deleteTokens`).
    async fn delete_tokens(&self, ns: &str, sa_name: &str) -> Result<Action, StatusError> {
        let opts = ListOptions {
            field_selector: format!("type={TOKEN_TYPE}"),
            ..Default::default()
        };
        let list = self
            .client
            .list(&registry::kinds::SECRETS, Some(ns), &opts)
            .await?;
        for s in list
            .items
            .iter()
            .filter(|s| annotation(s, NAME_ANNOTATION) == sa_name)
        {
            match self
                .client
                .delete(&registry::kinds::SECRETS, ns, name(s), &Default::default())
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Action::Done)
    }

    /// The three controllers: token Secrets; service accounts (woken by deletions only,
    /// unless Secrets are auto-created: `service_account_watch`); and the references a
    /// deleted token Secret leaves in its account (keyed `namespace`, `account/secret`: names
    /// hold no `/`).
    pub fn controllers(&self) -> [Controller; 3] {
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        let tokens = format!("type={TOKEN_TYPE}");
        [
            Controller {
                name: "tokens-secrets",
                watches: vec![Watch::objects(&registry::kinds::SECRETS).selecting(&tokens)],
                reconcile: reconcile(move |k| {
                    let a = a.clone();
                    async move { a.sync_secret(&k.namespace, &k.name).await }
                }),
            },
            Controller {
                name: "tokens-serviceaccounts",
                watches: vec![service_account_watch(self.auto_create)],
                reconcile: reconcile(move |k| {
                    let b = b.clone();
                    async move { b.sync_service_account(&k.namespace, &k.name).await }
                }),
            },
            Controller {
                name: "tokens-references",
                watches: vec![Watch::objects(&registry::kinds::SECRETS)
                    .selecting(&tokens)
                    .waking(|c| match c {
                        Change::Deleted(s) => vec![Key::new(
                            crate::meta_str(s, "namespace"),
                            format!("{}/{}", annotation(s, NAME_ANNOTATION), name(s)),
                        )],
                        Change::Applied(_) => vec![],
                    })],
                reconcile: reconcile(move |k| {
                    let c = c.clone();
                    async move {
                        match k.name.split_once('/') {
                            Some((sa, secret)) if !sa.is_empty() => {
                                c.remove_reference(&k.namespace, sa, secret).await
                            }
                            // A token Secret that named no account left no reference.
                            _ => Ok(Action::Done),
                        }
                    }
                }),
            },
        ]
    }
}
