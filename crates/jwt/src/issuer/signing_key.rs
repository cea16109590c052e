//! [`SigningKey`]: the private keys a [`JwtIssuer`](crate::JwtIssuer) signs with.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey};
use mcp_auth_core::settings::Settings;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::{HKDF_INFO, HKDF_KID_INFO, HKDF_SALT, SIGNING_KEY_ENV};
use crate::error::JwtError;
use crate::keys::{MIN_HMAC_BYTES, VerifyingKey};

/// A key the issuer signs with: HMAC (derived from a secret), ES256, EdDSA or RS256.
///
/// `Debug` shows only the `kid` and algorithm, never key material.
pub struct SigningKey {
    pub(super) kid: String,
    pub(super) alg: Algorithm,
    pub(super) encoding: EncodingKey,
    pub(super) verifying: VerifyingKey,
    pub(super) public: Option<Jwk>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    /// A new random ECDSA P-256 key (ES256).
    ///
    /// # Errors
    ///
    /// [`JwtError::Crypto`] if the crypto library fails.
    pub fn generate_es256(kid: impl Into<String>) -> Result<Self, JwtError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map_err(|_| JwtError::Crypto("cannot generate a P-256 key"))?;
        Self::asymmetric(kid.into(), Algorithm::ES256, EncodingKey::from_ec_der(pkcs8.as_ref()))
    }

    /// A new random Ed25519 key (EdDSA).
    ///
    /// # Errors
    ///
    /// [`JwtError::Crypto`] if the crypto library fails.
    pub fn generate_ed25519(kid: impl Into<String>) -> Result<Self, JwtError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| JwtError::Crypto("cannot generate an Ed25519 key"))?;
        Self::asymmetric(kid.into(), Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8.as_ref()))
    }

    /// A new random 2048-bit RSA key (RS256), the algorithm most OAuth clients and OpenID Connect
    /// libraries expect. Its public half is published as a JWK with `kid`, `use: sig` and `alg: RS256`.
    ///
    /// Generating an RSA key takes tens of milliseconds; generate it once at start-up or on rotation.
    ///
    /// # Errors
    ///
    /// [`JwtError::Crypto`] if the crypto library fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate_rs256("key-2026-11")?;
    /// assert_eq!(key.algorithm(), Algorithm::RS256);
    /// let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    /// assert_eq!((jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()), (Some("RSA"), Some("RS256"), Some("sig")));
    /// assert_eq!(jwk["kid"], "key-2026-11");
    /// assert!(jwk.get("d").is_none(), "only the public half is published");
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn generate_rs256(kid: impl Into<String>) -> Result<Self, JwtError> {
        use aws_lc_rs::encoding::AsDer as _;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| JwtError::Crypto("cannot generate an RSA key"))?;
        let pkcs8 = pair.as_der().map_err(|_| JwtError::Crypto("cannot encode the RSA key"))?;
        // jsonwebtoken reads RSA private keys as PKCS#1 DER or as PEM (PKCS#1 or PKCS#8); aws-lc-rs
        // writes PKCS#8 DER only, so the key goes through a PEM envelope, zeroised when dropped.
        let pem = SecretString::from(pkcs8_pem(pkcs8.as_ref()));
        let key = Self::from_pem(kid, &pem)?;
        if key.alg == Algorithm::RS256 {
            Ok(key)
        } else {
            Err(JwtError::Crypto("the generated RSA key did not load as RSA"))
        }
    }

    /// A new random private key for `alg` (ES256, EdDSA or RS256) as PKCS#8 PEM, the form
    /// `MCP_AUTH_JWT_SIGNING_KEY` and [`from_pem`](Self::from_pem) take: for `mcp-auth keygen` and for
    /// secret managers. The PEM is zeroised when the returned secret is dropped.
    ///
    /// # Errors
    ///
    /// [`JwtError::InvalidKey`] for any other algorithm, [`JwtError::Crypto`] if the crypto library fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{Algorithm, SigningKey};
    ///
    /// let pem = SigningKey::generate_pem(Algorithm::ES256)?;
    /// assert_eq!(SigningKey::from_pem("key-1", &pem)?.algorithm(), Algorithm::ES256);
    /// assert!(SigningKey::generate_pem(Algorithm::HS256).is_err());
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn generate_pem(alg: Algorithm) -> Result<SecretString, JwtError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8: Vec<u8> = match alg {
            Algorithm::ES256 => aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|_| JwtError::Crypto("cannot generate a P-256 key"))?
            .as_ref()
            .to_vec(),
            Algorithm::EdDSA => aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| JwtError::Crypto("cannot generate an Ed25519 key"))?
                .as_ref()
                .to_vec(),
            Algorithm::RS256 => {
                use aws_lc_rs::encoding::AsDer as _;
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| JwtError::Crypto("cannot generate an RSA key"))?;
                pair.as_der().map_err(|_| JwtError::Crypto("cannot encode the RSA key"))?.as_ref().to_vec()
            }
            other => {
                return Err(JwtError::invalid_key(format!(
                    "cannot generate a private key for {other:?}: ES256, EdDSA and RS256 are supported"
                )));
            }
        };
        let mut pkcs8 = pkcs8;
        let pem = SecretString::from(pkcs8_pem(&pkcs8));
        pkcs8.fill(0);
        Ok(pem)
    }

    /// A key from a PKCS#8 private key in PEM: EC P-256 (ES256), Ed25519 (EdDSA) or RSA of at least 2048
    /// bits (RS256).
    ///
    /// # Errors
    ///
    /// [`JwtError::InvalidKey`] when the PEM holds none of these.
    pub fn from_pem(kid: impl Into<String>, pem: &SecretString) -> Result<Self, JwtError> {
        let kid = kid.into();
        let bytes = pem.expose_secret().as_bytes();
        if let Ok(key) = EncodingKey::from_ec_pem(bytes) {
            return Self::asymmetric(kid, Algorithm::ES256, key).map_err(|_| {
                JwtError::invalid_key("EC private key is not on P-256 (ES256 is the supported EC algorithm)")
            });
        }
        if let Ok(key) = EncodingKey::from_ed_pem(bytes) {
            return Self::asymmetric(kid, Algorithm::EdDSA, key);
        }
        match EncodingKey::from_rsa_pem(bytes) {
            Ok(key) => Self::asymmetric(kid, Algorithm::RS256, key),
            Err(source) => Err(JwtError::InvalidKey {
                reason: "not a PKCS#8 EC P-256, Ed25519 or RSA private key in PEM".into(),
                source: Some(source),
            }),
        }
    }

    /// An HS256 key derived from `secret` (at least 32 bytes) with HKDF-SHA256, salt [`HKDF_SALT`] and
    /// info [`HKDF_INFO`]. The `kid` is derived too (`hs256-` and 16 hex digits), so the same secret gives
    /// the same `kid` on every instance.
    ///
    /// # Errors
    ///
    /// [`JwtError::InvalidKey`] when the secret is shorter than 32 bytes.
    pub fn from_hmac_secret(secret: &SecretString) -> Result<Self, JwtError> {
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < MIN_HMAC_BYTES {
            return Err(JwtError::invalid_key(format!(
                "the signing secret needs at least {MIN_HMAC_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            )));
        }
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let mut okm = [0u8; 32];
        hkdf.expand(HKDF_INFO, &mut okm).map_err(|_| JwtError::Crypto("HKDF expand failed"))?;
        let mut id = [0u8; 8];
        hkdf.expand(HKDF_KID_INFO, &mut id).map_err(|_| JwtError::Crypto("HKDF expand failed"))?;
        let kid = format!("hs256-{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let verifying = VerifyingKey::hmac(Some(kid.clone()), &okm)?;
        let encoding = EncodingKey::from_secret(&okm);
        okm.fill(0);
        Ok(Self { kid, alg: Algorithm::HS256, encoding, verifying, public: None })
    }

    /// The key in `MCP_AUTH_JWT_SIGNING_KEY`, if set: a PEM private key (see [`from_pem`](Self::from_pem),
    /// `kid` from `MCP_AUTH_JWT_SIGNING_KEY_ID`, default `key-1`) or else a secret for
    /// [`from_hmac_secret`](Self::from_hmac_secret).
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] naming the variable when its value is not a usable key (the value itself is
    /// never echoed).
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, JwtError> {
        Self::from_named_settings(settings, SIGNING_KEY_ENV, "key-1")
    }

    /// The key in `MCP_AUTH_JWT_PREVIOUS_SIGNING_KEY`, if set: the key a rotation replaced, kept to verify
    /// the tokens it signed until they expire (`kid` from `MCP_AUTH_JWT_PREVIOUS_SIGNING_KEY_ID` for a PEM
    /// key, default `key-0`).
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] naming the variable when its value is not a usable key.
    pub fn previous_from_settings(settings: &Settings) -> Result<Option<Self>, JwtError> {
        Self::from_named_settings(settings, "MCP_AUTH_JWT_PREVIOUS_SIGNING_KEY", "key-0")
    }

    /// The key in the variable `var` (full name), its PEM `kid` in `<var>_ID`.
    fn from_named_settings(
        settings: &Settings,
        var: &'static str,
        default_kid: &str,
    ) -> Result<Option<Self>, JwtError> {
        let name = var.trim_start_matches(mcp_auth_core::settings::ENV_PREFIX);
        let Some(secret) = settings.secret(name) else { return Ok(None) };
        let key = if secret.expose_secret().trim_start().starts_with("-----BEGIN") {
            let kid = settings.string(&format!("{name}_ID")).unwrap_or_else(|| default_kid.to_owned());
            Self::from_pem(kid, &secret)
        } else {
            Self::from_hmac_secret(&secret)
        };
        key.map(Some).map_err(|err| JwtError::config(var, err.to_string()))
    }

    fn asymmetric(kid: String, alg: Algorithm, encoding: EncodingKey) -> Result<Self, JwtError> {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(|source| JwtError::InvalidKey {
            reason: "cannot derive the public key".into(),
            source: Some(source),
        })?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let verifying = VerifyingKey::from_jwk(&jwk, false).map_err(JwtError::invalid_key)?;
        Ok(Self { kid, alg, encoding, verifying, public: Some(jwk) })
    }

    /// The key id put in the `kid` header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK (`None` for HMAC keys, which have no public part).
    #[must_use]
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }
}

/// A PKCS#8 DER key in a PEM envelope.
fn pkcs8_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN PRIVATE KEY-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        // Base64 is ASCII, so every index is a character boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        pem.push_str(line);
        pem.push('\n');
        rest = tail;
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_key_material() {
        let secret = SecretString::from("correct horse battery staple, long enough");
        let key = SigningKey::from_hmac_secret(&secret).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains("correct horse"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn generated_rsa_keys_are_2048_bit_rs256_and_redacted() {
        let key = SigningKey::generate_rs256("rsa-1").unwrap();
        assert_eq!((key.kid(), key.algorithm()), ("rsa-1", Algorithm::RS256));
        let jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "rsa-1");
        assert_eq!(jwk["e"], "AQAB");
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "a 2048-bit modulus");
        assert!(jwk.get("d").is_none() && jwk.get("p").is_none(), "no private part in {jwk}");
        // The JWK pins the key to RS256, so it never verifies PS256 or any other RSA algorithm.
        assert!(key.verifying.fits(Algorithm::RS256));
        assert!(!key.verifying.fits(Algorithm::PS256) && !key.verifying.fits(Algorithm::RS512));
        // Debug shows neither the PEM nor the DER of the private key.
        let debug = format!("{key:?}");
        assert!(debug.contains("REDACTED") && !debug.contains("PRIVATE KEY"), "{debug}");
        assert!(!debug.contains(jwk["n"].as_str().unwrap()), "{debug}");
        let other = SigningKey::generate_rs256("rsa-2").unwrap();
        assert_ne!(serde_json::to_value(other.public_jwk().unwrap()).unwrap()["n"], jwk["n"], "fresh keys");
    }

    #[test]
    fn generated_pems_load_through_the_settings() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
            let pem = SigningKey::generate_pem(alg).unwrap();
            assert!(pem.expose_secret().starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let settings = Settings::from_pairs([(SIGNING_KEY_ENV, pem.expose_secret())]);
            let key = SigningKey::from_settings(&settings).unwrap().unwrap();
            assert_eq!((key.algorithm(), key.kid()), (alg, "key-1"));
            assert!(!format!("{pem:?}").contains("PRIVATE KEY"));
        }
        assert!(matches!(SigningKey::generate_pem(Algorithm::HS256), Err(JwtError::InvalidKey { .. })));
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = pkcs8_pem(&[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN PRIVATE KEY-----"));
        assert_eq!(lines.last(), Some(&"-----END PRIVATE KEY-----"));
        // 100 bytes are 136 base64 characters: two full lines and one of 8.
        assert_eq!(lines.len(), 5);
        assert_eq!([lines[1].len(), lines[2].len(), lines[3].len()], [64, 64, 8]);
    }

    #[test]
    fn hkdf_key_is_stable_and_kid_reveals_nothing() {
        let secret = SecretString::from("0123456789abcdef0123456789abcdef");
        let a = SigningKey::from_hmac_secret(&secret).unwrap();
        let b = SigningKey::from_hmac_secret(&secret).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert!(a.kid().starts_with("hs256-") && a.kid().len() == 22, "{}", a.kid());
        let other =
            SigningKey::from_hmac_secret(&SecretString::from("another secret of 32+ bytes......")).unwrap();
        assert_ne!(a.kid(), other.kid());
        assert!(a.public_jwk().is_none());
        assert!(matches!(
            SigningKey::from_hmac_secret(&SecretString::from("short")),
            Err(JwtError::InvalidKey { .. })
        ));
    }

    #[test]
    fn settings_pick_pem_or_secret() {
        assert!(
            SigningKey::from_settings(&Settings::from_pairs([("MCP_AUTH_OTHER", "x")])).unwrap().is_none()
        );
        let hmac = SigningKey::from_settings(&Settings::from_pairs([(SIGNING_KEY_ENV, "x".repeat(40))]))
            .unwrap()
            .unwrap();
        assert_eq!(hmac.algorithm(), Algorithm::HS256);
        let pem = include_str!("../../tests/keys/ec256_private.pem");
        let ec = SigningKey::from_settings(&Settings::from_pairs([
            (SIGNING_KEY_ENV, pem),
            ("MCP_AUTH_JWT_SIGNING_KEY_ID", "ec-1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((ec.algorithm(), ec.kid()), (Algorithm::ES256, "ec-1"));
        let err =
            SigningKey::from_settings(&Settings::from_pairs([(SIGNING_KEY_ENV, "short-value")])).unwrap_err();
        assert!(err.to_string().starts_with(SIGNING_KEY_ENV), "{err}");
        assert!(!err.to_string().contains("short-value"), "{err}");
    }

    #[test]
    fn pem_keys_of_each_type_load() {
        for (file, alg) in [
            (include_str!("../../tests/keys/ec256_private.pem"), Algorithm::ES256),
            (include_str!("../../tests/keys/ed25519_private.pem"), Algorithm::EdDSA),
            (include_str!("../../tests/keys/rsa1_private.pem"), Algorithm::RS256),
        ] {
            let key = SigningKey::from_pem("k", &SecretString::from(file)).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert!(key.public_jwk().is_some());
        }
        assert!(matches!(
            SigningKey::from_pem(
                "k",
                &SecretString::from(include_str!("../../tests/keys/ec384_private.pem"))
            ),
            Err(JwtError::InvalidKey { .. })
        ));
    }
}
