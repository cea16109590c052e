//! [`OAuthError`]: the one error answer of every endpoint, in the shape of RFC 6749 §5.2, RFC 7591 §3.2.2
//! and RFC 7009 §2.2.1, with the right HTTP status and `Cache-Control: no-store`.

use std::borrow::Cow;
use std::fmt;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::StoreError;
use mcp_auth_core::metrics::{FlowEvent, FlowOutcome};
use oauth2::RevocationErrorResponseType;
use oauth2::basic::BasicErrorResponseType;
use openidconnect::core::{CoreAuthErrorResponseType, CoreRegisterErrorResponseType};
use serde_json::json;

/// An OAuth error code, typed by the endpoint family that defines it (the `oauth2` and `openidconnect`
/// crates' enums, so no code is a free-form string).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Token endpoint errors (RFC 6749 §5.2), with RFC 8707's `invalid_target` and the generic
    /// `server_error` / `temporarily_unavailable` as extensions.
    Token(BasicErrorResponseType),
    /// Authorization endpoint errors (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
    Authorization(CoreAuthErrorResponseType),
    /// Dynamic client registration errors (RFC 7591 §3.2.2).
    Registration(CoreRegisterErrorResponseType),
    /// Revocation errors (RFC 7009 §2.2.1).
    Revocation(RevocationErrorResponseType),
}

impl ErrorCode {
    /// The code as it goes on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Token(code) => code.as_ref(),
            Self::Authorization(code) => code.as_ref(),
            Self::Registration(code) => code.as_ref(),
            Self::Revocation(code) => code.as_ref(),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The RFC 8707 §2 error for a bad or unknown `resource`.
pub const INVALID_TARGET: &str = "invalid_target";

/// An OAuth error answer: a code, a human-readable description, and the HTTP status it is sent with.
///
/// Rendered as `{"error": ..., "error_description": ...}` with `Cache-Control: no-store` and
/// `Pragma: no-cache`; `invalid_client` at the token, revocation and introspection endpoints carries a
/// `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2), and `temporarily_unavailable` a `Retry-After`.
/// Internal failures never put their details in the body: [`OAuthError::from`] a [`StoreError`] logs
/// the cause and answers a plain `server_error` or `temporarily_unavailable`.
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use mcp_auth_oauth_server::OAuthError;
///
/// let error = OAuthError::invalid_grant("the code has expired");
/// assert_eq!(error.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(error.code().as_str(), "invalid_grant");
/// assert_eq!(OAuthError::invalid_client("unknown client").status(), StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    code: ErrorCode,
    description: Cow<'static, str>,
    status: StatusCode,
    basic_challenge: bool,
    retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with a code and description; the status is the one the code's RFC gives
    /// (`invalid_client` 401, `server_error` 500, `temporarily_unavailable` 503, the rest 400).
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let status = match code.as_str() {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let basic_challenge = status == StatusCode::UNAUTHORIZED;
        Self { code, description: description.into(), status, basic_challenge, retry_after: None }
    }

    /// A token-endpoint error (RFC 6749 §5.2).
    pub fn token(code: BasicErrorResponseType, description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Token(code), description)
    }

    /// A registration error (RFC 7591 §3.2.2).
    pub fn registration(
        code: CoreRegisterErrorResponseType,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorCode::Registration(code), description)
    }

    /// `invalid_request`: a parameter is missing, repeated, malformed or unsupported.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::InvalidRequest, description)
    }

    /// `invalid_client` (401 with a `Basic` challenge): client authentication failed.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::InvalidClient, description)
    }

    /// `invalid_grant`: the code or refresh token is invalid, expired, revoked or not this client's.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::InvalidGrant, description)
    }

    /// `invalid_scope`: a scope is malformed, unknown or wider than granted.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::InvalidScope, description)
    }

    /// `unauthorized_client`: the client may not use this grant.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::UnauthorizedClient, description)
    }

    /// `unsupported_grant_type`.
    pub fn unsupported_grant_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::UnsupportedGrantType, description)
    }

    /// `invalid_target` (RFC 8707 §2): the `resource` is malformed or not served here.
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::token(BasicErrorResponseType::Extension(INVALID_TARGET.to_owned()), description)
    }

    /// `invalid_client_metadata` (RFC 7591).
    pub fn invalid_client_metadata(description: impl Into<Cow<'static, str>>) -> Self {
        Self::registration(CoreRegisterErrorResponseType::InvalidClientMetadata, description)
    }

    /// `invalid_redirect_uri` (RFC 7591).
    pub fn invalid_redirect_uri(description: impl Into<Cow<'static, str>>) -> Self {
        Self::registration(CoreRegisterErrorResponseType::InvalidRedirectUri, description)
    }

    /// `server_error` (500) with a fixed, detail-free description. Log the cause before calling this.
    #[must_use]
    pub fn server_error() -> Self {
        Self::token(BasicErrorResponseType::Extension("server_error".to_owned()), "internal error")
    }

    /// `temporarily_unavailable` (503, `Retry-After: retry_after_secs`): a backend is down, try again.
    #[must_use]
    pub fn temporarily_unavailable(retry_after_secs: u64) -> Self {
        let mut error = Self::token(
            BasicErrorResponseType::Extension("temporarily_unavailable".to_owned()),
            "the server is temporarily unavailable; try again later",
        );
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// Too many requests (429, `Retry-After`), with the given code and description.
    #[must_use]
    pub fn too_many_requests(mut self, retry_after_secs: u64) -> Self {
        self.status = StatusCode::TOO_MANY_REQUESTS;
        self.retry_after = Some(retry_after_secs);
        self
    }

    /// The same error with another HTTP status (for example 413 for an oversized body).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self.basic_challenge = status == StatusCode::UNAUTHORIZED && self.code.as_str() == "invalid_client";
        self
    }

    /// The error code.
    #[must_use]
    pub fn code(&self) -> &ErrorCode {
        &self.code
    }

    /// The description sent as `error_description`.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The outcome a flow step that ended with this error is counted under: `error` for a 5xx (the
    /// server failed), `refused` otherwise.
    #[must_use]
    pub fn flow_outcome(&self) -> FlowOutcome {
        if self.status.is_server_error() { FlowOutcome::Error } else { FlowOutcome::Refused }
    }
}

/// Counts one flow step in [`FLOW_EVENTS_TOTAL`](mcp_auth_core::metrics::FLOW_EVENTS_TOTAL): `success` for
/// `Ok`, else the error's [`OAuthError::flow_outcome`].
pub fn record_flow<T>(event: FlowEvent, result: &Result<T, OAuthError>) {
    let outcome = match result {
        Ok(_) => FlowOutcome::Success,
        Err(error) => error.flow_outcome(),
    };
    mcp_auth_core::metrics::record_flow(event, outcome);
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error), "state store unavailable");
            Self::temporarily_unavailable(5)
        } else {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error), "state store failed");
            Self::server_error()
        }
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: every answer that carries a token, a code or a client
/// secret sends them (RFC 6749 §5.1, RFC 7591 §3.2.1).
#[must_use]
pub fn no_store() -> [(HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code.as_str(), "error_description": self.description});
        let mut response = (self.status, no_store(), Json(body)).into_response();
        let headers = response.headers_mut();
        if self.basic_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oauth\""));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    async fn render(error: OAuthError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = error.into_response();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn statuses_bodies_and_headers() {
        let (status, headers, body) = render(OAuthError::invalid_client("unknown client")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"error": "invalid_client", "error_description": "unknown client"}));
        assert!(headers[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"));
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::PRAGMA], "no-cache");

        let (status, headers, body) = render(OAuthError::invalid_target("no such resource")).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));
        assert!(headers.get(header::WWW_AUTHENTICATE).is_none());

        let (status, _, body) = render(OAuthError::invalid_redirect_uri("x")).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")));

        let (status, headers, body) = render(OAuthError::temporarily_unavailable(7)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "7");
        assert_eq!(body["error"], "temporarily_unavailable");

        let (status, _, body) = render(OAuthError::server_error()).await;
        assert_eq!(
            (status, body["error_description"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("internal error"))
        );

        let limited = OAuthError::invalid_client_metadata("slow down").too_many_requests(60);
        let (status, headers, _) = render(limited).await;
        assert_eq!(
            (status, &headers[header::RETRY_AFTER]),
            (StatusCode::TOO_MANY_REQUESTS, &HeaderValue::from(60))
        );

        let big = OAuthError::invalid_request("too large").with_status(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(render(big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn store_failures_never_leak_their_cause() {
        let unavailable =
            StoreError::Unavailable { backend: "redis", source: "connection refused at 10.1.2.3".into() };
        let (status, _, body) = render(unavailable.into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!body.to_string().contains("10.1.2.3"));
        let broken =
            StoreError::Backend { backend: "file", source: "permission denied on /srv/secret".into() };
        let (status, _, body) = render(broken.into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("/srv/secret"));
    }
}
