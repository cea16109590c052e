//! The command line of the development identity provider: its grammar ([`Args`]) and what it runs
//! ([`run`]), shared by the `mcp-auth-dev-idp` binary and `mcp-auth dev-idp`. Behind the `cli` feature.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

use crate::{DevIdp, DevIdpConfig, DevUser};

/// The port the dev IdP listens on when neither `--port`, `--bind` nor a configuration file names one.
pub const DEFAULT_PORT: u16 = 9400;

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
        Point AuthKitProvider (or MCP_AUTH_AUTHKIT_DOMAIN) at the printed issuer. `mcp-auth dev-idp` takes\n\
        the same options."
)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one) [default: 9400, or the configuration file's port].
    #[arg(long, env = "MCP_AUTH_DEV_IDP_PORT", conflicts_with = "bind")]
    pub port: Option<u16>,
    /// Address to listen on, such as 127.0.0.1:9400 (instead of --port).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// TOML file with `[server]`, `[[users]]` and `[[clients]]` (see crates/dev-idp/users.example.toml).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sign in without pages (login_hint picks the user).
    #[arg(long, env = "MCP_AUTH_DEV_IDP_AUTO_APPROVE")]
    pub auto_approve: bool,
    /// Allow a non-loopback --bind address (never on a shared network).
    #[arg(long)]
    pub insecure_allow_non_loopback: bool,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Does nothing when the process already has a
/// global subscriber.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

/// Starts the dev IdP as `args` say, prints its issuer, metadata and JWKS URLs and its users on stdout,
/// and serves until Ctrl-C. Without a configuration file that has users, it signs in one user,
/// `dev@example.com` (an admin).
///
/// # Errors
///
/// A configuration file that cannot be read, a dev IdP that cannot start (the port is taken, a
/// non-loopback address without `--insecure-allow-non-loopback`...), or a failure waiting for Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = DevIdp::builder().port(DEFAULT_PORT);
    let mut has_users = false;
    if let Some(path) = &args.config {
        let config =
            DevIdpConfig::from_toml_file(path).with_context(|| format!("loading {}", path.display()))?;
        has_users = !config.users.is_empty();
        builder = builder.config(config);
    }
    // An explicit --port (or its variable) wins over the file's [server] port.
    if let Some(port) = args.port {
        builder = builder.port(port);
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
        assert_eq!(args.port, Some(9401));
        assert_eq!(args.config.as_deref(), Some(std::path::Path::new("users.toml")));
        assert!(args.auto_approve);
        assert!(!args.insecure_allow_non_loopback);
        if std::env::var_os("MCP_AUTH_DEV_IDP_PORT").is_none() {
            assert_eq!(parse(&[]).unwrap().port, None, "no --port: the file's or the default port");
        }
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
