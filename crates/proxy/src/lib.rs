//! An OAuth 2.1 authorization-server facade for MCP servers, in front of an upstream identity provider
//! that knows one fixed client (WorkOS Connect, GitHub, Google, Entra...).
//!
//! MCP clients register with the proxy (RFC 7591) or present a Client ID Metadata Document, and go
//! through a normal OAuth 2.1 flow with PKCE and consent; the proxy signs in upstream with its one
//! client, keeps the upstream tokens encrypted at rest, and issues its own tokens for the MCP resource.

mod builder;
mod cimd;
mod cookies;
mod endpoints;
mod error;
mod grant;
mod limits;
mod pages;
mod proxy;
mod state;
mod upstream;
mod verifier;

pub use crate::builder::{DEFAULT_REDIRECT_PATH, OAuthProxyBuilder};
pub use crate::error::ProxyError;
pub use crate::proxy::OAuthProxy;
pub use crate::state::ProxyGrant;
pub use crate::upstream::{UpstreamAuthMethod, UpstreamConfig};

/// Client ID Metadata Documents, fetched SSRF-safely and cached: [`MetadataDocuments`] resolves client ids
/// that are https URLs into clients.
pub use cimd::{MetadataDocuments, MetadataDocumentsBuilder, MetadataDocumentsConfigError};
