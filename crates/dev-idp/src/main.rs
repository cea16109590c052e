//! `mcp-auth-dev-idp`: run the development identity provider from the command line.
//!
//! ```text
//! mcp-auth-dev-idp [--port 9400] [--bind 127.0.0.1:9400] [--config users.toml] [--auto-approve]
//!                  [--insecure-allow-non-loopback]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcp_auth_dev_idp::{DevIdp, DevIdpConfig, DevUser};

const USAGE: &str = "\
mcp-auth-dev-idp: a local OAuth 2.1 / OpenID Connect server with WorkOS AuthKit's endpoints.
FOR DEVELOPMENT ONLY.

USAGE:
    mcp-auth-dev-idp [OPTIONS]

OPTIONS:
    --port <PORT>                   Port on 127.0.0.1 (default 9400; 0 picks a free one)
    --bind <ADDR>                   Address to listen on, such as 127.0.0.1:9400
    --config <FILE>                 TOML file with [server], [[users]] and [[clients]]
                                    (see crates/dev-idp/users.example.toml)
    --auto-approve                  Sign in without pages (login_hint picks the user)
    --insecure-allow-non-loopback   Allow a non-loopback --bind address (never on a shared network)
    -h, --help                      Show this help
";

#[derive(Debug, Default)]
struct Args {
    port: Option<u16>,
    bind: Option<SocketAddr>,
    config: Option<String>,
    auto_approve: bool,
    insecure_allow_non_loopback: bool,
    help: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> anyhow::Result<String> {
            inline.clone().or_else(|| args.next()).with_context(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "--port" => {
                parsed.port = Some(value("a port number")?.parse().context("--port needs a port number")?);
            }
            "--bind" => {
                let addr = value("an address")?;
                parsed.bind = Some(addr.parse().context("--bind needs an address like 127.0.0.1:9400")?);
            }
            "--config" => parsed.config = Some(value("a file path")?),
            "--auto-approve" => parsed.auto_approve = true,
            "--insecure-allow-non-loopback" => parsed.insecure_allow_non_loopback = true,
            "-h" | "--help" => parsed.help = true,
            other => bail!("unknown argument {other:?}; see --help"),
        }
    }
    Ok(parsed)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = DevIdp::builder().port(9400);
    let mut has_users = false;
    if let Some(path) = &args.config {
        let config = DevIdpConfig::from_toml_file(path).with_context(|| format!("loading {path}"))?;
        has_users = !config.users.is_empty();
        builder = builder.config(config);
    }
    if !has_users {
        builder = builder.user(
            DevUser::new("user_dev", "dev@example.com").name("Dev User").roles(["admin"]).org_id("org_dev"),
        );
    }
    if let Some(port) = args.port {
        builder = builder.port(port);
    }
    if let Some(bind) = args.bind {
        builder = builder.bind(bind);
    }
    if args.auto_approve {
        builder = builder.auto_approve(true);
    }
    builder = builder.insecure_allow_non_loopback(args.insecure_allow_non_loopback);
    let handle = builder.start().await?;
    println!("mcp-auth dev IdP: FOR DEVELOPMENT ONLY; never use it to protect real data.");
    println!("issuer:   {}", handle.url());
    println!("metadata: {}/.well-known/oauth-authorization-server", handle.url());
    println!("jwks:     {}", handle.jwks_url());
    println!("users:");
    for user in handle.idp().users() {
        println!(
            "  {:<16} {:<24} roles: [{}] org: {}",
            user.id,
            user.email,
            user.roles.join(", "),
            user.org_id.as_deref().unwrap_or("-")
        );
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("shutting down");
    handle.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Args> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        let args = parse(&["--port", "9401", "--config=users.toml", "--auto-approve"]).unwrap();
        assert_eq!(args.port, Some(9401));
        assert_eq!(args.config.as_deref(), Some("users.toml"));
        assert!(args.auto_approve);
        assert!(!args.insecure_allow_non_loopback);
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["--bind", "not-an-address"]).is_err());
        assert!(parse(&["--frobnicate"]).is_err());
        assert!(parse(&["-h"]).unwrap().help);
    }
}
