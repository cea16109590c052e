//! The gateway's command line and its settings: each flag has an `MCP_AUTH_GATEWAY_*` variable (or a
//! `[gateway]` key in `mcp-auth.toml`), and the flag wins.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use mcp_auth_core::settings::{ENV_PREFIX, Settings};
use url::Url;

use super::identity::IdentityHeaders;
use super::policy::ToolPolicy;

/// The default limit on a request body.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The default upstream timeout.
pub(crate) const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// Arguments of `mcp-auth gateway`.
#[derive(Debug, Default, clap::Args)]
#[command(after_help = "Examples:\n  \
    # WorkOS AuthKit in front of a Python or TypeScript MCP server on port 3000\n  \
    MCP_AUTH_PROVIDER=authkit MCP_AUTH_AUTHKIT_DOMAIN=your-app.authkit.app \\\n    \
    MCP_AUTH_BASE_URL=https://mcp.example.com mcp-auth gateway --upstream http://127.0.0.1:3000/mcp\n\n  \
    # a stdio server, started and supervised by the gateway, over HTTP with sign-in\n  \
    mcp-auth gateway --upstream-command \"npx -y @modelcontextprotocol/server-everything stdio\"\n\n  \
    # the verified user in headers, a per-tool policy, Prometheus metrics on another port\n  \
    mcp-auth gateway --upstream http://127.0.0.1:3000/mcp --identity-header user=X-User-Id \\\n    \
    --policy policy.toml --metrics-listen 127.0.0.1:9090\n\n\
    The provider and store come from MCP_AUTH_* variables, .env and mcp-auth.toml, as for\n\
    mcp_auth::from_env() (see docs/configuration.md); --set NAME=VALUE overrides one. See docs/gateway.md.")]
pub struct Args {
    /// The upstream MCP server's streamable-HTTP endpoint [env: MCP_AUTH_GATEWAY_UPSTREAM].
    #[arg(long, value_name = "URL", conflicts_with = "upstream_command")]
    pub upstream: Option<String>,
    /// A stdio MCP server to start and supervise, run by `sh -c` [env: MCP_AUTH_GATEWAY_UPSTREAM_COMMAND].
    #[arg(long, value_name = "COMMAND")]
    pub upstream_command: Option<String>,
    /// The address to listen on [env: MCP_AUTH_LISTEN; default 127.0.0.1:8000].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Forward a part of the verified identity upstream in a header, as FIELD=Header-Name; repeatable.
    /// Fields: user, email, name, org, roles, permissions, scopes, client. The header is always removed
    /// from what the client sent [env: MCP_AUTH_GATEWAY_IDENTITY_HEADERS, comma-separated].
    #[arg(long = "identity-header", value_name = "FIELD=HEADER")]
    pub identity_headers: Vec<String>,
    /// A TOML file of per-tool scopes and roles [env: MCP_AUTH_GATEWAY_POLICY].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The largest request body accepted, in bytes [env: MCP_AUTH_GATEWAY_MAX_BODY_BYTES; default 4 MiB].
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds to wait for the upstream's answer (HTTP: its response headers) [env:
    /// MCP_AUTH_GATEWAY_UPSTREAM_TIMEOUT; default 60].
    #[arg(long, value_name = "SECONDS")]
    pub upstream_timeout: Option<u64>,
    /// Serve Prometheus metrics at /metrics on this address [env: MCP_AUTH_GATEWAY_METRICS_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// The provider (authkit, workos, jwt), instead of MCP_AUTH_PROVIDER.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// The gateway's public URL, instead of MCP_AUTH_BASE_URL.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Set any MCP_AUTH_* setting (wins over the environment, .env and the TOML file); repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The TOML configuration file, instead of MCP_AUTH_CONFIG or ./mcp-auth.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Where the MCP server is.
#[derive(Debug, Clone)]
pub enum UpstreamSpec {
    /// A streamable-HTTP endpoint.
    Http(Url),
    /// A command that starts a stdio server.
    Command(String),
}

impl UpstreamSpec {
    /// For messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Http(url) => url.to_string(),
            Self::Command(command) => command.clone(),
        }
    }
}

/// The gateway's settings, resolved.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The upstream.
    pub upstream: UpstreamSpec,
    /// `--listen`, if given (else the facade's `MCP_AUTH_LISTEN`).
    pub listen: Option<SocketAddr>,
    /// Identity headers.
    pub identity: IdentityHeaders,
    /// Per-tool policy (empty when none).
    pub policy: ToolPolicy,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Upstream timeout.
    pub upstream_timeout: Duration,
    /// The Prometheus page's address.
    pub metrics_listen: Option<SocketAddr>,
}

impl Args {
    /// The settings: the process environment, `.env` and the TOML file, with the flags on top.
    ///
    /// # Errors
    ///
    /// A malformed `--set`, a non-UTF-8 `MCP_AUTH_*` variable, or an unreadable `.env` or TOML file.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut environment = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|name| name.starts_with(ENV_PREFIX)) else { continue };
            let value = value.into_string().map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8"))?;
            environment.push((name.to_owned(), value));
        }
        let mut overrides = Vec::new();
        if let Some(path) = &self.config {
            overrides.push((format!("{ENV_PREFIX}CONFIG"), path.display().to_string()));
        }
        if let Some(provider) = &self.provider {
            overrides.push((format!("{ENV_PREFIX}PROVIDER"), provider.clone()));
        }
        if let Some(base_url) = &self.base_url {
            overrides.push((format!("{ENV_PREFIX}BASE_URL"), base_url.clone()));
        }
        for pair in &self.set {
            let (name, value) = pair.split_once('=').with_context(|| {
                format!("--set {pair}: expected NAME=VALUE, e.g. --set MCP_AUTH_STORE=redis")
            })?;
            let name = name.trim();
            let name =
                if name.starts_with(ENV_PREFIX) { name.to_owned() } else { format!("{ENV_PREFIX}{name}") };
            overrides.push((name, value.to_owned()));
        }
        environment.retain(|(name, _)| !overrides.iter().any(|(set, _)| set == name));
        environment.extend(overrides);
        Ok(Settings::from_env_in(Path::new("."), environment)?)
    }
}

impl GatewayConfig {
    /// Resolves the flags over `settings`.
    ///
    /// # Errors
    ///
    /// A missing upstream, or a malformed value, naming the flag and its variable.
    pub fn from_args(args: &Args, settings: &Settings) -> anyhow::Result<Self> {
        let upstream = match (&args.upstream, &args.upstream_command) {
            (Some(url), _) => UpstreamSpec::Http(upstream_url(url, "--upstream")?),
            (None, Some(command)) => UpstreamSpec::Command(command_of(command, "--upstream-command")?),
            (None, None) => {
                match (settings.string("GATEWAY_UPSTREAM"), settings.string("GATEWAY_UPSTREAM_COMMAND")) {
                    (Some(_), Some(_)) => anyhow::bail!(
                        "{} and {} are both set: the gateway fronts one upstream",
                        settings.describe("GATEWAY_UPSTREAM"),
                        settings.describe("GATEWAY_UPSTREAM_COMMAND")
                    ),
                    (Some(url), None) => {
                        UpstreamSpec::Http(upstream_url(&url, &settings.describe("GATEWAY_UPSTREAM"))?)
                    }
                    (None, Some(command)) => UpstreamSpec::Command(command_of(
                        &command,
                        &settings.describe("GATEWAY_UPSTREAM_COMMAND"),
                    )?),
                    (None, None) => anyhow::bail!(
                        "no upstream: give --upstream http://127.0.0.1:3000/mcp (MCP_AUTH_GATEWAY_UPSTREAM) or \
                     --upstream-command \"npx -y some-mcp-server\" (MCP_AUTH_GATEWAY_UPSTREAM_COMMAND)"
                    ),
                }
            }
        };
        let mut identity = IdentityHeaders::default();
        if args.identity_headers.is_empty() {
            if let Some(list) = settings.string("GATEWAY_IDENTITY_HEADERS") {
                identity = list.parse().map_err(|reason: String| {
                    settings.invalid("GATEWAY_IDENTITY_HEADERS", reason, "user=X-User-Id,email=X-User-Email")
                })?;
            }
        } else {
            for pair in &args.identity_headers {
                identity
                    .push(pair)
                    .map_err(|reason| anyhow::anyhow!("--identity-header {pair}: {reason}"))?;
            }
        }
        let policy =
            match args.policy.clone().or_else(|| settings.string("GATEWAY_POLICY").map(PathBuf::from)) {
                Some(path) => {
                    ToolPolicy::from_file(&path).map_err(|reason| anyhow::anyhow!("policy: {reason}"))?
                }
                None => ToolPolicy::default(),
            };
        let max_body_bytes = match args.max_body_bytes {
            Some(bytes) => bytes,
            None => settings
                .parse::<usize>("GATEWAY_MAX_BODY_BYTES", "4194304")?
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
        };
        anyhow::ensure!(max_body_bytes >= 1024, "--max-body-bytes must be at least 1024");
        let upstream_timeout = match args.upstream_timeout {
            Some(seconds) => Duration::from_secs(seconds),
            None => settings.seconds("GATEWAY_UPSTREAM_TIMEOUT", "60")?.unwrap_or(DEFAULT_UPSTREAM_TIMEOUT),
        };
        anyhow::ensure!(!upstream_timeout.is_zero(), "--upstream-timeout must be at least 1 second");
        let metrics_listen = match args.metrics_listen {
            Some(address) => Some(address),
            None => settings.parse::<SocketAddr>("GATEWAY_METRICS_LISTEN", "127.0.0.1:9090")?,
        };
        Ok(Self {
            upstream,
            listen: args.listen,
            identity,
            policy,
            max_body_bytes,
            upstream_timeout,
            metrics_listen,
        })
    }
}

fn upstream_url(text: &str, named: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text.trim()).map_err(|error| {
        anyhow::anyhow!("{named}: not a URL ({error}); example: http://127.0.0.1:3000/mcp")
    })?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host().is_some(),
        "{named}: expected an http or https URL, such as http://127.0.0.1:3000/mcp"
    );
    anyhow::ensure!(
        url.username().is_empty() && url.password().is_none() && url.fragment().is_none(),
        "{named}: the URL must not carry credentials or a fragment"
    );
    Ok(url)
}

fn command_of(text: &str, named: &str) -> anyhow::Result<String> {
    let command = text.trim();
    anyhow::ensure!(!command.is_empty(), "{named}: the command is empty");
    anyhow::ensure!(!command.contains('\0'), "{named}: the command holds a NUL byte");
    Ok(command.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn flags_win_over_settings_and_errors_name_them() {
        let from_settings = settings(&[
            ("MCP_AUTH_GATEWAY_UPSTREAM", "http://127.0.0.1:3000/mcp"),
            ("MCP_AUTH_GATEWAY_IDENTITY_HEADERS", "user=X-User"),
            ("MCP_AUTH_GATEWAY_UPSTREAM_TIMEOUT", "5"),
        ]);
        let config = GatewayConfig::from_args(&Args::default(), &from_settings).unwrap();
        assert!(matches!(&config.upstream, UpstreamSpec::Http(url) if url.port() == Some(3000)));
        assert_eq!(config.upstream_timeout, Duration::from_secs(5));
        assert_eq!(config.identity.names().map(http::HeaderName::as_str).collect::<Vec<_>>(), ["x-user"]);
        let args = Args {
            upstream_command: Some("python3 server.py".into()),
            identity_headers: vec!["email=X-Email".into()],
            ..Args::default()
        };
        let config = GatewayConfig::from_args(&args, &settings(&[])).unwrap();
        assert!(matches!(&config.upstream, UpstreamSpec::Command(c) if c == "python3 server.py"));
        assert_eq!(config.identity.names().map(http::HeaderName::as_str).collect::<Vec<_>>(), ["x-email"]);
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);

        for (args, pairs, expected) in [
            (Args::default(), &[][..], "no upstream"),
            (
                Args { upstream: Some("ftp://x/mcp".into()), ..Args::default() },
                &[][..],
                "--upstream: expected an http",
            ),
            (
                Args { upstream: Some("not a url".into()), ..Args::default() },
                &[][..],
                "--upstream: not a URL",
            ),
            (Args { upstream: Some("http://u:p@h/mcp".into()), ..Args::default() }, &[][..], "credentials"),
            (Args { upstream_command: Some("  ".into()), ..Args::default() }, &[][..], "empty"),
            (
                Args::default(),
                &[("MCP_AUTH_GATEWAY_UPSTREAM", "http://a/mcp"), ("MCP_AUTH_GATEWAY_UPSTREAM_COMMAND", "x")]
                    [..],
                "both set",
            ),
            (
                Args::default(),
                &[
                    ("MCP_AUTH_GATEWAY_UPSTREAM", "http://a/mcp"),
                    ("MCP_AUTH_GATEWAY_IDENTITY_HEADERS", "uid=X"),
                ][..],
                "MCP_AUTH_GATEWAY_IDENTITY_HEADERS is invalid",
            ),
            (
                Args::default(),
                &[("MCP_AUTH_GATEWAY_UPSTREAM", "http://a/mcp"), ("MCP_AUTH_GATEWAY_MAX_BODY_BYTES", "lots")]
                    [..],
                "MCP_AUTH_GATEWAY_MAX_BODY_BYTES",
            ),
            (
                Args {
                    upstream: Some("http://a/mcp".into()),
                    policy: Some("/nonexistent.toml".into()),
                    ..Args::default()
                },
                &[][..],
                "policy: cannot read",
            ),
            (
                Args {
                    upstream: Some("http://a/mcp".into()),
                    identity_headers: vec!["user=Host".into()],
                    ..Args::default()
                },
                &[][..],
                "--identity-header user=Host",
            ),
        ] {
            let err = GatewayConfig::from_args(&args, &settings(pairs)).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn the_toml_file_sets_the_gateway_under_its_own_table() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), "[tools.reset]\nroles = [\"admin\"]\n").unwrap();
        let policy = dir.path().join("policy.toml").display().to_string();
        let toml = format!(
            "[gateway]\nupstream = \"http://127.0.0.1:3000/mcp\"\nidentity_headers = [\"user=X-User-Id\", \"email=X-Email\"]\npolicy = \"{policy}\"\nupstream_timeout = 7\n"
        );
        std::fs::write(dir.path().join("mcp-auth.toml"), toml).unwrap();
        let settings = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).unwrap();
        let config = GatewayConfig::from_args(&Args::default(), &settings).unwrap();
        assert!(matches!(&config.upstream, UpstreamSpec::Http(url) if url.port() == Some(3000)));
        assert_eq!(
            config.identity.names().map(http::HeaderName::as_str).collect::<Vec<_>>(),
            ["x-user-id", "x-email"]
        );
        assert!(config.policy.has_roles());
        assert_eq!(config.upstream_timeout, Duration::from_secs(7));
    }

    #[test]
    fn set_flags_override_and_are_checked() {
        let args = Args { set: vec!["nonsense".into()], ..Args::default() };
        assert!(args.settings().unwrap_err().to_string().contains("expected NAME=VALUE"));
    }
}
