//! Calling other APIs as the signed-in user: OAuth 2.0 Token Exchange (RFC 8693), never token
//! passthrough.
//!
//! The MCP access token's audience is this MCP server; forwarding it to another API is what the MCP
//! security best practices forbid ("token passthrough"): the API could not tell who it was meant for, and
//! any server that received it could replay it. Instead, [`TokenExchanger`] presents the user's token to
//! the authorization server as `subject_token`, authenticated as this server's own client, and gets a new
//! token whose `aud` is the API, whose `sub` is the same user and whose `act.sub` names this server as
//! the actor. The answer is checked ([`ExchangedToken`]) before a tool sees it.
//!
//! | piece | what it does |
//! |---|---|
//! | [`TokenExchanger`] | the exchange, with a bounded in-memory cache (per user, organization, resource, sorted scopes, until shortly before expiry) and one upstream call per key at a time |
//! | [`SharedTokenCache`] | an optional cache shared by instances, built only from a `FernetStore` so no token is written unencrypted |
//! | [`ExchangeError`] | `invalid_grant` / `unauthorized_client` as typed refusals; outages as retryable `Unavailable`; never a fallback to passthrough |
//! | [`TokenType`], [`Target`] | the RFC 8693 token types, and `resource` versus `audience` |
//!
//! In an rmcp tool, the verified caller exchanges in one call:
//! [`Caller::exchange_for`](crate::rmcp::Caller::exchange_for).

mod cache;
mod check;
mod error;
mod exchanger;
mod shared;
mod token;
mod types;
mod upstream;

pub use error::{ExchangeError, SharedCause};
pub use exchanger::{DEFAULT_CACHE_CAPACITY, DEFAULT_REFRESH_BEFORE, TokenExchanger, TokenExchangerBuilder};
pub use shared::{COLLECTION, SharedTokenCache};
pub use token::ExchangedToken;
pub use types::{TOKEN_EXCHANGE_GRANT, Target, TokenType};
