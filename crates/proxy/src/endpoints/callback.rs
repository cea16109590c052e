//! `GET /auth/callback`: the upstream's answer. The `state` names the transaction; the browser must carry
//! the transaction's binding cookie (set when this browser approved); the transaction is used once.
//! Then the upstream code is exchanged with the proxy's PKCE verifier, the user resolved, the upstream
//! tokens stored (encrypted), and the client gets the proxy's own one-time code with `state` and `iss`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use mcp_auth_core::metrics::FlowEvent;
use mcp_auth_oauth_server::openidconnect::core::CoreAuthErrorResponseType;
use mcp_auth_oauth_server::{AuthorizationResponse, NewCode, OAuthError, Params};
use tracing::Instrument as _;

use super::AppState;
use crate::cookies::{self, Cookies};
use crate::grant::resolve_user;
use crate::pages::{error_page, failure_page};
use crate::proxy::{Inner, random};
use crate::state::{Finished, ProxyGrant, StoreState, Transaction, UpstreamGrant};
use crate::upstream::{UpstreamFailure, client_facing_error};

/// The upstream's redirect back, counted as a `callback` flow step.
pub(super) async fn callback(state: State<AppState>, headers: HeaderMap, query: RawQuery) -> Response {
    super::counted(FlowEvent::Callback, callback_page(state, headers, query).await)
}

async fn callback_page(
    State(inner): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST, "The upstream's answer is malformed.");
    };
    if let Some(name) = params.repeated() {
        return error_page(StatusCode::BAD_REQUEST, &format!("The upstream's answer repeats {name}."));
    }
    let Some(upstream_state) = params.get("state") else {
        return error_page(StatusCode::BAD_REQUEST, "The upstream's answer has no state.");
    };
    let state = match inner.state().await {
        Ok(state) => state,
        Err(error) => return failure_page(&error),
    };
    let unknown = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in is unknown, expired or already finished; start again from the app.",
        )
    };
    let state_key = state.hasher.hash(upstream_state);
    let transaction_id = match state.states.get(&state_key).await {
        Ok(Some(id)) => id,
        Ok(None) => return unknown(),
        Err(error) => return failure_page(&error.into()),
    };
    let transaction_id = transaction_id.as_str();
    let key = state.hasher.hash(transaction_id);
    let transaction = match state.transactions.get(&key).await {
        Ok(Some(transaction)) if cookies::same(&transaction.upstream_state, upstream_state) => transaction,
        Ok(_) => return unknown(),
        Err(error) => return failure_page(&error.into()),
    };
    let cookies = Cookies { secure: inner.secure_cookies };
    let (cookie_name, expected) = cookies.binding(&state.hasher, transaction_id);
    let bound = cookies::read(&headers, &cookie_name).is_some_and(|value| cookies::same(value, &expected));
    if !(bound && transaction.approved) {
        tracing::warn!(client_id = %transaction.request.client.client_id, "callback without the browser binding refused");
        return error_page(
            StatusCode::FORBIDDEN,
            "This sign-in was started in another browser. If you did not start it, close this page; \
             otherwise start again from the app.",
        );
    }
    // Single use: of two callbacks with one state, one proceeds.
    match state.transactions.take(&key).await {
        Ok(Some(_)) => {}
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, "This sign-in was already finished."),
        Err(error) => return failure_page(&error.into()),
    }
    if let Err(error) = state.states.delete(&state_key).await {
        tracing::warn!(%error, "could not delete a used upstream state; it expires with the transaction");
    }
    let span = tracing::info_span!(
        "callback",
        client_id = %transaction.request.client.client_id,
        user_id = tracing::field::Empty,
    );
    let response = finish(&inner, state, &transaction, &params).instrument(span).await;
    // Kept briefly for this browser: a repeated Approve whose first answer was dropped gets it again.
    if let Ok(location) = response.location(&inner.issuer) {
        let code = response.param("code").map(str::to_owned);
        let finished = Finished { browser: transaction.browser.clone(), location, code };
        let ttl = Some(inner.lifetimes.code);
        if let Err(error) = state.finished.put(&key, &finished, ttl).await {
            tracing::warn!(%error, "could not keep the finished sign-in's redirect");
        }
    }
    let mut response = response.into_redirect(&inner.issuer, StatusCode::FOUND);
    if let Some(clear) = cookies.clear(&cookie_name) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

fn upstream_error_kind(error: &str) -> CoreAuthErrorResponseType {
    match client_facing_error(error) {
        "access_denied" => CoreAuthErrorResponseType::AccessDenied,
        "temporarily_unavailable" => CoreAuthErrorResponseType::TemporarilyUnavailable,
        "login_required" => CoreAuthErrorResponseType::LoginRequired,
        "consent_required" => CoreAuthErrorResponseType::ConsentRequired,
        "interaction_required" => CoreAuthErrorResponseType::InteractionRequired,
        _ => CoreAuthErrorResponseType::ServerError,
    }
}

/// The answer for the client: its code, or an error naming no internals.
async fn finish(
    inner: &Inner,
    state: &StoreState,
    transaction: &Transaction,
    params: &Params,
) -> AuthorizationResponse {
    let request = &transaction.request;
    if let Some(error) = params.get("error") {
        tracing::info!(%error, "the upstream answered with an error");
        return request.error_response(
            upstream_error_kind(error),
            "the identity provider did not complete the sign-in",
        );
    }
    let Some(code) = params.get("code") else {
        return request
            .error_response(CoreAuthErrorResponseType::ServerError, "the identity provider sent no code");
    };
    let failed = |error: OAuthError| {
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            request.error_response(
                CoreAuthErrorResponseType::TemporarilyUnavailable,
                "the identity provider is unavailable; try again shortly",
            )
        } else {
            request
                .error_response(CoreAuthErrorResponseType::ServerError, "the sign-in could not be completed")
        }
    };
    let verifier = secrecy::SecretString::from(transaction.upstream_verifier.clone());
    let tokens = match inner.upstream.exchange_code(code, &verifier, inner.now()).await {
        Ok(tokens) => tokens,
        Err(UpstreamFailure::Refused { error }) => {
            tracing::warn!(%error, "the upstream refused its own code");
            return request
                .error_response(upstream_error_kind(&error), "the identity provider refused the sign-in");
        }
        Err(UpstreamFailure::Unavailable { retry_after }) => {
            return failed(OAuthError::temporarily_unavailable(retry_after));
        }
    };
    let user = match resolve_user(inner, &tokens).await {
        Ok(user) => user,
        Err(error) => return failed(error),
    };
    tracing::Span::current().record("user_id", user.user_id.as_str());
    let issued = async {
        let upstream_id = random(24)?;
        let record = UpstreamGrant { tokens, user };
        // As long as the code, plus a margin: a code never redeemed leaves no upstream tokens behind
        // for long. The token endpoint extends it to the grant's lifetime.
        let ttl = inner.lifetimes.code.saturating_add(std::time::Duration::from_secs(300));
        state.upstream.put(&upstream_id, &record, Some(ttl)).await?;
        let grant = ProxyGrant { upstream_id };
        let (code, _) = state.grants.issue_code(NewCode::new(request, &record.user.user_id, grant)).await?;
        tracing::info!(user = %record.user.user_id, "signed in upstream; code issued");
        Ok::<_, OAuthError>(code)
    };
    match issued.await {
        Ok(code) => request.code_response(&code),
        Err(error) => failed(error),
    }
}
