//! `POST /register`: RFC 7591 dynamic client registration by the kit's registry, with the operator's
//! redirect URI allow-list, a body limit, a per-source ceiling and the hourly ceiling of every instance.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mcp_auth_core::metrics::{self, FlowEvent, FlowOutcome};
use mcp_auth_oauth_server::{BodyError, OAuthError, no_store, read_json_object};

use super::AppState;

pub(super) async fn register(State(inner): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>()
        && let Err(retry_after) = inner.registrations.check(addr.ip())
    {
        tracing::warn!(source = %addr.ip(), "registration ceiling per source reached");
        metrics::record_flow(FlowEvent::Registration, FlowOutcome::Refused);
        return OAuthError::invalid_client_metadata(
            "too many registrations from this address; try again later",
        )
        .too_many_requests(retry_after)
        .into_response();
    }
    let limit = inner.registry.policy().body_limit();
    let metadata = match read_json_object(&headers, body, limit).await {
        Ok(metadata) => metadata,
        Err(error) => {
            let error = match error {
                BodyError::Malformed(why) => OAuthError::invalid_client_metadata(why),
                other => OAuthError::from(other),
            };
            metrics::record_flow(FlowEvent::Registration, error.flow_outcome());
            return error.into_response();
        }
    };
    // From here the kit's registry counts the registration.
    match inner.registry.register(&metadata).await {
        Ok(registered) => (StatusCode::CREATED, no_store(), Json(registered.response_body())).into_response(),
        Err(error) => error.into_response(),
    }
}
