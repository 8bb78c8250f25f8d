//! Continue tokens, shaped like upstream's (`storage/etcd3/store.go` `encodeContinue`):
//! base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key suffix>\u0000"}`.

use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Token {
    v: String,
    rv: i64,
    start: String,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE;

/// The token that resumes a list after `last_key` (relative to the listed prefix).
pub(crate) fn encode(rv: i64, last_key_suffix: &str) -> String {
    let t = Token {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: format!("{last_key_suffix}\u{0}"),
    };
    B64.encode(serde_json::to_vec(&t).unwrap_or_default())
}

/// (revision, key suffix to resume after) or an error text for a 400.
pub(crate) fn decode(token: &str) -> Result<(i64, String), String> {
    let bad = || {
        "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".to_string()
    };
    let bytes = B64.decode(token).map_err(|_| bad())?;
    let t: Token = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.rv <= 0 {
        return Err(bad());
    }
    let start = t.start.strip_suffix('\u{0}').ok_or_else(bad)?;
    if start.contains("..") || start.starts_with('/') {
        return Err("continue key is not valid: path traversal".into());
    }
    Ok((t.rv, start.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_garbage() {
        let t = super::encode(42, "default/a");
        assert_eq!(super::decode(&t).unwrap(), (42, "default/a".to_string()));
        assert!(super::decode("garbage!").is_err());
        assert!(super::decode(&super::encode(0, "x")).is_err());
    }
}
