//! The HTTP endpoints. Each one is a thin composition of `mcp-auth-oauth-server` blocks; the error answers
//! are the kit's [`OAuthError`](mcp_auth_oauth_server::OAuthError).

mod authorize;
mod exchange;
mod info;
mod introspection;
pub(crate) mod pages;
mod register;
mod token;
mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_auth_oauth_server::OAuthError;

use crate::idp::Inner;

pub(crate) type AppState = Arc<Inner>;

/// Every route, with JSON answers for unknown paths and wrong methods, and the CORS policy with its
/// origin guard in front.
pub(crate) fn router(state: AppState) -> Router {
    let cors = state.cors.clone();
    let router = Router::new()
        .route("/", get(info::index))
        .route("/.well-known/oauth-authorization-server", get(info::metadata))
        .route("/.well-known/openid-configuration", get(info::metadata))
        .route("/oauth2/jwks", get(info::jwks))
        .route("/oauth2/authorize", get(authorize::authorize))
        .route("/oauth2/login", post(authorize::login))
        .route("/oauth2/consent", post(authorize::consent))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/register", post(register::register))
        .route("/oauth2/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/oauth2/revoke", post(introspection::revoke))
        .route("/oauth2/introspection", post(introspection::introspect))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    cors.apply(router)
}

async fn not_found() -> Response {
    OAuthError::invalid_request("no such endpoint on this server")
        .with_status(StatusCode::NOT_FOUND)
        .into_response()
}

async fn method_not_allowed() -> Response {
    OAuthError::invalid_request("this endpoint does not accept this HTTP method")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .into_response()
}
