//! Forwarding AuthKit's authorization server metadata, cached.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::body::{BodyError, read_response_limited};
use mcp_auth_core::challenge::oauth_error_body;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::metadata::AuthorizationServerMetadata;
use tracing::Instrument;

use crate::breaker::{Breaker, whole_seconds};
use crate::flight::SingleFlight;

/// The largest metadata document accepted from upstream.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// The first back-off after a failed fetch; it doubles with each failure up to the policy's `min_ttl`.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);

/// Fetches and caches the upstream authorization server metadata.
///
/// No lock is held across the fetch: the cached copy sits behind a lock taken only to read or replace
/// it, and concurrent callers that need a fetch share one ([`SingleFlight`]). While a refresh is in
/// flight, callers other than the one that started it are answered at once with the stale copy, if
/// there is one. After a failed fetch, stale copy or not, no fetch is tried for a back-off (2 s,
/// doubling up to `min_ttl`): callers get the stale copy, or a 502 with `Retry-After` when nothing was
/// ever fetched.
#[derive(Debug)]
pub(crate) struct MetadataForwarder {
    url: String,
    expected_issuer: String,
    client: reqwest::Client,
    clock: SharedClock,
    policy: CachePolicy,
    cached: Mutex<Option<Cached>>,
    refresh: SingleFlight<(), Result<Arc<Vec<u8>>, Duration>>,
    breaker: Breaker,
}

/// How long a fetched document is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachePolicy {
    pub(crate) default_ttl: Duration,
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
}

#[derive(Debug)]
struct Cached {
    body: Arc<Vec<u8>>,
    fresh_until: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed")]
    Request(#[from] reqwest::Error),
    #[error("upstream answered {0}")]
    Status(StatusCode),
    #[error("metadata document larger than {MAX_METADATA_BYTES} bytes")]
    TooLarge,
    #[error("reading the metadata document failed")]
    Read(#[source] BodyError),
    #[error("metadata document is not valid authorization server metadata")]
    Invalid(#[from] serde_json::Error),
    #[error("metadata issuer {got:?} is not the AuthKit domain {expected:?}")]
    IssuerMismatch { got: String, expected: String },
}

impl MetadataForwarder {
    pub(crate) fn new(
        url: String,
        expected_issuer: String,
        client: reqwest::Client,
        clock: SharedClock,
        policy: CachePolicy,
    ) -> Self {
        let breaker = Breaker::new(FIRST_BACKOFF.min(policy.min_ttl), policy.min_ttl.max(FIRST_BACKOFF));
        Self {
            url,
            expected_issuer,
            client,
            clock,
            policy,
            cached: Mutex::new(None),
            refresh: SingleFlight::new(),
            breaker,
        }
    }

    /// The metadata as a response: fresh from cache, fetched, or stale when upstream fails or a refresh
    /// is under way; 502 with `Retry-After` when upstream fails and nothing was ever fetched.
    pub(crate) async fn respond(&self) -> Response {
        match self.document().await {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
                ],
                body.to_vec(),
            )
                .into_response(),
            Err(retry_after) => (
                StatusCode::BAD_GATEWAY,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (header::RETRY_AFTER, HeaderValue::from(whole_seconds(retry_after).as_secs())),
                ],
                oauth_error_body(
                    "temporarily_unavailable",
                    "the authorization server's metadata cannot be fetched right now; retry later",
                ),
            )
                .into_response(),
        }
    }

    /// The document, or how long until the next fetch may be tried.
    async fn document(&self) -> Result<Arc<Vec<u8>>, Duration> {
        let now = self.clock.now();
        let stale = {
            let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
            match cached.as_ref() {
                Some(entry) if entry.fresh_until > now => return Ok(Arc::clone(&entry.body)),
                Some(entry) => Some(Arc::clone(&entry.body)),
                None => None,
            }
        };
        if let Some(stale) = &stale
            && self.refresh.in_flight(&())
        {
            return Ok(Arc::clone(stale));
        }
        match self.refresh.run((), || self.refresh()).await {
            Ok(body) => Ok(body),
            Err(retry_after) => stale.ok_or(retry_after),
        }
    }

    /// One fetch, unless backing off; stores what it fetched.
    async fn refresh(&self) -> Result<Arc<Vec<u8>>, Duration> {
        self.breaker.admit(self.clock.now())?;
        let span = tracing::info_span!("authkit_metadata_fetch", url = %self.url);
        let fetched = self.fetch().instrument(span).await;
        let now = self.clock.now();
        match fetched {
            Ok((body, ttl)) => {
                self.breaker.succeeded();
                let body = Arc::new(body);
                *self.cached.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Cached { body: Arc::clone(&body), fresh_until: crate::breaker::later(now, ttl) });
                Ok(body)
            }
            Err(err) => {
                let backoff = self.breaker.failed(now, None);
                tracing::warn!(
                    error = %err,
                    cause = ?std::error::Error::source(&err),
                    backoff_secs = backoff.as_secs_f64(),
                    "cannot fetch AuthKit metadata; backing off"
                );
                Err(backoff)
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<u8>, Duration), FetchError> {
        let response = self.client.get(&self.url).header(header::ACCEPT, "application/json").send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let ttl = self.policy.ttl_from(response.headers());
        let body = read_response_limited(http::Response::from(response), MAX_METADATA_BYTES)
            .await
            .map_err(|err| if err.is_too_large() { FetchError::TooLarge } else { FetchError::Read(err) })?;
        // Parse to validate (unknown fields are kept), then forward what was parsed.
        let metadata: AuthorizationServerMetadata = serde_json::from_slice(&body)?;
        if metadata.issuer.trim_end_matches('/') != self.expected_issuer {
            return Err(FetchError::IssuerMismatch {
                got: metadata.issuer,
                expected: self.expected_issuer.clone(),
            });
        }
        Ok((serde_json::to_vec(&metadata)?, ttl))
    }
}

impl CachePolicy {
    fn ttl_from(&self, headers: &HeaderMap) -> Duration {
        let lines =
            headers.get_all(header::CACHE_CONTROL).into_iter().filter_map(|value| value.to_str().ok());
        mcp_auth_core::cache_control::max_age(lines)
            .unwrap_or(self.default_ttl)
            .clamp(self.min_ttl, self.max_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CachePolicy {
        CachePolicy {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(3600),
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ttl_honours_max_age_within_bounds() {
        assert_eq!(policy().ttl_from(&HeaderMap::new()), Duration::from_secs(300));
        assert_eq!(policy().ttl_from(&headers("public, max-age=120")), Duration::from_secs(120));
        assert_eq!(policy().ttl_from(&headers("max-age=5")), Duration::from_secs(60));
        assert_eq!(policy().ttl_from(&headers("max-age=99999999")), Duration::from_secs(3600));
        assert_eq!(policy().ttl_from(&headers("no-store")), Duration::from_secs(60));
        assert_eq!(policy().ttl_from(&headers("max-age=banana")), Duration::from_secs(300));
    }
}
