//! `GET /oauth2/authorize`, `POST /oauth2/login`, `POST /oauth2/consent`: the request checked by the kit,
//! then auto-approve or the sign-in and consent pages, then a single-use code.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcp_auth_oauth_server::openidconnect::core::CoreAuthErrorResponseType;
use mcp_auth_oauth_server::{
    AuthorizationRequest, AuthorizeError, DEFAULT_MAX_FORM_BYTES, NewCode, OAuthError, Params, random_token,
    read_form,
};
use subtle::ConstantTimeEq as _;

use super::AppState;
use super::pages::{self, Pending, consent_page, cookie_csrf, error_page, failure_page, login_page};
use crate::config::DevUser;
use crate::idp::Inner;

/// How long a person has to finish the sign-in and consent pages.
const PENDING_TTL: Duration = Duration::from_secs(600);

fn random(bytes: usize) -> Result<String, OAuthError> {
    random_token(bytes).map_err(|error| {
        tracing::error!(%error, "no randomness");
        OAuthError::server_error()
    })
}

/// Issues the code for an approved request and redirects to the client.
async fn approve(
    inner: &Inner,
    request: &AuthorizationRequest,
    user: &DevUser,
    status: StatusCode,
) -> Response {
    let issued = async {
        let state = inner.state().await?;
        state.grants.issue_code(NewCode::new(request, &user.id, ())).await
    };
    match issued.await {
        Ok((code, _)) => {
            tracing::info!(client_id = %request.client.client_id, user = %user.id, "authorization approved");
            request.code_response(&code).into_redirect(&inner.issuer, status)
        }
        Err(error) => failure_page(&error),
    }
}

/// A refused request before any page: the error page, or the redirect the kit judged safe (RFC 9700
/// §4.11.2: a redirect URI of a configured client, or a loopback one).
fn early_error(inner: &Inner, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Untrusted { status, message } => error_page(status, &message),
        AuthorizeError::Redirect(response) => response.into_redirect(&inner.issuer, StatusCode::FOUND),
    }
}

pub(super) async fn authorize(State(inner): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let request =
        match AuthorizationRequest::parse(query.as_deref(), &inner.registry, &inner.authorize_policy).await {
            Ok(request) => request,
            Err(error) => return early_error(&inner, error),
        };
    if inner.auto_approve {
        let user = match &request.login_hint {
            Some(hint) => inner.find_user(hint),
            None => inner.default_user(),
        };
        let Some(user) = user else {
            let error = request.error_before_interaction(
                &inner.authorize_policy,
                CoreAuthErrorResponseType::AccessDenied,
                "no configured user matches login_hint",
            );
            return early_error(&inner, error);
        };
        return approve(&inner, &request, user, StatusCode::FOUND).await;
    }
    if request.prompt_none() {
        let error = request.error_before_interaction(
            &inner.authorize_policy,
            CoreAuthErrorResponseType::LoginRequired,
            "the person must sign in; prompt=none cannot be honoured",
        );
        return early_error(&inner, error);
    }
    let started = async {
        let state = inner.state().await?;
        let (pending_id, csrf) = (random(24)?, random(24)?);
        let login_hint = request.login_hint.clone();
        let pending = Pending { request, csrf, user_id: None };
        state.pending.put(&state.hasher.hash(&pending_id), &pending, Some(PENDING_TTL)).await?;
        Ok::<_, OAuthError>((pending_id, pending, login_hint))
    };
    match started.await {
        Ok((pending_id, pending, hint)) => {
            login_page(&pending_id, &pending, hint.as_deref(), None, StatusCode::OK)
        }
        Err(error) => failure_page(&error),
    }
}

/// Loads the pending authorization a page's form names, checking the CSRF token in the form and in
/// the cookie against the one bound to it.
async fn load_pending(
    inner: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(String, Pending), Response> {
    let (Some(pending_id), Some(csrf)) = (params.get("pending"), params.get("csrf")) else {
        return Err(error_page(StatusCode::BAD_REQUEST, "the form is incomplete"));
    };
    let state = inner.state().await.map_err(|e| failure_page(&e))?;
    let key = state.hasher.hash(pending_id);
    let pending = match state.pending.get(&key).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "this sign-in has expired or was already used; start again",
            ));
        }
        Err(error) => return Err(failure_page(&error.into())),
    };
    let cookie = cookie_csrf(headers).unwrap_or_default();
    let form_ok: bool = pending.csrf.as_bytes().ct_eq(csrf.as_bytes()).into();
    let cookie_ok: bool = pending.csrf.as_bytes().ct_eq(cookie.as_bytes()).into();
    if !(form_ok && cookie_ok) {
        return Err(error_page(StatusCode::FORBIDDEN, "the form's CSRF token does not match this sign-in"));
    }
    Ok((key, pending))
}

async fn read_page_form(headers: &HeaderMap, body: Body) -> Result<Params, Response> {
    read_form(headers, body, DEFAULT_MAX_FORM_BYTES)
        .await
        .map_err(|_| error_page(StatusCode::BAD_REQUEST, "the form could not be read"))
}

/// `POST /oauth2/login`: checks the credentials, then shows the consent page.
pub(super) async fn login(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let params = match read_page_form(&headers, body).await {
        Ok(params) => params,
        Err(page) => return page,
    };
    let (key, mut pending) = match load_pending(&inner, &headers, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let pending_id = params.get("pending").unwrap_or_default().to_owned();
    let login = params.get("login").unwrap_or_default();
    let user =
        inner.find_user(login).filter(|u| u.password_matches(params.get("password").unwrap_or_default()));
    let Some(user) = user else {
        return login_page(
            &pending_id,
            &pending,
            Some(login),
            Some("Unknown user or wrong password."),
            StatusCode::UNAUTHORIZED,
        );
    };
    pending.user_id = Some(user.id.clone());
    let saved = async {
        inner.state().await?.pending.put(&key, &pending, Some(PENDING_TTL)).await.map_err(OAuthError::from)
    };
    if let Err(error) = saved.await {
        return failure_page(&error);
    }
    consent_page(&pending_id, &pending, user)
}

/// `POST /oauth2/consent`: approve issues the code, deny redirects with `access_denied`.
pub(super) async fn consent(State(inner): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let params = match read_page_form(&headers, body).await {
        Ok(params) => params,
        Err(page) => return page,
    };
    let (key, pending) = match load_pending(&inner, &headers, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(user) = pending.user_id.as_deref().and_then(|id| inner.user_by_id(id)) else {
        return error_page(StatusCode::BAD_REQUEST, "sign in first");
    };
    // Single use: whoever takes the pending authorization first decides.
    let taken = async { inner.state().await?.pending.take(&key).await.map_err(OAuthError::from) };
    match taken.await {
        Ok(Some(_)) => {}
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, "this sign-in was already used; start again"),
        Err(error) => return pages::failure_page(&error),
    }
    let request = &pending.request;
    if params.get("decision") != Some("approve") {
        return request
            .error_response(CoreAuthErrorResponseType::AccessDenied, "the person denied access")
            .into_redirect(&inner.issuer, StatusCode::SEE_OTHER);
    }
    approve(&inner, request, user, StatusCode::SEE_OTHER).await
}
