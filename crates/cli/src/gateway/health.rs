//! `/healthz` (the process answers) and `/readyz` (the store, the key source and the upstream answer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use mcp_auth_core::store::KvStorage;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::Upstream;

/// How long one readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a readiness answer is reused, so probes do not hammer the key source.
const CACHE_FOR: Duration = Duration::from_secs(5);

/// What `/readyz` checks.
#[derive(Clone)]
pub(crate) struct Readiness {
    /// The store the provider keeps its state in.
    pub store: Arc<dyn KvStorage>,
    /// A URL whose answer shows the key source is reachable (a JWKS or the issuer's metadata); `None`
    /// when the keys are local.
    pub key_source: Option<String>,
    /// The upstream MCP server.
    pub upstream: Upstream,
    /// The HTTP client for the key source.
    pub client: reqwest::Client,
    /// The last answer and when it was made.
    pub last: Arc<Mutex<Option<(Instant, StatusCode, Value)>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").field("key_source", &self.key_source).finish_non_exhaustive()
    }
}

/// `/healthz`: the process is alive.
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `/readyz`: 200 when every check passes, else 503; each check named with a short reason.
pub(crate) async fn readyz(State(readiness): State<Readiness>) -> Response {
    let mut last = readiness.last.lock().await;
    if let Some((at, status, body)) = last.as_ref()
        && at.elapsed() < CACHE_FOR
    {
        return (*status, Json(body.clone())).into_response();
    }
    let (store, keys, upstream) =
        tokio::join!(check_store(&readiness), check_keys(&readiness), check_upstream(&readiness));
    let checks = json!({"store": verdict(&store), "keys": verdict(&keys), "upstream": verdict(&upstream)});
    let ready = store.is_ok() && keys.is_ok() && upstream.is_ok();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({"status": if ready { "ready" } else { "not ready" }, "checks": checks});
    *last = Some((Instant::now(), status, body.clone()));
    (status, Json(body)).into_response()
}

fn verdict(result: &Result<(), String>) -> Value {
    match result {
        Ok(()) => json!("ok"),
        Err(reason) => json!(reason),
    }
}

async fn check_store(readiness: &Readiness) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, readiness.store.get("gateway", "readyz")).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err("the store refused a read".to_owned()),
        Err(_) => Err("the store timed out".to_owned()),
    }
}

async fn check_keys(readiness: &Readiness) -> Result<(), String> {
    let Some(url) = &readiness.key_source else { return Ok(()) };
    match readiness.client.get(url).timeout(CHECK_TIMEOUT).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the key source answered {}", response.status().as_u16())),
        Err(error) if error.is_timeout() => Err("the key source timed out".to_owned()),
        Err(_) => Err("the key source is unreachable".to_owned()),
    }
}

async fn check_upstream(readiness: &Readiness) -> Result<(), String> {
    match &readiness.upstream {
        Upstream::Http(upstream) => upstream.reachable(CHECK_TIMEOUT).await,
        Upstream::Stdio(upstream) if upstream.is_running() => Ok(()),
        Upstream::Stdio(_) => Err("the stdio MCP server is not running".to_owned()),
    }
}
