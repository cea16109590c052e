//! The `KvStorage` conformance suite against `MemoryStore`.
//!
//! Needs the `testkit` feature: `cargo test -p mcp-auth-core --features testkit`; `cargo test --workspace`
//! enables it through the workspace crates that depend on core with `testkit`.

use std::sync::Arc;

use mcp_auth_core::store::{InstrumentedStore, KvStorage, MemoryStore};
use mcp_auth_core::testkit;

fn store() -> Arc<dyn KvStorage> {
    Arc::new(MemoryStore::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_whole_suite() {
    let store = store();
    testkit::run_all(Arc::clone(&store)).await;
    testkit::list_keys_pages_respect_limit(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instrumented_memory_store_passes_the_whole_suite() {
    let store: Arc<dyn KvStorage> = Arc::new(InstrumentedStore::new(MemoryStore::new(), "memory"));
    testkit::run_all(Arc::clone(&store)).await;
    testkit::list_keys_pages_respect_limit(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clones_share_state_and_race_correctly() {
    let store = MemoryStore::new();
    let a: Arc<dyn KvStorage> = Arc::new(store.clone());
    let b: Arc<dyn KvStorage> = Arc::new(store);
    testkit::instances_share_state(&a, &b).await;
    testkit::take_is_atomic_across(&[a.clone(), b.clone()]).await;
    testkit::compare_and_swap_is_atomic_across(&[a.clone(), b.clone()]).await;
    testkit::take_and_compare_and_swap_are_linearizable_across(&[a.clone(), b.clone()]).await;
    testkit::put_if_absent_is_atomic_across(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_stores_do_not_share_state() {
    // The suite's cross-instance check must be able to fail: two unrelated stores do not pass it.
    let a = store();
    let b = store();
    let outcome = tokio::spawn(async move { testkit::instances_share_state(&a, &b).await }).await;
    assert!(outcome.is_err(), "instances_share_state passed for two unrelated stores");
}

/// Broken stores, each with one bug, prove that the matching check fails.
mod broken {
    use std::time::Duration;

    use mcp_auth_core::async_trait;
    use mcp_auth_core::store::{Expiry, KeyPage, KvStorage, MemoryStore, StoreError};

    #[derive(Debug, Clone, Copy)]
    pub(super) enum Bug {
        EmptyIsMissing,
        IgnoresTtl,
        NonAtomicTake,
        NaiveJoin,
        NoKeyValidation,
        TruncatesLargeValues,
        TtlAlwaysNever,
        ListDropsLastOfPage,
        ListIgnoresCursor,
        ListIgnoresLimit,
        ListPanicsOnBadCursor,
        /// get, a pause, then put: two swaps can both see the expected value.
        NonAtomicCas,
        CasIgnoresExpected,
        CasDropsTtl,
        /// Swaps are serialized among themselves (as the file store's lock serializes writers) but `take`
        /// does not wait for them, so a take can slip between a swap's check and its write.
        CasNotAtomicWithTake,
    }

    #[derive(Debug)]
    pub(super) struct Broken {
        inner: MemoryStore,
        bug: Bug,
        cas_lock: tokio::sync::Mutex<()>,
    }

    impl Broken {
        pub(super) fn new(bug: Bug) -> Self {
            Self { inner: MemoryStore::new(), bug, cas_lock: tokio::sync::Mutex::new(()) }
        }

        fn place<'a>(&self, collection: &'a str, key: &'a str) -> (String, String) {
            match self.bug {
                // Joins collection and key with ':' into one flat namespace.
                Bug::NaiveJoin => ("flat".to_owned(), format!("{collection}:{key}")),
                Bug::NoKeyValidation => (format!("c{collection}"), format!("k{key}")),
                _ => (collection.to_owned(), key.to_owned()),
            }
        }
    }

    #[async_trait]
    impl KvStorage for Broken {
        async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            let (c, k) = self.place(collection, key);
            let value = self.inner.get(&c, &k).await?;
            Ok(match self.bug {
                Bug::EmptyIsMissing => value.filter(|v| !v.is_empty()),
                Bug::TruncatesLargeValues => value.map(|mut v| {
                    v.truncate(65_536);
                    v
                }),
                _ => value,
            })
        }
        async fn put(
            &self,
            collection: &str,
            key: &str,
            value: &[u8],
            ttl: Option<Duration>,
        ) -> Result<(), StoreError> {
            let (c, k) = self.place(collection, key);
            let ttl = if matches!(self.bug, Bug::IgnoresTtl) { None } else { ttl };
            self.inner.put(&c, &k, value, ttl).await
        }
        async fn put_if_absent(
            &self,
            collection: &str,
            key: &str,
            value: &[u8],
            ttl: Option<Duration>,
        ) -> Result<bool, StoreError> {
            let (c, k) = self.place(collection, key);
            self.inner.put_if_absent(&c, &k, value, ttl).await
        }
        async fn compare_and_swap(
            &self,
            collection: &str,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
            ttl: Option<Duration>,
        ) -> Result<bool, StoreError> {
            let (c, k) = self.place(collection, key);
            match self.bug {
                Bug::NonAtomicCas | Bug::CasNotAtomicWithTake => {
                    let _serialized = match self.bug {
                        Bug::CasNotAtomicWithTake => Some(self.cas_lock.lock().await),
                        _ => None,
                    };
                    let current = self.inner.get(&c, &k).await?;
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    if current.as_deref() != expected {
                        return Ok(false);
                    }
                    self.inner.put(&c, &k, new, ttl).await?;
                    Ok(true)
                }
                Bug::CasIgnoresExpected => {
                    self.inner.put(&c, &k, new, ttl).await?;
                    Ok(true)
                }
                Bug::CasDropsTtl => self.inner.compare_and_swap(&c, &k, expected, new, None).await,
                _ => self.inner.compare_and_swap(&c, &k, expected, new, ttl).await,
            }
        }
        async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
            let (c, k) = self.place(collection, key);
            self.inner.delete(&c, &k).await
        }
        async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            let (c, k) = self.place(collection, key);
            if matches!(self.bug, Bug::NonAtomicTake) {
                let value = self.inner.get(&c, &k).await?;
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.inner.delete(&c, &k).await?;
                return Ok(value);
            }
            self.inner.take(&c, &k).await
        }
        async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
            let (c, k) = self.place(collection, key);
            let expiry = self.inner.remaining_ttl(&c, &k).await?;
            Ok(match self.bug {
                Bug::TtlAlwaysNever => expiry.map(|_| Expiry::Never),
                _ => expiry,
            })
        }
        async fn list_keys(
            &self,
            collection: &str,
            cursor: Option<&str>,
            limit: usize,
        ) -> Result<KeyPage, StoreError> {
            match self.bug {
                Bug::NaiveJoin => {
                    let prefix = format!("{collection}:");
                    let page = self.inner.list_keys("flat", cursor, limit).await?;
                    let keys = page
                        .keys
                        .into_iter()
                        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
                        .collect();
                    Ok(KeyPage { keys, next: page.next })
                }
                Bug::NoKeyValidation => {
                    let page = self.inner.list_keys(&format!("c{collection}"), cursor, limit).await?;
                    Ok(KeyPage {
                        keys: page.keys.into_iter().map(|k| k[1..].to_owned()).collect(),
                        next: page.next,
                    })
                }
                Bug::ListDropsLastOfPage => {
                    let mut page = self.inner.list_keys(collection, cursor, limit).await?;
                    if page.next.is_some() {
                        page.keys.pop();
                    }
                    Ok(page)
                }
                Bug::ListIgnoresCursor => self.inner.list_keys(collection, None, limit).await,
                Bug::ListIgnoresLimit => self.inner.list_keys(collection, cursor, usize::MAX).await,
                Bug::ListPanicsOnBadCursor => {
                    if let Some(cursor) = cursor {
                        assert!(cursor.starts_with("m1:"), "unparseable cursor");
                        let key = &cursor[3..];
                        assert!(!key.is_empty(), "empty cursor key");
                    }
                    self.inner.list_keys(collection, cursor, limit).await
                }
                _ => self.inner.list_keys(collection, cursor, limit).await,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_kind_of_broken_store_is_caught() {
    use broken::{Broken, Bug};
    type Check = fn(Arc<dyn KvStorage>) -> tokio::task::JoinHandle<()>;
    let cases: [(Bug, Check); 20] = [
        (Bug::EmptyIsMissing, |s| tokio::spawn(async move { testkit::empty_values(&s).await })),
        (Bug::IgnoresTtl, |s| tokio::spawn(async move { testkit::ttl_expiry(&s).await })),
        (Bug::NonAtomicTake, |s| tokio::spawn(async move { testkit::take_is_atomic(&s).await })),
        (Bug::NaiveJoin, |s| tokio::spawn(async move { testkit::collections_are_isolated(&s).await })),
        (Bug::NoKeyValidation, |s| tokio::spawn(async move { testkit::invalid_keys(&s).await })),
        (Bug::TruncatesLargeValues, |s| tokio::spawn(async move { testkit::large_values(&s).await })),
        (Bug::TtlAlwaysNever, |s| tokio::spawn(async move { testkit::remaining_ttl_semantics(&s).await })),
        (Bug::TtlAlwaysNever, |s| tokio::spawn(async move { testkit::remaining_ttl_counts_down(&s).await })),
        (Bug::IgnoresTtl, |s| tokio::spawn(async move { testkit::remaining_ttl_counts_down(&s).await })),
        (Bug::ListDropsLastOfPage, |s| {
            tokio::spawn(async move { testkit::list_keys_walks_every_live_key(&s).await })
        }),
        (Bug::ListIgnoresCursor, |s| {
            tokio::spawn(async move { testkit::list_keys_walks_every_live_key(&s).await })
        }),
        (Bug::ListIgnoresLimit, |s| {
            tokio::spawn(async move { testkit::list_keys_pages_respect_limit(&s).await })
        }),
        (Bug::ListPanicsOnBadCursor, |s| {
            tokio::spawn(async move { testkit::list_keys_refuses_foreign_cursors(&s).await })
        }),
        (Bug::NonAtomicCas, |s| tokio::spawn(async move { testkit::compare_and_swap_is_atomic(&s).await })),
        (Bug::CasIgnoresExpected, |s| {
            tokio::spawn(async move { testkit::compare_and_swap_semantics(&s).await })
        }),
        (Bug::CasIgnoresExpected, |s| {
            tokio::spawn(async move { testkit::compare_and_swap_is_atomic(&s).await })
        }),
        (Bug::CasDropsTtl, |s| tokio::spawn(async move { testkit::compare_and_swap_semantics(&s).await })),
        (Bug::CasDropsTtl, |s| tokio::spawn(async move { testkit::compare_and_swap_ttl(&s).await })),
        (Bug::CasNotAtomicWithTake, |s| {
            tokio::spawn(async move { testkit::take_and_compare_and_swap_are_linearizable(&s).await })
        }),
        (Bug::NonAtomicTake, |s| {
            tokio::spawn(async move { testkit::take_and_compare_and_swap_are_linearizable(&s).await })
        }),
    ];
    for (bug, check) in cases {
        let store: Arc<dyn KvStorage> = Arc::new(Broken::new(bug));
        assert!(check(store).await.is_err(), "the suite did not catch {bug:?}");
        // The same check passes on the correct store, so the failure is the bug's.
        assert!(check(self::store()).await.is_ok(), "the check for {bug:?} fails on MemoryStore");
    }
}
