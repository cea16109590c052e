//! `mcp-auth-dev-idp`: run the development identity provider from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use mcp_auth_dev_idp::{DevIdp, DevIdpConfig, DevUser};

/// A local OAuth 2.1 / OpenID Connect server with WorkOS AuthKit's endpoints. FOR DEVELOPMENT ONLY:
/// it signs in configured users without real checks.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-auth-dev-idp",
    version,
    after_help = "Examples:\n  \
        mcp-auth-dev-idp --auto-approve\n  \
        mcp-auth-dev-idp --config crates/dev-idp/users.example.toml\n  \
        MCP_AUTH_DEV_IDP_PORT=9500 mcp-auth-dev-idp\n\n\
        Point AuthKitProvider (or MCP_AUTH_AUTHKIT_DOMAIN) at the printed issuer."
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_PORT", default_value_t = 9400, conflicts_with = "bind")]
    port: u16,
    /// Address to listen on, such as 127.0.0.1:9400 (instead of --port).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_BIND", value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// TOML file with [server], [[users]] and [[clients]] (see crates/dev-idp/users.example.toml).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sign in without pages (login_hint picks the user).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_AUTO_APPROVE")]
    auto_approve: bool,
    /// Allow a non-loopback --bind address (never on a shared network).
    #[arg(long)]
    insecure_allow_non_loopback: bool,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = DevIdp::builder().port(args.port);
    let mut has_users = false;
    if let Some(path) = &args.config {
        let config =
            DevIdpConfig::from_toml_file(path).with_context(|| format!("loading {}", path.display()))?;
        has_users = !config.users.is_empty();
        builder = builder.config(config);
        // An explicit --port (or its variable) wins over the file's [server] port.
        if std::env::args().any(|a| a == "--port" || a.starts_with("--port="))
            || std::env::var_os("MCP_AUTH_DEV_IDP_PORT").is_some()
        {
            builder = builder.port(args.port);
        }
    }
    if !has_users {
        builder = builder.user(
            DevUser::new("user_dev", "dev@example.com").name("Dev User").roles(["admin"]).org_id("org_dev"),
        );
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
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
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
    use clap::CommandFactory as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("mcp-auth-dev-idp").chain(args.iter().copied()))
    }

    #[test]
    fn parses_flags_and_refuses_nonsense() {
        let args = parse(&["--port", "9401", "--config=users.toml", "--auto-approve"]).unwrap();
        assert_eq!(args.port, 9401);
        assert_eq!(args.config.as_deref(), Some(std::path::Path::new("users.toml")));
        assert!(args.auto_approve);
        assert!(!args.insecure_allow_non_loopback);
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--bind", "not-an-address"],
            &["--frobnicate"],
            &["--port", "1", "--bind", "127.0.0.1:2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let err = parse(&["--bind", "localhost:abc"]).unwrap_err().to_string();
        assert!(err.contains("--bind"), "{err}");
    }

    #[test]
    fn help_is_consistent_and_has_examples() {
        Args::command().debug_assert();
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("FOR DEVELOPMENT ONLY") && help.contains("Examples:"), "{help}");
        assert!(help.contains("MCP_AUTH_DEV_IDP_PORT"), "{help}");
    }
}
