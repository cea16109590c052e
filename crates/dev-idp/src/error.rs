//! The crate's error type.

use std::net::SocketAddr;

use mcp_auth_core::{BoxError, StoreError};
use mcp_auth_jwt::JwtError;

/// Why building, starting or driving the development identity provider failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIdpError {
    /// The configuration is contradictory or incomplete; the message says what to change.
    #[error("invalid dev-idp configuration: {0}")]
    InvalidConfig(String),
    /// A configuration file does not parse.
    #[error("cannot parse the dev-idp configuration")]
    Config {
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// The server was asked to listen on a non-loopback address without
    /// `insecure_allow_non_loopback(true)`.
    #[error(
        "refusing to listen on {addr}: the dev IdP is for development only and listens on loopback \
         unless `insecure_allow_non_loopback(true)` (--insecure-allow-non-loopback) is set"
    )]
    NonLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
    /// An I/O operation failed (binding the socket, reading a file).
    #[error("I/O error while {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Generating, loading or using a signing key failed, or a token could not be signed.
    #[error("signing key or token error")]
    Jwt(#[from] JwtError),
    /// The state store failed.
    #[error("state store failed")]
    Store(#[from] StoreError),
    /// No configured user has this id or email.
    #[error("no configured user has the id or email {0:?}")]
    UnknownUser(String),
    /// No signing key has this key id.
    #[error("no signing key has the kid {0:?}")]
    UnknownKey(String),
    /// Refused to remove the key that currently signs.
    #[error("the key {0:?} is the current signing key; rotate first")]
    CurrentKey(String),
}
