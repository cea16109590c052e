//! Fuzz targets for mcp-auth (issue 16): one function per target, each feeding arbitrary bytes to a real
//! public parsing or verifying entry point and asserting the invariants that must hold whatever the input.
//! A panic, from the code under test or from a broken invariant, is a finding.
//!
//! | target | entry points |
//! |---|---|
//! | [`bearer_header`] | `BearerAuthLayer` answering `Authorization` headers |
//! | [`jwt_verify`] | `JwtVerifier::verify_jwt` with a fixed HMAC key, on raw and on correctly signed tokens |
//! | [`jwks_document`] | `JwtVerifierBuilder::jwks` / `jwk_set` + `build`, then a verification |
//! | [`redirect_uri`] | `RedirectUri::parse`, `matches`, `check_*`; `RedirectPattern::parse` and `matches` |
//! | [`scope_list`] | `parse_scope_list`, `parse_scope_param`, `join_scopes`, `ScopePolicy`, `narrow_scopes` |
//! | [`registration_body`] | `RegistrationPolicy::validate`, `registration_response` |
//! | [`token_params`] | `Params::parse`, `TokenRequest::grant_type` and `parse` |
//! | [`authorize_params`] | `AuthorizationRequest::parse` against a registry with two clients |
//! | [`cimd_document`] | `MetadataDocuments::validate_document` and `handles` |
//! | [`fernet_value`] | `FernetStore` reading stored values (raw, and sealed plaintexts), `FernetKey` |
//! | [`file_store_entry`] | `FileStore` reading an entry file holding the input |
//! | [`jsonrpc_body`] | `mcp_scope::operations_in` and `McpScopePolicy::required_for` |
//!
//! The libFuzzer binaries (`fuzz/cargo-fuzz/`, nightly only) call these; `tests/corpus.rs` replays every
//! seed (`fuzz/corpus/<target>/`) and every regression (`fuzz/regressions/<target>/`) on stable.

use std::sync::OnceLock;

mod auth;
mod cimd;
mod jwt;
mod oauth;
mod scope;
mod storage;

pub use auth::{bearer_header, jsonrpc_body};
pub use cimd::cimd_document;
pub use jwt::{jwks_document, jwt_verify};
pub use oauth::{authorize_params, redirect_uri, registration_body, token_params};
pub use scope::scope_list;
pub use storage::{fernet_value, file_store_entry};

/// A fuzz target: bytes in, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its corpus directory and of its libFuzzer binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("bearer_header", bearer_header),
    ("jwt_verify", jwt_verify),
    ("jwks_document", jwks_document),
    ("redirect_uri", redirect_uri),
    ("scope_list", scope_list),
    ("registration_body", registration_body),
    ("token_params", token_params),
    ("authorize_params", authorize_params),
    ("cimd_document", cimd_document),
    ("fernet_value", fernet_value),
    ("file_store_entry", file_store_entry),
    ("jsonrpc_body", jsonrpc_body),
];

/// One single-threaded runtime for the targets' async entry points.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
        })
        .block_on(future)
}

/// The input as text, or `None` when it is not UTF-8 (the entry points take `&str`).
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Splits the input at its first newline: two inputs for targets that take two.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
