//! [`FingerprintCache`]: the bounded, expiring, fingerprint-keyed cache behind the workspace's token
//! caches (the JWT verifier's verified tokens, the WorkOS userinfo answers).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::{
    FingerprintBuildHasher, FingerprintMap, RandomnessUnavailable, TokenFingerprint, TokenFingerprinter,
};

/// A bounded cache from tokens to values that expire, keyed by each token's [`TokenFingerprint`] under a
/// key of its own (the raw token is never stored).
///
/// - **Expiry.** Each entry has its own expiry time, so one cache can hold answers of different lifetimes
///   (a positive answer for a minute, a refusal for ten seconds). An expired entry is never returned, and
///   it is dropped when looked up.
/// - **Generations.** Each entry records the generation it was inserted under (for example the version of
///   the key set that verified a token); a lookup under another generation misses and drops the entry.
///   Callers that never invalidate pass a constant.
/// - **Bound.** At most `max_entries` entries, rounded up to a multiple of the shard count, never more.
///   A full shard evicts its oldest insertion first. Replacing or dropping an entry leaves a stale place
///   in the insertion order, which is recognised and skipped, so it never evicts a newer entry for the
///   same token. `max_entries == 0` makes a cache that holds nothing.
/// - **Shards.** The table is split into shards, each behind its own lock, so concurrent lookups rarely
///   wait on each other. With one shard, eviction is exactly oldest-first over the whole cache.
/// - **Cheap hits.** Values are kept behind an [`Arc`]: a hit clones the `Arc` under the lock, and the
///   caller clones the value, if it needs to, after the lock is released.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mcp_auth_core::fingerprint::FingerprintCache;
///
/// let cache = FingerprintCache::new(1_000, 4)?;
/// let now = SystemTime::now();
/// let key = cache.fingerprint("eyJhbGciOi.some.token");
/// cache.insert(key, "user_1".to_owned(), now + Duration::from_secs(60), 7);
/// assert_eq!(cache.get(&key, now, 7).as_deref().map(String::as_str), Some("user_1"));
/// assert!(cache.get(&key, now + Duration::from_secs(60), 7).is_none(), "expired");
/// cache.insert(key, "user_1".to_owned(), now + Duration::from_secs(60), 7);
/// assert!(cache.get(&key, now, 8).is_none(), "inserted under another generation");
/// assert!(cache.is_empty());
/// # Ok::<(), mcp_auth_core::fingerprint::RandomnessUnavailable>(())
/// ```
pub struct FingerprintCache<V> {
    fingerprinter: TokenFingerprinter,
    shards: Box<[Mutex<Shard<V>>]>,
    per_shard: usize,
}

struct Shard<V> {
    entries: FingerprintMap<Entry<V>>,
    /// Insertion order: the key and the insertion number its entry had then. A pair whose number no
    /// longer matches the entry (replaced, dropped) is stale.
    order: VecDeque<(TokenFingerprint, u64)>,
    inserted: u64,
}

struct Entry<V> {
    value: Arc<V>,
    expires_at: SystemTime,
    generation: u64,
    number: u64,
}

impl<V> fmt::Debug for FingerprintCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the key nor the values: only the shape.
        f.debug_struct("FingerprintCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl<V> FingerprintCache<V> {
    /// An empty cache for at most `max_entries` entries in `shards` shards (at least one, and no more
    /// than `max_entries`), with a fresh fingerprint key.
    ///
    /// # Errors
    ///
    /// [`RandomnessUnavailable`] when the operating system gives no randomness for the key.
    pub fn new(max_entries: usize, shards: usize) -> Result<Self, RandomnessUnavailable> {
        let shards = shards.clamp(1, max_entries.max(1));
        let per_shard = max_entries.div_ceil(shards);
        Ok(Self {
            fingerprinter: TokenFingerprinter::new()?,
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: FingerprintMap::with_capacity_and_hasher(
                            per_shard.min(1024),
                            FingerprintBuildHasher,
                        ),
                        order: VecDeque::new(),
                        inserted: 0,
                    })
                })
                .collect(),
            per_shard,
        })
    }

    /// The cache key of `token`, under this cache's own fingerprint key.
    #[must_use]
    pub fn fingerprint(&self, token: &str) -> TokenFingerprint {
        self.fingerprinter.fingerprint(token)
    }

    /// The value cached for `key`, if it was inserted under `generation` and has not expired at `now`.
    /// An entry that fails either test is dropped.
    #[must_use]
    pub fn get(&self, key: &TokenFingerprint, now: SystemTime, generation: u64) -> Option<Arc<V>> {
        let mut shard = self.shard(key);
        let entry = shard.entries.get(key)?;
        if entry.generation != generation || now >= entry.expires_at {
            shard.entries.remove(key);
            return None;
        }
        Some(Arc::clone(&entry.value))
    }

    /// Caches `value` for `key` until `expires_at`, under `generation`, replacing any previous value. A
    /// full shard first evicts its oldest insertion. A value already in an `Arc` is stored as it is, so
    /// [`get`](Self::get) hands out that very `Arc`.
    pub fn insert(
        &self,
        key: TokenFingerprint,
        value: impl Into<Arc<V>>,
        expires_at: SystemTime,
        generation: u64,
    ) {
        if self.per_shard == 0 {
            return;
        }
        let value = value.into();
        let mut shard = self.shard(&key);
        let shard = &mut *shard;
        shard.inserted += 1;
        let number = shard.inserted;
        shard.entries.insert(key, Entry { value, expires_at, generation, number });
        shard.order.push_back((key, number));
        while shard.entries.len() > self.per_shard {
            let Some((oldest, number)) = shard.order.pop_front() else { break };
            if shard.entries.get(&oldest).is_some_and(|entry| entry.number == number) {
                shard.entries.remove(&oldest);
            }
        }
        // Keep the order queue from filling up with stale pairs.
        if shard.order.len() > self.per_shard.saturating_mul(2) {
            let entries = &shard.entries;
            shard.order.retain(|(key, number)| entries.get(key).is_some_and(|entry| entry.number == *number));
        }
    }

    /// Drops the value cached for `key`; returns whether there was one.
    pub fn remove(&self, key: &TokenFingerprint) -> bool {
        self.shard(key).entries.remove(key).is_some()
    }

    /// How many entries are held now, expired ones not yet dropped included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).entries.len()).sum()
    }

    /// Whether no entry is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| lock(shard).entries.is_empty())
    }

    /// The most entries the cache holds: `max_entries` rounded up to a multiple of the shard count.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    fn shard(&self, key: &TokenFingerprint) -> MutexGuard<'_, Shard<V>> {
        lock(&self.shards[key.shard(self.shards.len())])
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing in a shard is left half-updated by a panic in between: keep serving after one.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn order_len<V>(cache: &FingerprintCache<V>) -> usize {
        cache.shards.iter().map(|shard| lock(shard).order.len()).sum()
    }

    #[test]
    fn entries_expire_at_their_own_time() {
        let cache = FingerprintCache::new(8, 1).unwrap();
        let [long, short] = ["long", "short"].map(|token| cache.fingerprint(token));
        cache.insert(long, "positive", at(160), 0);
        cache.insert(short, "negative", at(110), 0);
        assert_eq!(cache.get(&short, at(109), 0).as_deref(), Some(&"negative"));
        assert!(cache.get(&short, at(110), 0).is_none(), "expired at its expiry time");
        assert_eq!(cache.get(&long, at(110), 0).as_deref(), Some(&"positive"));
        assert_eq!(cache.len(), 1, "the expired entry was dropped when looked up");
    }

    #[test]
    fn another_generation_misses_and_drops_the_entry() {
        let cache = FingerprintCache::new(8, 2).unwrap();
        let key = cache.fingerprint("token");
        cache.insert(key, 1, at(100), 1);
        assert!(cache.get(&key, at(50), 2).is_none());
        assert!(cache.get(&key, at(50), 1).is_none(), "dropped, not just hidden");
        cache.insert(key, 2, at(100), 2);
        assert_eq!(cache.get(&key, at(50), 2).as_deref(), Some(&2));
    }

    #[test]
    fn another_token_or_another_cache_misses() {
        let cache = FingerprintCache::new(32, 4).unwrap();
        cache.insert(cache.fingerprint("token-a"), (), at(100), 0);
        assert!(cache.get(&cache.fingerprint("token-a"), at(1), 0).is_some());
        assert!(cache.get(&cache.fingerprint("token-b"), at(1), 0).is_none());
        let other = FingerprintCache::<()>::new(32, 4).unwrap();
        assert!(cache.get(&other.fingerprint("token-a"), at(1), 0).is_none(), "keys differ per cache");
    }

    #[test]
    fn a_stale_order_entry_never_evicts_a_newer_answer() {
        let cache = FingerprintCache::new(2, 1).unwrap();
        let [a, b, c] = ["token-a", "token-b", "token-c"].map(|token| cache.fingerprint(token));
        cache.insert(a, "a1", at(10), 0);
        assert!(cache.get(&a, at(20), 0).is_none(), "expired, and dropped");
        cache.insert(b, "b", at(100), 0);
        cache.insert(a, "a2", at(100), 0);
        cache.insert(c, "c", at(100), 0);
        // B is the oldest live entry; A's first, stale insertion must not take the fresh A with it.
        assert_eq!(cache.get(&a, at(30), 0).as_deref(), Some(&"a2"));
        assert!(cache.get(&b, at(30), 0).is_none());
        assert!(cache.get(&c, at(30), 0).is_some());
    }

    #[test]
    fn replacing_an_entry_does_not_make_it_the_next_victim() {
        let cache = FingerprintCache::new(2, 1).unwrap();
        let [a, b, c] = ["token-a", "token-b", "token-c"].map(|token| cache.fingerprint(token));
        cache.insert(a, 1, at(100), 0);
        cache.insert(b, 1, at(100), 0);
        cache.insert(a, 2, at(100), 0); // A is now the newest insertion
        cache.insert(c, 1, at(100), 0);
        assert_eq!(cache.get(&a, at(1), 0).as_deref(), Some(&2));
        assert!(cache.get(&b, at(1), 0).is_none(), "B was the oldest");
        assert!(cache.remove(&c) && !cache.remove(&c));
    }

    #[test]
    fn the_table_and_its_order_stay_bounded() {
        let cache = FingerprintCache::new(8, 1).unwrap();
        for i in 0..1_000 {
            cache.insert(cache.fingerprint(&format!("token-{}", i % 20)), (), at(100), 0);
        }
        assert!(cache.len() <= 8);
        assert!(order_len(&cache) <= 17, "{}", order_len(&cache));
        let sharded = FingerprintCache::new(32, 16).unwrap();
        assert_eq!(sharded.capacity(), 32);
        for i in 0..1_000 {
            sharded.insert(sharded.fingerprint(&format!("token-{i}")), (), at(100), 0);
        }
        assert!(sharded.len() <= 32, "{}", sharded.len());
        assert!(order_len(&sharded) <= 16 * 5, "{}", order_len(&sharded));
    }

    #[test]
    fn capacity_rounds_up_to_the_shards_and_zero_holds_nothing() {
        assert_eq!(FingerprintCache::<()>::new(10_000, 16).unwrap().capacity(), 10_000);
        assert_eq!(FingerprintCache::<()>::new(100, 16).unwrap().capacity(), 112);
        let few = FingerprintCache::<()>::new(2, 16).unwrap();
        assert_eq!((few.capacity(), few.shards.len()), (2, 2), "no more shards than entries");
        let off = FingerprintCache::new(0, 16).unwrap();
        assert_eq!(off.capacity(), 0);
        off.insert(off.fingerprint("t"), (), at(100), 0);
        assert!(off.is_empty() && off.get(&off.fingerprint("t"), at(1), 0).is_none());
        assert!(FingerprintCache::<()>::new(4, 0).is_ok(), "zero shards means one");
    }

    #[test]
    fn debug_shows_neither_key_nor_values() {
        let cache = FingerprintCache::<&str>::new(4, 1).unwrap();
        cache.insert(cache.fingerprint("secret-token"), "secret-value", at(100), 0);
        let debug = format!("{cache:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("len: 1") && debug.contains("capacity: 4"), "{debug}");
    }
}
