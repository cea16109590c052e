//! [`GrantStore`]: authorization codes, refresh-token families and revocations.

mod codes;
mod refresh;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::StoreError;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::store::{JsonCollection, KvStorage};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::codes::{CodeGrant, NewCode};
use self::refresh::TokenEntry;
pub use self::refresh::{RefreshFamily, Refreshed, Rotation};
use crate::secrets::KeyedHasher;

/// The default authorization code lifetime: one minute.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(60);
/// The default refresh-token family lifetime: thirty days.
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Extra data a grant carries for the server that issued it (the dev IdP carries nothing, `()`; the
/// proxy carries its upstream token references).
pub trait GrantData: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> GrantData for T {}

/// Authorization codes, refresh-token families and revocations, in a [`KvStorage`] shared by every
/// instance.
///
/// - **Codes** are stored under their keyed hash ([`KeyedHasher`]) with a short TTL and redeemed with
///   `take`, so of any number of concurrent redemptions exactly one gets the grant. A redeemed code
///   leaves a marker: presenting it again revokes everything issued from it (RFC 6749 §4.1.2).
/// - **Refresh tokens** belong to a family (one per authorization, named by its session id `sid`, the
///   `sid` claim of every access token issued from it). The family record holds the current
///   generation; each token's entry, under the token's keyed hash, names its family and generation.
///   Rotation checks the presented token is the current generation and advances the family with one
///   compare-and-swap: of two concurrent refreshes with the same token exactly one wins, and the other
///   is treated as reuse. Any reuse of a rotated token revokes the whole family (OAuth 2.1 §4.3.1,
///   RFC 9700 §4.14.2). A refresh may narrow its access token's scope; the family keeps every granted
///   scope (RFC 6749 §6).
/// - **Revocations** (a family by its `sid`, an access token by its `jti`) live until everything they
///   cover has expired.
///
/// Raw codes and tokens are never keys or values in the store.
///
/// # Examples
///
/// The whole life of a grant: a checked request, a code, its redemption, a family, a rotation, and the
/// rotated token's reuse revoking everything.
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::store::{KvStorage, MemoryStore};
/// use mcp_auth_oauth_server::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
/// let registry = ClientRegistry::new(Arc::clone(&store), "demo", RegistrationPolicy::default())
///     .with_client(Client::public("cli", ["http://127.0.0.1/cb"]).unwrap().native())
///     .unwrap();
/// let grants: GrantStore<()> = GrantStore::new(store, "demo", KeyedHasher::random().unwrap());
///
/// let query = "response_type=code&client_id=cli&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb\
///     &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=mcp";
/// let request = AuthorizationRequest::parse(Some(query), &registry, &AuthorizePolicy::default()).await.unwrap();
/// let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
///
/// let client = registry.get("cli").await.unwrap().unwrap();
/// let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// let grant = grants
///     .redeem_code(&code, &client, "http://127.0.0.1:5000/cb", Some(verifier), None)
///     .await
///     .unwrap();
/// let (family, first) = grants.start_family(grant).await.unwrap();
/// let rotated = grants.rotate_refresh(&first, &client, |f| narrow_scopes(None, &f.scopes)).await.unwrap();
/// assert_eq!(rotated.checked, ["mcp"]);
/// // Presenting the spent token again is reuse: the family is revoked, the new token included.
/// assert!(grants.rotate_refresh(&first, &client, |_| Ok(())).await.is_err());
/// assert!(grants.is_session_revoked(&family.sid).await.unwrap());
/// assert!(grants.rotate_refresh(&rotated.refresh_token, &client, |_| Ok(())).await.is_err());
/// // A code is single use.
/// assert!(grants.redeem_code(&code, &client, "http://127.0.0.1:5000/cb", Some(verifier), None).await.is_err());
/// # });
/// ```
pub struct GrantStore<E: GrantData> {
    codes: JsonCollection<CodeGrant<E>>,
    redeemed: JsonCollection<String>,
    tokens: JsonCollection<TokenEntry>,
    families: JsonCollection<RefreshFamily<E>>,
    revoked_sessions: JsonCollection<u64>,
    revoked_access: JsonCollection<u64>,
    replays: JsonCollection<serde_json::Value>,
    hasher: KeyedHasher,
    clock: SharedClock,
    code_ttl: Duration,
    refresh_ttl: Duration,
    access_ttl: Duration,
    refresh_grace: Duration,
    on_revoke: Option<RevocationListener>,
}

/// Called with the session id of every session this store revokes (for a server's in-memory caches).
pub type RevocationListener = Arc<dyn Fn(&str) + Send + Sync>;

impl<E: GrantData> Clone for GrantStore<E> {
    fn clone(&self) -> Self {
        Self {
            codes: self.codes.clone(),
            redeemed: self.redeemed.clone(),
            tokens: self.tokens.clone(),
            families: self.families.clone(),
            revoked_sessions: self.revoked_sessions.clone(),
            revoked_access: self.revoked_access.clone(),
            replays: self.replays.clone(),
            hasher: self.hasher.clone(),
            clock: Arc::clone(&self.clock),
            code_ttl: self.code_ttl,
            refresh_ttl: self.refresh_ttl,
            access_ttl: self.access_ttl,
            refresh_grace: self.refresh_grace,
            on_revoke: self.on_revoke.clone(),
        }
    }
}

impl<E: GrantData> fmt::Debug for GrantStore<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantStore")
            .field("codes", &self.codes.name())
            .field("families", &self.families.name())
            .field("code_ttl", &self.code_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

impl<E: GrantData> GrantStore<E> {
    /// A grant store over `store`, with collections named `<namespace>_codes`, `<namespace>_families` and
    /// so on, keys hashed with `hasher`, the system clock, and the default lifetimes.
    pub fn new(store: Arc<dyn KvStorage>, namespace: &str, hasher: KeyedHasher) -> Self {
        let collection = |name: &str| format!("{namespace}_{name}");
        Self {
            codes: JsonCollection::new(Arc::clone(&store), collection("codes")),
            redeemed: JsonCollection::new(Arc::clone(&store), collection("codes_redeemed")),
            tokens: JsonCollection::new(Arc::clone(&store), collection("refresh_tokens")),
            families: JsonCollection::new(Arc::clone(&store), collection("families")),
            revoked_sessions: JsonCollection::new(Arc::clone(&store), collection("revoked_sessions")),
            revoked_access: JsonCollection::new(Arc::clone(&store), collection("revoked_access")),
            replays: JsonCollection::new(store, collection("refresh_replays")),
            hasher,
            clock: system_clock(),
            code_ttl: DEFAULT_CODE_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            access_ttl: Duration::from_secs(3600),
            refresh_grace: Duration::ZERO,
            on_revoke: None,
        }
    }

    /// Calls `listener` with the session id of every session this store revokes, whatever the reason
    /// (a revocation request, a replayed code, a reused refresh token), so a server can update what it
    /// keeps in memory at once. Revocations made by other instances are not seen here.
    #[must_use]
    pub fn with_revocation_listener(mut self, listener: RevocationListener) -> Self {
        self.on_revoke = Some(listener);
        self
    }

    /// A grace window for refresh-token rotation (default none): within it, the token just rotated may
    /// be presented again (a client that retried, or refreshed from two places at once) and gets the
    /// same answer as the rotation it lost to, through [`GrantStore::rotate_refresh_with_grace`] and
    /// [`GrantStore::remember_rotation`]. Past it, reuse revokes the family as always. Keep it short
    /// (seconds): within it a stolen token is as good as the answer it was rotated into.
    #[must_use]
    pub fn with_refresh_grace(mut self, grace: Duration) -> Self {
        self.refresh_grace = grace;
        self
    }

    /// The clock for lifetimes.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a code may wait to be redeemed (default one minute).
    #[must_use]
    pub fn with_code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How long a refresh-token family lives (default thirty days).
    #[must_use]
    pub fn with_refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How long access tokens live (default one hour): revocations are kept at least this long.
    #[must_use]
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The refresh-family lifetime.
    #[must_use]
    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }

    /// Revokes the family `sid`: its refresh tokens stop working and
    /// [`is_session_revoked`](Self::is_session_revoked) answers `true` for its access tokens. Idempotent.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn revoke_session(&self, sid: &str) -> Result<(), StoreError> {
        let ttl = self.refresh_ttl.max(self.access_ttl) + Duration::from_secs(60);
        let until = self.now().saturating_add(ttl.as_secs());
        self.revoked_sessions.put(sid, &until, Some(ttl)).await?;
        tracing::info!(sid, "token family revoked");
        if let Some(listener) = &self.on_revoke {
            listener(sid);
        }
        Ok(())
    }

    /// Whether the family `sid` was revoked.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn is_session_revoked(&self, sid: &str) -> Result<bool, StoreError> {
        Ok(self.revoked_sessions.get(sid).await?.is_some())
    }

    /// Revokes one access token by its `jti` until its `exp` (Unix seconds) has passed.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn revoke_access_token(&self, jti: &str, exp: u64) -> Result<(), StoreError> {
        let ttl = Duration::from_secs(exp.saturating_sub(self.now()).max(1) + 60);
        self.revoked_access.put(&self.hasher.hash(jti), &exp, Some(ttl)).await
    }

    /// Whether an access token is revoked, by its own `jti` or through its family's `sid`.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn is_access_token_revoked(
        &self,
        jti: Option<&str>,
        sid: Option<&str>,
    ) -> Result<bool, StoreError> {
        if let Some(jti) = jti
            && self.revoked_access.get(&self.hasher.hash(jti)).await?.is_some()
        {
            return Ok(true);
        }
        match sid {
            Some(sid) => self.is_session_revoked(sid).await,
            None => Ok(false),
        }
    }
}
