//! `GET /authorize`: the client's request checked by the kit (client, exact redirect URI, PKCE S256, the
//! canonical resource), then a transaction, then the consent page, or straight to the upstream when
//! this browser remembered its consent (or consent is turned off).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mcp_auth_oauth_server::oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use mcp_auth_oauth_server::openidconnect::core::CoreAuthErrorResponseType;
use mcp_auth_oauth_server::{AuthorizationRequest, AuthorizeError, OAuthError, Params};
use tracing::Instrument as _;

use super::AppState;
use crate::cookies::{self, Cookies};
use crate::pages::{error_page, failure_page};
use crate::proxy::{Consent, Inner, random};
use crate::state::{StoreState, Transaction};

pub(super) async fn authorize(
    State(inner): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(page) = metadata_document_problem(&inner, query.as_deref()).await {
        return page;
    }
    let mut request =
        match AuthorizationRequest::parse(query.as_deref(), &inner.registry, &inner.authorize_policy).await {
            Ok(request) => request,
            Err(AuthorizeError::Untrusted { status, message }) => return error_page(status, &message),
            Err(AuthorizeError::Redirect(response)) => {
                return response.into_redirect(&inner.issuer, StatusCode::FOUND);
            }
        };
    let span = tracing::info_span!("authorize", client_id = %request.client.client_id);
    if request.prompt_none() {
        return request
            .error_response(
                CoreAuthErrorResponseType::LoginRequired,
                "the person must sign in upstream; prompt=none cannot be honoured",
            )
            .into_redirect(&inner.issuer, StatusCode::FOUND);
    }
    if request.scopes.is_empty() {
        request.scopes.clone_from(&inner.required_scopes);
    }
    match start(&inner, request, &headers).instrument(span).await {
        Ok(response) => response,
        Err(error) => failure_page(&error),
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
    let transaction_id = random(24)?;
    let verifier = PkceCodeVerifier::new(random(32)?);
    let browser = cookies::read(headers, &cookies.browser_name())
        .and_then(|value| cookies::verified_browser(&state.hasher, value));
    let remembered = match (&inner.consent, &browser) {
        (Consent::Required, Some(browser)) => {
            state.consents.get(&consent_key(state, browser, &request)).await?.is_some()
        }
        _ => false,
    };
    let approved = inner.consent == Consent::InsecureSkipped || remembered;
    let transaction = Transaction {
        request,
        upstream_verifier: verifier.secret().clone(),
        approved,
        created_at: inner.now(),
    };
    state
        .transactions
        .put(&state.hasher.hash(&transaction_id), &transaction, Some(inner.lifetimes.transaction))
        .await?;
    if approved {
        tracing::info!(remembered, "consent not asked; on to the upstream");
        return Ok(to_upstream(inner, state, &transaction_id, &transaction, StatusCode::FOUND));
    }
    let location = format!("{}?transaction={transaction_id}", inner.url(&inner.paths.consent));
    Ok(Redirect::to(&location).into_response())
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
    let url = inner.upstream.authorize_url(transaction_id, challenge);
    let cookies = Cookies { secure: inner.secure_cookies };
    let (name, value) = cookies.binding(&state.hasher, transaction_id);
    let mut response = (status, [(header::LOCATION, url.as_str())]).into_response();
    if let Some(cookie) = cookies.set(&name, &value, inner.lifetimes.transaction) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
