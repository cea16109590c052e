//! `mcp-auth token`.

use std::process::ExitCode;

use crate::Global;

/// Arguments of `mcp-auth token`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mcp-auth token`.
pub async fn run(_args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
