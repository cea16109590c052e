//! Core traits and HTTP plumbing for **mcp-auth**: OAuth 2.1 authentication in front of MCP servers.
//!
//! This crate depends on no provider or backend. It defines:
//!
//! - [`TokenVerifier`]: bearer token in, verified [`AccessToken`] out (or a [`VerifyError`] that tells an
//!   invalid token, 401, from an unreachable key source, 503).
//! - [`KvStorage`]: async key-value storage in collections with TTLs, with
//!   [`MemoryStore`](store::MemoryStore) and a typed [`JsonCollection`](store::JsonCollection) view.
//! - [`BearerAuthLayer`]: the tower middleware that protects any axum route, with RFC 6750 / RFC 9728
//!   challenges, plus extractors for [`AccessToken`] and [`AuthUser`] and role/permission guards.
//! - [`metadata`]: RFC 9728 and RFC 8414 discovery documents; [`resource`]: the canonical resource URL of
//!   a protected MCP endpoint, which is also the audience of its tokens.
//! - [`settings`]: `MCP_AUTH_*` variables from the environment and `.env` files.
//! - [`clock`]: an injectable clock, so expiry is tested without sleeping.
//! - [`metrics`]: the metrics every crate records through the `metrics` facade (names, labels, units),
//!   and [`InstrumentedStore`](store::InstrumentedStore), which counts and times a store's operations.
//! - [`fingerprint`]: keyed token fingerprints, the keys of token caches that never hold raw tokens.
//! - [`flight`]: [`SingleFlight`](flight::SingleFlight), concurrent callers for one key share one run of
//!   the work (one upstream call).
//! - [`mcp_scope`]: per-operation scopes (tools, prompts, resources) and the step-up challenge;
//!   [`scope`]: scope lists and scope hierarchies.
//! - `serve` (feature `serve`): [`serve::bind`], the listener every server here uses, with `TCP_NODELAY`.
//! - [`loopback`] and [`cache_control`]: the one loopback-host check and the one `Cache-Control` reader the
//!   workspace uses; `body` (feature `http`): the one size-limited body reader.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | [`BearerAuthLayer`], the extractors and the guards (implies `http`) |
//! | `serve` | yes | [`serve`]: a listener for `axum::serve` with `TCP_NODELAY` on every connection |
//! | `http` | with `axum` | `body`: reading an HTTP body into memory with a size limit and a typed error |
//! | `testkit` | no | `testkit`: the `KvStorage` conformance suite every backend runs, and `MetricsCapture` |
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use mcp_auth_core::{AccessToken, AuthUser, BearerAuthLayer, StaticTokenVerifier};
//!
//! async fn whoami(user: AuthUser) -> String {
//!     format!("hello {}", user.user_id)
//! }
//!
//! let verifier = StaticTokenVerifier::new()
//!     .with_token("dev-token", AccessToken::new("dev-token").with_subject("user_1"));
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(BearerAuthLayer::new(Arc::new(verifier)));
//! ```

#[cfg(feature = "axum")]
mod bearer;
#[cfg(feature = "http")]
pub mod body;
pub mod cache_control;
pub mod challenge;
pub mod clock;
#[cfg(feature = "axum")]
mod extract;
pub mod fingerprint;
pub mod flight;
pub mod loopback;
pub mod mcp_scope;
pub mod metadata;
pub mod metrics;
pub mod report;
pub mod resource;
pub mod scope;
#[cfg(feature = "serve")]
pub mod serve;
pub mod settings;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod token;
mod verifier;

#[cfg(feature = "axum")]
pub use bearer::{BearerAuth, BearerAuthLayer, DEFAULT_MAX_TOKEN_LEN, ResponseFuture};
#[cfg(feature = "axum")]
pub use extract::{AuthRejection, RequireAuth, RequireAuthLayer, Requirement};
pub use store::{KvStorage, StoreError};
pub use token::{AccessToken, AuthUser, Forbidden, RawToken, TokenInfo};
pub use verifier::{BoxError, StaticTokenVerifier, TokenVerifier, VerifyError};

// Re-exported so implementors need not depend on these crates directly.
pub use async_trait::async_trait;
pub use secrecy;
