//! `POST /token`: the authorization code (PKCE S256, single use across instances) and refresh token
//! (rotation with a grace window, the upstream refreshed once when near expiry) grants. The answers carry
//! the proxy's own tokens; upstream tokens never leave the store. `Cache-Control: no-store` always.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mcp_auth_oauth_server::openidconnect::core::CoreGrantType;
use mcp_auth_oauth_server::{
    Client, DEFAULT_MAX_FORM_BYTES, OAuthError, Refreshed, TokenRequest, authenticate_client,
    check_same_resource, narrow_scopes, no_store, read_form,
};
use tracing::Instrument as _;

use super::AppState;
use crate::grant::{answer, fresh_upstream, upstream_ttl};
use crate::proxy::Inner;

const GRANTS: [CoreGrantType; 2] = [CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken];

pub(super) async fn token(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match handle(&inner, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(inner: &Arc<Inner>, headers: &HeaderMap, body: Body) -> Result<Response, OAuthError> {
    let params = read_form(headers, body, DEFAULT_MAX_FORM_BYTES).await?;
    let grant = TokenRequest::grant_type(&params, &GRANTS)?;
    let client = authenticate_client(&inner.registry, headers, &params).await?.client;
    if !client.allows_grant(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client is not registered for the {} grant",
            grant.as_ref()
        )));
    }
    let span = tracing::info_span!(
        "token",
        grant_type = grant.as_ref(),
        client_id = %client.client_id,
        user_id = tracing::field::Empty,
    );
    async {
        match TokenRequest::parse(&params, &grant)? {
            TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resource } => {
                authorization_code(
                    inner,
                    &client,
                    &code,
                    &redirect_uri,
                    code_verifier.as_deref(),
                    resource.as_deref(),
                )
                .await
            }
            TokenRequest::RefreshToken { refresh_token, scope, resource } => {
                refresh(inner, &client, &refresh_token, scope.as_deref(), resource.as_deref()).await
            }
            _ => Err(OAuthError::unsupported_grant_type("this grant is not supported")),
        }
    }
    .instrument(span)
    .await
}

async fn authorization_code(
    inner: &Inner,
    client: &Client,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
    resource: Option<&str>,
) -> Result<Response, OAuthError> {
    let resource = inner.authorize_policy.resources.check(resource)?;
    let state = inner.state().await?;
    let grant = state.grants.redeem_code(code, client, redirect_uri, verifier, resource.as_deref()).await?;
    let (family, refresh_token) = state.grants.start_family(grant).await?;
    let Some(upstream) = state.upstream.get(&family.extra.upstream_id).await? else {
        state.grants.revoke_session(&family.sid).await?;
        return Err(OAuthError::invalid_grant("the sign-in behind this code has ended; sign in again"));
    };
    // The upstream record was kept only as long as the code; it now lives as long as the grant.
    state.upstream.put(&family.extra.upstream_id, &upstream, Some(upstream_ttl(inner))).await?;
    tracing::Span::current().record("user_id", upstream.user.user_id.as_str());
    tracing::info!("code exchanged");
    Ok(answer(inner, &family, &family.scopes, &upstream.user, &refresh_token)?.into_response())
}

async fn refresh(
    inner: &Arc<Inner>,
    client: &Client,
    refresh_token: &str,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<Response, OAuthError> {
    let resource = inner.authorize_policy.resources.check(resource)?;
    let state = inner.state().await?;
    // The upstream goes first: when it is down the client's token is not spent, and when it refuses
    // the grant ends. A spent token within the grace window skips this (its rotation did it).
    if let Some(family) = state.grants.refresh_family(refresh_token, client).await? {
        fresh_upstream(inner, state, &family).await?;
    }
    let refreshed = state
        .grants
        .rotate_refresh_with_grace(refresh_token, client, |family| {
            check_same_resource(resource.as_deref(), family.resource.as_deref())?;
            narrow_scopes(scope, &family.scopes)
        })
        .await?;
    match refreshed {
        Refreshed::Rotated(rotation) => {
            let Some(upstream) = state.upstream.get(&rotation.family.extra.upstream_id).await? else {
                state.grants.revoke_session(&rotation.family.sid).await?;
                return Err(OAuthError::invalid_grant(
                    "the sign-in behind this grant has ended; sign in again",
                ));
            };
            tracing::Span::current().record("user_id", upstream.user.user_id.as_str());
            let response =
                answer(inner, &rotation.family, &rotation.checked, &upstream.user, &rotation.refresh_token)?;
            // The rotation is done: a failure to remember its answer must not lose it (a retry then waits
            // out the grace window's answer and is told to try again).
            if let Err(error) = state.grants.remember_rotation(refresh_token, &response.body()).await {
                tracing::warn!(error = %error.description(), "could not remember a rotation's answer for retries");
            }
            Ok(response.into_response())
        }
        Refreshed::Replayed(body) => Ok((no_store(), Json(body)).into_response()),
        _ => Err(OAuthError::server_error()),
    }
}
