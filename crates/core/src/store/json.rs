use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Expiry, KvStorage, StoreError};

/// A typed view of one collection of a [`KvStorage`], storing values as JSON.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::store::{JsonCollection, KvStorage, MemoryStore};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Client { name: String }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
/// let clients = JsonCollection::<Client>::new(store, "clients");
/// clients.put("c1", &Client { name: "Inspector".into() }, None).await.unwrap();
/// assert_eq!(clients.get("c1").await.unwrap(), Some(Client { name: "Inspector".into() }));
/// # });
/// ```
pub struct JsonCollection<T> {
    store: Arc<dyn KvStorage>,
    collection: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for JsonCollection<T> {
    fn clone(&self) -> Self {
        Self { store: Arc::clone(&self.store), collection: self.collection.clone(), _type: PhantomData }
    }
}

impl<T> fmt::Debug for JsonCollection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonCollection")
            .field("collection", &self.collection)
            .field("store", &self.store)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> JsonCollection<T> {
    /// A typed view of `collection` in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn KvStorage>, collection: impl Into<String>) -> Self {
        Self { store, collection: collection.into(), _type: PhantomData }
    }

    /// The collection's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.collection
    }

    /// Reads and decodes the value under `key`.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`], or [`StoreError::Serialization`] when the stored JSON does not fit `T`.
    pub async fn get(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.store.get(&self.collection, key).await?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Encodes and stores `value` under `key`.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`], or [`StoreError::Serialization`].
    pub async fn put(&self, key: &str, value: &T, ttl: Option<Duration>) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)?;
        self.store.put(&self.collection, key, &bytes, ttl).await
    }

    /// Stores `value` only when `key` is free; returns whether it was stored.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`], or [`StoreError::Serialization`].
    pub async fn put_if_absent(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec(value)?;
        self.store.put_if_absent(&self.collection, key, &bytes, ttl).await
    }

    /// Removes and decodes the value under `key`, atomically.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`], or [`StoreError::Serialization`].
    pub async fn take(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.store.take(&self.collection, key).await?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Reads and decodes the value under `key`, keeping the exact bytes read so that
    /// [`compare_and_swap`](Self::compare_and_swap) can later write only if nothing changed since.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`], or [`StoreError::Serialization`] when the stored JSON does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mcp_auth_core::store::{JsonCollection, KvStorage, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let counters = JsonCollection::<u64>::new(Arc::new(MemoryStore::new()), "counters");
    /// counters.put("hits", &41, None).await.unwrap();
    /// let read = counters.get_versioned("hits").await.unwrap().unwrap();
    /// assert!(counters.compare_and_swap("hits", Some(&read), &(read.value + 1), None).await.unwrap());
    /// assert_eq!(counters.get("hits").await.unwrap(), Some(42));
    /// assert!(counters.get_versioned("missing").await.unwrap().is_none());
    /// # });
    /// ```
    pub async fn get_versioned(&self, key: &str) -> Result<Option<Versioned<T>>, StoreError> {
        let Some(bytes) = self.store.get(&self.collection, key).await? else { return Ok(None) };
        Ok(Some(Versioned { value: decode(&bytes)?, bytes }))
    }

    /// Encodes and stores `new` under `key` only if the value there is still the one `expected` was read
    /// from (`None`: only if there is no live value), replacing value and TTL; returns whether it wrote.
    /// Atomic, as [`KvStorage::compare_and_swap`]: of concurrent callers holding the same version exactly
    /// one wins.
    ///
    /// The comparison is on the bytes [`get_versioned`](Self::get_versioned) read, never on `T` encoded
    /// again, so a value written by another program (other field order, other spacing) still compares
    /// equal to itself, and a change that decodes to an equal `T` still counts as a change.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`], or [`StoreError::Serialization`] when `new` cannot be encoded.
    ///
    /// # Examples
    ///
    /// Refresh-token rotation as one atomic step: of two requests redeeming the same refresh token at
    /// the same time, exactly one marks it used.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use mcp_auth_core::store::{Expiry, JsonCollection, KvStorage, MemoryStore};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    /// struct RefreshGrant { family: String, used: bool }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
    /// let grants = JsonCollection::<RefreshGrant>::new(store, "refresh");
    /// let fresh = RefreshGrant { family: "f1".into(), used: false };
    /// grants.put("sha256-of-the-token", &fresh, Some(Duration::from_secs(3600))).await.unwrap();
    ///
    /// // Redeem: read the grant and its version, check it, mark it used, keeping its expiry.
    /// let read = grants.get_versioned("sha256-of-the-token").await.unwrap().expect("a known token");
    /// assert!(!read.value.used);
    /// let ttl = grants.remaining_ttl("sha256-of-the-token").await.unwrap().and_then(Expiry::as_ttl);
    /// let used = RefreshGrant { used: true, ..read.value.clone() };
    /// assert!(grants.compare_and_swap("sha256-of-the-token", Some(&read), &used, ttl).await.unwrap());
    ///
    /// // A second request that read the same version loses: the token is redeemed once.
    /// assert!(!grants.compare_and_swap("sha256-of-the-token", Some(&read), &used, ttl).await.unwrap());
    /// # });
    /// ```
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&Versioned<T>>,
        new: &T,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec(new)?;
        let expected = expected.map(|read| read.bytes.as_slice());
        self.store.compare_and_swap(&self.collection, key, expected, &bytes, ttl).await
    }

    /// How long the value under `key` has left, as [`KvStorage::remaining_ttl`].
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use mcp_auth_core::store::{Expiry, JsonCollection, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let codes = JsonCollection::<String>::new(Arc::new(MemoryStore::new()), "codes");
    /// codes.put("c1", &"payload".to_owned(), Some(Duration::from_secs(60))).await.unwrap();
    /// assert!(matches!(codes.remaining_ttl("c1").await.unwrap(), Some(Expiry::In(_))));
    /// # });
    /// ```
    pub async fn remaining_ttl(&self, key: &str) -> Result<Option<Expiry>, StoreError> {
        self.store.remaining_ttl(&self.collection, key).await
    }

    /// Removes the value under `key`; returns whether one was there.
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`].
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.store.delete(&self.collection, key).await
    }
}

/// A value read by [`JsonCollection::get_versioned`]: the decoded value, and (privately) the exact bytes it
/// was decoded from, which [`JsonCollection::compare_and_swap`] compares against.
///
/// Its `Debug` shows the value (through `T`'s own `Debug`) and only the length of the bytes, so a `T`
/// with a redacted `Debug` stays redacted.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::store::{JsonCollection, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let names = JsonCollection::<String>::new(Arc::new(MemoryStore::new()), "names");
/// names.put("k", &"Ada".to_owned(), None).await.unwrap();
/// let read = names.get_versioned("k").await.unwrap().unwrap();
/// assert_eq!(read.value, "Ada");
/// assert_eq!(format!("{read:?}"), r#"Versioned { value: "Ada", bytes: [5 bytes] }"#);
/// assert_eq!(read.into_value(), "Ada");
/// # });
/// ```
#[derive(Clone)]
pub struct Versioned<T> {
    /// The decoded value.
    pub value: T,
    bytes: Vec<u8>,
}

impl<T> Versioned<T> {
    /// The decoded value, dropping the version.
    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Versioned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioned")
            .field("value", &self.value)
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .finish()
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::store::MemoryStore;

    #[derive(Clone, PartialEq, Serialize, Deserialize)]
    struct Secret {
        token: String,
    }

    impl fmt::Debug for Secret {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Secret([redacted])")
        }
    }

    fn collection() -> (Arc<dyn KvStorage>, JsonCollection<Secret>) {
        let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
        (Arc::clone(&store), JsonCollection::new(store, "c"))
    }

    #[tokio::test]
    async fn versioned_debug_keeps_the_value_redacted() {
        let (_, secrets) = collection();
        secrets.put("k", &Secret { token: "hunter2".into() }, None).await.unwrap();
        let read = secrets.get_versioned("k").await.unwrap().unwrap();
        let shown = format!("{read:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret([redacted])") && shown.contains("bytes]"), "{shown}");
        assert_eq!(read.into_value().token, "hunter2");
    }

    #[tokio::test]
    async fn compare_and_swap_compares_the_bytes_read_not_a_new_encoding() {
        let (store, secrets) = collection();
        // Written by another program: same value, other spacing. Encoding `Secret` again would give
        // different bytes, yet the version read from the store matches what is stored.
        store.put("c", "k", br#"{ "token" : "a" }"#, None).await.unwrap();
        let read = secrets.get_versioned("k").await.unwrap().unwrap();
        assert!(
            secrets.compare_and_swap("k", Some(&read), &Secret { token: "b".into() }, None).await.unwrap()
        );
        // The stored bytes changed, so the old version no longer matches.
        assert!(
            !secrets.compare_and_swap("k", Some(&read), &Secret { token: "c".into() }, None).await.unwrap()
        );
        // A change that decodes to an equal value is still a change.
        let read = secrets.get_versioned("k").await.unwrap().unwrap();
        store.put("c", "k", br#"{"token":"b"}  "#, None).await.unwrap();
        assert!(secrets.get("k").await.unwrap() == Some(read.value.clone()));
        assert!(
            !secrets.compare_and_swap("k", Some(&read), &Secret { token: "d".into() }, None).await.unwrap()
        );
        // None: only into a free key.
        assert!(!secrets.compare_and_swap("k", None, &Secret { token: "e".into() }, None).await.unwrap());
        assert!(secrets.compare_and_swap("new", None, &Secret { token: "e".into() }, None).await.unwrap());
        assert_eq!(secrets.get("new").await.unwrap(), Some(Secret { token: "e".into() }));
    }
}
