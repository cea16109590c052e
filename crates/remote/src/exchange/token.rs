//! [`ExchangedToken`]: the token an exchange returned, checked, with its audience, scopes and expiry.

use std::fmt;
use std::time::SystemTime;

use super::types::TokenType;
use secrecy::{ExposeSecret, SecretString};

/// An access token for another API, obtained by token exchange for the signed-in user.
///
/// It was checked before being handed out: its `aud` is the requested resource, its `act.sub` names this
/// server's client, and it had not expired. `Debug` never shows the token; read it with
/// [`expose_secret`](Self::expose_secret) to put it in an `Authorization: Bearer` header, and nowhere else.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mcp_auth_remote::exchange::ExchangedToken;
///
/// let token = ExchangedToken::new("eyJ.secret", "https://api.example.com", ["orders:read"],
///     SystemTime::now() + Duration::from_secs(300));
/// assert_eq!(token.audience(), "https://api.example.com");
/// assert!(!format!("{token:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct ExchangedToken {
    token: SecretString,
    audience: String,
    scopes: Vec<String>,
    expires_at: SystemTime,
    issued_token_type: TokenType,
    actor: Option<String>,
}

impl fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("token", &"[redacted]")
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("issued_token_type", &self.issued_token_type)
            .field("actor", &self.actor)
            .finish()
    }
}

impl ExchangedToken {
    /// A token for `audience` with `scopes`, expiring at `expires_at` (an access token, no actor known).
    #[must_use]
    pub fn new<I, S>(
        token: impl Into<String>,
        audience: impl Into<String>,
        scopes: I,
        expires_at: SystemTime,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            token: SecretString::from(token.into()),
            audience: audience.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            expires_at,
            issued_token_type: TokenType::AccessToken,
            actor: None,
        }
    }

    pub(super) fn with_details(mut self, issued_token_type: TokenType, actor: Option<String>) -> Self {
        self.issued_token_type = issued_token_type;
        self.actor = actor;
        self
    }

    /// The token itself, for the `Authorization: Bearer` header of the call to the API. Never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.token.expose_secret()
    }

    /// The audience it was issued for: the API's resource URL.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The scopes it grants (as the authorization server answered, else as requested).
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// When it expires.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// What kind of token it is (`issued_token_type`).
    #[must_use]
    pub fn issued_token_type(&self) -> &TokenType {
        &self.issued_token_type
    }

    /// The actor its `act.sub` names: this server's client id.
    #[must_use]
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// Whether it has expired at `now`.
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let exp = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let token = ExchangedToken::new("tok-very-secret", "https://api.example.com", ["a"], exp)
            .with_details(TokenType::AccessToken, Some("mcp".into()));
        assert!(!format!("{token:?}").contains("very-secret"), "{token:?}");
        assert_eq!(token.expose_secret(), "tok-very-secret");
        assert_eq!((token.audience(), token.actor()), ("https://api.example.com", Some("mcp")));
        assert!(token.is_expired_at(exp) && !token.is_expired_at(exp - Duration::from_secs(1)));
    }
}
