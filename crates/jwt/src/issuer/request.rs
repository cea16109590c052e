//! What goes into a token ([`TokenRequest`], [`IdTokenRequest`]) and what comes out ([`IssuedToken`]).

use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// What to put in an access or refresh token: subject, client, audience, scopes, lifetime and extra
/// claims.
///
/// # Examples
///
/// ```
/// use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
///
/// let issuer = JwtIssuer::builder()
///     .issuer("https://auth.example.com")
///     .signing_key(SigningKey::generate_ed25519("k1")?)
///     .build()?;
/// let request = TokenRequest::new("user_1")
///     .client_id("client_a")
///     .audience("https://mcp.example.com/mcp")
///     .scopes(["mcp:read", "mcp:write"])
///     .claim("org_id", "org_9");
/// let token = issuer.sign_access(&request)?;
/// assert_eq!(token.kid, "k1");
/// # Ok::<(), mcp_auth_jwt::JwtError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenRequest {
    pub(super) subject: String,
    pub(super) client_id: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) scopes: Vec<String>,
    pub(super) ttl: Option<Duration>,
    pub(super) claims: Map<String, Value>,
}

impl TokenRequest {
    /// A token for `subject` (`sub`).
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            client_id: None,
            audience: None,
            scopes: Vec::new(),
            ttl: None,
            claims: Map::new(),
        }
    }

    /// Sets `client_id`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets `aud` for this token, overriding the issuer's default
    /// [`audience`](crate::JwtIssuerBuilder::audience): the resource (RFC 8707) the client asked for. A
    /// token with neither carries no `aud`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtError, JwtIssuer, SigningKey, TokenRequest};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://a.example.com/mcp")
    ///     .signing_key(SigningKey::generate_es256("k1")?)
    ///     .build()?;
    /// let for_b = issuer.sign_access(&TokenRequest::new("u").audience("https://b.example.com/mcp"))?;
    /// let a = issuer.access_verifier().build()?;
    /// assert!(matches!(a.verify_jwt(for_b.expose()).await, Err(JwtError::WrongAudience { .. })));
    /// let b = issuer.access_verifier().audience("https://b.example.com/mcp").build()?;
    /// assert!(b.verify_jwt(for_b.expose()).await.is_ok());
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// # }).unwrap();
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the granted scopes (`scope`, space-separated).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Overrides the issuer's default lifetime for this token.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Adds a claim (for example `email` or `org_id`). Every claim the verifier reads is reserved and
    /// refused when signing (`iss`, `aud`, `sub`, `client_id`, `azp`, `cid`, `scope`, `scp`, `iat`, `nbf`,
    /// `exp`, `token_use`), and so is `jti`: set scopes with [`scopes`](Self::scopes) and the client with
    /// [`client_id`](Self::client_id).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }
}

/// What to put in an OpenID Connect ID token (OpenID Connect Core 1.0 §2): the user, the client it is
/// for, when the user authenticated, and optionally the `nonce`, the session id, the access token issued
/// with it (for `at_hash`) and profile claims.
///
/// `Debug` never shows the access token.
///
/// # Examples
///
/// ```
/// use std::time::SystemTime;
/// use mcp_auth_jwt::IdTokenRequest;
///
/// let request = IdTokenRequest::new("user_1", "client_a", SystemTime::now())
///     .nonce("n-0S6_WzA2Mj")
///     .sid("session-7")
///     .access_token("the access token issued alongside")
///     .claim("email", "ada@example.com")
///     .claim("email_verified", true);
/// assert!(!format!("{request:?}").contains("issued alongside"));
/// ```
#[must_use]
pub struct IdTokenRequest {
    pub(super) subject: String,
    pub(super) client_id: String,
    pub(super) auth_time: SystemTime,
    pub(super) nonce: Option<String>,
    pub(super) sid: Option<String>,
    pub(super) access_token: Option<SecretString>,
    pub(super) ttl: Option<Duration>,
    pub(super) claims: Map<String, Value>,
}

impl fmt::Debug for IdTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenRequest")
            .field("subject", &self.subject)
            .field("client_id", &self.client_id)
            .field("auth_time", &self.auth_time)
            .field("nonce", &self.nonce)
            .field("sid", &self.sid)
            .field("access_token", &self.access_token.as_ref().map(|_| "[REDACTED]"))
            .field("ttl", &self.ttl)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IdTokenRequest {
    /// An ID token about `subject` (`sub`) for the client `client_id` (`aud`), who authenticated at
    /// `auth_time` (`auth_time`).
    pub fn new(subject: impl Into<String>, client_id: impl Into<String>, auth_time: SystemTime) -> Self {
        Self {
            subject: subject.into(),
            client_id: client_id.into(),
            auth_time,
            nonce: None,
            sid: None,
            access_token: None,
            ttl: None,
            claims: Map::new(),
        }
    }

    /// Sets `nonce`, the value the client sent in its authorization request.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Sets `sid`, the session the token belongs to (OpenID Connect Front-Channel and Back-Channel
    /// Logout).
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// The access token issued with this ID token; its `at_hash` (OpenID Connect Core §3.1.3.6) goes in
    /// the ID token, computed with the hash that matches the signing algorithm.
    pub fn access_token(mut self, access_token: impl Into<String>) -> Self {
        self.access_token = Some(SecretString::from(access_token.into()));
        self
    }

    /// Overrides the lifetime (default: the issuer's access-token lifetime).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Adds a claim, typically a profile claim (`email`, `name`, `org_id`). Reserved claims (`iss`,
    /// `sub`, `aud`, `exp`, `nonce`, `at_hash`, ...) are refused when signing.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    pub(super) fn access_token_value(&self) -> Option<&str> {
        self.access_token.as_ref().map(ExposeSecret::expose_secret)
    }
}

/// A signed token and what the issuer put in it. `Debug` never shows the token.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: SecretString,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: SystemTime,
    /// The `kid` of the key that signed it.
    pub kid: String,
}

impl IssuedToken {
    /// The compact JWT. Handle with care: never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.token.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_request_debug_hides_the_access_token() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.the-access-token-itself.sig";
        let request = IdTokenRequest::new("user_1", "client_a", SystemTime::UNIX_EPOCH)
            .nonce("n-1")
            .access_token(secret)
            .claim("email", "ada@example.com");
        for debug in [format!("{request:?}"), format!("{request:#?}")] {
            assert!(!debug.contains("the-access-token-itself"), "{debug}");
            assert!(debug.contains("REDACTED") && debug.contains("client_a"), "{debug}");
        }
        assert_eq!(request.access_token_value(), Some(secret));
        let without = IdTokenRequest::new("u", "c", SystemTime::UNIX_EPOCH);
        assert!(format!("{without:?}").contains("access_token: None"));
    }
}
