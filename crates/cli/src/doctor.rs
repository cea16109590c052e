//! `mcp-auth doctor`.

use std::process::ExitCode;

use crate::Global;

/// Arguments of `mcp-auth doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mcp-auth doctor`.
pub async fn run(_args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
