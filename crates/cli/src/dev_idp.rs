//! `mcp-auth dev-idp`: the development identity provider, as the `mcp-auth-dev-idp` binary runs it
//! ([`mcp_auth_dev_idp::cli`]). FOR DEVELOPMENT ONLY.

use std::process::ExitCode;

use crate::Global;

/// The options of `mcp-auth dev-idp`: those of the `mcp-auth-dev-idp` binary.
pub use mcp_auth_dev_idp::cli::Args;

/// Starts the dev IdP, prints its issuer, metadata and users, and serves until Ctrl-C.
///
/// # Errors
///
/// A configuration file that cannot be read, or a dev IdP that cannot start.
pub async fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    mcp_auth_dev_idp::cli::init_tracing();
    mcp_auth_dev_idp::cli::run(args).await?;
    Ok(ExitCode::SUCCESS)
}
