//! The pieces the mcp-auth examples and end-to-end tests share: an rmcp MCP server whose tools read the
//! verified caller ([`server::WhoAmIServer`]), the axum app that puts it (or any rmcp server) behind
//! auth ([`server::authkit_app`], [`server::mount`]), an MCP client that runs the whole OAuth flow with
//! the rmcp SDK ([`client`]), an RFC 7662 introspection verifier ([`introspection`]), and what every
//! example's `main` shares: its command line and serving ([`run`]) and its `--self-check` runner
//! ([`checks`]), and the dev IdP users the role and tenant examples sign in as ([`dev_idp`]). The
//! `production` example adds a round-robin load balancer ([`balancer`]), fresh deployment keys
//! ([`keys`]) and a raw look at what the store wrote in Redis ([`redis_raw`]).

pub mod balancer;
pub mod checks;
pub mod client;
pub mod dev_idp;
pub mod introspection;
pub mod keys;
pub mod redis_raw;
pub mod run;
pub mod server;
