//! The bodies of kubeward's fuzz targets: one function per parser a client's bytes reach, each
//! taking arbitrary bytes and asserting what must hold for all of them (never a panic, and
//! the target's own invariant). `fuzz/` (cargo-fuzz, nightly) runs them under libFuzzer;
//! `tests/smoke.rs` runs each on its seeds (`fuzz/seeds/<target>/`, the fuzzer's findings
//! among them) and on generated mutations in every test run.
//!
//! The strategic merge patch target lives beside its crate (`crates/strategicpatch/fuzz`).

#![allow(
    clippy::unwrap_used,
    reason = "a fuzz target's failed assumption is a finding: it must panic"
)]

use registry::{PatchType, Registry, ResourceDef, WriteOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name cargo-fuzz and the seed directories use.
pub const TARGETS: &[(&str, Target)] = &[
    ("request_path", request_path),
    ("label_selector", label_selector),
    ("field_selector", field_selector),
    ("decode_body", decode_body),
    ("protobuf", protobuf),
    ("jwt", jwt),
    ("bearer_header", bearer_header),
    ("audit_policy", audit_policy),
    ("token_file", token_file),
    ("go_duration", go_duration),
    ("go_json", go_json),
    ("patch", patch),
    ("websocket", websocket),
    ("spdy", spdy),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `request_info::parse` on `METHOD\npath\nquery`: the same answer each time, and in a
/// request it accepts a namespace, resource, subresource or name is one path segment. (A
/// method upstream does not know leaves the verb empty, as `RequestInfoFactory` does.)
pub fn request_path(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let mut lines = t.splitn(3, '\n');
    let (method, path, query) = (
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );
    let Ok(info) = request_info::parse(method, path, query) else {
        return;
    };
    assert_eq!(info, request_info::parse(method, path, query).unwrap());
    if info.is_resource_request {
        for part in [
            &info.namespace,
            &info.name,
            &info.resource,
            &info.subresource,
        ] {
            assert!(!part.contains('/'), "a part holds a slash: {info:?}");
        }
    }
}

/// Label selectors: one that parses matches any set of labels without a panic, and the
/// same way each time; `key` selects exactly the maps that hold `key`.
pub fn label_selector(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(sel) = registry::selectors::LabelSelector::parse(t) else {
        return;
    };
    let mut labels = BTreeMap::new();
    for word in t.split(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '/') {
        labels.insert(word.to_string(), word.to_string());
        let m = sel.matches(&labels);
        assert_eq!(m, sel.matches(&labels));
    }
    let _ = sel.matches(&BTreeMap::new());
}

/// Field selectors over a kind's field labels: one that parses matches any values without a
/// panic, and names only the supported fields.
pub fn field_selector(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let fields = [
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "status.phase",
    ];
    let Ok(sel) = registry::selectors::FieldSelector::parse(t, &fields) else {
        return;
    };
    let _ = sel.matches(&|f: &str| {
        assert!(fields.contains(&f), "matched on an unsupported field {f:?}");
        f.to_string()
    });
    let _ = sel.matches(&|_: &str| String::new());
}

/// A request body by its Content-Type (the first byte picks JSON, YAML, protobuf or none):
/// a body is decoded or refused as the client's mistake (400 or 415), never a 500; JSON
/// decodes exactly where serde_json does, to the same value.
pub fn decode_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let ct = match pick % 4 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/yaml"),
        _ => Some("application/vnd.kubernetes.protobuf"),
    };
    match server::negotiate::decode_object(ct, body) {
        Err(e) => assert!(
            e.code == 400 || e.code == 415,
            "a body refused with {}: {}",
            e.code,
            e.message
        ),
        Ok((value, _)) if pick % 4 < 2 => {
            let plain: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(value, plain, "JSON decoded differently");
        }
        Ok(_) => {}
    }
    if pick % 4 < 2 {
        if let Ok(plain) = serde_json::from_slice::<Value>(body) {
            // Well-formed JSON is refused only as Go's decoder refuses it: not an object, or
            // an apiVersion or kind that is not a string.
            let decoded = server::negotiate::decode_object(ct, body);
            let go_refuses = wire::gojson::type_error(body, &plain);
            assert_eq!(
                decoded.is_ok(),
                go_refuses.is_none(),
                "serde_json reads {plain}; decoded: {decoded:?}; Go: {go_refuses:?}"
            );
        }
    }
}

/// Go's JSON scanner (`wire::gojson::syntax_error`): never a panic, and it refuses nothing
/// serde_json reads (both are strict RFC 8259; Go takes more: invalid UTF-8 in strings, lone
/// surrogates, deeper nesting). Its words are Go's: `invalid character ...` or `unexpected end
/// of JSON input`.
pub fn go_json(data: &[u8]) {
    let go = wire::gojson::syntax_error(data);
    if serde_json::from_slice::<Value>(data).is_ok() {
        assert_eq!(
            go, None,
            "serde_json reads {data:?}; Go's scanner says {go:?}"
        );
    }
    if let Some(e) = go {
        assert!(
            e.starts_with("invalid character ") || e == "unexpected end of JSON input",
            "{e}"
        );
    }
}

/// The protobuf envelope and its messages: decoded to an object with a kind, or an error;
/// what decodes encodes again, to bytes that decode to the same object.
pub fn protobuf(data: &[u8]) {
    if let Ok(v) = server::protobuf::decode(data) {
        assert!(v.is_object(), "decoded to a non-object: {v}");
        let again = server::protobuf::encode(&v).expect("a decoded object encodes");
        assert_eq!(
            server::protobuf::decode(&again).expect("an encoded object decodes"),
            v
        );
    }
}

/// A key for the JWT target only (made with `openssl genpkey -algorithm EC`; it signs
/// nothing outside this crate).
const FUZZ_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgymgUgYdX5tZMF2od
WaIfQJbXKWC5wZjHiweZUGVdqhChRANCAASrho77pWdDNvADTE3WFZlRKjWyT1qt
ti+lOBmFihn7Mn4vPAaeQoMLXjpzH/aaKb2WSSuZnnICMyPsaS9aCIUx
-----END PRIVATE KEY-----
";

fn signer() -> &'static authn::jwt::Signer {
    static SIGNER: std::sync::OnceLock<authn::jwt::Signer> = std::sync::OnceLock::new();
    SIGNER.get_or_init(|| authn::jwt::Signer::from_pem(FUZZ_KEY).unwrap())
}

/// JWTs: arbitrary text is never verified by a key that did not sign it; claims signed by the
/// key verify to themselves.
pub fn jwt(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let keys = [signer().public.clone()];
    if let Ok(claims) = authn::jwt::verify(t, &keys) {
        panic!("an unsigned token verified: {claims}");
    }
    let _ = authn::jwt::unverified_claims(t);
    if let Ok(claims) = serde_json::from_str::<Value>(t) {
        // (serde_json re-reads a float it printed only to the nearest few ulps.)
        if claims.is_object() && !has_float(&claims) {
            let token = signer().sign(&claims);
            assert_eq!(authn::jwt::verify(&token, &keys).unwrap(), claims);
        }
    }
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// The Authorization header: a token found is a non-empty part of the header, without
/// spaces, and only under the Bearer scheme.
pub fn bearer_header(data: &[u8]) {
    if let authn::Bearer::Token(t) = authn::parse_bearer(Some(data)) {
        assert!(!t.is_empty() && !t.contains(' '), "token {t:?}");
        let header = text(data).unwrap();
        assert!(header.contains(t));
        assert!(header.trim_start()[..6].eq_ignore_ascii_case("bearer"));
    }
}

/// The audit policy file (`server::audit::fuzz_policy`).
pub fn audit_policy(data: &[u8]) {
    server::audit::fuzz_policy(data);
}

/// The static token file: a token that is not in the file never authenticates.
pub fn token_file(data: &[u8]) {
    use authn::TokenAuthenticator;
    let Some(t) = text(data) else { return };
    let Ok(file) = authn::TokenFile::parse("tokens.csv", t) else {
        return;
    };
    let absent = "\u{1}not-in-the-file";
    if !t.contains(absent) {
        assert!(file.authenticate_token(absent).is_none());
    }
    for line in t.lines() {
        if let Some(token) = line.split(',').next() {
            let _ = file.authenticate_token(token.trim());
        }
    }
}

/// `?timeout=` and the duration flags (Go's `time.ParseDuration`).
pub fn go_duration(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(n) = server::deadline::parse_go_duration(t) {
        assert_eq!(server::deadline::parse_go_duration(t), Ok(n));
    }
}

/// The kinds a patch is tried on, each with an object to patch.
fn patch_targets() -> [(&'static ResourceDef, Value); 5] {
    [
        (
            &registry::kinds::CONFIG_MAPS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o", "labels": {"a": "b"}}, "data": {"k": "v"}}),
        ),
        (
            &registry::kinds::SECRETS,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "o"}, "stringData": {"k": "v"}}),
        ),
        (
            &registry::kinds::PODS,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "o"},
                   "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]}}),
        ),
        (
            &registry::kinds::SERVICES,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "o"},
                   "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": "a"}}}),
        ),
        (
            &registry::kinds::ROLES,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "o"},
                   "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        ),
    ]
}

/// PATCH through the registry (memory storage), every patch type on a served kind (the first
/// byte picks both): the answer is the object or a client error, never a 5xx; what was
/// answered is what is stored; the object keeps its kind and name; and a merge patch or an
/// apply, sent again, changes nothing.
pub fn patch(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let targets = patch_targets();
    let (def, object) = &targets[usize::from(pick % 5)];
    let patch_type = match (pick / 5) % 5 {
        0 => PatchType::Json,
        1 => PatchType::Merge,
        2 => PatchType::StrategicMerge,
        3 => PatchType::Apply { force: false },
        _ => PatchType::Apply { force: true },
    };
    let fixed: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let reg = Registry::new(
        Arc::new(storage::MemoryStorage::new()),
        Arc::new(move || fixed),
    );
    reg.ensure_namespaces(&["default"]).unwrap();
    let opts = WriteOptions::by("fuzz");
    reg.create(def, "default", object.clone(), &opts).unwrap();
    let first = match reg.patch(def, "default", "o", patch_type, body, None, &opts) {
        Ok(w) => w.object,
        Err(e) => {
            assert!(
                (400..500).contains(&e.code),
                "a patch answered {}: {}",
                e.code,
                e.message
            );
            return;
        }
    };
    let stored = reg.get(def, "default", "o").unwrap();
    assert_eq!(first, stored, "answered one object, stored another");
    assert_eq!(first["kind"], object["kind"]);
    assert_eq!(first["metadata"]["name"], "o");
    if matches!(patch_type, PatchType::Merge | PatchType::Apply { .. }) {
        let again = reg
            .patch(def, "default", "o", patch_type, body, None, &opts)
            .unwrap()
            .object;
        assert_eq!(
            again["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"],
            "sent again, the patch changed the object:\nfirst {first}\nagain {again}"
        );
    }
}

/// WebSocket frames from a client (`server::websocket::Decoder`), fed in two pieces split
/// anywhere: never a panic, no message larger than the limit, and the same messages however
/// the bytes arrive.
pub fn websocket(data: &[u8]) {
    use server::websocket::{Decoder, MAX_MESSAGE};
    let drain = |pieces: &[&[u8]]| {
        let mut d = Decoder::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for p in pieces {
            buf.extend_from_slice(p);
            loop {
                match d.next(&mut buf) {
                    Ok(Some(m)) => {
                        assert!(m.payload.len() <= MAX_MESSAGE);
                        out.push(m);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        out.push(server::websocket::Message {
                            opcode: server::websocket::Opcode::Close,
                            payload: e.close_code().to_be_bytes().to_vec(),
                        });
                        return out;
                    }
                }
            }
        }
        out
    };
    let whole = drain(&[data]);
    let cut = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    assert_eq!(drain(&[&data[..cut], &data[cut..]]), whole);
}

/// SPDY/3.1 frames from a client (`server::spdy::Codec`), header blocks through its zlib
/// context: never a panic, and frames within the limit.
pub fn spdy(data: &[u8]) {
    use server::spdy::{Codec, Frame, MAX_FRAME};
    let mut c = Codec::default();
    let mut buf = data.to_vec();
    while let Ok(Some(f)) = c.next(&mut buf) {
        if let Frame::Data { data, .. } = f {
            assert!(data.len() <= MAX_FRAME);
        }
    }
}
