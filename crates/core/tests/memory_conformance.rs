//! The `KvStore` conformance suite against `MemoryStore`.
//!
//! Needs the `testkit` feature: `cargo test -p mcp-auth-core --features testkit`; `cargo test --workspace`
//! enables it through the workspace crates that depend on core with `testkit`.

use std::sync::Arc;

use mcp_auth_core::store::{KvStore, MemoryStore};
use mcp_auth_core::testkit;

fn store() -> Arc<dyn KvStore> {
    Arc::new(MemoryStore::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_whole_suite() {
    testkit::run_all(store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clones_share_state_and_race_correctly() {
    let store = MemoryStore::new();
    let a: Arc<dyn KvStore> = Arc::new(store.clone());
    let b: Arc<dyn KvStore> = Arc::new(store);
    testkit::instances_share_state(&a, &b).await;
    testkit::take_is_atomic_across(&[a.clone(), b.clone()]).await;
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
