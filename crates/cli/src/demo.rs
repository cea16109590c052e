//! `mcp-auth demo`: the demo of the `mcp-auth-demo` crate (the dev IdP posing as WorkOS AuthKit, an MCP
//! server protected by mcp-auth, and the rmcp client signing in and calling tools), as
//! `cargo run -p mcp-auth-examples --example demo` runs it.

use std::process::ExitCode;

use mcp_auth_demo::DemoOptions;

use crate::Global;

/// Run the demo: the dev identity provider posing as WorkOS AuthKit, an MCP server protected by mcp-auth,
/// and the rmcp client SDK signing in and calling tools, all on loopback, with no account and no network.
/// Each step is printed with its result; the exit status is 0 only if every step behaved.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
    mcp-auth demo                  sign in and call tools at a server behind AuthKitProvider\n  \
    mcp-auth demo --mode proxy     the same through the WorkOS OAuth proxy, the dev IdP upstream\n  \
    mcp-auth demo --serve          keep the dev IdP (port 9400) and the MCP server (port 8000) running\n                                 for the MCP Inspector\n\n\
    FOR DEVELOPMENT ONLY: the dev IdP signs people in with plain-text passwords.")]
pub struct Args {
    /// How the MCP server is protected.
    #[arg(long, value_enum, default_value_t = Mode::Remote)]
    pub mode: Mode,
    /// Keep the dev IdP (port 9400) and the MCP server (port 8000) running until Ctrl-C, and print how to
    /// connect the MCP Inspector, instead of running the steps.
    #[arg(long)]
    pub serve: bool,
}

/// The demo's modes, as `--mode` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Behind AuthKitProvider: the client signs in at the identity provider itself.
    Remote,
    /// Behind the WorkOS OAuth proxy: the client signs in at the proxy, which signs in upstream.
    Proxy,
}

impl From<Mode> for mcp_auth_demo::Mode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Remote => Self::Remote,
            Mode::Proxy => Self::Proxy,
        }
    }
}

/// Runs the demo.
///
/// # Errors
///
/// A step that misbehaved (each is printed), or a server that cannot start.
pub async fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    mcp_auth_demo::run(args.mode.into(), DemoOptions { serve: args.serve }).await?;
    Ok(ExitCode::SUCCESS)
}
