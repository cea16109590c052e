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

#[cfg(test)]
mod tests {
    use super::paths;

    #[test]
    fn an_issuer_with_a_path_is_found_at_every_address_clients_try() {
        assert_eq!(
            paths(""),
            ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
        );
        assert_eq!(
            paths("/tools"),
            [
                "/.well-known/oauth-authorization-server/tools",
                "/.well-known/openid-configuration/tools",
                "/tools/.well-known/openid-configuration",
                "/tools/.well-known/oauth-authorization-server",
            ]
        );
    }
}
