//! What the token, callback and revocation endpoints share: the user resolved from the upstream's
//! token, the proxy's access tokens, the upstream refresh done once across every instance, and the
//! retirement of a grant's upstream side.

use std::time::Duration;

use mcp_auth_core::AuthUser;
use mcp_auth_jwt::TokenRequest as SignRequest;
use mcp_auth_oauth_server::{OAuthError, RefreshFamily, TokenResponse};
use serde_json::{Value, json};
use tracing::Instrument as _;

use std::sync::Arc;

use crate::proxy::{Inner, random};
use crate::state::{ProxyGrant, StoreState, UpstreamGrant};
use crate::upstream::{UpstreamFailure, UpstreamTokens, access_token, refresh_token};

/// How long one instance may hold a grant's upstream refresh lease.
const LEASE_TTL: Duration = Duration::from_secs(60);
/// How long a refresh waits for another instance's upstream refresh to finish.
const LEASE_WAIT: Duration = Duration::from_secs(15);
const LEASE_POLL: Duration = Duration::from_millis(25);

/// Checks an upstream access token with the upstream verifier and reads the user from it.
pub(crate) async fn resolve_user(inner: &Inner, tokens: &UpstreamTokens) -> Result<AuthUser, OAuthError> {
    let verified = inner.upstream_verifier.verify(&tokens.access_token).await.map_err(|error| {
        if error.is_unavailable() {
            tracing::warn!(%error, "the upstream token could not be checked now");
            OAuthError::temporarily_unavailable(5)
        } else {
            tracing::error!(%error, "the upstream issued a token its verifier refuses; check the upstream verifier's issuer and audience");
            OAuthError::server_error()
        }
    })?;
    AuthUser::from_token(&verified).ok_or_else(|| {
        tracing::error!("the upstream token names no user");
        OAuthError::server_error()
    })
}

/// The identity claims the proxy's tokens carry, so tools read the user with no lookup.
fn user_claims(user: &AuthUser) -> Vec<(&'static str, Value)> {
    let mut claims = Vec::new();
    let mut add = |name, value: Option<Value>| {
        if let Some(value) = value {
            claims.push((name, value));
        }
    };
    add("email", user.email.clone().map(Value::from));
    add("email_verified", user.email_verified.map(Value::from));
    add("name", user.name.clone().map(Value::from));
    add("preferred_username", user.username.clone().map(Value::from));
    add("picture", user.picture.clone().map(Value::from));
    add("org_id", user.organization_id.clone().map(Value::from));
    if !user.roles.is_empty() {
        add("roles", Some(json!(user.roles)));
        add("role", user.roles.first().cloned().map(Value::from));
    }
    if !user.permissions.is_empty() {
        add("permissions", Some(json!(user.permissions)));
    }
    claims
}

/// The token answer: a fresh access token for `scopes` and the family's refresh token.
pub(crate) fn answer(
    inner: &Inner,
    family: &RefreshFamily<ProxyGrant>,
    scopes: &[String],
    user: &AuthUser,
    refresh: &str,
) -> Result<TokenResponse, OAuthError> {
    let mut request = SignRequest::new(user.user_id.clone())
        .client_id(family.client_id.clone())
        .scopes(scopes.iter().cloned())
        .audience(inner.resource.as_str())
        .claim("sid", family.sid.clone());
    for (name, value) in user_claims(user) {
        request = request.claim(name, value);
    }
    let access = inner.signer.sign_access(&request).map_err(|error| {
        tracing::error!(%error, "the proxy could not sign an access token");
        OAuthError::server_error()
    })?;
    Ok(TokenResponse::bearer(access.expose(), inner.lifetimes.access.as_secs())
        .refresh_token(refresh)
        .scope(&scopes.join(" ")))
}

/// How long the upstream record of a grant is kept: as long as the grant can be refreshed.
pub(crate) fn upstream_ttl(inner: &Inner) -> Duration {
    inner.lifetimes.refresh.saturating_add(Duration::from_secs(3600))
}

/// The grant's upstream record, its tokens refreshed first when they are within the margin of expiry.
/// Of any number of instances refreshing the same grant at once, one holds the lease and calls the
/// upstream; the others wait for its result. An upstream that refuses ends the grant (`invalid_grant`);
/// an upstream that is down answers `temporarily_unavailable` with `Retry-After`, never `invalid_grant`.
pub(crate) async fn fresh_upstream(
    inner: &Arc<Inner>,
    state: &StoreState,
    family: &RefreshFamily<ProxyGrant>,
) -> Result<UpstreamGrant, OAuthError> {
    let id = &family.extra.upstream_id;
    let ended = || OAuthError::invalid_grant("the sign-in behind this grant has ended; sign in again");
    let deadline = tokio::time::Instant::now() + LEASE_WAIT;
    // The upstream access token as first read: once it changes, another request refreshed while this
    // one waited, and its result is this one's too (whether or not the upstream rotates refresh tokens).
    let mut first_seen: Option<String> = None;
    loop {
        let Some(record) = state.upstream.get(id).await? else { return Err(ended()) };
        let margin = inner.lifetimes.upstream_refresh_margin.as_secs();
        if record.tokens.expires_at > inner.now().saturating_add(margin) {
            return Ok(record);
        }
        let Some(upstream_refresh) = record.tokens.refresh_token.clone() else {
            // Nothing to refresh with: the grant lives as long as the upstream's access token, and no
            // longer, so a sign-in the upstream would not renew is not renewed here either.
            if record.tokens.expires_at <= inner.now() {
                tracing::info!(sid = %family.sid, "the upstream tokens expired and cannot be refreshed; ending the grant");
                state.grants.revoke_session(&family.sid).await?;
                return Err(ended());
            }
            return Ok(record);
        };
        match &first_seen {
            None => first_seen = Some(record.tokens.access_token.clone()),
            Some(seen) if *seen != record.tokens.access_token => return Ok(record),
            Some(_) => {}
        }
        let lease = random(16)?;
        if state.leases.put_if_absent(id, &lease, Some(LEASE_TTL)).await? {
            // The leased work runs in a task of its own: a client hanging up mid-refresh must not cancel
            // it between the upstream's rotation and the store write, which would strand the grant.
            let task = tokio::spawn(leased_refresh(
                Arc::clone(inner),
                family.clone(),
                record.tokens.access_token.clone(),
                upstream_refresh,
                lease,
            ));
            return task.await.unwrap_or_else(|error| {
                tracing::error!(%error, "the upstream refresh task failed");
                Err(OAuthError::server_error())
            });
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(sid = %family.sid, "another instance's upstream refresh did not finish in time");
            return Err(OAuthError::temporarily_unavailable(2));
        }
        tokio::time::sleep(LEASE_POLL).await;
    }
}

/// Under the lease: reads the record again (another instance may have refreshed since), refreshes when
/// still needed, then releases the lease if it is still this request's.
async fn leased_refresh(
    inner: Arc<Inner>,
    family: RefreshFamily<ProxyGrant>,
    seen_access_token: String,
    upstream_refresh: String,
    lease: String,
) -> Result<UpstreamGrant, OAuthError> {
    let state = inner.state().await?;
    let id = &family.extra.upstream_id;
    let margin = inner.lifetimes.upstream_refresh_margin.as_secs();
    let result = match state.upstream.get(id).await? {
        Some(current) if current.tokens.access_token != seen_access_token => Ok(current),
        Some(current) if current.tokens.expires_at > inner.now().saturating_add(margin) => Ok(current),
        Some(current) => refresh_upstream(&inner, state, id, current, &upstream_refresh, &family).await,
        None => Err(OAuthError::invalid_grant("the sign-in behind this grant has ended; sign in again")),
    };
    // Only this request's lease is released: one that outlived its TTL may belong to another by now.
    if let Ok(Some(holder)) = state.leases.get(id).await
        && holder == lease
        && let Err(error) = state.leases.delete(id).await
    {
        tracing::warn!(%error, "could not release an upstream refresh lease; it expires on its own");
    }
    result
}

async fn refresh_upstream(
    inner: &Inner,
    state: &StoreState,
    id: &str,
    current: UpstreamGrant,
    upstream_refresh: &str,
    family: &RefreshFamily<ProxyGrant>,
) -> Result<UpstreamGrant, OAuthError> {
    let span = tracing::info_span!("upstream_refresh", sid = %family.sid);
    match inner.upstream.refresh(upstream_refresh, inner.now()).instrument(span).await {
        Ok(tokens) => {
            let user = match resolve_user(inner, &tokens).await {
                Ok(user) if user.user_id == current.user.user_id => user,
                Ok(_) => {
                    tracing::error!("the upstream refresh answered for another user; ending the grant");
                    state.grants.revoke_session(&family.sid).await?;
                    return Err(OAuthError::invalid_grant(
                        "the sign-in behind this grant has ended; sign in again",
                    ));
                }
                Err(error) => {
                    tracing::warn!(error = %error.description(), "keeping the user as resolved at sign-in");
                    current.user
                }
            };
            let record = UpstreamGrant { tokens, user };
            state.upstream.put(id, &record, Some(upstream_ttl(inner))).await?;
            tracing::info!("upstream tokens refreshed");
            Ok(record)
        }
        Err(UpstreamFailure::Refused { error }) if error != "invalid_grant" => {
            // Not about the grant (a rotated client secret, a firewall's answer): an outage for the user,
            // whose grant must survive it.
            tracing::error!(%error, "the upstream refused the proxy's refresh request; check the upstream client settings");
            Err(OAuthError::temporarily_unavailable(30))
        }
        Err(UpstreamFailure::Refused { error }) => {
            tracing::info!(%error, "the upstream refused the refresh; ending the grant");
            state.grants.revoke_session(&family.sid).await?;
            state.upstream.delete(id).await?;
            Err(OAuthError::invalid_grant("the sign-in behind this grant has ended; sign in again"))
        }
        Err(UpstreamFailure::Unavailable { retry_after }) => {
            Err(OAuthError::temporarily_unavailable(retry_after))
        }
    }
}

/// Removes a grant's upstream record and revokes its upstream tokens (best effort: the mapping is
/// retired even when the upstream refuses or is down).
pub(crate) async fn retire_upstream(
    inner: &Inner,
    state: &StoreState,
    upstream_id: &str,
) -> Result<(), OAuthError> {
    let Some(record) = state.upstream.take(upstream_id).await? else { return Ok(()) };
    let mut revocations = vec![access_token(&record.tokens.access_token)];
    if let Some(token) = &record.tokens.refresh_token {
        revocations.insert(0, refresh_token(token));
    }
    for token in revocations {
        if let Err(error) = inner.upstream.revoke(token).await {
            tracing::info!(
                ?error,
                "the upstream did not confirm a revocation; the mapping is retired anyway"
            );
        }
    }
    Ok(())
}
