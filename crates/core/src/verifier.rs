//! The [`TokenVerifier`] trait and its error, plus a static verifier for tests and demos.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::clock::{SharedClock, system_clock};
use crate::token::AccessToken;

/// A boxed error from a verifier's key source or upstream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Turns a bearer token into a verified [`AccessToken`].
///
/// Implementations check everything that makes the token trustworthy (signature or upstream answer,
/// issuer, audience, expiry) and return [`VerifyError::Invalid`] for a token that must be refused, or
/// [`VerifyError::Unavailable`] when they cannot decide because a key source or upstream is down: the
/// HTTP layer answers the first with 401 and the second with 503, never a silent 401.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError};
///
/// #[derive(Debug)]
/// struct OnlyOpenSesame;
///
/// #[async_trait]
/// impl TokenVerifier for OnlyOpenSesame {
///     async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
///         if token == "open-sesame" {
///             Ok(AccessToken::new(token).with_subject("ali"))
///         } else {
///             Err(VerifyError::invalid("unknown token"))
///         }
///     }
/// }
/// # tokio_test_block_on(async {
/// assert!(OnlyOpenSesame.verify("open-sesame").await.is_ok());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait TokenVerifier: fmt::Debug + Send + Sync + 'static {
    /// Verifies `token` (the bearer token without the `Bearer ` prefix).
    ///
    /// # Errors
    ///
    /// [`VerifyError::Invalid`] for a token to refuse, [`VerifyError::InsufficientScope`] for a valid token
    /// that lacks a scope the verifier requires, [`VerifyError::Unavailable`] when the verifier cannot
    /// reach what it needs to decide.
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError>;

    /// Verifies `token` at once if that needs no waiting (a hit in a verified-token cache, typically),
    /// or answers `None` to have the caller await [`verify`](Self::verify).
    ///
    /// The bearer layer asks this first, so a token answered from memory costs no boxed future and no
    /// task of its own. `Some` must hold exactly what `verify` would have returned; the simplest way to
    /// keep the two in step is to have `verify` begin with this method. A verifier may do part of the
    /// work before answering `None` (looking in a cache that then misses); it must not count a refusal
    /// twice. The default answers `None`: every token goes through `verify`.
    ///
    /// ```
    /// use mcp_auth_core::{AccessToken, StaticTokenVerifier, TokenVerifier};
    ///
    /// let verifier = StaticTokenVerifier::new().with_token("t", AccessToken::new("t").with_subject("u"));
    /// let now = verifier.verify_now("t").expect("a static table answers at once");
    /// assert_eq!(now.unwrap().subject.as_deref(), Some("u"));
    /// assert!(verifier.verify_now("other").unwrap().is_err());
    /// ```
    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        let _ = token;
        None
    }

    /// The scopes every token must carry; advertised in `WWW-Authenticate` challenges.
    fn required_scopes(&self) -> &[String] {
        &[]
    }
}

/// The future a [`TokenVerifier`] returns (what `#[async_trait]` makes of `async fn verify`).
type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Result<AccessToken, VerifyError>> + Send + 'a>>;

impl<T: TokenVerifier + ?Sized> TokenVerifier for Arc<T> {
    // Hands back the inner verifier's future as it is: an `async fn` here would box a second future on
    // every request, for each `Arc` in a chain of verifiers.
    fn verify<'life0, 'life1, 'async_trait>(&'life0 self, token: &'life1 str) -> VerifyFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        (**self).verify(token)
    }

    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        (**self).verify_now(token)
    }

    fn required_scopes(&self) -> &[String] {
        (**self).required_scopes()
    }
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is invalid: malformed, badly signed, expired, for another audience, revoked. Maps to 401
    /// with `error="invalid_token"`.
    #[error("invalid token: {reason}")]
    Invalid {
        /// A short reason that is safe to show to the caller, such as `token expired`.
        reason: Cow<'static, str>,
        /// The detailed cause, for logs and for tests; never sent to the caller.
        #[source]
        source: Option<BoxError>,
    },
    /// The token is valid but lacks required scopes. Maps to 403 with `error="insufficient_scope"`.
    #[error("token lacks required scopes: {}", .required.join(" "))]
    InsufficientScope {
        /// The scopes the operation needs.
        required: Vec<String>,
    },
    /// The verifier could not reach its key source or upstream and cannot decide. Maps to 503.
    #[error("token verifier unavailable: {reason}")]
    Unavailable {
        /// A short reason that is safe to show to the caller.
        reason: Cow<'static, str>,
        /// When the caller may retry, if known.
        retry_after: Option<Duration>,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
}

impl VerifyError {
    /// The reason of an expired token; [`AuthOutcome::of`](crate::metrics::AuthOutcome::of) counts a
    /// [`VerifyError::Invalid`] with this reason as `expired`.
    pub const EXPIRED: &'static str = "token expired";

    /// The reason of a token for another audience; [`AuthOutcome::of`](crate::metrics::AuthOutcome::of)
    /// counts a [`VerifyError::Invalid`] with this reason (or `token audience mismatch`) as
    /// `wrong_audience`.
    pub const WRONG_AUDIENCE: &'static str = "wrong audience";

    /// An expired token: [`VerifyError::Invalid`] with the reason [`VerifyError::EXPIRED`].
    #[must_use]
    pub fn expired() -> Self {
        Self::invalid(Self::EXPIRED)
    }

    /// A token for another audience: [`VerifyError::Invalid`] with the reason
    /// [`VerifyError::WRONG_AUDIENCE`].
    #[must_use]
    pub fn wrong_audience() -> Self {
        Self::invalid(Self::WRONG_AUDIENCE)
    }

    /// An invalid token with a short, caller-safe reason.
    #[must_use]
    pub fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid { reason: reason.into(), source: None }
    }

    /// An invalid token with a short, caller-safe reason and the detailed cause.
    #[must_use]
    pub fn invalid_because(reason: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Invalid { reason: reason.into(), source: Some(source.into()) }
    }

    /// A verifier that cannot reach its key source or upstream.
    #[must_use]
    pub fn unavailable(reason: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { reason: reason.into(), retry_after: None, source: Some(source.into()) }
    }

    /// The HTTP status this error maps to: 401, 403 or 503.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Invalid { .. } => 401,
            Self::InsufficientScope { .. } => 403,
            Self::Unavailable { .. } => 503,
        }
    }

    /// Whether this is [`VerifyError::Unavailable`].
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A verifier that accepts a fixed set of tokens. For tests, demos and local development only.
///
/// Tokens are kept as SHA-256 hashes, so the table holds no usable secret, and lookup takes the same
/// time whatever the presented token shares with a known one.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::{AccessToken, StaticTokenVerifier, TokenVerifier};
///
/// let verifier = StaticTokenVerifier::new()
///     .with_token("dev-token", AccessToken::new("dev-token").with_subject("dev").with_scopes(["mcp"]));
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let token = verifier.verify("dev-token").await.unwrap();
/// assert_eq!(token.subject.as_deref(), Some("dev"));
/// assert!(verifier.verify("other").await.is_err());
/// # });
/// ```
#[derive(Clone)]
pub struct StaticTokenVerifier {
    tokens: HashMap<[u8; 32], AccessToken>,
    required_scopes: Vec<String>,
    clock: SharedClock,
}

impl fmt::Debug for StaticTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenVerifier")
            .field("tokens", &self.tokens.len())
            .field("required_scopes", &self.required_scopes)
            .finish_non_exhaustive()
    }
}

impl Default for StaticTokenVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticTokenVerifier {
    /// A verifier that accepts nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self { tokens: HashMap::new(), required_scopes: Vec::new(), clock: system_clock() }
    }

    /// Accepts `token`, answering with `access` (its expiry is still checked).
    #[must_use]
    pub fn with_token(mut self, token: &str, access: AccessToken) -> Self {
        self.tokens.insert(Sha256::digest(token.as_bytes()).into(), access);
        self
    }

    /// Requires `scopes` on every token.
    #[must_use]
    pub fn with_required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Uses `clock` for expiry checks.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}

impl StaticTokenVerifier {
    fn check(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let access = self.tokens.get(&digest).ok_or_else(|| VerifyError::invalid("unknown token"))?;
        if access.is_expired_at(self.clock.now()) {
            return Err(VerifyError::expired());
        }
        let missing = crate::scope::missing_scopes(&self.required_scopes, &access.scopes);
        if !missing.is_empty() {
            return Err(VerifyError::InsufficientScope { required: self.required_scopes.clone() });
        }
        Ok(access.clone())
    }
}

#[async_trait]
impl TokenVerifier for StaticTokenVerifier {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        self.check(token)
    }

    /// The table is in memory: every token is answered at once.
    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        Some(self.check(token))
    }

    fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn static_verifier_checks_expiry_and_scopes() {
        let clock = ManualClock::at_unix(1_000);
        let verifier = StaticTokenVerifier::new()
            .with_clock(Arc::new(clock.clone()))
            .with_required_scopes(["mcp"])
            .with_token("good", AccessToken::new("good").with_scopes(["mcp"]).with_expires_at_unix(1_100))
            .with_token("narrow", AccessToken::new("narrow").with_scopes(["other"]));
        assert!(verifier.verify("good").await.is_ok());
        assert!(matches!(verifier.verify("narrow").await, Err(VerifyError::InsufficientScope { .. })));
        assert!(matches!(verifier.verify("nope").await, Err(VerifyError::Invalid { .. })));
        clock.advance(Duration::from_secs(100));
        let err = verifier.verify("good").await.unwrap_err();
        assert_eq!(err.to_string(), "invalid token: token expired");
        assert_eq!(err.status_code(), 401);
    }

    #[test]
    fn debug_shows_no_tokens() {
        let verifier = StaticTokenVerifier::new().with_token("hunter2", AccessToken::new("hunter2"));
        assert!(!format!("{verifier:?}").contains("hunter2"));
    }
}
