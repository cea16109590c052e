//! **mcp-auth**: OAuth 2.1 authentication for Rust MCP servers, with first-class WorkOS AuthKit support.
//!
//! This facade re-exports the workspace's crates behind features, so one dependency is enough:
//!
//! | feature | default | module | crate |
//! |---|---|---|---|
//! | (always) | | the crate root, [`store`] | `mcp-auth-core` |
//! | `jwt` | yes | [`jwt`] | `mcp-auth-jwt` |
//! | `remote` | yes | [`remote`] | `mcp-auth-remote` |
//! | `rmcp` | no | `remote::rmcp` | `mcp-auth-remote/rmcp` |
//! | `workos` | yes | [`workos`] | `mcp-auth-workos` (with the proxy, for `WorkOSProvider`) |
//! | `proxy` | no | `proxy` | `mcp-auth-proxy` |
//! | `store-file` | no | `store::file` | `mcp-auth-store-file` |
//! | `store-redis` | no | `store::redis` | `mcp-auth-store-redis` |
//! | `fernet` | no | `store::fernet` | `mcp-auth-fernet` |
//! | `dev-idp` | no | `dev_idp` | `mcp-auth-dev-idp` |
//! | `oauth-server` | no | `oauth_server` | `mcp-auth-oauth-server` |
//! | `full` | no | all of the above | |
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use mcp_auth::{AccessToken, BearerAuthLayer, StaticTokenVerifier};
//!
//! let verifier = StaticTokenVerifier::new().with_token("t", AccessToken::new("t").with_subject("u"));
//! let layer = BearerAuthLayer::new(Arc::new(verifier));
//! # let _ = layer;
//! ```

pub use mcp_auth_core::*;

/// Storage: the [`KvStorage`] trait and the memory store, plus the backends enabled by features.
pub mod store {
    pub use mcp_auth_core::store::*;

    /// The file store (feature `store-file`).
    #[cfg(feature = "store-file")]
    pub use mcp_auth_store_file as file;

    /// The Redis store (feature `store-redis`).
    #[cfg(feature = "store-redis")]
    pub use mcp_auth_store_redis as redis;

    /// The Fernet encryption wrapper (feature `fernet`).
    #[cfg(feature = "fernet")]
    pub use mcp_auth_fernet as fernet;
}

/// JWT verification and signing (feature `jwt`).
#[cfg(feature = "jwt")]
pub use mcp_auth_jwt as jwt;

/// Remote auth (feature `remote`).
#[cfg(feature = "remote")]
pub use mcp_auth_remote as remote;

/// WorkOS AuthKit adapters (feature `workos`).
#[cfg(feature = "workos")]
pub use mcp_auth_workos as workos;

/// The OAuth proxy (feature `proxy`).
#[cfg(feature = "proxy")]
pub use mcp_auth_proxy as proxy;

/// The local development identity provider (feature `dev-idp`).
#[cfg(feature = "dev-idp")]
pub use mcp_auth_dev_idp as dev_idp;

/// The authorization-server building blocks (feature `oauth-server`).
#[cfg(feature = "oauth-server")]
pub use mcp_auth_oauth_server as oauth_server;
