//! Terminal output: coloured when the terminal takes it (and `--color`, `NO_COLOR` allow), quiet-able.

use std::io::Write as _;

use anstyle::{AnsiColor, Style};

use crate::Global;

fn stderr(global: &Global) -> anstream::AutoStream<std::io::Stderr> {
    let choice = match global.color {
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
    };
    anstream::AutoStream::new(std::io::stderr(), choice)
}

/// Prints `message` as an error on stderr (even with `--quiet`).
pub fn error(global: &Global, message: &str) {
    let style = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
    let _ = writeln!(stderr(global), "{style}error:{style:#} {message}");
}

/// Prints an informational line on stderr, unless `--quiet`.
pub fn info(global: &Global, message: &str) {
    if !global.quiet {
        let _ = writeln!(stderr(global), "{message}");
    }
}

fn stdout(global: &Global) -> anstream::AutoStream<std::io::Stdout> {
    let choice = match global.color {
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
    };
    anstream::AutoStream::new(std::io::stdout(), choice)
}

/// The outcome of one check, as [`check`] prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The check passed.
    Pass,
    /// The check passed with something worth knowing.
    Warn,
    /// The check failed: the command exits non-zero.
    Fail,
}

/// Prints one check on stdout: `ok`, `warn` or `FAIL`, the subject and what was found, then for a
/// failure or warning an indented `fix:` line. With `--quiet` only failures are printed.
pub fn check(global: &Global, status: Status, subject: &str, detail: &str, fix: Option<&str>) {
    if global.quiet && status != Status::Fail {
        return;
    }
    let (label, colour) = match status {
        Status::Pass => ("ok  ", AnsiColor::Green),
        Status::Warn => ("warn", AnsiColor::Yellow),
        Status::Fail => ("FAIL", AnsiColor::Red),
    };
    let style = Style::new().bold().fg_color(Some(colour.into()));
    let mut out = stdout(global);
    let _ = writeln!(out, "{style}{label}{style:#}  {subject}: {detail}");
    if let Some(fix) = fix.filter(|_| status != Status::Pass) {
        let _ = writeln!(out, "      fix: {fix}");
    }
}

/// Prints a line of the command's own output on stdout (never silenced by `--quiet`).
pub fn line(global: &Global, text: &str) {
    let _ = writeln!(stdout(global), "{text}");
}
