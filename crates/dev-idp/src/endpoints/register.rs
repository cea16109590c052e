//! `POST /oauth2/register`: RFC 7591 dynamic client registration (open, no initial access token), by the
//! kit's [`ClientRegistry`](mcp_auth_oauth_server::ClientRegistry).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_auth_oauth_server::{BodyError, OAuthError, no_store, read_json_object};

use super::AppState;

pub(super) async fn register(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let limit = inner.registry.policy().body_limit();
    let metadata = match read_json_object(&headers, body, limit).await {
        Ok(metadata) => metadata,
        Err(BodyError::Malformed(why)) => return OAuthError::invalid_client_metadata(why).into_response(),
        Err(error) => return OAuthError::from(error).into_response(),
    };
    match inner.registry.register(&metadata).await {
        Ok(registered) => (StatusCode::CREATED, no_store(), Json(registered.response_body())).into_response(),
        Err(error) => error.into_response(),
    }
}
