//! The in-memory cache of exchanged tokens: keyed on user, organization, resource and sorted scopes,
//! each entry held until shortly before its token expires, bounded in size.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::token::ExchangedToken;

/// What one exchanged token is cached under. Scopes are sorted and deduplicated, so the order a tool
/// names them in does not matter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub(super) user: String,
    pub(super) organization: Option<String>,
    pub(super) resource: String,
    pub(super) scopes: Vec<String>,
}

impl CacheKey {
    /// The key's fields as one unambiguous string (length-prefixed), for hashing into a store key.
    pub(super) fn canonical(&self, client_id: &str) -> String {
        let mut out = String::new();
        let parts = [client_id, &self.user, self.organization.as_deref().unwrap_or(""), &self.resource]
            .into_iter()
            .chain(self.scopes.iter().map(String::as_str));
        for part in parts {
            out.push_str(&part.len().to_string());
            out.push(':');
            out.push_str(part);
        }
        out
    }
}

/// A bounded map from [`CacheKey`] to token. When full, entries past their use-by time go first, then
/// the one that expires soonest.
#[derive(Debug)]
pub(super) struct MemoryCache {
    entries: Mutex<HashMap<CacheKey, ExchangedToken>>,
    capacity: usize,
    refresh_before: Duration,
}

impl MemoryCache {
    pub(super) fn new(capacity: usize, refresh_before: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity, refresh_before }
    }

    /// Whether `token` may still be handed out at `now`: it expires more than `refresh_before` later.
    pub(super) fn is_fresh(&self, token: &ExchangedToken, now: SystemTime) -> bool {
        now + self.refresh_before < token.expires_at()
    }

    /// How long `token` may still be handed out from `now`.
    pub(super) fn use_for(&self, token: &ExchangedToken, now: SystemTime) -> Option<Duration> {
        token.expires_at().duration_since(now + self.refresh_before).ok().filter(|left| !left.is_zero())
    }

    /// The fresh token under `key`, if any (a stale one is removed).
    pub(super) fn get(&self, key: &CacheKey, now: SystemTime) -> Option<ExchangedToken> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some(token) if self.is_fresh(token, now) => Some(token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `token` under `key`, making room if the cache is full. A capacity of 0 keeps nothing.
    pub(super) fn put(&self, key: CacheKey, token: ExchangedToken, now: SystemTime) {
        if self.capacity == 0 || !self.is_fresh(&token, now) {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, kept| self.is_fresh(kept, now));
            if entries.len() >= self.capacity
                && let Some(soonest) =
                    entries.iter().min_by_key(|(_, kept)| kept.expires_at()).map(|(key, _)| key.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(key, token);
    }

    /// How many entries are held.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, ExchangedToken>> {
        // Every statement leaves the map consistent: keep serving after a panic elsewhere.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str) -> CacheKey {
        CacheKey { user: user.into(), organization: None, resource: "https://api".into(), scopes: vec![] }
    }

    fn token(expires_in: u64, now: SystemTime) -> ExchangedToken {
        ExchangedToken::new("t", "https://api", ["s"], now + Duration::from_secs(expires_in))
    }

    #[test]
    fn entries_are_served_until_shortly_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let cache = MemoryCache::new(10, Duration::from_secs(30));
        cache.put(key("a"), token(100, now), now);
        assert!(cache.get(&key("a"), now + Duration::from_secs(69)).is_some());
        assert!(cache.get(&key("a"), now + Duration::from_secs(70)).is_none(), "inside the refresh window");
        assert_eq!(cache.len(), 0, "the stale entry is dropped");
        cache.put(key("b"), token(20, now), now);
        assert_eq!(cache.len(), 0, "a token already inside the window is not kept");
    }

    #[test]
    fn a_full_cache_drops_stale_entries_then_the_soonest_to_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let cache = MemoryCache::new(2, Duration::from_secs(1));
        cache.put(key("long"), token(1000, now), now);
        cache.put(key("short"), token(100, now), now);
        cache.put(key("new"), token(500, now), now);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("short"), now).is_none(), "the soonest to expire went");
        assert!(cache.get(&key("long"), now).is_some() && cache.get(&key("new"), now).is_some());
        let later = now + Duration::from_secs(600);
        cache.put(key("third"), token(1000, later), later);
        assert!(cache.get(&key("long"), later).is_some(), "the stale entry went, not the live one");
        assert!(MemoryCache::new(0, Duration::ZERO).get(&key("a"), now).is_none());
    }

    #[test]
    fn canonical_keys_cannot_be_confused() {
        let a = CacheKey { user: "a:b".into(), organization: None, resource: "r".into(), scopes: vec![] };
        let b = CacheKey {
            user: "a".into(),
            organization: Some("b".into()),
            resource: "r".into(),
            scopes: vec![],
        };
        assert_ne!(a.canonical("c"), b.canonical("c"));
        assert_ne!(a.canonical("c"), a.canonical("d"));
    }
}
