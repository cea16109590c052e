//! `mcp-auth doctor`: reads the configuration the way the server does and checks it, one line per check.
//!
//! In order: the settings files, every value that is set (against the same catalog
//! [`McpAuth::from_settings`](mcp_auth::McpAuth::from_settings) checks), the provider's required settings,
//! the resource and redirect URLs, the signing key, then building the provider as the server would, the
//! authorization server's metadata and JWKS, the store, and the Fernet keys against a sample of what is
//! stored. A failing line names the variable (and the file it was set in, if any) and says how to fix it.
//! The exit status is 1 when any check fails.

use std::process::ExitCode;
use std::time::Duration;

use mcp_auth::config::catalog;
use mcp_auth::settings::{Origin, Settings};

use crate::Global;
use crate::output::{self, Status};

mod checks;
mod remote;
mod store;

/// How long a network check may take (connecting and reading), each.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);

/// How many stored values the Fernet check decrypts, at most.
pub const FERNET_SAMPLE: usize = 50;

/// Arguments of `mcp-auth doctor`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mcp-auth doctor                            check the configuration in the environment, ./.env, ./mcp-auth.toml
  MCP_AUTH_CONFIG=/etc/mcp-auth.toml mcp-auth doctor
  mcp-auth doctor --quiet                    print only the failures

Each line is `ok`, `warn` or `FAIL`, what was checked and what was found; a failure names the variable
(or the TOML key and its file) and the fix. Values are never printed: they may be secrets. Network checks
(authorization server, Redis) time out after 5 seconds each. Exit status: 0 when nothing failed, 1 otherwise.")]
pub struct Args {}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Pass, warn or fail.
    pub status: Status,
    /// What was checked: a variable (as [`Settings::describe`] names it) or a component.
    pub subject: String,
    /// What was found; never a secret value.
    pub detail: String,
    /// How to fix a failure or act on a warning.
    pub fix: Option<String>,
}

impl Finding {
    /// A passed check.
    pub fn pass(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { status: Status::Pass, subject: subject.into(), detail: detail.into(), fix: None }
    }

    /// A warning, with what to do about it.
    pub fn warn(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Warn, subject: subject.into(), detail: detail.into(), fix: Some(fix.into()) }
    }

    /// A failed check, with the fix.
    pub fn fail(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Fail, subject: subject.into(), detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// The findings so far, printed as they come.
#[derive(Debug)]
pub struct Report<'a> {
    global: &'a Global,
    failed: usize,
    total: usize,
}

impl<'a> Report<'a> {
    fn new(global: &'a Global) -> Self {
        Self { global, failed: 0, total: 0 }
    }

    /// Prints `finding` and counts it.
    pub fn add(&mut self, finding: Finding) {
        self.total += 1;
        if finding.status == Status::Fail {
            self.failed += 1;
        }
        output::check(self.global, finding.status, &finding.subject, &finding.detail, finding.fix.as_deref());
    }

    /// Whether any check failed so far.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.failed > 0
    }
}

/// Runs `mcp-auth doctor`.
///
/// # Errors
///
/// Never for a bad configuration (that is a failed check and exit status 1); only when the checks cannot
/// run at all.
pub async fn run(_args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let mut report = Report::new(global);
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            report.add(Finding::fail(
                "configuration files",
                err.to_string(),
                "fix the file named above (by line number), or unset MCP_AUTH_CONFIG",
            ));
            return Ok(summary(&report));
        }
    };
    report.add(Finding::pass("configuration", sources(&settings)));
    checks::values(&settings, &mut report);
    let provider = checks::provider(&settings, &mut report);
    if let Some(provider) = provider {
        checks::required(&settings, provider, &mut report);
        checks::urls(&settings, provider, &mut report);
    }
    checks::signing_key(&settings, provider, &mut report);
    let keys = checks::fernet_keys(&settings, provider, &mut report);
    if provider.is_some() && !report.failed() {
        checks::build(&settings, &mut report).await;
    } else if provider.is_some() {
        report.add(Finding::warn(
            "server",
            "not built: the server would refuse this configuration (see the failures above)",
            "fix the failures above, then run `mcp-auth doctor` again",
        ));
    }
    if let Some(provider) = provider {
        remote::authorization_server(&settings, provider, &mut report).await;
    }
    store::check(&settings, keys.as_deref(), &mut report).await;
    Ok(summary(&report))
}

fn summary(report: &Report<'_>) -> ExitCode {
    let text = if report.failed == 0 {
        format!("{} checks, all passed", report.total)
    } else {
        format!("{} checks, {} failed", report.total, report.failed)
    };
    if report.failed > 0 || !report.global.quiet {
        output::line(report.global, &text);
    }
    if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Where the settings were read from.
fn sources(settings: &Settings) -> String {
    let mut from = vec!["the environment".to_owned()];
    let env_file = settings.names().find_map(|(_, origin)| match origin {
        Origin::EnvFile(path) => Some(path.display().to_string()),
        _ => None,
    });
    if let Some(path) = env_file {
        from.push(path);
    }
    if let Some(path) = settings.config_file() {
        from.push(path.display().to_string());
    }
    let count = settings.names().count();
    format!("{count} setting(s) read from {}", from.join(", "))
}

/// The catalog's example for `name`, for fixes.
pub(crate) fn example(name: &str) -> &'static str {
    catalog::variable(name).map_or("", |variable| variable.example)
}

/// `Set MCP_AUTH_<NAME>=example` (or the TOML key when the value came from the file).
pub(crate) fn set_hint(settings: &Settings, name: &str) -> String {
    match settings.origin(name) {
        Some(Origin::ConfigFile(path)) => {
            format!("set `{} = \"{}\"` in {}", Settings::file_key(name), example(name), path.display())
        }
        Some(Origin::EnvFile(path)) => {
            format!("set {}={} in {}", Settings::var_name(name), example(name), path.display())
        }
        _ => format!("set {}={}", Settings::var_name(name), example(name)),
    }
}
