use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{Expiry, KeyPage, KvStorage, MAX_KEY_LEN, StoreError, validate_key};
use crate::clock::{SharedClock, system_clock};

const BACKEND: &str = "memory";
/// Memory cursors are this prefix and the last key listed: the next page starts after it.
const CURSOR_PREFIX: &str = "m1:";

/// An in-process [`KvStorage`]: fast, bounded, and gone when the process ends.
///
/// TTLs are honoured on every read; expired entries are also swept in the background (every
/// [`sweep_interval`](MemoryStoreBuilder::sweep_interval), when the store is created inside a tokio
/// runtime) and before a write would exceed the bounds. The store is bounded both in entries and in
/// bytes of keys plus values; a write past either bound fails with [`StoreError::Full`] instead of
/// silently dropping live state. Clones share the same entries.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_core::store::{KvStorage, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::builder().max_entries(10_000).build();
/// store.put("codes", "abc", b"payload", Some(Duration::from_secs(60))).await.unwrap();
/// assert_eq!(store.take("codes", "abc").await.unwrap().as_deref(), Some(&b"payload"[..]));
/// assert_eq!(store.take("codes", "abc").await.unwrap(), None);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    clock: SharedClock,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct State {
    /// Each collection is ordered by key, so `list_keys` resumes after its cursor's key in `O(log n)`.
    collections: HashMap<String, BTreeMap<String, Entry>>,
    entries: usize,
    bytes: usize,
}

struct Entry {
    value: Vec<u8>,
    expires_at: Option<SystemTime>,
}

impl Entry {
    fn is_live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

fn entry_size(key: &str, value: &[u8]) -> usize {
    key.len() + value.len()
}

impl State {
    fn get(&self, collection: &str, key: &str) -> Option<&Entry> {
        self.collections.get(collection)?.get(key)
    }

    /// Whether writing `value` under `key` (replacing any entry there) stays within the bounds.
    fn has_room(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        max_entries: usize,
        max_bytes: usize,
    ) -> bool {
        let (entries, bytes) = match self.get(collection, key) {
            Some(old) => (self.entries, self.bytes - entry_size(key, &old.value)),
            None => (self.entries + 1, self.bytes),
        };
        entries <= max_entries && bytes + entry_size(key, value) <= max_bytes
    }

    fn remove(&mut self, collection: &str, key: &str) -> Option<Entry> {
        let entries = self.collections.get_mut(collection)?;
        let entry = entries.remove(key)?;
        if entries.is_empty() {
            self.collections.remove(collection);
        }
        self.entries -= 1;
        self.bytes -= entry_size(key, &entry.value);
        Some(entry)
    }

    fn sweep(&mut self, now: SystemTime) -> usize {
        let mut removed = 0;
        let mut freed = 0;
        self.collections.retain(|_, entries| {
            entries.retain(|key, entry| {
                let live = entry.is_live(now);
                if !live {
                    removed += 1;
                    freed += entry_size(key, &entry.value);
                }
                live
            });
            !entries.is_empty()
        });
        self.entries -= removed;
        self.bytes -= freed;
        removed
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("MemoryStore")
            .field("entries", &state.entries)
            .field("bytes", &state.bytes)
            .field("max_entries", &self.inner.max_entries)
            .field("max_bytes", &self.inner.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// When [`Inner::write`] writes.
#[derive(Clone, Copy)]
enum Condition<'a> {
    /// Always (`put`).
    Always,
    /// Only when the live value is this one; `None` for no live entry (`put_if_absent`,
    /// `compare_and_swap`).
    IfCurrent(Option<&'a [u8]>),
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated in a way that matters more
        // than losing the store, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every write: the condition is checked, the bounds enforced and the entry replaced under one lock.
    fn write(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        condition: Condition<'_>,
    ) -> Result<bool, StoreError> {
        validate_key(collection, key)?;
        let now = self.clock.now();
        // A TTL too large to represent is as good as none.
        let expires_at = ttl.and_then(|ttl| now.checked_add(ttl));
        let mut state = self.lock();
        if let Condition::IfCurrent(expected) = condition {
            let current = state
                .get(collection, key)
                .filter(|entry| entry.is_live(now))
                .map(|entry| entry.value.as_slice());
            if current != expected {
                return Ok(false);
            }
        }
        if !state.has_room(collection, key, value, self.max_entries, self.max_bytes) {
            state.sweep(now);
            if !state.has_room(collection, key, value, self.max_entries, self.max_bytes) {
                return Err(StoreError::Full { backend: BACKEND, limit: self.max_entries });
            }
        }
        state.remove(collection, key);
        state.entries += 1;
        state.bytes += entry_size(key, value);
        state
            .collections
            .entry(collection.to_owned())
            .or_default()
            .insert(key.to_owned(), Entry { value: value.to_vec(), expires_at });
        Ok(true)
    }
}

impl MemoryStore {
    /// A store with the default bounds (1,000,000 entries, 256 MiB) and the system clock.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set bounds, the sweep interval and the clock.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// Removes every expired entry now; returns how many were removed.
    pub fn sweep_expired(&self) -> usize {
        let now = self.inner.clock.now();
        self.inner.lock().sweep(now)
    }

    /// How many entries are held (expired ones not yet swept included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.lock().entries
    }

    /// Whether the store holds no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug)]
#[must_use]
pub struct MemoryStoreBuilder {
    max_entries: usize,
    max_bytes: usize,
    sweep_interval: Option<Duration>,
    clock: SharedClock,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            max_entries: 1_000_000,
            max_bytes: 256 * 1024 * 1024,
            sweep_interval: Some(Duration::from_secs(60)),
            clock: system_clock(),
        }
    }
}

impl MemoryStoreBuilder {
    /// The most entries the store holds (default 1,000,000).
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// The most bytes of keys plus values the store holds (default 256 MiB).
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// How often the background sweep runs (default 60 s); `None` turns it off (reads still honour TTLs).
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The clock used for TTLs.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the store. Inside a tokio runtime this also starts the background sweep, which ends when
    /// the last clone of the store is dropped.
    #[must_use]
    pub fn build(self) -> MemoryStore {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            clock: self.clock,
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
        });
        if let (Some(interval), Ok(runtime)) = (self.sweep_interval, tokio::runtime::Handle::try_current()) {
            let weak = Arc::downgrade(&inner);
            runtime.spawn(sweep_forever(weak, interval.max(Duration::from_millis(10))));
        }
        MemoryStore { inner }
    }
}

async fn sweep_forever(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = inner.clock.now();
        let removed = inner.lock().sweep(now);
        if removed > 0 {
            tracing::debug!(removed, "memory store swept expired entries");
        }
    }
}

#[async_trait]
impl KvStorage for MemoryStore {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(collection, key)?;
        let now = self.inner.clock.now();
        let state = self.inner.lock();
        Ok(state
            .collections
            .get(collection)
            .and_then(|entries| entries.get(key))
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value.clone()))
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.inner.write(collection, key, value, ttl, Condition::Always).map(drop)
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.inner.write(collection, key, value, ttl, Condition::IfCurrent(None))
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.inner.write(collection, key, new, ttl, Condition::IfCurrent(expected))
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        validate_key(collection, key)?;
        let now = self.inner.clock.now();
        Ok(self.inner.lock().remove(collection, key).is_some_and(|entry| entry.is_live(now)))
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(collection, key)?;
        let now = self.inner.clock.now();
        Ok(self
            .inner
            .lock()
            .remove(collection, key)
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value))
    }

    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        validate_key(collection, key)?;
        let now = self.inner.clock.now();
        let state = self.inner.lock();
        Ok(state.get(collection, key).filter(|entry| entry.is_live(now)).map(|entry| {
            match entry.expires_at {
                None => Expiry::Never,
                Some(at) => Expiry::In(at.duration_since(now).unwrap_or_default()),
            }
        }))
    }

    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        // Any valid key stands in: only the collection name is checked here.
        validate_key(collection, "-")?;
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        let now = self.inner.clock.now();
        let state = self.inner.lock();
        let Some(entries) = state.collections.get(collection) else { return Ok(KeyPage::default()) };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut live = entries
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|(_, e)| e.is_live(now))
            .map(|(k, _)| k);
        let keys: Vec<String> = live.by_ref().take(limit).cloned().collect();
        // Only hand out a cursor when a live key follows, so a walk ends without an empty last page.
        let next = match keys.last() {
            Some(last) if keys.len() == limit && live.next().is_some() => {
                Some(format!("{CURSOR_PREFIX}{last}"))
            }
            _ => None,
        };
        Ok(KeyPage { keys, next })
    }
}

/// The key a cursor resumes after.
fn decode_cursor(cursor: &str) -> Result<&str, StoreError> {
    match cursor.strip_prefix(CURSOR_PREFIX) {
        Some(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN => Ok(key),
        _ => Err(StoreError::InvalidCursor {
            reason: "not a cursor of the memory store (start a listing with no cursor)".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn bounded_in_entries_and_bytes() {
        let store = MemoryStore::builder().max_entries(2).max_bytes(64).sweep_interval(None).build();
        store.put("c", "a", b"1", None).await.unwrap();
        store.put("c", "b", b"2", None).await.unwrap();
        assert!(matches!(store.put("c", "x", b"3", None).await, Err(StoreError::Full { .. })));
        // Overwriting an existing key does not need room for a new entry.
        store.put("c", "a", b"11", None).await.unwrap();
        assert!(matches!(store.put("c", "a", &[0; 100], None).await, Err(StoreError::Full { .. })));
        assert_eq!(store.get("c", "a").await.unwrap().as_deref(), Some(&b"11"[..]));
        // compare_and_swap is bounded the same way, and a refused write changes nothing.
        assert!(matches!(
            store.compare_and_swap("c", "x", None, b"3", None).await,
            Err(StoreError::Full { .. })
        ));
        assert!(matches!(
            store.compare_and_swap("c", "a", Some(b"11"), &[0; 100], None).await,
            Err(StoreError::Full { .. })
        ));
        assert!(store.compare_and_swap("c", "a", Some(b"11"), b"12", None).await.unwrap());
        assert_eq!(store.get("c", "a").await.unwrap().as_deref(), Some(&b"12"[..]));
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn expired_entries_make_room_and_are_swept() {
        let clock = ManualClock::at_unix(1_000);
        let store =
            MemoryStore::builder().max_entries(1).clock(Arc::new(clock.clone())).sweep_interval(None).build();
        store.put("c", "a", b"1", Some(Duration::from_secs(5))).await.unwrap();
        clock.advance(Duration::from_secs(5));
        assert_eq!(store.get("c", "a").await.unwrap(), None);
        store.put("c", "b", b"2", None).await.unwrap();
        assert_eq!(store.len(), 1);
        store.put("c", "b", b"2", Some(Duration::from_secs(1))).await.unwrap();
        clock.advance(Duration::from_secs(2));
        assert_eq!(store.sweep_expired(), 1);
        assert!(store.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn background_sweep_runs_and_stops_with_the_store() {
        let clock = ManualClock::at_unix(1_000);
        let store = MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .sweep_interval(Some(Duration::from_secs(1)))
            .build();
        store.put("c", "a", b"1", Some(Duration::from_secs(1))).await.unwrap();
        clock.advance(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(store.len(), 0);
        let weak = Arc::downgrade(&store.inner);
        drop(store);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(weak.upgrade().is_none());
    }

    #[tokio::test]
    async fn huge_ttl_does_not_overflow() {
        let store = MemoryStore::new();
        store.put("c", "a", b"1", Some(Duration::MAX)).await.unwrap();
        assert!(store.get("c", "a").await.unwrap().is_some());
    }
}
