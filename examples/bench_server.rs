//! The MCP server the HTTP benchmark (`just bench-http`, `scripts/bench-http.sh`) drives with a load
//! tool: an rmcp streamable-HTTP server with one tool, `whoami`, in stateless mode with JSON responses, so
//! every `tools/call` is one self-contained HTTP request over a keep-alive connection.
//!
//! `bench_server MODE` with MODE one of:
//!
//! - `open`: no authentication (scenario A, the baseline); `whoami` answers `anonymous`;
//! - `remote-nocache`: behind `AuthKitProvider` with the verified-token cache off, an RS256 check per
//!   request (scenario B);
//! - `remote`: the same with the cache on, the default (scenario C);
//! - `proxy`: behind `WorkOSProvider`, the OAuth proxy, with a token the proxy issued after a full sign-in
//!   (scenario D);
//! - `idp --audience URL`: only the dev IdP, for the gateway in front of an `open` server (scenario E):
//!   prints `{"issuer": "...", "token": "..."}` with a token for that audience.
//!
//! It starts the dev IdP in the same process (JWKS fetched before it reports ready), listens on
//! `127.0.0.1:PORT` (`--port`, default a free one), and prints one JSON line when ready:
//! `{"url": ".../mcp", "token": "...", "expired": "...", "ready_ms": 12.3, "idp_ms": 8.1}` (`idp_ms`, the
//! in-process dev IdP's own start-up, is part of `ready_ms`; `token` is empty in `open`
//! mode; `expired` is an expired token for the 401 flood). It serves until killed.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use axum::Router;
use mcp_auth_core::AccessToken;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::settings::Settings;
use mcp_auth_dev_idp::{DevIdp, DevUser};
use mcp_auth_examples::{client, dev_idp};
use mcp_auth_workos::{AuthKitProvider, WorkOSProvider};
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;

/// `whoami`: the verified caller's id, or `anonymous` without auth.
#[derive(Debug, Clone, Copy, Default)]
struct BenchServer;

#[tool_router]
impl BenchServer {
    #[tool(description = "Who am I?")]
    async fn whoami(&self, context: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let user = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AccessToken>())
            .and_then(|token| token.subject.clone())
            .unwrap_or_else(|| "anonymous".to_owned());
        Ok(CallToolResult::success(vec![ContentBlock::text(user)]))
    }
}

#[tool_handler]
impl ServerHandler for BenchServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-auth-bench", env!("CARGO_PKG_VERSION")))
    }
}

fn mcp_config(base_url: &str, listen: SocketAddr) -> anyhow::Result<StreamableHttpServerConfig> {
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(mcp_auth_examples::server::allowed_hosts(&url::Url::parse(base_url)?, listen));
    config.legacy_session_mode = false;
    config.json_response = true;
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let mut port = 0;
    let mut audience = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().context("--port needs a value")?.parse().context("--port")?,
            "--audience" => audience = Some(args.next().context("--audience needs a value")?),
            other => bail!("unknown argument {other:?}"),
        }
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    if mode == "idp" {
        let audience = audience.context("idp mode needs --audience URL")?;
        let idp = DevIdp::builder()
            .user(DevUser::new("user_bench", "bench@example.com").roles(["member"]))
            .start()
            .await?;
        let token = idp.issue_access_token("user_bench", &audience, ["openid"])?;
        println!("{}", json!({"issuer": idp.url(), "token": token}));
        std::future::pending::<()>().await;
    }
    let listener = mcp_auth_core::serve::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let listen = axum::serve::Listener::local_addr(&listener)?;
    let base_url = format!("http://{listen}");
    let config = mcp_config(&base_url, listen)?;
    let service = move || mcp_auth_examples::server::mcp_service(|| BenchServer, config.clone());
    // The in-process dev IdP's start-up (an RSA key generated, whose time varies from run to run) is the
    // stand-in authorization server's, not the MCP server's: reported apart.
    let mut idp_ms = 0.0;
    let (app, token, expired, idp): (Router, String, String, Option<mcp_auth_dev_idp::DevIdpHandle>) =
        match mode.as_str() {
            "open" => (Router::new().nest_service("/mcp", service()), String::new(), String::new(), None),
            "remote" | "remote-nocache" => {
                // A clock the IdP reads, set back two hours for one token: the 401 flood's expired token.
                let clock = std::sync::Arc::new(ManualClock::starting_now());
                let idp_started = Instant::now();
                let idp = DevIdp::builder()
                    .user(DevUser::new("user_bench", "bench@example.com").roles(["member"]))
                    .clock(clock.clone())
                    .start()
                    .await?;
                idp_ms = idp_started.elapsed().as_secs_f64() * 1000.0;
                let mut builder = AuthKitProvider::builder().authkit_domain(idp.url()).base_url(&base_url);
                if mode == "remote-nocache" {
                    builder = builder.token_cache(0);
                }
                let provider = builder.build()?;
                let resource = provider.resource().as_str().to_owned();
                clock.set(SystemTime::now() - Duration::from_secs(2 * 3600));
                let expired = idp.issue_access_token("user_bench", &resource, ["openid"])?;
                clock.set(SystemTime::now());
                let token = idp.issue_access_token("user_bench", &resource, ["openid"])?;
                let app = Router::new()
                    .nest_service("/mcp", service())
                    .layer(provider.bearer_layer())
                    .merge(provider.router());
                (app, token, expired, Some(idp))
            }
            "proxy" => {
                let callback = format!("{base_url}/auth/callback");
                let idp_started = Instant::now();
                let idp = dev_idp::start_as_proxy_upstream(&callback).await?;
                idp_ms = idp_started.elapsed().as_secs_f64() * 1000.0;
                let settings = Settings::from_pairs([
                    ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
                    ("MCP_AUTH_WORKOS_CLIENT_ID", dev_idp::PROXY_CLIENT_ID),
                    ("MCP_AUTH_WORKOS_CLIENT_SECRET", dev_idp::PROXY_CLIENT_SECRET),
                    ("MCP_AUTH_BASE_URL", base_url.as_str()),
                    ("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://localhost:*,http://127.0.0.1:*"),
                ]);
                let provider = WorkOSProvider::builder().settings(&settings)?.build().await?;
                let app = Router::new()
                    .nest_service("/mcp", service())
                    .layer(provider.bearer_layer())
                    .merge(provider.router());
                (app, String::new(), String::new(), Some(idp))
            }
            other => bail!("unknown mode {other:?}: open, remote, remote-nocache or proxy"),
        };
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    let mcp_url = format!("{base_url}/mcp");
    // Ready: one authenticated call answered (the JWKS is fetched by then).
    let token = if mode == "proxy" {
        let (session, auth) = client::sign_in(&mcp_url, "ada@example.com").await?;
        let token = auth.get_access_token().await?;
        session.cancel().await?;
        token
    } else {
        token
    };
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}});
    let http = reqwest::Client::new();
    let mut request = http
        .post(&mcp_url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&call);
    if !token.is_empty() {
        request = request.bearer_auth(&token);
    }
    let answer = request.send().await?.error_for_status()?.text().await?;
    anyhow::ensure!(answer.contains("\"result\""), "the warm-up call failed: {answer}");
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Kept alive for the JWKS and the proxy's upstream.
    let _idp = idp;
    println!(
        "{}",
        json!({"url": mcp_url, "token": token, "expired": expired, "ready_ms": ready_ms, "idp_ms": idp_ms})
    );
    server.await??;
    Ok(())
}
