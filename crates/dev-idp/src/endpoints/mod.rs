//! The HTTP endpoints and their one error boundary.

mod authorize;
mod info;
mod register;
mod token;

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use crate::error::DevIdpError;
use crate::server::{ClientRecord, Inner, MAX_BODY_BYTES};
use crate::util::{Params, constant_time_eq, form_decode, hash_key};

pub(crate) type AppState = Arc<Inner>;

/// Every route, with a body limit and JSON answers for unknown paths and wrong methods.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(info::index))
        .route("/.well-known/oauth-authorization-server", get(info::metadata))
        .route("/.well-known/openid-configuration", get(info::metadata))
        .route("/oauth2/jwks", get(info::jwks))
        .route("/oauth2/authorize", get(authorize::authorize))
        .route("/oauth2/login", post(authorize::login))
        .route("/oauth2/consent", post(authorize::consent))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/register", post(register::register))
        .route("/oauth2/userinfo", get(info::userinfo).post(info::userinfo))
        .route("/oauth2/revoke", post(info::revoke))
        .route("/oauth2/introspection", post(info::introspect))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors())
        .with_state(state)
}

/// Browser-based MCP clients (such as an inspector page) call discovery, registration and the token
/// endpoint cross-origin. No credentials are allowed, so cookies never travel cross-origin.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(600))
}

async fn not_found() -> Response {
    OAuthError::new(StatusCode::NOT_FOUND, "invalid_request", "no such endpoint on this server")
        .into_response()
}

async fn method_not_allowed() -> Response {
    OAuthError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "this endpoint does not accept this HTTP method",
    )
    .into_response()
}

/// An RFC 6749 §5.2 error answer: `{"error", "error_description"}` with the right status.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
    basic_challenge: bool,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { status, error, description: description.into(), basic_challenge: false }
    }

    pub(crate) fn bad_request(error: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad_request("invalid_request", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad_request("invalid_grant", description)
    }

    pub(crate) fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self { basic_challenge: true, ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description) }
    }
}

impl From<DevIdpError> for OAuthError {
    fn from(error: DevIdpError) -> Self {
        if let DevIdpError::Store(store) = &error
            && store.is_unavailable()
        {
            tracing::error!(error = %store, "dev IdP state store unavailable");
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again later");
        }
        tracing::error!(error = %error, source = ?std::error::Error::source(&error), "dev IdP internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
    }
}

impl From<mcp_auth_core::StoreError> for OAuthError {
    fn from(error: mcp_auth_core::StoreError) -> Self {
        DevIdpError::from(error).into()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, no_store(), axum::Json(body)).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcp-auth-dev-idp\""),
            );
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for token-bearing answers.
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Reads a form body: checks the content type, the body limit and repeated parameters.
pub(crate) fn form_params(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let bytes = body_bytes(body)?;
    let params = Params::parse(&bytes).map_err(OAuthError::invalid_request)?;
    if let Some(repeated) = params.repeated() {
        return Err(OAuthError::invalid_request(format!("the parameter {repeated:?} is repeated")));
    }
    Ok(params)
}

/// The request body, or an error that says why it could not be read (413 when too large).
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, OAuthError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let status = if status.is_server_error() { StatusCode::BAD_REQUEST } else { status };
        OAuthError::new(
            status,
            "invalid_request",
            format!("cannot read the request body: {}", rejection.body_text()),
        )
    })
}

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    Basic,
    Post,
    None,
}

/// Authenticates the client of a token, revocation or introspection request (RFC 6749 §2.3):
/// `client_secret_basic`, `client_secret_post`, or `none` for public clients. One method only.
pub(crate) async fn authenticate_client(
    inner: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(ClientRecord, AuthMethod), OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value =
                value.to_str().map_err(|_| OAuthError::invalid_client("unreadable Authorization header"))?;
            let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client("only HTTP Basic client authentication is accepted"));
            }
            let decoded = STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed HTTP Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed HTTP Basic credentials"))?;
            let id = form_decode(id).ok_or_else(|| OAuthError::invalid_client("malformed client id"))?;
            let secret =
                form_decode(secret).ok_or_else(|| OAuthError::invalid_client("malformed client secret"))?;
            Some((id, secret))
        }
        None => None,
    };
    let (client_id, secret, method) = match basic {
        Some((id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method, not two"));
            }
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (id, Some(secret), AuthMethod::Basic)
        }
        None => {
            let id = params.get("client_id").ok_or_else(|| {
                OAuthError::invalid_client("client authentication is required (client_id is missing)")
            })?;
            match params.get("client_secret") {
                Some(secret) => (id.to_owned(), Some(secret.to_owned()), AuthMethod::Post),
                None => (id.to_owned(), None, AuthMethod::None),
            }
        }
    };
    let client =
        inner.client(&client_id).await?.ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    // Some public clients send `Basic base64(client_id:)`: an empty secret is no secret.
    let secret = secret.filter(|s| !(s.is_empty() && client.secret_sha256.is_none()));
    match (&client.secret_sha256, secret) {
        (Some(expected), Some(secret)) => {
            if !constant_time_eq(expected.as_bytes(), hash_key(&secret).as_bytes()) {
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_client(
                "this confidential client must authenticate with its secret",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_client("this public client has no secret"));
        }
        (None, None) => {}
    }
    Ok((client, method))
}
