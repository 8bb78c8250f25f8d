//! Bound service-account tokens (TokenRequest): the claims they carry
//! (`pkg/serviceaccount/claims.go`) and their validation (`jwt.go AuthenticateToken`): issuer,
//! signature, audience, time (60 s leeway), and the live service account, pod or secret with
//! matching UIDs.

use crate::jwt::{self, PublicKey};
use crate::TokenAuthenticator;
use api_types::UserInfo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// go-jose's default leeway for exp/nbf/iat.
const LEEWAY: i64 = 60;

/// What the authenticator needs to know about live objects: `(uid, deleting for more than
/// 60 s)`, or None when absent. Implemented over the cluster's state by the server.
pub trait ObjectLookup: Send + Sync {
    /// The live object `kind` `namespace/name`: its uid, and whether it has been deleting for over 60 s.
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> Option<(String, bool)>;

    /// A service-account-token Secret's `data.token` and whether it is being deleted.
    fn secret_token(&self, _namespace: &str, _name: &str) -> Option<(Vec<u8>, bool)> {
        None
    }

    /// Called after a secret-based token verified (legacy token tracking, `legacy.go`):
    /// refuses it when the secret is labelled invalid, else records today's use.
    fn legacy_token_used(
        &self,
        _namespace: &str,
        _secret: &str,
        _service_account: &str,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// The issuer of secret-based (legacy) tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// The claims of a secret-based token (`legacy.go` `LegacyClaims`): no audience, no expiry.
pub fn legacy_claims(namespace: &str, sa_name: &str, sa_uid: &str, secret_name: &str) -> Value {
    json!({
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": secret_name,
        "kubernetes.io/serviceaccount/service-account.name": sa_name,
        "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
        "sub": format!("system:serviceaccount:{namespace}:{sa_name}"),
    })
}

/// Verifies secret-based tokens (`legacy.go`), with `--service-account-lookup` semantics:
/// the Secret must exist, not be deleting, and hold this exact token; the service account must
/// exist with the claimed UID.
pub struct LegacyTokenAuthenticator {
    /// The verification keys.
    pub keys: Vec<PublicKey>,
    /// The live objects the token names.
    pub lookup: Arc<dyn ObjectLookup>,
}

impl LegacyTokenAuthenticator {
    fn validate(&self, token: &str, c: &Value) -> Result<UserInfo, String> {
        let claim = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let sub = claim("sub");
        let ns = claim("kubernetes.io/serviceaccount/namespace");
        let secret = claim("kubernetes.io/serviceaccount/secret.name");
        let sa = claim("kubernetes.io/serviceaccount/service-account.name");
        let uid = claim("kubernetes.io/serviceaccount/service-account.uid");
        for (v, what) in [
            (&sub, "sub"),
            (&ns, "namespace"),
            (&secret, "secretName"),
            (&sa, "serviceAccountName"),
            (&uid, "serviceAccountUID"),
        ] {
            if v.is_empty() {
                return Err(format!("{what} claim is missing"));
            }
        }
        if sub != format!("system:serviceaccount:{ns}:{sa}") {
            return Err("sub claim is invalid".into());
        }
        match self.lookup.secret_token(&ns, &secret) {
            Some((stored, false)) if constant_time_eq(&stored, token.as_bytes()) => {}
            Some((_, false)) => return Err("Token does not match server's copy".into()),
            _ => return Err("Token has been invalidated".into()),
        }
        match self.lookup.lookup("ServiceAccount", &ns, &sa) {
            Some((live, false)) if live == uid => {}
            Some((live, false)) => {
                return Err(format!(
                    "ServiceAccount UID ({live}) does not match claim ({uid})"
                ))
            }
            _ => return Err(format!("ServiceAccount {ns}/{sa} has been deleted")),
        }
        self.lookup.legacy_token_used(&ns, &secret, &sa)?;
        Ok(UserInfo {
            name: sub,
            uid,
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ],
            extra: BTreeMap::new(),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl TokenAuthenticator for LegacyTokenAuthenticator {
    fn authenticate_token(&self, token: &str) -> Option<Result<UserInfo, String>> {
        let claims = jwt::unverified_claims(token)?;
        if claims.get("iss").and_then(Value::as_str) != Some(LEGACY_ISSUER) {
            return None;
        }
        Some(
            jwt::verify(token, &self.keys)
                .map_err(|e| e.to_string())
                .and_then(|c| self.validate(token, &c)),
        )
    }
}

/// An object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    /// `Pod`, `Secret` or `Node`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's uid.
    pub uid: String,
}

/// The claims of a bound token issued now for `expiration` seconds. `bound` holds the object
/// the token is bound to (Pod, Secret or Node) and, for a pod on a node, that node.
#[allow(
    clippy::too_many_arguments,
    reason = "the claims upstream's TokenRequest fills, one parameter each"
)]
pub fn bound_claims(
    issuer: &str,
    audiences: &[String],
    namespace: &str,
    sa_name: &str,
    sa_uid: &str,
    bound: &[BoundObject],
    now: i64,
    expiration: i64,
    jti: &str,
) -> Value {
    let mut k8s =
        json!({"namespace": namespace, "serviceaccount": {"name": sa_name, "uid": sa_uid}});
    for b in bound {
        let key = match b.kind.as_str() {
            "Pod" => "pod",
            "Node" => "node",
            _ => "secret",
        };
        k8s[key] = if b.uid.is_empty() {
            json!({"name": b.name})
        } else {
            json!({"name": b.name, "uid": b.uid})
        };
    }
    json!({
        "aud": audiences,
        "exp": now + expiration,
        "iat": now,
        "iss": issuer,
        "jti": jti,
        "kubernetes.io": k8s,
        "nbf": now,
        "sub": format!("system:serviceaccount:{namespace}:{sa_name}"),
    })
}

/// Verifies bound service-account tokens.
pub struct BoundTokenAuthenticator {
    /// The accepted issuers (`--service-account-issuer`).
    pub issuers: Vec<String>,
    /// The API's audiences (`--api-audiences`).
    pub api_audiences: Vec<String>,
    /// The verification keys.
    pub keys: Vec<PublicKey>,
    /// The live objects the token names.
    pub lookup: Arc<dyn ObjectLookup>,
    /// Seconds since the epoch (injected, so expiry is testable without sleeping).
    pub now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

impl BoundTokenAuthenticator {
    fn validate(&self, claims: &Value, audiences: &[String]) -> Result<UserInfo, String> {
        let iss = str_at(claims, "/iss");
        if !self.issuers.iter().any(|i| i == iss) {
            return Err(format!("token issuer {iss:?} is invalid"));
        }
        let aud = strs(claims.get("aud"));
        if !aud.iter().any(|a| audiences.contains(a)) {
            let q = |v: &[String]| {
                format!(
                    "[{}]",
                    v.iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            return Err(format!(
                "token audiences {} is invalid for the target audiences {}",
                q(&aud),
                q(audiences)
            ));
        }
        let now = (self.now)();
        let (exp, nbf, iat) = (
            jwt::numeric_date(claims, "exp")?,
            jwt::numeric_date(claims, "nbf")?,
            jwt::numeric_date(claims, "iat")?,
        );
        // go-jose's ValidateWithLeeway, in its order; claims.go names the first two errors
        // and answers the rest (iat in the future) with an opaque message.
        if nbf.is_some_and(|nbf| now.saturating_add(LEEWAY) < nbf) {
            return Err("service account token is not valid yet".into());
        }
        if exp.is_some_and(|exp| now.saturating_sub(LEEWAY) > exp) {
            return Err("service account token has expired".into());
        }
        if iat.is_some_and(|iat| now.saturating_add(LEEWAY) < iat) {
            return Err("service account token claims could not be validated due to unexpected validation error".into());
        }
        let ns = str_at(claims, "/kubernetes.io/namespace");
        let (sa, sa_uid) = (
            str_at(claims, "/kubernetes.io/serviceaccount/name"),
            str_at(claims, "/kubernetes.io/serviceaccount/uid"),
        );
        if ns.is_empty() || sa.is_empty() {
            return Err("service account token claims are missing".into());
        }
        match self.lookup.lookup("ServiceAccount", ns, sa) {
            None => return Err(format!("serviceaccounts {sa:?} not found")),
            Some((uid, _)) if uid != sa_uid => {
                return Err(format!(
                    "service account UID ({uid}) does not match claim ({sa_uid})"
                ))
            }
            Some((_, true)) => return Err(format!("service account {ns}/{sa} has been deleted")),
            Some(_) => {}
        }
        let mut extra = BTreeMap::new();
        for (kind, key) in [("Secret", "secret"), ("Pod", "pod")] {
            let (name, uid) = (
                str_at(claims, &format!("/kubernetes.io/{key}/name")),
                str_at(claims, &format!("/kubernetes.io/{key}/uid")),
            );
            if name.is_empty() {
                continue;
            }
            match self.lookup.lookup(kind, ns, name) {
                Some((live, false)) if live == uid => {}
                Some((live, false)) => {
                    return Err(format!(
                        "{key} UID ({live}) does not match service account {key} ref claim ({uid})"
                    ))
                }
                _ => return Err("service account token has been invalidated".into()),
            }
            if key == "pod" {
                extra.insert(
                    "authentication.kubernetes.io/pod-name".to_string(),
                    vec![name.to_string()],
                );
                extra.insert(
                    "authentication.kubernetes.io/pod-uid".to_string(),
                    vec![uid.to_string()],
                );
            }
        }
        // A node: checked only for node-bound tokens; for a pod's token it is information.
        let (node, node_uid) = (
            str_at(claims, "/kubernetes.io/node/name"),
            str_at(claims, "/kubernetes.io/node/uid"),
        );
        if !node.is_empty() {
            if str_at(claims, "/kubernetes.io/pod/name").is_empty() {
                match self.lookup.lookup("Node", "", node) {
                    Some((live, false)) if live == node_uid => {}
                    Some((live, false)) => return Err(format!("node UID ({live}) does not match service account node ref claim ({node_uid})")),
                    _ => return Err("service account token has been invalidated".into()),
                }
            }
            extra.insert(
                "authentication.kubernetes.io/node-name".to_string(),
                vec![node.to_string()],
            );
            if !node_uid.is_empty() {
                extra.insert(
                    "authentication.kubernetes.io/node-uid".to_string(),
                    vec![node_uid.to_string()],
                );
            }
        }
        let jti = str_at(claims, "/jti");
        if !jti.is_empty() {
            extra.insert(
                "authentication.kubernetes.io/credential-id".to_string(),
                vec![format!("JTI={jti}")],
            );
        }
        Ok(UserInfo {
            name: format!("system:serviceaccount:{ns}:{sa}"),
            uid: sa_uid.to_string(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ],
            extra,
        })
    }
}

impl TokenAuthenticator for BoundTokenAuthenticator {
    fn authenticate_token(&self, token: &str) -> Option<Result<UserInfo, String>> {
        self.authenticate_token_for(token, &self.api_audiences)
    }

    fn authenticate_token_for(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Option<Result<UserInfo, String>> {
        let claims = jwt::unverified_claims(token)?;
        if !self
            .issuers
            .iter()
            .any(|i| claims.get("iss").and_then(Value::as_str) == Some(i))
        {
            return None; // not a token of this issuer: the next authenticator may know it
        }
        Some(
            jwt::verify(token, &self.keys)
                .map_err(|e| e.to_string())
                .and_then(|c| self.validate(&c, audiences)),
        )
    }
}
