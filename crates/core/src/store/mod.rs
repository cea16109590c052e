//! The [`KvStorage`] trait: async key-value storage in named collections with optional TTLs.
//!
//! Every piece of state mcp-auth keeps (registered clients, pending authorizations, one-time codes,
//! encrypted upstream tokens, cached answers) lives in a `KvStorage`, so one process or many share it the
//! same way. Backends: [`MemoryStore`] here; file, Redis and the Fernet encryption wrapper in their own
//! crates. [`InstrumentedStore`] counts and times every operation (see [`metrics`](crate::metrics)). The
//! `testkit` conformance suite (feature `testkit`) pins the contract.

mod instrumented;
mod json;
mod memory;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::instrumented::InstrumentedStore;
pub use self::json::{JsonCollection, Versioned};
pub use self::memory::{MemoryStore, MemoryStoreBuilder};
use crate::verifier::BoxError;

/// Async key-value storage with named collections and optional time-to-live.
///
/// The contract every backend keeps (and the conformance suite checks):
/// - Collections are separate namespaces: the same key in two collections names two entries.
/// - Keys and collection names are any non-empty UTF-8 strings of at most [`MAX_KEY_LEN`] bytes; values
///   are any bytes, empty included.
/// - An entry written with a `ttl` is gone once `ttl` has passed: reads never return it, whether or not
///   the backend has physically removed it yet. `None` means the entry lives until deleted.
/// - `put` overwrites, replacing value and TTL. `put_if_absent`, `compare_and_swap` and `take` are
///   atomic: of any number of concurrent callers (with the same `expected`, for `compare_and_swap`),
///   across every process sharing the backend, exactly one wins.
/// - `compare_and_swap` writes only when the live value equals `expected` (`None`: no live entry; an
///   expired entry is absent) and is linearizable with every other operation: it never installs its
///   value over one that was taken, deleted or replaced after it looked.
/// - `list_keys` walks a collection page by page with an opaque cursor. It is not a snapshot: every key
///   whose entry is live for the whole walk is listed at least once, keys written or removed meanwhile
///   may or may not be, and a key may be listed more than once (Redis `SCAN`). `limit` bounds each page
///   (for Redis it is a hint, see [`KvStorage::list_keys`]); a cursor the backend did not hand out is
///   [`StoreError::InvalidCursor`].
/// - `remaining_ttl` reports the TTL the last write set, counting down: [`Expiry::In`] never more than that
///   TTL, [`Expiry::Never`] for an entry written without one, `None` once there is no live entry.
/// - Reads return `Ok(None)` for a missing entry; `Err` always means the backend failed.
#[async_trait]
pub trait KvStorage: Debug + Send + Sync + 'static {
    /// The value stored under `key`, or `None` when there is none (or it has expired).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails.
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`, replacing any previous value and TTL.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails or the key is invalid.
    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Stores `value` only when no live entry exists under `key`; returns whether it was stored. Atomic.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails or the key is invalid.
    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Writes `new` under `key` only if the live value there equals `expected`, replacing value and TTL as
    /// [`put`](KvStorage::put) does; returns whether it wrote. `expected: None` means "no live entry"
    /// (an expired entry counts as absent), and `Some(b"")` expects an empty value, which is not the same.
    ///
    /// Atomic: of any number of concurrent callers with the same `expected`, across every process sharing
    /// the backend, exactly one wins. It is the building block of read-modify-write: read with
    /// [`get`](KvStorage::get), compute, then swap against what was read, and retry or give up when it
    /// returns `false`.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails or the key is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::store::{KvStorage, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// assert!(store.compare_and_swap("counters", "hits", None, b"1", None).await.unwrap());
    /// // Increment: read, compute, swap against what was read.
    /// let read = store.get("counters", "hits").await.unwrap().unwrap();
    /// let next = (std::str::from_utf8(&read).unwrap().parse::<u64>().unwrap() + 1).to_string();
    /// assert!(store.compare_and_swap("counters", "hits", Some(&read), next.as_bytes(), None).await.unwrap());
    /// // A writer that read the old value too loses, and changes nothing.
    /// assert!(!store.compare_and_swap("counters", "hits", Some(&read), b"99", None).await.unwrap());
    /// assert_eq!(store.get("counters", "hits").await.unwrap().as_deref(), Some(&b"2"[..]));
    /// # });
    /// ```
    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Removes the entry under `key`; returns whether a live entry was there.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails.
    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError>;

    /// Removes and returns the entry under `key`. Atomic: of concurrent callers exactly one gets the value,
    /// which makes it the primitive for one-time authorization codes across several server instances.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails.
    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// How long the live entry under `key` has left: [`Expiry::Never`] when it was written without a TTL,
    /// [`Expiry::In`] with the time left otherwise (rounded down to the backend's precision, milliseconds
    /// for the file and Redis stores, so it may read zero just before the entry expires), `None` when
    /// there is no live entry.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the backend fails or the key is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth_core::store::{Expiry, KvStorage, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// store.put("codes", "abc", b"v", Some(Duration::from_secs(60))).await.unwrap();
    /// match store.remaining_ttl("codes", "abc").await.unwrap() {
    ///     Some(Expiry::In(left)) => assert!(left <= Duration::from_secs(60)),
    ///     other => panic!("{other:?}"),
    /// }
    /// store.take("codes", "abc").await.unwrap();
    /// assert_eq!(store.remaining_ttl("codes", "abc").await.unwrap(), None);
    /// # });
    /// ```
    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError>;

    /// One page of the keys of the live entries of `collection`: start with `cursor: None`, then pass each
    /// page's [`next`](KeyPage::next) back until it is `None`. Keys come in no particular order.
    ///
    /// - **Not a snapshot.** Every key whose entry is live for the whole walk is listed at least once.
    ///   Keys written or removed during the walk may or may not be listed, and a key may be listed more
    ///   than once (Redis `SCAN` repeats keys when its table grows), so deduplicate when counting.
    ///   Expired entries are never listed.
    /// - **`limit`** bounds the keys of each page (0 is read as 1). For Redis it is a hint passed to
    ///   `SCAN COUNT`: a page may hold a few more keys, and may be empty while `next` is still `Some`.
    /// - **Cursors** are opaque strings made by the backend; a cursor it did not make (garbage, or one
    ///   from another backend) is [`StoreError::InvalidCursor`], never a panic.
    /// - Meant for maintenance (re-encryption, export, clean-up), not for request paths: the file store
    ///   reads the collection's directory for each page and Redis scans its keyspace.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a bad collection name, [`StoreError::InvalidCursor`], or a
    /// [`StoreError`] when the backend fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::store::{KvStorage, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// for i in 0..5 {
    ///     store.put("clients", &format!("client-{i}"), b"{}", None).await.unwrap();
    /// }
    /// let mut seen = std::collections::BTreeSet::new();
    /// let mut cursor: Option<String> = None;
    /// loop {
    ///     let page = store.list_keys("clients", cursor.as_deref(), 2).await.unwrap();
    ///     assert!(page.keys.len() <= 2);
    ///     seen.extend(page.keys);
    ///     match page.next {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen.len(), 5);
    /// # });
    /// ```
    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError>;
}

#[async_trait]
impl<T: KvStorage + ?Sized> KvStorage for Arc<T> {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(collection, key).await
    }
    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        (**self).put(collection, key, value, ttl).await
    }
    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        (**self).put_if_absent(collection, key, value, ttl).await
    }
    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        (**self).compare_and_swap(collection, key, expected, new, ttl).await
    }
    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        (**self).delete(collection, key).await
    }
    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).take(collection, key).await
    }
    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        (**self).remaining_ttl(collection, key).await
    }
    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        (**self).list_keys(collection, cursor, limit).await
    }
}

/// One page of [`KvStorage::list_keys`].
///
/// # Examples
///
/// ```
/// use mcp_auth_core::store::{KeyPage, KvStorage, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// assert_eq!(store.list_keys("never-used", None, 10).await.unwrap(), KeyPage::default());
/// store.put("c", "a", b"1", None).await.unwrap();
/// store.put("c", "b", b"2", None).await.unwrap();
/// let first = store.list_keys("c", None, 1).await.unwrap();
/// assert_eq!(first.keys.len(), 1);
/// let second = store.list_keys("c", first.next.as_deref(), 1).await.unwrap();
/// assert_eq!((second.keys.len(), second.next), (1, None));
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys of live entries, in no particular order.
    pub keys: Vec<String>,
    /// The cursor of the next page; `None` when the walk is done.
    pub next: Option<String>,
}

/// How long a live entry has left, as [`KvStorage::remaining_ttl`] reports it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_core::store::{Expiry, KvStorage, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// store.put("c", "forever", b"v", None).await.unwrap();
/// store.put("c", "hour", b"v", Some(Duration::from_secs(3600))).await.unwrap();
/// assert_eq!(store.remaining_ttl("c", "forever").await.unwrap(), Some(Expiry::Never));
/// let Some(Expiry::In(left)) = store.remaining_ttl("c", "hour").await.unwrap() else { panic!() };
/// assert!(left <= Duration::from_secs(3600));
/// assert_eq!(store.remaining_ttl("c", "missing").await.unwrap(), None);
/// // Rewriting an entry so it expires when the old one would have:
/// let ttl = store.remaining_ttl("c", "hour").await.unwrap().and_then(Expiry::as_ttl);
/// store.put("c", "hour", b"new value", ttl).await.unwrap();
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The entry has no TTL: it lives until it is deleted or overwritten.
    Never,
    /// The entry expires after this long.
    In(Duration),
}

impl Expiry {
    /// The `ttl` argument that makes a write expire when this entry does: `None` for [`Expiry::Never`].
    #[must_use]
    pub fn as_ttl(self) -> Option<Duration> {
        match self {
            Self::Never => None,
            Self::In(left) => Some(left),
        }
    }
}

/// The longest key or collection name a backend must accept, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Checks a collection name and key against the [`KvStorage`] contract.
///
/// # Errors
///
/// [`StoreError::InvalidKey`] for an empty or over-long name.
pub fn validate_key(collection: &str, key: &str) -> Result<(), StoreError> {
    for (what, value) in [("collection", collection), ("key", key)] {
        if value.is_empty() {
            return Err(StoreError::InvalidKey { reason: format!("{what} must not be empty") });
        }
        if value.len() > MAX_KEY_LEN {
            return Err(StoreError::InvalidKey {
                reason: format!("{what} is {} bytes, more than the {MAX_KEY_LEN} allowed", value.len()),
            });
        }
    }
    Ok(())
}

/// Why a store operation failed. Every variant keeps its cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached (Redis down, disk unmounted). HTTP layers answer 503.
    #[error("{backend} store is unreachable")]
    Unavailable {
        /// Which backend, such as `redis`.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A stored value cannot be read back: corrupt, foreign, or (for encrypted stores) encrypted with
    /// another key or tampered with.
    #[error("{backend} store holds an unreadable value for {collection}/{key}")]
    Corrupt {
        /// Which backend.
        backend: &'static str,
        /// The collection.
        collection: String,
        /// The key.
        key: String,
        /// What is wrong with it.
        #[source]
        source: BoxError,
    },
    /// The store is full: it refuses new entries rather than drop live ones.
    #[error("{backend} store is full ({limit} entries)")]
    Full {
        /// Which backend.
        backend: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// The key or collection name breaks the contract (empty, too long).
    #[error("invalid store key: {reason}")]
    InvalidKey {
        /// What is wrong.
        reason: String,
    },
    /// A [`KvStorage::list_keys`] cursor that this backend did not hand out (garbage, or another
    /// backend's).
    #[error("invalid key-listing cursor: {reason}")]
    InvalidCursor {
        /// What is wrong.
        reason: String,
    },
    /// A value could not be encoded or decoded as JSON by [`JsonCollection`].
    #[error("cannot encode or decode a stored JSON value")]
    Serialization(#[from] serde_json::Error),
    /// Any other backend failure (permissions, full disk, protocol error).
    #[error("{backend} store failed")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Whether the backend is unreachable (the HTTP layers answer 503 and the caller may retry).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
