//! The verified-token cache: the keyed fingerprint of the token -> the verified claims, bounded,
//! short-lived, and invalidated when the key set changes. The raw token is never stored.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_auth_core::AccessToken;
use mcp_auth_core::fingerprint::{
    FingerprintBuildHasher, FingerprintMap, RandomnessUnavailable, TokenFingerprint, TokenFingerprinter,
};
use secrecy::SecretString;

const SHARDS: usize = 16;

#[derive(Debug)]
struct Entry {
    /// The verified token, with its raw value blanked; shared so a hit clones it outside the lock.
    access: Arc<AccessToken>,
    /// Unix seconds after which the entry is not used.
    valid_until: u64,
    /// The key-set generation that verified it.
    generation: u64,
}

/// A bounded, sharded map from token fingerprints to verified tokens.
#[derive(Debug)]
pub(crate) struct TokenCache {
    fingerprinter: TokenFingerprinter,
    shards: Vec<Mutex<FingerprintMap<Entry>>>,
    per_shard: usize,
    max_ttl: Duration,
}

impl TokenCache {
    /// An empty cache with a fresh fingerprint key.
    ///
    /// # Errors
    ///
    /// When the operating system gives no randomness for the key.
    pub(crate) fn new(max_entries: usize, max_ttl: Duration) -> Result<Self, RandomnessUnavailable> {
        let per_shard = max_entries.div_ceil(SHARDS).max(1);
        Ok(Self {
            fingerprinter: TokenFingerprinter::new()?,
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(FingerprintMap::with_capacity_and_hasher(
                        per_shard.min(1024),
                        FingerprintBuildHasher,
                    ))
                })
                .collect(),
            per_shard,
            max_ttl,
        })
    }

    /// The cache key of `token`.
    pub(crate) fn fingerprint(&self, token: &str) -> TokenFingerprint {
        self.fingerprinter.fingerprint(token)
    }

    fn shard(&self, hash: &TokenFingerprint) -> &Mutex<FingerprintMap<Entry>> {
        &self.shards[hash.shard(SHARDS)]
    }

    /// The cached token for `hash`, carrying `token` as its raw value, if it is still valid at `now`
    /// and was verified by the key set of `generation`.
    pub(crate) fn get(
        &self,
        hash: &TokenFingerprint,
        token: &str,
        now: u64,
        generation: u64,
    ) -> Option<AccessToken> {
        let mut shard = self.shard(hash).lock().unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(hash)?;
        if entry.generation != generation || now >= entry.valid_until {
            shard.remove(hash);
            return None;
        }
        let shared = Arc::clone(&entry.access);
        drop(shard);
        let mut access = AccessToken::clone(&shared);
        access.token = SecretString::from(token);
        Some(access)
    }

    /// Remembers a verified token until its `exp` or the cache's maximum lifetime, whichever is first.
    pub(crate) fn insert(
        &self,
        hash: TokenFingerprint,
        access: &AccessToken,
        exp: Option<u64>,
        now: u64,
        generation: u64,
    ) {
        let mut valid_until = now.saturating_add(self.max_ttl.as_secs());
        if let Some(exp) = exp {
            valid_until = valid_until.min(exp);
        }
        if valid_until <= now {
            return;
        }
        let mut stored = access.clone();
        stored.token = SecretString::from("");
        let mut shard = self.shard(&hash).lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            shard.retain(|_, e| e.valid_until > now && e.generation == generation);
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop an arbitrary one.
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(hash, Entry { access: Arc::new(stored), valid_until, generation });
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn entries_expire_follow_generation_and_stay_bounded() {
        let cache = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        let access = AccessToken::new("raw-token").with_subject("u");
        let hash = cache.fingerprint("raw-token");
        cache.insert(hash, &access, Some(1_100), 1_000, 1);
        let hit = cache.get(&hash, "raw-token", 1_050, 1).unwrap();
        assert_eq!(hit.token.expose_secret(), "raw-token");
        assert_eq!(hit.subject.as_deref(), Some("u"));
        assert!(cache.get(&hash, "raw-token", 1_100, 1).is_none(), "expired at exp");
        cache.insert(hash, &access, None, 1_000, 1);
        assert!(cache.get(&hash, "raw-token", 1_299, 1).is_some());
        assert!(cache.get(&hash, "raw-token", 1_299, 2).is_none(), "key set changed");
        assert!(cache.get(&hash, "raw-token", 1_299, 1).is_none(), "dropped");
        for i in 0..1_000 {
            let t = format!("token-{i}");
            cache.insert(cache.fingerprint(&t), &AccessToken::new(t.clone()), None, 1_000, 1);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
    }

    #[test]
    fn another_token_misses() {
        let cache = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        cache.insert(cache.fingerprint("token-a"), &AccessToken::new("token-a"), None, 0, 0);
        assert!(cache.get(&cache.fingerprint("token-a"), "token-a", 1, 0).is_some());
        assert!(cache.get(&cache.fingerprint("token-b"), "token-b", 1, 0).is_none());
        let other = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        assert!(cache.get(&other.fingerprint("token-a"), "token-a", 1, 0).is_none(), "keys differ per cache");
    }

    #[test]
    fn the_raw_token_is_not_stored() {
        let cache = TokenCache::new(4, Duration::from_secs(300)).unwrap();
        cache.insert(cache.fingerprint("secret-value"), &AccessToken::new("secret-value"), None, 0, 0);
        assert!(!format!("{cache:?}").contains("secret-value"));
    }
}
