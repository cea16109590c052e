//! The authorization server's HTTP endpoints, each a thin composition of `mcp-auth-oauth-server` blocks.

mod authorize;
mod callback;
mod consent;
mod metadata;
mod register;
mod revoke;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::http::header::LOCATION;
use axum::response::Response;
use axum::routing::{get, post};
use mcp_auth_core::metrics::{self, FlowEvent, FlowOutcome};

use crate::proxy::Inner;

pub(crate) type AppState = Arc<Inner>;

/// Counts a browser-facing flow step by the page or redirect it answered: a 5xx is an `error`, a 4xx or
/// a redirect carrying an OAuth `error` (back to the client) is `refused`, anything else a `success`.
fn counted(event: FlowEvent, response: Response) -> Response {
    let status = response.status();
    let outcome = if status.is_server_error() {
        FlowOutcome::Error
    } else if status.is_client_error() || redirects_with_error(&response) {
        FlowOutcome::Refused
    } else {
        FlowOutcome::Success
    };
    metrics::record_flow(event, outcome);
    response
}

/// Whether `response` redirects with an `error` query parameter (RFC 6749 §4.1.2.1).
fn redirects_with_error(response: &Response) -> bool {
    if !response.status().is_redirection() {
        return false;
    }
    let Some(location) = response.headers().get(LOCATION).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    // A relative location (the consent page) is read against a placeholder base; only the query matters.
    let Ok(url) = url::Url::parse("http://placeholder.invalid/").and_then(|base| base.join(location)) else {
        return false;
    };
    url.query_pairs().any(|(name, _)| name == "error")
}

/// Every route of the authorization server, with the CORS policy and its cross-origin guard in front.
/// No fallback: the router is merged with the application's.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(inner: AppState) -> Router<S> {
    let cors = inner.cors.clone();
    let paths = inner.paths.clone();
    let mut router = Router::new();
    for path in metadata::paths(&paths.prefix) {
        router = router.route(&path, get(metadata::metadata));
    }
    let router = router
        .route(&paths.register, post(register::register))
        .route(&paths.authorize, get(authorize::authorize))
        .route(&paths.consent, get(consent::show).post(consent::decide))
        .route(&paths.callback, get(callback::callback))
        .route(&paths.token, post(token::token))
        .route(&paths.revoke, post(revoke::revoke))
        .with_state(inner);
    cors.apply(router)
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use mcp_auth_core::metrics::{FLOW_EVENTS_TOTAL, FlowEvent};
    use mcp_auth_core::testkit::MetricsCapture;

    use super::counted;

    fn redirect(location: &str) -> Response {
        (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
    }

    #[test]
    fn pages_and_redirects_count_under_their_outcome() {
        let capture = MetricsCapture::new();
        capture.run(async {
            // On to the consent page, on to the upstream, back to the client with a code: successes.
            counted(FlowEvent::Authorization, redirect("/consent?transaction=t1"));
            counted(FlowEvent::Consent, redirect("https://upstream.example/authorize?state=s&scope=openid"));
            counted(FlowEvent::Callback, redirect("http://127.0.0.1:9/cb?code=c&state=s"));
            // Back to the client with an error, or a refusal page: refused.
            counted(FlowEvent::Consent, redirect("http://127.0.0.1:9/cb?error=access_denied&state=s"));
            counted(FlowEvent::Authorization, StatusCode::BAD_REQUEST.into_response());
            // A page saying the server failed: an error.
            counted(FlowEvent::Callback, StatusCode::SERVICE_UNAVAILABLE.into_response());
        });
        let recorded = capture.take();
        let count = |event: FlowEvent, outcome: &str| {
            recorded.counter(FLOW_EVENTS_TOTAL, &[("event", event.as_str()), ("outcome", outcome)])
        };
        assert_eq!(count(FlowEvent::Authorization, "success"), 1);
        assert_eq!(count(FlowEvent::Authorization, "refused"), 1);
        assert_eq!(count(FlowEvent::Consent, "success"), 1);
        assert_eq!(count(FlowEvent::Consent, "refused"), 1);
        assert_eq!(count(FlowEvent::Callback, "success"), 1);
        assert_eq!(count(FlowEvent::Callback, "error"), 1);
        assert_eq!(recorded.counter(FLOW_EVENTS_TOTAL, &[]), 6);
    }
}
