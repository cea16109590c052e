//! The sign-in and consent pages and the pending authorization they work on.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use mcp_auth_oauth_server::{AuthorizationRequest, OAuthError, html_escape, html_page};
use serde::{Deserialize, Serialize};

use crate::config::DevUser;

/// The name of the cookie that binds a browser to its pending authorization.
pub(crate) const CSRF_COOKIE: &str = "dev_idp_csrf";

/// An authorization waiting for the person on the sign-in and consent pages. Stored under the keyed hash
/// of its random id, which travels in the page's form; the CSRF token travels in the form and a cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) request: AuthorizationRequest,
    pub(crate) csrf: String,
    pub(crate) user_id: Option<String>,
}

const DEV_BANNER: &str = "<p class=\"dev\">mcp-auth dev IdP &mdash; <strong>for development only</strong>. \
    Never use it to protect real data.</p>";
const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}\
    .dev{background:#fff3cd;border:1px solid #e0c060;padding:.5rem}label{display:block;margin:.5rem 0}\
    input[type=text],input[type=password]{width:100%}.err{color:#a00}.to{font-size:1.1rem}</style>";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>{STYLE}</head>\
         <body>{DEV_BANNER}<h1>{title}</h1>{body}</body></html>"
    )
}

/// An error page (never a redirect).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<p class=\"err\">{}</p>", html_escape(message));
    html_page(status, page("Sign-in error", &body))
}

/// The page for a failure inside the server (store down, no randomness): 503 or 500, no details.
pub(crate) fn failure_page(error: &OAuthError) -> Response {
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "the sign-in service is temporarily unavailable; try again",
        )
    } else {
        error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
    }
}

/// The sign-in page, with the CSRF cookie.
pub(crate) fn login_page(
    pending_id: &str,
    pending: &Pending,
    login: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let error = error.map(|e| format!("<p class=\"err\">{}</p>", html_escape(e))).unwrap_or_default();
    let body = format!(
        "<p><strong>{client}</strong> wants you to sign in.</p>{error}\
         <form method=\"post\" action=\"/oauth2/login\">\
         <input type=\"hidden\" name=\"pending\" value=\"{pending_id}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Email or user id <input type=\"text\" name=\"login\" value=\"{login}\" autofocus></label>\
         <label>Password <input type=\"password\" name=\"password\"></label>\
         <button type=\"submit\">Sign in</button></form>",
        client = html_escape(pending.request.client.display_name()),
        pending_id = html_escape(pending_id),
        csrf = html_escape(&pending.csrf),
        login = html_escape(login.unwrap_or_default()),
    );
    let mut response = html_page(status, page("Sign in", &body));
    let cookie = format!("{CSRF_COOKIE}={}; Path=/oauth2; HttpOnly; SameSite=Lax", pending.csrf);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The consent page: who is signed in, which client asks for what, and where the code will be sent
/// (the MCP specification asks servers to show the redirect URI's host).
pub(crate) fn consent_page(pending_id: &str, pending: &Pending, user: &DevUser) -> Response {
    let request = &pending.request;
    let scopes = if request.scopes.is_empty() {
        "<li>(no scopes)</li>".to_owned()
    } else {
        request.scopes.iter().map(|s| format!("<li>{}</li>", html_escape(s))).collect()
    };
    let resource = request
        .resource
        .as_deref()
        .map(|r| format!("<p>for the resource <code>{}</code></p>", html_escape(r)))
        .unwrap_or_default();
    let body = format!(
        "<p>Signed in as <strong>{email}</strong>.</p>\
         <p><strong>{client}</strong> asks for:</p><ul>{scopes}</ul>{resource}\
         <p class=\"to\">If you allow it, you will be sent back to <strong>{host}</strong>.</p>\
         <form method=\"post\" action=\"/oauth2/consent\">\
         <input type=\"hidden\" name=\"pending\" value=\"{pending_id}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        email = html_escape(&user.email),
        client = html_escape(request.client.display_name()),
        host = html_escape(&request.redirect_host()),
        pending_id = html_escape(pending_id),
        csrf = html_escape(&pending.csrf),
    );
    html_page(StatusCode::OK, page("Allow access?", &body))
}

/// The CSRF cookie's value, if the browser sent one.
pub(crate) fn cookie_csrf(headers: &HeaderMap) -> Option<String> {
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
