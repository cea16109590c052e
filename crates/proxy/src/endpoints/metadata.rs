//! RFC 8414 authorization server metadata, at every address clients look for it.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The metadata paths for an issuer whose path is `prefix`: RFC 8414's path-aware form
/// (`/.well-known/oauth-authorization-server{prefix}`), OpenID's (`{prefix}/.well-known/openid-configuration`
/// and the path-inserted form), and the root forms when the issuer has no path.
pub(super) fn paths(prefix: &str) -> Vec<String> {
    let mut paths = vec![
        format!("/.well-known/oauth-authorization-server{prefix}"),
        format!("/.well-known/openid-configuration{prefix}"),
    ];
    if !prefix.is_empty() {
        paths.push(format!("{prefix}/.well-known/openid-configuration"));
        paths.push(format!("{prefix}/.well-known/oauth-authorization-server"));
    }
    paths
}

pub(super) async fn metadata(State(inner): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=3600")], Json(inner.metadata.build())).into_response()
}
