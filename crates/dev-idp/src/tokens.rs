//! Grant records and token minting: AuthKit-shaped access tokens, ID tokens, refresh tokens.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::DevUser;
use crate::error::DevIdpError;
use crate::server::Inner;
use crate::util::{at_hash, hash_key, random_token};

/// An authorization waiting for the person on the login and consent pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingAuthorization {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) resource: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) csrf: String,
    pub(crate) user_id: Option<String>,
}

/// What an authorization code stands for. Stored under the code's SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) resource: Option<String>,
    pub(crate) sid: String,
    pub(crate) auth_time: u64,
    pub(crate) expires_at: u64,
}

/// What a refresh token stands for. Stored under the token's SHA-256. The `sid` names the token
/// family: every token issued from one authorization shares it, and revoking it revokes them all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scope: String,
    pub(crate) resource: Option<String>,
    pub(crate) sid: String,
    pub(crate) auth_time: u64,
    pub(crate) expires_at: u64,
}

/// Who a token is about.
#[derive(Debug)]
pub(crate) enum Subject<'a> {
    User(&'a DevUser),
    Client(&'a str),
}

/// Signs an AuthKit-shaped access token; returns it with its `exp`.
pub(crate) fn sign_access_token(
    inner: &Inner,
    subject: &Subject<'_>,
    client_id: &str,
    scope: &str,
    resource: Option<&str>,
    sid: Option<&str>,
) -> Result<(String, u64), DevIdpError> {
    let iat = inner.now();
    let exp = iat.saturating_add(inner.access_ttl.as_secs().max(1));
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(inner.issuer));
    match subject {
        Subject::User(user) => {
            claims.insert("sub".into(), json!(user.id));
        }
        Subject::Client(id) => {
            claims.insert("sub".into(), json!(id));
        }
    }
    if let Some(aud) = resource.or(inner.default_audience.as_deref()) {
        claims.insert("aud".into(), json!(aud));
    }
    claims.insert("client_id".into(), json!(client_id));
    if !scope.is_empty() {
        claims.insert("scope".into(), json!(scope));
    }
    if let Subject::User(user) = subject {
        if let Some(org) = &user.org_id {
            claims.insert("org_id".into(), json!(org));
        }
        if !user.roles.is_empty() {
            claims.insert("roles".into(), json!(user.roles));
            if let Some(first) = user.roles.first() {
                claims.insert("role".into(), json!(first));
            }
        }
        if !user.permissions.is_empty() {
            claims.insert("permissions".into(), json!(user.permissions));
        }
    }
    if let Some(sid) = sid {
        claims.insert("sid".into(), json!(sid));
    }
    claims.insert("jti".into(), json!(random_token(16)));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(exp));
    Ok((inner.keys.sign(&claims)?, exp))
}

/// Signs an OpenID Connect ID token for `user`, audience `client_id`.
pub(crate) fn sign_id_token(
    inner: &Inner,
    user: &DevUser,
    client_id: &str,
    nonce: Option<&str>,
    sid: &str,
    auth_time: u64,
    access_token: &str,
) -> Result<String, DevIdpError> {
    let iat = inner.now();
    let mut claims = profile_claims(user);
    claims.insert("iss".into(), json!(inner.issuer));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(iat.saturating_add(inner.access_ttl.as_secs().max(1))));
    claims.insert("auth_time".into(), json!(auth_time));
    claims.insert("sid".into(), json!(sid));
    claims.insert("at_hash".into(), json!(at_hash(access_token)));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(org) = &user.org_id {
        claims.insert("org_id".into(), json!(org));
    }
    inner.keys.sign(&claims)
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

/// What [`issue_user_tokens`] needs.
#[derive(Debug)]
pub(crate) struct UserGrant<'a> {
    pub(crate) user: &'a DevUser,
    pub(crate) client_id: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) resource: Option<&'a str>,
    pub(crate) sid: &'a str,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) auth_time: u64,
}

/// Issues an access token, a new refresh token (stored under its hash) and, for `openid`, an ID token.
/// Returns the RFC 6749 §5.1 token response body.
pub(crate) async fn issue_user_tokens(inner: &Inner, grant: &UserGrant<'_>) -> Result<Value, DevIdpError> {
    let (access_token, _) = sign_access_token(
        inner,
        &Subject::User(grant.user),
        grant.client_id,
        grant.scope,
        grant.resource,
        Some(grant.sid),
    )?;
    let refresh_token = format!("rt_{}", random_token(32));
    let record = RefreshGrant {
        client_id: grant.client_id.to_owned(),
        user_id: grant.user.id.clone(),
        scope: grant.scope.to_owned(),
        resource: grant.resource.map(str::to_owned),
        sid: grant.sid.to_owned(),
        auth_time: grant.auth_time,
        expires_at: inner.now().saturating_add(inner.refresh_ttl.as_secs()),
    };
    inner.store.refresh.put(&hash_key(&refresh_token), &record, Some(inner.refresh_ttl)).await?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": inner.access_ttl.as_secs().max(1),
        "refresh_token": refresh_token,
    });
    if !grant.scope.is_empty() {
        body["scope"] = json!(grant.scope);
    }
    if grant.scope.split(' ').any(|s| s == "openid") {
        body["id_token"] = json!(sign_id_token(
            inner,
            grant.user,
            grant.client_id,
            grant.nonce,
            grant.sid,
            grant.auth_time,
            &access_token
        )?);
    }
    Ok(body)
}

/// Why a presented access token is not accepted.
#[derive(Debug)]
pub(crate) enum TokenRejection {
    Invalid(&'static str),
    Store(DevIdpError),
}

impl From<mcp_auth_core::StoreError> for TokenRejection {
    fn from(e: mcp_auth_core::StoreError) -> Self {
        Self::Store(e.into())
    }
}

/// Verifies one of our access tokens: signature by a published key, issuer, expiry on our clock, not
/// revoked (by `jti` or by its session). Returns its claims.
pub(crate) async fn verify_access_token(
    inner: &Inner,
    token: &str,
) -> Result<Map<String, Value>, TokenRejection> {
    if token.len() > 16 * 1024 {
        return Err(TokenRejection::Invalid("the token is too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid("not a JWT"))?;
    if header.alg != Algorithm::RS256 {
        return Err(TokenRejection::Invalid("unexpected algorithm"));
    }
    let kid = header.kid.ok_or(TokenRejection::Invalid("no kid"))?;
    let key = inner.keys.decoding_key(&kid).ok_or(TokenRejection::Invalid("unknown key"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.set_issuer(&[&inner.issuer]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|_| TokenRejection::Invalid("bad signature or claims"))?;
    let claims = data.claims;
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or(TokenRejection::Invalid("bad exp"))?;
    if exp <= inner.now() {
        return Err(TokenRejection::Invalid("expired"));
    }
    // ID tokens carry no client_id: they are not access tokens.
    if !claims.get("client_id").is_some_and(Value::is_string) {
        return Err(TokenRejection::Invalid("not an access token"));
    }
    if let Some(jti) = claims.get("jti").and_then(Value::as_str)
        && inner.store.revoked_access.get(&hash_key(jti)).await?.is_some()
    {
        return Err(TokenRejection::Invalid("revoked"));
    }
    if let Some(sid) = claims.get("sid").and_then(Value::as_str)
        && inner.store.revoked_sessions.get(sid).await?.is_some()
    {
        return Err(TokenRejection::Invalid("session revoked"));
    }
    Ok(claims)
}

/// Revokes every token of the family `sid`.
pub(crate) async fn revoke_session(inner: &Inner, sid: &str) -> Result<(), DevIdpError> {
    let ttl = inner.refresh_ttl.max(inner.access_ttl) + Duration::from_secs(60);
    inner.store.revoked_sessions.put(sid, &true, Some(ttl)).await?;
    Ok(())
}
