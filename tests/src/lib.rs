//! Shared helpers for the cross-crate end-to-end tests.
//!
//! - [`browser`]: a headless Chromium driven over WebDriver, for the pages people see.

pub mod browser;
