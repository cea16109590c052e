//! Fernet encryption for any [`KvStorage`]: [`FernetStore`] encrypts every value before it reaches the
//! inner store and decrypts it on the way back, with key rotation.
//!
//! `FernetStore<S>` is itself a `KvStorage`, so "Fernet-encrypted Redis" is
//! `FernetStore::new(RedisStore::connect(url).await?, keys)?`, and the same wrapper works over the
//! memory and file stores. Values are standard [Fernet](https://github.com/fernet/spec) tokens
//! (AES-128-CBC plus HMAC-SHA256, url-safe base64), interoperable with Python's
//! `cryptography.fernet`: a value written by one side is read by the other with the same key.
//!
//! # Security notes
//!
//! - **Only values are encrypted.** Collection names and keys are passed to the inner store as they are,
//!   so whoever can read the backend (a Redis `SCAN`, a directory listing) sees them. Never put a secret
//!   in a key: hash bearer tokens and codes (for example SHA-256) before using them as keys.
//! - A Fernet token carries its creation time in clear, so the backend also sees when each value was
//!   written.
//! - A value that fails to decrypt (wrong key, tampered bytes, a foreign value) is a
//!   [`StoreError::Corrupt`] whose source is [`Undecryptable`] ("wrong key or tampered data"). It is
//!   never silently treated as missing unless you opt in with
//!   [`FernetStoreBuilder::treat_undecryptable_as_missing`].
//! - Fernet refuses tokens stamped more than 60 seconds in the future, so the clocks of processes that
//!   share a backend must agree within a minute.
//!
//! # Keys and rotation
//!
//! Keys come newest first, from code or from `MCP_AUTH_FERNET_KEYS` (comma-separated). The first key
//! encrypts; every key decrypts. To rotate: put a new key first and keep the old one after it, deploy,
//! run [`FernetStore::reencrypt_collection`] on each collection, then drop the old key.
//!
//! ```
//! use mcp_auth_core::store::{KvStorage, MemoryStore};
//! use mcp_auth_fernet::{FernetKey, FernetStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let key = FernetKey::generate();
//! let store = FernetStore::new(MemoryStore::new(), vec![key]).unwrap();
//! store.put("tokens", "sha256-of-the-token", b"upstream refresh token", None).await.unwrap();
//! assert_eq!(
//!     store.get("tokens", "sha256-of-the-token").await.unwrap().as_deref(),
//!     Some(&b"upstream refresh token"[..])
//! );
//! // The inner store holds only ciphertext.
//! let raw = store.inner().get("tokens", "sha256-of-the-token").await.unwrap().unwrap();
//! assert!(raw.starts_with(b"gAAAAA"));
//! # });
//! ```
//!
//! # Features
//!
//! This crate has no optional features. It uses the pure-Rust (`rustcrypto`) backend of the `fernet`
//! crate, so it needs no system OpenSSL.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use fernet::{Fernet, MultiFernet};
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::store::{Expiry, KeyPage, KvStorage, StoreError};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// The backend name in [`StoreError`]s raised by this wrapper.
pub const BACKEND: &str = "fernet";

/// The variable (after `MCP_AUTH_`) that holds the comma-separated keys, newest first.
pub const KEYS_VAR: &str = "FERNET_KEYS";

/// How to make a new key, shown in every malformed-key error.
pub const GENERATE_KEY_HINT: &str = "generate one with `python3 -c \"from cryptography.fernet import Fernet; \
     print(Fernet.generate_key().decode())\"` or `mcp_auth_fernet::FernetKey::generate()`";

/// A Fernet key: 32 random bytes in url-safe base64 (44 characters). Secret: its `Debug` is redacted and
/// it has no `Display`.
///
/// # Examples
///
/// ```
/// use mcp_auth_fernet::FernetKey;
///
/// let key = FernetKey::generate();
/// assert!(!format!("{key:?}").contains(key.expose_secret()));
/// let same: FernetKey = key.expose_secret().parse().unwrap();
/// assert!("not a key".parse::<FernetKey>().unwrap_err().to_string().contains("generate one"));
/// ```
#[derive(Clone)]
pub struct FernetKey {
    encoded: SecretString,
}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey([redacted])")
    }
}

impl FernetKey {
    /// Validates `encoded` (url-safe base64 of 32 bytes, padded, as Python's `Fernet.generate_key()`
    /// prints). Surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`FernetError::MalformedKey`], which says how to generate a key and never shows the value.
    pub fn new(encoded: impl AsRef<str>) -> Result<Self, FernetError> {
        Self::parse_at(encoded.as_ref(), None)
    }

    fn parse_at(encoded: &str, position: Option<usize>) -> Result<Self, FernetError> {
        let encoded = encoded.trim();
        if Fernet::new(encoded).is_none() {
            return Err(FernetError::MalformedKey { position });
        }
        Ok(Self { encoded: SecretString::from(encoded.to_owned()) })
    }

    /// A new random key from the operating system's generator.
    #[must_use]
    pub fn generate() -> Self {
        Self { encoded: SecretString::from(Fernet::generate_key()) }
    }

    /// The encoded key, to store in a secret manager. Handle with care.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.encoded.expose_secret()
    }

    fn fernet(&self) -> Fernet {
        // Validated on construction.
        Fernet::new(self.encoded.expose_secret()).expect("FernetKey holds a validated key")
    }

    /// Parses a comma-separated list of keys, newest first (the format of `MCP_AUTH_FERNET_KEYS`). Empty
    /// items (a trailing comma) are skipped.
    ///
    /// # Errors
    ///
    /// [`FernetError::NoKeys`] for an empty list, [`FernetError::MalformedKey`] naming the position of the
    /// first bad key.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, FernetError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .enumerate()
            .map(|(i, item)| Self::parse_at(item, Some(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(FernetError::NoKeys);
        }
        Ok(keys)
    }

    /// The keys in `MCP_AUTH_FERNET_KEYS`, newest first.
    ///
    /// # Errors
    ///
    /// [`FernetError::Settings`] when the variable is unset, [`FernetError::MalformedKey`] for a bad key
    /// (the message names the variable and the key's position, never its value).
    pub fn from_settings(settings: &Settings) -> Result<Vec<Self>, FernetError> {
        let list = settings.require_secret(KEYS_VAR, "<44-character key>,<older key>")?;
        Self::parse_list(list.expose_secret()).map_err(|err| match err {
            FernetError::MalformedKey { position } => FernetError::MalformedSetting {
                var: Settings::var_name(KEYS_VAR),
                position: position.unwrap_or(1),
            },
            FernetError::NoKeys => FernetError::Settings(SettingsError::Missing {
                var: Settings::var_name(KEYS_VAR),
                example: "<44-character key>,<older key>".to_owned(),
            }),
            other => other,
        })
    }
}

impl FromStr for FernetKey {
    type Err = FernetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Building a [`FernetStore`] or reading its keys failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FernetError {
    /// No key was given: at least one is needed to encrypt.
    #[error("no Fernet key given: set MCP_AUTH_FERNET_KEYS or pass at least one key; {GENERATE_KEY_HINT}")]
    NoKeys,
    /// A key is not 32 bytes of url-safe base64. The value is never shown.
    #[error(
        "Fernet key{} is malformed: it must be 32 bytes in url-safe base64 (44 characters); {GENERATE_KEY_HINT}",
        position.map(|p| format!(" #{p}")).unwrap_or_default()
    )]
    MalformedKey {
        /// The 1-based position of the key in a list, when it came from one.
        position: Option<usize>,
    },
    /// A key in a settings variable is malformed. The value is never shown.
    #[error(
        "{var}: key #{position} is malformed: each key must be 32 bytes in url-safe base64 (44 characters), \
         newest first, comma-separated; {GENERATE_KEY_HINT}"
    )]
    MalformedSetting {
        /// The variable, `MCP_AUTH_FERNET_KEYS`.
        var: String,
        /// The 1-based position of the bad key.
        position: usize,
    },
    /// The keys variable is missing.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// The source of a [`StoreError::Corrupt`] raised when a stored value cannot be decrypted.
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt the stored value with any configured Fernet key: wrong key or tampered data")]
#[non_exhaustive]
pub struct Undecryptable;

/// A [`KvStorage`] that encrypts values with Fernet before they reach `S`.
///
/// See the [crate docs](crate) for what is and is not encrypted.
pub struct FernetStore<S> {
    inner: S,
    multi: MultiFernet,
    newest: Fernet,
    key_count: usize,
    undecryptable_as_missing: bool,
}

impl<S: fmt::Debug> fmt::Debug for FernetStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetStore")
            .field("inner", &self.inner)
            .field("keys", &format_args!("[{} redacted]", self.key_count))
            .field("treat_undecryptable_as_missing", &self.undecryptable_as_missing)
            .finish()
    }
}

/// Builds a [`FernetStore`] with non-default options.
#[must_use]
pub struct FernetStoreBuilder<S> {
    inner: S,
    keys: Vec<FernetKey>,
    undecryptable_as_missing: bool,
}

impl<S: fmt::Debug> fmt::Debug for FernetStoreBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetStoreBuilder")
            .field("inner", &self.inner)
            .field("keys", &self.keys)
            .field("treat_undecryptable_as_missing", &self.undecryptable_as_missing)
            .finish()
    }
}

impl<S: KvStorage> FernetStoreBuilder<S> {
    /// Reads values that cannot be decrypted as missing (logged at `warn`) instead of failing with
    /// [`StoreError::Corrupt`]. Off by default. Meant for caches whose entries may be dropped after a key
    /// is retired; never for state that must not silently vanish. `put_if_absent` still sees such an
    /// entry as present.
    pub fn treat_undecryptable_as_missing(mut self, yes: bool) -> Self {
        self.undecryptable_as_missing = yes;
        self
    }

    /// Builds the store.
    ///
    /// # Errors
    ///
    /// [`FernetError::NoKeys`] when no key was given.
    pub fn build(self) -> Result<FernetStore<S>, FernetError> {
        let Some(first) = self.keys.first() else { return Err(FernetError::NoKeys) };
        let newest = first.fernet();
        let multi = MultiFernet::new(self.keys.iter().map(FernetKey::fernet).collect());
        Ok(FernetStore {
            inner: self.inner,
            multi,
            newest,
            key_count: self.keys.len(),
            undecryptable_as_missing: self.undecryptable_as_missing,
        })
    }
}

/// How many keys `reencrypt_collection` asks the inner store for at a time.
const REENCRYPT_PAGE: usize = 500;

/// What [`FernetStore::reencrypt_collection`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reencryption {
    /// Keys listed in the collection.
    pub examined: usize,
    /// Entries rewritten under the newest key.
    pub reencrypted: usize,
    /// Entries already under the newest key, left alone.
    pub already_current: usize,
    /// Entries removed or expired between listing and rewriting (or whose TTL had run out), left alone.
    pub skipped: usize,
    /// Entries no configured key decrypts, left alone (and logged at `warn`).
    pub undecryptable: usize,
}

impl<S: KvStorage> FernetStore<S> {
    /// Wraps `inner`, encrypting with the first of `keys` and decrypting with any of them.
    ///
    /// # Errors
    ///
    /// [`FernetError::NoKeys`] when `keys` is empty.
    pub fn new(inner: S, keys: Vec<FernetKey>) -> Result<Self, FernetError> {
        Self::builder(inner, keys).build()
    }

    /// Wraps `inner` with the keys in `MCP_AUTH_FERNET_KEYS`.
    ///
    /// # Errors
    ///
    /// [`FernetError`] when the variable is missing or holds a malformed key.
    pub fn from_settings(inner: S, settings: &Settings) -> Result<Self, FernetError> {
        Self::new(inner, FernetKey::from_settings(settings)?)
    }

    /// A builder, for [`treat_undecryptable_as_missing`](FernetStoreBuilder::treat_undecryptable_as_missing).
    pub fn builder(inner: S, keys: Vec<FernetKey>) -> FernetStoreBuilder<S> {
        FernetStoreBuilder { inner, keys, undecryptable_as_missing: false }
    }

    /// The wrapped store, which holds ciphertext.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn encrypt(&self, value: &[u8]) -> Vec<u8> {
        self.multi.encrypt(value).into_bytes()
    }

    fn decrypt(
        &self,
        collection: &str,
        key: &str,
        stored: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(stored) = stored else { return Ok(None) };
        let plain = std::str::from_utf8(&stored).ok().and_then(|token| self.multi.decrypt(token).ok());
        match plain {
            Some(plain) => Ok(Some(plain)),
            None if self.undecryptable_as_missing => {
                tracing::warn!(
                    collection,
                    key,
                    "undecryptable value read as missing (wrong key or tampered data)"
                );
                Ok(None)
            }
            None => Err(StoreError::Corrupt {
                backend: BACKEND,
                collection: collection.to_owned(),
                key: key.to_owned(),
                source: Box::new(Undecryptable),
            }),
        }
    }

    /// Re-encrypts every entry of `collection` that is not yet under the newest key, so older keys can be
    /// retired.
    ///
    /// Limits, since [`KvStorage`] cannot read an entry's remaining TTL or compare-and-swap:
    /// - TTLs: each Fernet token records when it was written (kept across re-encryptions), so an entry is
    ///   rewritten with `written_ttl` minus its age. Pass the TTL the collection's entries were written
    ///   with (`None` for entries without one). Entries written with another TTL get the wrong one; entries
    ///   whose TTL has run out are skipped. Precision is one second.
    /// - A write racing with the rotation of the same key can be overwritten by the older value; run the
    ///   rotation when the collection is quiet, or for collections of write-once entries.
    ///
    /// # Errors
    ///
    /// The inner store's [`StoreError`]; entries already rewritten stay rewritten.
    pub async fn reencrypt_collection(
        &self,
        collection: &str,
        written_ttl: Option<Duration>,
    ) -> Result<Reencryption, StoreError> {
        let mut report = Reencryption::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.inner.list_keys(collection, cursor.as_deref(), REENCRYPT_PAGE).await?;
            for key in page.keys {
                self.reencrypt_entry(collection, &key, written_ttl, &mut report).await?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(collection, ?report, "Fernet re-encryption finished");
        Ok(report)
    }

    async fn reencrypt_entry(
        &self,
        collection: &str,
        key: &str,
        written_ttl: Option<Duration>,
        report: &mut Reencryption,
    ) -> Result<(), StoreError> {
        report.examined += 1;
        let Some(stored) = self.inner.get(collection, key).await? else {
            report.skipped += 1;
            return Ok(());
        };
        let Ok(token) = std::str::from_utf8(&stored) else {
            report.undecryptable += 1;
            tracing::warn!(collection, key, "rotation skipped a value that is not a Fernet token");
            return Ok(());
        };
        if self.newest.decrypt(token).is_ok() {
            report.already_current += 1;
            return Ok(());
        }
        let Ok(plain) = self.multi.decrypt(token) else {
            report.undecryptable += 1;
            tracing::warn!(collection, key, "rotation skipped a value no configured key decrypts");
            return Ok(());
        };
        let written = token_timestamp(token).unwrap_or_else(unix_now);
        let ttl = match written_ttl {
            None => None,
            Some(ttl) => {
                let age = unix_now().saturating_sub(written);
                match ttl.checked_sub(Duration::from_secs(age)) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        report.skipped += 1;
                        return Ok(());
                    }
                }
            }
        };
        let fresh = self.newest.encrypt_at_time(&plain, written);
        self.inner.put(collection, key, fresh.as_bytes(), ttl).await?;
        report.reencrypted += 1;
        Ok(())
    }
}

fn unix_now() -> u64 {
    mcp_auth_core::clock::unix_seconds(SystemTime::now())
}

/// The creation time in a (verified) token: bytes 1..9 of the decoded token, big-endian seconds.
fn token_timestamp(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE.decode(token).ok()?;
    let stamp: [u8; 8] = raw.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(stamp))
}

#[async_trait]
impl<S: KvStorage> KvStorage for FernetStore<S> {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let stored = self.inner.get(collection, key).await?;
        self.decrypt(collection, key, stored)
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.inner.put(collection, key, &self.encrypt(value), ttl).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.inner.put_if_absent(collection, key, &self.encrypt(value), ttl).await
    }

    /// Compares *plaintexts*: the stored value is decrypted and compared with `expected` (in constant
    /// time for equal lengths), exactly as [`get`](KvStorage::get) would return it. The swap then goes
    /// through the inner store's `compare_and_swap` against the exact ciphertext that was read, so a
    /// writer that changed the entry in between (even to the same plaintext: ciphertexts always differ)
    /// makes this call lose rather than be overwritten.
    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let stored = self.inner.get(collection, key).await?;
        let current = self.decrypt(collection, key, stored.clone())?;
        let matches = match (current.as_deref(), expected) {
            (None, None) => true,
            (Some(current), Some(expected)) => bool::from(current.ct_eq(expected)),
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        self.inner.compare_and_swap(collection, key, stored.as_deref(), &self.encrypt(new), ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(collection, key).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let stored = self.inner.take(collection, key).await?;
        self.decrypt(collection, key, stored)
    }

    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        self.inner.remaining_ttl(collection, key).await
    }

    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        self.inner.list_keys(collection, cursor, limit).await
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::store::MemoryStore;

    use super::*;

    fn key() -> FernetKey {
        FernetKey::generate()
    }

    #[test]
    fn key_debug_is_redacted() {
        let k = key();
        let secret = k.expose_secret().to_owned();
        assert_eq!(secret.len(), 44);
        let shown = format!("{k:?} {:?}", vec![k.clone()]);
        assert!(!shown.contains(&secret), "{shown}");
        assert!(!shown.contains(&secret[..10]), "{shown}");
        let store = FernetStore::new(MemoryStore::new(), vec![k.clone()]).unwrap();
        let shown = format!("{store:?}");
        assert!(!shown.contains(&secret[..10]), "{shown}");
        assert!(shown.contains("1 redacted"), "{shown}");
        let builder = FernetStore::builder(MemoryStore::new(), vec![k]);
        assert!(!format!("{builder:?}").contains(&secret[..10]));
    }

    #[test]
    fn malformed_keys_say_how_to_generate_one_and_never_echo() {
        for bad in ["", "short", "hunter2hunter2hunter2hunter2hunter2hunter2ab", &"A".repeat(40), "a b"] {
            let err = FernetKey::new(bad).unwrap_err().to_string();
            assert!(err.contains("Fernet.generate_key()"), "{err}");
            assert!(err.contains("FernetKey::generate()"), "{err}");
            if bad.len() > 3 {
                assert!(!err.contains(bad), "the key was echoed: {err}");
            }
        }
        let good = key();
        let list = format!("{}, not-a-key", good.expose_secret());
        let err = FernetKey::parse_list(&list).unwrap_err();
        assert!(matches!(err, FernetError::MalformedKey { position: Some(2) }), "{err:?}");
        assert!(matches!(FernetKey::parse_list(" , "), Err(FernetError::NoKeys)));
        assert!(matches!(FernetStore::new(MemoryStore::new(), vec![]), Err(FernetError::NoKeys)));
    }

    #[test]
    fn keys_come_from_settings_newest_first() {
        let (a, b) = (key(), key());
        let settings = Settings::from_pairs([(
            "MCP_AUTH_FERNET_KEYS",
            format!("{},{},", a.expose_secret(), b.expose_secret()),
        )]);
        let keys = FernetKey::from_settings(&settings).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].expose_secret(), a.expose_secret());

        let settings =
            Settings::from_pairs([("MCP_AUTH_FERNET_KEYS", format!("{},oops-secret", a.expose_secret()))]);
        let err = FernetKey::from_settings(&settings).unwrap_err().to_string();
        assert!(err.starts_with("MCP_AUTH_FERNET_KEYS: key #2 is malformed"), "{err}");
        assert!(!err.contains("oops-secret") && !err.contains(a.expose_secret()), "{err}");

        let err = FernetKey::from_settings(&Settings::from_pairs([("X", "y")])).unwrap_err().to_string();
        assert!(err.contains("MCP_AUTH_FERNET_KEYS is not set"), "{err}");
        let err = FernetKey::from_settings(&Settings::from_pairs([("MCP_AUTH_FERNET_KEYS", ",")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MCP_AUTH_FERNET_KEYS is not set"), "{err}");
    }

    #[test]
    fn token_timestamp_reads_the_spec_vector() {
        // From the spec's generate.json: 1985-10-26T01:20:00-07:00.
        let token = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
        assert_eq!(token_timestamp(token), Some(499_162_800));
        assert_eq!(token_timestamp("%%%"), None);
        assert_eq!(token_timestamp("gAAA"), None);
    }
}
