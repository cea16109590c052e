//! `mcp-auth`: an OAuth gateway for any MCP server, and the tools to run it. See `mcp-auth --help`.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    mcp_auth_cli::main(mcp_auth_cli::Cli::parse())
}
