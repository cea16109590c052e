//! `mcp-auth gateway`: puts OAuth in front of an MCP server you did not write.
//!
//! The gateway serves the provider's discovery metadata (and, for the WorkOS proxy, its whole
//! authorization server), verifies the bearer token on every MCP request, and forwards what it accepts to
//! the upstream: a streamable-HTTP MCP server (`--upstream URL`), whose answers and SSE streams pass through
//! as they arrive, or a stdio MCP server it starts and supervises (`--upstream-command CMD`). Requests
//! without a valid token never reach the upstream; the client's `Authorization` header never does.
//!
//! Configuration: the provider and store come from the same `MCP_AUTH_*` variables, `.env` and
//! `mcp-auth.toml` as `mcp_auth::from_env()` (`--set NAME=VALUE` overrides one); the gateway's own
//! settings are flags, each with an `MCP_AUTH_GATEWAY_*` variable or `[gateway]` key.

mod config;
mod forward;
mod health;
mod identity;
mod inspect;
mod policy;
mod stdio;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use mcp_auth::McpAuth;
use tokio_util::sync::CancellationToken;

pub use self::config::{Args, GatewayConfig, UpstreamSpec};
pub use self::forward::HttpUpstream;
pub use self::identity::{IdentityField, IdentityHeaders};
pub use self::policy::{Refusal, ToolPolicy, ToolRule};
pub use self::stdio::StdioUpstream;
use crate::Global;

/// The upstream MCP server.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Over streamable HTTP.
    Http(HttpUpstream),
    /// A supervised child process over stdio.
    Stdio(StdioUpstream),
}

/// Runs `mcp-auth gateway` until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// A configuration error (naming the flag or variable), or a listener that cannot bind.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    crate::init_tracing(global);
    let settings = args.settings()?;
    let config = GatewayConfig::from_args(&args, &settings)?;
    let auth = McpAuth::from_settings(&settings).await?;
    let listen = config.listen.unwrap_or_else(|| auth.listen_addr());
    let shutdown = CancellationToken::new();
    let metrics = match config.metrics_listen {
        Some(address) => Some(serve_metrics(address, shutdown.clone()).await?),
        None => None,
    };
    let (app, upstream) = app(&auth, &settings, &config, shutdown.clone())?;
    let listener =
        mcp_auth_core::serve::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let upstream_shown = match &upstream {
        Upstream::Http(http) => http.url().to_string(),
        Upstream::Stdio(_) => format!("stdio: {}", config.upstream.describe()),
    };
    crate::output::info(global, &format!("mcp-auth gateway: {} -> {upstream_shown}", auth.resource()));
    crate::output::info(
        global,
        &format!("  provider {}, store {}", auth.provider().name(), auth.store_name()),
    );
    crate::output::info(global, &format!("  listening on {listen}; /healthz, /readyz"));
    if let Some(address) = metrics {
        crate::output::info(global, &format!("  metrics on http://{address}/metrics"));
    }
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.clone();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            stop.cancel();
        })
        .await
        .context("serving")?;
    shutdown.cancel();
    Ok(ExitCode::SUCCESS)
}

/// The gateway's router: the provider's routes, the protected MCP endpoint, and the health routes.
///
/// # Errors
///
/// The policy is invalid for the bearer layer, or the HTTP client cannot be built.
pub fn app(
    auth: &McpAuth,
    settings: &mcp_auth_core::settings::Settings,
    config: &GatewayConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<(Router, Upstream)> {
    let resource = auth.resource();
    let public = url::Url::parse(resource.as_str()).context("the resource URL")?;
    let upstream = match &config.upstream {
        UpstreamSpec::Http(url) => Upstream::Http(HttpUpstream::new(
            url.clone(),
            config.upstream_timeout,
            config.identity.clone(),
            public.scheme(),
        )?),
        UpstreamSpec::Command(command) => {
            Upstream::Stdio(StdioUpstream::start(command.clone(), config.upstream_timeout, shutdown))
        }
    };
    let mcp = match &upstream {
        Upstream::Http(http) => Router::new()
            .route(resource.path(), get(forward::forward).post(forward::forward).delete(forward::forward))
            .with_state(http.clone()),
        Upstream::Stdio(stdio) => Router::new()
            .route(
                resource.path(),
                post(stdio::serve_post).get(stdio::method_not_allowed).delete(stdio::method_not_allowed),
            )
            // The gateway's own limit (below) applies, not axum's 2 MiB default for `Bytes`.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(stdio.clone()),
    };
    let policy = Arc::new(config.policy.clone());
    let inspect = inspect::Inspect { policy: Arc::clone(&policy), max_body_bytes: config.max_body_bytes };
    let mut bearer = auth.bearer_layer();
    let scopes = policy.scope_policy(config.max_body_bytes).map_err(anyhow::Error::msg)?;
    if !scopes.is_empty() {
        bearer = bearer.mcp_scopes(scopes);
    }
    // Inside out: the policy reads bodies of verified requests; each request's span names the caller;
    // the bearer layer verifies; the body limit holds for all; CORS answers browser preflights without a
    // token.
    let mcp = mcp
        .layer(axum::middleware::from_fn_with_state(inspect, inspect::apply_policy))
        .layer(axum::middleware::from_fn(trace_request))
        .layer(bearer)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(mcp_auth::remote::mcp_cors());
    let readiness = health::Readiness {
        store: auth.store(),
        key_source: key_source(auth, settings),
        upstream: upstream.clone(),
        client: reqwest::Client::new(),
        last: Arc::default(),
    };
    let health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(readiness);
    Ok((mcp.merge(auth.router()).merge(health), upstream))
}

/// A span for each verified MCP request, naming the user and the client (never the token), and a
/// debug line with its status and duration.
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let token = request.extensions().get::<mcp_auth_core::AccessToken>();
    let span = tracing::info_span!(
        "mcp_request",
        method = %request.method(),
        user_id = token.and_then(|token| token.subject.as_deref()).unwrap_or("-"),
        client_id = token.and_then(|token| token.client_id.as_deref()).unwrap_or("-"),
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), elapsed = ?started.elapsed(), "forwarded");
    });
    response
}

/// The URL whose answer shows the provider's key source is up.
fn key_source(auth: &McpAuth, settings: &mcp_auth_core::settings::Settings) -> Option<String> {
    match auth.provider() {
        mcp_auth::config::Provider::AuthKit(provider) => Some(provider.domain().jwks_url()),
        mcp_auth::config::Provider::WorkOS(provider) => Some(provider.domain().jwks_url()),
        mcp_auth::config::Provider::Jwt(_) => settings.string("JWT_JWKS_URI").or_else(|| {
            settings
                .string("JWT_ISSUER")
                .map(|issuer| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')))
        }),
        _ => None,
    }
}

/// Installs the Prometheus recorder and serves its page at `/metrics` on `address`.
async fn serve_metrics(address: SocketAddr, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_duration_seconds".to_owned()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    mcp_auth_core::metrics::describe();
    describe_gateway_metrics();
    let upkeep = handle.clone();
    let stop_upkeep = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = every.tick() => upkeep.run_upkeep(),
                () = stop_upkeep.cancelled() => return,
            }
        }
    });
    let listener = mcp_auth_core::serve::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--metrics-listen)"))?;
    let bound = axum::serve::Listener::local_addr(&listener)?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    });
    Ok(bound)
}

/// The gateway's own metrics (the library's are in `mcp_auth_core::metrics`).
pub const GATEWAY_METRICS: [&str; 4] = [
    "mcp_auth_gateway_upstream_requests_total",
    "mcp_auth_gateway_upstream_duration_seconds",
    "mcp_auth_gateway_tool_refusals_total",
    "mcp_auth_gateway_stdio_restarts_total",
];

fn describe_gateway_metrics() {
    metrics::describe_counter!(
        GATEWAY_METRICS[0],
        "Requests the gateway forwarded to the upstream, by upstream kind (http, stdio) and outcome (ok, error, timeout)."
    );
    metrics::describe_histogram!(
        GATEWAY_METRICS[1],
        metrics::Unit::Seconds,
        "Time to the upstream's answer (HTTP: its response headers), by upstream kind."
    );
    metrics::describe_counter!(
        GATEWAY_METRICS[2],
        "tools/call requests refused by the per-tool role policy."
    );
    metrics::describe_counter!(GATEWAY_METRICS[3], "Restarts of the supervised stdio MCP server.");
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
