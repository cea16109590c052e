//! The verifier of the proxy's own access tokens on the MCP endpoint: the JWT checked locally (signature,
//! issuer, audience, expiry, `typ: at+jwt`), then whether its session was revoked, an answer kept in
//! memory for a few seconds so the hot path makes no store call for most requests.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError, async_trait};
use mcp_auth_jwt::JwtVerifier;

use crate::proxy::Inner;

/// How many sessions' answers are remembered.
const MAX_SESSIONS: usize = 100_000;

pub(crate) struct ProxyTokenVerifier {
    jwt: JwtVerifier,
    inner: Arc<Inner>,
}

/// What this instance knows of sessions: sid -> (when checked, revoked?). A revoked session stays
/// revoked; a live one is checked again after the revocation-check interval.
#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    sessions: Mutex<HashMap<String, (Instant, bool)>>,
}

impl SessionCache {
    fn remembered(&self, sid: &str, interval: Duration) -> Option<bool> {
        let sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (checked, revoked) = sessions.get(sid)?;
        (*revoked || checked.elapsed() < interval).then_some(*revoked)
    }

    pub(crate) fn remember(&self, sid: &str, revoked: bool, interval: Duration) {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, (checked, revoked)| *revoked || checked.elapsed() < interval);
            if sessions.len() >= MAX_SESSIONS {
                sessions.clear();
            }
        }
        // A revocation is final: an answer read before it (racing the revocation listener) never undoes it.
        let entry = sessions.entry(sid.to_owned()).or_insert((Instant::now(), revoked));
        *entry = (Instant::now(), revoked || entry.1);
    }
}

impl fmt::Debug for ProxyTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyTokenVerifier").field("jwt", &self.jwt).finish_non_exhaustive()
    }
}

impl ProxyTokenVerifier {
    pub(crate) fn new(jwt: JwtVerifier, inner: Arc<Inner>) -> Self {
        Self { jwt, inner }
    }

    async fn is_revoked(&self, sid: &str) -> Result<bool, VerifyError> {
        let interval = self.inner.lifetimes.revocation_check;
        if let Some(revoked) = self.inner.sessions.remembered(sid, interval) {
            return Ok(revoked);
        }
        let state =
            self.inner.state().await.map_err(|e| {
                VerifyError::unavailable("the proxy's store cannot be reached", e.to_string())
            })?;
        let revoked = state
            .grants
            .is_session_revoked(sid)
            .await
            .map_err(|e| VerifyError::unavailable("the proxy's store cannot be reached", e))?;
        self.inner.sessions.remember(sid, revoked, interval);
        Ok(revoked)
    }
}

/// The session (`sid`) a proxy token belongs to: every token the proxy issues names one.
fn session_of(access: &AccessToken) -> Result<&str, VerifyError> {
    access
        .claim("sid")
        .and_then(|v| v.as_str())
        .ok_or_else(|| VerifyError::invalid("the token names no session"))
}

fn unless_revoked(access: AccessToken, revoked: bool) -> Result<AccessToken, VerifyError> {
    if revoked { Err(VerifyError::invalid("the token's grant has been revoked")) } else { Ok(access) }
}

#[async_trait]
impl TokenVerifier for ProxyTokenVerifier {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let access = self.jwt.verify(token).await?;
        let revoked = self.is_revoked(session_of(&access)?).await?;
        unless_revoked(access, revoked)
    }

    /// At once when the JWT is in the verified-token cache and the session's revocation state was
    /// looked up within the check interval.
    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        let access = match self.jwt.verify_now(token)? {
            Ok(access) => access,
            Err(refused) => return Some(Err(refused)),
        };
        let revoked = match session_of(&access) {
            Ok(sid) => self.inner.sessions.remembered(sid, self.inner.lifetimes.revocation_check)?,
            Err(refused) => return Some(Err(refused)),
        };
        Some(unless_revoked(access, revoked))
    }

    fn required_scopes(&self) -> &[String] {
        self.jwt.required_scopes()
    }
}
