//! AuthKit-shaped tokens, signed and checked through `mcp-auth-jwt`'s [`JwtIssuer`](mcp_auth_jwt::JwtIssuer).

use std::time::{Duration, UNIX_EPOCH};

use mcp_auth_core::AccessToken;
use mcp_auth_jwt::{IdTokenRequest, IssuedToken, JwtError, TokenRequest};
use mcp_auth_oauth_server::{OAuthError, RefreshFamily, TokenResponse};
use serde_json::{Map, Value, json};

use crate::config::DevUser;
use crate::idp::Inner;

/// Who a token is about.
#[derive(Debug)]
pub(crate) enum Subject<'a> {
    User(&'a DevUser),
    Client(&'a str),
}

pub(crate) fn signing_failed(error: JwtError) -> OAuthError {
    tracing::error!(%error, "dev IdP could not sign a token");
    OAuthError::server_error()
}

/// Signs an AuthKit-shaped access token (`iss`, `sub`, `aud`, `client_id`, `scope`, `org_id`, `roles`,
/// `role`, `permissions`, `sid`, `jti`, `iat`, `exp`). The audience is the RFC 8707 resource, else the
/// default audience, else none.
pub(crate) fn sign_access(
    inner: &Inner,
    subject: &Subject<'_>,
    client_id: &str,
    scopes: &[String],
    resource: Option<&str>,
    sid: Option<&str>,
) -> Result<IssuedToken, JwtError> {
    inner.jwt.sign_access(&access_request(inner, subject, client_id, scopes, resource, sid))
}

/// The claims [`sign_access`] signs, for grants that add their own (token exchange adds `act`).
pub(crate) fn access_request(
    inner: &Inner,
    subject: &Subject<'_>,
    client_id: &str,
    scopes: &[String],
    resource: Option<&str>,
    sid: Option<&str>,
) -> TokenRequest {
    let sub = match subject {
        Subject::User(user) => user.id.as_str(),
        Subject::Client(id) => id,
    };
    let mut request = TokenRequest::new(sub).client_id(client_id).scopes(scopes.iter().cloned());
    if let Some(audience) = resource.or(inner.default_audience.as_deref()) {
        request = request.audience(audience);
    }
    if let Subject::User(user) = subject {
        if let Some(org) = &user.org_id {
            request = request.claim("org_id", org.clone());
        }
        if let Some(first) = user.roles.first() {
            request = request.claim("roles", json!(user.roles)).claim("role", first.clone());
        }
        if !user.permissions.is_empty() {
            request = request.claim("permissions", json!(user.permissions));
        }
    }
    if let Some(sid) = sid {
        request = request.claim("sid", sid);
    }
    request
}

/// The OpenID profile and email claims of a user, as userinfo returns them.
pub(crate) fn profile_claims(user: &DevUser) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id));
    claims.insert("email".into(), json!(user.email));
    claims.insert("email_verified".into(), json!(user.email_verified));
    if let Some(name) = user.display_name() {
        claims.insert("name".into(), json!(name));
    }
    for (key, value) in
        [("given_name", &user.given_name), ("family_name", &user.family_name), ("picture", &user.picture)]
    {
        if let Some(value) = value {
            claims.insert(key.into(), json!(value));
        }
    }
    claims
}

/// The token answer for a user grant: an access token with `scopes` (possibly narrowed from the
/// family's), the family's new refresh token, and an ID token when `openid` is among the scopes.
pub(crate) fn user_tokens(
    inner: &Inner,
    user: &DevUser,
    family: &RefreshFamily<()>,
    scopes: &[String],
    refresh_token: &str,
    nonce: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let access = sign_access(
        inner,
        &Subject::User(user),
        &family.client_id,
        scopes,
        family.resource.as_deref(),
        Some(&family.sid),
    )
    .map_err(signing_failed)?;
    let mut response = TokenResponse::bearer(access.expose(), inner.access_ttl.as_secs())
        .refresh_token(refresh_token)
        .scope(&scopes.join(" "));
    if scopes.iter().any(|s| s == "openid") {
        let mut request = IdTokenRequest::new(
            &user.id,
            &family.client_id,
            UNIX_EPOCH + Duration::from_secs(family.auth_time),
        )
        .sid(&family.sid)
        .access_token(access.expose());
        if let Some(nonce) = nonce {
            request = request.nonce(nonce);
        }
        for (name, value) in profile_claims(user) {
            if name != "sub" {
                request = request.claim(name, value);
            }
        }
        if let Some(org) = &user.org_id {
            request = request.claim("org_id", org.clone());
        }
        let id_token = inner.jwt.sign_id_token(&request).map_err(signing_failed)?;
        response = response.id_token(id_token.expose());
    }
    Ok(response)
}

/// Why a presented access token is not accepted.
#[derive(Debug)]
pub(crate) enum TokenRejection {
    /// Not a valid, live access token of this issuer (logged at debug).
    Invalid(&'static str),
    /// The store failed while checking revocation.
    Failed(OAuthError),
}

impl From<OAuthError> for TokenRejection {
    fn from(error: OAuthError) -> Self {
        Self::Failed(error)
    }
}

impl From<mcp_auth_core::StoreError> for TokenRejection {
    fn from(error: mcp_auth_core::StoreError) -> Self {
        Self::Failed(error.into())
    }
}

/// Checks one of our access tokens: signature by a published key, issuer, expiry on our clock and token
/// type (all through [`JwtIssuer::verify_own_access_token`](mcp_auth_jwt::JwtIssuer::verify_own_access_token)),
/// a `client_id`, and no revocation (by `jti` or by its session).
pub(crate) async fn verify_access_token(inner: &Inner, token: &str) -> Result<AccessToken, TokenRejection> {
    let access = inner.jwt.verify_own_access_token(token).await.map_err(|error| {
        tracing::debug!(%error, "token refused");
        TokenRejection::Invalid("not a valid access token of this issuer")
    })?;
    if access.client_id.is_none() {
        return Err(TokenRejection::Invalid("not an access token"));
    }
    let jti = access.claim("jti").and_then(Value::as_str);
    let sid = access.claim("sid").and_then(Value::as_str);
    let state = inner.state().await?;
    if state.grants.is_access_token_revoked(jti, sid).await? {
        return Err(TokenRejection::Invalid("revoked"));
    }
    Ok(access)
}
