//! Shared helpers for the cross-crate end-to-end tests.
//!
//! - [`browser`]: a headless Chromium driven over WebDriver, for the pages people see.
//! - [`catcher`]: the client's loopback redirect target, and small serving helpers.
//! - [`faults`]: fault injection (a private Redis to kill, a switchable hop in front of the dev IdP, a
//!   small tmpfs) and the check that answers name no internals.
//! - [`mcp`]: raw MCP requests.
//! - [`proxy`]: a running OAuth proxy stack (the dev IdP upstream, `WorkOSProvider` instances).

pub mod browser;
pub mod catcher;
pub mod faults;
pub mod mcp;
pub mod proxy;
