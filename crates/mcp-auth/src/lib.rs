//! **mcp-auth**: OAuth 2.1 authentication for Rust MCP servers, with first-class WorkOS AuthKit support.
//!
//! One dependency for the common case: the workspace's crates behind features, and [`from_env`], which
//! builds the provider and store your configuration names and hands back what to mount.
//!
//! # Quickstart
//!
//! ```no_run
//! use axum::Router;
//!
//! # async fn run(mcp_service: Router) -> Result<(), Box<dyn std::error::Error>> {
//! // MCP_AUTH_PROVIDER=jwt
//! // MCP_AUTH_JWT_ISSUER=https://login.example.com/realms/main
//! // MCP_AUTH_BASE_URL=https://mcp.example.com
//! let auth = mcp_auth::from_env().await?;
//! // The bearer layer on the MCP endpoint, the discovery routes (and the proxy's endpoints) beside it.
//! let app = auth.protect(Router::new().nest_service(auth.resource().path(), mcp_service));
//! axum::serve(mcp_auth::serve::bind(auth.listen_addr()).await?, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! `MCP_AUTH_PROVIDER` is `authkit` (remote auth with WorkOS AuthKit), `workos` (the OAuth proxy in front of
//! AuthKit) or `jwt` (remote auth with any authorization server that issues JWTs: Auth0, Keycloak, Entra ID,
//! Okta...). `MCP_AUTH_STORE` is `memory`, `file` or `redis`, encrypted when `MCP_AUTH_FERNET_KEYS` is set.
//! Settings come from the environment, a `.env` file and an optional `mcp-auth.toml`; `docs/configuration.md`
//! lists every one, generated from [`config::catalog::VARIABLES`].
//!
//! # Features
//!
//! | feature | default | module | crate |
//! |---|---|---|---|
//! | (always) | | the crate root, [`store`], [`settings`] | `mcp-auth-core` |
//! | `jwt` | yes | [`jwt`], [`config`] with `remote` | `mcp-auth-jwt` |
//! | `remote` | yes | [`remote`] | `mcp-auth-remote` |
//! | `rmcp` | no | `remote::rmcp` | `mcp-auth-remote/rmcp` |
//! | `workos` | yes | [`workos`] (`MCP_AUTH_PROVIDER=authkit` and `workos`) | `mcp-auth-workos` (with the proxy, for `WorkOSProvider`) |
//! | `proxy` | no | `proxy` | `mcp-auth-proxy` |
//! | `file` (or `store-file`) | no | `store::file` (`MCP_AUTH_STORE=file`) | `mcp-auth-store-file` |
//! | `redis` (or `store-redis`) | no | `store::redis` (`MCP_AUTH_STORE=redis`) | `mcp-auth-store-redis` |
//! | `fernet` | with `workos` | `store::fernet` (`MCP_AUTH_FERNET_KEYS`) | `mcp-auth-fernet` |
//! | `dev-idp` | no | `dev_idp` | `mcp-auth-dev-idp` |
//! | `oauth-server` | no | `oauth_server` | `mcp-auth-oauth-server` |
//! | `full` | no | all of the above | |
//!
//! # Building by hand
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

/// Configuration from the environment, `.env` and `mcp-auth.toml` (features `jwt` and `remote`).
#[cfg(all(feature = "jwt", feature = "remote"))]
pub mod config;

#[cfg(all(feature = "jwt", feature = "remote"))]
pub use config::{McpAuth, from_env};

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
