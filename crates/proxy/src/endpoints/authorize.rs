//! `GET /authorize`: the client's request checked by the kit (client, exact redirect URI, PKCE S256, the
//! canonical resource), then a transaction, then the consent page, or straight to the upstream when
//! this browser remembered its consent (or consent is turned off).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mcp_auth_core::metrics::FlowEvent;
use mcp_auth_oauth_server::oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use mcp_auth_oauth_server::openidconnect::core::CoreAuthErrorResponseType;
use mcp_auth_oauth_server::{AuthorizationRequest, AuthorizeError, OAuthError, Params};
use tracing::Instrument as _;

use super::AppState;
use crate::cookies::{self, BROWSER_COOKIE_LIFETIME, Cookies};
use crate::pages::{error_page, failure_page};
use crate::proxy::{Consent, Inner, random};
use crate::state::{StoreState, Transaction};

/// `GET /authorize`, counted as an `authorization` flow step.
pub(super) async fn authorize(state: State<AppState>, request: Request) -> Response {
    super::counted(FlowEvent::Authorization, authorize_page(state, request).await)
}

async fn authorize_page(State(inner): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let (headers, query) = (parts.headers, parts.uri.query().map(str::to_owned));
    // Every authorization request writes a transaction: a ceiling per source keeps a flood of them from
    // filling the store (each expires with the transaction TTL anyway).
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>()
        && let Err(retry_after) = inner.authorizations.check(addr.ip())
    {
        tracing::warn!(source = %addr.ip(), "authorization ceiling per source reached");
        let mut page = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins from this address; try again later.",
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return page;
    }
    if let Some(page) = metadata_document_problem(&inner, query.as_deref()).await {
        return page;
    }
    let mut request =
        match AuthorizationRequest::parse(query.as_deref(), &inner.registry, &inner.authorize_policy).await {
            Ok(request) => request,
            Err(error) => return early_error(&inner, error),
        };
    let span = tracing::info_span!("authorize", client_id = %request.client.client_id);
    if request.prompt_none() {
        // Before any page: redirected only to a redirect URI the policy trusts (RFC 9700 §4.11.2).
        let error = request.error_before_interaction(
            &inner.authorize_policy,
            CoreAuthErrorResponseType::LoginRequired,
            "the person must sign in upstream; prompt=none cannot be honoured",
        );
        return early_error(&inner, error);
    }
    if request.scopes.is_empty() {
        request.scopes.clone_from(&inner.required_scopes);
    }
    match start(&inner, request, &headers).instrument(span).await {
        Ok(response) => response,
        Err(error) => failure_page(&error),
    }
}

/// A refused request before any page: the error page, or the redirect the kit judged safe (a redirect
/// URI of an operator-configured client, a loopback one, or one on the redirect allow-list).
fn early_error(inner: &Inner, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Untrusted { status, message } => error_page(status, &message),
        AuthorizeError::Redirect(response) => response.into_redirect(&inner.issuer, StatusCode::FOUND),
    }
}

/// For a client id that is a metadata document URL, the page explaining why the document cannot be
/// used (the registry alone would only say "unknown client").
async fn metadata_document_problem(inner: &Inner, query: Option<&str>) -> Option<Response> {
    let documents = inner.registry.metadata_documents()?;
    let params = Params::parse(query.unwrap_or_default().as_bytes()).ok()?;
    let client_id = params.get("client_id").filter(|id| documents.handles(id))?;
    let error = documents.resolve(client_id).await.err()?;
    let status =
        if error.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_REQUEST };
    Some(error_page(status, &error.to_string()))
}

/// The key of a remembered consent: this browser, the client, its exact redirect URI, the resource and
/// the sorted scopes. Asking for anything more asks again.
pub(super) fn consent_key(state: &StoreState, browser: &str, request: &AuthorizationRequest) -> String {
    let mut scopes = request.scopes.clone();
    scopes.sort();
    scopes.dedup();
    state.hasher.hash(&format!(
        "consent\n{browser}\n{}\n{}\n{}\n{}",
        request.client.client_id,
        request.redirect_uri,
        request.resource.as_deref().unwrap_or_default(),
        scopes.join(" ")
    ))
}

async fn start(
    inner: &Inner,
    request: AuthorizationRequest,
    headers: &HeaderMap,
) -> Result<Response, OAuthError> {
    let state = inner.state().await?;
    let cookies = Cookies { secure: inner.secure_cookies };
    // The transaction belongs to this browser: only it may see the consent page and approve.
    let existing = cookies::read(headers, &cookies.browser_name())
        .and_then(|value| cookies::verified_browser(&state.hasher, value));
    let (browser, new_cookie) = match existing {
        Some(browser) => (browser, None),
        None => {
            let id = random(16)?;
            let value = cookies::signed_browser(&state.hasher, &id);
            (id, cookies.set(&cookies.browser_name(), &value, BROWSER_COOKIE_LIFETIME))
        }
    };
    let remembered = inner.consent == Consent::Required
        && state.consents.get(&consent_key(state, &browser, &request)).await?.is_some();
    let approved = inner.consent == Consent::InsecureSkipped || remembered;
    let transaction_id = random(24)?;
    let transaction = Transaction {
        request,
        upstream_verifier: PkceCodeVerifier::new(random(32)?).secret().clone(),
        upstream_state: random(24)?,
        browser,
        approved,
        created_at: inner.now(),
    };
    let ttl = Some(inner.lifetimes.transaction);
    state.transactions.put(&state.hasher.hash(&transaction_id), &transaction, ttl).await?;
    state.states.put(&state.hasher.hash(&transaction.upstream_state), &transaction_id, ttl).await?;
    let mut response = if approved {
        tracing::info!(remembered, "consent not asked; on to the upstream");
        to_upstream(inner, state, &transaction_id, &transaction, StatusCode::FOUND)
    } else {
        let location = format!("{}?transaction={transaction_id}", inner.url(&inner.paths.consent));
        Redirect::to(&location).into_response()
    };
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Sends the browser to the upstream with the transaction's `state` and PKCE challenge, and binds the
/// transaction to this browser with its cookie.
pub(super) fn to_upstream(
    inner: &Inner,
    state: &StoreState,
    transaction_id: &str,
    transaction: &Transaction,
    status: StatusCode,
) -> Response {
    let verifier = PkceCodeVerifier::new(transaction.upstream_verifier.clone());
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let url = inner.upstream.authorize_url(&transaction.upstream_state, challenge);
    let cookies = Cookies { secure: inner.secure_cookies };
    let (name, value) = cookies.binding(&state.hasher, transaction_id);
    let mut response = (status, [(header::LOCATION, url.as_str())]).into_response();
    if let Some(cookie) = cookies.set(&name, &value, inner.lifetimes.transaction) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
