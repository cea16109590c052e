//! The `mcp-auth` command line: [`Cli`] is its grammar and [`main`] runs it.
//!
//! | command | what it does |
//! |---|---|
//! | `mcp-auth gateway` | protects an MCP server over HTTP or stdio with any provider the facade builds ([`gateway`]) |
//! | `mcp-auth keygen jwt\|fernet` | prints a new key in the format the configuration expects ([`keygen`]) |
//! | `mcp-auth doctor` | checks the configuration the way the server reads it, one line per check ([`doctor`]) |
//! | `mcp-auth token decode\|verify` | shows a token's header and claims, and why a verifier would refuse it ([`token`]) |

#![warn(missing_docs)]

pub mod doctor;
pub mod gateway;
pub mod keygen;
pub mod output;
pub mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Print only errors (and what the command exists to print, such as a key).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t = clap::ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: clap::ColorChoice,
}

/// OAuth 2.1 for MCP servers: a gateway that puts WorkOS AuthKit (or any JWT issuer) in front of an MCP
/// server you did not write, and the tools to run it.
#[derive(Debug, Parser)]
#[command(name = "mcp-auth", version, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Protect an MCP server (streamable HTTP or stdio) with OAuth.
    Gateway(gateway::Args),
    /// Print a new key for the configuration.
    Keygen(keygen::Args),
    /// Check the configuration, the authorization server, the store and the keys.
    Doctor(doctor::Args),
    /// Decode a token, or verify it with the configured verifier.
    Token(token::Args),
}

/// Runs the command line and returns the process's exit status.
pub fn main(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let global = cli.global;
    let command = cli.command;
    let result = runtime.block_on(async {
        match command {
            Command::Gateway(args) => gateway::run(args, &global).await,
            Command::Keygen(args) => keygen::run(args, &global).await,
            Command::Doctor(args) => doctor::run(args, &global).await,
            Command::Token(args) => token::run(args, &global).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            output::error(&global, &format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}
