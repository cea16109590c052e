//! Random values (codes, refresh tokens, client ids and secrets) and the keyed hashes they are stored
//! under.
//!
//! No code, refresh token or client secret is ever a store key or a stored value: each is stored under
//! (or as) its HMAC-SHA256 with a server key, so whoever reads the backend can neither use what is there
//! nor test guesses offline without the key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use mcp_auth_core::KvStorage;
use mcp_auth_core::fingerprint::{RandomnessUnavailable, fill_random};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;

/// `bytes` random bytes from the operating system, in base64url without padding.
///
/// # Errors
///
/// [`RandomnessUnavailable`] when the operating system gives no randomness (never a weaker fallback).
///
/// # Examples
///
/// ```
/// let code = mcp_auth_oauth_server::random_token(32).unwrap();
/// assert_eq!(code.len(), 43);
/// ```
pub fn random_token(bytes: usize) -> Result<String, RandomnessUnavailable> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

const KEY_BYTES: usize = 32;
const META_COLLECTION: &str = "oauth_server_meta";
const META_KEY: &str = "store-key-hmac-v1";
const HKDF_SALT: &[u8] = b"mcp-auth-oauth-server/v1";
const HKDF_INFO: &[u8] = b"mcp-auth-oauth-server/v1 store keys";

/// Hashes secrets into store keys with HMAC-SHA256 under a server key. `Debug` never shows the key.
///
/// Every instance that shares a store must use the same key: derive it from one configured secret with
/// [`from_secret`](Self::from_secret), or let the instances agree on a random one kept in the store
/// itself with [`shared_in`](Self::shared_in) (the first instance writes it with `put_if_absent`; keep
/// such a store encrypted).
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::KeyedHasher;
/// use secrecy::SecretString;
///
/// let hasher = KeyedHasher::from_secret(&SecretString::from("a configured secret of enough length"));
/// let key = hasher.hash("code_abc");
/// assert_eq!(key.len(), 64);
/// assert_eq!(key, hasher.hash("code_abc"));
/// assert_ne!(key, hasher.hash("code_abd"));
/// ```
#[derive(Clone)]
pub struct KeyedHasher {
    key: [u8; KEY_BYTES],
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedHasher([redacted])")
    }
}

impl KeyedHasher {
    /// A hasher whose key is derived from `secret` with HKDF-SHA256.
    #[must_use]
    pub fn from_secret(secret: &SecretString) -> Self {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), secret.expose_secret().as_bytes());
        let mut key = [0u8; KEY_BYTES];
        // 32 bytes is far below HKDF-SHA256's limit of 8160, so expanding cannot fail.
        let _ = hkdf.expand(HKDF_INFO, &mut key);
        Self { key }
    }

    /// A hasher with a fresh random key (for state that lives as long as the process).
    ///
    /// # Errors
    ///
    /// [`RandomnessUnavailable`].
    pub fn random() -> Result<Self, RandomnessUnavailable> {
        let mut key = [0u8; KEY_BYTES];
        fill_random(&mut key)?;
        Ok(Self { key })
    }

    /// The hasher every instance sharing `store` agrees on: the key kept in the store (collection
    /// `oauth_server_meta`), written by whichever instance comes first.
    ///
    /// # Errors
    ///
    /// [`SharedKeyError`] when the store fails, holds an unusable key, or no randomness is available.
    pub async fn shared_in(store: &dyn KvStorage) -> Result<Self, SharedKeyError> {
        let mut fresh = [0u8; KEY_BYTES];
        fill_random(&mut fresh).map_err(SharedKeyError::Randomness)?;
        store.put_if_absent(META_COLLECTION, META_KEY, &fresh, None).await?;
        let stored = store.get(META_COLLECTION, META_KEY).await?.ok_or(SharedKeyError::Vanished)?;
        let key: [u8; KEY_BYTES] = stored.as_slice().try_into().map_err(|_| SharedKeyError::Malformed)?;
        Ok(Self { key })
    }

    /// The store key for `secret`: hex HMAC-SHA256 (64 characters).
    #[must_use]
    pub fn hash(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(secret.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for byte in digest {
            out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
        }
        out
    }
}

/// Why the shared store key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedKeyError {
    /// The store failed.
    #[error("cannot load the shared store-key secret")]
    Store(#[from] mcp_auth_core::StoreError),
    /// The stored key is not 32 bytes: another program wrote there.
    #[error("the shared store-key secret in collection {META_COLLECTION} is malformed")]
    Malformed,
    /// The key vanished between writing and reading it (the store dropped it).
    #[error("the shared store-key secret vanished right after it was written")]
    Vanished,
    /// No randomness for a new key.
    #[error(transparent)]
    Randomness(RandomnessUnavailable),
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcp_auth_core::store::MemoryStore;

    use super::*;

    #[test]
    fn random_tokens_are_distinct_base64url() {
        let a = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, random_token(32).unwrap());
    }

    #[test]
    fn keys_differ_by_secret_and_never_show() {
        let a = KeyedHasher::from_secret(&SecretString::from("secret one, long enough"));
        let b = KeyedHasher::from_secret(&SecretString::from("secret two, long enough"));
        assert_ne!(a.hash("x"), b.hash("x"));
        assert_eq!(format!("{a:?}"), "KeyedHasher([redacted])");
        // RFC 4231 test case 2 shape: the output is real HMAC-SHA256.
        let known = KeyedHasher { key: *b"Jefe\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" };
        assert_eq!(
            known.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[tokio::test]
    async fn instances_sharing_a_store_agree_on_one_key() {
        let store = Arc::new(MemoryStore::new());
        let a = KeyedHasher::shared_in(store.as_ref()).await.unwrap();
        let b = KeyedHasher::shared_in(store.as_ref()).await.unwrap();
        assert_eq!(a.hash("t"), b.hash("t"));
        let other = KeyedHasher::shared_in(&MemoryStore::new()).await.unwrap();
        assert_ne!(a.hash("t"), other.hash("t"));
        store.put(META_COLLECTION, META_KEY, b"short", None).await.unwrap();
        assert!(matches!(KeyedHasher::shared_in(store.as_ref()).await, Err(SharedKeyError::Malformed)));
    }
}
