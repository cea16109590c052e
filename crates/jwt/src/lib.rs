//! Hardened, fast JWT verification and signing for **mcp-auth**.
//!
//! - [`JwtVerifier`]: verifies access tokens against a JWKS URL (cached, rotation-aware), a static JWKS,
//!   a PEM public key or an HMAC secret, and implements [`mcp_auth_core::TokenVerifier`]. Stricter than
//!   common verifiers: `alg` allow-list, no `none`, key type must fit the algorithm, duplicate JSON
//!   members refused, unknown `crit` refused, issuer and audience required unless waived with an
//!   `insecure_*` method; an optional cache of verified tokens, keyed by a keyed fingerprint of each
//!   token (never the token itself).
//! - [`JwtIssuer`]: signs access, refresh and OpenID Connect ID tokens (HMAC derived with HKDF, or
//!   ES256/EdDSA/RS256 key pairs), rotates and removes keys at run time, publishes the public JWKS, and
//!   checks its own access tokens at its own endpoints ([`JwtIssuer::verify_own_access_token`]).
//!
//! The crate has no optional features.
//!
//! Every failure is a [`JwtError`] variant; through [`TokenVerifier`](mcp_auth_core::TokenVerifier) it
//! becomes [`VerifyError`](mcp_auth_core::VerifyError) `Invalid` (401), `InsufficientScope` (403) or, when
//! the JWKS URL has never answered or its last keys are past the maximum stale age
//! ([`JwtVerifierBuilder::jwks_max_stale`]), `Unavailable` (503).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let issuer = JwtIssuer::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("https://mcp.example.com/mcp")
//!     .signing_key(SigningKey::generate_es256("key-1")?)
//!     .build()?;
//! let token = issuer.sign_access(&TokenRequest::new("user_1").client_id("client_a").scopes(["mcp"]))?;
//! let verifier = issuer.access_verifier().required_scopes(["mcp"]).build()?;
//! let access = verifier.verify_jwt(token.expose()).await?;
//! assert_eq!(access.subject.as_deref(), Some("user_1"));
//! # Ok::<(), mcp_auth_jwt::JwtError>(())
//! # }).unwrap();
//! ```

mod cache;
mod error;
mod issuer;
mod jwks;
mod keys;
mod shared;
mod strict;
mod verifier;

pub use error::{JwtError, Part};
pub use issuer::{
    HKDF_INFO, HKDF_SALT, IdTokenRequest, IssuedToken, JwtIssuer, JwtIssuerBuilder, SIGNING_KEY_ENV,
    SigningKey, TokenRequest,
};
pub use verifier::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, JwtVerifier, JwtVerifierBuilder};

pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::JwkSet;
