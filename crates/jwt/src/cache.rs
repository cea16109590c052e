//! The verified-token cache: SHA-256 of the token -> the verified claims, bounded, short-lived, and
//! invalidated when the key set changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_auth_core::AccessToken;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

const SHARDS: usize = 16;

/// The SHA-256 of a token: the cache key (the raw token is never stored).
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug)]
struct Entry {
    /// The verified token, with its raw value blanked; shared so a hit clones it outside the lock.
    access: Arc<AccessToken>,
    /// Unix seconds after which the entry is not used.
    valid_until: u64,
    /// The key-set generation that verified it.
    generation: u64,
}

/// A bounded, sharded map from token hashes to verified tokens.
#[derive(Debug)]
pub(crate) struct TokenCache {
    shards: Vec<Mutex<HashMap<TokenHash, Entry>>>,
    per_shard: usize,
    max_ttl: Duration,
}

impl TokenCache {
    pub(crate) fn new(max_entries: usize, max_ttl: Duration) -> Self {
        let per_shard = max_entries.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::with_capacity(per_shard.min(1024)))).collect(),
            per_shard,
            max_ttl,
        }
    }

    fn shard(&self, hash: &TokenHash) -> &Mutex<HashMap<TokenHash, Entry>> {
        &self.shards[usize::from(hash[0]) % SHARDS]
    }

    /// The cached token for `hash`, carrying `token` as its raw value, if it is still valid at `now`
    /// and was verified by the key set of `generation`.
    pub(crate) fn get(
        &self,
        hash: &TokenHash,
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
        hash: TokenHash,
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
        let cache = TokenCache::new(32, Duration::from_secs(300));
        let access = AccessToken::new("raw-token").with_subject("u");
        let hash = hash_token("raw-token");
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
            cache.insert(hash_token(&t), &AccessToken::new(t.clone()), None, 1_000, 1);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
    }

    #[test]
    fn the_raw_token_is_not_stored() {
        let cache = TokenCache::new(4, Duration::from_secs(300));
        cache.insert(hash_token("secret-value"), &AccessToken::new("secret-value"), None, 0, 0);
        assert!(!format!("{cache:?}").contains("secret-value"));
    }
}
