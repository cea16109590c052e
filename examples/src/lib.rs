//! Shared helpers for the mcp-auth examples.
