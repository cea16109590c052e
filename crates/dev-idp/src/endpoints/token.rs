//! The token endpoint: authorization code (PKCE S256), refresh token (with rotation and reuse
//! detection), client credentials.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::authorize::check_resource;
use super::{AppState, OAuthError, authenticate_client, form_params, no_store};
use crate::server::{ClientRecord, Inner};
use crate::tokens::{self, Subject, UserGrant};
use crate::util::{
    Params, constant_time_eq, hash_key, is_valid_code_verifier, is_valid_scope, s256_challenge,
};

/// `POST /oauth2/token`.
pub(super) async fn token(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&inner, &headers, body).await {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("the grant_type parameter is missing"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token" | "client_credentials") {
        return Err(OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant_type {grant_type:?} is not supported"),
        ));
    }
    let (client, _method) = authenticate_client(inner, headers, &params).await?;
    let span = tracing::info_span!("token", grant_type, client_id = %client.client_id);
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            format!("this client is not registered for the {grant_type} grant"),
        ));
    }
    let work = async {
        match grant_type {
            "authorization_code" => authorization_code(inner, &client, &params).await,
            "refresh_token" => refresh_token(inner, &client, &params).await,
            _ => client_credentials(inner, &client, &params),
        }
    };
    work.instrument(span).await
}

fn requested_resource(params: &Params) -> Result<Option<&str>, OAuthError> {
    match params.get("resource") {
        Some(resource) => {
            check_resource(resource).map_err(|e| OAuthError::bad_request("invalid_target", e))?;
            Ok(Some(resource))
        }
        None => Ok(None),
    }
}

/// RFC 8707 at the token endpoint: a requested resource must be the one the grant was for.
fn check_same_resource(requested: Option<&str>, granted: Option<&str>) -> Result<(), OAuthError> {
    match requested {
        Some(requested) if Some(requested) != granted => Err(OAuthError::bad_request(
            "invalid_target",
            "the resource differs from the one this grant was authorized for",
        )),
        _ => Ok(()),
    }
}

async fn authorization_code(
    inner: &Inner,
    client: &ClientRecord,
    params: &Params,
) -> Result<Value, OAuthError> {
    let code = params.require("code").map_err(OAuthError::invalid_request)?;
    let redirect_uri = params.require("redirect_uri").map_err(OAuthError::invalid_request)?;
    let requested = requested_resource(params)?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_grant("code_verifier is required (PKCE)"))?;
    let key = hash_key(code);
    let Some(grant) = inner.store.codes.take(&key).await? else {
        // A code seen before: revoke what it produced (RFC 6749 §4.1.2).
        if let Some(sid) = inner.store.codes_used.get(&key).await? {
            tracing::warn!("authorization code reused; revoking the tokens issued from it");
            tokens::revoke_session(inner, &sid).await?;
        }
        return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
    };
    inner.store.codes_used.put(&key, &grant.sid, Some(inner.refresh_ttl)).await?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if grant.expires_at <= inner.now() {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's"));
    }
    if !is_valid_code_verifier(verifier)
        || !constant_time_eq(s256_challenge(verifier).as_bytes(), grant.code_challenge.as_bytes())
    {
        return Err(OAuthError::invalid_grant("the code_verifier does not match the code_challenge"));
    }
    check_same_resource(requested, grant.resource.as_deref())?;
    let user = inner
        .user_by_id(&grant.user_id)
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let body = tokens::issue_user_tokens(
        inner,
        &UserGrant {
            user,
            client_id: &client.client_id,
            scope: &grant.scope,
            resource: grant.resource.as_deref(),
            sid: &grant.sid,
            nonce: grant.nonce.as_deref(),
            auth_time: grant.auth_time,
        },
    )
    .await?;
    tracing::info!(user = %user.id, "code exchanged");
    Ok(body)
}

async fn refresh_token(inner: &Inner, client: &ClientRecord, params: &Params) -> Result<Value, OAuthError> {
    let refresh = params.require("refresh_token").map_err(OAuthError::invalid_request)?;
    let requested = requested_resource(params)?;
    let key = hash_key(refresh);
    let Some(grant) = inner.store.refresh.take(&key).await? else {
        if let Some(sid) = inner.store.refresh_used.get(&key).await? {
            tracing::warn!("rotated refresh token reused; revoking its whole token family");
            tokens::revoke_session(inner, &sid).await?;
            return Err(OAuthError::invalid_grant(
                "this refresh token was already used; every token of its grant is now revoked",
            ));
        }
        return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
    };
    let put_back = || async {
        let remaining = grant.expires_at.saturating_sub(inner.now()).max(1);
        inner.store.refresh.put(&key, &grant, Some(std::time::Duration::from_secs(remaining))).await
    };
    if grant.client_id != client.client_id {
        put_back().await?;
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    if grant.expires_at <= inner.now() {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    if inner.store.revoked_sessions.get(&grant.sid).await?.is_some() {
        return Err(OAuthError::invalid_grant("the refresh token has been revoked"));
    }
    let scope = match params.get("scope") {
        Some(asked) => {
            let granted: Vec<&str> = grant.scope.split(' ').collect();
            if !is_valid_scope(asked) || !asked.split(' ').all(|s| granted.contains(&s)) {
                put_back().await?;
                return Err(OAuthError::bad_request(
                    "invalid_scope",
                    "a refresh cannot widen the granted scope",
                ));
            }
            asked.to_owned()
        }
        None => grant.scope.clone(),
    };
    if let Err(error) = check_same_resource(requested, grant.resource.as_deref()) {
        put_back().await?;
        return Err(error);
    }
    let Some(user) = inner.user_by_id(&grant.user_id) else {
        return Err(OAuthError::invalid_grant("the user no longer exists"));
    };
    let remaining = grant.expires_at.saturating_sub(inner.now()).max(1);
    inner.store.refresh_used.put(&key, &grant.sid, Some(std::time::Duration::from_secs(remaining))).await?;
    let body = tokens::issue_user_tokens(
        inner,
        &UserGrant {
            user,
            client_id: &client.client_id,
            scope: &scope,
            resource: grant.resource.as_deref(),
            sid: &grant.sid,
            nonce: None,
            auth_time: grant.auth_time,
        },
    )
    .await?;
    tracing::info!(user = %user.id, "refresh token rotated");
    Ok(body)
}

fn client_credentials(inner: &Inner, client: &ClientRecord, params: &Params) -> Result<Value, OAuthError> {
    if !client.is_confidential() {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            "public clients cannot use client_credentials",
        ));
    }
    let scope = params.get("scope").unwrap_or_default();
    if !scope.is_empty() && !is_valid_scope(scope) {
        return Err(OAuthError::bad_request("invalid_scope", "the scope parameter is malformed"));
    }
    let resource = requested_resource(params)?;
    let (access_token, _) = tokens::sign_access_token(
        inner,
        &Subject::Client(&client.client_id),
        &client.client_id,
        scope,
        resource,
        None,
    )?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": inner.access_ttl.as_secs().max(1),
    });
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    Ok(body)
}
