//! A stdio MCP server the gateway starts, supervises and serves over streamable HTTP.
//!
//! The gateway speaks JSON-RPC to the child over its stdin and stdout, one message per line. Every HTTP
//! caller shares the one child: requests get the gateway's own ids on the way in (so two callers' ids never
//! collide) and their own ids back on the way out. The child is initialized once, with the first caller's
//! `initialize`; later callers get the same answer, and a restarted child is initialized again the same
//! way before it serves anyone. Answers are plain JSON (`application/json`); requests from the child to
//! the client (sampling, roots, elicitation) are answered "method not found", its notifications dropped.
//!
//! If the child exits, requests in flight fail with a JSON-RPC error, and the child is started again
//! after a backoff (100 ms, doubling up to 5 s; back to 100 ms once it has run for 30 s).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Mutex, oneshot, watch};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;

/// The longest line read from the child (a larger message is dropped with a warning).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// JSON-RPC error code for "the upstream is not available" (server error range).
const UNAVAILABLE_CODE: i64 = -32002;

/// A supervised stdio MCP server.
#[derive(Debug, Clone)]
pub struct StdioUpstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    command: String,
    timeout: Duration,
    next_id: AtomicU64,
    /// The running child, or `None` while it is (re)starting.
    current: watch::Sender<Option<Arc<Running>>>,
    /// The first caller's `initialize` params, replayed to every new child.
    initialize_params: Mutex<Option<Value>>,
    restarts: AtomicU64,
    shutdown: CancellationToken,
}

/// One running child process.
#[derive(Debug)]
struct Running {
    pid: Option<u32>,
    stdin: Mutex<ChildStdin>,
    pending: std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    /// The child's answer to `initialize`, once it has had one.
    initialized: Mutex<Option<Value>>,
    exited: CancellationToken,
}

impl StdioUpstream {
    /// Starts `command` (run by `sh -c`, so quoting works as in a shell) and keeps it running until
    /// `shutdown` is cancelled. `timeout` bounds each request.
    #[must_use]
    pub fn start(command: String, timeout: Duration, shutdown: CancellationToken) -> Self {
        let (current, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            command,
            timeout,
            next_id: AtomicU64::new(1),
            current,
            initialize_params: Mutex::new(None),
            restarts: AtomicU64::new(0),
            shutdown,
        });
        tokio::spawn(supervise(Arc::clone(&inner)));
        Self { inner }
    }

    /// Whether a child is running now.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.inner.current.borrow().is_some()
    }

    /// How many times the child has been started again after it exited.
    #[must_use]
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    /// The running child, waiting up to the timeout for one to start.
    async fn running(&self) -> Option<Arc<Running>> {
        let mut current = self.inner.current.subscribe();
        let wait = current.wait_for(Option::is_some);
        match tokio::time::timeout(self.inner.timeout, wait).await {
            Ok(Ok(running)) => running.clone(),
            _ => None,
        }
    }

    /// Handles one JSON-RPC message from a caller; `None` for a notification or a response.
    async fn handle(&self, message: Value) -> Option<Value> {
        let id = message.get("id").cloned();
        let method = message.get("method").and_then(Value::as_str).map(str::to_owned);
        let (Some(id), Some(method)) = (id.clone(), method.clone()) else {
            if let Some(method) = method {
                self.notify(&method, message).await;
            }
            // A response from the caller: the gateway forwards no requests from the child, so no one
            // is waiting for it.
            return None;
        };
        let Some(running) = self.running().await else {
            return Some(error(&id, UNAVAILABLE_CODE, "the MCP server behind the gateway is not running"));
        };
        let answer = if method == "initialize" {
            self.initialize(&running, message).await
        } else {
            self.request(&running, message).await
        };
        Some(match answer {
            Ok(mut answer) => {
                if let Some(object) = answer.as_object_mut() {
                    object.insert("id".to_owned(), id);
                }
                answer
            }
            Err(message) => error(&id, UNAVAILABLE_CODE, message),
        })
    }

    /// `initialize`: forwarded once per child (the first caller's params are kept for restarts), then
    /// answered from the child's first answer.
    async fn initialize(&self, running: &Running, message: Value) -> Result<Value, &'static str> {
        let mut initialized = running.initialized.lock().await;
        if let Some(answer) = initialized.as_ref() {
            return Ok(answer.clone());
        }
        let answer = self.request(running, message.clone()).await?;
        if answer.get("result").is_some() {
            let mut params = self.inner.initialize_params.lock().await;
            if params.is_none() {
                *params = message.get("params").cloned();
            }
            *initialized = Some(answer.clone());
        }
        Ok(answer)
    }

    async fn notify(&self, method: &str, message: Value) {
        // The child was told `initialized` when it was initialized; a caller's cancellation names the
        // caller's id, which the child never saw.
        if method == "notifications/initialized" || method == "notifications/cancelled" {
            return;
        }
        let running = self.inner.current.borrow().clone();
        if let Some(running) = running
            && write(&running, &message).await.is_err()
        {
            tracing::debug!(method, "notification not delivered: the child is gone");
        }
    }

    /// Sends `message` as a request with a fresh id and waits for the answer.
    async fn request(&self, running: &Running, mut message: Value) -> Result<Value, &'static str> {
        let started = Instant::now();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(object) = message.as_object_mut() {
            object.insert("id".to_owned(), json!(id));
        }
        let (tx, rx) = oneshot::channel();
        lock(&running.pending).insert(id, tx);
        if write(running, &message).await.is_err() {
            lock(&running.pending).remove(&id);
            record("error", started);
            return Err("the MCP server behind the gateway exited");
        }
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Ok(Ok(answer)) => {
                record("ok", started);
                Ok(answer)
            }
            Ok(Err(_)) => {
                record("error", started);
                Err("the MCP server behind the gateway exited")
            }
            Err(_) => {
                lock(&running.pending).remove(&id);
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": id, "reason": "timed out at the gateway"}});
                let _ = write(running, &cancel).await;
                record("timeout", started);
                Err("the MCP server behind the gateway timed out")
            }
        }
    }
}

fn record(outcome: &'static str, started: Instant) {
    metrics::counter!("mcp_auth_gateway_upstream_requests_total", "upstream" => "stdio", "outcome" => outcome)
        .increment(1);
    metrics::histogram!("mcp_auth_gateway_upstream_duration_seconds", "upstream" => "stdio")
        .record(started.elapsed().as_secs_f64());
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn write(running: &Running, message: &Value) -> std::io::Result<()> {
    let mut line = message.to_string();
    line.push('\n');
    let mut stdin = running.stdin.lock().await;
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await
}

/// Starts the child, serves it until it exits, and starts it again, until shutdown.
async fn supervise(inner: Arc<Inner>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        match spawn(&inner).await {
            Ok(mut child) => {
                tokio::select! {
                    status = child.wait() => {
                        inner.current.send_replace(None).inspect(|running| running.exited.cancel());
                        tracing::warn!(command = %inner.command, ?status, "the stdio MCP server exited; starting it again");
                    }
                    () = inner.shutdown.cancelled() => {
                        // Dropping the child kills it (kill_on_drop).
                        inner.current.send_replace(None);
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::error!(command = %inner.command, error = %error, "cannot start the stdio MCP server");
            }
        }
        if started.elapsed() >= HEALTHY_AFTER {
            backoff = BACKOFF_MIN;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = inner.shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
        inner.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("mcp_auth_gateway_stdio_restarts_total").increment(1);
    }
}

/// Starts one child, its reader, and its initialization; publishes it once it can serve.
async fn spawn(inner: &Arc<Inner>) -> std::io::Result<Child> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {}", inner.command))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("the child has no stdin or stdout"));
    };
    let running = Arc::new(Running {
        pid: child.id(),
        stdin: Mutex::new(stdin),
        pending: std::sync::Mutex::new(HashMap::new()),
        initialized: Mutex::new(None),
        exited: CancellationToken::new(),
    });
    tracing::info!(command = %inner.command, pid = running.pid, "started the stdio MCP server");
    tokio::spawn(read(
        Arc::clone(&running),
        FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES)),
    ));
    // A restarted child is initialized the way the first caller initialized the first one.
    let params = inner.initialize_params.lock().await.clone();
    if let Some(params) = params {
        let upstream = StdioUpstream { inner: Arc::clone(inner) };
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params});
        let mut initialized = running.initialized.lock().await;
        match upstream.request(&running, initialize).await {
            Ok(answer) if answer.get("result").is_some() => {
                *initialized = Some(answer);
                let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                let _ = write(&running, &note).await;
            }
            _ => tracing::warn!("the restarted stdio MCP server refused the replayed initialize"),
        }
        drop(initialized);
    }
    inner.current.send_replace(Some(running));
    Ok(child)
}

/// Routes the child's answers to their waiting callers until its stdout closes.
async fn read(running: Arc<Running>, mut lines: FramedRead<tokio::process::ChildStdout, LinesCodec>) {
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(error = %error, "unreadable line from the stdio MCP server; dropped");
                continue;
            }
        };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            tracing::debug!("a line that is not JSON from the stdio MCP server; dropped");
            continue;
        };
        match (message.get("id"), message.get("method")) {
            (Some(id), None) => {
                let sender = id.as_u64().and_then(|id| lock(&running.pending).remove(&id));
                if let Some(sender) = sender {
                    let _ = sender.send(message);
                }
            }
            (Some(id), Some(method)) => {
                tracing::debug!(%method, "a request from the stdio MCP server; answered method not found");
                let answer = error(id, -32601, "the mcp-auth gateway does not forward server requests");
                let _ = write(&running, &answer).await;
            }
            (None, _) => {}
        }
    }
    // Stdout closed: fail whatever is still waiting.
    lock(&running.pending).clear();
    running.exited.cancel();
}

/// The axum handler for the MCP endpoint in front of a stdio server: POST only, JSON in and out.
pub(crate) async fn serve_post(State(upstream): State<StdioUpstream>, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        let answer = error(&Value::Null, -32700, "parse error: the body is not JSON");
        return (StatusCode::BAD_REQUEST, json_body(&answer)).into_response();
    };
    let answer = match message {
        Value::Array(batch) => {
            if batch.is_empty() {
                let answer = error(&Value::Null, -32600, "invalid request: empty batch");
                return (StatusCode::BAD_REQUEST, json_body(&answer)).into_response();
            }
            let answers = futures_util::future::join_all(batch.into_iter().map(|m| upstream.handle(m))).await;
            let answers: Vec<Value> = answers.into_iter().flatten().collect();
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        message @ Value::Object(_) => upstream.handle(message).await,
        _ => {
            let answer = error(&Value::Null, -32600, "invalid request: not a JSON-RPC message");
            return (StatusCode::BAD_REQUEST, json_body(&answer)).into_response();
        }
    };
    match answer {
        Some(answer) => json_body(&answer).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    }
}

/// GET and DELETE on the MCP endpoint: a stdio upstream offers no SSE stream and no sessions.
pub(crate) async fn method_not_allowed() -> Response {
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn json_body(value: &Value) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string())
}
