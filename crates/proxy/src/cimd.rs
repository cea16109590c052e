//! Client ID Metadata Documents (MCP authorization specification 2026-07-28, "Client ID Metadata
//! Documents"; draft-ietf-oauth-client-id-metadata-document).

mod address;
mod cache;
mod client_id;
mod document;
mod fetch;
