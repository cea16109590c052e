//! The metadata routes and the CORS layers for discovery documents and the MCP endpoint.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcp_auth_core::metadata::WELL_KNOWN_PROTECTED_RESOURCE;
use tower_http::cors::{Any, CorsLayer};

use crate::provider::RemoteAuthProvider;

impl RemoteAuthProvider {
    /// Routes serving the metadata, with CORS and `OPTIONS` so browser-based clients can read it, at:
    /// `/.well-known/oauth-protected-resource<path>` for the full public path and for the MCP path alone
    /// (so it answers whether or not a reverse proxy strips the prefix), and at the root
    /// `/.well-known/oauth-protected-resource`.
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let mut paths = vec![
            format!("{WELL_KNOWN_PROTECTED_RESOURCE}{}", self.resource.path()),
            format!("{WELL_KNOWN_PROTECTED_RESOURCE}{}", self.resource.mcp_path()),
            WELL_KNOWN_PROTECTED_RESOURCE.to_owned(),
        ];
        paths.dedup();
        let body = Arc::new(serde_json::to_vec(&*self.metadata).unwrap_or_default());
        let mut router = Router::new();
        for path in paths {
            let body = Arc::clone(&body);
            router = router.route(
                &path,
                get(move || {
                    let body = Arc::clone(&body);
                    async move { metadata_response(&body) }
                }),
            );
        }
        // The CORS layer answers every OPTIONS request itself, preflight or not.
        router.layer(metadata_cors())
    }
}

fn metadata_response(body: &[u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        body.to_vec(),
    )
        .into_response()
}

/// CORS for discovery documents: any origin may read them (they are public), with `GET` and `OPTIONS`.
pub fn metadata_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            "mcp-protocol-version".parse().unwrap_or(header::ACCEPT),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// CORS for the MCP endpoint itself, for browser-based clients: any origin (the endpoint authenticates
/// with bearer tokens, never cookies, so no ambient credential is exposed), the MCP methods and headers,
/// and `WWW-Authenticate` and `Mcp-Session-Id` exposed so the client can read the challenge and session.
///
/// Put it outside the bearer layer (`.layer(bearer).layer(mcp_cors())`) so preflight requests, which
/// carry no token, are answered before authentication.
pub fn mcp_cors() -> CorsLayer {
    let header = |name: &'static str| http::HeaderName::from_static(name);
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header("mcp-protocol-version"),
            header("mcp-session-id"),
            header("last-event-id"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE, header("mcp-session-id")])
        .max_age(std::time::Duration::from_secs(3600))
}
