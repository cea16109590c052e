//! The pieces the mcp-auth examples and end-to-end tests share. From the publishable `mcp-auth-demo`
//! crate, re-exported here: an rmcp MCP server whose tools read the verified caller
//! ([`server::WhoAmIServer`]), the axum app that puts it (or any rmcp server) behind auth
//! ([`server::authkit_app`], [`server::mount`]), an MCP client that runs the whole OAuth flow with the
//! rmcp SDK ([`client`]), the `--self-check` runner ([`checks`]) and the dev IdP users the role and
//! tenant examples sign in as ([`dev_idp`]). Of the examples' own: an RFC 7662 introspection verifier
//! ([`introspection`]) and what every example's `main` shares, its command line and serving ([`run`]).
//! The `on_behalf_of` example's stack, a tool calling another API as the user by token exchange, is in
//! [`on_behalf_of`]. The `production` example adds a round-robin load balancer ([`balancer`]), fresh deployment keys
//! ([`keys`]) and a raw look at what the store wrote in Redis ([`redis_raw`]).

pub use mcp_auth_demo::{checks, client, dev_idp, server};

pub mod balancer;
pub mod introspection;
pub mod keys;
pub mod on_behalf_of;
pub mod redis_raw;
pub mod run;
