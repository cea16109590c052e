//! The verified access token and the typed user view over its claims.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A bearer token that a [`TokenVerifier`](crate::TokenVerifier) accepted, with what it says.
///
/// The raw token is kept as a secret: `Debug` never shows it. Everything else is public information
/// about the caller, in the [`TokenInfo`] the token dereferences to (`token.subject`, `token.scopes`),
/// shared by every clone: cloning an `AccessToken` costs two reference counts. Verifiers build one with
/// [`AccessToken::new`] and the `with_*` methods; a cache hands out what it verified once with
/// [`AccessToken::from_info`].
///
/// # Examples
///
/// ```
/// use mcp_auth_core::AccessToken;
/// use serde_json::json;
///
/// let token = AccessToken::new("eyJ...secret")
///     .with_subject("user_01H")
///     .with_client_id("client_abc")
///     .with_scopes(["mcp:read"])
///     .with_claims(json!({"email": "ada@example.com"}).as_object().unwrap().clone());
///
/// assert_eq!(token.subject.as_deref(), Some("user_01H"));
/// assert!(token.has_scope("mcp:read"));
/// assert!(!format!("{token:?}").contains("secret"));
/// assert_eq!(token.user().unwrap().email.as_deref(), Some("ada@example.com"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    /// The raw bearer token, as presented: shared, so cloning the `AccessToken` does not copy it.
    pub token: RawToken,
    /// What the token says, shared by every clone (read its fields through `Deref`; writing one through
    /// `DerefMut` copies it first if it is shared).
    info: Arc<TokenInfo>,
}

/// What a verified token says about the caller: everything in an [`AccessToken`] but the raw token.
///
/// An `AccessToken` dereferences to its `TokenInfo`, so `token.subject` or `token.scopes` read the fields
/// here. The info is shared (one `Arc`) by every clone of the token, so handing a cached token out, or
/// copying a request's extensions, costs a reference count, not a copy of every string; assigning a
/// field through a `&mut AccessToken` copies the info first if another clone holds it.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::AccessToken;
/// use std::sync::Arc;
///
/// let token = AccessToken::new("raw").with_subject("user_01H").with_scopes(["mcp:read"]);
/// let copy = token.clone();
/// assert!(Arc::ptr_eq(token.info(), copy.info()), "clones share what the token says");
///
/// let mut changed = copy.clone();
/// changed.subject = Some("user_02".to_owned());
/// assert_eq!(token.subject.as_deref(), Some("user_01H"), "a write copies, it never changes another clone");
/// assert_eq!(changed.subject.as_deref(), Some("user_02"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The OAuth client the token was issued to (`client_id`, `azp` or `cid`), if known.
    pub client_id: Option<String>,
    /// The subject (`sub`): normally the user's id.
    pub subject: Option<String>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// When the token stops being valid, if it says.
    pub expires_at: Option<SystemTime>,
    /// The issuer (`iss`), if known.
    pub issuer: Option<String>,
    /// The audiences (`aud`) the token is meant for.
    pub audience: Vec<String>,
    /// Every claim of the token (or every field of the introspection or userinfo answer). Shared, so a
    /// cached token is handed out without copying its claims; change it with `Arc::make_mut`.
    pub claims: Arc<Map<String, Value>>,
}

impl Deref for AccessToken {
    type Target = TokenInfo;

    fn deref(&self) -> &TokenInfo {
        &self.info
    }
}

impl DerefMut for AccessToken {
    /// Copies the info first if another clone shares it, so a write never shows in another clone.
    fn deref_mut(&mut self) -> &mut TokenInfo {
        Arc::make_mut(&mut self.info)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &*self.info;
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field("client_id", &info.client_id)
            .field("subject", &info.subject)
            .field("scopes", &info.scopes)
            .field("expires_at", &info.expires_at)
            .field("issuer", &info.issuer)
            .field("audience", &info.audience)
            .field("claims", &info.claims)
            .finish()
    }
}

impl AccessToken {
    /// A token with nothing known about it yet but its raw value.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self::from_info(RawToken::new(token), Arc::default())
    }

    /// A token made of its raw value and what is known about it, shared as it is: how a cache hands out
    /// the info it verified once, for the price of two reference counts.
    ///
    /// ```
    /// use mcp_auth_core::{AccessToken, RawToken};
    /// use std::sync::Arc;
    ///
    /// let verified = AccessToken::new("raw").with_subject("user_01H");
    /// let cached = Arc::clone(verified.info());
    /// let hit = AccessToken::from_info(RawToken::new("raw"), cached);
    /// assert_eq!(hit.subject.as_deref(), Some("user_01H"));
    /// ```
    #[must_use]
    pub fn from_info(token: RawToken, info: Arc<TokenInfo>) -> Self {
        Self { token, info }
    }

    /// What the token says, as shared by its clones.
    #[must_use]
    pub fn info(&self) -> &Arc<TokenInfo> {
        &self.info
    }

    /// What the token says, owned, to move its fields out (copied only if another clone shares it).
    ///
    /// ```
    /// use mcp_auth_core::AccessToken;
    ///
    /// let token = AccessToken::new("raw").with_subject("user_01H");
    /// let subject: String = token.into_info().subject.unwrap_or_default();
    /// assert_eq!(subject, "user_01H");
    /// ```
    #[must_use]
    pub fn into_info(self) -> TokenInfo {
        Arc::unwrap_or_clone(self.info)
    }

    /// Sets the client id.
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the granted scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the expiry time.
    #[must_use]
    pub fn with_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the expiry time from Unix seconds (as in an `exp` claim).
    #[must_use]
    pub fn with_expires_at_unix(self, exp: u64) -> Self {
        self.with_expires_at(UNIX_EPOCH + Duration::from_secs(exp))
    }

    /// Sets the issuer.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the audiences.
    #[must_use]
    pub fn with_audience<I, S>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// Sets all claims.
    #[must_use]
    pub fn with_claims(mut self, claims: impl Into<Arc<Map<String, Value>>>) -> Self {
        self.claims = claims.into();
        self
    }

    /// The raw bearer token. Handle with care: never log it.
    #[must_use]
    pub fn expose_token(&self) -> &str {
        self.token.expose_secret()
    }

    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the token has expired at `now` (tokens without an expiry never do).
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now)
    }

    /// A claim by name.
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The typed user view over the claims; `None` when the token names neither a subject nor a client.
    #[must_use]
    pub fn user(&self) -> Option<AuthUser> {
        AuthUser::from_token(self)
    }
}

/// The raw bearer token an [`AccessToken`] was verified from.
///
/// A secret: `Debug` shows nothing of it, and its bytes are zeroized when the last clone is dropped.
/// Clones share it, so handing a verified token to a handler (axum and rmcp clone request extensions) does
/// not copy the token or zeroize another copy each time.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::RawToken;
/// use secrecy::ExposeSecret;
///
/// let token = RawToken::new("eyJ...secret");
/// let copy = token.clone();
/// assert_eq!(copy.expose_secret(), "eyJ...secret");
/// assert_eq!(format!("{token:?}"), "RawToken([REDACTED])");
/// ```
#[derive(Clone)]
pub struct RawToken(Arc<SecretString>);

impl RawToken {
    /// Wraps a raw token.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(Arc::new(SecretString::from(token.into())))
    }
}

impl ExposeSecret<str> for RawToken {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken([REDACTED])")
    }
}

/// Who is calling: the fields MCP server authors ask for, read from the token's claims.
///
/// `user_id` is the `sub` claim (falling back to the client id for machine-to-machine tokens).
/// `roles` come from a `roles` array or a single `role` string; `organization_id` from `org_id`
/// (or `organization_id`); `session_id` from `sid`; `username` from `preferred_username`.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::{AccessToken, AuthUser};
/// use serde_json::json;
///
/// let claims = json!({
///     "sub": "user_1", "email": "ada@example.com", "role": "admin",
///     "permissions": ["posts:write"], "org_id": "org_9", "sid": "session_3"
/// });
/// let token = AccessToken::new("t").with_subject("user_1").with_claims(claims.as_object().unwrap().clone());
/// let user = AuthUser::from_token(&token).unwrap();
/// assert_eq!(user.user_id, "user_1");
/// assert!(user.has_role("admin"));
/// assert!(user.has_permission("posts:write"));
/// assert_eq!(user.organization_id.as_deref(), Some("org_9"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthUser {
    /// The user's id (`sub`).
    pub user_id: String,
    /// The user's email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's preferred username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A URL of the user's picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The user's permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The organization the session belongs to (`org_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The sign-in session (`sid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The OAuth client acting for the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl AuthUser {
    /// Reads the user view out of a verified token.
    #[must_use]
    pub fn from_token(token: &AccessToken) -> Option<Self> {
        let claims = &token.claims;
        let user_id = token
            .subject
            .clone()
            .or_else(|| string_claim(claims, "sub"))
            .or_else(|| token.client_id.clone())?;
        let mut roles = string_list_claim(claims, "roles");
        if let Some(role) = string_claim(claims, "role")
            && !roles.contains(&role)
        {
            roles.push(role);
        }
        Some(Self {
            user_id,
            email: string_claim(claims, "email"),
            email_verified: claims.get("email_verified").and_then(bool_like),
            name: string_claim(claims, "name").or_else(|| joined_name(claims)),
            username: string_claim(claims, "preferred_username"),
            picture: string_claim(claims, "picture"),
            roles,
            permissions: string_list_claim(claims, "permissions"),
            organization_id: string_claim(claims, "org_id")
                .or_else(|| string_claim(claims, "organization_id")),
            session_id: string_claim(claims, "sid"),
            client_id: token.client_id.clone(),
            scopes: token.scopes.clone(),
        })
    }

    /// Whether the user has `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the user has any of `roles`.
    #[must_use]
    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        roles.iter().any(|role| self.has_role(role))
    }

    /// Whether the user has `permission`.
    #[must_use]
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// `Ok` when the user has `role`, else a [`Forbidden`] that says which role is missing.
    ///
    /// # Errors
    ///
    /// [`Forbidden`] when the role is missing.
    pub fn require_role(&self, role: &str) -> Result<(), Forbidden> {
        if self.has_role(role) { Ok(()) } else { Err(Forbidden { requirement: format!("role '{role}'") }) }
    }

    /// `Ok` when the user has `permission`, else a [`Forbidden`] that says which one is missing.
    ///
    /// # Errors
    ///
    /// [`Forbidden`] when the permission is missing.
    pub fn require_permission(&self, permission: &str) -> Result<(), Forbidden> {
        if self.has_permission(permission) {
            Ok(())
        } else {
            Err(Forbidden { requirement: format!("permission '{permission}'") })
        }
    }
}

/// A caller lacks a role or permission. Its message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("forbidden: this operation requires the {requirement}")]
pub struct Forbidden {
    /// What was required, such as `role 'admin'`.
    pub requirement: String,
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn string_list_claim(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn bool_like(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn joined_name(claims: &Map<String, Value>) -> Option<String> {
    let given = string_claim(claims, "given_name").or_else(|| string_claim(claims, "first_name"));
    let family = string_claim(claims, "family_name").or_else(|| string_claim(claims, "last_name"));
    match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token_with(claims: Value) -> AccessToken {
        AccessToken::new("super-secret-token-value")
            .with_claims(claims.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = token_with(json!({"sub": "u"}));
        let debug = format!("{token:?}");
        assert!(!debug.contains("super-secret-token-value"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }

    #[test]
    fn user_reads_every_field() {
        let token = token_with(json!({
            "sub": "user_1", "email": "a@b.c", "email_verified": true, "name": "Ada",
            "preferred_username": "ada", "picture": "https://x/p.png", "roles": ["member", "admin"],
            "permissions": ["read"], "org_id": "org_1", "sid": "sid_1"
        }))
        .with_client_id("client_1")
        .with_scopes(["mcp"]);
        let user = token.user().unwrap();
        assert_eq!(user.user_id, "user_1");
        assert_eq!(user.email.as_deref(), Some("a@b.c"));
        assert_eq!(user.email_verified, Some(true));
        assert_eq!(user.name.as_deref(), Some("Ada"));
        assert_eq!(user.username.as_deref(), Some("ada"));
        assert_eq!(user.picture.as_deref(), Some("https://x/p.png"));
        assert_eq!(user.roles, ["member", "admin"]);
        assert_eq!(user.permissions, ["read"]);
        assert_eq!(user.organization_id.as_deref(), Some("org_1"));
        assert_eq!(user.session_id.as_deref(), Some("sid_1"));
        assert_eq!(user.client_id.as_deref(), Some("client_1"));
        assert_eq!(user.scopes, ["mcp"]);
    }

    #[test]
    fn single_role_and_fallbacks() {
        let user = token_with(json!({"role": "admin", "first_name": "Ada", "last_name": "L"}))
            .with_client_id("machine")
            .user()
            .unwrap();
        assert_eq!(user.user_id, "machine");
        assert_eq!(user.roles, ["admin"]);
        assert_eq!(user.name.as_deref(), Some("Ada L"));
        assert!(user.require_role("admin").is_ok());
        assert_eq!(
            user.require_permission("x").unwrap_err().to_string(),
            "forbidden: this operation requires the permission 'x'"
        );
    }

    #[test]
    fn no_subject_no_user() {
        assert!(token_with(json!({})).user().is_none());
    }

    #[test]
    fn hostile_claim_types_are_ignored() {
        let user = token_with(
            json!({"sub": "u", "roles": [1, {"a": 2}, "ok"], "email": 5, "email_verified": "maybe"}),
        )
        .user()
        .unwrap();
        assert_eq!(user.roles, ["ok"]);
        assert_eq!(user.email, None);
        assert_eq!(user.email_verified, None);
    }
}
