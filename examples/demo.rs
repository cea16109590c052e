//! The one-command demo: the dev identity provider posing as WorkOS AuthKit, an rmcp MCP server protected
//! by mcp-auth, and the rmcp client SDK signing in and calling tools, all on loopback, with no account and
//! no network. The demo itself lives in the `mcp-auth-demo` crate; `mcp-auth demo` runs the same code.
//!
//! `cargo run -p mcp-auth-examples --example demo` runs every step (sign-in, tool calls, a role refusal, a
//! per-tool scope challenge and the step-up that answers it, a refresh), prints each with its result and
//! timing, and exits 0 only if all of them behaved (`-- --self-check` does the same). `-- --mode proxy`
//! runs the demo with the MCP server behind the WorkOS OAuth proxy instead, the dev IdP as its upstream.
//! `-- --serve` keeps the identity provider (port 9400) and the MCP server (port 8000) running and prints
//! how to connect the MCP Inspector.

use anyhow::{Context, bail};
use mcp_auth_demo::{DemoOptions, Mode};

const USAGE: &str = "usage: [--serve | --self-check] [--mode remote|proxy]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = DemoOptions::default();
    let mut mode = Mode::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--serve" => options.serve = true,
            // The default: the test suite runs every example with --self-check.
            "--self-check" => {}
            "--mode" => {
                let name = args.next().with_context(|| format!("--mode needs a value; {USAGE}"))?;
                mode = name.parse()?;
            }
            other => match other.strip_prefix("--mode=") {
                Some(name) => mode = name.parse()?,
                None => bail!("unknown argument {other:?}; {USAGE}"),
            },
        }
    }
    let default_filter = if options.serve { "info" } else { "warn,rmcp=off" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    mcp_auth_demo::run(mode, options).await
}
