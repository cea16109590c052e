//! Shared helpers for the cross-crate end-to-end tests.

pub mod proxy;
