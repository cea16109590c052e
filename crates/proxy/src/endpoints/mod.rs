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
use axum::routing::{get, post};

use crate::proxy::Inner;

pub(crate) type AppState = Arc<Inner>;

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
