//! [`InstrumentedStore`]: a [`KvStorage`] wrapper that counts and times every operation.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Expiry, KeyPage, KvStorage, StoreError};
use crate::metrics::{self, StoreOperation, StoreOutcome};

/// A [`KvStorage`] that passes every operation to `inner` unchanged and records it in
/// [`STORE_OPERATIONS_TOTAL`](crate::metrics::STORE_OPERATIONS_TOTAL) (by backend, operation and
/// outcome) and [`STORE_DURATION_SECONDS`](crate::metrics::STORE_DURATION_SECONDS) (by backend and
/// operation), through the `metrics` facade.
///
/// The labels are the backend name given here, the operation's name and `ok`, `unavailable` or `error`:
/// never a collection, a key or a value. Wrap the backend itself (under any encryption wrapper) to
/// time the backend; wrap the outermost store to time what the application waits for. The
/// `mcp-auth` facade wraps the store `MCP_AUTH_STORE` names, with the backend name `memory`, `file` or
/// `redis`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::store::{InstrumentedStore, KvStorage, MemoryStore};
///
/// let store: Arc<dyn KvStorage> = Arc::new(InstrumentedStore::new(MemoryStore::new(), "memory"));
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// store.put("clients", "c1", b"{}", None).await.unwrap();
/// assert_eq!(store.get("clients", "c1").await.unwrap().as_deref(), Some(&b"{}"[..]));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct InstrumentedStore<S> {
    inner: S,
    backend: &'static str,
}

impl<S: KvStorage> InstrumentedStore<S> {
    /// Wraps `inner`, labelling its metrics with `backend` (keep it one of a few fixed names, such as
    /// `memory`, `file`, `redis`).
    pub fn new(inner: S, backend: &'static str) -> Self {
        Self { inner, backend }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The backend name the metrics carry.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    async fn measure<T>(
        &self,
        operation: StoreOperation,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => StoreOutcome::Ok,
            Err(error) if error.is_unavailable() => StoreOutcome::Unavailable,
            Err(_) => StoreOutcome::Error,
        };
        metrics::record_store(self.backend, operation, outcome, started.elapsed());
        result
    }
}

#[async_trait]
impl<S: KvStorage> KvStorage for InstrumentedStore<S> {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.measure(StoreOperation::Get, self.inner.get(collection, key)).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.measure(StoreOperation::Put, self.inner.put(collection, key, value, ttl)).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.measure(StoreOperation::PutIfAbsent, self.inner.put_if_absent(collection, key, value, ttl)).await
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let call = self.inner.compare_and_swap(collection, key, expected, new, ttl);
        self.measure(StoreOperation::CompareAndSwap, call).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        self.measure(StoreOperation::Delete, self.inner.delete(collection, key)).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.measure(StoreOperation::Take, self.inner.take(collection, key)).await
    }

    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        self.measure(StoreOperation::RemainingTtl, self.inner.remaining_ttl(collection, key)).await
    }

    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        self.measure(StoreOperation::ListKeys, self.inner.list_keys(collection, cursor, limit)).await
    }
}
