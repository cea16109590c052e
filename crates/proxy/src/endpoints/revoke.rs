//! `POST /revoke` (RFC 7009): the authenticated client revokes one of its own tokens, a refresh token or
//! an access token. Either ends the whole grant: the refresh family, its access tokens (at once on this
//! instance, within the revocation-check interval on others), and the upstream tokens behind it, whose
//! mapping is retired even when the upstream is already dead. Unknown tokens are answered 200, as the
//! RFC asks; another client's token is refused.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::metrics::FlowEvent;
use mcp_auth_oauth_server::{
    DEFAULT_MAX_FORM_BYTES, OAuthError, authenticate_client, no_store, read_form, record_flow,
};
use tracing::Instrument as _;

use super::AppState;
use crate::grant::retire_upstream;
use crate::proxy::Inner;

pub(super) async fn revoke(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = handle(&inner, &headers, body).await;
    record_flow(FlowEvent::Revocation, &result);
    match result {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn handle(inner: &Inner, headers: &HeaderMap, body: Body) -> Result<(), OAuthError> {
    let params = read_form(headers, body, DEFAULT_MAX_FORM_BYTES).await?;
    let client = authenticate_client(&inner.registry, headers, &params).await?.client;
    let token = params.require("token")?;
    let span = tracing::info_span!("revoke", client_id = %client.client_id);
    async {
        let state = inner.state().await?;
        if let Some(family) = state.grants.revoke_refresh_family(token, &client).await? {
            retire_upstream(inner, state, &family.extra.upstream_id).await?;
            tracing::info!(sid = %family.sid, "grant revoked by its refresh token");
            return Ok(());
        }
        let Ok(access) = inner.signer.verify_own_access_token(token).await else {
            return Ok(()); // Unknown, expired or not ours: nothing to revoke (RFC 7009 §2.2).
        };
        if access.client_id.as_deref() != Some(client.client_id.as_str()) {
            return Err(OAuthError::unauthorized_client("the token was issued to another client"));
        }
        let Some(sid) = access.claim("sid").and_then(|v| v.as_str()) else { return Ok(()) };
        state.grants.revoke_session(sid).await?;
        if let Some(family) = state.grants.family(sid).await? {
            retire_upstream(inner, state, &family.extra.upstream_id).await?;
        }
        tracing::info!(%sid, "grant revoked by its access token");
        Ok(())
    }
    .instrument(span)
    .await
}
