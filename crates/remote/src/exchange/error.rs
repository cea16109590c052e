//! [`ExchangeError`]: why a token exchange gave no token, in terms a tool can show.

use std::sync::Arc;

/// A failure's cause, shared so that callers merged into one exchange each get the same error.
pub type SharedCause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a token exchange gave no token. Never a reason to fall back to passing the MCP token through.
///
/// [`is_retryable`](Self::is_retryable) tells an outage (try again later) from a refusal (retrying will not
/// help); the `Display` text is safe to show to the user and names no secret.
///
/// # Examples
///
/// ```
/// use mcp_auth_remote::exchange::ExchangeError;
///
/// let refused = ExchangeError::UnauthorizedClient { description: "not allowed".into() };
/// assert!(!refused.is_retryable());
/// assert_eq!(refused.oauth_error(), Some("unauthorized_client"));
/// assert!(refused.to_string().contains("not allowed to exchange"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// No token exchanger reaches this handler: the server was not configured for token exchange
    /// (`AuthKitProviderBuilder::token_exchange`, or an `Arc<TokenExchanger>` request extension).
    #[error("token exchange is not configured on this server")]
    NotConfigured,
    /// The request cannot be made as asked: the resource is not an absolute URL, a scope is malformed, or
    /// the caller's token names no user. Nothing was sent.
    #[error("cannot request a token: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
    /// The authorization server refused the user's token (`invalid_grant`): it expired, was revoked, or is
    /// not one it will exchange. The user signs in again.
    #[error(
        "the authorization server refused the user's token for this exchange (invalid_grant): {description}"
    )]
    InvalidGrant {
        /// The authorization server's `error_description`.
        description: String,
    },
    /// The authorization server does not allow this server's client to exchange tokens
    /// (`unauthorized_client`): an operator allows it in the authorization server's settings.
    #[error("this server's client is not allowed to exchange tokens (unauthorized_client): {description}")]
    UnauthorizedClient {
        /// The authorization server's `error_description`.
        description: String,
    },
    /// The authorization server refused the request with another OAuth error (`invalid_target`,
    /// `invalid_scope`, `invalid_client`, `invalid_request`...).
    #[error("the authorization server refused the token exchange ({error}): {description}")]
    Refused {
        /// The OAuth `error` code.
        error: String,
        /// The authorization server's `error_description`.
        description: String,
    },
    /// The authorization server cannot be reached, timed out, or answered 5xx or 429. Retryable.
    #[error("the authorization server is unavailable for token exchange ({reason}); try again later")]
    Unavailable {
        /// What failed.
        reason: &'static str,
        /// The cause, if any.
        #[source]
        source: Option<SharedCause>,
    },
    /// The authorization server answered with a token that failed the checks (wrong audience or actor,
    /// expired, not a JWT) or with a malformed answer. The token is not used.
    #[error("the token exchange answer was not accepted: {reason}")]
    InvalidAnswer {
        /// Which check failed.
        reason: String,
    },
}

impl ExchangeError {
    /// Whether trying again later may succeed (an outage), as opposed to a refusal or a misconfiguration.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The OAuth error code the authorization server answered with, if it refused the request.
    #[must_use]
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::InvalidGrant { .. } => Some("invalid_grant"),
            Self::UnauthorizedClient { .. } => Some("unauthorized_client"),
            Self::Refused { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A short machine-readable name of the kind of failure, as the MCP error data carries it.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidGrant { .. } => "invalid_grant",
            Self::UnauthorizedClient { .. } => "unauthorized_client",
            Self::Refused { .. } => "refused",
            Self::Unavailable { .. } => "unavailable",
            Self::InvalidAnswer { .. } => "invalid_answer",
        }
    }

    pub(super) fn unavailable<E>(reason: &'static str, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::Unavailable { reason, source: Some(Arc::new(source)) }
    }

    pub(super) fn invalid_answer(reason: impl Into<String>) -> Self {
        Self::InvalidAnswer { reason: reason.into() }
    }

    pub(super) fn invalid_request(reason: impl Into<String>) -> Self {
        Self::InvalidRequest { reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outages_are_retryable_and_kinds_are_distinct() {
        let outage = ExchangeError::unavailable("connection failed", std::io::Error::other("refused"));
        assert!(outage.is_retryable());
        assert!(std::error::Error::source(&outage).is_some(), "the cause is kept");
        assert!(outage.to_string().contains("try again later"));
        let grant = ExchangeError::InvalidGrant { description: "expired".into() };
        assert!(!grant.is_retryable());
        assert_eq!(grant.oauth_error(), Some("invalid_grant"));
        let kinds = [
            ExchangeError::NotConfigured.kind(),
            ExchangeError::invalid_request("x").kind(),
            grant.kind(),
            outage.kind(),
            ExchangeError::invalid_answer("x").kind(),
        ];
        let mut unique = kinds.to_vec();
        unique.dedup();
        assert_eq!(unique.len(), kinds.len());
    }
}
