//! `GET /consent` shows the page (safe to repeat: a prefetch changes nothing); `POST /consent` takes the
//! decision, checked against the form's CSRF token, which is bound to this browser's signed cookie and
//! to the transaction. Approving twice is harmless (the same upstream redirect); denying ends the
//! transaction and tells the client `access_denied`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use mcp_auth_oauth_server::openidconnect::core::CoreAuthErrorResponseType;
use mcp_auth_oauth_server::{DEFAULT_MAX_FORM_BYTES, OAuthError, Params, read_form};

use tracing::Instrument as _;

use super::AppState;
use super::authorize::{consent_key, to_upstream};
use crate::cookies::{self, Cookies};
use crate::pages::{ConsentView, consent_page, error_page, failure_page};
use crate::proxy::{Inner, random};
use crate::state::{StoreState, Transaction};

const BROWSER_COOKIE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(400 * 24 * 3600);

fn gone() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This authorization has expired or was already finished; start again from the app.",
    )
}

async fn load<'a>(inner: &'a Inner, transaction_id: &str) -> Result<(&'a StoreState, Transaction), Response> {
    let state = inner.state().await.map_err(|e| failure_page(&e))?;
    match state.transactions.get(&state.hasher.hash(transaction_id)).await {
        Ok(Some(transaction)) => Ok((state, transaction)),
        Ok(None) => Err(gone()),
        Err(error) => Err(failure_page(&OAuthError::from(error))),
    }
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
    let (state, transaction) = match load(&inner, transaction_id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let cookies = Cookies { secure: inner.secure_cookies };
    let existing = cookies::read(&headers, &cookies.browser_name())
        .and_then(|value| cookies::verified_browser(&state.hasher, value));
    let (browser, new_cookie) = match existing {
        Some(browser) => (browser, None),
        None => match random(16) {
            Ok(id) => {
                let value = cookies::signed_browser(&state.hasher, &id);
                (id, cookies.set(&cookies.browser_name(), &value, BROWSER_COOKIE_LIFETIME))
            }
            Err(error) => return failure_page(&error),
        },
    };
    let csrf = cookies::csrf_token(&state.hasher, &browser, transaction_id);
    let action = inner.url(&inner.paths.consent);
    let mut response = consent_page(&ConsentView {
        action: &action,
        transaction_id,
        csrf: &csrf,
        request: &transaction.request,
        resource: inner.resource.as_str(),
    });
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) async fn decide(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Ok(params) = read_form(&headers, body, DEFAULT_MAX_FORM_BYTES).await else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    let Some(transaction_id) = params.get("transaction") else {
        return error_page(StatusCode::BAD_REQUEST, "The form is incomplete.");
    };
    let csrf = params.get("csrf").unwrap_or_default();
    let (state, mut transaction) = match load(&inner, transaction_id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let cookies = Cookies { secure: inner.secure_cookies };
    let browser = cookies::read(&headers, &cookies.browser_name())
        .and_then(|value| cookies::verified_browser(&state.hasher, value));
    let Some(browser) =
        browser.filter(|b| cookies::same(&cookies::csrf_token(&state.hasher, b, transaction_id), csrf))
    else {
        tracing::warn!("consent form without this browser's CSRF token refused");
        return error_page(
            StatusCode::FORBIDDEN,
            "This form was not shown to this browser; start again from the app.",
        );
    };
    let span = tracing::info_span!("consent", client_id = %transaction.request.client.client_id);
    let key = state.hasher.hash(transaction_id);
    async {
        match params.get("decision") {
            Some("approve") => {
                transaction.approved = true;
                let saved =
                    state.transactions.put(&key, &transaction, Some(inner.lifetimes.transaction)).await;
                if let Err(error) = saved {
                    return failure_page(&error.into());
                }
                if params.get("remember") == Some("yes") {
                    let remembered = consent_key(state, &browser, &transaction.request);
                    let ttl = Some(inner.lifetimes.remembered_consent);
                    if let Err(error) = state.consents.put(&remembered, &inner.now(), ttl).await {
                        tracing::warn!(%error, "could not remember the consent; it will be asked again");
                    }
                }
                tracing::info!("approved");
                to_upstream(&inner, state, transaction_id, &transaction, StatusCode::SEE_OTHER)
            }
            Some("deny") => match state.transactions.take(&key).await {
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
