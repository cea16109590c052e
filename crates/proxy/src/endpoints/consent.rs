//! `GET /consent` shows the page (safe to repeat: a prefetch changes nothing); `POST /consent` takes the
//! decision. Both answer only the browser that started the authorization (its signed browser cookie,
//! set by `/authorize`), and the form's CSRF token is bound to that browser and the transaction.
//! Approving twice is harmless: the same upstream redirect, or, once the sign-in finished, the same
//! redirect to the client. Denying ends the transaction and tells the client `access_denied`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::metrics::FlowEvent;
use mcp_auth_core::store::Versioned;
use mcp_auth_oauth_server::openidconnect::core::CoreAuthErrorResponseType;
use mcp_auth_oauth_server::{DEFAULT_MAX_FORM_BYTES, OAuthError, Params, read_form};
use tracing::Instrument as _;

use super::AppState;
use super::authorize::{consent_key, to_upstream};
use crate::cookies::{self, Cookies};
use crate::pages::{ConsentView, consent_page, error_page, failure_page};
use crate::proxy::Inner;
use crate::state::{StoreState, Transaction};

fn gone() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This authorization has expired or was already finished; start again from the app.",
    )
}

fn other_browser() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This authorization was started in another browser; start again from the app in this one.",
    )
}

/// The browser id of the request's signed browser cookie.
fn browser_of(inner: &Inner, state: &StoreState, headers: &HeaderMap) -> Option<String> {
    let cookies = Cookies { secure: inner.secure_cookies };
    cookies::read(headers, &cookies.browser_name())
        .and_then(|value| cookies::verified_browser(&state.hasher, value))
}

/// The transaction, when it exists and belongs to this browser.
async fn load<'a>(
    inner: &'a Inner,
    headers: &HeaderMap,
    transaction_id: &str,
) -> Result<(&'a StoreState, Versioned<Transaction>, String), Response> {
    let state = inner.state().await.map_err(|e| failure_page(&e))?;
    let browser = browser_of(inner, state, headers);
    let transaction = match state.transactions.get_versioned(&state.hasher.hash(transaction_id)).await {
        Ok(Some(transaction)) => transaction,
        Ok(None) => {
            return Err(finished_redirect(state, transaction_id, browser.as_deref())
                .await
                .unwrap_or_else(gone));
        }
        Err(error) => return Err(failure_page(&OAuthError::from(error))),
    };
    match browser {
        Some(browser) if cookies::same(&browser, &transaction.value.browser) => {
            Ok((state, transaction, browser))
        }
        _ => {
            tracing::warn!(
                "consent from a browser other than the one that started the authorization refused"
            );
            Err(other_browser())
        }
    }
}

/// For a sign-in this browser already finished, the redirect to the client again.
async fn finished_redirect(
    state: &StoreState,
    transaction_id: &str,
    browser: Option<&str>,
) -> Option<Response> {
    let finished = state.finished.get(&state.hasher.hash(transaction_id)).await.ok()??;
    if !browser.is_some_and(|b| cookies::same(b, &finished.browser)) {
        return None;
    }
    if let Some(code) = &finished.code
        && !state.grants.is_code_pending(code).await.ok()?
    {
        return None; // The client got and used it: the sign-in is over.
    }
    tracing::info!("a repeated approval of a finished sign-in gets its redirect again");
    Some((StatusCode::SEE_OTHER, [(header::LOCATION, finished.location)]).into_response())
}

pub(super) async fn show(
    State(inner): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST, "The address is malformed.");
    };
    let Some(transaction_id) = params.get("transaction") else {
        return error_page(StatusCode::BAD_REQUEST, "The address names no authorization.");
    };
    let (state, transaction, browser) = match load(&inner, &headers, transaction_id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let csrf = cookies::csrf_token(&state.hasher, &browser, transaction_id);
    let action = inner.url(&inner.paths.consent);
    consent_page(&ConsentView {
        action: &action,
        transaction_id,
        csrf: &csrf,
        request: &transaction.value.request,
        resource: inner.resource.as_str(),
        upstream_scopes: &inner.upstream.scopes(),
    })
}

/// `POST` of the consent form, counted as a `consent` flow step (a denial is `refused`).
pub(super) async fn decide(state: State<AppState>, headers: HeaderMap, body: Body) -> Response {
    super::counted(FlowEvent::Consent, decide_page(state, headers, body).await)
}

async fn decide_page(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Ok(params) = read_form(&headers, body, DEFAULT_MAX_FORM_BYTES).await else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    let Some(transaction_id) = params.get("transaction") else {
        return error_page(StatusCode::BAD_REQUEST, "The form is incomplete.");
    };
    let (state, current, browser) = match load(&inner, &headers, transaction_id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let csrf = params.get("csrf").unwrap_or_default();
    if !cookies::same(&cookies::csrf_token(&state.hasher, &browser, transaction_id), csrf) {
        tracing::warn!("consent form without this browser's CSRF token refused");
        return error_page(
            StatusCode::FORBIDDEN,
            "This form was not shown to this browser; start again from the app.",
        );
    }
    let span = tracing::info_span!("consent", client_id = %current.value.request.client.client_id);
    async {
        match params.get("decision") {
            Some("approve") => {
                approve(&inner, state, transaction_id, current, &browser, params.get("remember")).await
            }
            Some("deny") => match state.transactions.take(&state.hasher.hash(transaction_id)).await {
                Ok(Some(transaction)) => {
                    tracing::info!("denied");
                    transaction
                        .request
                        .error_response(CoreAuthErrorResponseType::AccessDenied, "the person denied access")
                        .into_redirect(&inner.issuer, StatusCode::SEE_OTHER)
                }
                Ok(None) => gone(),
                Err(error) => failure_page(&error.into()),
            },
            _ => error_page(StatusCode::BAD_REQUEST, "Choose Approve or Deny."),
        }
    }
    .instrument(span)
    .await
}

/// Marks the transaction approved (once, with a compare-and-swap, so an approval racing the callback
/// cannot bring a finished transaction back, and within its original lifetime), remembers the consent
/// when asked, and sends the browser upstream.
async fn approve(
    inner: &Inner,
    state: &StoreState,
    transaction_id: &str,
    current: Versioned<Transaction>,
    browser: &str,
    remember: Option<&str>,
) -> Response {
    let key = state.hasher.hash(transaction_id);
    let mut transaction = current.value.clone();
    if !transaction.approved {
        let age = inner.now().saturating_sub(transaction.created_at);
        let Some(left) = inner.lifetimes.transaction.as_secs().checked_sub(age).filter(|left| *left > 0)
        else {
            return gone();
        };
        transaction.approved = true;
        let ttl = Some(std::time::Duration::from_secs(left));
        match state.transactions.compare_and_swap(&key, Some(&current), &transaction, ttl).await {
            Ok(true) => {}
            // Changed meanwhile: approved by a double submit (fine) or finished or denied (gone).
            Ok(false) => match state.transactions.get(&key).await {
                Ok(Some(now)) if now.approved => transaction = now,
                Ok(_) => {
                    return finished_redirect(state, transaction_id, Some(browser))
                        .await
                        .unwrap_or_else(gone);
                }
                Err(error) => return failure_page(&error.into()),
            },
            Err(error) => return failure_page(&error.into()),
        }
        if remember == Some("yes") {
            let remembered = consent_key(state, browser, &transaction.request);
            let ttl = Some(inner.lifetimes.remembered_consent);
            if let Err(error) = state.consents.put(&remembered, &inner.now(), ttl).await {
                tracing::warn!(%error, "could not remember the consent; it will be asked again");
            }
        }
        tracing::info!("approved");
    }
    to_upstream(inner, state, transaction_id, &transaction, StatusCode::SEE_OTHER)
}
