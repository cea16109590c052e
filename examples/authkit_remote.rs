//! An rmcp streamable-HTTP MCP server protected by WorkOS AuthKit (remote auth).
//!
//! Configured only from the environment (or a `.env` file):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `MCP_AUTH_AUTHKIT_DOMAIN` | (required) | your AuthKit domain, e.g. `your-app.authkit.app`, or the dev IdP's URL |
//! | `MCP_AUTH_BASE_URL` | `http://<MCP_AUTH_LISTEN>` | this server's public URL |
//! | `MCP_AUTH_LISTEN` | `127.0.0.1:8000` | the address to listen on |
//! | `MCP_AUTH_REQUIRED_SCOPES` | none | scopes every token must carry |
//!
//! The MCP endpoint is `/mcp`, with two tools: `whoami` and the admin-only `admin_reset`. Try it against
//! the local dev identity provider:
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --port 9400 --auto-approve &
//! MCP_AUTH_AUTHKIT_DOMAIN=http://127.0.0.1:9400 cargo run -p mcp-auth-examples --example authkit_remote
//! ```

use std::net::SocketAddr;

use anyhow::Context;
use mcp_auth_core::settings::Settings;
use mcp_auth_examples::server::{allowed_hosts, authkit_app};
use mcp_auth_workos::AuthKitProvider;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let settings = Settings::from_env()?;
    let listen: SocketAddr = settings
        .parse("LISTEN", "127.0.0.1:8000")?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000)));
    let base_url = settings.string("BASE_URL").unwrap_or_else(|| format!("http://{listen}"));
    let provider = AuthKitProvider::builder()
        .settings(&settings)?
        .base_url(&base_url)
        .resource_name("mcp-auth AuthKit example")
        .build()
        .context("configuring AuthKit")?;
    let hosts = allowed_hosts(&url::Url::parse(&base_url)?, listen);
    let app = authkit_app(&provider, hosts);
    // TCP_NODELAY on every connection: without it each MCP response stalls ~40 ms on keep-alive clients.
    let listener =
        mcp_auth_core::serve::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(
        mcp = %provider.resource(),
        authkit = %provider.domain(),
        metadata = %provider.resource().metadata_url(),
        "MCP server protected by AuthKit is listening"
    );
    axum::serve(listener, app).with_graceful_shutdown(async { drop(tokio::signal::ctrl_c().await) }).await?;
    Ok(())
}
