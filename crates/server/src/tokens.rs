//! Service-account tokens: TokenRequest (`POST .../serviceaccounts/NAME/token`,
//! `pkg/registry/core/serviceaccount/storage/token.go`), the live-object lookup bound tokens
//! are validated against, and the OIDC discovery documents
//! (`pkg/serviceaccount/openidmetadata.go`).

use crate::State;
use api_types::{Cause, GroupResource, StatusError};
use authn::jwt::{PublicKey, Signer};
use authn::serviceaccount::{bound_claims, BoundObject, ObjectLookup};
use registry::{kinds, Registry};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// What the server signs bound tokens with.
pub struct Issuer {
    /// Shared with the token controller, which signs secret-based tokens.
    pub signer: Arc<Signer>,
    /// `--service-account-issuer` (the first signs; all are accepted).
    pub issuers: Vec<String>,
    /// `--api-audiences` (default: the issuer).
    pub api_audiences: Vec<String>,
    /// Every verification key, for `/openid/v1/jwks`.
    pub keys: Vec<PublicKey>,
    /// `--service-account-max-token-expiration`, in seconds.
    pub max_expiration: Option<i64>,
}

/// What bound and secret-based tokens are checked against: service accounts, secrets and pods,
/// kept in memory from the registry's watches (no storage read per authentication). A deletion
/// also voids the verified-token cache, so a revoked token stops at once.
pub struct ObjectCache {
    registry: Arc<Registry>,
    /// (kind, namespace, name) → (uid, deletionTimestamp as seconds, secret data.token).
    objects: RwLock<HashMap<(&'static str, String, String), Cached>>,
    invalidate: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Cached {
    uid: String,
    deleted_at: Option<i64>,
    token: Option<Vec<u8>>,
    /// Secrets: the `kubernetes.io/legacy-token-last-used` label.
    last_used: Option<String>,
    /// Secrets: whether `kubernetes.io/legacy-token-invalid-since` is set.
    invalid: bool,
}

const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";
const INVALID_SINCE: &str = "kubernetes.io/legacy-token-invalid-since";

const CACHED: [(&str, &registry::ResourceDef); 4] = [
    ("ServiceAccount", &kinds::SERVICE_ACCOUNTS),
    ("Secret", &kinds::SECRETS),
    ("Pod", &kinds::PODS),
    ("Node", &kinds::NODES),
];

impl ObjectCache {
    /// An empty cache over `registry`; deletions bump `invalidate` (the verified-token cache's generation).
    pub fn new(registry: Arc<Registry>, invalidate: Arc<AtomicU64>) -> Arc<Self> {
        Arc::new(ObjectCache {
            registry,
            objects: RwLock::new(HashMap::new()),
            invalidate,
        })
    }

    fn apply(&self, kind: &'static str, obj: &Value, deleted: bool) {
        use base64::Engine;
        let meta = |f: &str| {
            obj.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let key = (kind, meta("namespace"), meta("name"));
        let mut objects = self.objects.write().unwrap_or_else(|e| e.into_inner());
        if deleted {
            objects.remove(&key);
            self.invalidate.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let token = obj
            .pointer("/data/token")
            .and_then(Value::as_str)
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
        let deleted_at = obj
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(api_types::parse_rfc3339)
            .map(|t| t.as_second());
        let invalid_label = obj
            .pointer(&format!(
                "/metadata/labels/{}",
                INVALID_SINCE.replace('/', "~1")
            ))
            .is_some();
        if deleted_at.is_some() || invalid_label {
            self.invalidate.fetch_add(1, Ordering::SeqCst);
        }
        let label = |k: &str| {
            obj.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        objects.insert(
            key,
            Cached {
                uid: meta("uid"),
                deleted_at,
                token,
                last_used: label(LAST_USED),
                invalid: label(INVALID_SINCE).is_some_and(|v| !v.is_empty()),
            },
        );
    }

    /// Loads every object (before the server answers its first request); returns the
    /// informers, which [`ObjectCache::run`] keeps following.
    /// `client` is the apiserver's own (kube-apiserver's loopback identity).
    pub async fn sync(
        &self,
        client: &dyn registry::Client,
    ) -> Result<Vec<registry::Informer>, StatusError> {
        let mut informers = Vec::new();
        for (kind, def) in CACHED {
            let mut informer = registry::Informer::new(def, "");
            informer.list(client, &mut |c| self.change(kind, c)).await?;
            informers.push(informer);
        }
        Ok(informers)
    }

    fn change(&self, kind: &'static str, c: registry::Change<'_>) {
        match c {
            registry::Change::Applied(obj) => self.apply(kind, obj, false),
            registry::Change::Deleted(obj) => self.apply(kind, obj, true),
        }
    }

    /// Follows each resource from the revision `sync` read; a deletion, including one found
    /// by a re-list, voids the verified-token cache.
    pub async fn run(
        self: Arc<Self>,
        client: Arc<dyn registry::Client>,
        informers: Vec<registry::Informer>,
    ) {
        for (informer, (kind, _)) in informers.into_iter().zip(CACHED) {
            let this = self.clone();
            tokio::spawn(informer.run(client.clone(), move |c| this.change(kind, c)));
        }
    }

    fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Cached> {
        let objects = self.objects.read().unwrap_or_else(|e| e.into_inner());
        let kind = CACHED.iter().find(|(k, _)| *k == kind)?.0;
        objects
            .get(&(kind, namespace.to_string(), name.to_string()))
            .cloned()
    }
}

impl ObjectLookup for ObjectCache {
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> Option<(String, bool)> {
        let c = self.get(kind, namespace, name)?;
        let now = self.registry.now().as_second();
        Some((c.uid, c.deleted_at.is_some_and(|t| t < now - 60)))
    }

    fn secret_token(&self, namespace: &str, name: &str) -> Option<(Vec<u8>, bool)> {
        let c = self.get("Secret", namespace, name)?;
        Some((c.token?, c.deleted_at.is_some()))
    }

    fn legacy_token_used(
        &self,
        namespace: &str,
        secret: &str,
        service_account: &str,
    ) -> Result<(), String> {
        let Some(c) = self.get("Secret", namespace, secret) else {
            return Ok(());
        };
        let now = self.registry.now();
        let today = now.strftime("%Y-%m-%d").to_string();
        let tomorrow = jiff::Timestamp::from_second(now.as_second() + 86_400)
            .unwrap_or(now)
            .strftime("%Y-%m-%d")
            .to_string();
        if c.last_used.as_deref() != Some(today.as_str())
            && c.last_used.as_deref() != Some(tomorrow.as_str())
        {
            let patch = serde_json::to_vec(&json!({"metadata": {"labels": {LAST_USED: today}}}))
                .unwrap_or_default();
            // As upstream's legacy.go: the label is best-effort and the token stays valid
            // when the write fails; the failure is logged, not dropped.
            if let Err(e) = self.registry.patch(
                &registry::kinds::SECRETS,
                namespace,
                secret,
                registry::PatchType::Merge,
                &patch,
                None,
                &registry::WriteOptions::by("kube-apiserver"),
            ) {
                tracing::warn!(namespace, secret, error = %e, "recording the legacy token's last use");
            }
        }
        if c.invalid {
            return Err(format!(
                "the token in secret {namespace}/{secret} for service account {namespace}/{service_account} has been marked invalid. Use tokens from the TokenRequest API or manually created secret-based tokens, or remove the '{INVALID_SINCE}' label from the secret to temporarily allow use of this token"
            ));
        }
        Ok(())
    }
}

fn invalid(field: &str, value: i64, msg: &str) -> StatusError {
    StatusError::invalid(
        "authentication.k8s.io",
        "TokenRequest.authentication.k8s.io",
        "TokenRequest",
        "",
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {msg}"),
            field: field.into(),
        }],
    )
}

/// Answers a TokenRequest for service account `name` in `namespace`.
/// Returns the answered TokenRequest and any warning.
pub fn request(
    state: &State,
    namespace: &str,
    name: &str,
    mut body: Value,
) -> Result<(Value, Vec<String>), StatusError> {
    let issuer = state
        .issuer
        .as_ref()
        .ok_or_else(StatusError::path_not_found)?;
    if body
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "TokenRequest")
    {
        return Err(StatusError::bad_request(
            "the kind in the data does not match the expected kind (TokenRequest)",
        ));
    }
    let spec = body
        .get("spec")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if expiration < 600 {
        return Err(invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > 1 << 32 {
        return Err(invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    // `--service-account-max-token-expiration` shortens longer requests, with a warning.
    let mut warnings = Vec::new();
    let mut expiration = expiration;
    if let Some(max) = issuer.max_expiration.filter(|m| expiration > *m) {
        warnings.push(format!(
            "requested expiration of {expiration} seconds shortened to {max} seconds"
        ));
        expiration = max;
    }
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => issuer.api_audiences.clone(),
    };
    let sa_def = &registry::kinds::SERVICE_ACCOUNTS;
    let sa = state.registry.get(sa_def, namespace, name)?;
    let sa_uid = sa
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let bound: Vec<BoundObject> = match spec.get("boundObjectRef").filter(|v| !v.is_null()) {
        None => Vec::new(),
        Some(r) => {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
            let obj_name = r.get("name").and_then(Value::as_str).unwrap_or("");
            // The kinds a token may be bound to, named by the request's data.
            let def: &registry::ResourceDef = match kind {
                "Pod" => &kinds::PODS,
                "Secret" => &kinds::SECRETS,
                "Node" => &kinds::NODES,
                other => {
                    return Err(StatusError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to object of type {other}"
                    )))
                }
            };
            let resource = def.resource;
            let obj_ns = if def.namespaced { namespace } else { "" };
            let obj = state.registry.get(def, obj_ns, obj_name)?;
            // `pkg/registry/core/serviceaccount/storage/token.go`: a pod's token is its own
            // service account's, checked before the UID.
            if kind == "Pod"
                && obj
                    .pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    != Some(name)
            {
                return Err(StatusError::bad_request(format!(
                    "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                )));
            }
            let live = obj
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(want) = r
                .get("uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
            {
                if want != live {
                    return Err(StatusError::conflict(
                        &GroupResource::new("", resource),
                        obj_name,
                        &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"),
                    ));
                }
            }
            let mut bound = vec![BoundObject {
                kind: kind.to_string(),
                name: obj_name.to_string(),
                uid: live,
            }];
            // A pod on a node also names the node (uid only when the Node object exists).
            if let Some(node) = obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|_| kind == "Pod" && !obj_name.is_empty())
            {
                let node_def = &registry::kinds::NODES;
                let uid = state
                    .registry
                    .get(node_def, "", node)
                    .ok()
                    .and_then(|n| {
                        n.pointer("/metadata/uid")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                bound.push(BoundObject {
                    kind: "Node".into(),
                    name: node.to_string(),
                    uid,
                });
            }
            bound
        }
    };
    let now = state.registry.now();
    let jti = uuid_like(state.registry.random_bytes());
    let claims = bound_claims(
        &issuer.issuers[0],
        &audiences,
        namespace,
        name,
        &sa_uid,
        &bound,
        now.as_second(),
        expiration,
        &jti,
    );
    let mut claims = claims;
    // The kubelet's 3607-second tokens for pods live a year, with a warning time
    // (`WarnOnlyBoundTokenExpirationSeconds`, `--service-account-extend-token-expiration`).
    let pod_bound = bound.first().is_some_and(|b| b.kind == "Pod");
    if pod_bound && expiration == 3607 && audiences.iter().all(|a| issuer.api_audiences.contains(a))
    {
        claims["exp"] = (now.as_second() + 365 * 24 * 3600).into();
        claims["kubernetes.io"]["warnafter"] = (now.as_second() + 3607).into();
    }
    let token = issuer.signer.sign(&claims);
    let expires = jiff::Timestamp::from_second(now.as_second() + expiration).unwrap_or(now);
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if let (Some(b), Some(r)) = (bound.first(), spec.get("boundObjectRef")) {
        let mut r = r.clone();
        r["uid"] = b.uid.clone().into();
        out_spec["boundObjectRef"] = r;
    }
    body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": api_types::format_rfc3339(expires)},
    });
    Ok((body, warnings))
}

/// A UUIDv4 string for `jti`, from 16 random bytes.
pub(crate) fn uuid_like(b: [u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        (b[8] & 0x3) | 0x8,
        &h[17..20],
        &h[20..32]
    )
}

/// `/.well-known/openid-configuration`.
pub fn openid_configuration(issuer: &Issuer, server_url: &str) -> Value {
    let mut algs: Vec<&str> = issuer.keys.iter().map(|k| k.alg.name()).collect();
    algs.sort_unstable();
    algs.dedup();
    json!({
        "issuer": issuer.issuers[0],
        "jwks_uri": format!("{server_url}/openid/v1/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
    })
}

/// `/openid/v1/jwks`.
pub fn jwks(issuer: &Issuer) -> Value {
    json!({"keys": issuer.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}
