//! Fernet encryption for any [`KvStorage`]: [`FernetStore`] encrypts every value before it reaches the
//! inner store and decrypts it on the way back, with key rotation.
//!
//! `FernetStore<S>` is itself a `KvStorage`, so "Fernet-encrypted Redis" is
//! `FernetStore::new(RedisStore::connect(url).await?, keys)?`, and the same wrapper works over the
//! memory and file stores. Values are standard [Fernet](https://github.com/fernet/spec) tokens
//! (AES-128-CBC plus HMAC-SHA256, url-safe base64), interoperable with Python's
//! `cryptography.fernet`; what the token holds is described under "Bound values".
//!
//! # Bound values
//!
//! Encryption alone would let whoever can write to the backend move ciphertexts around: copy a value
//! under another key, or write an old value back after it expired (for example with a plain `SET`,
//! without its TTL), and it would still decrypt. So the plaintext inside each token (format 2) is an
//! envelope: a magic prefix and version, then the collection and the key (length-prefixed) and the
//! absolute deadline the value was written with (milliseconds since the epoch, 0 for none), then the
//! value, all authenticated by the token. Reads check them:
//!
//! - a collection or key other than the one read is [`StoreError::Corrupt`] ([`BindingError::WrongPlace`]);
//! - a deadline passed by more than the clock-skew allowance ([`FernetStoreBuilder::max_clock_skew`],
//!   60 s) is [`StoreError::Corrupt`] ([`BindingError::WrittenBackAfterExpiry`]); passed by less, the
//!   value reads as missing (the backend's own TTL and the writer's clock may differ that much).
//!
//! What binding cannot detect: rolling a key back to an earlier value of that same key that is still
//! within its lifetime (each old ciphertext is genuine for that key until its deadline), and deleting
//! values. Collection names and keys stay visible to whoever reads the backend, as before.
//!
//! Values written before binding (format 1, the bare value) are refused with [`BindingError::Unbound`]
//! unless the store is built with [`FernetStoreBuilder::insecure_accept_unbound_values`], which is meant
//! for the upgrade window only; [`FernetStore::reencrypt_collection`] rewrites them as bound values.
//!
//! # Security notes
//!
//! - **Only values are encrypted.** Collection names and keys are passed to the inner store as they are,
//!   so whoever can read the backend (a Redis `SCAN`, a directory listing) sees them. Never put a secret in
//!   a key: hash bearer tokens and codes (for example SHA-256) before using them as keys.
//! - A Fernet token carries its creation time in clear, so the backend also sees when each value was
//!   written.
//! - A value that fails to decrypt (wrong key, tampered bytes, a foreign value) is a
//!   [`StoreError::Corrupt`] whose source is [`Undecryptable`] ("wrong key or tampered data"). It is
//!   never silently treated as missing unless you opt in with
//!   [`FernetStoreBuilder::treat_undecryptable_as_missing`]. A value that decrypts but fails a binding
//!   check is always an error.
//! - Fernet refuses tokens stamped more than 60 seconds in the future, so the clocks of processes that
//!   share a backend must agree within a minute.
//! - `compare_and_swap` compares plaintexts and swaps on the exact ciphertext read, so it is as atomic as
//!   the inner store's.
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
//! // Copied under another key, it is refused rather than read.
//! store.inner().put("tokens", "another-key", &raw, None).await.unwrap();
//! assert!(store.get("tokens", "another-key").await.is_err());
//! # });
//! ```
//!
//! # Features
//!
//! This crate has no optional features. It uses the pure-Rust (`rustcrypto`) backend of the `fernet`
//! crate, so it needs no system OpenSSL.

mod envelope;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use fernet::Fernet;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::store::{Expiry, KeyPage, KvStorage, StoreError, validate_key};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use self::envelope::Opened;

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
                var: settings.describe(KEYS_VAR),
                position: position.unwrap_or(1),
            },
            FernetError::NoKeys => {
                FernetError::Settings(settings.missing(KEYS_VAR, "<44-character key>,<older key>"))
            }
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

/// The source of a [`StoreError::Corrupt`] raised when a value decrypts but is not where, or not when,
/// it was written: the signs of someone with write access to the backend moving ciphertexts around.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::store::{KvStorage, MemoryStore, StoreError};
/// use mcp_auth_fernet::{BindingError, FernetKey, FernetStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = FernetStore::new(MemoryStore::new(), vec![FernetKey::generate()]).unwrap();
/// store.put("grants", "alice", b"admin", None).await.unwrap();
/// let ciphertext = store.inner().get("grants", "alice").await.unwrap().unwrap();
/// store.inner().put("grants", "mallory", &ciphertext, None).await.unwrap();
/// let Err(StoreError::Corrupt { source, .. }) = store.get("grants", "mallory").await else { panic!() };
/// assert!(matches!(source.downcast_ref::<BindingError>(), Some(BindingError::WrongPlace)));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The value was encrypted for another collection or key: a ciphertext copied from elsewhere.
    #[error("the value was encrypted for another collection or key (a ciphertext copied from elsewhere)")]
    WrongPlace,
    /// The value's own deadline passed longer ago than the clock-skew allowance: an expired value
    /// written back (for example without its TTL).
    #[error(
        "the value expired {expired_for:?} ago by its own deadline, more than the {allowance:?} clock-skew \
         allowance: an expired value was written back"
    )]
    WrittenBackAfterExpiry {
        /// How long ago the value's deadline passed.
        expired_for: Duration,
        /// The configured allowance ([`FernetStoreBuilder::max_clock_skew`]).
        allowance: Duration,
    },
    /// The value is in the unbound format of earlier versions, refused unless the store was built with
    /// [`FernetStoreBuilder::insecure_accept_unbound_values`].
    #[error(
        "the value is in the unbound format of earlier versions (no collection, key or expiry inside the \
         ciphertext): rewrite it with FernetStore::reencrypt_collection, reading it meanwhile with \
         insecure_accept_unbound_values(true)"
    )]
    Unbound,
    /// The decrypted value announces the bound format but its header is cut short or inconsistent.
    #[error("the decrypted value is a malformed bound value")]
    Malformed,
    /// The decrypted value is of a newer format than this version understands.
    #[error("the value is in format {0}, newer than this version understands (2)")]
    UnknownVersion(u8),
}

/// A [`KvStorage`] that encrypts values with Fernet before they reach `S`, each bound to the collection,
/// key and deadline it was written with.
///
/// See the [crate docs](crate) for what is and is not encrypted and what binding detects.
pub struct FernetStore<S> {
    inner: S,
    /// Newest first: the first encrypts, all decrypt.
    fernets: Vec<Fernet>,
    undecryptable_as_missing: bool,
    accept_unbound: bool,
    max_clock_skew: Duration,
    clock: SharedClock,
}

impl<S: fmt::Debug> fmt::Debug for FernetStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetStore")
            .field("inner", &self.inner)
            .field("keys", &format_args!("[{} redacted]", self.fernets.len()))
            .field("treat_undecryptable_as_missing", &self.undecryptable_as_missing)
            .field("insecure_accept_unbound_values", &self.accept_unbound)
            .field("max_clock_skew", &self.max_clock_skew)
            .finish_non_exhaustive()
    }
}

/// The default [`FernetStoreBuilder::max_clock_skew`]: Fernet itself refuses tokens stamped more than
/// 60 s in the future, so hosts sharing a backend already agree within a minute.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Builds a [`FernetStore`] with non-default options.
#[must_use]
pub struct FernetStoreBuilder<S> {
    inner: S,
    keys: Vec<FernetKey>,
    undecryptable_as_missing: bool,
    accept_unbound: bool,
    max_clock_skew: Duration,
    clock: SharedClock,
}

impl<S: fmt::Debug> fmt::Debug for FernetStoreBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetStoreBuilder")
            .field("inner", &self.inner)
            .field("keys", &self.keys)
            .field("treat_undecryptable_as_missing", &self.undecryptable_as_missing)
            .field("insecure_accept_unbound_values", &self.accept_unbound)
            .field("max_clock_skew", &self.max_clock_skew)
            .finish_non_exhaustive()
    }
}

impl<S: KvStorage> FernetStoreBuilder<S> {
    /// Reads values that cannot be decrypted as missing (logged at `warn`) instead of failing with
    /// [`StoreError::Corrupt`]. Off by default. Meant for caches whose entries may be dropped after a key
    /// is retired; never for state that must not silently vanish. `put_if_absent` still sees such an
    /// entry as present; `compare_and_swap` with `expected: None` replaces it, as it reads as missing.
    /// Values that decrypt but fail the binding checks are never read as missing.
    pub fn treat_undecryptable_as_missing(mut self, yes: bool) -> Self {
        self.undecryptable_as_missing = yes;
        self
    }

    /// Reads values in the unbound format that versions before binding wrote (the bare value inside the
    /// token) instead of refusing them with [`StoreError::Corrupt`] ([`BindingError::Unbound`]), and lets
    /// [`FernetStore::reencrypt_collection`] rewrite them in the bound format. Off by default.
    ///
    /// # Security
    ///
    /// An unbound value carries neither its key nor its expiry, so while this is on, whoever can write
    /// to the backend can copy such a value under another key or write it back after it expired, and it
    /// reads as genuine. Turn it on only for the upgrade window: deploy with it, run
    /// `reencrypt_collection` on every collection until nothing is left to upgrade, then deploy without.
    /// The rewrite binds each value to the place where it is found, so it trusts the backend as it is at
    /// that moment.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth_core::store::MemoryStore;
    /// use mcp_auth_fernet::{FernetKey, FernetStore};
    ///
    /// // During the upgrade window only; see `docs/storage.md`.
    /// let upgrading = FernetStore::builder(MemoryStore::new(), vec![FernetKey::generate()])
    ///     .insecure_accept_unbound_values(true)
    ///     .max_clock_skew(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// assert!(format!("{upgrading:?}").contains("insecure_accept_unbound_values: true"));
    /// ```
    pub fn insecure_accept_unbound_values(mut self, yes: bool) -> Self {
        self.accept_unbound = yes;
        self
    }

    /// How long past its own deadline a value still reads as merely missing (default
    /// [`DEFAULT_MAX_CLOCK_SKEW`], 60 s). A value found past its deadline by more than this was written
    /// back after it expired, and reads as [`StoreError::Corrupt`] ([`BindingError::WrittenBackAfterExpiry`]).
    /// A value past its deadline is never returned either way; this only decides between "missing" and
    /// "tampered". Set it at least to how far the clocks of the hosts sharing the backend may disagree.
    pub fn max_clock_skew(mut self, allowance: Duration) -> Self {
        self.max_clock_skew = allowance;
        self
    }

    /// The clock used for the deadlines bound into values (default the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the store.
    ///
    /// # Errors
    ///
    /// [`FernetError::NoKeys`] when no key was given.
    pub fn build(self) -> Result<FernetStore<S>, FernetError> {
        if self.keys.is_empty() {
            return Err(FernetError::NoKeys);
        }
        Ok(FernetStore {
            inner: self.inner,
            fernets: self.keys.iter().map(FernetKey::fernet).collect(),
            undecryptable_as_missing: self.undecryptable_as_missing,
            accept_unbound: self.accept_unbound,
            max_clock_skew: self.max_clock_skew,
            clock: self.clock,
        })
    }
}

/// How many keys `reencrypt_collection` asks the inner store for at a time.
const REENCRYPT_PAGE: usize = 500;

/// What [`FernetStore::reencrypt_collection`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reencryption {
    /// Keys listed in the collection (a key the backend lists twice counts twice).
    pub examined: usize,
    /// Entries rewritten in the bound format under the newest key.
    pub reencrypted: usize,
    /// Of `reencrypted`, the entries that were in the unbound format of earlier versions.
    pub upgraded_unbound: usize,
    /// Entries already bound and under the newest key, left alone.
    pub already_current: usize,
    /// Entries removed or expired between listing and rewriting, left alone.
    pub skipped: usize,
    /// Entries changed by another writer between reading and rewriting: the other write stands (it is
    /// current unless it came from an older version). Run the rotation again to pick them up.
    pub raced: usize,
    /// Entries that decrypt but fail a binding check (copied from another key, written back after
    /// expiring, malformed), or unbound entries while [`insecure_accept_unbound_values`] is off: left
    /// alone and logged at `warn`.
    ///
    /// [`insecure_accept_unbound_values`]: FernetStoreBuilder::insecure_accept_unbound_values
    pub refused: usize,
    /// Entries no configured key decrypts, left alone (and logged at `warn`).
    pub undecryptable: usize,
}

/// A value decrypted and checked against where it was read from.
enum Checked {
    /// Bound here, live: the value.
    Value(Vec<u8>),
    /// Bound here but past its deadline, within the clock-skew allowance: reads as missing.
    Expired,
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

    /// A builder, for the options of [`FernetStoreBuilder`].
    pub fn builder(inner: S, keys: Vec<FernetKey>) -> FernetStoreBuilder<S> {
        FernetStoreBuilder {
            inner,
            keys,
            undecryptable_as_missing: false,
            accept_unbound: false,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            clock: system_clock(),
        }
    }

    /// The wrapped store, which holds ciphertext.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn now_ms(&self) -> u64 {
        millis_since_epoch(self.clock.now())
    }

    /// Encrypts `value` with the newest key, bound to `collection`/`key` and to the deadline `ttl` sets
    /// from now (none for no TTL, or for one too large to represent, as the stores treat it).
    fn seal(&self, collection: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Vec<u8> {
        let deadline = ttl
            .and_then(|ttl| u64::try_from(ttl.as_millis()).ok())
            .and_then(|ms| self.now_ms().checked_add(ms))
            .unwrap_or(0);
        self.fernets[0].encrypt(&envelope::encode(collection, key, deadline, value)).into_bytes()
    }

    /// The index of the key that decrypts `stored` and the plaintext.
    fn decrypt_token(&self, stored: &[u8]) -> Option<(usize, Vec<u8>)> {
        let token = std::str::from_utf8(stored).ok()?;
        self.fernets.iter().enumerate().find_map(|(i, fernet)| fernet.decrypt(token).ok().map(|p| (i, p)))
    }

    fn corrupt(
        collection: &str,
        key: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            collection: collection.to_owned(),
            key: key.to_owned(),
            source: Box::new(source),
        }
    }

    /// Checks a decrypted plaintext against the place it was read from and the clock.
    fn check(&self, collection: &str, key: &str, plain: &[u8]) -> Result<Checked, BindingError> {
        match envelope::decode(plain)? {
            Opened::Bound { collection: c, key: k, deadline_ms, value } => {
                if c != collection.as_bytes() || k != key.as_bytes() {
                    return Err(BindingError::WrongPlace);
                }
                let now = self.now_ms();
                if deadline_ms == 0 || now < deadline_ms {
                    return Ok(Checked::Value(value.to_vec()));
                }
                let expired_for = Duration::from_millis(now - deadline_ms);
                if expired_for > self.max_clock_skew {
                    return Err(BindingError::WrittenBackAfterExpiry {
                        expired_for,
                        allowance: self.max_clock_skew,
                    });
                }
                Ok(Checked::Expired)
            }
            Opened::Unbound(value) if self.accept_unbound => Ok(Checked::Value(value.to_vec())),
            Opened::Unbound(_) => Err(BindingError::Unbound),
        }
    }

    /// What a read returns for the stored bytes: the value, `None` (nothing stored, expired by its own
    /// deadline within the allowance, or undecryptable when that reads as missing), or `Corrupt`.
    fn read(
        &self,
        collection: &str,
        key: &str,
        stored: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(stored) = stored else { return Ok(None) };
        let Some((_, plain)) = self.decrypt_token(stored) else {
            if self.undecryptable_as_missing {
                tracing::warn!(
                    collection,
                    key,
                    "undecryptable value read as missing (wrong key or tampered data)"
                );
                return Ok(None);
            }
            return Err(Self::corrupt(collection, key, Undecryptable));
        };
        match self.check(collection, key, &plain) {
            Ok(Checked::Value(value)) => Ok(Some(value)),
            Ok(Checked::Expired) => Ok(None),
            Err(err) => {
                tracing::warn!(collection, key, error = %err, "refused a stored value");
                Err(Self::corrupt(collection, key, err))
            }
        }
    }

    /// Rewrites every entry of `collection` that is not current (under an older key, or in the unbound
    /// format while [`insecure_accept_unbound_values`] is on) in the bound format under the newest key,
    /// so older keys can be retired and unbound values upgraded. Returns what it did; running it again is
    /// harmless.
    ///
    /// - Each entry keeps the time it has left: the inner store's [`remaining_ttl`](KvStorage::remaining_ttl),
    ///   never more than the value's own deadline.
    /// - Each rewrite is a [`compare_and_swap`](KvStorage::compare_and_swap) against the exact ciphertext
    ///   read, so a concurrent write is never overwritten (it is counted in
    ///   [`raced`](Reencryption::raced)).
    /// - Values that fail a binding check are left alone and counted in
    ///   [`refused`](Reencryption::refused): a rewrite would launder a copied or written-back value.
    ///
    /// [`insecure_accept_unbound_values`]: FernetStoreBuilder::insecure_accept_unbound_values
    ///
    /// # Errors
    ///
    /// The inner store's [`StoreError`]; entries already rewritten stay rewritten.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use mcp_auth_core::store::{KvStorage, MemoryStore};
    /// use mcp_auth_fernet::{FernetKey, FernetStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (old, new) = (FernetKey::generate(), FernetKey::generate());
    /// let backend = Arc::new(MemoryStore::new());
    /// let before = FernetStore::new(Arc::clone(&backend), vec![old.clone()]).unwrap();
    /// before.put("tokens", "k", b"secret", Some(Duration::from_secs(3600))).await.unwrap();
    ///
    /// // Rotation: the new key first, the old one still decrypting, then rewrite.
    /// let during = FernetStore::new(Arc::clone(&backend), vec![new.clone(), old]).unwrap();
    /// let report = during.reencrypt_collection("tokens").await.unwrap();
    /// assert_eq!((report.reencrypted, report.raced, report.refused), (1, 0, 0));
    ///
    /// let after = FernetStore::new(backend, vec![new]).unwrap();
    /// assert_eq!(after.get("tokens", "k").await.unwrap().as_deref(), Some(&b"secret"[..]));
    /// # });
    /// ```
    pub async fn reencrypt_collection(&self, collection: &str) -> Result<Reencryption, StoreError> {
        let mut report = Reencryption::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.inner.list_keys(collection, cursor.as_deref(), REENCRYPT_PAGE).await?;
            for key in page.keys {
                self.reencrypt_entry(collection, &key, &mut report).await?;
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
        report: &mut Reencryption,
    ) -> Result<(), StoreError> {
        report.examined += 1;
        let Some(stored) = self.inner.get(collection, key).await? else {
            report.skipped += 1;
            return Ok(());
        };
        let Some((key_index, plain)) = self.decrypt_token(&stored) else {
            report.undecryptable += 1;
            tracing::warn!(collection, key, "rotation skipped a value no configured key decrypts");
            return Ok(());
        };
        let (value, deadline_ms, unbound) = match envelope::decode(&plain) {
            Ok(Opened::Bound { collection: c, key: k, deadline_ms, value }) => {
                if c != collection.as_bytes() || k != key.as_bytes() {
                    report.refused += 1;
                    tracing::warn!(collection, key, "rotation left alone a value encrypted for another key");
                    return Ok(());
                }
                if key_index == 0 {
                    report.already_current += 1;
                    return Ok(());
                }
                (value.to_vec(), deadline_ms, false)
            }
            Ok(Opened::Unbound(value)) if self.accept_unbound => (value.to_vec(), 0, true),
            Ok(Opened::Unbound(_)) => {
                report.refused += 1;
                tracing::warn!(
                    collection,
                    key,
                    "rotation left alone an unbound value: build the store with \
                     insecure_accept_unbound_values(true) to upgrade it"
                );
                return Ok(());
            }
            Err(err) => {
                report.refused += 1;
                tracing::warn!(collection, key, error = %err, "rotation left alone a malformed value");
                return Ok(());
            }
        };
        let Some(remaining) = self.inner.remaining_ttl(collection, key).await? else {
            report.skipped += 1;
            return Ok(());
        };
        // The time left: the backend's, but never past the value's own deadline (a value written back
        // without its TTL must not come out of the rotation with a new lease of life).
        let mut ttl = remaining.as_ttl();
        if deadline_ms != 0 {
            let now = self.now_ms();
            if now >= deadline_ms {
                if Duration::from_millis(now - deadline_ms) > self.max_clock_skew {
                    report.refused += 1;
                    tracing::warn!(collection, key, "rotation left alone an expired value written back");
                } else {
                    report.skipped += 1;
                }
                return Ok(());
            }
            let own = Duration::from_millis(deadline_ms - now);
            ttl = Some(ttl.map_or(own, |left| left.min(own)));
        }
        let fresh = self.seal(collection, key, &value, ttl);
        if self.inner.compare_and_swap(collection, key, Some(&stored), &fresh, ttl).await? {
            report.reencrypted += 1;
            if unbound {
                report.upgraded_unbound += 1;
            }
        } else {
            report.raced += 1;
        }
        Ok(())
    }
}

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[async_trait]
impl<S: KvStorage> KvStorage for FernetStore<S> {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let stored = self.inner.get(collection, key).await?;
        self.read(collection, key, stored.as_deref())
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        validate_key(collection, key)?;
        self.inner.put(collection, key, &self.seal(collection, key, value, ttl), ttl).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        validate_key(collection, key)?;
        self.inner.put_if_absent(collection, key, &self.seal(collection, key, value, ttl), ttl).await
    }

    /// Compares *plaintexts*: the stored value is decrypted and checked as [`get`](KvStorage::get) would
    /// return it, then compared with `expected` (in constant time for equal lengths). The swap goes
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
        validate_key(collection, key)?;
        let stored = self.inner.get(collection, key).await?;
        let current = self.read(collection, key, stored.as_deref())?;
        let matches = match (current.as_deref(), expected) {
            (None, None) => true,
            (Some(current), Some(expected)) => bool::from(current.ct_eq(expected)),
            _ => false,
        };
        if !matches {
            return Ok(false);
        }
        let sealed = self.seal(collection, key, new, ttl);
        self.inner.compare_and_swap(collection, key, stored.as_deref(), &sealed, ttl).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(collection, key).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let stored = self.inner.take(collection, key).await?;
        self.read(collection, key, stored.as_deref())
    }

    /// The inner store's TTL. It does not decrypt the value: an entry written back without its TTL
    /// reports [`Expiry::Never`] here and is refused when read.
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
}
