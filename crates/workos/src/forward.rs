//! Forwarding AuthKit's authorization server metadata, cached.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::body::{BodyError, read_response_limited};
use mcp_auth_core::challenge::oauth_error_body;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::metadata::AuthorizationServerMetadata;
use tokio::sync::Mutex;
use tracing::Instrument;

/// The largest metadata document accepted from upstream.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// Fetches and caches the upstream authorization server metadata.
#[derive(Debug)]
pub(crate) struct MetadataForwarder {
    url: String,
    expected_issuer: String,
    client: reqwest::Client,
    clock: SharedClock,
    policy: CachePolicy,
    cached: Mutex<Option<Cached>>,
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
        Self { url, expected_issuer, client, clock, policy, cached: Mutex::new(None) }
    }

    /// The metadata as a response: fresh from cache, fetched, or stale when upstream fails; 502 when
    /// upstream fails and nothing was ever fetched.
    pub(crate) async fn respond(&self) -> Response {
        match self.document().await {
            Some(body) => (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
                ],
                body.to_vec(),
            )
                .into_response(),
            None => (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                oauth_error_body(
                    "temporarily_unavailable",
                    "the authorization server's metadata cannot be fetched right now; retry later",
                ),
            )
                .into_response(),
        }
    }

    async fn document(&self) -> Option<Arc<Vec<u8>>> {
        // Holding the lock across the fetch makes concurrent misses share one upstream request.
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(entry) = cached.as_ref().filter(|entry| entry.fresh_until > now) {
            return Some(Arc::clone(&entry.body));
        }
        let span = tracing::info_span!("authkit_metadata_fetch", url = %self.url);
        match self.fetch().instrument(span).await {
            Ok((body, ttl)) => {
                let body = Arc::new(body);
                *cached = Some(Cached { body: Arc::clone(&body), fresh_until: now + ttl });
                Some(body)
            }
            Err(err) => {
                tracing::warn!(error = %err, cause = ?std::error::Error::source(&err), "cannot fetch AuthKit metadata");
                cached.as_mut().map(|entry| {
                    // Serve the stale copy, and retry no sooner than the minimum TTL.
                    entry.fresh_until = now + self.policy.min_ttl;
                    Arc::clone(&entry.body)
                })
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
