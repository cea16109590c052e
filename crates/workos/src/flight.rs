//! The single-flight table now lives in `mcp-auth-core` (the token exchanger in `mcp-auth-remote` shares
//! it); re-exported here so this crate's modules keep their path.

pub(crate) use mcp_auth_core::flight::SingleFlight;
