//! Secrets and config maps (`pkg/apis/core/validation/validation.go` `ValidateSecret`,
//! `ValidateConfigMap`).

use crate::resource::{col, name_of, typed_check, Column, Strategy, AGE_COLUMN, NAME_COLUMN};
use crate::validation::{check, config_map_key, FieldErrors};
use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{json, Map, Value};

const MAX_SECRET_SIZE: usize = 1024 * 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn map<'a>(obj: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
    obj.get(field).and_then(Value::as_object)
}

fn decoded_len(v: &Value) -> usize {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .map_or(0, |b| b.len())
}

/// The typed check of a kind whose `field` maps names to `[]byte`, which Go's JSON decoder
/// reads more leniently than the typed one: base64 that `base64.StdEncoding` accepts but is
/// not canonical (line breaks inside, which Go skips; unused low bits set in the last symbol,
/// which Go ignores). A body refused for that is checked again with those values made
/// canonical, as upstream stores the decoded bytes; only refused bodies pay for it.
fn typed_check_bytes<T: serde::de::DeserializeOwned + serde::Serialize>(
    obj: &mut Value,
    field: &str,
) -> Result<Vec<String>, String> {
    match typed_check::<T>(obj) {
        Err(_) if canonical_bytes(obj, field) => typed_check::<T>(obj),
        checked => checked,
    }
}

/// Rewrites `field`'s values that Go's base64 reads to their canonical form; whether any
/// changed. A value Go refuses is left for the decoder's check to refuse.
fn canonical_bytes(obj: &mut Value, field: &str) -> bool {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    let Some(Value::Object(m)) = obj.get_mut(field) else {
        return false;
    };
    let mut changed = false;
    for v in m.values_mut() {
        let Value::String(s) = v else { continue };
        let text: String = s.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
        if let Ok(bytes) = LENIENT.decode(&text) {
            let canonical = B64.encode(bytes);
            if canonical != *s {
                *s = canonical;
                changed = true;
            }
        }
    }
    changed
}

fn immutable_rules(new: &Value, old: &Value, fields: &[&str], errs: &mut FieldErrors) {
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return;
    }
    if new.get("immutable") != Some(&Value::Bool(true)) {
        errs.forbidden("immutable", "field is immutable when `immutable` is set");
    }
    for f in fields {
        if new.get(*f) != old.get(*f) {
            errs.forbidden(f, "field is immutable when `immutable` is set");
        }
    }
}

/// `pkg/registry/core/secret/strategy.go`.
pub(super) struct SecretStrategy;

/// Folds `stringData` into `data` (base64), as the v1 → internal conversion does.
fn fold_string_data(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        for (k, v) in sd {
            data[k] = B64.encode(v.as_str().unwrap_or_default()).into();
        }
    }
}

impl Strategy for SecretStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check_bytes::<Secret>(obj, "data")
    }
    fn defaults(&self, obj: &mut Value) {
        // `SetDefaults_Secret`, on decode upstream: the writer owns `type`.
        if obj
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            obj["type"] = "Opaque".into();
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        fold_string_data(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        fold_string_data(new);
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        let data = map(obj, "data");
        let mut total = 0;
        for (k, v) in data.into_iter().flatten() {
            check(errs, &format!("data[{k}]"), k, config_map_key);
            total += decoded_len(v);
        }
        if total > MAX_SECRET_SIZE {
            errs.too_long("data", MAX_SECRET_SIZE);
        }
        let has = |key: &str| data.is_some_and(|d| d.contains_key(key));
        let t = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let required = |errs: &mut FieldErrors, key: &str| {
            if !has(key) {
                errs.required(&format!("data[{key}]"), "");
            }
        };
        match t {
            "kubernetes.io/service-account-token" => {
                let named = obj
                    .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                if !named {
                    errs.required(
                        "metadata.annotations[kubernetes.io/service-account.name]",
                        "",
                    );
                }
            }
            "kubernetes.io/dockercfg" => required(errs, ".dockercfg"),
            "kubernetes.io/dockerconfigjson" => required(errs, ".dockerconfigjson"),
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                errs.required("data[username]", "");
                errs.required("data[password]", "");
            }
            "kubernetes.io/ssh-auth" => required(errs, "ssh-privatekey"),
            "kubernetes.io/tls" => {
                required(errs, "tls.crt");
                required(errs, "tls.key");
            }
            _ => {}
        }
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        self.validate(new, errs);
        if new.get("type") != old.get("type") {
            errs.immutable("type", new.get("type").unwrap_or(&Value::Null));
        }
        immutable_rules(new, old, &["data"], errs);
    }
    fn field_labels(&self) -> &'static [&'static str] {
        &["type"]
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Type", "string", "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types", 0),
            col("Data", "string", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4", 0),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let n = map(obj, "data").map_or(0, Map::len);
        vec![
            name_of(obj).into(),
            obj.get("type").cloned().unwrap_or_default(),
            n.into(),
            age.into(),
        ]
    }
}

/// `pkg/registry/core/configmap/strategy.go`.
pub(super) struct ConfigMapStrategy;

impl Strategy for ConfigMapStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check_bytes::<ConfigMap>(obj, "binaryData")
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        let data = map(obj, "data");
        let binary = map(obj, "binaryData");
        let mut total = 0;
        for (k, v) in data.into_iter().flatten() {
            check(errs, &format!("data[{k}]"), k, config_map_key);
            total += v.as_str().map_or(0, str::len);
        }
        for (k, v) in binary.into_iter().flatten() {
            check(errs, &format!("binaryData[{k}]"), k, config_map_key);
            if data.is_some_and(|d| d.contains_key(k)) {
                errs.invalid(
                    &format!("data[{k}]"),
                    &Value::String(k.clone()),
                    "duplicate of key present in binaryData",
                );
            }
            total += decoded_len(v);
        }
        if total > MAX_SECRET_SIZE {
            errs.too_long("", MAX_SECRET_SIZE);
        }
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        self.validate(new, errs);
        immutable_rules(new, old, &["data", "binaryData"], errs);
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Data", "string", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.", 0),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let n = map(obj, "data").map_or(0, Map::len) + map(obj, "binaryData").map_or(0, Map::len);
        vec![name_of(obj).into(), n.into(), age.into()]
    }
}
