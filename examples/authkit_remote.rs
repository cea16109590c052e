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
//!
//! `just example authkit_remote --self-check` needs nothing running: it starts the dev IdP and this
//! server on free loopback ports and checks the 401 challenge, the metadata, and a signed-in `whoami`
//! with the rmcp client. One line per check; the exit status is 0 only if all behaved.

use std::net::SocketAddr;

use anyhow::ensure;
use axum::Router;
use mcp_auth_core::settings::Settings;
use mcp_auth_dev_idp::{DevIdp, DevUser};
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client;
use mcp_auth_examples::run::{self, Mode};
use mcp_auth_examples::server::{allowed_hosts, authkit_app, authkit_provider};
use mcp_auth_workos::AuthKitProvider;
use serde_json::Value;

/// The `whoami` server behind AuthKit, configured from `settings`, for a server listening on `listen`.
fn app(settings: &Settings, listen: SocketAddr) -> anyhow::Result<(Router, AuthKitProvider)> {
    let provider = authkit_provider(settings, listen, "mcp-auth AuthKit example")?;
    let hosts = allowed_hosts(&url::Url::parse(provider.resource().origin())?, listen);
    Ok((authkit_app(&provider, hosts), provider))
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
    let (app, provider) = app(&settings, listen)?;
    tracing::info!(
        mcp = %provider.resource(),
        authkit = %provider.domain(),
        metadata = %provider.resource().metadata_url(),
        "MCP server protected by AuthKit is listening"
    );
    run::serve(listen, app).await
}

async fn self_check() -> anyhow::Result<()> {
    let idp = DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").name("Ada Lovelace").roles(["member"]))
        .auto_approve(true)
        .start()
        .await?;
    let (listener, address, base_url) = run::loopback_listener().await?;
    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
    ]);
    let (app, provider) = app(&settings, address)?;
    let server = run::spawn(listener, app);
    let mcp_url = provider.resource().to_string();
    println!("authkit_remote self-check: dev IdP {}, MCP server {mcp_url}", idp.url());

    let mut checks = Checks::new();
    checks
        .run("no token: 401 with a challenge naming the metadata", async {
            let challenge = client::challenge(&mcp_url).await?;
            Ok(((), challenge))
        })
        .await;
    checks
        .run("the metadata names the AuthKit domain, which publishes its own", async {
            let prm: Value =
                reqwest::get(provider.resource().metadata_url()).await?.error_for_status()?.json().await?;
            ensure!(prm["resource"] == mcp_url.as_str(), "resource {} is not {mcp_url}", prm["resource"]);
            ensure!(prm["authorization_servers"][0] == idp.url(), "unexpected metadata {prm}");
            let asm: Value = reqwest::get(format!("{}/.well-known/oauth-authorization-server", idp.url()))
                .await?
                .error_for_status()?
                .json()
                .await?;
            ensure!(asm["issuer"] == idp.url(), "the issuer {} is not {}", asm["issuer"], idp.url());
            Ok(((), format!("{} -> {}", prm["resource"], asm["issuer"])))
        })
        .await;
    checks
        .run("sign in as ada with the rmcp client and call whoami", async {
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
