//! `POST /oauth2/token`: the authorization code (PKCE S256), refresh token (rotation with reuse
//! detection), client credentials and token-exchange (RFC 8693, in `exchange`) grants, by the kit's
//! blocks.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mcp_auth_oauth_server::openidconnect::core::CoreGrantType;
use mcp_auth_oauth_server::{
    Client, DEFAULT_MAX_FORM_BYTES, OAuthError, TokenRequest, TokenResponse, authenticate_client,
    check_same_resource, narrow_scopes, read_form, token_exchange_grant,
};
use tracing::Instrument as _;

use super::AppState;
use super::exchange::{ExchangeRequest, token_exchange};
use crate::idp::Inner;
use crate::tokens::{self, Subject};

fn grants() -> [CoreGrantType; 4] {
    [
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
        token_exchange_grant(),
    ]
}

pub(super) async fn token(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match handle(&inner, &headers, body).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle(inner: &Inner, headers: &HeaderMap, body: Body) -> Result<TokenResponse, OAuthError> {
    let params = read_form(headers, body, DEFAULT_MAX_FORM_BYTES).await?;
    let grant = TokenRequest::grant_type(&params, &grants())?;
    if grant == token_exchange_grant() {
        // Counted before anything can refuse it: tests count every exchange that reached the server.
        inner.token_exchanges.fetch_add(1, Ordering::Relaxed);
    }
    let client = authenticate_client(&inner.registry, headers, &params).await?.client;
    let span = tracing::info_span!("token", grant_type = grant.as_ref(), client_id = %client.client_id);
    if !client.allows_grant(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client is not registered for the {} grant",
            grant.as_ref()
        )));
    }
    let request = TokenRequest::parse(&params, &grant)?;
    async {
        match request {
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
            TokenRequest::ClientCredentials { scope, resource } => {
                client_credentials(inner, &client, scope.as_deref(), resource.as_deref())
            }
            TokenRequest::TokenExchange {
                subject_token,
                subject_token_type,
                requested_token_type,
                resource,
                audience,
                scope,
                actor_token,
            } => {
                let request = ExchangeRequest {
                    subject_token,
                    subject_token_type,
                    requested_token_type,
                    resource,
                    audience,
                    scope,
                    actor_token,
                };
                token_exchange(inner, &client, request).await
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
) -> Result<TokenResponse, OAuthError> {
    let resource = inner.authorize_policy.resources.check(resource)?;
    let state = inner.state().await?;
    let grant = state.grants.redeem_code(code, client, redirect_uri, verifier, resource.as_deref()).await?;
    let user = inner
        .user_by_id(&grant.subject)
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let nonce = grant.nonce.clone();
    let (family, refresh_token) = state.grants.start_family(grant).await?;
    tracing::info!(user = %user.id, "code exchanged");
    tokens::user_tokens(inner, user, &family, &family.scopes, &refresh_token, nonce.as_deref())
}

async fn refresh(
    inner: &Inner,
    client: &Client,
    refresh_token: &str,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let resource = inner.authorize_policy.resources.check(resource)?;
    let state = inner.state().await?;
    // Everything that can refuse the request runs before the rotation, so a refused request does not
    // spend the token.
    let rotation = state
        .grants
        .rotate_refresh(refresh_token, client, |family| {
            check_same_resource(resource.as_deref(), family.resource.as_deref())?;
            if inner.user_by_id(&family.subject).is_none() {
                return Err(OAuthError::invalid_grant("the user no longer exists"));
            }
            narrow_scopes(scope, &family.scopes)
        })
        .await?;
    let user = inner
        .user_by_id(&rotation.family.subject)
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    tokens::user_tokens(inner, user, &rotation.family, &rotation.checked, &rotation.refresh_token, None)
}

fn client_credentials(
    inner: &Inner,
    client: &Client,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let scopes = inner.authorize_policy.scopes.check_request(scope.unwrap_or_default())?;
    let resource = inner.authorize_policy.resources.check(resource)?;
    let access = tokens::sign_access(
        inner,
        &Subject::Client(&client.client_id),
        &client.client_id,
        &scopes,
        resource.as_deref(),
        None,
    )
    .map_err(|error| {
        tracing::error!(%error, "dev IdP could not sign a token");
        OAuthError::server_error()
    })?;
    Ok(TokenResponse::bearer(access.expose(), inner.access_ttl.as_secs()).scope(&scopes.join(" ")))
}
