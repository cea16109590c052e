//! A JWKS URL behind a cache: `Cache-Control: max-age` honoured within bounds, refresh on an unknown
//! `kid` at most once per cooldown, concurrent refreshes coalesced into one request, the last good keys
//! kept when a refresh fails, but no longer than the maximum stale age past their freshness. A fetch that
//! returns the same usable keys keeps the key set (and its generation, so the verified-token cache stays).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use mcp_auth_core::body::read_response_limited;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::metrics::{self, UpstreamOutcome, UpstreamTarget};
use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap, HeaderValue};
use tracing::Instrument as _;
use url::Url;

use crate::error::JwtError;
use crate::keys::{KeySet, parse_jwks};

/// The default of [`JwksPolicy::max_stale`]: a day, long enough to ride out an identity provider's
/// outage overnight, short enough that keys it has since withdrawn are not trusted indefinitely.
pub(crate) const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

/// How a remote key set is cached.
#[derive(Debug, Clone)]
pub(crate) struct JwksPolicy {
    /// Freshness when the response has no usable `Cache-Control: max-age`.
    pub(crate) default_ttl: Duration,
    /// The lower bound applied to `max-age`.
    pub(crate) min_ttl: Duration,
    /// The upper bound applied to `max-age`.
    pub(crate) max_ttl: Duration,
    /// The least time between two refreshes caused by unknown `kid`s (other fetches do not count).
    pub(crate) cooldown: Duration,
    /// How long past their freshness the last keys are still used while refreshes fail.
    pub(crate) max_stale: Duration,
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
            max_stale: DEFAULT_MAX_STALE,
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
    /// When the last fetch caused by an unknown `kid` finished; the cooldown counts from it.
    last_kid_refetch: Option<SystemTime>,
}

/// Why a refresh is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No keys yet, or they are stale.
    Stale,
    /// A token names a `kid` the set does not hold.
    UnknownKid,
}

/// Where the JWKS is: a configured URL, or the `jwks_uri` of the issuer's metadata (RFC 8414, else
/// OpenID Connect Discovery), read on first use so a server starts while its issuer is down.
#[derive(Debug)]
pub(crate) enum JwksLocation {
    Fixed(Url),
    FromIssuer { issuer: String, allow_http: bool, found: std::sync::OnceLock<Url> },
}

impl JwksLocation {
    /// The JWKS URL when known, else what it will be read from (for logs and errors).
    fn describe(&self) -> String {
        match self {
            Self::Fixed(url) => url.to_string(),
            Self::FromIssuer { issuer, found, .. } => {
                found.get().map_or_else(|| format!("the jwks_uri of {issuer}'s metadata"), Url::to_string)
            }
        }
    }

    /// The metadata documents to try, in order: RFC 8414's (the well-known segment inserted before the
    /// issuer's path), then OpenID Connect's (appended).
    fn metadata_urls(issuer: &str) -> Vec<String> {
        let trimmed = issuer.trim_end_matches('/');
        let mut urls = Vec::new();
        if let Ok(parsed) = Url::parse(trimmed) {
            let path = parsed.path().trim_end_matches('/');
            let origin = parsed.origin().ascii_serialization();
            urls.push(format!("{origin}/.well-known/oauth-authorization-server{path}"));
        }
        urls.push(format!("{trimmed}/.well-known/openid-configuration"));
        urls
    }
}

/// A JWKS URL and its cached keys.
#[derive(Debug)]
pub(crate) struct RemoteJwks {
    location: JwksLocation,
    client: reqwest::Client,
    clock: SharedClock,
    policy: JwksPolicy,
    state: RwLock<State>,
    refresh: tokio::sync::Mutex<()>,
}

impl RemoteJwks {
    pub(crate) fn new(
        location: JwksLocation,
        client: reqwest::Client,
        clock: SharedClock,
        policy: JwksPolicy,
    ) -> Self {
        Self {
            location,
            client,
            clock,
            policy,
            state: RwLock::default(),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The JWKS URL, read from the issuer's metadata the first time when so configured.
    async fn url(&self) -> Result<Url, JwtError> {
        let (issuer, allow_http, found) = match &self.location {
            JwksLocation::Fixed(url) => return Ok(url.clone()),
            JwksLocation::FromIssuer { issuer, allow_http, found } => (issuer, *allow_http, found),
        };
        if let Some(url) = found.get() {
            return Ok(url.clone());
        }
        let mut last = None;
        for metadata_url in JwksLocation::metadata_urls(issuer) {
            match self.jwks_uri_from(&metadata_url, issuer, allow_http).await {
                Ok(url) => {
                    tracing::info!(issuer, jwks_uri = %url, "JWKS location read from the issuer's metadata");
                    return Ok(found.get_or_init(|| url).clone());
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| JwtError::invalid_jwks("the issuer has no metadata URL")))
    }

    /// The `jwks_uri` of the metadata document at `metadata_url`, which must name `issuer` exactly
    /// (RFC 8414 §3.3) and point at `https` (or loopback `http`); counted and timed as
    /// `auth_server_metadata`.
    async fn jwks_uri_from(
        &self,
        metadata_url: &str,
        issuer: &str,
        allow_http: bool,
    ) -> Result<Url, JwtError> {
        metered(UpstreamTarget::AuthServerMetadata, self.read_jwks_uri(metadata_url, issuer, allow_http))
            .await
    }

    async fn read_jwks_uri(
        &self,
        metadata_url: &str,
        issuer: &str,
        allow_http: bool,
    ) -> Result<Url, JwtError> {
        let fetch_error = |source: Box<dyn std::error::Error + Send + Sync>| JwtError::JwksFetch {
            url: metadata_url.to_owned(),
            source,
        };
        let response = self
            .client
            .get(metadata_url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .timeout(self.policy.timeout)
            .send()
            .await
            .map_err(|e| fetch_error(e.into()))?;
        if !response.status().is_success() {
            return Err(JwtError::JwksStatus {
                url: metadata_url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let body = read_response_limited(http::Response::from(response), self.policy.max_body)
            .await
            .map_err(|e| fetch_error(e.into()))?;
        let metadata: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| fetch_error("the metadata is not JSON".into()))?;
        if metadata.get("issuer").and_then(serde_json::Value::as_str) != Some(issuer) {
            return Err(fetch_error("the metadata names another issuer".into()));
        }
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| fetch_error("the metadata has no jwks_uri".into()))?;
        let url =
            Url::parse(jwks_uri).map_err(|_| fetch_error("the metadata's jwks_uri is not a URL".into()))?;
        let loopback = mcp_auth_core::loopback::is_loopback_url(&url);
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback || allow_http => Ok(url),
            _ => Err(fetch_error("the metadata's jwks_uri is not https".into())),
        }
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
    /// [`JwtError::KeySourceUnavailable`] when no keys were ever fetched, or when the last ones are more
    /// than the maximum stale age past their freshness and no refresh succeeds now.
    pub(crate) async fn keys(&self) -> Result<Arc<KeySet>, JwtError> {
        let now = self.clock.now();
        let (keys, attempts, wanted) = {
            let state = self.read();
            let stale = state.fresh_until.is_none_or(|until| now >= until);
            (self.usable(&state, now), state.attempts, stale && self.may_retry(&state, now, Reason::Stale))
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
            (None, false) => Err(self.unavailable(now)),
        }
    }

    /// The last keys, unless they are more than the maximum stale age past their freshness at `now`.
    fn usable(&self, state: &State, now: SystemTime) -> Option<Arc<KeySet>> {
        let keys = state.keys.as_ref()?;
        let trusted_until = state.fresh_until?.checked_add(self.policy.max_stale);
        trusted_until.is_none_or(|until| now < until).then(|| Arc::clone(keys))
    }

    /// How many fetches have completed, successful or not.
    pub(crate) fn fetches(&self) -> u64 {
        self.read().attempts
    }

    /// Refreshes because a token named `kid`, unless the cooldown forbids it: at most one such refresh per
    /// cooldown, counted from the last one (the periodic refreshes do not use it up). `fetches_before` is
    /// [`fetches`](Self::fetches) when the request began: when a fetch completed since, its keys are used
    /// and nothing is fetched again. Returns the keys when they now hold `kid`, and `None` when the key
    /// source answered (or answered last) without it.
    ///
    /// # Errors
    ///
    /// [`JwtError::KeySourceUnavailable`] when the key source could not be asked: the last fetch failed,
    /// so whether `kid` is a new key of the issuer or no key at all cannot be told (a key rotated in
    /// during a JWKS outage must not be refused as invalid).
    pub(crate) async fn refresh_for_kid(
        &self,
        kid: &str,
        fetches_before: u64,
    ) -> Result<Option<Arc<KeySet>>, JwtError> {
        let now = self.clock.now();
        {
            let state = self.read();
            if state.attempts != fetches_before || !self.may_retry(&state, now, Reason::UnknownKid) {
                let keys = self.usable(&state, now).filter(|keys| keys.has_kid(kid));
                return self.kid_outcome(&state, kid, keys);
            }
        }
        let guard = self.refresh.lock().await;
        let keys = self.refresh_locked(guard, fetches_before, Reason::UnknownKid).await?;
        let keys = keys.has_kid(kid).then_some(keys);
        let state = self.read();
        self.kid_outcome(&state, kid, keys)
    }

    /// The keys holding a token's `kid`; without them, unavailable when the last fetch failed.
    fn kid_outcome(
        &self,
        state: &State,
        kid: &str,
        keys: Option<Arc<KeySet>>,
    ) -> Result<Option<Arc<KeySet>>, JwtError> {
        if keys.is_some() || !state.last_failed {
            return Ok(keys);
        }
        let last = state.last_error.clone().unwrap_or_else(|| "no fetch yet".to_owned());
        Err(JwtError::KeySourceUnavailable(Box::new(JwtError::JwksFetch {
            url: self.location.describe(),
            source: format!("cannot look up key {kid:?}: the last JWKS fetch failed: {last}").into(),
        })))
    }

    fn may_retry(&self, state: &State, now: SystemTime, reason: Reason) -> bool {
        let since = |at: Option<SystemTime>| at.map(|at| now.duration_since(at).unwrap_or_default());
        // After a failure, every kind of fetch waits a little before the next attempt.
        if state.last_failed && since(state.last_attempt).is_some_and(|s| s < self.policy.retry_after_failure)
        {
            return false;
        }
        match reason {
            Reason::Stale => true,
            Reason::UnknownKid => since(state.last_kid_refetch).is_none_or(|s| s >= self.policy.cooldown),
        }
    }

    fn unavailable(&self, now: SystemTime) -> JwtError {
        let state = self.read();
        let last = state.last_error.clone().unwrap_or_else(|| "no fetch yet".to_owned());
        let detail = match (&state.keys, state.fresh_until) {
            (Some(_), Some(until)) => format!(
                "the last keys went stale {} s ago, more than the maximum stale age of {} s \
                 (jwks_max_stale); last fetch: {last}",
                now.duration_since(until).unwrap_or_default().as_secs(),
                self.policy.max_stale.as_secs()
            ),
            _ => last,
        };
        JwtError::KeySourceUnavailable(Box::new(JwtError::JwksFetch {
            url: self.location.describe(),
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
            let now = self.clock.now();
            if state.attempts != seen_attempts || !self.may_retry(&state, now, reason) {
                // Someone else just fetched: share their result.
                return self.usable(&state, now).ok_or_else(|| {
                    drop(state);
                    self.unavailable(now)
                });
            }
        }
        let span = tracing::info_span!("jwks_fetch", url = %self.location.describe(), ?reason);
        let result = self.fetch().instrument(span).await;
        let now = self.clock.now();
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.attempts += 1;
        state.last_attempt = Some(now);
        if reason == Reason::UnknownKid {
            state.last_kid_refetch = Some(now);
        }
        match result {
            Ok((fetched, ttl)) => {
                // The same usable keys keep their generation, so the verified-token cache stays valid.
                let keys = match &state.keys {
                    Some(current) if current.same_keys(&fetched) => Arc::clone(current),
                    current => {
                        let generation = current.as_ref().map_or(1, |k| k.generation.wrapping_add(1));
                        Arc::new(KeySet { keys: fetched, generation })
                    }
                };
                tracing::debug!(
                    count = keys.keys.len(),
                    generation = keys.generation,
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
                state.last_failed = true;
                state.last_error = Some(error_chain(&err));
                match self.usable(&state, now) {
                    Some(keys) => {
                        tracing::warn!(error = %err, url = %self.location.describe(), kept_old_keys = true, "JWKS fetch failed");
                        Ok(keys)
                    }
                    None if state.keys.is_some() => {
                        tracing::error!(
                            error = %err,
                            url = %self.location.describe(),
                            max_stale_secs = self.policy.max_stale.as_secs(),
                            "JWKS fetch failed and the last keys are past the maximum stale age: \
                             tokens are refused (503) until a fetch succeeds"
                        );
                        Err(JwtError::KeySourceUnavailable(Box::new(err)))
                    }
                    None => {
                        tracing::warn!(error = %err, url = %self.location.describe(), kept_old_keys = false, "JWKS fetch failed");
                        Err(JwtError::KeySourceUnavailable(Box::new(err)))
                    }
                }
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<crate::keys::VerifyingKey>, Duration), JwtError> {
        let jwks_url = self.url().await?;
        metered(UpstreamTarget::Jwks, self.fetch_from(jwks_url)).await
    }

    async fn fetch_from(
        &self,
        jwks_url: Url,
    ) -> Result<(Vec<crate::keys::VerifyingKey>, Duration), JwtError> {
        let url = jwks_url.to_string();
        let fetch_error =
            |source: reqwest::Error| JwtError::JwksFetch { url: url.clone(), source: source.into() };
        let response = self
            .client
            .get(jwks_url)
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

/// Runs one outbound call, counting it (any error is a `failure`) and timing it under `target`.
async fn metered<T>(
    target: UpstreamTarget,
    call: impl std::future::Future<Output = Result<T, JwtError>>,
) -> Result<T, JwtError> {
    let started = std::time::Instant::now();
    let result = call.await;
    let outcome = if result.is_ok() { UpstreamOutcome::Success } else { UpstreamOutcome::Failure };
    metrics::record_upstream(target, outcome, started.elapsed());
    result
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
        RemoteJwks::new(
            JwksLocation::Fixed(url),
            reqwest::Client::new(),
            mcp_auth_core::clock::system_clock(),
            policy,
        )
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
