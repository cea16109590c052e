//! [`WorkOSTokenVerifier`]: opaque AuthKit tokens verified through the userinfo endpoint.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::body::read_response_limited;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::fingerprint::{FingerprintCache, RandomnessUnavailable, TokenFingerprint};
use mcp_auth_core::metrics::{self, CacheResult, TokenCache, UpstreamOutcome, UpstreamTarget};
use mcp_auth_core::settings::Settings;
use mcp_auth_core::{AccessToken, BoxError, TokenVerifier, VerifyError, async_trait};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::WorkOSError;
use crate::breaker::{Breaker, TokenBucket, later, whole_seconds};
use crate::domain::AuthKitDomain;
use crate::flight::SingleFlight;

/// The largest userinfo answer accepted.
const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// The reason given while the verifier backs off after WorkOS failed.
const BACKING_OFF: &str = "WorkOS userinfo unavailable; backing off";

/// Verifies opaque AuthKit access tokens by calling `<domain>/oauth2/userinfo` with them.
///
/// A 200 answer with a `sub` makes an [`AccessToken`] whose claims are the profile; 401 or 403 means the
/// token is refused (401 to the caller). Anything that keeps WorkOS from answering is a 503 with
/// `Retry-After`, never a silent 401: a timeout, a connection failure, a 5xx, a 429 (WorkOS's own
/// `Retry-After` is passed on), and a 404 or a redirect, which mean the AuthKit domain is wrong (logged
/// at error level, naming the domain).
///
/// Unauthenticated traffic must not turn into WorkOS traffic, so every lookup goes through these
/// guards, in this order:
///
/// 1. **Answer caches**, keyed by a keyed fingerprint of the token (never the token itself): positive
///    answers for a short time (default 60 s) and refusals for less (default 10 s), in two separate
///    bounded tables, so a flood of refused tokens evicts only other refusals, never a user's answer.
/// 2. **Single flight**: concurrent lookups of one token share one userinfo call.
/// 3. **Back-off**: after WorkOS fails, no call is made for a back-off (default 1 s, doubling up to
///    30 s, or WorkOS's `Retry-After` if longer); each lookup in that time is a 503 with the time left.
///    Then one lookup probes WorkOS; a success ends the back-off.
/// 4. **Concurrency limit** (default 32 lookups in flight) and **rate limit** (a token bucket, default
///    50 lookups a second with bursts of 100): a lookup over either is a 503 with `Retry-After`, at
///    once, without a call. Tokens WorkOS accepted in the last 24 h
///    ([`returning_user_window`](WorkOSTokenVerifierBuilder::returning_user_window)) skip the rate limit.
///
/// Cached answers are served whatever the guards say, so users verified before a flood of random
/// tokens keep being served during it, and a user whose answer expired is looked up again without
/// waiting behind the flood; only tokens WorkOS never accepted can be turned away.
///
/// Userinfo does not say which resource a token was issued for, so tokens verified this way cannot be
/// audience-bound; nor which scopes it carries, so a verified token has none unless
/// [`insecure_assume_scopes`](WorkOSTokenVerifierBuilder::insecure_assume_scopes) says otherwise. Prefer
/// AuthKit's JWTs with [`AuthKitProvider`](crate::AuthKitProvider).
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
///     .lookup_rate_limit(20, 40)
///     .build()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct WorkOSTokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    domain: AuthKitDomain,
    userinfo_url: String,
    client: reqwest::Client,
    request_timeout: Option<Duration>,
    assumed_scopes: Vec<String>,
    clock: SharedClock,
    positive_ttl: Duration,
    negative_ttl: Duration,
    valid: FingerprintCache<Valid>,
    refused: FingerprintCache<()>,
    /// Tokens WorkOS accepted within `returning_window`: their lookups skip the rate limit, so a flood of
    /// strangers cannot lock out a user whose cached answer merely expired.
    returning: FingerprintCache<()>,
    returning_window: Duration,
    flights: SingleFlight<TokenFingerprint, Outcome>,
    breaker: Breaker,
    bucket: TokenBucket,
    returning_bucket: TokenBucket,
    lookups: Semaphore,
    max_concurrent: usize,
}

impl fmt::Debug for WorkOSTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("WorkOSTokenVerifier")
            .field("userinfo_url", &inner.userinfo_url)
            .field("assumed_scopes", &inner.assumed_scopes)
            .field("positive_ttl", &inner.positive_ttl)
            .field("negative_ttl", &inner.negative_ttl)
            .field("cached", &inner.valid)
            .field("cached_refusals", &inner.refused)
            .field("rate_limit", &inner.bucket)
            .field("max_concurrent_lookups", &inner.max_concurrent)
            .field("backoff", &inner.breaker)
            .finish_non_exhaustive()
    }
}

/// A positive answer, as cached.
#[derive(Clone)]
struct Valid {
    subject: String,
    claims: Arc<Map<String, Value>>,
}

/// The result of one lookup, shared by every caller that waited for it.
#[derive(Clone)]
enum Outcome {
    Valid(Arc<Valid>),
    Refused,
    /// Another 4xx: refused, not cached.
    Rejected(reqwest::StatusCode),
    Unavailable {
        reason: &'static str,
        retry_after: Option<Duration>,
        cause: Option<SharedCause>,
    },
}

impl Outcome {
    fn unavailable(reason: &'static str, retry_after: Option<Duration>, cause: impl Into<BoxError>) -> Self {
        Self::Unavailable { reason, retry_after, cause: Some(SharedCause(Arc::from(cause.into()))) }
    }
}

/// A cause shared by every caller of a lookup: it shows as the original error.
#[derive(Clone)]
struct SharedCause(Arc<dyn StdError + Send + Sync>);

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for SharedCause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// What WorkOS answered, before the guards' bookkeeping.
enum Answer {
    Valid(Valid),
    Refused,
    Rejected(reqwest::StatusCode),
}

/// Why WorkOS gave no answer.
enum Trouble {
    /// WorkOS could not be reached or did not answer in time: back off.
    Unreachable(reqwest::Error),
    /// 429 or 5xx: back off, at least for `retry_after`.
    Overloaded { status: reqwest::StatusCode, retry_after: Option<Duration> },
    /// 404 or a redirect: the domain is wrong. Back off, and log it as a configuration error.
    Misconfigured(reqwest::StatusCode),
    /// An answer that cannot be used (too large, not JSON, no subject): about this token only.
    BadAnswer { reason: &'static str, cause: BoxError },
}

/// The generation every answer is cached under: a userinfo answer is not tied to a key set.
const GENERATION: u64 = 0;

/// The positive and negative answer caches: one shard each, so eviction is exactly oldest-first.
fn answer_caches(
    max_valid: usize,
    max_refused: usize,
) -> Result<(FingerprintCache<Valid>, FingerprintCache<()>), RandomnessUnavailable> {
    Ok((FingerprintCache::new(max_valid, 1)?, FingerprintCache::new(max_refused, 1)?))
}

impl WorkOSTokenVerifier {
    /// Starts building a verifier.
    pub fn builder() -> WorkOSTokenVerifierBuilder {
        WorkOSTokenVerifierBuilder::default()
    }

    /// The clock the caches read.
    pub(crate) fn clock(&self) -> SharedClock {
        Arc::clone(&self.inner.clock)
    }

    /// How long an accepted token's answer is kept.
    pub(crate) fn positive_ttl(&self) -> Duration {
        self.inner.positive_ttl
    }

    fn access(&self, token: &str, valid: &Valid) -> AccessToken {
        let mut access = AccessToken::new(token)
            .with_subject(valid.subject.clone())
            .with_scopes(self.inner.assumed_scopes.iter().cloned())
            .with_claims(Arc::clone(&valid.claims));
        if let Some(client_id) = access.claims.get("client_id").and_then(Value::as_str) {
            access.client_id = Some(client_id.to_owned());
        }
        access
    }

    /// One lookup through the guards; the caller of [`SingleFlight::run`] shares it with the others.
    async fn lookup(
        &self,
        token: &str,
        valid_key: TokenFingerprint,
        refused_key: TokenFingerprint,
    ) -> Outcome {
        let inner = &self.inner;
        let now = inner.clock.now();
        // A flight that ended just before this one started may have answered already.
        if let Some(valid) = inner.valid.get(&valid_key, now, GENERATION) {
            return Outcome::Valid(valid);
        }
        if inner.refused.get(&refused_key, now, GENERATION).is_some() {
            return Outcome::Refused;
        }
        // The limits come before the breaker, so a lookup they turn away never uses up the probe.
        let Ok(_permit) = inner.lookups.try_acquire() else {
            tracing::debug!(limit = inner.max_concurrent, "userinfo lookup refused: too many in flight");
            return Outcome::Unavailable {
                reason: "too many WorkOS userinfo lookups in flight",
                retry_after: Some(Duration::from_secs(1)),
                cause: None,
            };
        };
        let returning_key = inner.returning.fingerprint(token);
        let returning = inner.returning.get(&returning_key, now, GENERATION).is_some();
        // Returning users have their own, larger bucket: a flood of strangers cannot use it up, and a
        // farm of once-valid tokens cannot go unbounded.
        let bucket = if returning { &inner.returning_bucket } else { &inner.bucket };
        if let Err(wait) = bucket.take(now) {
            tracing::debug!(returning, "userinfo lookup refused: rate limit reached");
            return Outcome::Unavailable {
                reason: "WorkOS userinfo lookup rate limit reached",
                retry_after: Some(wait),
                cause: None,
            };
        }
        if let Err(remaining) = inner.breaker.admit(now) {
            return Outcome::Unavailable { reason: BACKING_OFF, retry_after: Some(remaining), cause: None };
        }
        let started = std::time::Instant::now();
        let answer = self.ask(token).await;
        let outcome = match &answer {
            Ok(Answer::Valid(_)) => UpstreamOutcome::Success,
            Ok(Answer::Refused | Answer::Rejected(_)) => UpstreamOutcome::Rejected,
            Err(_) => UpstreamOutcome::Failure,
        };
        metrics::record_upstream(UpstreamTarget::WorkosUserinfo, outcome, started.elapsed());
        let now = inner.clock.now();
        match answer {
            Ok(Answer::Valid(valid)) => {
                inner.breaker.succeeded();
                let valid = Arc::new(valid);
                inner.valid.insert(
                    valid_key,
                    Valid::clone(&valid),
                    later(now, inner.positive_ttl),
                    GENERATION,
                );
                inner.returning.insert(returning_key, (), later(now, inner.returning_window), GENERATION);
                Outcome::Valid(valid)
            }
            Ok(Answer::Refused) => {
                inner.breaker.succeeded();
                inner.refused.insert(refused_key, (), later(now, inner.negative_ttl), GENERATION);
                // A token WorkOS no longer accepts is no longer a returning user's.
                inner.returning.remove(&returning_key);
                Outcome::Refused
            }
            Ok(Answer::Rejected(status)) => {
                inner.breaker.succeeded();
                Outcome::Rejected(status)
            }
            Err(Trouble::Unreachable(err)) => {
                let backoff = inner.breaker.failed(now, None);
                tracing::warn!(error = %err, backoff_secs = backoff.as_secs_f64(), "WorkOS userinfo unreachable; backing off");
                Outcome::unavailable("WorkOS userinfo unreachable", Some(backoff), err)
            }
            Err(Trouble::Overloaded { status, retry_after }) => {
                let backoff = inner.breaker.failed(now, retry_after);
                tracing::warn!(%status, backoff_secs = backoff.as_secs_f64(), "WorkOS userinfo unavailable; backing off");
                Outcome::unavailable(
                    "WorkOS userinfo unavailable",
                    Some(backoff),
                    format!("userinfo answered {status}"),
                )
            }
            Err(Trouble::Misconfigured(status)) => {
                let backoff = inner.breaker.failed(now, None);
                tracing::error!(
                    domain = %inner.domain,
                    url = %inner.userinfo_url,
                    %status,
                    "WorkOS userinfo answered {status} at {}: the AuthKit domain looks wrong; check \
                     MCP_AUTH_AUTHKIT_DOMAIN (every opaque token is answered 503 until it is fixed)",
                    inner.domain
                );
                Outcome::unavailable(
                    "WorkOS userinfo not found: check the AuthKit domain",
                    Some(backoff),
                    format!("userinfo at {} answered {status}", inner.domain),
                )
            }
            Err(Trouble::BadAnswer { reason, cause }) => {
                inner.breaker.succeeded();
                Outcome::unavailable(reason, None, cause)
            }
        }
    }

    async fn ask(&self, token: &str) -> Result<Answer, Trouble> {
        let inner = &self.inner;
        let mut request = inner.client.get(&inner.userinfo_url).bearer_auth(token);
        if let Some(timeout) = inner.request_timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(Trouble::Unreachable)?;
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
            return Err(Trouble::Overloaded { status, retry_after });
        }
        if status == reqwest::StatusCode::NOT_FOUND
            || status == reqwest::StatusCode::GONE
            || status.is_redirection()
        {
            return Err(Trouble::Misconfigured(status));
        }
        if !status.is_success() {
            return Ok(Answer::Rejected(status));
        }
        let body = read_response_limited(http::Response::from(response), MAX_USERINFO_BYTES).await.map_err(
            |err| {
                let reason = if err.is_too_large() {
                    "WorkOS userinfo answer too large"
                } else {
                    "WorkOS userinfo read failed"
                };
                Trouble::BadAnswer { reason, cause: err.into() }
            },
        )?;
        let claims: Map<String, Value> = serde_json::from_slice(&body).map_err(|err| Trouble::BadAnswer {
            reason: "WorkOS userinfo answered malformed JSON",
            cause: err.into(),
        })?;
        match claims.get("sub").and_then(Value::as_str).filter(|sub| !sub.is_empty()) {
            Some(subject) => {
                Ok(Answer::Valid(Valid { subject: subject.to_owned(), claims: Arc::new(claims) }))
            }
            None => Err(Trouble::BadAnswer {
                reason: "WorkOS userinfo answered without a subject",
                cause: "no sub".into(),
            }),
        }
    }
}

#[async_trait]
impl TokenVerifier for WorkOSTokenVerifier {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let inner = &self.inner;
        let valid_key = inner.valid.fingerprint(token);
        let now = inner.clock.now();
        if let Some(valid) = inner.valid.get(&valid_key, now, GENERATION) {
            metrics::record_cache(TokenCache::WorkosUserinfo, CacheResult::Hit);
            return Ok(self.access(token, &valid));
        }
        let refused_key = inner.refused.fingerprint(token);
        if inner.refused.get(&refused_key, now, GENERATION).is_some() {
            metrics::record_cache(TokenCache::WorkosUserinfo, CacheResult::Hit);
            return Err(VerifyError::invalid("token rejected by WorkOS"));
        }
        metrics::record_cache(TokenCache::WorkosUserinfo, CacheResult::Miss);
        let span = tracing::debug_span!("workos_userinfo");
        let outcome = inner
            .flights
            .run(valid_key, || self.lookup(token, valid_key, refused_key))
            .instrument(span)
            .await;
        match outcome {
            Outcome::Valid(valid) => Ok(self.access(token, &valid)),
            Outcome::Refused => Err(VerifyError::invalid("token rejected by WorkOS")),
            Outcome::Rejected(status) => {
                Err(VerifyError::invalid_because("token rejected", format!("userinfo answered {status}")))
            }
            Outcome::Unavailable { reason, retry_after, cause } => Err(VerifyError::Unavailable {
                reason: Cow::Borrowed(reason),
                retry_after: retry_after.map(whole_seconds),
                source: cause.map(|cause| Box::new(cause) as BoxError),
            }),
        }
    }
}

/// Builds a [`WorkOSTokenVerifier`].
#[must_use]
pub struct WorkOSTokenVerifierBuilder {
    domain: Option<String>,
    client: Option<reqwest::Client>,
    timeout: Option<Duration>,
    assumed_scopes: Vec<String>,
    required_scopes_setting: Option<Vec<String>>,
    clock: SharedClock,
    positive_ttl: Duration,
    negative_ttl: Duration,
    max_valid: usize,
    max_refused: usize,
    returning_window: Duration,
    rate: (u32, u32),
    max_concurrent: usize,
    backoff: (Duration, Duration),
}

/// How much larger the returning users' rate limit is than the strangers' one.
const RETURNING_RATE_FACTOR: u32 = 4;

/// The whole-request timeout of the default client.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for WorkOSTokenVerifierBuilder {
    fn default() -> Self {
        Self {
            domain: None,
            client: None,
            timeout: None,
            assumed_scopes: Vec::new(),
            required_scopes_setting: None,
            clock: system_clock(),
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            max_valid: 10_000,
            max_refused: 10_000,
            returning_window: Duration::from_secs(24 * 3600),
            rate: (50, 100),
            max_concurrent: 32,
            backoff: (Duration::from_secs(1), Duration::from_secs(30)),
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

    /// The HTTP client (its own timeouts apply unless [`timeout`](Self::timeout) is called).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The whole-request timeout of each userinfo call (default 5 s). Set explicitly, it also applies
    /// with a client given to [`http_client`](Self::http_client), replacing that client's own.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Gives every verified token these scopes.
    ///
    /// # Security
    ///
    /// Userinfo does not report which scopes a token was granted, so these are an assumption, not a
    /// check: with `insecure_assume_scopes(["mcp:admin"])`, every token WorkOS knows passes a scope
    /// check for `mcp:admin`, whatever the user consented to. Use it only when every token of this
    /// AuthKit environment may do everything the scopes allow. To require scopes, use AuthKit's JWTs
    /// ([`AuthKitProvider`](crate::AuthKitProvider)), which carry them. The scopes are not advertised
    /// as required ([`TokenVerifier::required_scopes`] stays empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::settings::Settings;
    /// use mcp_auth_workos::WorkOSTokenVerifier;
    ///
    /// // A required scope cannot be checked through userinfo, so the setting is refused...
    /// let settings = Settings::from_pairs([
    ///     ("MCP_AUTH_AUTHKIT_DOMAIN", "your-app.authkit.app"),
    ///     ("MCP_AUTH_REQUIRED_SCOPES", "mcp:read"),
    /// ]);
    /// let err = WorkOSTokenVerifier::builder().settings(&settings)?.build().unwrap_err();
    /// assert!(err.to_string().contains("MCP_AUTH_REQUIRED_SCOPES"));
    /// // ...and granting it to every token is said out loud.
    /// let verifier = WorkOSTokenVerifier::builder()
    ///     .authkit_domain("your-app.authkit.app")
    ///     .insecure_assume_scopes(["mcp:read"])
    ///     .build()?;
    /// # Ok::<(), mcp_auth_workos::WorkOSError>(())
    /// ```
    pub fn insecure_assume_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.assumed_scopes = scopes.into_iter().map(Into::into).collect();
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

    /// The most cached positive answers (default 10,000; 0 turns that cache off).
    pub fn max_cached(mut self, entries: usize) -> Self {
        self.max_valid = entries;
        self
    }

    /// The most cached refusals, in a table of their own (default 10,000; 0 turns that cache off).
    pub fn max_cached_refusals(mut self, entries: usize) -> Self {
        self.max_refused = entries;
        self
    }

    /// How long a token WorkOS accepted counts as a returning user's after its cached answer expires
    /// (default 24 h; zero turns this off). Its lookups still go to WorkOS, through the concurrency limit
    /// and the back-off, but draw on a separate rate limit four times the strangers' one, so a flood of
    /// random tokens cannot lock out users whose answers merely expired. A token WorkOS refuses stops
    /// counting at once.
    pub fn returning_user_window(mut self, window: Duration) -> Self {
        self.returning_window = window;
        self
    }

    /// The rate of userinfo lookups for tokens not in the caches: `per_second` on average, `burst` at
    /// once (default 50 and 100). A lookup over the limit is answered 503 with `Retry-After`, without
    /// a call. Both must be at least 1.
    pub fn lookup_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.rate = (per_second, burst);
        self
    }

    /// The most userinfo lookups in flight at once (default 32; at least 1). One more is answered 503
    /// with `Retry-After: 1` at once, without a call.
    pub fn max_concurrent_lookups(mut self, lookups: usize) -> Self {
        self.max_concurrent = lookups;
        self
    }

    /// The back-off after WorkOS fails (unreachable, timeout, 429, 5xx, 404): `base` after the first
    /// failure, doubling with each failed probe up to `max` (default 1 s and 30 s). A `Retry-After`
    /// from WorkOS lengthens it, up to `max`. `base` must be positive and at most `max`.
    pub fn unavailable_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff = (base, max);
        self
    }

    /// The clock for cache lifetimes, the back-off and the rate limit.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Reads `MCP_AUTH_AUTHKIT_DOMAIN` where set. `MCP_AUTH_REQUIRED_SCOPES` is read too, only to be
    /// refused by [`build`](Self::build): this verifier cannot enforce it.
    ///
    /// # Errors
    ///
    /// [`WorkOSError::Settings`] naming a malformed variable.
    pub fn settings(mut self, settings: &Settings) -> Result<Self, WorkOSError> {
        if let Some(domain) = settings.string("AUTHKIT_DOMAIN") {
            self.domain = Some(domain);
        }
        if let Some(scopes) = settings.scopes("REQUIRED_SCOPES")? {
            self.required_scopes_setting = Some(scopes);
        }
        Ok(self)
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// [`WorkOSError::Missing`] without a domain, [`WorkOSError::InvalidDomain`] for a malformed one,
    /// [`WorkOSError::Conflict`] naming the setting for `MCP_AUTH_REQUIRED_SCOPES` (userinfo reports no
    /// scopes, so it could not be enforced), a negative TTL longer than the positive one, a zero rate
    /// or concurrency limit, or a back-off whose base is zero or above its maximum.
    pub fn build(self) -> Result<WorkOSTokenVerifier, WorkOSError> {
        let domain = self.domain.ok_or(WorkOSError::Missing {
            setting: "MCP_AUTH_AUTHKIT_DOMAIN",
            example: "your-app.authkit.app",
        })?;
        let domain = AuthKitDomain::parse(&domain)?;
        let conflict = |reason: &str| WorkOSError::Conflict { reason: reason.to_owned() };
        if self.required_scopes_setting.as_ref().is_some_and(|scopes| !scopes.is_empty()) {
            return Err(conflict(
                "MCP_AUTH_REQUIRED_SCOPES is set, but WorkOSTokenVerifier cannot enforce it: userinfo does not \
                 report a token's scopes. Unset it and use AuthKit's JWTs (AuthKitProvider), which carry \
                 scopes, or grant opaque tokens scopes explicitly with .insecure_assume_scopes(..)",
            ));
        }
        if self.negative_ttl > self.positive_ttl {
            return Err(conflict("the negative cache TTL must not exceed the positive one"));
        }
        let (per_second, burst) = self.rate;
        if per_second == 0 || burst == 0 {
            return Err(conflict("lookup_rate_limit: the rate and the burst must be at least 1"));
        }
        if self.max_concurrent == 0 {
            return Err(conflict("max_concurrent_lookups must be at least 1"));
        }
        let (base, max) = self.backoff;
        if base.is_zero() || base > max {
            return Err(conflict("unavailable_backoff: the base must be positive and at most the maximum"));
        }
        let client = match self.client {
            Some(client) => client,
            None => {
                let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
                reqwest::Client::builder()
                    .connect_timeout(timeout.min(Duration::from_secs(5)))
                    .timeout(timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(WorkOSError::HttpClient)?
            }
        };
        let (valid, refused) = answer_caches(self.max_valid, self.max_refused)?;
        let returning = FingerprintCache::new(self.max_valid, 1)?;
        Ok(WorkOSTokenVerifier {
            inner: Arc::new(Inner {
                userinfo_url: domain.userinfo_url(),
                domain,
                client,
                request_timeout: self.timeout,
                assumed_scopes: self.assumed_scopes,
                clock: self.clock,
                positive_ttl: self.positive_ttl,
                negative_ttl: self.negative_ttl,
                valid,
                refused,
                returning,
                returning_window: self.returning_window,
                flights: SingleFlight::new(),
                breaker: Breaker::new(base, max),
                bucket: TokenBucket::new(per_second, burst),
                returning_bucket: TokenBucket::new(
                    per_second.saturating_mul(RETURNING_RATE_FACTOR),
                    burst.saturating_mul(RETURNING_RATE_FACTOR),
                ),
                lookups: Semaphore::new(self.max_concurrent),
                max_concurrent: self.max_concurrent,
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
    fn answers_are_evicted_oldest_first_and_refusals_never_evict_positive_answers() {
        let (valid, refused) = answer_caches(2, 2).unwrap();
        let user = || Valid { subject: "u".to_owned(), claims: Arc::default() };
        let [a, b, c] = ["token-a", "token-b", "token-c"].map(|token| valid.fingerprint(token));
        valid.insert(a, user(), at(100), GENERATION);
        valid.insert(b, user(), at(100), GENERATION);
        for i in 0..100 {
            refused.insert(refused.fingerprint(&format!("random-{i}")), (), at(100), GENERATION);
        }
        assert!(refused.len() <= 2);
        assert!(valid.get(&a, at(30), GENERATION).is_some() && valid.get(&b, at(30), GENERATION).is_some());
        valid.insert(c, user(), at(100), GENERATION);
        assert!(valid.get(&a, at(30), GENERATION).is_none(), "A was the oldest positive answer");
        assert!(valid.get(&c, at(30), GENERATION).is_some());
    }

    #[test]
    fn the_caches_are_bounded_and_zero_turns_them_off() {
        let (valid, refused) = answer_caches(8, 0).unwrap();
        assert_eq!((valid.capacity(), refused.capacity()), (8, 0));
        refused.insert(refused.fingerprint("t"), (), at(100), GENERATION);
        assert!(refused.is_empty());
    }

    #[test]
    fn contradictory_limits_are_refused_naming_the_setting() {
        let base = || WorkOSTokenVerifier::builder().authkit_domain("x.authkit.app");
        for (builder, setting) in [
            (base().lookup_rate_limit(0, 10), "lookup_rate_limit"),
            (base().lookup_rate_limit(10, 0), "lookup_rate_limit"),
            (base().max_concurrent_lookups(0), "max_concurrent_lookups"),
            (base().unavailable_backoff(Duration::ZERO, Duration::from_secs(1)), "unavailable_backoff"),
            (
                base().unavailable_backoff(Duration::from_secs(2), Duration::from_secs(1)),
                "unavailable_backoff",
            ),
        ] {
            let err = builder.build().unwrap_err().to_string();
            assert!(err.contains(setting), "{err}");
        }
        assert!(base().build().is_ok());
    }

    #[test]
    fn debug_shows_the_limits_and_no_secret() {
        let verifier = WorkOSTokenVerifier::builder().authkit_domain("x.authkit.app").build().unwrap();
        let debug = format!("{verifier:?}");
        assert!(debug.contains("rate_limit") && debug.contains("max_concurrent_lookups: 32"), "{debug}");
    }
}
