//! Fault injection for the `faults_*` tests: a private `redis-server` with an append-only file that a
//! test kills and restarts, a switchable HTTP hop in front of the real dev IdP (down, slow, 500,
//! malformed JSON, odd `expires_in`), a small tmpfs for the file store, and the check that an answer
//! names no internals.
//!
//! Every wait here is bounded: readiness is polled with a deadline, and the hop's slow mode only delays
//! (the caller's timeouts end the wait).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use mcp_auth_dev_idp::DevIdp;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The upstream's token endpoint, where [`Hop::set`] injects faults.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// The longest any one step of a fault test may take before it counts as a hang.
pub const HANG: Duration = Duration::from_secs(20);

/// Runs `step`, failing the test with `what` when it takes longer than [`HANG`].
///
/// # Panics
///
/// When the step hangs (a test failure).
pub async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, step).await {
        Ok(value) => value,
        Err(_) => panic!("{what} hung for more than {HANG:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------------

/// A private `redis-server` on a free loopback port that persists every write before acknowledging it
/// (`--appendonly yes --appendfsync always`, no RDB snapshots) into its own directory. Killed with
/// SIGKILL on [`kill`](Self::kill) and on drop, so no server outlives the test.
#[derive(Debug)]
pub struct PersistentRedis {
    /// The port it listens on (the same after a restart).
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PersistentRedis {
    /// Starts one and waits until it answers `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing or does not start (a test failure; `.ci/run` installs it).
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // On a tmpfs where there is one: SIGKILL loses nothing Redis wrote before answering wherever the
        // file lives, and a busy disk's fsync stalls (a parallel build) do not reach the store's timeouts.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }
            .expect("a directory for the append-only file");
        let mut redis = Self { port, dir, child: None };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The directory holding the append-only file.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the server (again) on the same port and directory, so it reloads the append-only file,
    /// and waits until it answers `PING` (not `-LOADING`).
    ///
    /// # Panics
    ///
    /// When it is already running or does not come up (a test failure).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the private redis-server is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server (install it: apt-get install redis-server)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + HANG;
        while !ping(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private redis-server did not answer on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server with SIGKILL (no shutdown, no final save) and waits for it to exit.
    ///
    /// # Panics
    ///
    /// When the process cannot be killed (a test failure).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL redis-server");
            child.wait().expect("reap redis-server");
        }
    }
}

impl Drop for PersistentRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a Redis answers `+PONG` on the port (a bounded readiness probe over plain TCP).
async fn ping(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut reply = [0u8; 16];
        let read = stream.read(&mut reply).await.ok()?;
        Some(reply[..read].starts_with(b"+PONG"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), probe).await, Ok(Some(true)))
}

// ---------------------------------------------------------------------------------------------------
// The upstream identity provider behind a switchable hop
// ---------------------------------------------------------------------------------------------------

/// What the hop does with requests to one path (by default the token endpoint, `/oauth2/token`); every
/// other path is forwarded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded as it is.
    Healthy,
    /// Held for a minute, then `504` without reaching the IdP: longer than any client timeout in these
    /// tests, and nothing reaches the IdP late.
    Slow,
    /// `500 Internal Server Error` with an HTML body, without reaching the IdP.
    ServerError,
    /// `200` with a truncated JSON body (garbage), without reaching the IdP.
    MalformedJson,
    /// Forwarded, and `expires_in` removed from a successful JSON answer.
    NoExpiresIn,
    /// Forwarded, and `expires_in` set to this value in a successful JSON answer.
    ExpiresIn(i64),
}

#[derive(Debug)]
struct HopState {
    target: String,
    /// The faulty path and its fault.
    fault: Mutex<(String, Fault)>,
    http: reqwest::Client,
    /// Requests per path.
    hits: Mutex<std::collections::HashMap<String, usize>>,
}

/// A loopback HTTP hop in front of the dev IdP: the upstream's public address. It forwards everything
/// to the IdP, injects the [`Fault`] set on the token endpoint, and can be taken down (its socket
/// closed: connections are refused) and brought back on the same port.
#[derive(Debug)]
pub struct Hop {
    addr: SocketAddr,
    state: Arc<HopState>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Hop {
    /// The hop's URL, `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests reached the token endpoint through the hop (faulty or not).
    #[must_use]
    pub fn token_requests(&self) -> usize {
        self.requests_to(TOKEN_PATH)
    }

    /// How many requests for `path` reached the hop (faulty or not).
    #[must_use]
    pub fn requests_to(&self, path: &str) -> usize {
        self.state.hits.lock().unwrap_or_else(PoisonError::into_inner).get(path).copied().unwrap_or(0)
    }

    /// Sets what the token endpoint does from now on (every other path is forwarded as it is).
    pub fn set(&self, fault: Fault) {
        self.set_at(TOKEN_PATH, fault);
    }

    /// Sets what requests for `path` get from now on (every other path is forwarded as it is).
    pub fn set_at(&self, path: &str, fault: Fault) {
        *self.state.fault.lock().unwrap_or_else(PoisonError::into_inner) = (path.to_owned(), fault);
    }

    /// Closes the hop's socket: new connections are refused until [`up`](Self::up). (Connections
    /// already open stay, so clients that must see the outage should not pool connections.)
    pub async fn down(&self) {
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port (nothing to do while it listens).
    ///
    /// # Panics
    ///
    /// When the port cannot be bound again (a test failure).
    pub async fn up(&self) {
        let listening = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|t| !t.is_finished());
        if listening {
            return;
        }
        self.down().await;
        let listener = TcpListener::bind(self.addr).await.expect("the hop's port again");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let router = axum::Router::new().fallback(forward).with_state(Arc::clone(&self.state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(mcp_auth_core::serve::no_delay(listener), router).await;
        });
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }
}

impl Drop for Hop {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// Forwards one request to the IdP, with the configured fault on the token endpoint.
async fn forward(State(hop): State<Arc<HopState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    *hop.hits.lock().unwrap_or_else(PoisonError::into_inner).entry(path.clone()).or_default() += 1;
    let fault = {
        let faulty = hop.fault.lock().unwrap_or_else(PoisonError::into_inner);
        if faulty.0 == path { faulty.1 } else { Fault::Healthy }
    };
    if fault != Fault::Healthy {
        match fault {
            Fault::Slow => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return StatusCode::GATEWAY_TIMEOUT.into_response();
            }
            Fault::ServerError => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<html><body>Internal Server Error</body></html>",
                )
                    .into_response();
            }
            Fault::MalformedJson => {
                return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{\"access_token\": ")
                    .into_response();
            }
            Fault::Healthy | Fault::NoExpiresIn | Fault::ExpiresIn(_) => {}
        }
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outgoing = hop.http.request(parts.method, format!("{}{path}", hop.target)).body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(mut bytes) = answer.bytes().await.map(|b| b.to_vec()) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if status.is_success() {
        bytes = rewrite_expires_in(bytes, fault);
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    copy_end_to_end(&headers, response.headers_mut());
    response
}

fn rewrite_expires_in(bytes: Vec<u8>, fault: Fault) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut answer)) = serde_json::from_slice(&bytes) else { return bytes };
    match fault {
        Fault::NoExpiresIn => {
            answer.remove("expires_in");
        }
        Fault::ExpiresIn(value) => {
            answer.insert("expires_in".to_owned(), value.into());
        }
        _ => return bytes,
    }
    serde_json::to_vec(&answer).unwrap_or(bytes)
}

fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let hop_by_hop = [header::CONNECTION, header::TRANSFER_ENCODING, header::CONTENT_LENGTH];
        if !hop_by_hop.contains(name) {
            to.append(name, value.clone());
        }
    }
}

/// The dev IdP serving on a loopback port of its own, reachable only through a [`Hop`] whose URL is
/// its issuer (what the proxy and verifiers are configured with).
#[derive(Debug)]
pub struct FaultyUpstream {
    /// The identity provider.
    pub idp: DevIdp,
    /// The hop in front of it.
    pub hop: Hop,
    idp_task: JoinHandle<()>,
}

impl FaultyUpstream {
    /// Starts the hop, then the IdP built by `build` with the hop's URL as its issuer.
    ///
    /// # Panics
    ///
    /// When a loopback port cannot be bound (a test failure).
    pub async fn start(build: impl FnOnce(&str) -> DevIdp) -> Self {
        let hop_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the hop");
        let addr = hop_listener.local_addr().expect("the hop's address");
        let idp = build(&format!("http://{addr}"));
        let idp_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the IdP");
        let target = format!("http://{}", idp_listener.local_addr().expect("the IdP's address"));
        let router = idp.router();
        let idp_task = tokio::spawn(async move {
            let _ = axum::serve(mcp_auth_core::serve::no_delay(idp_listener), router).await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the hop's HTTP client");
        let state = Arc::new(HopState {
            target,
            fault: Mutex::new((TOKEN_PATH.to_owned(), Fault::Healthy)),
            http,
            hits: Mutex::new(std::collections::HashMap::new()),
        });
        let hop = Hop { addr, state, task: Mutex::new(None) };
        hop.serve(hop_listener);
        Self { idp, hop, idp_task }
    }

    /// The upstream's URL: the hop's.
    #[must_use]
    pub fn url(&self) -> String {
        self.hop.url()
    }
}

impl Drop for FaultyUpstream {
    fn drop(&mut self) {
        self.idp_task.abort();
    }
}

/// An HTTP client for the proxy's upstream calls with a short overall timeout (so a slow upstream is
/// given up on quickly) and no pooled connections (so a hop taken down is seen at once).
///
/// # Panics
///
/// When the client cannot be built.
#[must_use]
pub fn impatient_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

// ---------------------------------------------------------------------------------------------------
// Answers that name no internals
// ---------------------------------------------------------------------------------------------------

/// Words that would betray internals in an answer meant for a client or a person: addresses, library
/// and parser error texts, OS errors, backend names.
pub const INTERNALS: [&str; 18] = [
    "127.0.0.1",
    "localhost",
    "http://",
    "reqwest",
    "hyper",
    "serde",
    "expected value",
    "EOF while parsing",
    "line 1",
    "os error",
    "onnection refused",
    "error sending request",
    "operation timed out",
    "redis",
    "Redis",
    "/oauth2/",
    "panicked",
    "No space left",
];

/// Fails when `text` contains any of [`INTERNALS`] or any of `also` (ports, paths of this test).
///
/// # Panics
///
/// When something internal shows (a test failure).
pub fn assert_no_internals(what: &str, text: &str, also: &[&str]) {
    for word in INTERNALS.iter().chain(also) {
        assert!(!text.contains(word), "{what} names an internal detail ({word:?}): {text}");
    }
}

/// The `error` and `error_description` of an OAuth error redirect (`Location`), checked to name no
/// internals.
///
/// # Panics
///
/// When the location has no `error`, or shows internals (a test failure).
#[must_use]
pub fn redirect_error(location: &str, also: &[&str]) -> (String, String) {
    let url = url::Url::parse(location).expect("an absolute redirect");
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let error = param("error").unwrap_or_else(|| panic!("no error in {location}"));
    let description = param("error_description").unwrap_or_default();
    assert_no_internals("the error redirect", &format!("{error} {description}"), also);
    (error, description)
}

// ---------------------------------------------------------------------------------------------------
// A small file system for the file store
// ---------------------------------------------------------------------------------------------------

/// Set to `1` to make [`SmallFs::mount`] fail, so the tests' fallbacks can be tried on a machine that
/// could mount.
pub const FORCE_FALLBACK_VAR: &str = "MCP_AUTH_FAULTS_FORCE_FALLBACK";

/// A tmpfs of a fixed size mounted on a fresh directory, unmounted (lazily) and removed on drop.
#[derive(Debug)]
pub struct SmallFs {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (such as `256k`), or says why it cannot (no privilege to mount here).
    ///
    /// # Errors
    ///
    /// The `mount` command's complaint when mounting is not permitted or `mount` is missing.
    pub fn mount(size: &str) -> Result<Self, String> {
        if std::env::var(FORCE_FALLBACK_VAR).is_ok_and(|v| v == "1") {
            return Err(format!("{FORCE_FALLBACK_VAR}=1 asks for the fallback"));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let path = dir.path().to_owned();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { dir: Some(dir), path })
    }

    /// The mount point.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remounts read-only (`true`) or read-write (`false`).
    ///
    /// # Errors
    ///
    /// The `mount` command's complaint.
    pub fn set_read_only(&self, read_only: bool) -> Result<(), String> {
        let mode = if read_only { "remount,ro" } else { "remount,rw" };
        let output = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("mount -o {mode} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        drop(self.dir.take());
    }
}
