//! What every example's `main` does the same way: its log, its command line (serve, or `--self-check`),
//! its listen address, and serving an app until Ctrl-C.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use axum::Router;
use mcp_auth_core::serve::NoDelayListener;
use mcp_auth_core::settings::Settings;

/// Logs to stderr, filtered by `RUST_LOG`, else by the mode's default: `info` when serving; `warn`
/// without rmcp's client log during a self-check, whose refusals are expected and printed as checks.
pub fn init_tracing(mode: Mode) {
    let default_filter = match mode {
        Mode::Serve => "info",
        Mode::SelfCheck => "warn,rmcp=off",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .init();
}

/// What an example was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve on the configured address until Ctrl-C.
    Serve,
    /// Start everything on free loopback ports, run the checks, print one line per check, and exit
    /// non-zero unless every check behaved.
    SelfCheck,
}

impl Mode {
    /// Reads the command line: no argument means [`Mode::Serve`], `--self-check` means
    /// [`Mode::SelfCheck`].
    ///
    /// # Errors
    ///
    /// Any other argument, named, with the usage.
    pub fn from_args() -> anyhow::Result<Self> {
        Self::parse(std::env::args().skip(1))
    }

    fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let mut mode = Self::Serve;
        for arg in args {
            match arg.as_str() {
                "--self-check" => mode = Self::SelfCheck,
                other => bail!("unknown argument {other:?}; usage: [--self-check]"),
            }
        }
        Ok(mode)
    }
}

/// The address to serve on: `MCP_AUTH_LISTEN`, default `127.0.0.1:8000`.
///
/// # Errors
///
/// A malformed `MCP_AUTH_LISTEN`, named.
pub fn listen_address(settings: &Settings) -> anyhow::Result<SocketAddr> {
    Ok(settings
        .parse("LISTEN", "127.0.0.1:8000")?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000))))
}

/// A listener on a free loopback port (with `TCP_NODELAY`), its address and its `http://` base URL.
///
/// # Errors
///
/// When no loopback port can be bound.
pub async fn loopback_listener() -> anyhow::Result<(NoDelayListener, SocketAddr, String)> {
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding a loopback port")?;
    let address = listener.local_addr()?;
    Ok((mcp_auth_core::serve::no_delay(listener), address, format!("http://{address}")))
}

/// Serves `app` on `listen` (with `TCP_NODELAY`) until Ctrl-C.
///
/// # Errors
///
/// When `listen` cannot be bound or the server fails.
pub async fn serve(listen: SocketAddr, app: Router) -> anyhow::Result<()> {
    // TCP_NODELAY on every connection: without it each MCP response stalls ~40 ms on keep-alive clients.
    let listener =
        mcp_auth_core::serve::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    axum::serve(listener, app).with_graceful_shutdown(async { drop(tokio::signal::ctrl_c().await) }).await?;
    Ok(())
}

/// Serves `app` on `listener` in the background (for self-checks); abort the handle to stop it.
#[must_use]
pub fn spawn(listener: NoDelayListener, app: Router) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move { axum::serve(listener, app).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_the_mode_and_names_an_unknown_argument() {
        assert_eq!(Mode::parse(args(&[])).unwrap(), Mode::Serve);
        assert_eq!(Mode::parse(args(&["--self-check"])).unwrap(), Mode::SelfCheck);
        let err = Mode::parse(args(&["--selfcheck"])).unwrap_err().to_string();
        assert!(err.contains("\"--selfcheck\"") && err.contains("usage"), "{err}");
    }

    #[test]
    fn listen_address_defaults_and_names_a_bad_value() {
        let default = listen_address(&Settings::from_pairs(Vec::<(String, String)>::new())).unwrap();
        assert_eq!(default, SocketAddr::from(([127, 0, 0, 1], 8000)));
        let err = listen_address(&Settings::from_pairs([("MCP_AUTH_LISTEN", "nope")])).unwrap_err();
        assert!(format!("{err:#}").contains("MCP_AUTH_LISTEN"), "{err:#}");
    }
}
