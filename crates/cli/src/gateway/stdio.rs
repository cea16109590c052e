//! A stdio MCP server the gateway starts, supervises and serves over streamable HTTP.
//!
//! The gateway speaks JSON-RPC to the child over its stdin and stdout, one message per line. Every HTTP
//! caller shares the one child (so a stdio server behind the gateway should hold no per-user state):
//! requests get the gateway's own ids on the way in (so two callers' ids never collide) and their own ids
//! back on the way out. The child is initialized once, with the first caller's `initialize` (the gateway
//! then sends it `notifications/initialized`); later callers get the same answer, and a restarted child is
//! initialized again the same way before it serves anyone. Answers are plain JSON (`application/json`);
//! requests from the child to the client (sampling, roots, elicitation) are answered "method not found",
//! its notifications dropped.
//!
//! The child runs in its own process group without the gateway's `MCP_AUTH_*` variables (its keys and
//! secrets). If it exits, or writes what cannot be read, requests in flight fail with a JSON-RPC error,
//! its process group is killed, and it is started again after a backoff (100 ms, doubling up to 5 s; back
//! to 100 ms once it has run for 30 s). At most 256 requests wait on it at once, batches hold at most 64
//! messages, and a line over 16 MiB from it is dropped.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, Semaphore, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// The longest line read from the child (a larger message is dropped with a warning).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// Requests waiting on the child at once.
const MAX_IN_FLIGHT: usize = 256;
/// Messages in one batch.
const MAX_BATCH: usize = 64;

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
    in_flight: Semaphore,
}

/// One running child process.
#[derive(Debug)]
struct Running {
    pid: Option<u32>,
    stdin: Mutex<ChildStdin>,
    pending: std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    /// The child's answer to `initialize`, once it has had one.
    initialized: Mutex<Option<Value>>,
    /// Cancelled when its stdout ends or cannot be read: the supervisor then kills it.
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
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
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
    async fn initialize(&self, running: &Arc<Running>, message: Value) -> Result<Value, &'static str> {
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
            // The callers' own `initialized` notifications are not forwarded: the gateway sends it, once.
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            if self.write(running, &note).await.is_err() {
                return Err("the MCP server behind the gateway exited");
            }
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
            && self.write(&running, &message).await.is_err()
        {
            tracing::debug!(method, "notification not delivered: the child is gone");
        }
    }

    /// Sends `message` as a request with a fresh id and waits for the answer.
    async fn request(&self, running: &Arc<Running>, mut message: Value) -> Result<Value, &'static str> {
        let started = Instant::now();
        let Ok(Ok(_permit)) = tokio::time::timeout(self.inner.timeout, self.inner.in_flight.acquire()).await
        else {
            record("timeout", started);
            return Err("the MCP server behind the gateway is busy");
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(object) = message.as_object_mut() {
            object.insert("id".to_owned(), json!(id));
        }
        let (tx, rx) = oneshot::channel();
        lock(&running.pending).insert(id, tx);
        // Removes the entry and tells the child to stop if this request is dropped (the caller hung up)
        // or times out.
        let mut guard =
            Pending { running: Arc::clone(running), id, done: false, timeout: self.inner.timeout };
        if self.write(running, &message).await.is_err() {
            record("error", started);
            return Err("the MCP server behind the gateway is not reading its input");
        }
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Ok(Ok(answer)) => {
                guard.done = true;
                record("ok", started);
                Ok(answer)
            }
            Ok(Err(_)) => {
                guard.done = true;
                record("error", started);
                Err("the MCP server behind the gateway exited")
            }
            Err(_) => {
                record("timeout", started);
                Err("the MCP server behind the gateway timed out")
            }
        }
    }

    /// Writes one message, waiting at most the timeout for the child to take it.
    async fn write(&self, running: &Running, message: &Value) -> std::io::Result<()> {
        match tokio::time::timeout(self.inner.timeout, write(running, message)).await {
            Ok(result) => result,
            Err(_) => {
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the child does not read its input"))
            }
        }
    }
}

/// A request waiting on the child; see [`StdioUpstream::request`].
struct Pending {
    running: Arc<Running>,
    id: u64,
    done: bool,
    timeout: Duration,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        lock(&self.running.pending).remove(&self.id);
        let running = Arc::clone(&self.running);
        let (id, timeout) = (self.id, self.timeout);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": id, "reason": "cancelled at the gateway"}});
                let _ = tokio::time::timeout(timeout, write(&running, &cancel)).await;
            });
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

/// Starts the child, serves it until it exits (or its output cannot be read), and starts it again, until
/// shutdown.
async fn supervise(inner: Arc<Inner>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        match spawn(&inner).await {
            Ok((mut child, running)) => {
                let stop = tokio::select! {
                    status = child.wait() => {
                        tracing::warn!(command = %inner.command, ?status, "the stdio MCP server exited; starting it again");
                        false
                    }
                    () = running.exited.cancelled() => {
                        tracing::warn!(command = %inner.command, "the stdio MCP server's output ended or cannot be read; restarting it");
                        false
                    }
                    () = inner.shutdown.cancelled() => true,
                };
                inner.current.send_replace(None);
                running.exited.cancel();
                lock(&running.pending).clear();
                kill_group(&mut child).await;
                if stop {
                    return;
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

/// Kills the child's whole process group (a launcher such as `npx` runs the server as a grandchild), then
/// reaps the child.
async fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        // The group id is the child's pid (it was started in a group of its own).
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status().await;
    }
    let _ = child.kill().await;
}

/// Starts one child, its reader, and its initialization; publishes it once it can serve.
async fn spawn(inner: &Arc<Inner>) -> std::io::Result<(Child, Arc<Running>)> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("exec {}", inner.command))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    // The gateway's keys and secrets stay with the gateway.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|name| name.starts_with(mcp_auth_core::settings::ENV_PREFIX)) {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        kill_group(&mut child).await;
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
    tokio::spawn(read(Arc::clone(&running), BufReader::new(stdout)));
    // A restarted child is initialized the way the first caller initialized the first one.
    let params = inner.initialize_params.lock().await.clone();
    if let Some(params) = params {
        let upstream = StdioUpstream { inner: Arc::clone(inner) };
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params});
        let mut initialized = running.initialized.lock().await;
        let replayed = match upstream.request(&running, initialize).await {
            Ok(answer) if answer.get("result").is_some() => {
                *initialized = Some(answer);
                let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                upstream.write(&running, &note).await.is_ok()
            }
            _ => false,
        };
        drop(initialized);
        if !replayed {
            running.exited.cancel();
            kill_group(&mut child).await;
            return Err(std::io::Error::other("the restarted server refused the replayed initialize"));
        }
    }
    inner.current.send_replace(Some(Arc::clone(&running)));
    Ok((child, running))
}

/// Reads one line of at most [`MAX_LINE_BYTES`] into `line` (without its newline): `Ok(true)` for a line,
/// `Ok(false)` at the end of the output. A longer line is skipped whole and reported as an empty line.
async fn read_line(reader: &mut BufReader<ChildStdout>, line: &mut Vec<u8>) -> std::io::Result<bool> {
    line.clear();
    let mut skipping = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(!line.is_empty() || skipping);
        }
        let (taken, end) = match available.iter().position(|byte| *byte == b'\n') {
            Some(at) => (at + 1, Some(at)),
            None => (available.len(), None),
        };
        if !skipping {
            line.extend_from_slice(&available[..end.unwrap_or(taken)]);
            if line.len() > MAX_LINE_BYTES {
                tracing::warn!("a line over 16 MiB from the stdio MCP server; dropped");
                line.clear();
                skipping = true;
            }
        }
        reader.consume(taken);
        if end.is_some() {
            return Ok(true);
        }
    }
}

/// Routes the child's answers to their waiting callers until its stdout closes.
async fn read(running: Arc<Running>, mut reader: BufReader<ChildStdout>) {
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, &mut line).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the stdio MCP server's output");
                break;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
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
                // Never wait on the input lock for long: the reader must keep draining the output.
                let _ = tokio::time::timeout(Duration::from_secs(1), write(&running, &answer)).await;
            }
            (None, _) => {}
        }
    }
    // Output closed: fail whatever is still waiting, and have the supervisor restart the child.
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
            if batch.is_empty() || batch.len() > MAX_BATCH {
                let answer = error(&Value::Null, -32600, "invalid request: a batch holds 1 to 64 messages");
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
