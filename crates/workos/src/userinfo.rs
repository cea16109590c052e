//! [`WorkOSTokenVerifier`]: opaque AuthKit tokens verified through the userinfo endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::body::read_response_limited;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::fingerprint::{FingerprintCache, RandomnessUnavailable};
use mcp_auth_core::settings::Settings;
use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError, async_trait};
use serde_json::{Map, Value};

use crate::WorkOSError;
use crate::domain::AuthKitDomain;

/// The largest userinfo answer accepted.
const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// Verifies opaque AuthKit access tokens by calling `<domain>/oauth2/userinfo` with them.
///
/// A 200 answer with a `sub` makes an [`AccessToken`] whose claims are the profile; 401 or 403 means the
/// token is refused (401 to the caller); a timeout, a connection failure, 429 or a 5xx means WorkOS cannot
/// be asked (503 to the caller, never a silent 401). Answers are cached by a keyed fingerprint of the token (never the token itself):
/// positive ones for a short time (default 60 s), negative ones for less (default 10 s), in a bounded table,
/// so a busy server does not call WorkOS once per MCP request. Failures to reach WorkOS are never cached.
///
/// Userinfo does not say which resource a token was issued for, so tokens verified this way cannot be
/// audience-bound: prefer AuthKit's JWTs with [`AuthKitProvider`](crate::AuthKitProvider).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_workos::WorkOSTokenVerifier;
///
/// let verifier = WorkOSTokenVerifier::builder()
///     .authkit_domain("your-app.authkit.app")
///     .positive_ttl(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct WorkOSTokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    userinfo_url: String,
    client: reqwest::Client,
    required_scopes: Vec<String>,
    clock: SharedClock,
    positive_ttl: Duration,
    negative_ttl: Duration,
    cache: FingerprintCache<Answer>,
}

impl fmt::Debug for WorkOSTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkOSTokenVerifier")
            .field("userinfo_url", &self.inner.userinfo_url)
            .field("required_scopes", &self.inner.required_scopes)
            .field("positive_ttl", &self.inner.positive_ttl)
            .field("negative_ttl", &self.inner.negative_ttl)
            .finish_non_exhaustive()
    }
}

/// What the cache remembers of an answer.
#[derive(Clone)]
enum Answer {
    Valid { subject: String, claims: Arc<Map<String, Value>> },
    Refused,
}

/// The answer cache: one shard, so eviction is exactly oldest-first; answers never change generation.
fn answer_cache(max_entries: usize) -> Result<FingerprintCache<Answer>, RandomnessUnavailable> {
    FingerprintCache::new(max_entries, 1)
}

/// The generation every answer is cached under: a userinfo answer is not tied to a key set.
const GENERATION: u64 = 0;

impl WorkOSTokenVerifier {
    /// Starts building a verifier.
    pub fn builder() -> WorkOSTokenVerifierBuilder {
        WorkOSTokenVerifierBuilder::default()
    }

    async fn ask(&self, token: &str) -> Result<Answer, VerifyError> {
        let inner = &self.inner;
        let response = inner
            .client
            .get(&inner.userinfo_url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|err| VerifyError::unavailable("WorkOS userinfo unreachable", err))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Ok(Answer::Refused);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(VerifyError::Unavailable {
                reason: "WorkOS userinfo unavailable".into(),
                retry_after,
                source: Some(format!("userinfo answered {status}").into()),
            });
        }
        if !status.is_success() {
            return Err(VerifyError::invalid_because(
                "token rejected",
                format!("userinfo answered {status}"),
            ));
        }
        let body = read_response_limited(http::Response::from(response), MAX_USERINFO_BYTES).await.map_err(
            |err| {
                if err.is_too_large() {
                    VerifyError::unavailable("WorkOS userinfo answer too large", err)
                } else {
                    VerifyError::unavailable("WorkOS userinfo read failed", err)
                }
            },
        )?;
        let claims: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|err| VerifyError::unavailable("WorkOS userinfo answered malformed JSON", err))?;
        match claims.get("sub").and_then(Value::as_str).filter(|sub| !sub.is_empty()) {
            Some(subject) => Ok(Answer::Valid { subject: subject.to_owned(), claims: Arc::new(claims) }),
            None => Err(VerifyError::unavailable("WorkOS userinfo answered without a subject", "no sub")),
        }
    }
}

#[async_trait]
impl TokenVerifier for WorkOSTokenVerifier {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let inner = &self.inner;
        let key = inner.cache.fingerprint(token);
        let now = inner.clock.now();
        let answer = match inner.cache.get(&key, now, GENERATION) {
            Some(answer) => Answer::clone(&answer),
            None => {
                let span = tracing::debug_span!("workos_userinfo");
                let answer = tracing::Instrument::instrument(self.ask(token), span).await?;
                let ttl = match answer {
                    Answer::Valid { .. } => inner.positive_ttl,
                    Answer::Refused => inner.negative_ttl,
                };
                inner.cache.insert(key, answer.clone(), now + ttl, GENERATION);
                answer
            }
        };
        match answer {
            Answer::Refused => Err(VerifyError::invalid("token rejected by WorkOS")),
            Answer::Valid { subject, claims } => {
                let mut access = AccessToken::new(token)
                    .with_subject(subject)
                    .with_scopes(inner.required_scopes.iter().cloned())
                    .with_claims(claims);
                if let Some(client_id) = access.claims.get("client_id").and_then(Value::as_str) {
                    access.client_id = Some(client_id.to_owned());
                }
                Ok(access)
            }
        }
    }

    fn required_scopes(&self) -> &[String] {
        &self.inner.required_scopes
    }
}

/// Builds a [`WorkOSTokenVerifier`].
#[must_use]
pub struct WorkOSTokenVerifierBuilder {
    domain: Option<String>,
    client: Option<reqwest::Client>,
    timeout: Duration,
    required_scopes: Vec<String>,
    clock: SharedClock,
    positive_ttl: Duration,
    negative_ttl: Duration,
    max_entries: usize,
}

impl Default for WorkOSTokenVerifierBuilder {
    fn default() -> Self {
        Self {
            domain: None,
            client: None,
            timeout: Duration::from_secs(5),
            required_scopes: Vec::new(),
            clock: system_clock(),
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            max_entries: 10_000,
        }
    }
}

impl fmt::Debug for WorkOSTokenVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkOSTokenVerifierBuilder").field("domain", &self.domain).finish_non_exhaustive()
    }
}

impl WorkOSTokenVerifierBuilder {
    /// The AuthKit domain.
    pub fn authkit_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The HTTP client (its own timeouts apply; [`timeout`](Self::timeout) applies to the default client).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The whole-request timeout of the default client (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Scopes granted to every verified token (userinfo does not report scopes).
    pub fn required_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How long a positive answer is reused (default 60 s).
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl;
        self
    }

    /// How long a refusal is reused (default 10 s).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The most cached answers (default 10,000; 0 turns the cache off).
    pub fn max_cached(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// The clock for cache lifetimes.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Reads `MCP_AUTH_AUTHKIT_DOMAIN` and `MCP_AUTH_REQUIRED_SCOPES` where set.
    ///
    /// # Errors
    ///
    /// [`WorkOSError::Settings`] naming a malformed variable.
    pub fn settings(mut self, settings: &Settings) -> Result<Self, WorkOSError> {
        if let Some(domain) = settings.string("AUTHKIT_DOMAIN") {
            self.domain = Some(domain);
        }
        if let Some(scopes) = settings.scopes("REQUIRED_SCOPES")? {
            self.required_scopes = scopes;
        }
        Ok(self)
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// [`WorkOSError::Missing`] without a domain, [`WorkOSError::InvalidDomain`] for a malformed one, or a
    /// negative TTL longer than the positive one.
    pub fn build(self) -> Result<WorkOSTokenVerifier, WorkOSError> {
        let domain = self.domain.ok_or(WorkOSError::Missing {
            setting: "MCP_AUTH_AUTHKIT_DOMAIN",
            example: "your-app.authkit.app",
        })?;
        let domain = AuthKitDomain::parse(&domain)?;
        if self.negative_ttl > self.positive_ttl {
            return Err(WorkOSError::Conflict {
                reason: "the negative cache TTL must not exceed the positive one".to_owned(),
            });
        }
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(self.timeout.min(Duration::from_secs(5)))
                .timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(WorkOSError::HttpClient)?,
        };
        Ok(WorkOSTokenVerifier {
            inner: Arc::new(Inner {
                userinfo_url: domain.userinfo_url(),
                client,
                required_scopes: self.required_scopes,
                clock: self.clock,
                positive_ttl: self.positive_ttl,
                negative_ttl: self.negative_ttl,
                cache: answer_cache(self.max_entries)?,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn answers_are_evicted_oldest_first_and_a_stale_place_never_evicts_a_newer_one() {
        let cache = answer_cache(2).unwrap();
        let [a, b, c] = ["token-a", "token-b", "token-c"].map(|token| cache.fingerprint(token));
        cache.insert(a, Answer::Refused, at(10), GENERATION);
        assert!(cache.get(&a, at(20), GENERATION).is_none(), "expired, and dropped");
        cache.insert(b, Answer::Refused, at(100), GENERATION);
        cache.insert(a, Answer::Refused, at(100), GENERATION);
        cache.insert(c, Answer::Refused, at(100), GENERATION);
        // One shard: B is the oldest live answer in the whole cache, and A's stale place spares the new A.
        assert!(cache.get(&a, at(30), GENERATION).is_some());
        assert!(cache.get(&b, at(30), GENERATION).is_none());
        assert!(cache.get(&c, at(30), GENERATION).is_some());
    }

    #[test]
    fn the_cache_is_bounded_and_zero_turns_it_off() {
        let cache = answer_cache(8).unwrap();
        assert_eq!(cache.capacity(), 8);
        for i in 0..1_000 {
            cache.insert(
                cache.fingerprint(&format!("token-{}", i % 20)),
                Answer::Refused,
                at(100),
                GENERATION,
            );
        }
        assert!(cache.len() <= 8);
        let off = answer_cache(0).unwrap();
        off.insert(off.fingerprint("t"), Answer::Refused, at(100), GENERATION);
        assert!(off.is_empty());
    }
}
