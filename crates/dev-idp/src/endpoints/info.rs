//! Metadata, JWKS and the index page.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_oauth_server::{html_escape, html_page};

use super::AppState;

/// `GET /`: says what this is, and that it is for development only.
pub(super) async fn index(State(inner): State<AppState>) -> Response {
    let users: String = inner
        .users
        .iter()
        .map(|u| {
            format!(
                "<li><code>{}</code> &lt;{}&gt; {}</li>",
                html_escape(&u.id),
                html_escape(&u.email),
                html_escape(&u.roles.join(", "))
            )
        })
        .collect();
    html_page(
        StatusCode::OK,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>mcp-auth dev IdP</title></head><body>\
             <p style=\"background:#fff3cd;padding:.5rem\"><strong>FOR DEVELOPMENT ONLY.</strong> This identity \
             provider signs in configured users with no real checks. Never use it to protect real data.</p>\
             <h1>mcp-auth dev IdP</h1><p>An OAuth 2.1 / OpenID Connect server with WorkOS AuthKit's endpoint layout.</p>\
             <p>Issuer: <code>{issuer}</code>; metadata at <a href=\"/.well-known/oauth-authorization-server\">\
             /.well-known/oauth-authorization-server</a>; auto-approve: {auto}.</p><h2>Users</h2><ul>{users}</ul>\
             </body></html>",
            issuer = html_escape(&inner.issuer),
            auto = inner.auto_approve,
        ),
    )
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub(super) async fn metadata(State(inner): State<AppState>) -> Response {
    Json(inner.metadata()).into_response()
}

/// `GET /oauth2/jwks`.
pub(super) async fn jwks(State(inner): State<AppState>) -> Response {
    let mut response = Json(inner.jwt.public_jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
