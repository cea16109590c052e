//! The soak run (`just soak SECONDS`): a steady, mixed load on both auth paths for a set time, sampled
//! every few seconds, with verdicts at the end.
//!
//! ```sh
//! just soak            # 120 s (release build; needs Redis on 127.0.0.1:6379)
//! just soak 10         # a quick check
//! cargo run --release -p mcp-auth-examples --example soak -- --seconds 30 --rate 200
//! ```
//!
//! Options: `--seconds N` (or a bare number; default 120), `--rate N` MCP calls per second across both
//! servers (default 150), `--flows N` sign-ins per second (default 1; registrations and refreshes run
//! at twice that), `--ttl N` the lifetime in seconds of what the proxy stores per client and sign-in
//! (default 60, the shortest registration lifetime allowed), `--redis URL` (default
//! `redis://127.0.0.1:6379`).
//!
//! What runs: the dev IdP in this process (the AuthKit stand-in: it issues the remote path's tokens and
//! signs users in for the proxy), and two child processes (this binary again, `serve-remote` and
//! `serve-proxy`), each an rmcp streamable-HTTP server in stateless JSON mode with the examples'
//! `whoami` tool:
//!
//! - remote: behind `AuthKitProvider`, its verified-token cache shrunk to 500 entries; the driver sends
//!   2,000 distinct valid tokens and a fresh garbage token per garbage request, so the cache works at
//!   its bound the whole run;
//! - proxy: behind `WorkOSProvider`, the OAuth proxy, over Redis (Fernet-encrypted, under a fresh key
//!   prefix `mcp-auth-soak-<random>`), with per-client and per-sign-in lifetimes of `--ttl` and the
//!   registration ceilings raised so that the load is not refused.
//!
//! The load, each stream paced by a token bucket (not a flat-out loop; when the in-flight cap is
//! reached a request is shed and counted): `tools/call` on both servers with valid (200), expired (401)
//! and garbage (401) tokens; dynamic client registrations (201); full sign-ins on the proxy (register,
//! authorize, consent, the dev IdP's sign-in, the callback, the code exchange: 200) and refreshes (200).
//!
//! Sampled every few seconds: each server's RSS (`/proc/PID/status`), the answers by class and status,
//! the Redis keys under the prefix and their TTLs. The verdicts: no 5xx and no transport error; every
//! answer the expected one; each server's RSS after warm-up (the first 20% of the run) within 10% to
//! the end; no key without a TTL except the store's permanent hashing key; and the key count bounded
//! (from 60% of the run to the end, within 10%, for every collection whose entries live `--ttl`; runs
//! shorter than twice `--ttl` skip this one). It prints a summary in Markdown and exits 1 on any failed
//! verdict. The prefix's keys are deleted at the end.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use axum::Router;
use mcp_auth::secrecy::{ExposeSecret as _, SecretString};
use mcp_auth::store::fernet::FernetKey;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::settings::Settings;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use mcp_auth_examples::client::Browser;
use mcp_auth_examples::redis_raw::RawRedis;
use mcp_auth_examples::{dev_idp, keys, server};
use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
use mcp_auth_store_redis::RedisStore;
use mcp_auth_workos::{AuthKitProvider, WorkOSProvider};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

/// The remote server's verified-token cache, shrunk so the run works it at its bound.
const REMOTE_TOKEN_CACHE: usize = 500;
/// The proxy's verified-token cache, shrunk so the tokens of the run's sign-ins and refreshes (about three
/// a second) fill it during the warm-up: at its default 10,000 entries it would fill for an hour, and its
/// growth would read as a leak.
const PROXY_TOKEN_CACHE: usize = 64;
/// Distinct valid tokens sent to the remote server (four times its cache).
const REMOTE_VALID_TOKENS: usize = 2_000;
/// Distinct expired tokens per server.
const EXPIRED_TOKENS: usize = 100;
/// Signed-in grants kept for calls and refreshes.
const GRANT_POOL: usize = 32;
/// Requests in flight per stream before new ones are shed.
const IN_FLIGHT: usize = 256;
/// The redirect URI the soak's clients register (never opened: the browser stops at it).
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// The store collection holding the one permanent key (the keyed hasher's key, written once).
const PERMANENT_COLLECTION: &str = "oauth_server_meta";
/// Environment variables that hand the proxy child its secrets (not its command line, which `ps` shows).
const ENV_SIGNING: &str = "SOAK_SIGNING_SECRET";
const ENV_FERNET: &str = "SOAK_FERNET_KEY";
const ENV_REDIS_URL: &str = "SOAK_REDIS_URL";
const ENV_PREFIX: &str = "SOAK_REDIS_PREFIX";

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve-remote") => serve_remote(&args[1..]).await,
        Some("serve-proxy") => serve_proxy(&args[1..]).await,
        _ => {
            let passed = drive(Options::parse(&args)?).await?;
            std::process::exit(i32::from(!passed));
        }
    }
}

/// The driver's command line.
#[derive(Debug, Clone)]
struct Options {
    seconds: u64,
    rate: f64,
    flows: f64,
    ttl: u64,
    redis: String,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            seconds: 120,
            rate: 150.0,
            flows: 1.0,
            ttl: 60,
            redis: "redis://127.0.0.1:6379".to_owned(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value =
                |name: &str| args.next().with_context(|| format!("{name} needs a value")).cloned();
            match arg.as_str() {
                "--seconds" => options.seconds = value("--seconds")?.parse().context("--seconds")?,
                "--rate" => options.rate = value("--rate")?.parse().context("--rate")?,
                "--flows" => options.flows = value("--flows")?.parse().context("--flows")?,
                "--ttl" => options.ttl = value("--ttl")?.parse().context("--ttl")?,
                "--redis" => options.redis = value("--redis")?,
                bare if bare.parse::<u64>().is_ok() => options.seconds = bare.parse()?,
                other => bail!("unknown argument {other:?} (--seconds, --rate, --flows, --ttl, --redis)"),
            }
        }
        ensure!(options.seconds >= 5, "--seconds must be at least 5");
        ensure!(options.rate > 0.0 && options.flows > 0.0, "--rate and --flows must be positive");
        ensure!(options.ttl >= 60, "--ttl must be at least 60 (the shortest registration lifetime)");
        Ok(options)
    }
}

// ---------------------------------------------------------------------------------------------------
// The servers (child processes).

/// `--authkit URL --port N [--ttl SECONDS]` of the server modes.
fn server_args(args: &[String]) -> anyhow::Result<(String, u16, u64)> {
    let (mut authkit, mut port, mut ttl) = (None, 0, 60);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--authkit" => authkit = Some(value.clone()),
            "--port" => port = value.parse().context("--port")?,
            "--ttl" => ttl = value.parse().context("--ttl")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok((authkit.context("--authkit is required")?, port, ttl))
}

/// The MCP service: the examples' `whoami` server, stateless, JSON answers.
fn mcp_router(base_url: &str, listen: SocketAddr) -> anyhow::Result<Router> {
    let hosts = server::allowed_hosts(&url::Url::parse(base_url)?, listen);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_legacy_session_mode(false)
        .with_json_response(true);
    Ok(Router::new().nest_service("/mcp", server::mcp_service(|| server::WhoAmIServer, config)))
}

async fn serve(
    listener: mcp_auth_core::serve::NoDelayListener,
    app: Router,
    base_url: &str,
) -> anyhow::Result<()> {
    println!("{}", json!({ "url": base_url }));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

async fn serve_remote(args: &[String]) -> anyhow::Result<()> {
    let (authkit, port, _) = server_args(args)?;
    let listener = mcp_auth_core::serve::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let listen = axum::serve::Listener::local_addr(&listener)?;
    let base_url = format!("http://{listen}");
    let provider = AuthKitProvider::builder()
        .authkit_domain(authkit)
        .base_url(&base_url)
        .token_cache(REMOTE_TOKEN_CACHE)
        .build()?;
    let app = mcp_router(&base_url, listen)?.layer(provider.bearer_layer()).merge(provider.router());
    serve(listener, app, &base_url).await
}

async fn serve_proxy(args: &[String]) -> anyhow::Result<()> {
    let (authkit, port, ttl) = server_args(args)?;
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let listener = mcp_auth_core::serve::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let listen = axum::serve::Listener::local_addr(&listener)?;
    let base_url = format!("http://{listen}");
    let store = RedisStore::builder(env(ENV_REDIS_URL)?).prefix(env(ENV_PREFIX)?).connect().await?;
    let signing = SigningKey::from_hmac_secret(&SecretString::from(env(ENV_SIGNING)?))?;
    let fernet = FernetKey::new(env(ENV_FERNET)?)?;
    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", authkit.as_str()),
        ("MCP_AUTH_WORKOS_CLIENT_ID", dev_idp::PROXY_CLIENT_ID),
        ("MCP_AUTH_WORKOS_CLIENT_SECRET", dev_idp::PROXY_CLIENT_SECRET),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
        ("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://127.0.0.1:*"),
    ]);
    let ttl = Duration::from_secs(ttl);
    let provider = WorkOSProvider::builder()
        .settings(&settings)?
        .store(Arc::new(store))
        .configure(|proxy| {
            proxy
                .signing_key(signing)
                .fernet_keys(vec![fernet])
                .registered_client_ttl(ttl)
                .token_cache(PROXY_TOKEN_CACHE)
                .refresh_token_ttl(ttl)
                .transaction_ttl(ttl)
                .remembered_consent_ttl(ttl)
                .max_registrations_per_hour(1_000_000)
                .registrations_per_source(1_000_000, Duration::from_secs(600))
        })
        .build()
        .await?;
    let app = mcp_router(&base_url, listen)?.layer(provider.bearer_layer()).merge(provider.router());
    serve(listener, app, &base_url).await
}

// ---------------------------------------------------------------------------------------------------
// The driver.

/// A child server: the process, its base URL.
struct Server {
    child: Child,
    pid: u32,
    url: String,
}

/// Picks a free loopback port (the proxy's callback must be known before the dev IdP starts).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn spawn_server(mode: &str, args: &[String], env: &[(&str, &str)]) -> anyhow::Result<Server> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let mut command = Command::new(exe);
    command.arg(mode).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().with_context(|| format!("starting {mode}"))?;
    let pid = child.id().context("the child has no pid")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .with_context(|| format!("{mode} did not report ready within 30 s"))??
        .with_context(|| format!("{mode} exited before reporting ready"))?;
    let ready: Value = serde_json::from_str(&line).with_context(|| format!("{mode} printed {line:?}"))?;
    let url = ready["url"].as_str().context("no url")?.to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { child, pid, url })
}

/// A server's resident set size in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a request came to: an HTTP status, or a transport or flow failure.
#[derive(Debug)]
enum Outcome {
    Status(u16),
    Failed(String),
}

/// The request classes and the status each expects.
const CLASSES: [(&str, u16); 9] = [
    ("remote valid", 200),
    ("remote expired", 401),
    ("remote garbage", 401),
    ("proxy valid", 200),
    ("proxy expired", 401),
    ("proxy garbage", 401),
    ("register", 201),
    ("sign-in", 200),
    ("refresh", 200),
];

#[derive(Debug, Default, Clone)]
struct ClassStats {
    statuses: BTreeMap<u16, u64>,
    failures: u64,
    shed: u64,
    micros: Vec<u32>,
}

impl ClassStats {
    fn total(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.failures
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let index = ((sorted.len() - 1) as f64 * p).round() as usize;
        f64::from(sorted[index]) / 1000.0
    }
}

/// Every answer, by class.
#[derive(Debug, Default)]
struct Stats {
    classes: Mutex<BTreeMap<&'static str, ClassStats>>,
    failure_examples: Mutex<Vec<String>>,
}

impl Stats {
    fn record(&self, class: &'static str, outcome: Outcome, elapsed: Duration) {
        let mut classes = self.classes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = classes.entry(class).or_default();
        match outcome {
            Outcome::Status(status) => *stats.statuses.entry(status).or_default() += 1,
            Outcome::Failed(why) => {
                stats.failures += 1;
                let mut examples =
                    self.failure_examples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if examples.len() < 10 {
                    examples.push(format!("{class}: {why}"));
                }
            }
        }
        stats.micros.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    fn shed(&self, class: &'static str) {
        let mut classes = self.classes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        classes.entry(class).or_default().shed += 1;
    }

    fn snapshot(&self) -> BTreeMap<&'static str, ClassStats> {
        self.classes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn total(&self) -> u64 {
        self.classes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(ClassStats::total)
            .sum()
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        let burst = (rate / 20.0).max(1.0);
        Self { rate, burst, tokens: 0.0, last: Instant::now() }
    }

    /// Waits for one token.
    async fn take(&mut self) {
        loop {
            let now = Instant::now();
            self.tokens =
                (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            tokio::time::sleep(Duration::from_secs_f64((1.0 - self.tokens) / self.rate)).await;
        }
    }
}

/// A signed-in grant on the proxy.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    access: String,
    refresh: String,
    born: Instant,
}

/// What the load tasks share.
struct Load {
    http: reqwest::Client,
    stats: Stats,
    remote: String,
    proxy: String,
    remote_valid: Vec<String>,
    remote_expired: Vec<String>,
    proxy_expired: Vec<String>,
    grants: Mutex<VecDeque<Grant>>,
    /// Grants older than this are retired before their refresh tokens expire.
    grant_age: Duration,
    counter: AtomicU64,
}

impl Load {
    fn next(&self) -> usize {
        usize::try_from(self.counter.fetch_add(1, Ordering::Relaxed)).unwrap_or_default()
    }

    fn garbage(&self) -> String {
        let hex = keys::random_hex(24).unwrap_or_default();
        if self.next().is_multiple_of(2) { format!("eyJhbGciOiJSUzI1NiJ9.{hex}.{hex}") } else { hex }
    }

    fn proxy_access(&self) -> Option<String> {
        let grants = self.grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (!grants.is_empty()).then(|| grants[self.next() % grants.len()].access.clone())
    }

    async fn call(&self, base: &str, token: &str) -> Outcome {
        let request = self
            .http
            .post(format!("{base}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .bearer_auth(token)
            .body(CALL);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(body) if status == 200 && !body.contains("\"result\"") => Outcome::Failed(format!(
                        "200 without a result: {}",
                        body.chars().take(200).collect::<String>()
                    )),
                    Ok(_) => Outcome::Status(status),
                    Err(err) => Outcome::Failed(format!("reading the body: {err}")),
                }
            }
            Err(err) => Outcome::Failed(format!("{err}")),
        }
    }

    /// One `tools/call` of the class the counter picks: 6 remote valid, 2 expired, 2 garbage, and the
    /// same on the proxy, in every 20.
    async fn mixed_call(&self, slot: usize) -> (&'static str, Outcome) {
        let n = self.next();
        match slot % 20 {
            0..6 => (
                "remote valid",
                self.call(&self.remote, &self.remote_valid[n % self.remote_valid.len()]).await,
            ),
            6..8 => (
                "remote expired",
                self.call(&self.remote, &self.remote_expired[n % self.remote_expired.len()]).await,
            ),
            8..10 => ("remote garbage", self.call(&self.remote, &self.garbage()).await),
            10..16 => match self.proxy_access() {
                Some(token) => ("proxy valid", self.call(&self.proxy, &token).await),
                None => ("proxy valid", Outcome::Failed("no signed-in grant yet".to_owned())),
            },
            16..18 => (
                "proxy expired",
                self.call(&self.proxy, &self.proxy_expired[n % self.proxy_expired.len()]).await,
            ),
            _ => ("proxy garbage", self.call(&self.proxy, &self.garbage()).await),
        }
    }

    /// A dynamic client registration; `Ok` with the client id on 201.
    async fn register(&self) -> Result<String, Outcome> {
        let body = json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "client_name": "mcp-auth soak",
        });
        let response = self
            .http
            .post(format!("{}/register", self.proxy))
            .json(&body)
            .send()
            .await
            .map_err(|err| Outcome::Failed(format!("{err}")))?;
        let status = response.status().as_u16();
        if status != 201 {
            return Err(Outcome::Status(status));
        }
        let registered: Value = response.json().await.map_err(|err| Outcome::Failed(format!("{err}")))?;
        registered["client_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Outcome::Failed("no client_id".to_owned()))
    }

    /// A full sign-in: registration, authorization (consent, the dev IdP's sign-in, the callback) and
    /// the code exchange.
    async fn sign_in(&self) -> Result<Grant, Outcome> {
        let client_id = self.register().await?;
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let state = keys::random_hex(8).map_err(|err| Outcome::Failed(format!("{err}")))?;
        let mut url = url::Url::parse(&format!("{}/authorize", self.proxy))
            .map_err(|err| Outcome::Failed(format!("{err}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("resource", &format!("{}/mcp", self.proxy));
        let mut browser = Browser::new().map_err(|err| Outcome::Failed(format!("{err}")))?;
        let callback =
            browser.follow(url, REDIRECT_URI).await.map_err(|err| Outcome::Failed(format!("{err:#}")))?;
        let callback = url::Url::parse(&callback).map_err(|err| Outcome::Failed(format!("{err}")))?;
        let param = |name: &str| callback.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        if param("state").as_deref() != Some(state.as_str()) {
            return Err(Outcome::Failed("the callback's state differs".to_owned()));
        }
        let code = param("code").ok_or_else(|| Outcome::Failed(format!("no code: {:?}", param("error"))))?;
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.secret().as_str()),
        ];
        let tokens = self.token(&form).await?;
        Ok(Grant { client_id, access: tokens.0, refresh: tokens.1, born: Instant::now() })
    }

    /// A token request; `Ok` with the access and refresh tokens on 200.
    async fn token(&self, form: &[(&str, &str)]) -> Result<(String, String), Outcome> {
        let response = self
            .http
            .post(format!("{}/token", self.proxy))
            .form(form)
            .send()
            .await
            .map_err(|err| Outcome::Failed(format!("{err}")))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Outcome::Status(status));
        }
        let tokens: Value = response.json().await.map_err(|err| Outcome::Failed(format!("{err}")))?;
        match (tokens["access_token"].as_str(), tokens["refresh_token"].as_str()) {
            (Some(access), Some(refresh)) => Ok((access.to_owned(), refresh.to_owned())),
            _ => Err(Outcome::Failed("a token answer without both tokens".to_owned())),
        }
    }

    fn keep(&self, grant: Grant) {
        let mut grants = self.grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        grants.push_back(grant);
        while grants.len() > GRANT_POOL {
            grants.pop_front();
        }
    }

    /// Refreshes the oldest grant young enough to refresh (each grant is refreshed by one task at a time:
    /// it leaves the pool meanwhile). `None` when there is none.
    async fn refresh(&self) -> Option<Outcome> {
        let grant = {
            let mut grants = self.grants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            grants.retain(|grant| grant.born.elapsed() < self.grant_age);
            // The last grant stays for the calls: it is refreshed once another sign-in joins it.
            if grants.len() < 2 {
                return None;
            }
            grants.pop_front()?
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", grant.client_id.as_str()),
            ("refresh_token", grant.refresh.as_str()),
        ];
        Some(match self.token(&form).await {
            Ok((access, refresh)) => {
                self.keep(Grant { access, refresh, ..grant });
                Outcome::Status(200)
            }
            Err(outcome) => outcome,
        })
    }
}

/// Runs one stream: `rate` requests a second until `until`, each a task, shed past the in-flight cap.
fn stream<F, Fut>(
    load: &Arc<Load>,
    rate: f64,
    until: Instant,
    shed_as: &'static str,
    request: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Arc<Load>, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let load = Arc::clone(load);
    tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut bucket = TokenBucket::new(rate);
        let mut tasks = tokio::task::JoinSet::new();
        let mut slot = 0_usize;
        while Instant::now() < until {
            bucket.take().await;
            slot = slot.wrapping_add(1);
            let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                load.stats.shed(shed_as);
                continue;
            };
            let future = request(Arc::clone(&load), slot);
            tasks.spawn(async move {
                future.await;
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    })
}

/// One sample of the run.
#[derive(Debug, Clone)]
struct Sample {
    at: f64,
    rss: [Option<u64>; 2],
    requests: u64,
    keys: usize,
    by_collection: BTreeMap<String, (usize, i64)>,
    without_ttl: Vec<String>,
}

async fn sample(
    started: Instant,
    servers: [&Server; 2],
    load: &Load,
    redis: &RawRedis,
    prefix: &str,
) -> anyhow::Result<Sample> {
    let ttls = redis.ttls(prefix).await?;
    let mut by_collection: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    let mut without_ttl = Vec::new();
    for (key, ttl) in &ttls {
        let collection = key.split(':').nth(1).unwrap_or("?").to_owned();
        let entry = by_collection.entry(collection).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(*ttl);
        if *ttl == -1 {
            without_ttl.push(key.clone());
        }
    }
    Ok(Sample {
        at: started.elapsed().as_secs_f64(),
        rss: [rss_kib(servers[0].pid), rss_kib(servers[1].pid)],
        requests: load.stats.total(),
        keys: ttls.iter().filter(|(_, ttl)| *ttl != -2).count(),
        by_collection,
        without_ttl,
    })
}

fn mib(kib: Option<u64>) -> String {
    #[allow(clippy::cast_precision_loss)]
    kib.map_or_else(|| "?".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0))
}

/// The dev IdP, issuing the remote path's tokens with a clock the driver can set back.
async fn start_idp(proxy_callback: &str, clock: Arc<ManualClock>) -> anyhow::Result<DevIdpHandle> {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").name("Ada Lovelace").roles(["member"]))
        .client(DevClient::confidential(
            dev_idp::PROXY_CLIENT_ID,
            dev_idp::PROXY_CLIENT_SECRET,
            [proxy_callback],
        ))
        .auto_approve(true)
        .default_user("user_ada")
        .access_token_ttl(Duration::from_secs(24 * 3600))
        .clock(clock)
        .start()
        .await
        .context("starting the dev identity provider")
}

#[allow(clippy::too_many_lines)]
async fn drive(options: Options) -> anyhow::Result<bool> {
    let redis =
        RawRedis::connect(&options.redis).await.context("the soak keeps the proxy's state in Redis")?;
    let prefix = format!("mcp-auth-soak-{}", keys::random_hex(6)?);
    let (fernet, signing) = (keys::fernet_key(), keys::signing_secret()?);
    let proxy_port = free_port()?;
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let clock = Arc::new(ManualClock::starting_now());
    let idp = start_idp(&format!("{proxy_url}/auth/callback"), Arc::clone(&clock)).await?;
    let ttl = options.ttl.to_string();
    let remote = spawn_server("serve-remote", &["--authkit".into(), idp.url().to_owned()], &[]).await?;
    let proxy = spawn_server(
        "serve-proxy",
        &[
            "--authkit".into(),
            idp.url().to_owned(),
            "--port".into(),
            proxy_port.to_string(),
            "--ttl".into(),
            ttl,
        ],
        &[
            (ENV_SIGNING, signing.expose_secret()),
            (ENV_FERNET, fernet.expose_secret()),
            (ENV_REDIS_URL, &options.redis),
            (ENV_PREFIX, &prefix),
        ],
    )
    .await?;
    ensure!(proxy.url == proxy_url, "the proxy listens on {}, not {proxy_url}", proxy.url);

    // Tokens: expired ones signed two days ago (valid ones live a day), then the clock follows the wall clock again.
    let remote_resource = format!("{}/mcp", remote.url);
    let proxy_resource = format!("{proxy_url}/mcp");
    clock.set(SystemTime::now() - Duration::from_secs(48 * 3600));
    let remote_expired = (0..EXPIRED_TOKENS)
        .map(|_| idp.issue_access_token("user_ada", &remote_resource, ["openid"]))
        .collect::<Result<Vec<_>, _>>()?;
    let old_issuer = JwtIssuer::builder()
        .issuer(proxy_url.clone())
        .audience(proxy_resource.as_str())
        .signing_key(SigningKey::from_hmac_secret(&signing)?)
        .access_ttl(Duration::from_secs(600))
        .clock(Arc::<ManualClock>::clone(&clock))
        .build()?;
    let proxy_expired = (0..EXPIRED_TOKENS)
        .map(|i| {
            let request =
                TokenRequest::new("user_ada").client_id("soak").claim("sid", format!("soak-expired-{i}"));
            old_issuer.sign_access(&request).map(|token| token.expose().to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
    clock.set(SystemTime::now());
    let remote_valid = (0..REMOTE_VALID_TOKENS)
        .map(|_| idp.issue_access_token("user_ada", &remote_resource, ["openid"]))
        .collect::<Result<Vec<_>, _>>()?;
    let ticking = Arc::clone(&clock);
    let ticker = tokio::spawn(async move {
        loop {
            ticking.set(SystemTime::now());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let ttl = Duration::from_secs(options.ttl);
    let load = Arc::new(Load {
        http: reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?,
        stats: Stats::default(),
        remote: remote.url.clone(),
        proxy: proxy.url.clone(),
        remote_valid,
        remote_expired,
        proxy_expired,
        grants: Mutex::new(VecDeque::new()),
        grant_age: ttl.mul_f64(0.7),
        counter: AtomicU64::new(0),
    });

    // Before the run: each class answers as expected once.
    let grant = load.sign_in().await.map_err(|outcome| anyhow::anyhow!("the first sign-in: {outcome:?}"))?;
    load.keep(grant);
    for slot in 0..20 {
        let (class, outcome) = load.mixed_call(slot).await;
        let expected = CLASSES.iter().find(|(name, _)| *name == class).map(|(_, status)| *status);
        ensure!(
            matches!(outcome, Outcome::Status(status) if Some(status) == expected),
            "before the run, {class} answered {outcome:?}"
        );
    }
    let expired =
        load.http.post(&proxy_resource).bearer_auth(&load.proxy_expired[0]).body(CALL).send().await?;
    let challenge =
        expired.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !challenge.contains("expired") {
        println!("note: the proxy's challenge for an expired token does not say so: {challenge}");
    }

    println!(
        "soak: {} s, {} calls/s, {} sign-ins/s, {} registrations/s, {} refreshes/s; remote {} (pid {}), proxy {} (pid {}) \
         over Redis under {prefix}; TTL {} s",
        options.seconds,
        options.rate,
        options.flows,
        options.flows * 2.0,
        options.flows * 2.0,
        remote.url,
        remote.pid,
        proxy.url,
        proxy.pid,
        options.ttl
    );
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let streams = vec![
        stream(&load, options.rate, until, "calls", |load, slot| async move {
            let begun = Instant::now();
            let (class, outcome) = load.mixed_call(slot).await;
            load.stats.record(class, outcome, begun.elapsed());
        }),
        stream(&load, options.flows * 2.0, until, "register", |load, _| async move {
            let begun = Instant::now();
            let outcome = match load.register().await {
                Ok(_) => Outcome::Status(201),
                Err(outcome) => outcome,
            };
            load.stats.record("register", outcome, begun.elapsed());
        }),
        stream(&load, options.flows, until, "sign-in", |load, _| async move {
            let begun = Instant::now();
            let outcome = match load.sign_in().await {
                Ok(grant) => {
                    load.keep(grant);
                    Outcome::Status(200)
                }
                Err(outcome) => outcome,
            };
            load.stats.record("sign-in", outcome, begun.elapsed());
        }),
        stream(&load, options.flows * 2.0, until, "refresh", |load, _| async move {
            let begun = Instant::now();
            if let Some(outcome) = load.refresh().await {
                load.stats.record("refresh", outcome, begun.elapsed());
            }
        }),
    ];

    let every = Duration::from_secs((options.seconds / 24).clamp(1, 5));
    let mut samples = Vec::new();
    let mut next = started;
    while Instant::now() < until + every {
        let sample = sample(started, [&remote, &proxy], &load, &redis, &prefix).await?;
        println!(
            "t={:>5.1}s requests={:>7} rss remote={} proxy={} redis keys={} (without TTL: {})",
            sample.at,
            sample.requests,
            mib(sample.rss[0]),
            mib(sample.rss[1]),
            sample.keys,
            sample.without_ttl.len()
        );
        samples.push(sample);
        if Instant::now() >= until {
            break;
        }
        next += every;
        tokio::time::sleep_until(next.into()).await;
    }
    for stream in streams {
        stream.await?;
    }
    let last = sample(started, [&remote, &proxy], &load, &redis, &prefix).await?;
    samples.push(last);
    ticker.abort();

    let passed = report(&options, &load, &samples);
    let deleted = redis.delete_prefix(&prefix).await?;
    println!("\n{deleted} keys under {prefix} deleted.");
    drop((remote.child, proxy.child, idp));
    Ok(passed)
}

/// Prints the summary and the verdicts; whether every verdict passed.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
fn report(options: &Options, load: &Load, samples: &[Sample]) -> bool {
    let classes = load.stats.snapshot();
    let seconds = samples.last().map_or(0.0, |sample| sample.at);
    println!("\n## Requests ({seconds:.0} s)\n");
    println!("| class | requests | per second | statuses | failures | shed | p50 ms | p99 ms |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|");
    let (mut server_errors, mut failures, mut unexpected) = (0_u64, 0_u64, Vec::new());
    for (class, expected) in CLASSES {
        let stats = classes.get(class).cloned().unwrap_or_default();
        let statuses: Vec<String> =
            stats.statuses.iter().map(|(status, n)| format!("{status}: {n}")).collect();
        server_errors +=
            stats.statuses.iter().filter(|(status, _)| **status >= 500).map(|(_, n)| n).sum::<u64>();
        failures += stats.failures;
        for (status, n) in &stats.statuses {
            if *status != expected {
                unexpected.push(format!("{class} {status} x{n}"));
            }
        }
        println!(
            "| {class} | {} | {:.1} | {} | {} | {} | {:.2} | {:.2} |",
            stats.total(),
            stats.total() as f64 / seconds.max(1.0),
            statuses.join(", "),
            stats.failures,
            stats.shed,
            stats.percentile(0.50),
            stats.percentile(0.99)
        );
    }
    let examples =
        load.stats.failure_examples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    for example in &examples {
        println!("failure: {example}");
    }

    let warm_at = options.seconds as f64 * 0.2;
    let mid_at = options.seconds as f64 * 0.6;
    let after = |at: f64| samples.iter().find(|sample| sample.at >= at).or(samples.last());
    println!("\n## Memory (RSS)\n");
    println!("| server | start | after warm-up ({warm_at:.0} s) | end | peak after warm-up | growth |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rss_flat = true;
    for (index, name) in ["remote (AuthKitProvider)", "proxy (WorkOSProvider, Redis)"].iter().enumerate() {
        let start = samples.first().and_then(|sample| sample.rss[index]);
        let warm = after(warm_at).and_then(|sample| sample.rss[index]);
        let end = samples.last().and_then(|sample| sample.rss[index]);
        let peak =
            samples.iter().filter(|sample| sample.at >= warm_at).filter_map(|sample| sample.rss[index]).max();
        let growth = match (warm, peak) {
            (Some(warm), Some(peak)) if warm > 0 => (peak as f64 - warm as f64) / warm as f64 * 100.0,
            _ => f64::NAN,
        };
        rss_flat &= growth.is_finite() && growth <= 10.0;
        println!(
            "| {name} | {} | {} | {} | {} | {growth:+.1}% |",
            mib(start),
            mib(warm),
            mib(end),
            mib(peak)
        );
    }

    let (mid, end) = (after(mid_at), samples.last());
    println!("\n## Redis keys under the prefix\n");
    println!("| collection | at {mid_at:.0} s | end | longest TTL left at the end |");
    println!("|---|---:|---:|---:|");
    let mut collections: Vec<&String> =
        end.map(|sample| sample.by_collection.keys().collect()).unwrap_or_default();
    if let Some(mid) = mid {
        collections.extend(mid.by_collection.keys());
    }
    collections.sort();
    collections.dedup();
    let ttl_ms = i64::try_from(options.ttl * 1000).unwrap_or(i64::MAX);
    let (mut short_mid, mut short_end) = (0_usize, 0_usize);
    let mut long_lived = Vec::new();
    for collection in collections {
        let at = |sample: Option<&Sample>| {
            sample.and_then(|s| s.by_collection.get(collection)).copied().unwrap_or_default()
        };
        let (m, e) = (at(mid), at(end));
        let longest =
            samples.iter().filter_map(|s| s.by_collection.get(collection)).map(|(_, ttl)| *ttl).max();
        if longest.is_some_and(|ttl| ttl <= ttl_ms + 5_000) {
            short_mid += m.0;
            short_end += e.0;
        } else if collection != PERMANENT_COLLECTION {
            long_lived.push(collection.clone());
        }
        let left = if e.1 < 0 { "none".to_owned() } else { format!("{:.0} s", e.1 as f64 / 1000.0) };
        println!("| {collection} | {} | {} | {left} |", m.0, e.0);
    }
    let without_ttl: Vec<&String> = samples
        .iter()
        .flat_map(|sample| &sample.without_ttl)
        .filter(|key| key.split(':').nth(1) != Some(PERMANENT_COLLECTION))
        .collect();
    let permanent = end.map_or(0, |sample| sample.without_ttl.len());
    println!(
        "\nTotal keys: {} at {mid_at:.0} s, {} at the end; without a TTL: {permanent} ({PERMANENT_COLLECTION}, the store's \
         hashing key, permanent by design){}",
        mid.map_or(0, |s| s.keys),
        end.map_or(0, |s| s.keys),
        if without_ttl.is_empty() { String::new() } else { format!(" and {} others", without_ttl.len()) }
    );
    if !long_lived.is_empty() {
        println!(
            "Collections whose entries outlive --ttl (bounded by their own TTL, longer than this run): {}",
            long_lived.join(", ")
        );
    }

    println!("\n## Verdicts\n");
    let mut passed = true;
    let mut verdict = |ok: Option<bool>, what: &str, detail: String| {
        let mark = match ok {
            Some(true) => "PASS",
            Some(false) => {
                passed = false;
                "FAIL"
            }
            None => "SKIP",
        };
        println!("- {mark}: {what} ({detail})");
    };
    verdict(Some(server_errors == 0), "no 5xx", format!("{server_errors} answers >= 500"));
    verdict(Some(failures == 0), "no transport or flow failure", format!("{failures} failures"));
    verdict(
        Some(unexpected.is_empty()),
        "every answer the expected status",
        if unexpected.is_empty() { "200/201/401 as expected".to_owned() } else { unexpected.join(", ") },
    );
    verdict(Some(rss_flat), "RSS after warm-up flat within 10%", "see the memory table".to_owned());
    verdict(
        Some(without_ttl.is_empty()),
        "no key without a TTL (but the permanent hashing key)",
        if without_ttl.is_empty() {
            format!("{permanent} permanent")
        } else {
            without_ttl.iter().take(5).map(|key| key.as_str()).collect::<Vec<_>>().join(", ")
        },
    );
    let bounded = options.seconds >= 2 * options.ttl;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ceiling = (short_mid as f64 * 1.10).ceil() as usize + 10;
    verdict(
        bounded.then_some(short_end <= ceiling),
        "Redis key count bounded",
        if bounded {
            format!("{short_mid} keys at {mid_at:.0} s, {short_end} at the end, ceiling {ceiling}")
        } else {
            format!("a run shorter than twice --ttl ({} s) cannot show it", options.ttl)
        },
    );
    println!(
        "- note: the remote path's token cache ({REMOTE_TOKEN_CACHE} entries) met {REMOTE_VALID_TOKENS} distinct valid \
         tokens and a fresh garbage token per garbage request; its bound shows in the flat RSS"
    );
    println!("\n{}", if passed { "soak: PASS" } else { "soak: FAIL" });
    passed
}
