//! `GET`/`POST /oauth2/userinfo`: the profile claims of the user a valid access token names.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_oauth_server::{OAuthError, no_store};
use serde_json::{Value, json};

use super::AppState;
use crate::tokens::{self, TokenRejection};

fn bearer_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    let code = mcp_auth_oauth_server::ErrorCode::Token(
        mcp_auth_oauth_server::oauth2::basic::BasicErrorResponseType::Extension(error.to_owned()),
    );
    let mut response = OAuthError::new(code, description).with_status(status).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(super) async fn userinfo(State(inner): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        let mut response = OAuthError::invalid_request("a Bearer token is required")
            .with_status(StatusCode::UNAUTHORIZED)
            .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    let access = match tokens::verify_access_token(&inner, token).await {
        Ok(access) => access,
        Err(TokenRejection::Invalid(why)) => {
            tracing::debug!(why, "userinfo refused a token");
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid or expired",
            );
        }
        Err(TokenRejection::Failed(error)) => return error.into_response(),
    };
    let sub = access.subject.clone().unwrap_or_default();
    let body = match inner.user_by_id(&sub) {
        Some(user) => Value::Object(tokens::profile_claims(user)),
        None => json!({"sub": sub}),
    };
    (no_store(), Json(body)).into_response()
}
