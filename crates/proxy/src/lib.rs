//! An OAuth 2.1 authorization-server facade for MCP servers, in front of an upstream identity provider
//! that knows one fixed client (WorkOS Connect, GitHub, Google, Entra...).
//!
//! MCP clients register with the proxy (RFC 7591) or present a Client ID Metadata Document, and go
//! through a normal OAuth 2.1 flow with PKCE and consent; the proxy signs in upstream with its one
//! client, keeps the upstream tokens encrypted at rest, and issues its own tokens for the MCP resource.
//!
//! Pick it when MCP clients cannot register with the upstream themselves (one fixed client id and
//! secret); when they can (WorkOS AuthKit with Dynamic Client Registration or Client ID Metadata
//! Documents), remote auth (`mcp-auth-remote`, `AuthKitProvider`) is less to run. `WorkOSProvider` in
//! `mcp-auth-workos` is the preset for WorkOS. The guide, with the flow step by step, every option, keys,
//! production set-up and the security properties, is `docs/proxy.md` in the repository.
//!
//! | feature | what it does |
//! |---|---|
//! | [`OAuthProxy`], [`OAuthProxyBuilder`] | the authorization server (`/register`, `/authorize`, `/consent`, the upstream callback, `/token`, `/revoke`, RFC 8414 and RFC 9728 metadata) and the bearer layer of the MCP endpoint, with revoked-session checks |
//! | [`UpstreamConfig`], [`UpstreamAuthMethod`] | the upstream's endpoints and the proxy's one client there (`client_secret_basic` or `client_secret_post`, PKCE `S256`) |
//! | [`MetadataDocuments`] | Client ID Metadata Documents (on by default): fetched SSRF-safely from public addresses, validated like registrations, cached per `Cache-Control`, optionally limited to allowed hosts |
//! | consent | a page with a CSRF token bound to a signed browser cookie, remembered per browser, client, redirect URI and scopes; a binding cookie the upstream callback requires |
//! | tokens | the proxy's own JWT access tokens (audience: the MCP endpoint) and rotating refresh tokens with a grace window; the upstream refreshed once across every instance; revoked sessions refused at once on the revoking instance, within seconds on the others; upstream tokens never leave the store |
//! | storage | any [`KvStorage`](mcp_auth_core::store::KvStorage) (memory by default, Redis for several instances), encrypted by the proxy with its Fernet keys, a TTL on every record |
//! | [`ProxyError`] | why [`OAuthProxyBuilder::build`] refused, naming the setting and its environment variable |
//!
//! The crate has no cargo features.
//!
//! # Quickstart
//!
//! An upstream whose access tokens are JWTs on a JWKS; the MCP service (an rmcp
//! `StreamableHttpService`) goes where the placeholder route is.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use axum::routing::post;
//! use axum::serve::ListenerExt as _;
//! use mcp_auth_core::store::MemoryStore;
//! use mcp_auth_fernet::FernetKey;
//! use mcp_auth_jwt::{JwtVerifier, SigningKey};
//! use mcp_auth_proxy::{OAuthProxy, UpstreamConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = UpstreamConfig::new(
//!     "https://idp.example.com/oauth2/authorize",
//!     "https://idp.example.com/oauth2/token",
//!     "client_01",
//!     std::env::var("UPSTREAM_CLIENT_SECRET")?.into(),
//! )?
//! .revocation_endpoint("https://idp.example.com/oauth2/revoke")?
//! .scopes(["openid", "profile", "email", "offline_access"]);
//! // Checks the upstream's access tokens at sign-in and after each upstream refresh; names the user.
//! let upstream_verifier = JwtVerifier::builder()
//!     .jwks_url("https://idp.example.com/oauth2/jwks")
//!     .issuer("https://idp.example.com")
//!     .audience("client_01")
//!     .build()?;
//! let proxy = OAuthProxy::builder()
//!     .base_url("https://mcp.example.com")
//!     .upstream(upstream)
//!     .upstream_verifier(Arc::new(upstream_verifier))
//!     // Production: a RedisStore shared by every instance, and keys from the environment
//!     // (SigningKey::from_settings, FernetKey::from_settings).
//!     .store(Arc::new(MemoryStore::new()))
//!     .signing_key(SigningKey::generate_es256("key-1")?)
//!     .fernet_keys(vec![FernetKey::generate()])
//!     .allowed_client_redirect_uris(["http://localhost:*", "http://127.0.0.1:*"])?
//!     .build()?;
//! // Register this URL with the upstream as the client's redirect URI.
//! assert_eq!(proxy.callback_url(), "https://mcp.example.com/auth/callback");
//!
//! let mcp = Router::new().route("/mcp", post(|| async { "your MCP service" }));
//! let app = proxy.protect(mcp);
//! // TCP_NODELAY on each connection (what `mcp_auth_core::serve::bind` does), and the peer address for
//! // the per-source registration ceiling.
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8000").await?.tap_io(|tcp| {
//!     let _ = tcp.set_nodelay(true);
//! });
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```

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
