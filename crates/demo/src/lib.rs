//! The mcp-auth demo, and the pieces the examples and end-to-end tests share with it.
//!
//! The demo runs on loopback with no account and no network: the development identity provider
//! ([`mcp_auth_dev_idp`]) stands in for WorkOS AuthKit, an rmcp MCP server whose tools read the verified
//! caller ([`server::WhoAmIServer`]) sits behind mcp-auth, and the rmcp client SDK signs in and calls
//! tools ([`client`]), each step printed with its result ([`checks`]). It comes in two modes ([`Mode`]):
//!
//! | mode | the MCP server is protected by | run it with |
//! |---|---|---|
//! | [`remote`] | `AuthKitProvider`: clients sign in at AuthKit (here the dev IdP) directly | `mcp-auth demo`, or `cargo run -p mcp-auth-examples --example demo` |
//! | [`proxy`] | `WorkOSProvider`: the OAuth proxy, with the dev IdP as its upstream | `mcp-auth demo --mode proxy`, or `... --example demo -- --mode proxy` |
//!
//! A run exits with an error unless every step behaved; with [`DemoOptions::serve`] the identity
//! provider (port [`IDP_PORT`]) and the MCP server (port [`SERVER_PORT`]) keep running for the MCP
//! Inspector instead.
//!
//! The shared pieces: the MCP server and the axum apps that put it (or any rmcp server) behind auth
//! ([`server`]), the MCP client that runs the whole OAuth flow ([`client`]), the step runner
//! ([`checks`]) and the dev IdP set-ups ([`dev_idp`]).
//!
//! # Security
//!
//! The dev IdP signs people in with plain-text passwords: the demo is for a developer's machine only.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! mcp_auth_demo::run(mcp_auth_demo::Mode::Proxy, mcp_auth_demo::DemoOptions::default()).await?;
//! # Ok(()) }
//! ```

pub mod checks;
pub mod client;
pub mod dev_idp;
pub mod proxy;
pub mod remote;
pub mod server;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::Context as _;
use mcp_auth_core::serve::NoDelayListener;

/// The dev IdP's port when the demo serves ([`DemoOptions::serve`]).
pub const IDP_PORT: u16 = 9400;
/// The MCP server's port when the demo serves.
pub const SERVER_PORT: u16 = 8000;

/// Which demo runs: how the MCP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Behind `AuthKitProvider` ([`remote`]).
    #[default]
    Remote,
    /// Behind the WorkOS OAuth proxy ([`proxy`]).
    Proxy,
}

impl Mode {
    /// Every mode, in the order help texts list them.
    pub const ALL: [Self; 2] = [Self::Remote, Self::Proxy];

    /// The mode's name on command lines: `remote` or `proxy`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remote => "remote",
            Self::Proxy => "proxy",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A demo mode name that is neither `remote` nor `proxy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown demo mode {0:?}: expected remote or proxy")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == name).ok_or_else(|| UnknownMode(name.to_owned()))
    }
}

/// How the demo runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoOptions {
    /// Keep the dev IdP (port [`IDP_PORT`]) and the MCP server (port [`SERVER_PORT`]) running until
    /// Ctrl-C, with sign-in pages, and print how to connect the MCP Inspector; otherwise run every step
    /// headless on free ports and stop.
    pub serve: bool,
}

/// Runs the demo in `mode`.
///
/// # Errors
///
/// A step that misbehaved (each is printed with its result), or a server that cannot start.
pub async fn run(mode: Mode, options: DemoOptions) -> anyhow::Result<()> {
    match mode {
        Mode::Remote => remote::run(options).await,
        Mode::Proxy => proxy::run(options).await,
    }
}

/// The loopback listener of the demo's MCP server: on [`SERVER_PORT`] when serving, else on a free port
/// (with `TCP_NODELAY` on each connection). Returns the listener, its address and its base URL.
async fn listen(options: DemoOptions) -> anyhow::Result<(NoDelayListener, SocketAddr, String)> {
    let listen = SocketAddr::from(([127, 0, 0, 1], if options.serve { SERVER_PORT } else { 0 }));
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    Ok((mcp_auth_core::serve::no_delay(listener), address, format!("http://{address}")))
}

/// Prints how to connect the MCP Inspector to `mcp_url`, then serves until Ctrl-C.
async fn serve_until_ctrl_c(mcp_url: &str, sign_in: &str) -> anyhow::Result<()> {
    println!("Both keep running until Ctrl-C. Connect the MCP Inspector:");
    println!("  npx @modelcontextprotocol/inspector");
    println!(
        "  transport: Streamable HTTP, URL: {mcp_url}, then \"Open Auth Settings\" -> \"Quick OAuth Flow\""
    );
    println!("  {sign_in}");
    println!("  sign in as ada@example.com / ada (member) or grace@example.com / grace (admin)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Refreshes the access token of `auth` and calls `whoami` with the new one, which must still be Ada.
async fn refresh(
    session: &client::McpSession,
    auth: &rmcp::transport::auth::AuthClient<reqwest::Client>,
) -> anyhow::Result<((), String)> {
    let before = auth.get_access_token().await?;
    auth.auth_manager.lock().await.refresh_token().await?;
    let after = auth.get_access_token().await?;
    anyhow::ensure!(before != after, "the refresh returned the same token");
    let user = client::whoami(session).await?;
    anyhow::ensure!(user["user_id"] == "user_ada", "whoami answered {user} after the refresh");
    Ok(((), "new access token accepted".to_owned()))
}
