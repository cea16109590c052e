//! An rmcp streamable-HTTP MCP server behind the OAuth proxy for WorkOS (`WorkOSProvider`): MCP clients
//! register with this server (or present a Client ID Metadata Document), approve on its consent page and
//! sign in at AuthKit through the server's one WorkOS client; the server issues its own tokens for its
//! MCP endpoint and keeps AuthKit's tokens encrypted in its store. See `docs/proxy.md`.
//!
//! Configured only from the environment (or a `.env` file):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `MCP_AUTH_AUTHKIT_DOMAIN` | (required) | your AuthKit domain, e.g. `your-app.authkit.app`, or the dev IdP's URL |
//! | `MCP_AUTH_WORKOS_CLIENT_ID` | (required) | the WorkOS client the proxy signs in with |
//! | `MCP_AUTH_WORKOS_CLIENT_SECRET` | (required) | its secret |
//! | `MCP_AUTH_BASE_URL` | `http://<MCP_AUTH_LISTEN>` | this server's public URL: the proxy's issuer and the origin of `/mcp` |
//! | `MCP_AUTH_LISTEN` | `127.0.0.1:8000` | the address to listen on |
//! | `MCP_AUTH_REDIRECT_PATH` | `/auth/callback` | the path AuthKit sends people back to; the example prints the full URL to register |
//! | `MCP_AUTH_REQUIRED_SCOPES` | none | scopes every token must carry (also what a client that asks for none is given) |
//! | `MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS` | any URI the registration rules accept | comma-separated patterns, e.g. `http://localhost:*,http://127.0.0.1:*,https://claude.ai/api/mcp/auth_callback` |
//! | `MCP_AUTH_JWT_SIGNING_KEY` | an ephemeral key, with a warning | signs the proxy's access tokens: a PEM private key or a secret of 32 bytes or more |
//! | `MCP_AUTH_JWT_SIGNING_KEY_ID` | `key-1` | the `kid` of a PEM signing key |
//! | `MCP_AUTH_FERNET_KEYS` | an ephemeral key, with a warning | encrypt everything the proxy stores; comma-separated, newest first |
//! | `MCP_AUTH_REDIS_URL` | unset: state in memory | Redis for state shared by instances and kept across restarts |
//! | `MCP_AUTH_REDIS_PREFIX` | `mcp-auth` | the Redis key prefix |
//!
//! Without a signing key or Fernet keys the proxy makes ephemeral ones and warns: tokens and stored state
//! then die with the process. Generate real ones with `openssl rand -base64 48` (signing secret) and
//! `python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'` (Fernet key).
//!
//! At start-up the example prints the callback URL to add under *Redirects* in the WorkOS dashboard.
//! The MCP endpoint is `/mcp`, with the tools of `authkit_remote` (`whoami`, `save_note`, the admin-only
//! `admin_reset`).
//!
//! Try it against the local dev identity provider, whose example configuration already holds a
//! confidential client for the proxy (`mcp-proxy` / `dev-proxy-secret`, redirect URI
//! `http://127.0.0.1:8000/auth/callback`) and signs Ada in without pages:
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --config crates/dev-idp/users.example.toml &
//! MCP_AUTH_AUTHKIT_DOMAIN=http://127.0.0.1:9400 \
//! MCP_AUTH_WORKOS_CLIENT_ID=mcp-proxy MCP_AUTH_WORKOS_CLIENT_SECRET=dev-proxy-secret \
//!     just example workos_proxy
//! ```
//!
//! (`just example workos_proxy` is `cargo run -p mcp-auth-examples --example workos_proxy`.) Then point an
//! MCP client such as the MCP Inspector at `http://127.0.0.1:8000/mcp`: it registers with the proxy, your
//! browser shows the proxy's consent page, the dev IdP signs you in upstream, and `whoami` answers as Ada.
//!
//! `just example workos_proxy --self-check` needs nothing running: it starts the dev IdP (with a
//! confidential client for the proxy) and this server on free loopback ports, configured from
//! `MCP_AUTH_*` pairs as above (ephemeral keys, state in memory), and checks the 401 challenge, the
//! metadata naming the proxy as the authorization server, and a sign-in through the proxy (registration,
//! consent, upstream sign-in) followed by `whoami` with the rmcp client. One line per check; the exit
//! status is 0 only if all behaved.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, ensure};
use axum::Router;
use mcp_auth_core::settings::Settings;
use mcp_auth_core::store::KvStorage;
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::run::{self, Mode};
use mcp_auth_examples::server::{allowed_hosts, proxy_app};
use mcp_auth_examples::{client, dev_idp};
use mcp_auth_store_redis::RedisStore;
use mcp_auth_workos::WorkOSProvider;
use serde_json::Value;

/// The MCP server behind the WorkOS proxy, configured from `settings`, for a server listening on `listen`.
async fn app(settings: &Settings, listen: SocketAddr) -> anyhow::Result<(Router, WorkOSProvider)> {
    let base_url = settings.string("BASE_URL").unwrap_or_else(|| format!("http://{listen}"));
    let mut builder = WorkOSProvider::builder()
        .settings(settings)?
        .base_url(&base_url)
        .configure(|proxy| proxy.resource_name("mcp-auth WorkOS proxy example"));
    // No Redis URL: the proxy keeps its state in memory (one instance, lost on restart). The proxy
    // encrypts what it writes with its Fernet keys, so the store is given as it is.
    if settings.string("REDIS_URL").is_some() {
        let redis = RedisStore::from_settings(settings).connect().await.context("connecting to Redis")?;
        builder = builder.store(Arc::new(redis) as Arc<dyn KvStorage>);
    }
    let provider = builder.build().await.context("configuring the WorkOS proxy")?;
    let hosts = allowed_hosts(&url::Url::parse(&base_url)?, listen);
    Ok((proxy_app(&provider, hosts), provider))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args()?;
    run::init_tracing(mode);
    if mode == Mode::SelfCheck {
        return self_check().await;
    }
    let settings = Settings::from_env()?;
    let listen = run::listen_address(&settings)?;
    let (app, provider) = app(&settings, listen).await?;
    let proxy = provider.proxy();
    // TCP_NODELAY on every connection: without it each MCP response stalls ~40 ms on keep-alive clients.
    let listener =
        mcp_auth_core::serve::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("Register this redirect URI with your WorkOS client: {}", proxy.callback_url());
    println!("MCP endpoint: {}", proxy.resource());
    tracing::info!(
        mcp = %proxy.resource(),
        issuer = %proxy.issuer(),
        authkit = %provider.domain(),
        callback = %proxy.callback_url(),
        "MCP server behind the WorkOS OAuth proxy is listening"
    );
    // The peer address feeds the per-source registration ceiling.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async { drop(tokio::signal::ctrl_c().await) })
        .await?;
    Ok(())
}

async fn self_check() -> anyhow::Result<()> {
    let (listener, address, base_url) = run::loopback_listener().await?;
    let idp = dev_idp::start_as_proxy_upstream(&format!("{base_url}/auth/callback")).await?;
    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
        ("MCP_AUTH_WORKOS_CLIENT_ID", dev_idp::PROXY_CLIENT_ID),
        ("MCP_AUTH_WORKOS_CLIENT_SECRET", dev_idp::PROXY_CLIENT_SECRET),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
        ("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://localhost:*,http://127.0.0.1:*"),
    ]);
    let (app, provider) = app(&settings, address).await?;
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });
    let mcp_url = provider.proxy().resource().to_string();
    println!("workos_proxy self-check: dev IdP {}, MCP server {mcp_url}", idp.url());

    let mut checks = Checks::new();
    checks
        .run("no token: 401 with a challenge naming the metadata", async {
            let challenge = client::challenge(&mcp_url).await?;
            Ok(((), challenge))
        })
        .await;
    checks
        .run("the metadata names the proxy itself as the authorization server", async {
            let prm: Value = reqwest::get(provider.proxy().resource().metadata_url())
                .await?
                .error_for_status()?
                .json()
                .await?;
            let issuer = provider.proxy().issuer();
            ensure!(issuer.starts_with(&base_url), "the proxy's issuer {issuer} is not at {base_url}");
            ensure!(prm["authorization_servers"][0] == issuer, "unexpected metadata {prm}");
            Ok(((), format!("authorization_servers {}", prm["authorization_servers"])))
        })
        .await;
    checks
        .run("sign in through the proxy (register, consent, upstream sign-in) and call whoami", async {
            let (session, _) = client::sign_in(&mcp_url, "ada@example.com").await?;
            let user = client::whoami(&session).await?;
            session.cancel().await?;
            ensure!(user["user_id"] == "user_ada", "whoami answered {user}");
            Ok(((), user.to_string()))
        })
        .await;
    idp.shutdown().await;
    server.abort();
    checks.finish()
}
