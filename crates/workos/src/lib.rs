//! WorkOS AuthKit adapters for mcp-auth.
//!
//! | type | what it does |
//! |---|---|
//! | [`AuthKitProvider`] | remote auth: AuthKit is the authorization server, this MCP server verifies its JWTs, publishes RFC 9728 metadata and forwards AuthKit's RFC 8414 metadata |
//! | [`WorkOSTokenVerifier`] | verifies opaque AuthKit tokens through `/oauth2/userinfo`, with bounded answer caches, single-flight lookups, a back-off and rate and concurrency limits |
//! | [`WorkOSProvider`] | the OAuth proxy preset: MCP clients register with this server and sign in at AuthKit through its one WorkOS client; the server issues its own tokens and keeps AuthKit's encrypted |
//! | [`exchange`] | calling other APIs as the signed-in user by token exchange (RFC 8693): `AuthKitProviderBuilder::token_exchange`, then `Caller::exchange_for` in a tool; re-exported from `mcp-auth-remote` |
//! | [`AuthKitDomain`] | the AuthKit domain, normalised (`your-app.authkit.app` -> `https://your-app.authkit.app`) |
//!
//! Configuration from the environment: `MCP_AUTH_AUTHKIT_DOMAIN`, `MCP_AUTH_BASE_URL`, `MCP_AUTH_MCP_PATH`,
//! `MCP_AUTH_REQUIRED_SCOPES`, `MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE`. See `docs/workos.md` for the
//! WorkOS dashboard settings.

mod authkit;
mod breaker;
mod domain;
mod flight;
mod forward;
mod profile;
mod proxy;
mod userinfo;

use mcp_auth_core::settings::SettingsError;

pub use mcp_auth_remote::exchange;

pub use crate::authkit::{AuthKitProvider, AuthKitProviderBuilder, DEFAULT_SCOPES_SUPPORTED};
pub use crate::domain::AuthKitDomain;
pub use crate::proxy::{UPSTREAM_SCOPES, WorkOSProvider, WorkOSProviderBuilder};
pub use crate::userinfo::{WorkOSTokenVerifier, WorkOSTokenVerifierBuilder};

/// Why a WorkOS adapter could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkOSError {
    /// A required setting is missing.
    #[error("{setting} is required (example: {setting}={example})")]
    Missing {
        /// The environment variable (and setting) to give.
        setting: &'static str,
        /// An example value.
        example: &'static str,
    },
    /// The AuthKit domain is malformed.
    #[error(
        "invalid AuthKit domain (MCP_AUTH_AUTHKIT_DOMAIN): {reason}; expected a form such as your-app.authkit.app"
    )]
    InvalidDomain {
        /// What is wrong.
        reason: String,
    },
    /// Settings contradict each other, or one cannot be honoured; the message names the setting (and its
    /// environment variable, if it has one).
    #[error("{reason}")]
    Conflict {
        /// What to change.
        reason: String,
    },
    /// The remote-auth part could not be built (base URL, MCP path).
    #[error(transparent)]
    Remote(#[from] mcp_auth_remote::RemoteAuthError),
    /// The JWT verifier could not be built.
    #[error("cannot build the AuthKit JWT verifier")]
    Jwt(#[from] mcp_auth_jwt::JwtError),
    /// Reading settings failed.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// The token exchanger could not be built (its client credentials or the AuthKit URL).
    #[error("cannot configure token exchange")]
    TokenExchange(#[from] mcp_auth_remote::exchange::ExchangeError),
    /// The operating system gave no randomness for the answer cache's key.
    #[error("cannot key the userinfo answer cache")]
    Randomness(#[from] mcp_auth_core::fingerprint::RandomnessUnavailable),
}
