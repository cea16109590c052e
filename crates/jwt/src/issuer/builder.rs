//! [`JwtIssuerBuilder`]: the issuer's settings and the checks `build()` makes.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use mcp_auth_core::clock::{SharedClock, system_clock};

use super::{IssuerInner, JwtIssuer, SIGNING_KEY_ENV, SigningKey, published};
use crate::error::JwtError;
use crate::shared::SharedKeys;
use crate::verifier::JwtVerifier;

/// Builds a [`JwtIssuer`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_jwt::{JwtIssuer, SigningKey};
///
/// let issuer = JwtIssuer::builder()
///     .issuer("https://auth.example.com")
///     .audience("https://mcp.example.com/mcp") // the default `aud`; optional
///     .signing_key(SigningKey::generate_es256("key-2")?)
///     .verification_key(SigningKey::generate_es256("key-1")?) // the previous key, still verifying
///     .access_ttl(Duration::from_secs(900))
///     .build()?;
/// assert_eq!(issuer.key_ids(), ["key-1", "key-2"]);
/// # Ok::<(), mcp_auth_jwt::JwtError>(())
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct JwtIssuerBuilder {
    issuer: Option<String>,
    audience: Option<String>,
    active: Option<SigningKey>,
    previous: Vec<SigningKey>,
    access_ttl: Option<Duration>,
    refresh_ttl: Option<Duration>,
    clock: Option<SharedClock>,
}

impl JwtIssuerBuilder {
    /// The `iss` of every token (required).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The default `aud` of access and refresh tokens, normally the protected MCP resource URL;
    /// [`TokenRequest::audience`](crate::TokenRequest::audience) overrides it per token. Optional: without
    /// it, a token whose request names no audience carries no `aud`, and
    /// [`access_verifier`](JwtIssuer::access_verifier) refuses to build until it is given one.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The key new tokens are signed with (required).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.active = Some(key);
        self
    }

    /// A previous signing key whose tokens still verify (add the old key here when rotating at start-up).
    /// Give several oldest first; [`JwtIssuer::rotate`] does the same on a running issuer.
    pub fn verification_key(mut self, key: SigningKey) -> Self {
        self.previous.push(key);
        self
    }

    /// Lifetime of access tokens, and the default lifetime of ID tokens (default 1 hour).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = Some(ttl);
        self
    }

    /// Lifetime of refresh tokens (default 30 days).
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = Some(ttl);
        self
    }

    /// The clock for `iat`/`exp` and for the verifiers it makes.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks the settings and builds the issuer.
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] when the issuer or signing key is missing, two keys share a `kid`, or a
    /// lifetime is under one second.
    pub fn build(self) -> Result<JwtIssuer, JwtError> {
        let issuer =
            self.issuer.ok_or_else(|| JwtError::config("issuer", "set .issuer(..) to this server's URL"))?;
        let active = self.active.ok_or_else(|| {
            JwtError::config(
                "signing_key",
                format!("set .signing_key(..), e.g. SigningKey::generate_es256(..) or a secret in {SIGNING_KEY_ENV}"),
            )
        })?;
        let mut ring: Vec<Arc<SigningKey>> = Vec::with_capacity(self.previous.len() + 1);
        for key in self.previous.into_iter().chain(std::iter::once(active)) {
            if ring.iter().any(|k| k.kid == key.kid) {
                return Err(JwtError::config(
                    "verification_key",
                    format!("two keys share the kid {:?}", key.kid),
                ));
            }
            ring.push(Arc::new(key));
        }
        let access_ttl = self.access_ttl.unwrap_or(Duration::from_secs(3600));
        let refresh_ttl = self.refresh_ttl.unwrap_or(Duration::from_secs(30 * 24 * 3600));
        if access_ttl.as_secs() == 0 || refresh_ttl.as_secs() == 0 {
            return Err(JwtError::config(
                "access_ttl/refresh_ttl",
                "token lifetimes must be at least one second",
            ));
        }
        let clock = self.clock.unwrap_or_else(system_clock);
        let (keys, algorithms) = published(&ring);
        let shared = Arc::new(SharedKeys::new(keys, algorithms));
        // The issuer checks its own tokens on its own clock, so without leeway, and not for an audience:
        // it is not the audience of its own tokens (see `JwtIssuer::verify_own_access_token`).
        let own = || {
            JwtVerifier::builder()
                .shared_keys(Arc::clone(&shared))
                .issuer(issuer.clone())
                .insecure_skip_audience()
                .clock(Arc::clone(&clock))
        };
        let refresh_verifier = own().refresh_tokens().build()?;
        let own_access_verifier =
            own().require_access_token_type().own_access_tokens().leeway(Duration::ZERO).build()?;
        Ok(JwtIssuer {
            inner: Arc::new(IssuerInner {
                issuer,
                audience: self.audience,
                ring: RwLock::new(ring),
                shared,
                access_ttl,
                refresh_ttl,
                clock,
                refresh_verifier,
                own_access_verifier,
            }),
        })
    }
}
