//! Metadata, JWKS, userinfo, revocation (RFC 7009), introspection (RFC 7662) and the index page.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{AppState, OAuthError, authenticate_client, form_params, no_store};
use crate::server::Inner;
use crate::tokens::{self, TokenRejection};
use crate::util::{hash_key, html_escape};

/// `GET /` : says what this is, and that it is for development only.
pub(super) async fn index(State(inner): State<AppState>) -> Html<String> {
    let users: String = inner
        .users
        .iter()
        .map(|u| {
            format!(
                "<li><code>{}</code> &lt;{}&gt; {}</li>",
                html_escape(&u.id),
                html_escape(&u.email),
                html_escape(&u.roles.join(", "))
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mcp-auth dev IdP</title></head><body>\
         <p style=\"background:#fff3cd;padding:.5rem\"><strong>FOR DEVELOPMENT ONLY.</strong> This identity \
         provider signs in configured users with no real checks. Never use it to protect real data.</p>\
         <h1>mcp-auth dev IdP</h1><p>An OAuth 2.1 / OpenID Connect server with WorkOS AuthKit's endpoint layout.</p>\
         <p>Issuer: <code>{issuer}</code>; metadata at <a href=\"/.well-known/oauth-authorization-server\">\
         /.well-known/oauth-authorization-server</a>; auto-approve: {auto}.</p><h2>Users</h2><ul>{users}</ul>\
         </body></html>",
        issuer = html_escape(&inner.issuer),
        auto = inner.auto_approve,
    ))
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub(super) async fn metadata(State(inner): State<AppState>) -> Response {
    Json(inner.metadata()).into_response()
}

/// `GET /oauth2/jwks`.
pub(super) async fn jwks(State(inner): State<AppState>) -> Response {
    let mut response = Json(inner.keys.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn bearer_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    let mut response = OAuthError::new(status, error, description).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET`/`POST /oauth2/userinfo`: the profile claims of the user a valid access token names.
pub(super) async fn userinfo(State(inner): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        let mut response =
            OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_request", "a Bearer token is required")
                .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    let claims = match tokens::verify_access_token(&inner, token).await {
        Ok(claims) => claims,
        Err(TokenRejection::Invalid(why)) => {
            tracing::debug!(why, "userinfo refused a token");
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid or expired",
            );
        }
        Err(TokenRejection::Store(error)) => return OAuthError::from(error).into_response(),
    };
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    let body = match inner.user_by_id(sub) {
        Some(user) => Value::Object(tokens::profile_claims(user)),
        None => json!({"sub": sub}),
    };
    (no_store(), Json(body)).into_response()
}

/// `POST /oauth2/revoke` (RFC 7009): revokes an access token (by `jti`) or a refresh token (its whole
/// family). Unknown or invalid tokens are answered 200, as the RFC says.
pub(super) async fn revoke(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle_revoke(&inner, &headers, body).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle_revoke(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), OAuthError> {
    let params = form_params(headers, body)?;
    let (client, _) = authenticate_client(inner, headers, &params).await?;
    let token = params.require("token").map_err(OAuthError::invalid_request)?;
    let key = hash_key(token);
    if let Some(grant) = inner.store.refresh.get(&key).await? {
        if grant.client_id != client.client_id {
            return Err(OAuthError::bad_request(
                "unauthorized_client",
                "the token was issued to another client",
            ));
        }
        inner.store.refresh.delete(&key).await?;
        tokens::revoke_session(inner, &grant.sid).await?;
        tracing::info!(client_id = %client.client_id, "refresh token family revoked");
        return Ok(());
    }
    match tokens::verify_access_token(inner, token).await {
        Ok(claims) => {
            if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
                return Err(OAuthError::bad_request(
                    "unauthorized_client",
                    "the token was issued to another client",
                ));
            }
            if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
                let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or_default();
                let ttl = std::time::Duration::from_secs(exp.saturating_sub(inner.now()).max(1) + 60);
                inner.store.revoked_access.put(&hash_key(jti), &true, Some(ttl)).await?;
                tracing::info!(client_id = %client.client_id, "access token revoked");
            }
            Ok(())
        }
        Err(TokenRejection::Invalid(_)) => Ok(()),
        Err(TokenRejection::Store(error)) => Err(error.into()),
    }
}

/// `POST /oauth2/introspection` (RFC 7662). Any registered client may introspect access tokens; refresh
/// tokens only by the client they were issued to.
pub(super) async fn introspect(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle_introspect(&inner, &headers, body).await {
        Ok(body) => (no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle_introspect(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    let (client, _) = authenticate_client(inner, headers, &params).await?;
    let token = params.require("token").map_err(OAuthError::invalid_request)?;
    match tokens::verify_access_token(inner, token).await {
        Ok(claims) => {
            let mut body: Map<String, Value> = claims;
            body.insert("active".into(), json!(true));
            body.insert("token_type".into(), json!("Bearer"));
            return Ok(Value::Object(body));
        }
        Err(TokenRejection::Store(error)) => return Err(error.into()),
        Err(TokenRejection::Invalid(_)) => {}
    }
    if let Some(grant) = inner.store.refresh.get(&hash_key(token)).await?
        && grant.client_id == client.client_id
        && grant.expires_at > inner.now()
        && inner.store.revoked_sessions.get(&grant.sid).await?.is_none()
    {
        let mut body = json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": grant.client_id,
            "sub": grant.user_id,
            "exp": grant.expires_at,
            "iss": inner.issuer,
            "sid": grant.sid,
        });
        if !grant.scope.is_empty() {
            body["scope"] = json!(grant.scope);
        }
        return Ok(body);
    }
    Ok(json!({"active": false}))
}
