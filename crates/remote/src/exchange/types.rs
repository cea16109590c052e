//! RFC 8693 protocol values: the grant type, the token types, and the target of an exchange.

use std::fmt;

/// The RFC 8693 token-exchange grant type (`grant_type` of the request).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A token type identifier (RFC 8693 §3), as `subject_token_type`, `requested_token_type` and
/// `issued_token_type` name them.
///
/// # Examples
///
/// ```
/// use mcp_auth_remote::exchange::TokenType;
///
/// assert_eq!(TokenType::AccessToken.as_str(), "urn:ietf:params:oauth:token-type:access_token");
/// assert_eq!(TokenType::parse("urn:ietf:params:oauth:token-type:jwt"), TokenType::Jwt);
/// assert_eq!(TokenType::parse("urn:example:custom").as_str(), "urn:example:custom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// `urn:ietf:params:oauth:token-type:access_token`: an OAuth 2.0 access token.
    AccessToken,
    /// `urn:ietf:params:oauth:token-type:refresh_token`: an OAuth 2.0 refresh token.
    RefreshToken,
    /// `urn:ietf:params:oauth:token-type:id_token`: an OpenID Connect ID token.
    IdToken,
    /// `urn:ietf:params:oauth:token-type:jwt`: a JWT.
    Jwt,
    /// Any other token type URI, kept as given.
    Other(String),
}

impl TokenType {
    /// The token type URI.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
            Self::RefreshToken => "urn:ietf:params:oauth:token-type:refresh_token",
            Self::IdToken => "urn:ietf:params:oauth:token-type:id_token",
            Self::Jwt => "urn:ietf:params:oauth:token-type:jwt",
            Self::Other(uri) => uri,
        }
    }

    /// Reads a token type URI; unknown ones are [`TokenType::Other`].
    #[must_use]
    pub fn parse(uri: &str) -> Self {
        [Self::AccessToken, Self::RefreshToken, Self::IdToken, Self::Jwt]
            .into_iter()
            .find(|known| known.as_str() == uri)
            .unwrap_or_else(|| Self::Other(uri.to_owned()))
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the exchange request names the target service (RFC 8693 §2.1).
///
/// # Examples
///
/// ```
/// use mcp_auth_remote::exchange::Target;
///
/// assert_eq!(Target::Resource.parameter(), "resource");
/// assert_eq!(Target::Audience.parameter(), "audience");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// `resource`: the absolute URI of the service (RFC 8707), what AuthKit reads. The default.
    #[default]
    Resource,
    /// `audience`: a logical name of the service the authorization server knows.
    Audience,
}

impl Target {
    /// The form parameter this target is sent as.
    #[must_use]
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Audience => "audience",
        }
    }
}
