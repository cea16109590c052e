//! Which web origins may call the authorization server: CORS headers for the allowed ones, and a hard
//! refusal (403) of state-changing requests from every other origin.
//!
//! CORS alone does not protect an authorization server: a page on any origin can still *send* a form
//! POST (a "simple" request, no preflight) to the token endpoint, or register a client with a text/plain
//! body; CORS only hides the answer. Browsers put an `Origin` header on every cross-origin POST, so the
//! guard refuses such requests outright unless the origin is allowed. Clients that are not browsers send
//! no `Origin` and are not affected. The default allows loopback origins only (browser-based MCP
//! clients such as the MCP Inspector run on `localhost`), plus the server's own origin for its pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use url::Url;

use crate::error::OAuthError;

/// The origins allowed to call the server from a browser.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::CorsPolicy;
///
/// let policy = CorsPolicy::loopback().with_origin("https://auth.example.com").unwrap();
/// assert!(policy.allows("http://localhost:6274"));
/// assert!(policy.allows("https://auth.example.com"));
/// assert!(!policy.allows("https://evil.example"));
/// assert!(!policy.allows("null"));
/// ```
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    loopback: bool,
    any: bool,
    origins: Vec<String>,
}

impl CorsPolicy {
    /// Loopback origins only (`http(s)://localhost`, `127.0.0.1`, `[::1]`, any port).
    #[must_use]
    pub fn loopback() -> Self {
        Self { inner: Arc::new(Inner { loopback: true, any: false, origins: Vec::new() }) }
    }

    /// No browser origin at all (only non-browser clients and `with_origin` additions).
    #[must_use]
    pub fn none() -> Self {
        Self { inner: Arc::new(Inner { loopback: false, any: false, origins: Vec::new() }) }
    }

    /// Every origin. Any web page a person visits can then drive this server through their browser;
    /// only for a server whose every endpoint is safe to call from anywhere.
    #[must_use]
    pub fn insecure_any_origin() -> Self {
        Self { inner: Arc::new(Inner { loopback: false, any: true, origins: Vec::new() }) }
    }

    /// Also allows `origin` (`scheme://host[:port]`, as browsers send it).
    ///
    /// # Errors
    ///
    /// A message when `origin` is not an origin (a path, a query, no host...).
    pub fn with_origin(self, origin: &str) -> Result<Self, String> {
        let url = Url::parse(origin).map_err(|e| format!("{origin:?} is not an origin ({e})"))?;
        let serialized = url.origin().ascii_serialization();
        if serialized == "null" || origin.trim_end_matches('/') != serialized {
            return Err(format!("{origin:?} is not an origin such as https://app.example.com"));
        }
        let inner = &*self.inner;
        let mut origins = inner.origins.clone();
        origins.push(serialized);
        Ok(Self { inner: Arc::new(Inner { loopback: inner.loopback, any: inner.any, origins }) })
    }

    /// Whether a request with this `Origin` header is allowed.
    #[must_use]
    pub fn allows(&self, origin: &str) -> bool {
        let inner = &*self.inner;
        if inner.any {
            return true;
        }
        if inner.origins.iter().any(|allowed| allowed == origin) {
            return true;
        }
        inner.loopback
            && Url::parse(origin).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.origin().ascii_serialization() == origin
                    && mcp_auth_core::loopback::is_loopback_url(&url)
            })
    }

    /// Adds the CORS layer (no credentials; `Authorization` and `Content-Type` request headers;
    /// `WWW-Authenticate` exposed) and the origin guard to `router`.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        let policy = self.clone();
        let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|origin| policy.allows(origin))
        });
        let cors = CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::WWW_AUTHENTICATE])
            .max_age(std::time::Duration::from_secs(600));
        router.layer(axum::middleware::from_fn_with_state(self.clone(), origin_guard)).layer(cors)
    }
}

/// Refuses a state-changing request (anything but `GET`, `HEAD` and `OPTIONS`) whose `Origin` is not
/// allowed, before any handler runs.
async fn origin_guard(State(policy): State<CorsPolicy>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|origin| policy.allows(origin));
        if !allowed {
            tracing::warn!(origin = ?origin, path = %request.uri().path(), "request from a foreign web origin refused");
            return OAuthError::invalid_request("requests from this web origin are not allowed")
                .with_status(StatusCode::FORBIDDEN)
                .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let policy = CorsPolicy::loopback();
        for yes in [
            "http://localhost:6274",
            "http://127.0.0.1:3000",
            "http://[::1]:9",
            "https://localhost",
            "http://app.localhost:5173",
        ] {
            assert!(policy.allows(yes), "{yes}");
        }
        for no in [
            "https://evil.example",
            "null",
            "http://localhost.evil.example",
            "http://localhost:6274/",
            "http://localhost:6274/path",
            "file://",
            "chrome-extension://abc",
            "",
        ] {
            assert!(!policy.allows(no), "{no:?}");
        }
        assert!(!CorsPolicy::none().allows("http://localhost:1"));
        assert!(CorsPolicy::insecure_any_origin().allows("https://evil.example"));
        assert!(CorsPolicy::none().with_origin("https://a.example/path").is_err());
        assert!(CorsPolicy::none().with_origin("https://a.example").unwrap().allows("https://a.example"));
    }
}
