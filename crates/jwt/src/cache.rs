//! The verified-token cache: the keyed fingerprint of the token -> the verified claims, bounded,
//! short-lived, and invalidated when the key set changes. The raw token is never stored.
//!
//! The table itself is [`FingerprintCache`]; this module adds what is particular to verified JWTs: an
//! entry lives until the token's `exp` or the cache's maximum lifetime, whichever is first; its
//! generation is the key set's; only the token's shared info is stored, never the raw token, and a hit
//! pairs it with the token presented.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_auth_core::fingerprint::{FingerprintCache, RandomnessUnavailable, TokenFingerprint};
use mcp_auth_core::{AccessToken, RawToken, TokenInfo};

/// Shards of the table, so concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

/// A bounded, sharded map from token fingerprints to verified tokens.
#[derive(Debug)]
pub(crate) struct TokenCache {
    entries: FingerprintCache<TokenInfo>,
    max_ttl: Duration,
}

impl TokenCache {
    /// An empty cache with a fresh fingerprint key.
    ///
    /// # Errors
    ///
    /// When the operating system gives no randomness for the key.
    pub(crate) fn new(max_entries: usize, max_ttl: Duration) -> Result<Self, RandomnessUnavailable> {
        Ok(Self { entries: FingerprintCache::new(max_entries, SHARDS)?, max_ttl })
    }

    /// The cache key of `token`.
    pub(crate) fn fingerprint(&self, token: &str) -> TokenFingerprint {
        self.entries.fingerprint(token)
    }

    /// The cached token for `hash`, carrying `token` as its raw value, if it is still valid at `now`
    /// and was verified by the key set of `generation`.
    pub(crate) fn get(
        &self,
        hash: &TokenFingerprint,
        token: &str,
        now: SystemTime,
        generation: u64,
    ) -> Option<AccessToken> {
        let shared = self.entries.get(hash, now, generation)?;
        // The info is shared, not copied: a hit costs reference counts and the raw token's copy.
        Some(AccessToken::from_info(RawToken::new(token), shared))
    }

    /// Remembers a verified token until its `exp` or the cache's maximum lifetime, whichever is first.
    pub(crate) fn insert(
        &self,
        hash: TokenFingerprint,
        access: &AccessToken,
        exp: Option<u64>,
        now: SystemTime,
        generation: u64,
    ) {
        let mut valid_until = now + self.max_ttl;
        if let Some(exp) = exp {
            valid_until = valid_until.min(UNIX_EPOCH + Duration::from_secs(exp));
        }
        if valid_until <= now {
            return;
        }
        // Only the info is kept: the raw token is never stored.
        self.entries.insert(hash, Arc::clone(access.info()), valid_until, generation);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn entries_expire_follow_generation_and_stay_bounded() {
        let cache = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        let access = AccessToken::new("raw-token").with_subject("u");
        let hash = cache.fingerprint("raw-token");
        cache.insert(hash, &access, Some(1_100), at(1_000), 1);
        let hit = cache.get(&hash, "raw-token", at(1_050), 1).unwrap();
        assert_eq!(hit.token.expose_secret(), "raw-token");
        assert_eq!(hit.subject.as_deref(), Some("u"));
        assert!(cache.get(&hash, "raw-token", at(1_100), 1).is_none(), "expired at exp");
        cache.insert(hash, &access, None, at(1_000), 1);
        assert!(cache.get(&hash, "raw-token", at(1_299), 1).is_some());
        assert!(cache.get(&hash, "raw-token", at(1_300), 1).is_none(), "the cache's own limit");
        cache.insert(hash, &access, None, at(1_000), 1);
        assert!(cache.get(&hash, "raw-token", at(1_299), 2).is_none(), "key set changed");
        assert!(cache.get(&hash, "raw-token", at(1_299), 1).is_none(), "dropped");
        for i in 0..1_000 {
            let t = format!("token-{i}");
            cache.insert(cache.fingerprint(&t), &AccessToken::new(t.clone()), None, at(1_000), 1);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
    }

    #[test]
    fn an_already_expired_token_is_not_stored() {
        let cache = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        cache.insert(cache.fingerprint("t"), &AccessToken::new("t"), Some(1_000), at(1_000), 0);
        cache.insert(cache.fingerprint("u"), &AccessToken::new("u"), Some(999), at(1_000), 0);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn another_token_misses() {
        let cache = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        cache.insert(cache.fingerprint("token-a"), &AccessToken::new("token-a"), None, at(0), 0);
        assert!(cache.get(&cache.fingerprint("token-a"), "token-a", at(1), 0).is_some());
        assert!(cache.get(&cache.fingerprint("token-b"), "token-b", at(1), 0).is_none());
        let other = TokenCache::new(32, Duration::from_secs(300)).unwrap();
        assert!(
            cache.get(&other.fingerprint("token-a"), "token-a", at(1), 0).is_none(),
            "keys differ per cache"
        );
    }

    #[test]
    fn the_raw_token_is_not_stored() {
        let cache = TokenCache::new(4, Duration::from_secs(300)).unwrap();
        cache.insert(cache.fingerprint("secret-value"), &AccessToken::new("secret-value"), None, at(0), 0);
        assert!(!format!("{cache:?}").contains("secret-value"));
        let stored = cache.entries.get(&cache.fingerprint("secret-value"), at(1), 0).unwrap();
        // The entry is a `TokenInfo`, which has no field for a raw token; a hit pairs it with the token
        // presented, sharing it rather than copying it.
        let hit = cache.get(&cache.fingerprint("secret-value"), "secret-value", at(1), 0).unwrap();
        assert!(Arc::ptr_eq(&stored, hit.info()), "a hit shares the stored info");
        assert_eq!(hit.token.expose_secret(), "secret-value");
    }
}
