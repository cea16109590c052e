//! The authorization endpoint, the login and consent pages.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use url::Url;

use super::{AppState, form_params};
use crate::config::DevUser;
use crate::server::{ClientRecord, Inner};
use crate::tokens::{CodeGrant, PendingAuthorization};
use crate::util::{Params, constant_time_eq, hash_key, html_escape, is_valid_scope, random_token};

/// How long a person has to finish the login and consent pages.
const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(600);
const CSRF_COOKIE: &str = "dev_idp_csrf";
/// The longest authorization request query accepted.
const MAX_QUERY_BYTES: usize = 16 * 1024;

/// A failed authorization request: an HTML page when the client or redirect URI cannot be trusted,
/// otherwise a redirect to the client with `error`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207).
#[derive(Debug)]
enum Failure {
    Page(StatusCode, String),
    Redirect { redirect_uri: String, error: &'static str, description: String, state: Option<String> },
}

impl Failure {
    fn into_response(self, inner: &Inner) -> Response {
        match self {
            Self::Page(status, message) => error_page(status, &message),
            Self::Redirect { redirect_uri, error, description, state } => redirect_to_client(
                inner,
                &redirect_uri,
                &[("error", error), ("error_description", &description)],
                state.as_deref(),
                StatusCode::FOUND,
            ),
        }
    }
}

impl From<crate::error::DevIdpError> for Failure {
    fn from(error: crate::error::DevIdpError) -> Self {
        tracing::error!(%error, "dev IdP internal error at the authorization step");
        Self::Page(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log".into())
    }
}

impl From<mcp_auth_core::StoreError> for Failure {
    fn from(error: mcp_auth_core::StoreError) -> Self {
        crate::error::DevIdpError::from(error).into()
    }
}

/// `redirect_uri` with `pairs`, `state` and `iss` appended to its query.
fn redirect_to_client(
    inner: &Inner,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
    status: StatusCode,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &inner.issuer);
    }
    let location = url.to_string();
    let redirect = if status == StatusCode::SEE_OTHER {
        Redirect::to(&location)
    } else {
        Redirect::temporary(&location)
    };
    let mut response = redirect.into_response();
    *response.status_mut() = status;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The validated parts of an authorization request.
#[derive(Debug)]
struct Request {
    client: ClientRecord,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    nonce: Option<String>,
    code_challenge: String,
    resource: Option<String>,
    login_hint: Option<String>,
    prompt_none: bool,
}

async fn validate(inner: &Inner, query: Option<&str>) -> Result<Request, Failure> {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return Err(Failure::Page(StatusCode::URI_TOO_LONG, "the authorization request is too long".into()));
    }
    let params = Params::parse(query.as_bytes()).map_err(|e| Failure::Page(StatusCode::BAD_REQUEST, e))?;
    let repeated = params.repeated().map(str::to_owned);
    if let Some(name @ ("client_id" | "redirect_uri")) = repeated.as_deref() {
        return Err(Failure::Page(StatusCode::BAD_REQUEST, format!("the {name} parameter is repeated")));
    }
    // Until the client and its redirect URI are known, errors stay on this server (no open redirect).
    let client_id = params.require("client_id").map_err(|e| Failure::Page(StatusCode::BAD_REQUEST, e))?;
    let client = inner
        .client(client_id)
        .await?
        .ok_or_else(|| Failure::Page(StatusCode::BAD_REQUEST, format!("unknown client {client_id:?}")))?;
    let redirect_uri =
        params.require("redirect_uri").map_err(|e| Failure::Page(StatusCode::BAD_REQUEST, e))?;
    if !client.matches_redirect_uri(redirect_uri) {
        return Err(Failure::Page(
            StatusCode::BAD_REQUEST,
            format!("the redirect URI {redirect_uri:?} is not registered for this client"),
        ));
    }
    let state = params.get("state").map(str::to_owned);
    let fail = |error: &'static str, description: String| Failure::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        error,
        description,
        state: state.clone(),
    };
    match repeated.as_deref() {
        Some("resource") => {
            return Err(fail(
                "invalid_target",
                "only one resource per authorization request is supported".into(),
            ));
        }
        Some(name) => return Err(fail("invalid_request", format!("the {name} parameter is repeated"))),
        None => {}
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                "unsupported_response_type",
                format!("response_type {other:?} is not supported; use code"),
            ));
        }
        None => return Err(fail("invalid_request", "the response_type parameter is missing".into())),
    }
    if params.get("response_mode").is_some_and(|mode| mode != "query") {
        return Err(fail("invalid_request", "only response_mode=query is supported".into()));
    }
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return Err(fail("request_not_supported", "request objects are not supported".into()));
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail(
            "unauthorized_client",
            "this client is not registered for the authorization code grant".into(),
        ));
    }
    let code_challenge = params.get("code_challenge").ok_or_else(|| {
        fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
        )
    })?;
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is refused)".into(),
            ));
        }
        Some(other) => {
            return Err(fail(
                "invalid_request",
                format!("code_challenge_method {other:?} is not supported; use S256"),
            ));
        }
    }
    if code_challenge.len() != 43
        || !code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(fail("invalid_request", "code_challenge is not a base64url SHA-256 digest".into()));
    }
    let scope = params.get("scope").unwrap_or_default().to_owned();
    if !scope.is_empty() && !is_valid_scope(&scope) {
        return Err(fail("invalid_scope", "the scope parameter is malformed".into()));
    }
    let resource = match params.get("resource") {
        Some(resource) => {
            check_resource(resource).map_err(|e| fail("invalid_target", e))?;
            Some(resource.to_owned())
        }
        None => None,
    };
    let prompt_none = params.get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "none"));
    Ok(Request {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        scope,
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        resource,
        login_hint: params.get("login_hint").map(str::to_owned),
        prompt_none,
        client,
    })
}

/// RFC 8707 §2: the resource is an absolute URI without a fragment.
pub(crate) fn check_resource(resource: &str) -> Result<(), String> {
    let url = Url::parse(resource).map_err(|_| format!("resource {resource:?} is not an absolute URI"))?;
    if url.fragment().is_some() || resource.contains('#') {
        return Err(format!("resource {resource:?} must not have a fragment"));
    }
    Ok(())
}

/// `GET /oauth2/authorize`.
pub(super) async fn authorize(State(inner): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let request = match validate(&inner, query.as_deref()).await {
        Ok(request) => request,
        Err(failure) => return failure.into_response(&inner),
    };
    let fail = |error: &'static str, description: &str| {
        Failure::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            error,
            description: description.to_owned(),
            state: request.state.clone(),
        }
        .into_response(&inner)
    };
    if inner.auto_approve {
        let user = match &request.login_hint {
            Some(hint) => inner.find_user(hint),
            None => inner.default_user(),
        };
        let Some(user) = user else {
            return fail("access_denied", "no configured user matches login_hint");
        };
        tracing::info!(client_id = %request.client.client_id, user = %user.id, "authorization auto-approved");
        return match issue_code(&inner, &request_to_pending(&request, String::new()), user).await {
            Ok(code) => success_redirect(
                &inner,
                &request.redirect_uri,
                &code,
                request.state.as_deref(),
                StatusCode::FOUND,
            ),
            Err(failure) => failure.into_response(&inner),
        };
    }
    if request.prompt_none {
        return fail("login_required", "the person must sign in; prompt=none cannot be honoured");
    }
    let pending_id = random_token(24);
    let csrf = random_token(24);
    let pending = request_to_pending(&request, csrf.clone());
    if let Err(error) = inner.store.pending.put(&hash_key(&pending_id), &pending, Some(PENDING_TTL)).await {
        return Failure::from(error).into_response(&inner);
    }
    let client_name = request.client.client_name.clone().unwrap_or_else(|| request.client.client_id.clone());
    with_csrf_cookie(login_page(&pending_id, &csrf, &client_name, request.login_hint.as_deref(), None), &csrf)
}

fn request_to_pending(request: &Request, csrf: String) -> PendingAuthorization {
    PendingAuthorization {
        client_id: request.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        state: request.state.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        resource: request.resource.clone(),
        login_hint: request.login_hint.clone(),
        csrf,
        user_id: None,
    }
}

/// Stores a single-use code (under its hash) for `user` and returns it.
async fn issue_code(
    inner: &Inner,
    pending: &PendingAuthorization,
    user: &DevUser,
) -> Result<String, Failure> {
    let code = format!("code_{}", random_token(32));
    let now = inner.now();
    let grant = CodeGrant {
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        user_id: user.id.clone(),
        scope: pending.scope.clone(),
        nonce: pending.nonce.clone(),
        code_challenge: pending.code_challenge.clone(),
        resource: pending.resource.clone(),
        sid: format!("session_{}", random_token(16)),
        auth_time: now,
        expires_at: now.saturating_add(inner.code_ttl.as_secs()),
    };
    inner.store.codes.put(&hash_key(&code), &grant, Some(inner.code_ttl)).await?;
    Ok(code)
}

fn success_redirect(
    inner: &Inner,
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    status: StatusCode,
) -> Response {
    redirect_to_client(inner, redirect_uri, &[("code", code)], state, status)
}

fn with_csrf_cookie(mut response: Response, csrf: &str) -> Response {
    if let Ok(value) =
        HeaderValue::from_str(&format!("{CSRF_COOKIE}={csrf}; Path=/oauth2; HttpOnly; SameSite=Lax"))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn cookie_csrf(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == CSRF_COOKIE).then(|| value.to_owned())
        })
}

/// Loads the pending authorization a page form refers to, checking the CSRF token in the form and in
/// the cookie against the one bound to it.
async fn load_pending(
    inner: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(String, PendingAuthorization), Response> {
    let (Some(pending_id), Some(csrf)) = (params.get("pending"), params.get("csrf")) else {
        return Err(error_page(StatusCode::BAD_REQUEST, "the form is incomplete"));
    };
    let key = hash_key(pending_id);
    let pending = match inner.store.pending.get(&key).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "this sign-in has expired or was already used; start again",
            ));
        }
        Err(error) => return Err(Failure::from(error).into_response(inner)),
    };
    let cookie = cookie_csrf(headers).unwrap_or_default();
    if !constant_time_eq(pending.csrf.as_bytes(), csrf.as_bytes())
        || !constant_time_eq(pending.csrf.as_bytes(), cookie.as_bytes())
    {
        return Err(error_page(StatusCode::FORBIDDEN, "the form's CSRF token does not match this sign-in"));
    }
    Ok((key, pending))
}

/// `POST /oauth2/login`: checks the credentials, then shows the consent page.
pub(super) async fn login(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(params) = form_params(&headers, body) else {
        return error_page(StatusCode::BAD_REQUEST, "the form could not be read");
    };
    let (key, mut pending) = match load_pending(&inner, &headers, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let pending_id = params.get("pending").unwrap_or_default().to_owned();
    let client = inner.client(&pending.client_id).await.ok().flatten();
    let client_name = client.and_then(|c| c.client_name).unwrap_or_else(|| pending.client_id.clone());
    let login = params.get("login").unwrap_or_default();
    let user =
        inner.find_user(login).filter(|u| u.password_matches(params.get("password").unwrap_or_default()));
    let Some(user) = user else {
        let mut page = login_page(
            &pending_id,
            &pending.csrf,
            &client_name,
            Some(login),
            Some("Unknown user or wrong password."),
        );
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return page;
    };
    pending.user_id = Some(user.id.clone());
    if let Err(error) = inner.store.pending.put(&key, &pending, Some(PENDING_TTL)).await {
        return Failure::from(error).into_response(&inner);
    }
    consent_page(&pending_id, &pending, user, &client_name)
}

/// `POST /oauth2/consent`: approve issues the code, deny redirects with `access_denied`.
pub(super) async fn consent(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(params) = form_params(&headers, body) else {
        return error_page(StatusCode::BAD_REQUEST, "the form could not be read");
    };
    let (key, pending) = match load_pending(&inner, &headers, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(user) = pending.user_id.as_deref().and_then(|id| inner.user_by_id(id)) else {
        return error_page(StatusCode::BAD_REQUEST, "sign in first");
    };
    // Single use: whoever takes the pending authorization first decides.
    match inner.store.pending.take(&key).await {
        Ok(Some(_)) => {}
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, "this sign-in was already used; start again"),
        Err(error) => return Failure::from(error).into_response(&inner),
    }
    if params.get("decision") != Some("approve") {
        return redirect_to_client(
            &inner,
            &pending.redirect_uri,
            &[("error", "access_denied"), ("error_description", "the person denied access")],
            pending.state.as_deref(),
            StatusCode::SEE_OTHER,
        );
    }
    match issue_code(&inner, &pending, user).await {
        Ok(code) => success_redirect(
            &inner,
            &pending.redirect_uri,
            &code,
            pending.state.as_deref(),
            StatusCode::SEE_OTHER,
        ),
        Err(failure) => failure.into_response(&inner),
    }
}

const DEV_BANNER: &str = "<p class=\"dev\">mcp-auth dev IdP &mdash; <strong>for development only</strong>. \
    Never use it to protect real data.</p>";
const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}\
    .dev{background:#fff3cd;border:1px solid #e0c060;padding:.5rem}label{display:block;margin:.5rem 0}\
    input[type=text],input[type=password]{width:100%}.err{color:#a00}</style>";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>{STYLE}</head>\
         <body>{DEV_BANNER}<h1>{title}</h1>{body}</body></html>"
    )
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<p class=\"err\">{}</p>", html_escape(message));
    (status, [(header::CACHE_CONTROL, "no-store")], Html(page("Sign-in error", &body))).into_response()
}

fn login_page(
    pending: &str,
    csrf: &str,
    client_name: &str,
    login: Option<&str>,
    error: Option<&str>,
) -> Response {
    let error = error.map(|e| format!("<p class=\"err\">{}</p>", html_escape(e))).unwrap_or_default();
    let body = format!(
        "<p><strong>{client}</strong> wants you to sign in.</p>{error}\
         <form method=\"post\" action=\"/oauth2/login\">\
         <input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Email or user id <input type=\"text\" name=\"login\" value=\"{login}\" autofocus></label>\
         <label>Password <input type=\"password\" name=\"password\"></label>\
         <button type=\"submit\">Sign in</button></form>",
        client = html_escape(client_name),
        pending = html_escape(pending),
        csrf = html_escape(csrf),
        login = html_escape(login.unwrap_or_default()),
    );
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Html(page("Sign in", &body))).into_response()
}

fn consent_page(
    pending_id: &str,
    pending: &PendingAuthorization,
    user: &DevUser,
    client_name: &str,
) -> Response {
    let scopes = if pending.scope.is_empty() {
        "<li>(no scopes)</li>".to_owned()
    } else {
        pending.scope.split(' ').map(|s| format!("<li>{}</li>", html_escape(s))).collect()
    };
    let resource = pending
        .resource
        .as_deref()
        .map(|r| format!("<p>for the resource <code>{}</code></p>", html_escape(r)))
        .unwrap_or_default();
    let body = format!(
        "<p>Signed in as <strong>{email}</strong>.</p>\
         <p><strong>{client}</strong> asks for:</p><ul>{scopes}</ul>{resource}\
         <form method=\"post\" action=\"/oauth2/consent\">\
         <input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        email = html_escape(&user.email),
        client = html_escape(client_name),
        pending = html_escape(pending_id),
        csrf = html_escape(&pending.csrf),
    );
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Html(page("Allow access?", &body)))
        .into_response()
}
