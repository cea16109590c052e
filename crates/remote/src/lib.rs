//! Remote auth for MCP servers: the MCP server is an OAuth resource server, an external authorization
//! server (WorkOS AuthKit, or any OAuth 2.1 server) issues the tokens.
//!
//! [`RemoteAuthProvider`] publishes RFC 9728 Protected Resource Metadata that points clients at the
//! authorization server, and protects the MCP route with the bearer layer: 401 with a challenge that names
//! the metadata, 403 `insufficient_scope` for step-up, 503 when the verifier cannot reach its keys. Tokens
//! must carry the server's canonical [`ResourceUrl`] as audience.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rmcp` | yes | [`Caller`](crate::rmcp::Caller): the verified user as an rmcp tool-handler argument |
//!
//! Calling other APIs as the signed-in user, by RFC 8693 token exchange rather than token passthrough, is
//! in [`exchange`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::post};
//! use mcp_auth_core::StaticTokenVerifier;
//! use mcp_auth_remote::RemoteAuthProvider;
//!
//! let provider = RemoteAuthProvider::builder(Arc::new(StaticTokenVerifier::new()))
//!     .authorization_server("https://your-app.authkit.app")
//!     .base_url("https://mcp.example.com")
//!     .mcp_path("/mcp")
//!     .scopes_supported(["openid", "profile", "email"])
//!     .build()
//!     .unwrap();
//!
//! let mcp_routes = Router::new()
//!     .route("/mcp", post(|| async { "your rmcp service goes here" }))
//!     .layer(provider.bearer_layer());
//! let app: Router = mcp_routes.merge(provider.metadata_router());
//! assert_eq!(provider.resource().as_str(), "https://mcp.example.com/mcp");
//! ```

mod audience;
mod builder;
mod error;
pub mod exchange;
mod provider;
#[cfg(feature = "rmcp")]
pub mod rmcp;
mod router;

pub use mcp_auth_core::metadata::WELL_KNOWN_PROTECTED_RESOURCE;
pub use mcp_auth_core::resource::{ResourceUrl, ResourceUrlError};

pub use crate::builder::RemoteAuthProviderBuilder;
pub use crate::error::RemoteAuthError;
pub use crate::provider::RemoteAuthProvider;
pub use crate::router::{mcp_cors, metadata_cors};

/// The scope that asks for refresh tokens: never a resource requirement, so never advertised or challenged
/// (MCP authorization, "Scope Selection Strategy").
pub const OFFLINE_ACCESS: &str = "offline_access";
