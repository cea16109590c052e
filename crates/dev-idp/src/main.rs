//! `mcp-auth-dev-idp`: run the development identity provider from the command line
//! (`mcp_auth_dev_idp::cli`; `mcp-auth dev-idp` runs the same).

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let args = mcp_auth_dev_idp::cli::Args::parse();
    mcp_auth_dev_idp::cli::init_tracing();
    match mcp_auth_dev_idp::cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
