//! Refresh-token families: rotation in one compare-and-swap, reuse detection that revokes the family.

use std::time::Duration;

use mcp_auth_core::metrics::FlowEvent;
use serde::{Deserialize, Serialize};

use super::{CodeGrant, GrantData, GrantStore};
use crate::client::Client;
use crate::error::{OAuthError, record_flow};
use crate::secrets::random_token;

/// One authorization's refresh-token family.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshFamily<E> {
    /// The session id naming the family (the `sid` claim of its access tokens).
    pub sid: String,
    /// The client it belongs to.
    pub client_id: String,
    /// Who signed in.
    pub subject: String,
    /// Every scope granted; refreshes may narrow their access tokens, never this.
    pub scopes: Vec<String>,
    /// The RFC 8707 resource.
    pub resource: Option<String>,
    /// When the person signed in (Unix seconds).
    pub auth_time: u64,
    /// When the family ends, however often it is refreshed (Unix seconds).
    pub expires_at: u64,
    /// The current token generation (starts at 1).
    generation: u64,
    /// When the family last rotated (Unix milliseconds; 0 before the first rotation).
    #[serde(default)]
    rotated_at_ms: u64,
    /// The issuing server's own data.
    pub extra: E,
}

impl<E> RefreshFamily<E> {
    /// How many times the family was refreshed (1 for a fresh family).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// What a refresh token's entry records: its family and generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TokenEntry {
    sid: String,
    generation: u64,
}

/// A successful rotation: the family as it now is, the new refresh token, and what the caller's check
/// returned. `Debug` hides the token.
#[non_exhaustive]
pub struct Rotation<E, T> {
    /// The family after the rotation.
    pub family: RefreshFamily<E>,
    /// The new refresh token, to send to the client (never stored).
    pub refresh_token: String,
    /// What the check passed to [`GrantStore::rotate_refresh`] returned (say, the narrowed scopes).
    pub checked: T,
}

impl<E: std::fmt::Debug, T: std::fmt::Debug> std::fmt::Debug for Rotation<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("family", &self.family)
            .field("refresh_token", &"[REDACTED]")
            .field("checked", &self.checked)
            .finish()
    }
}

/// The outcome of [`GrantStore::rotate_refresh_with_grace`]. `Debug` hides the tokens.
#[non_exhaustive]
pub enum Refreshed<E, T> {
    /// The token was rotated: answer with a new pair, then [`GrantStore::remember_rotation`] it.
    Rotated(Rotation<E, T>),
    /// The token was rotated moments ago (within the grace window): this is the answer that rotation
    /// gave, as remembered. Send it again.
    Replayed(serde_json::Value),
}

impl<E: std::fmt::Debug, T: std::fmt::Debug> std::fmt::Debug for Refreshed<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rotated(rotation) => f.debug_tuple("Rotated").field(rotation).finish(),
            Self::Replayed(_) => f.debug_tuple("Replayed").field(&"[REDACTED]").finish(),
        }
    }
}

/// How long a request within the grace window waits for the answer of the rotation it lost to.
const REPLAY_WAIT: Duration = Duration::from_secs(5);
const REPLAY_POLL: Duration = Duration::from_millis(25);

fn reused() -> OAuthError {
    OAuthError::invalid_grant("this refresh token was already used; every token of its grant is now revoked")
}

fn random_refresh_token() -> Result<String, OAuthError> {
    random_token(32).map(|t| format!("rt_{t}")).map_err(|error| {
        tracing::error!(%error, "no randomness for a refresh token");
        OAuthError::server_error()
    })
}

impl<E: GrantData> GrantStore<E> {
    fn now_ms(&self) -> u64 {
        let since_epoch = self.clock.now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
    }

    fn remaining(&self, expires_at: u64) -> Option<Duration> {
        let left = expires_at.saturating_sub(self.now());
        (left > 0).then(|| Duration::from_secs(left))
    }

    /// Starts the family of a redeemed code (named by the code's session id) and returns it with its
    /// first refresh token.
    ///
    /// # Errors
    ///
    /// `invalid_grant` when the session was already revoked (its code was replayed meanwhile), the
    /// store's errors.
    pub async fn start_family(&self, grant: CodeGrant<E>) -> Result<(RefreshFamily<E>, String), OAuthError> {
        let token = random_refresh_token()?;
        let expires_at = self.now().saturating_add(self.refresh_ttl.as_secs());
        let family = RefreshFamily {
            sid: grant.sid,
            client_id: grant.client_id,
            subject: grant.subject,
            scopes: grant.scopes,
            resource: grant.resource,
            auth_time: grant.auth_time,
            expires_at,
            generation: 1,
            rotated_at_ms: 0,
            extra: grant.extra,
        };
        let entry = TokenEntry { sid: family.sid.clone(), generation: 1 };
        self.tokens.put(&self.hasher.hash(&token), &entry, Some(self.refresh_ttl)).await?;
        if !self.families.put_if_absent(&family.sid, &family, Some(self.refresh_ttl)).await? {
            return Err(OAuthError::invalid_grant("this authorization was already used"));
        }
        if self.is_session_revoked(&family.sid).await? {
            return Err(OAuthError::invalid_grant("this authorization has been revoked"));
        }
        Ok((family, token))
    }

    /// Looks a refresh token up without using it: its family when the token is the family's current
    /// one, issued to `client`, unexpired and unrevoked (for introspection).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn refresh_family(
        &self,
        token: &str,
        client: &Client,
    ) -> Result<Option<RefreshFamily<E>>, OAuthError> {
        let Some(entry) = self.tokens.get(&self.hasher.hash(token)).await? else { return Ok(None) };
        let Some(family) = self.families.get(&entry.sid).await? else { return Ok(None) };
        let live = family.client_id == client.client_id
            && family.generation == entry.generation
            && family.expires_at > self.now()
            && !self.is_session_revoked(&family.sid).await?;
        Ok(live.then_some(family))
    }

    /// Rotates a refresh token (RFC 6749 §6, OAuth 2.1 §4.3.1).
    ///
    /// The token must be its family's current one, issued to `client`, unexpired and unrevoked. Then
    /// `check` runs on the family (narrow the scope, compare the resource...): if it fails the token
    /// stays usable. Then the family advances one generation with a compare-and-swap; the old token is
    /// spent. A rotated token presented again, or a rotation that loses the race to a concurrent one
    /// with the same token, revokes the whole family.
    ///
    /// # Errors
    ///
    /// `invalid_grant` for an unknown, expired, revoked, reused or foreign token; whatever `check`
    /// returns; the store's errors.
    pub async fn rotate_refresh<T>(
        &self,
        token: &str,
        client: &Client,
        check: impl FnOnce(&RefreshFamily<E>) -> Result<T, OAuthError>,
    ) -> Result<Rotation<E, T>, OAuthError> {
        match self.rotate(token, client, check, false).await? {
            Refreshed::Rotated(rotation) => Ok(rotation),
            Refreshed::Replayed(_) => Err(reused()),
        }
    }

    /// Rotates a refresh token like [`GrantStore::rotate_refresh`], with the store's grace window
    /// ([`GrantStore::with_refresh_grace`]): the token rotated last, presented again within the window
    /// by the same client (a retry, or a second instance of the client refreshing at the same moment,
    /// on this server instance or another), gets [`Refreshed::Replayed`] with the answer the rotation
    /// gave, instead of revoking the family. The winner must call [`GrantStore::remember_rotation`] with
    /// its answer; a request in the window waits a few seconds for it, then answers
    /// `temporarily_unavailable` (the client retries). Older tokens, and any reuse past the window,
    /// revoke the family.
    ///
    /// # Errors
    ///
    /// As [`GrantStore::rotate_refresh`]; `temporarily_unavailable` when the rotation it lost to
    /// remembered no answer in time.
    pub async fn rotate_refresh_with_grace<T>(
        &self,
        token: &str,
        client: &Client,
        check: impl FnOnce(&RefreshFamily<E>) -> Result<T, OAuthError>,
    ) -> Result<Refreshed<E, T>, OAuthError> {
        self.rotate(token, client, check, !self.refresh_grace.is_zero()).await
    }

    /// Remembers the answer to the rotation of `spent_token` for the grace window, so a retry with the
    /// same token gets it again. The answer holds the new tokens: keep the store encrypted
    /// (`FernetStore`) when it is shared. Does nothing without a grace window.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn remember_rotation(
        &self,
        spent_token: &str,
        answer: &serde_json::Value,
    ) -> Result<(), OAuthError> {
        if self.refresh_grace.is_zero() {
            return Ok(());
        }
        let ttl = self.refresh_grace.saturating_add(REPLAY_WAIT);
        self.replays.put(&self.hasher.hash(spent_token), answer, Some(ttl)).await?;
        Ok(())
    }

    /// [`GrantStore::rotate_inner`], counted as a `refresh` flow step.
    async fn rotate<T>(
        &self,
        token: &str,
        client: &Client,
        check: impl FnOnce(&RefreshFamily<E>) -> Result<T, OAuthError>,
        grace: bool,
    ) -> Result<Refreshed<E, T>, OAuthError> {
        let result = self.rotate_inner(token, client, check, grace).await;
        record_flow(FlowEvent::Refresh, &result);
        result
    }

    async fn rotate_inner<T>(
        &self,
        token: &str,
        client: &Client,
        check: impl FnOnce(&RefreshFamily<E>) -> Result<T, OAuthError>,
        grace: bool,
    ) -> Result<Refreshed<E, T>, OAuthError> {
        let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let token_key = self.hasher.hash(token);
        let Some(entry) = self.tokens.get(&token_key).await? else { return Err(invalid()) };
        let Some(current) = self.families.get_versioned(&entry.sid).await? else { return Err(invalid()) };
        let family = current.value.clone();
        if self.is_session_revoked(&family.sid).await? {
            return Err(OAuthError::invalid_grant("the refresh token has been revoked"));
        }
        if family.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        let Some(ttl) = self.remaining(family.expires_at) else {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        };
        if entry.generation != family.generation {
            let since_rotation = self.now_ms().saturating_sub(family.rotated_at_ms);
            let just_rotated = entry.generation + 1 == family.generation
                && u128::from(since_rotation) <= self.refresh_grace.as_millis();
            if grace && just_rotated {
                return self.replay(&token_key, &family.sid).await;
            }
            tracing::warn!(sid = %family.sid, "rotated refresh token reused; revoking its whole family");
            self.revoke_reused(&family.sid).await?;
            return Err(reused());
        }
        let checked = check(&family)?;
        let next =
            RefreshFamily { generation: family.generation + 1, rotated_at_ms: self.now_ms(), ..family };
        let new_token = random_refresh_token()?;
        // The new token's entry goes in first: if the swap then loses, the entry points at a revoked family.
        let new_key = self.hasher.hash(&new_token);
        let new_entry = TokenEntry { sid: next.sid.clone(), generation: next.generation };
        self.tokens.put(&new_key, &new_entry, Some(ttl)).await?;
        if !self.families.compare_and_swap(&next.sid, Some(&current), &next, Some(ttl)).await? {
            if grace {
                // Another request with this token won the same rotation: this one gets its answer.
                self.tokens.delete(&new_key).await?;
                return self.replay(&token_key, &next.sid).await;
            }
            tracing::warn!(sid = %next.sid, "concurrent refresh with one token; revoking its whole family");
            self.revoke_reused(&next.sid).await?;
            return Err(reused());
        }
        Ok(Refreshed::Rotated(Rotation { family: next, refresh_token: new_token, checked }))
    }

    /// Revokes the family of a reused refresh token, counted as a `refresh_reuse` flow step.
    async fn revoke_reused(&self, sid: &str) -> Result<(), OAuthError> {
        let revoked = self.revoke_session(sid).await.map_err(OAuthError::from);
        record_flow(FlowEvent::RefreshReuse, &revoked);
        revoked
    }

    /// Waits (bounded) for the answer the winning rotation of `token_key` remembers.
    async fn replay<T>(&self, token_key: &str, sid: &str) -> Result<Refreshed<E, T>, OAuthError> {
        let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
        loop {
            if let Some(answer) = self.replays.get(token_key).await? {
                tracing::info!(sid, "refresh retried within the grace window; the same answer is sent again");
                return Ok(Refreshed::Replayed(answer));
            }
            if self.is_session_revoked(sid).await? {
                return Err(OAuthError::invalid_grant("the refresh token has been revoked"));
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    sid,
                    "the rotation this retry lost to left no answer; the client should retry"
                );
                return Err(OAuthError::temporarily_unavailable(1));
            }
            tokio::time::sleep(REPLAY_POLL).await;
        }
    }

    /// Revokes the family of a refresh token on behalf of `client` (RFC 7009). Returns whether the token
    /// was known.
    ///
    /// # Errors
    ///
    /// `unauthorized_client` when the token belongs to another client, the store's errors.
    pub async fn revoke_refresh(&self, token: &str, client: &Client) -> Result<bool, OAuthError> {
        Ok(self.revoke_refresh_family(token, client).await?.is_some())
    }

    /// Revokes the family of a refresh token (any generation: a spent token still names its grant) on
    /// behalf of `client`, and returns the family, so the server can retire what it keeps beside it.
    ///
    /// # Errors
    ///
    /// `unauthorized_client` when the token belongs to another client, the store's errors.
    pub async fn revoke_refresh_family(
        &self,
        token: &str,
        client: &Client,
    ) -> Result<Option<RefreshFamily<E>>, OAuthError> {
        let Some(entry) = self.tokens.get(&self.hasher.hash(token)).await? else { return Ok(None) };
        let Some(family) = self.families.get(&entry.sid).await? else { return Ok(None) };
        if family.client_id != client.client_id {
            return Err(OAuthError::unauthorized_client("the token was issued to another client"));
        }
        self.revoke_session(&family.sid).await?;
        Ok(Some(family))
    }

    /// The family a session id names, whatever its state (for a server that revokes by `sid`).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn family(&self, sid: &str) -> Result<Option<RefreshFamily<E>>, OAuthError> {
        Ok(self.families.get(sid).await?)
    }
}
