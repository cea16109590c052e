//! Shared helpers for the cross-crate end-to-end tests.
//!
//! - [`browser`]: a headless Chromium driven over WebDriver, for the pages people see.
//! - [`catcher`]: the client's loopback redirect target, and small serving helpers.
//! - [`mcp`]: raw MCP requests.
//! - [`proxy`]: a running OAuth proxy stack (the dev IdP upstream, `WorkOSProvider` instances).

pub mod browser;
pub mod catcher;
pub mod mcp;
pub mod proxy;
