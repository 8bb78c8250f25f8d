//! JSON Web Tokens as service-account tokens use them (`pkg/serviceaccount/jwt.go`): compact
//! JWS, signed ES256 (ring; no RSA signing, RUSTSEC-2023-0071), verified RS256 or ES256 only,
//! keys identified by `kid` = base64url(SHA-256(SubjectPublicKeyInfo DER)).

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// SubjectPublicKeyInfo DER prefix of an uncompressed P-256 point (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The AlgorithmIdentifier of rsaEncryption, as it appears in an RSA SPKI.
const RSA_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Why a token or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("token is malformed")]
    Malformed,
    /// An algorithm outside the allow-list (`none`, HMAC, ...).
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    /// No verification key has the token's kid.
    #[error("invalid signature, no keys found")]
    NoKeys,
    /// The signature does not verify with any candidate key.
    #[error("invalid signature")]
    Signature,
    /// A key file held no usable key.
    #[error("unsupported or malformed key: {0}")]
    Key(String),
}

/// Supported algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (verification only).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// The JOSE name (`RS256`, `ES256`).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// A verification key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// The key id (base64url SHA-256 of the SubjectPublicKeyInfo).
    pub kid: String,
    /// The algorithm the key verifies.
    pub alg: Alg,
    /// The key in ring's format (uncompressed EC point, or PKCS#1 RSAPublicKey DER).
    raw: Vec<u8>,
    /// The public JWK for `/openid/v1/jwks`.
    pub jwk: Value,
}

fn kid_of(spki_der: &[u8]) -> String {
    B64.encode(ring::digest::digest(&ring::digest::SHA256, spki_der))
}

/// Minimal DER: (tag, content, rest).
pub(crate) fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (len0 as usize, rest)
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (
            rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize),
            &rest[n..],
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn unsigned(int: &[u8]) -> &[u8] {
    let mut i = int;
    while i.len() > 1 && i[0] == 0 {
        i = &i[1..];
    }
    i
}

impl PublicKey {
    /// From SubjectPublicKeyInfo DER (EC P-256 or RSA).
    pub fn from_spki(spki: &[u8]) -> Result<PublicKey, JwtError> {
        let bad = |m: &str| JwtError::Key(m.to_string());
        let (_, body, _) = der(spki)
            .filter(|t| t.0 == 0x30)
            .ok_or_else(|| bad("not a SubjectPublicKeyInfo"))?;
        let (_, alg_id, rest) = der(body).ok_or_else(|| bad("no algorithm"))?;
        let (_, bits, _) = der(rest)
            .filter(|t| t.0 == 0x03)
            .ok_or_else(|| bad("no key bits"))?;
        let key = bits.get(1..).ok_or_else(|| bad("empty key bits"))?;
        let kid = kid_of(spki);
        if spki.starts_with(&P256_SPKI_PREFIX) && key.len() == 65 && key[0] == 4 {
            let jwk = json!({"use": "sig", "kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
                             "x": B64.encode(&key[1..33]), "y": B64.encode(&key[33..])});
            return Ok(PublicKey {
                kid,
                alg: Alg::Es256,
                raw: key.to_vec(),
                jwk,
            });
        }
        let (_, oid, _) = der(alg_id).ok_or_else(|| bad("no algorithm oid"))?;
        if oid != RSA_OID {
            return Err(bad("only RSA and EC P-256 keys are supported"));
        }
        let (_, seq, _) = der(key).ok_or_else(|| bad("no RSA key"))?;
        let (_, n, rest) = der(seq).ok_or_else(|| bad("no modulus"))?;
        let (_, e, _) = der(rest).ok_or_else(|| bad("no exponent"))?;
        let jwk = json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
                         "n": B64.encode(unsigned(n)), "e": B64.encode(unsigned(e))});
        Ok(PublicKey {
            kid,
            alg: Alg::Rs256,
            raw: key.to_vec(),
            jwk,
        })
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self.alg {
            Alg::Es256 => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.raw)
                .verify(message, sig)
                .is_ok(),
            Alg::Rs256 => UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.raw)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

/// Parses every key in a PEM file: `PUBLIC KEY` (SPKI) blocks, and `PRIVATE KEY` (PKCS#8 EC
/// P-256) blocks, whose public half is used.
pub fn public_keys_from_pem(pem: &str) -> Result<Vec<PublicKey>, JwtError> {
    let mut out = Vec::new();
    for (label, der) in pem_blocks(pem)? {
        match label.as_str() {
            "PUBLIC KEY" => out.push(PublicKey::from_spki(&der)?),
            "PRIVATE KEY" => out.push(Signer::from_pkcs8(&der)?.public.clone()),
            other => return Err(JwtError::Key(format!("unsupported PEM block {other:?}"))),
        }
    }
    if out.is_empty() {
        return Err(JwtError::Key("no keys in file".into()));
    }
    Ok(out)
}

fn pem_blocks(pem: &str) -> Result<Vec<(String, Vec<u8>)>, JwtError> {
    let mut out = Vec::new();
    let mut lines = pem.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let mut b64 = String::new();
        for l in lines.by_ref() {
            if l.trim().starts_with("-----END ") {
                break;
            }
            b64.push_str(l.trim());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| JwtError::Key("bad PEM base64".into()))?;
        out.push((label.to_string(), der));
    }
    Ok(out)
}

/// The signing key (ES256, P-256).
pub struct Signer {
    key: EcdsaKeyPair,
    /// The public half, for verification and the JWKS.
    pub public: PublicKey,
}

impl Signer {
    /// A signer from a PKCS#8 P-256 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Signer, JwtError> {
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            der,
            &SystemRandom::new(),
        )
        .map_err(|_| JwtError::Key("signing key must be an EC P-256 PKCS#8 key".into()))?;
        let spki = [&P256_SPKI_PREFIX[..], key.public_key().as_ref()].concat();
        let public = PublicKey::from_spki(&spki)?;
        Ok(Signer { key, public })
    }

    /// Loads the first `PRIVATE KEY` block of a PEM file.
    pub fn from_pem(pem: &str) -> Result<Signer, JwtError> {
        let (_, der) = pem_blocks(pem)?
            .into_iter()
            .find(|(l, _)| l == "PRIVATE KEY")
            .ok_or_else(|| JwtError::Key("no PRIVATE KEY block".into()))?;
        Signer::from_pkcs8(&der)
    }

    /// A compact JWS of `claims`, header `{"alg":"ES256","kid":...}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.public.kid});
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ECDSA signing does not fail");
        format!("{signing_input}.{}", B64.encode(sig.as_ref()))
    }
}

/// A NumericDate claim (`exp`, `nbf`, `iat`) as go-jose reads it: any JSON number, floats
/// truncated toward zero (`strconv.ParseFloat` then `int64`); absent or null is None. Anything
/// else, or a number outside the 64-bit range, is an error, which fails authentication: a
/// claim that cannot be read must never skip its check.
pub fn numeric_date(claims: &Value, key: &str) -> Result<Option<i64>, String> {
    const ERR: &str = "square/go-jose/jwt: expected number value to unmarshal NumericDate";
    match claims.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // i64::MAX as f64 rounds up to 2^63, itself out of range: compare with `<`.
            (None, Some(f)) if f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64 =>
            {
                #[allow(clippy::cast_possible_truncation, reason = "truncation is go-jose's")]
                Ok(Some(f.trunc() as i64))
            }
            _ => Err(ERR.into()),
        },
        Some(_) => Err(ERR.into()),
    }
}

/// The claims of a token, unverified (for routing it to the authenticator of its issuer).
pub fn unverified_claims(token: &str) -> Option<Value> {
    let t = token.trim();
    if t.starts_with('{') {
        return None;
    }
    let mut parts = t.split('.');
    let (_, payload, _, extra) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    if extra.is_some() {
        return None;
    }
    serde_json::from_slice::<Value>(&B64.decode(payload).ok()?)
        .ok()
        .filter(Value::is_object)
}

/// Verifies the signature with the allowed algorithms and keys; returns the claims.
pub fn verify(token: &str, keys: &[PublicKey]) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => return Err(JwtError::Malformed),
    };
    let header: Value = serde_json::from_slice(&B64.decode(h).map_err(|_| JwtError::Malformed)?)
        .map_err(|_| JwtError::Malformed)?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Alg::Rs256,
        Some("ES256") => Alg::Es256,
        other => return Err(JwtError::Algorithm(other.unwrap_or("").to_string())),
    };
    let sig = B64.decode(s).map_err(|_| JwtError::Malformed)?;
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
    let candidates: Vec<&PublicKey> = keys
        .iter()
        .filter(|k| k.alg == alg && (kid.is_empty() || k.kid == kid))
        .collect();
    if candidates.is_empty() {
        return Err(JwtError::NoKeys);
    }
    let message = format!("{h}.{p}");
    if !candidates
        .iter()
        .any(|k| k.verify(message.as_bytes(), &sig))
    {
        return Err(JwtError::Signature);
    }
    serde_json::from_slice(&B64.decode(p).map_err(|_| JwtError::Malformed)?)
        .map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_as_go_jose_reads_them() {
        let c = json!({"i": 1700000000, "f": 1700000000.9, "neg": -5.5, "big": 1e300,
                       "s": "1700000000", "b": true, "n": null, "u": 18446744073709551615u64});
        let d = |k: &str| numeric_date(&c, k);
        assert_eq!(d("i"), Ok(Some(1_700_000_000)));
        assert_eq!(
            d("f"),
            Ok(Some(1_700_000_000)),
            "floats are read, truncated"
        );
        assert_eq!(d("neg"), Ok(Some(-5)));
        assert_eq!(d("n"), Ok(None));
        assert_eq!(d("absent"), Ok(None));
        for bad in ["big", "s", "b", "u"] {
            assert!(d(bad).is_err(), "{bad} must fail, never skip the check");
        }
    }

    fn signer() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        Signer::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn sign_verify_and_tamper() {
        let s = signer();
        let t = s.sign(&json!({"sub": "x", "iss": "i"}));
        assert_eq!(
            verify(&t, std::slice::from_ref(&s.public)).unwrap()["sub"],
            "x"
        );
        assert_eq!(s.public.kid.len(), 43);
        // One byte changed in the payload.
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        parts[1] = B64.encode(json!({"sub": "y", "iss": "i"}).to_string());
        assert_eq!(
            verify(&parts.join("."), std::slice::from_ref(&s.public)),
            Err(JwtError::Signature)
        );
        // Another key with the same kid claim cannot verify it.
        let other = signer();
        assert_eq!(
            verify(&t, std::slice::from_ref(&other.public)),
            Err(JwtError::NoKeys)
        );
        // alg none and HMAC are refused before any key is looked at.
        for alg in ["none", "HS256"] {
            let forged = format!(
                "{}.{}.",
                B64.encode(json!({"alg": alg}).to_string()),
                parts[1]
            );
            assert_eq!(
                verify(&forged, std::slice::from_ref(&s.public)),
                Err(JwtError::Algorithm(alg.into()))
            );
        }
        assert_eq!(verify("a.b", &[]), Err(JwtError::Malformed));
        assert!(unverified_claims(&t).is_some() && unverified_claims("{\"a\":1}").is_none());
    }
}
