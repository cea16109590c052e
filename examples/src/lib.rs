//! The pieces the mcp-auth examples and end-to-end tests share: an rmcp MCP server whose tools read the
//! verified caller ([`server::WhoAmIServer`]), the axum app that puts it behind AuthKit auth
//! ([`server::authkit_app`]), and an MCP client that runs the whole OAuth flow with the rmcp SDK
//! ([`client`]).

pub mod client;
pub mod server;
