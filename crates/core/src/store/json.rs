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

    /// How long the value under `key` has left, as [`KvStorage::remaining_ttl`].
    ///
    /// # Errors
    ///
    /// The backend's [`StoreError`].
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

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}
