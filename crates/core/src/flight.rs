//! [`SingleFlight`]: concurrent callers asking for the same key share one run of the work.
//!
//! Used by the key-set and metadata fetches, the userinfo lookups and the token-exchange cache: one
//! upstream call per key, however many requests need it at once.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

/// Merges concurrent calls per key: the first caller runs the work, callers arriving while it runs wait
/// for its result, and once the result is in, the key is free again (nothing is cached here; cache the
/// result inside the work so that later callers find it).
///
/// No lock is held across an await: the table is locked only to find or add a key's cell. If the caller
/// running the work is cancelled (its request dropped), a waiting caller takes the work over, so a
/// dropped request never leaves the others waiting forever; when every caller is gone, the key is
/// removed.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::flight::SingleFlight;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let flight = SingleFlight::<&str, u32>::new();
/// assert_eq!(flight.run("key", || async { 42 }).await, 42);
/// assert!(!flight.in_flight(&"key"), "nothing is kept once the result is in");
/// # });
/// ```
pub struct SingleFlight<K, V> {
    calls: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleFlight").field("in_flight", &lock(&self.calls).len()).finish()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self { calls: Mutex::new(HashMap::new()) }
    }

    /// Whether a call for `key` is running now.
    pub fn in_flight(&self, key: &K) -> bool {
        lock(&self.calls).contains_key(key)
    }

    /// The result of `work` for `key`: run here, or shared with the call for `key` already running.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = Arc::clone(lock(&self.calls).entry(key.clone()).or_default());
        let seat = Seat { flight: self, key, cell: Some(cell) };
        // Borrowed from the seat, not cloned: every clone of a cell is made and dropped under the lock.
        match seat.cell.as_deref() {
            Some(cell) => cell.get_or_init(work).await.clone(),
            None => work().await,
        }
    }
}

/// One caller's place in a flight; leaving it frees the key once the result is in or nobody is left.
struct Seat<'a, K: Hash + Eq, V> {
    flight: &'a SingleFlight<K, V>,
    key: K,
    cell: Option<Arc<OnceCell<V>>>,
}

impl<K: Hash + Eq, V> Drop for Seat<'_, K, V> {
    fn drop(&mut self) {
        let Some(cell) = self.cell.take() else { return };
        // Every clone of a cell is made and dropped under this lock, so the count read here is exact.
        let mut calls = lock(&self.flight.calls);
        let finished = cell.initialized();
        let ours = calls.get(&self.key).is_some_and(|entry| Arc::ptr_eq(entry, &cell));
        drop(cell);
        if ours && (finished || calls.get(&self.key).is_some_and(|entry| Arc::strong_count(entry) == 1)) {
            calls.remove(&self.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The table is consistent after every statement: keep serving after a panic elsewhere.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_the_key_is_freed_after() {
        let flight = Arc::new(SingleFlight::<u8, usize>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let callers: Vec<_> = (0..10)
            .map(|_| {
                let (flight, runs, gate) = (Arc::clone(&flight), Arc::clone(&runs), Arc::clone(&gate));
                tokio::spawn(async move {
                    flight
                        .run(1, || async move {
                            gate.notified().await;
                            runs.fetch_add(1, Ordering::SeqCst) + 100
                        })
                        .await
                })
            })
            .collect();
        while !flight.in_flight(&1) {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.notify_one();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), 100);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!flight.in_flight(&1), "freed once the result is in");
        assert_eq!(flight.run(1, || async { 7 }).await, 7, "a later call runs again");
        assert!(!flight.in_flight(&1));
    }

    #[tokio::test]
    async fn a_cancelled_runner_hands_the_work_over_and_abandoned_keys_are_removed() {
        let flight = Arc::new(SingleFlight::<&str, &str>::new());
        let first = {
            let flight = Arc::clone(&flight);
            tokio::spawn(async move { flight.run("k", std::future::pending).await })
        };
        while !flight.in_flight(&"k") {
            tokio::task::yield_now().await;
        }
        let second = {
            let flight = Arc::clone(&flight);
            tokio::spawn(async move { flight.run("k", || async { "taken over" }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.abort();
        assert_eq!(second.await.unwrap(), "taken over");
        assert!(!flight.in_flight(&"k"));

        let lone = {
            let flight = Arc::clone(&flight);
            tokio::spawn(async move { flight.run("gone", std::future::pending).await })
        };
        while !flight.in_flight(&"gone") {
            tokio::task::yield_now().await;
        }
        lone.abort();
        let _ = lone.await;
        assert!(!flight.in_flight(&"gone"), "nobody left: the key is removed");
    }
}
