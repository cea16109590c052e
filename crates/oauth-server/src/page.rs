//! HTML pages (sign-in, consent, errors) with the headers that keep them from being framed, sniffed,
//! cached or leaking their URL.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The headers every page carries: a Content Security Policy with `frame-ancestors 'none'` and
/// `X-Frame-Options: DENY` (no clickjacking of the consent button), `nosniff`, no referrer to other sites (`same-origin`), no caching.
#[must_use]
pub fn page_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        // `same-origin`, not `no-referrer`: with no referrer a browser sends `Origin: null` on the page's own
        // form posts, which the cross-origin guard must refuse; other sites still get no referrer.
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// An HTML page answer with [`page_headers`].
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use mcp_auth_oauth_server::html_page;
///
/// let response = html_page(StatusCode::OK, "<p>hello</p>".to_owned());
/// assert_eq!(response.headers()["x-frame-options"], "DENY");
/// assert!(response.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
/// ```
#[must_use]
pub fn html_page(status: StatusCode, html: String) -> Response {
    (status, page_headers(), Html(html)).into_response()
}

/// Escapes text for HTML element content and quoted attribute values.
///
/// # Examples
///
/// ```
/// assert_eq!(mcp_auth_oauth_server::html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
#[must_use]
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
