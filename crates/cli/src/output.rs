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
