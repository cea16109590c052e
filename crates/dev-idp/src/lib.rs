//! A local OAuth 2.1 / OpenID Connect identity provider that speaks WorkOS AuthKit's protocol, **for
//! development and tests only**.
//!
//! AuthKit lives in the cloud; tests, demos and CI need the same protocol on 127.0.0.1 with no account.
//! This crate serves AuthKit's endpoint layout (`/oauth2/authorize`, `/oauth2/token`, `/oauth2/register`,
//! `/oauth2/jwks`, `/oauth2/userinfo`, `/oauth2/revoke`, `/oauth2/introspection`, and the RFC 8414 /
//! OpenID discovery documents) and issues RS256 access tokens shaped like AuthKit's MCP tokens
//! (`iss`, `sub`, `aud`, `client_id`, `scope`, `org_id`, `sid`, `jti`, `roles`, `permissions`, `iat`,
//! `exp`).
//!
//! | protocol piece | what is implemented |
//! |---|---|
//! | grants | authorization code with PKCE S256 (plain refused), refresh token with rotation and reuse detection, client credentials |
//! | client authentication | `none`, `client_secret_basic`, `client_secret_post` |
//! | registration | pre-registered clients, open RFC 7591 DCR with `application_type` (RFC 8252 loopback ports for native apps) |
//! | OpenID Connect | discovery, ID tokens (`nonce`, `at_hash`, `sid`), userinfo |
//! | RFC 9207 | `iss` on every authorization response |
//! | RFC 8707 | `resource` becomes the access token's `aud` |
//! | RFC 7009 / 7662 | revocation and introspection |
//!
//! It is built from the workspace's shared pieces rather than code of its own: the authorization-server
//! rules (registration, redirect URIs, PKCE, codes, refresh-token families, client authentication,
//! errors, metadata, CORS) come from `mcp-auth-oauth-server`, and every token is signed and checked by
//! `mcp-auth-jwt`'s `JwtIssuer`. State (clients, codes, refresh-token families, revocations) lives in a
//! [`KvStorage`](mcp_auth_core::KvStorage), keyed by an HMAC of each code or token; signing keys live in
//! memory and rotate on demand.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cli` | yes | the `mcp-auth-dev-idp` binary, its command line as a library module ([`cli`], which `mcp-auth dev-idp` runs too) and their dependencies (clap, anyhow, a log subscriber); depend on the library with `default-features = false` to leave them out |
//!
//! # Example
//!
//! ```no_run
//! use mcp_auth_dev_idp::{DevIdp, DevUser};
//!
//! # async fn demo() -> Result<(), mcp_auth_dev_idp::DevIdpError> {
//! let idp = DevIdp::builder()
//!     .user(DevUser::new("user_ada", "ada@example.com").roles(["admin"]).org_id("org_1"))
//!     .user(DevUser::new("user_bob", "bob@example.com"))
//!     .auto_approve(true)
//!     .start()
//!     .await?;
//! // Point a verifier at idp.jwks_url() with issuer idp.issuer(); or mint a token directly:
//! let token = idp.issue_access_token("user_ada", "http://127.0.0.1:8000/mcp", ["openid"])?;
//! # let _ = token;
//! # Ok(()) }
//! ```
//!
//! # Security
//!
//! It signs in configured users with plain-text passwords, or none at all in auto-approve mode. It
//! refuses to listen on anything but loopback unless
//! [`insecure_allow_non_loopback`](DevIdpBuilder::insecure_allow_non_loopback) is set, and says so in
//! its log, pages and metadata (`"dev_only": true`). Browsers may call it from loopback origins only
//! (add others with [`allowed_origin`](DevIdpBuilder::allowed_origin)): a state-changing request from
//! any other web origin is refused with 403, so a web page a developer visits cannot register a client
//! and mint tokens for a local MCP server through their browser. Its pages cannot be framed, dynamic
//! registration has an hourly ceiling, and only the scopes it advertises are granted.

mod builder;
#[cfg(feature = "cli")]
pub mod cli;
mod config;
mod endpoints;
mod error;
mod handle;
mod idp;
mod tokens;

pub use builder::{DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_CODE_TTL, DEFAULT_REFRESH_TOKEN_TTL, DevIdpBuilder};
pub use config::{DevClient, DevIdpConfig, DevUser, ServerConfig};
pub use error::DevIdpError;
pub use handle::DevIdpHandle;
pub use idp::{DevIdp, TEST_CLIENT_ID};
pub use mcp_auth_oauth_server::ApplicationType;
