//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspection` (RFC 7662).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_auth_oauth_server::{DEFAULT_MAX_FORM_BYTES, OAuthError, authenticate_client, no_store, read_form};
use serde_json::{Value, json};

use super::AppState;
use crate::idp::Inner;
use crate::tokens::{self, TokenRejection};

/// Revokes a refresh token (its whole family) or an access token (by `jti`). Unknown or invalid tokens
/// are answered 200, as RFC 7009 §2.2 says.
pub(super) async fn revoke(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match handle_revoke(&inner, &headers, body).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle_revoke(inner: &Inner, headers: &HeaderMap, body: Body) -> Result<(), OAuthError> {
    let params = read_form(headers, body, DEFAULT_MAX_FORM_BYTES).await?;
    let client = authenticate_client(&inner.registry, headers, &params).await?.client;
    let token = params.require("token")?;
    let state = inner.state().await?;
    if state.grants.revoke_refresh(token, &client).await? {
        tracing::info!(client_id = %client.client_id, "refresh token family revoked");
        return Ok(());
    }
    match tokens::verify_access_token(inner, token).await {
        Ok(access) => {
            if access.client_id.as_deref() != Some(client.client_id.as_str()) {
                return Err(OAuthError::unauthorized_client("the token was issued to another client"));
            }
            if let Some(jti) = access.claim("jti").and_then(Value::as_str) {
                let exp = access.claim("exp").and_then(Value::as_u64).unwrap_or_default();
                state.grants.revoke_access_token(jti, exp).await?;
                tracing::info!(client_id = %client.client_id, "access token revoked");
            }
            Ok(())
        }
        Err(TokenRejection::Invalid(_)) => Ok(()),
        Err(TokenRejection::Failed(error)) => Err(error),
    }
}

/// Any registered client may introspect access tokens; refresh tokens only by the client they were
/// issued to.
pub(super) async fn introspect(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match handle_introspect(&inner, &headers, body).await {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle_introspect(inner: &Inner, headers: &HeaderMap, body: Body) -> Result<Value, OAuthError> {
    let params = read_form(headers, body, DEFAULT_MAX_FORM_BYTES).await?;
    let client = authenticate_client(&inner.registry, headers, &params).await?.client;
    let token = params.require("token")?;
    match tokens::verify_access_token(inner, token).await {
        Ok(access) => {
            let mut body = (*access.claims).clone();
            body.insert("active".into(), json!(true));
            body.insert("token_type".into(), json!("Bearer"));
            return Ok(Value::Object(body));
        }
        Err(TokenRejection::Failed(error)) => return Err(error),
        Err(TokenRejection::Invalid(_)) => {}
    }
    let state = inner.state().await?;
    if let Some(family) = state.grants.refresh_family(token, &client).await? {
        let mut body = json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": family.client_id,
            "sub": family.subject,
            "exp": family.expires_at,
            "iss": inner.issuer,
            "sid": family.sid,
        });
        if !family.scopes.is_empty() {
            body["scope"] = json!(family.scopes.join(" "));
        }
        return Ok(body);
    }
    Ok(json!({"active": false}))
}
