//! Verification keys: loading them from JWKS documents, PEM and secrets, and choosing the one a token
//! may be checked with.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use jsonwebtoken::DecodingKeyKind;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::JwtError;

/// The smallest RSA modulus accepted, in bits.
pub(crate) const MIN_RSA_BITS: usize = 2048;
/// The smallest HMAC key accepted, in bytes (the output size of SHA-256).
pub(crate) const MIN_HMAC_BYTES: usize = 32;

/// What kind of key a [`VerifyingKey`] is; decides which algorithms may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac { len: usize },
}

impl KeyKind {
    /// Whether `alg` can be used with a key of this kind.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::{ES256, ES384, EdDSA, HS256, HS384, HS512, PS256, PS384, PS512, RS256, RS384, RS512};
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::EcP256 => alg == ES256,
            Self::EcP384 => alg == ES384,
            Self::Ed25519 => alg == EdDSA,
            Self::Hmac { len } => match alg {
                HS256 => len >= 32,
                HS384 => len >= 48,
                HS512 => len >= 64,
                _ => false,
            },
        }
    }

    /// The algorithms a key of this kind is used with when nothing else is said.
    pub(crate) fn default_algorithm(self) -> Algorithm {
        match self {
            Self::Rsa => Algorithm::RS256,
            Self::EcP256 => Algorithm::ES256,
            Self::EcP384 => Algorithm::ES384,
            Self::Ed25519 => Algorithm::EdDSA,
            Self::Hmac { .. } => Algorithm::HS256,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::EcP256 => "EC P-256",
            Self::EcP384 => "EC P-384",
            Self::Ed25519 => "Ed25519",
            Self::Hmac { .. } => "HMAC secret",
        }
    }
}

/// A key parsed once for one algorithm, so verification skips per-call key parsing (RSA key
/// construction and Montgomery set-up, EC point decoding, HMAC key schedule).
pub(crate) enum Prepared {
    Public(ParsedPublicKey),
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl Prepared {
    /// Checks `signature` over `message`; `false` when it does not verify.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            // Constant-time comparison inside aws-lc.
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// One key a token may be verified with.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) kind: KeyKind,
    /// The `alg` the JWK pins this key to, if any.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
    /// The key parsed for each algorithm it fits.
    prepared: Arc<Vec<(Algorithm, Prepared)>>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The decoding key itself is never shown (for HMAC it is the secret).
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind.name())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    fn new(kid: Option<String>, kind: KeyKind, alg: Option<Algorithm>, key: DecodingKey) -> Self {
        let prepared = ALL_ALGORITHMS
            .iter()
            .copied()
            .filter(|a| alg.is_none_or(|pinned| pinned == *a) && kind.fits(*a))
            .filter_map(|a| prepare(&key, a).map(|p| (a, p)))
            .collect();
        Self { kid, kind, alg, key, prepared: Arc::new(prepared) }
    }

    /// Whether `other` is the same key: `kid`, type, pinned algorithm and key material.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        let same_material = match (self.key.kind(), other.key.kind()) {
            (DecodingKeyKind::SecretOrDer(a), DecodingKeyKind::SecretOrDer(b)) => a == b,
            (
                DecodingKeyKind::RsaModulusExponent { n: n_a, e: e_a },
                DecodingKeyKind::RsaModulusExponent { n: n_b, e: e_b },
            ) => n_a == n_b && e_a == e_b,
            _ => false,
        };
        self.kid == other.kid && self.kind == other.kind && self.alg == other.alg && same_material
    }

    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|pinned| pinned == alg) && self.kind.fits(alg)
    }

    /// The key parsed for `alg`, if it could be.
    pub(crate) fn prepared(&self, alg: Algorithm) -> Option<&Prepared> {
        self.prepared.iter().find(|(a, _)| *a == alg).map(|(_, p)| p)
    }

    /// An HMAC key from raw secret bytes.
    pub(crate) fn hmac(kid: Option<String>, secret: &[u8]) -> Result<Self, JwtError> {
        if secret.len() < MIN_HMAC_BYTES {
            return Err(JwtError::invalid_key(format!(
                "an HMAC secret needs at least {MIN_HMAC_BYTES} bytes, this one has {}",
                secret.len()
            )));
        }
        Ok(Self::new(kid, KeyKind::Hmac { len: secret.len() }, None, DecodingKey::from_secret(secret)))
    }

    /// A public key from PEM (`PUBLIC KEY` with an RSA, EC P-256/P-384 or Ed25519 key, or `RSA PUBLIC KEY`).
    pub(crate) fn from_pem(kid: Option<String>, pem: &[u8]) -> Result<Self, JwtError> {
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            let bits = key.try_get_as_bytes().map_or(0, rsa_der_modulus_bits);
            if bits != 0 && bits < MIN_RSA_BITS {
                return Err(JwtError::invalid_key(format!(
                    "RSA key of {bits} bits; at least {MIN_RSA_BITS} required"
                )));
            }
            return Ok(Self::new(kid, KeyKind::Rsa, None, key));
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            let kind = match key.try_get_as_bytes().map(<[u8]>::len) {
                Ok(65) => KeyKind::EcP256,
                Ok(97) => KeyKind::EcP384,
                _ => {
                    return Err(JwtError::invalid_key(
                        "unsupported EC curve (P-256 and P-384 are supported)",
                    ));
                }
            };
            return Ok(Self::new(kid, kind, None, key));
        }
        match DecodingKey::from_ed_pem(pem) {
            Ok(key) if key.try_get_as_bytes().is_ok_and(|b| b.len() == 32) => {
                Ok(Self::new(kid, KeyKind::Ed25519, None, key))
            }
            Ok(_) => Err(JwtError::invalid_key("unsupported Ed key (Ed25519 is supported)")),
            Err(source) => Err(JwtError::InvalidKey {
                reason: "not an RSA, EC or Ed25519 public key in PEM".into(),
                source: Some(source),
            }),
        }
    }

    /// A key from one JWK, or `Err` with the reason it is skipped.
    pub(crate) fn from_jwk(jwk: &Jwk, allow_symmetric: bool) -> Result<Self, &'static str> {
        if let Some(usage) = &jwk.common.public_key_use
            && *usage != PublicKeyUse::Signature
        {
            return Err("not a signature key (use)");
        }
        if let Some(ops) = &jwk.common.key_operations
            && !ops.contains(&KeyOperations::Verify)
        {
            return Err("key_ops does not include verify");
        }
        let alg = match jwk.common.key_algorithm {
            Some(key_alg) => Some(key_alg.to_string().parse::<Algorithm>().map_err(|_| "unsupported alg")?),
            None => None,
        };
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let n = URL_SAFE_NO_PAD.decode(&rsa.n).map_err(|_| "RSA modulus is not base64url")?;
                let bits = big_endian_bits(&n);
                if bits < MIN_RSA_BITS {
                    return Err("RSA modulus shorter than 2048 bits");
                }
                KeyKind::Rsa
            }
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyKind::EcP256,
                EllipticCurve::P384 => KeyKind::EcP384,
                _ => return Err("unsupported EC curve"),
            },
            AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
                EllipticCurve::Ed25519 => KeyKind::Ed25519,
                _ => return Err("unsupported OKP curve"),
            },
            AlgorithmParameters::OctetKey(oct) => {
                if !allow_symmetric {
                    return Err("symmetric key in a remote key set");
                }
                let len = URL_SAFE_NO_PAD.decode(&oct.value).map_err(|_| "oct key is not base64url")?.len();
                if len < MIN_HMAC_BYTES {
                    return Err("HMAC key shorter than 32 bytes");
                }
                KeyKind::Hmac { len }
            }
            _ => return Err("unsupported key type"),
        };
        if let Some(alg) = alg
            && !kind.fits(alg)
        {
            return Err("alg does not fit the key type");
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| "key material is invalid")?;
        if matches!(kind, KeyKind::EcP256 | KeyKind::EcP384) {
            let expected = if kind == KeyKind::EcP256 { 65 } else { 97 };
            if key.try_get_as_bytes().map(<[u8]>::len) != Ok(expected) {
                return Err("EC coordinates have the wrong length");
            }
        }
        if kind == KeyKind::Ed25519 && key.try_get_as_bytes().map(<[u8]>::len) != Ok(32) {
            return Err("Ed25519 key has the wrong length");
        }
        Ok(Self::new(jwk.common.key_id.clone(), kind, alg, key))
    }
}

/// Parses a JWKS document, keeping every key that can be used and skipping (and logging) the others.
///
/// # Errors
///
/// [`JwtError::InvalidJwks`] when the document is not a JSON object with a `keys` array, or when no key
/// in it is usable.
pub(crate) fn parse_jwks(bytes: &[u8], allow_symmetric: bool) -> Result<Vec<VerifyingKey>, JwtError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|source| JwtError::InvalidJwks { reason: "not JSON".into(), source: Some(source) })?;
    jwks_from_value(&doc, allow_symmetric)
}

pub(crate) fn jwks_from_value(doc: &Value, allow_symmetric: bool) -> Result<Vec<VerifyingKey>, JwtError> {
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        return Err(JwtError::invalid_jwks("no \"keys\" array"));
    };
    let mut keys = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
        let parsed = serde_json::from_value::<Jwk>(entry.clone())
            .map_err(|_| "not a JWK this library understands")
            .and_then(|jwk| VerifyingKey::from_jwk(&jwk, allow_symmetric));
        match parsed {
            Ok(key) => keys.push(key),
            Err(reason) => tracing::debug!(index, kid, reason, "skipping unusable JWK"),
        }
    }
    if keys.is_empty() {
        return Err(JwtError::invalid_jwks(format!("none of its {} keys is usable", entries.len())));
    }
    Ok(keys)
}

/// An immutable set of keys with a generation number that changes whenever the set does.
#[derive(Debug)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerifyingKey>,
    pub(crate) generation: u64,
}

impl KeySet {
    /// The key a token with `kid` and `alg` must be verified with.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&VerifyingKey, JwtError> {
        match kid {
            // A single key without a `kid` (a PEM key or secret configured without `key_id`) has no
            // name to match, so the token's `kid` is not meaningful for it.
            Some(_) if matches!(self.keys.as_slice(), [only] if only.kid.is_none()) => {
                let only = &self.keys[0];
                if only.fits(alg) {
                    Ok(only)
                } else {
                    Err(JwtError::KeyMismatch { kid: None, alg: format!("{alg:?}") })
                }
            }
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).peekable();
                if named.peek().is_none() {
                    return Err(JwtError::UnknownKid { kid: kid.to_owned() });
                }
                named.find(|k| k.fits(alg)).ok_or_else(|| JwtError::KeyMismatch {
                    kid: Some(kid.to_owned()),
                    alg: format!("{alg:?}"),
                })
            }
            None => match self.keys.as_slice() {
                [only] if only.fits(alg) => Ok(only),
                [_] => Err(JwtError::KeyMismatch { kid: None, alg: format!("{alg:?}") }),
                many => Err(JwtError::MissingKid { candidates: many.len() }),
            },
        }
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Whether `keys` are this set's keys, in any order: same `kid`s, types, pinned algorithms and key
    /// material.
    pub(crate) fn same_keys(&self, keys: &[VerifyingKey]) -> bool {
        self.keys.len() == keys.len()
            && keys.iter().all(|new| self.keys.iter().any(|old| old.same_as(new)))
            && self.keys.iter().all(|old| keys.iter().any(|new| new.same_as(old)))
    }
}

const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// Parses `key` for `alg` with aws-lc-rs, using the same algorithm parameters as jsonwebtoken's
/// aws-lc provider. `None` when it cannot (the slower jsonwebtoken path is then used).
fn prepare(key: &DecodingKey, alg: Algorithm) -> Option<Prepared> {
    use aws_lc_rs::hmac;
    let rsa: Option<&'static sig::RsaParameters> = match alg {
        Algorithm::RS256 => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Some(&sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Some(&sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Some(&sig::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Some(&sig::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    if let Some(params) = rsa {
        return match key.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.to_parsed_public_key(params).ok()
            }
            DecodingKeyKind::SecretOrDer(der) => ParsedPublicKey::new(params, der).ok(),
        }
        .map(Prepared::Public);
    }
    let bytes = key.try_get_as_bytes().ok()?;
    match alg {
        Algorithm::ES256 => {
            ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, bytes).ok().map(Prepared::Public)
        }
        Algorithm::ES384 => {
            ParsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, bytes).ok().map(Prepared::Public)
        }
        Algorithm::EdDSA => ParsedPublicKey::new(&sig::ED25519, bytes).ok().map(Prepared::Public),
        Algorithm::HS256 => Some(Prepared::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, bytes)))),
        Algorithm::HS384 => Some(Prepared::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA384, bytes)))),
        Algorithm::HS512 => Some(Prepared::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA512, bytes)))),
        _ => None,
    }
}

fn big_endian_bits(n: &[u8]) -> usize {
    let mut iter = n.iter().skip_while(|b| **b == 0);
    match iter.next() {
        Some(first) => (8 - first.leading_zeros() as usize) + 8 * iter.count(),
        None => 0,
    }
}

/// The modulus size of a PKCS#1 `RSAPublicKey` DER, or 0 when it cannot be read.
fn rsa_der_modulus_bits(der: &[u8]) -> usize {
    aws_lc_rs::rsa::PublicKey::from_der(der).map_or(0, |key| {
        let components = aws_lc_rs::signature::RsaPublicKeyComponents::<Vec<u8>>::from(&key);
        big_endian_bits(&components.n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_fit_only_their_algorithms() {
        assert!(KeyKind::Rsa.fits(Algorithm::PS512));
        assert!(!KeyKind::Rsa.fits(Algorithm::HS256));
        assert!(!KeyKind::EcP256.fits(Algorithm::ES384));
        assert!(!KeyKind::Ed25519.fits(Algorithm::ES256));
        assert!(KeyKind::Hmac { len: 32 }.fits(Algorithm::HS256));
        assert!(!KeyKind::Hmac { len: 32 }.fits(Algorithm::HS512));
        assert!(!KeyKind::Hmac { len: 64 }.fits(Algorithm::RS256));
    }

    #[test]
    fn bits_are_counted_from_the_first_set_bit() {
        assert_eq!(big_endian_bits(&[0, 0, 1]), 1);
        assert_eq!(big_endian_bits(&[0x80, 0]), 16);
        assert_eq!(big_endian_bits(&[]), 0);
    }

    #[test]
    fn bad_keys_are_skipped_not_fatal() {
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "oct", "kid": "sym", "k": URL_SAFE_NO_PAD.encode([7u8; 32])},
            {"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
            {"kty": "weird"},
            "not even an object"
        ]});
        assert!(matches!(jwks_from_value(&doc, false), Err(JwtError::InvalidJwks { .. })));
        let keys = jwks_from_value(&doc, true).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("sym"));
        assert!(!format!("{:?}", keys[0]).contains(&URL_SAFE_NO_PAD.encode([7u8; 32])));
    }

    #[test]
    fn every_key_form_is_prepared_for_every_fitting_algorithm() {
        use jsonwebtoken::jwk::Jwk;
        let pems = [
            (include_str!("../tests/keys/rsa1_public.pem"), 6),
            (include_str!("../tests/keys/ec256_public.pem"), 1),
            (include_str!("../tests/keys/ec384_public.pem"), 1),
            (include_str!("../tests/keys/ed25519_public.pem"), 1),
        ];
        for (pem, count) in pems {
            let from_pem = VerifyingKey::from_pem(None, pem.as_bytes()).unwrap();
            assert_eq!(from_pem.prepared.len(), count, "{from_pem:?} from PEM");
            let jwk = Jwk::from_decoding_key(&from_pem.key, None).unwrap();
            let from_jwk = VerifyingKey::from_jwk(&jwk, false).unwrap();
            assert_eq!(from_jwk.prepared.len(), count, "{from_jwk:?} from JWK");
            for alg in ALL_ALGORITHMS {
                assert_eq!(from_jwk.prepared(alg).is_some(), from_jwk.fits(alg), "{alg:?}");
            }
        }
        let hmac = VerifyingKey::hmac(None, &[3u8; 64]).unwrap();
        assert_eq!(hmac.prepared.len(), 3);
        let short = VerifyingKey::hmac(None, &[3u8; 32]).unwrap();
        assert!(short.prepared(Algorithm::HS256).is_some() && short.prepared(Algorithm::HS512).is_none());
    }

    #[test]
    fn short_hmac_secret_is_refused() {
        assert!(matches!(VerifyingKey::hmac(None, b"short"), Err(JwtError::InvalidKey { .. })));
    }
}
