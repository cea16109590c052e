//! The client's side of a browser test: a loopback server whose callback path records the query it
//! receives, and a `/plain` page without framing protection (the control for framing tests).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;

/// Runs `body`, failing the test when it takes longer than `limit`.
///
/// # Panics
///
/// When the limit passes (a test failure).
pub async fn bounded(limit: Duration, body: impl Future<Output = ()>) {
    tokio::time::timeout(limit, body).await.expect("the test did not finish within its time limit");
}

/// Serves `router` on a fresh loopback port (with `TCP_NODELAY`, like every server here).
///
/// # Panics
///
/// When no loopback port can be bound.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = mcp_auth_core::serve::bind("127.0.0.1:0").await.expect("binding a loopback port");
    let address = axum::serve::Listener::local_addr(&listener).expect("reading the bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// A native client's loopback redirect target.
#[derive(Debug)]
pub struct Catcher {
    /// `http://127.0.0.1:port`.
    pub origin: String,
    path: String,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Catcher {
    /// Starts one whose redirect URI is `{origin}{path}`.
    pub async fn start(path: &str) -> Self {
        let queries = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route(
                path,
                get(|State(queries): State<Arc<Mutex<Vec<String>>>>, RawQuery(query): RawQuery| async move {
                    queries
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(query.unwrap_or_default());
                    Html("<!doctype html><p id=\"caught\">the client got the redirect</p>")
                }),
            )
            .route(
                "/plain",
                get(|| async { Html("<!doctype html><p id=\"plain\">a page anyone may frame</p>") }),
            )
            .with_state(Arc::clone(&queries));
        let origin = format!("http://{}", serve(router).await);
        Self { origin, path: path.to_owned(), queries }
    }

    /// The redirect URI to register.
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }

    /// The queries the callback received, in order.
    #[must_use]
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}
