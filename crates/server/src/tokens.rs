//! Service-account tokens: TokenRequest (`POST .../serviceaccounts/NAME/token`,
//! `pkg/registry/core/serviceaccount/storage/token.go`), the live-object lookup bound tokens
//! are validated against, and the OIDC discovery documents
//! (`pkg/serviceaccount/openidmetadata.go`).

use crate::State;
use api_types::{Cause, GroupResource, StatusError};
use authn::jwt::{PublicKey, Signer};
use authn::serviceaccount::{bound_claims, BoundObject, ObjectLookup};
use registry::Registry;
use serde_json::{json, Value};
use std::sync::Arc;

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
}

/// Looks objects up in the registry. (A watch-fed cache that avoids the storage read per
/// authentication is the next step; see ARCHITECTURE.md.)
pub struct RegistryLookup(pub Arc<Registry>);

impl ObjectLookup for RegistryLookup {
    fn secret_token(&self, namespace: &str, name: &str) -> Option<(Vec<u8>, bool)> {
        use base64::Engine;
        let def = registry::resources()
            .iter()
            .find(|d| d.group.is_empty() && d.resource == "secrets")?;
        let obj = self.0.get(def, namespace, name).ok()?;
        let token = obj.pointer("/data/token").and_then(Value::as_str)?;
        let token = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()?;
        let deleting = obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        Some((token, deleting))
    }

    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> Option<(String, bool)> {
        let resource = match kind {
            "ServiceAccount" => "serviceaccounts",
            "Secret" => "secrets",
            "Pod" => "pods",
            _ => return None,
        };
        let def = registry::resources()
            .iter()
            .find(|d| d.group.is_empty() && d.resource == resource)?;
        let obj = self.0.get(def, namespace, name).ok()?;
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let now = self.0.now().as_second();
        let deleting = obj
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(api_types::parse_rfc3339)
            .is_some_and(|t| t.as_second() < now - 60);
        Some((uid, deleting))
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
pub fn request(
    state: &State,
    namespace: &str,
    name: &str,
    mut body: Value,
) -> Result<Value, StatusError> {
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
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => issuer.api_audiences.clone(),
    };
    let sa_def = registry::resources()
        .iter()
        .find(|d| d.group.is_empty() && d.resource == "serviceaccounts")
        .expect("served");
    let sa = state.registry.get(sa_def, namespace, name)?;
    let sa_uid = sa
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let bound = match spec.get("boundObjectRef").filter(|v| !v.is_null()) {
        None => None,
        Some(r) => {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
            let obj_name = r.get("name").and_then(Value::as_str).unwrap_or("");
            let resource = match kind {
                "Pod" => "pods",
                "Secret" => "secrets",
                other => {
                    return Err(StatusError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to object of type {other}"
                    )))
                }
            };
            let def = registry::resources()
                .iter()
                .find(|d| d.group.is_empty() && d.resource == resource)
                .expect("served");
            let obj = state.registry.get(def, namespace, obj_name)?;
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
            Some(BoundObject {
                kind: kind.to_string(),
                name: obj_name.to_string(),
                uid: live,
            })
        }
    };
    let now = state.registry.now();
    let jti = uuid_like();
    let claims = bound_claims(
        &issuer.issuers[0],
        &audiences,
        namespace,
        name,
        &sa_uid,
        bound.as_ref(),
        now.as_second(),
        expiration,
        &jti,
    );
    let token = issuer.signer.sign(&claims);
    let expires = jiff::Timestamp::from_second(now.as_second() + expiration).unwrap_or(now);
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if let (Some(b), Some(r)) = (&bound, spec.get("boundObjectRef")) {
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
    Ok(body)
}

/// A random UUIDv4 string for `jti`.
fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
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
