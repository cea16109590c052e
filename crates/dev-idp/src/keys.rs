//! RS256 signing keys: generation, rotation, removal, the published JWKS.

use std::fmt;
use std::sync::{PoisonError, RwLock};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, RSAKeyParameters,
    RSAKeyType,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;

use crate::error::DevIdpError;
use crate::util::random_token;

/// One RSA key: the private half signs, the public half is published.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl SigningKey {
    fn generate() -> Result<Self, DevIdpError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| DevIdpError::Key { what: "generating an RSA key", source: Some(Box::new(e)) })?;
        let pkcs8 = pair
            .as_der()
            .map_err(|e| DevIdpError::Key { what: "encoding the RSA key", source: Some(Box::new(e)) })?;
        // jsonwebtoken reads PKCS#8 keys through PEM; wrap the DER in a PEM envelope.
        let body = STANDARD.encode(pkcs8.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| DevIdpError::Key { what: "loading the RSA key", source: Some(Box::new(e)) })?;
        let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let n = URL_SAFE_NO_PAD.encode(&components.n);
        let e = URL_SAFE_NO_PAD.encode(&components.e);
        let decoding = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|e| DevIdpError::Key { what: "loading the public key", source: Some(Box::new(e)) })?;
        let kid = format!("key_{}", random_token(12));
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                key_id: Some(kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters { key_type: RSAKeyType::RSA, n, e }),
        };
        Ok(Self { kid, encoding, decoding, jwk })
    }
}

/// The set of signing keys. The newest key signs; older ones stay published until removed.
pub(crate) struct KeyRing {
    keys: RwLock<Vec<SigningKey>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("kids", &self.kids()).finish()
    }
}

impl KeyRing {
    /// A ring with one fresh key.
    pub(crate) fn new() -> Result<Self, DevIdpError> {
        Ok(Self { keys: RwLock::new(vec![SigningKey::generate()?]) })
    }

    /// Adds a fresh key that signs from now on; returns its kid.
    pub(crate) fn rotate(&self) -> Result<String, DevIdpError> {
        let key = SigningKey::generate()?;
        let kid = key.kid.clone();
        self.keys.write().unwrap_or_else(PoisonError::into_inner).push(key);
        Ok(kid)
    }

    /// Removes a key that no longer signs.
    pub(crate) fn remove(&self, kid: &str) -> Result<(), DevIdpError> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let index =
            keys.iter().position(|k| k.kid == kid).ok_or_else(|| DevIdpError::UnknownKey(kid.to_owned()))?;
        if index + 1 == keys.len() {
            return Err(DevIdpError::CurrentKey(kid.to_owned()));
        }
        keys.remove(index);
        Ok(())
    }

    /// Removes every key but the current one; returns how many went.
    pub(crate) fn remove_old(&self) -> usize {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let old = keys.len().saturating_sub(1);
        keys.drain(..old);
        old
    }

    /// The kids, oldest first (the last one signs).
    pub(crate) fn kids(&self) -> Vec<String> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).iter().map(|k| k.kid.clone()).collect()
    }

    /// The current signing key's kid.
    pub(crate) fn current_kid(&self) -> String {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .map(|k| k.kid.clone())
            .unwrap_or_default()
    }

    /// The public keys as a JWKS.
    pub(crate) fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|k| k.jwk.clone())
                .collect(),
        }
    }

    /// Signs `claims` with the current key (RS256, `typ: JWT`, `kid` set).
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, DevIdpError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let key = keys.last().ok_or(DevIdpError::Key { what: "no signing key", source: None })?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// The decoding key for `kid`, if it is still published.
    pub(crate) fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.decoding.clone())
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Validation;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn sign_rotate_remove() {
        let ring = KeyRing::new().unwrap();
        let first = ring.current_kid();
        let token = ring.sign(&json!({"sub": "u", "exp": 4_000_000_000u64})).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(first.as_str()));
        assert_eq!(header.alg, Algorithm::RS256);
        let key = ring.decoding_key(&first).unwrap();
        let data = jsonwebtoken::decode::<Value>(&token, &key, &Validation::new(Algorithm::RS256)).unwrap();
        assert_eq!(data.claims["sub"], "u");

        let second = ring.rotate().unwrap();
        assert_ne!(first, second);
        assert_eq!(ring.current_kid(), second);
        assert_eq!(ring.jwks().keys.len(), 2);
        assert!(matches!(ring.remove(&second), Err(DevIdpError::CurrentKey(_))));
        assert!(matches!(ring.remove("nope"), Err(DevIdpError::UnknownKey(_))));
        ring.remove(&first).unwrap();
        assert_eq!(ring.kids(), std::slice::from_ref(&second));
        ring.rotate().unwrap();
        ring.rotate().unwrap();
        assert_eq!(ring.remove_old(), 2);
        assert_eq!(ring.kids().len(), 1);
    }

    #[test]
    fn jwks_has_rsa_public_parts_only() {
        let ring = KeyRing::new().unwrap();
        let jwks = serde_json::to_value(ring.jwks()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["e"], "AQAB");
        assert!(key["n"].as_str().unwrap().len() > 300);
        assert!(key.get("d").is_none());
    }
}
