//! A local stand-in for WorkOS: a real axum server on `127.0.0.1:0` serving AuthKit's userinfo, JWKS
//! and authorization server metadata endpoints. It counts every request, and each endpoint can be told
//! to misbehave (answer a status, or hold requests until released), so tests see exactly how many
//! upstream calls the code under test made. Shared by the integration tests and the `userinfo_flood`
//! bench.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How an endpoint answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// As WorkOS would.
    Normal,
    /// Always this status, with a `Retry-After` of this many seconds when given.
    Status(StatusCode, Option<u64>),
    /// Waits until [`StandIn::release`], then answers normally.
    Held,
}

#[derive(Debug)]
pub struct Shared {
    base: String,
    /// Every userinfo request.
    pub userinfo_calls: AtomicUsize,
    /// Userinfo requests for tokens the stand-in knows (the legitimate users).
    pub known_calls: AtomicUsize,
    /// Every metadata request.
    pub metadata_calls: AtomicUsize,
    users: Mutex<HashMap<String, Value>>,
    userinfo_mode: Mutex<Mode>,
    metadata_mode: Mutex<Mode>,
    jwks: Mutex<Option<Value>>,
    gate: watch::Sender<bool>,
}

/// The running stand-in; stops when dropped.
#[derive(Debug)]
pub struct StandIn {
    pub base: String,
    pub shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StandIn {
    /// Starts a stand-in on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            base: base.clone(),
            userinfo_calls: AtomicUsize::new(0),
            known_calls: AtomicUsize::new(0),
            metadata_calls: AtomicUsize::new(0),
            users: Mutex::new(HashMap::new()),
            userinfo_mode: Mutex::new(Mode::Normal),
            metadata_mode: Mutex::new(Mode::Normal),
            jwks: Mutex::new(None),
            gate: watch::channel(false).0,
        });
        let app = Router::new()
            .route("/oauth2/userinfo", get(userinfo))
            .route("/oauth2/jwks", get(jwks))
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, shared, server }
    }

    /// Userinfo answers `token` with `profile` (which should carry a `sub`).
    pub fn user(&self, token: &str, profile: Value) -> &Self {
        self.shared.users.lock().unwrap().insert(token.to_owned(), profile);
        self
    }

    /// Serves `jwks` at `/oauth2/jwks`.
    pub fn jwks(&self, jwks: Value) -> &Self {
        *self.shared.jwks.lock().unwrap() = Some(jwks);
        self
    }

    pub fn userinfo_mode(&self, mode: Mode) {
        *self.shared.userinfo_mode.lock().unwrap() = mode;
    }

    pub fn metadata_mode(&self, mode: Mode) {
        *self.shared.metadata_mode.lock().unwrap() = mode;
    }

    /// Lets held requests through (and every later one).
    pub fn release(&self) {
        self.shared.gate.send_replace(true);
    }

    pub fn userinfo_calls(&self) -> usize {
        self.shared.userinfo_calls.load(Ordering::SeqCst)
    }

    pub fn known_calls(&self) -> usize {
        self.shared.known_calls.load(Ordering::SeqCst)
    }

    pub fn metadata_calls(&self) -> usize {
        self.shared.metadata_calls.load(Ordering::SeqCst)
    }

    /// Waits (yielding to the runtime) until `count()` reaches `at_least`.
    pub async fn wait_for(&self, at_least: usize, count: impl Fn(&Self) -> usize) {
        while count(self) < at_least {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

/// Answers per `mode`: `Some(response)` for a misbehaviour, `None` to go on normally.
async fn misbehave(shared: &Shared, mode: Mode) -> Option<Response> {
    match mode {
        Mode::Normal => None,
        Mode::Status(status, retry_after) => Some(match retry_after {
            Some(seconds) => (status, [(header::RETRY_AFTER, seconds.to_string())]).into_response(),
            None => status.into_response(),
        }),
        Mode::Held => {
            let mut gate = shared.gate.subscribe();
            // The sender lives as long as `shared`, which this handler holds.
            let _ = gate.wait_for(|open| *open).await;
            None
        }
    }
}

async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.userinfo_calls.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let profile = shared.users.lock().unwrap().get(&token).cloned();
    if profile.is_some() {
        shared.known_calls.fetch_add(1, Ordering::SeqCst);
    }
    let mode = shared.userinfo_mode.lock().unwrap().clone();
    if let Some(response) = misbehave(&shared, mode).await {
        return response;
    }
    match profile {
        Some(profile) => axum::Json(profile).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    match shared.jwks.lock().unwrap().clone() {
        Some(jwks) => axum::Json(jwks).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    shared.metadata_calls.fetch_add(1, Ordering::SeqCst);
    let mode = shared.metadata_mode.lock().unwrap().clone();
    if let Some(response) = misbehave(&shared, mode).await {
        return response;
    }
    let base = &shared.base;
    (
        [(header::CACHE_CONTROL, "public, max-age=120")],
        axum::Json(json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "token_endpoint": format!("{base}/oauth2/token"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        })),
    )
        .into_response()
}
