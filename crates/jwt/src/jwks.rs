//! A JWKS URL behind a cache: `Cache-Control: max-age` honoured within bounds, refresh on an unknown
//! `kid` at most once per cooldown, concurrent refreshes coalesced into one request, the last good keys
//! kept when a refresh fails.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use mcp_auth_core::body::read_response_limited;
use mcp_auth_core::clock::SharedClock;
use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap, HeaderValue};
use tracing::Instrument as _;
use url::Url;

use crate::error::JwtError;
use crate::keys::{KeySet, parse_jwks};

/// How a remote key set is cached.
#[derive(Debug, Clone)]
pub(crate) struct JwksPolicy {
    /// Freshness when the response has no usable `Cache-Control: max-age`.
    pub(crate) default_ttl: Duration,
    /// The lower bound applied to `max-age`.
    pub(crate) min_ttl: Duration,
    /// The upper bound applied to `max-age`.
    pub(crate) max_ttl: Duration,
    /// The least time between two refreshes caused by unknown `kid`s.
    pub(crate) cooldown: Duration,
    /// The least time between a failed fetch and the next attempt.
    pub(crate) retry_after_failure: Duration,
    /// The timeout of one fetch.
    pub(crate) timeout: Duration,
    /// The largest JWKS body accepted.
    pub(crate) max_body: usize,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(30),
            retry_after_failure: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_body: 512 * 1024,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When the keys stop being fresh.
    fresh_until: Option<SystemTime>,
    /// When the last fetch (successful or not) finished.
    last_attempt: Option<SystemTime>,
    /// Whether the last fetch failed.
    last_failed: bool,
    /// A description of the last failure, for requests that waited on it.
    last_error: Option<String>,
    /// Completed fetches, successful or not; lets waiters see that a refresh happened meanwhile.
    attempts: u64,
}

/// Why a refresh is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No keys yet, or they are stale.
    Stale,
    /// A token names a `kid` the set does not hold.
    UnknownKid,
}

/// A JWKS URL and its cached keys.
#[derive(Debug)]
pub(crate) struct RemoteJwks {
    url: Url,
    client: reqwest::Client,
    clock: SharedClock,
    policy: JwksPolicy,
    state: RwLock<State>,
    refresh: tokio::sync::Mutex<()>,
}

impl RemoteJwks {
    pub(crate) fn new(url: Url, client: reqwest::Client, clock: SharedClock, policy: JwksPolicy) -> Self {
        Self { url, client, clock, policy, state: RwLock::default(), refresh: tokio::sync::Mutex::new(()) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of the current keys when they are fresh at `now`, without fetching; `None` when
    /// there are no keys yet or they are due for a refresh.
    pub(crate) fn fresh_generation(&self, now: SystemTime) -> Option<u64> {
        let state = self.read();
        let keys = state.keys.as_ref()?;
        state.fresh_until.is_some_and(|until| now < until).then_some(keys.generation)
    }

    /// The keys to verify with, fetching them when there are none or they are stale.
    ///
    /// # Errors
    ///
    /// [`JwtError::KeySourceUnavailable`] only when no keys were ever fetched.
    pub(crate) async fn keys(&self) -> Result<Arc<KeySet>, JwtError> {
        let now = self.clock.now();
        let (keys, attempts, wanted) = {
            let state = self.read();
            let stale = state.fresh_until.is_none_or(|until| now >= until);
            (state.keys.clone(), state.attempts, stale && self.may_retry(&state, now, Reason::Stale))
        };
        match (keys, wanted) {
            (Some(keys), false) => Ok(keys),
            (Some(keys), true) => {
                // Stale keys: one request refreshes; the others keep verifying with the old keys meanwhile.
                let Ok(guard) = self.refresh.try_lock() else { return Ok(keys) };
                Ok(self.refresh_locked(guard, attempts, Reason::Stale).await.unwrap_or(keys))
            }
            (None, true) => {
                let guard = self.refresh.lock().await;
                self.refresh_locked(guard, attempts, Reason::Stale).await
            }
            (None, false) => Err(self.unavailable()),
        }
    }

    /// Refreshes because a token named `kid`, unless the cooldown forbids it. Returns the new keys when
    /// a refresh happened (here or in a concurrent request) and now holds `kid`.
    pub(crate) async fn refresh_for_kid(&self, kid: &str) -> Option<Arc<KeySet>> {
        let now = self.clock.now();
        let attempts = {
            let state = self.read();
            if !self.may_retry(&state, now, Reason::UnknownKid) {
                return None;
            }
            state.attempts
        };
        let guard = self.refresh.lock().await;
        let keys = self.refresh_locked(guard, attempts, Reason::UnknownKid).await.ok()?;
        keys.has_kid(kid).then_some(keys)
    }

    fn may_retry(&self, state: &State, now: SystemTime, reason: Reason) -> bool {
        let Some(last) = state.last_attempt else { return true };
        let since = now.duration_since(last).unwrap_or_default();
        let wait = match (reason, state.last_failed) {
            (Reason::UnknownKid, _) => self.policy.cooldown,
            (Reason::Stale, true) => self.policy.retry_after_failure,
            (Reason::Stale, false) => Duration::ZERO,
        };
        since >= wait
    }

    fn unavailable(&self) -> JwtError {
        let detail = self.read().last_error.clone().unwrap_or_else(|| "no fetch yet".to_owned());
        JwtError::KeySourceUnavailable(Box::new(JwtError::JwksFetch {
            url: self.url.to_string(),
            source: detail.into(),
        }))
    }

    /// Fetches with the refresh lock held, unless another request completed a fetch while this one waited
    /// for the lock, or the policy no longer allows one.
    async fn refresh_locked(
        &self,
        _guard: tokio::sync::MutexGuard<'_, ()>,
        seen_attempts: u64,
        reason: Reason,
    ) -> Result<Arc<KeySet>, JwtError> {
        {
            let state = self.read();
            if state.attempts != seen_attempts || !self.may_retry(&state, self.clock.now(), reason) {
                // Someone else just fetched: share their result.
                return state.keys.clone().ok_or_else(|| {
                    drop(state);
                    self.unavailable()
                });
            }
        }
        let span = tracing::info_span!("jwks_fetch", url = %self.url, ?reason);
        let result = self.fetch().instrument(span).await;
        let now = self.clock.now();
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.attempts += 1;
        state.last_attempt = Some(now);
        match result {
            Ok((keys, ttl)) => {
                let generation = state.keys.as_ref().map_or(1, |k| k.generation + 1);
                let keys = Arc::new(KeySet { keys, generation });
                tracing::debug!(
                    count = keys.keys.len(),
                    generation,
                    ttl_secs = ttl.as_secs(),
                    "JWKS refreshed"
                );
                state.keys = Some(Arc::clone(&keys));
                state.fresh_until = Some(now + ttl);
                state.last_failed = false;
                state.last_error = None;
                Ok(keys)
            }
            Err(err) => {
                tracing::warn!(error = %err, url = %self.url, kept_old_keys = state.keys.is_some(), "JWKS fetch failed");
                state.last_failed = true;
                state.last_error = Some(error_chain(&err));
                match &state.keys {
                    Some(keys) => Ok(Arc::clone(keys)),
                    None => Err(JwtError::KeySourceUnavailable(Box::new(err))),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<crate::keys::VerifyingKey>, Duration), JwtError> {
        let url = self.url.to_string();
        let fetch_error =
            |source: reqwest::Error| JwtError::JwksFetch { url: url.clone(), source: source.into() };
        let response = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json, application/jwk-set+json"))
            .timeout(self.policy.timeout)
            .send()
            .await
            .map_err(fetch_error)?;
        if !response.status().is_success() {
            return Err(JwtError::JwksStatus { url, status: response.status().as_u16() });
        }
        let ttl = self.ttl(response.headers());
        let body = read_response_limited(http::Response::from(response), self.policy.max_body)
            .await
            .map_err(|err| {
                if err.is_too_large() {
                    JwtError::invalid_jwks("document too large")
                } else {
                    JwtError::JwksFetch { url: url.clone(), source: err.into() }
                }
            })?;
        Ok((parse_jwks(&body, false)?, ttl))
    }

    /// The freshness the response's `Cache-Control` lines grant, within the policy's bounds.
    fn ttl(&self, headers: &HeaderMap) -> Duration {
        let lines = headers.get_all(CACHE_CONTROL).into_iter().filter_map(|value| value.to_str().ok());
        match mcp_auth_core::cache_control::max_age(lines) {
            Some(age) => age.clamp(self.policy.min_ttl, self.policy.max_ttl),
            None => self.policy.default_ttl.clamp(self.policy.min_ttl, self.policy.max_ttl),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwks(policy: JwksPolicy) -> RemoteJwks {
        let url = Url::parse("https://issuer.example/jwks").unwrap();
        RemoteJwks::new(url, reqwest::Client::new(), mcp_auth_core::clock::system_clock(), policy)
    }

    #[test]
    fn ttl_reads_every_cache_control_line_within_bounds() {
        let jwks = jwks(JwksPolicy::default());
        let mut headers = HeaderMap::new();
        assert_eq!(jwks.ttl(&headers), Duration::from_secs(300), "default");
        headers.append(CACHE_CONTROL, HeaderValue::from_static("public"));
        headers.append(CACHE_CONTROL, HeaderValue::from_static("max-age=600"));
        assert_eq!(jwks.ttl(&headers), Duration::from_secs(600), "max-age on the second line");
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert_eq!(jwks.ttl(&headers), Duration::from_secs(30), "no-cache, raised to the floor");
        let mut huge = HeaderMap::new();
        huge.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=99999999"));
        assert_eq!(jwks.ttl(&huge), Duration::from_secs(24 * 3600), "capped");
    }
}
