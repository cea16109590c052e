//! [`DevIdp`]: the provider's state, keys and router, without a socket.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::metadata::AuthorizationServerMetadata;
use mcp_auth_core::store::{JsonCollection, KvStorage};
use mcp_auth_jwt::{JwtError, JwtIssuer, SigningKey};
use mcp_auth_oauth_server::{
    AuthorizePolicy, ClientRegistry, CorsPolicy, GrantStore, KeyedHasher, OAuthError, ServerMetadata,
};
use tokio::sync::OnceCell;

use crate::config::DevUser;
use crate::endpoints::pages::Pending;
use crate::error::DevIdpError;
use crate::tokens::{self, Subject};

/// The client id stamped on tokens minted by [`DevIdp::issue_access_token`].
pub const TEST_CLIENT_ID: &str = "mcp-auth-dev-idp";

/// The collection prefix of everything the dev IdP stores.
pub(crate) const NAMESPACE: &str = "dev_idp";

/// State that needs the store before it exists: the store-key secret every instance sharing the store
/// agrees on, and the grant store keyed by it. Loaded on first use, so the provider starts even while
/// its store is down (requests answer 503 until it is back).
pub(crate) struct StoreState {
    pub(crate) grants: GrantStore<()>,
    pub(crate) pending: JsonCollection<Pending>,
    pub(crate) hasher: KeyedHasher,
}

/// Everything the handlers share.
pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) users: Vec<DevUser>,
    pub(crate) default_user: Option<String>,
    pub(crate) registry: ClientRegistry,
    pub(crate) store: Arc<dyn KvStorage>,
    pub(crate) store_state: OnceCell<StoreState>,
    pub(crate) clock: SharedClock,
    pub(crate) jwt: JwtIssuer,
    pub(crate) auto_approve: bool,
    pub(crate) default_audience: Option<String>,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) code_ttl: Duration,
    pub(crate) authorize_policy: AuthorizePolicy,
    pub(crate) metadata: ServerMetadata,
    pub(crate) cors: CorsPolicy,
    /// Token-exchange requests received (refused ones included), for tests that count upstream calls.
    pub(crate) token_exchanges: AtomicU64,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("issuer", &self.issuer)
            .field("users", &self.users)
            .field("registry", &self.registry)
            .field("jwt", &self.jwt)
            .field("auto_approve", &self.auto_approve)
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The store-backed state, loaded on first use.
    pub(crate) async fn state(&self) -> Result<&StoreState, OAuthError> {
        self.store_state
            .get_or_try_init(|| async {
                let hasher = KeyedHasher::shared_in(self.store.as_ref()).await.map_err(|error| {
                    tracing::error!(%error, "cannot load the store-key secret");
                    match error {
                        mcp_auth_oauth_server::SharedKeyError::Store(store) => OAuthError::from(store),
                        _ => OAuthError::server_error(),
                    }
                })?;
                let grants = GrantStore::new(Arc::clone(&self.store), NAMESPACE, hasher.clone())
                    .with_clock(Arc::clone(&self.clock))
                    .with_code_ttl(self.code_ttl)
                    .with_refresh_ttl(self.refresh_ttl)
                    .with_access_ttl(self.access_ttl);
                let pending = JsonCollection::new(Arc::clone(&self.store), format!("{NAMESPACE}_pending"));
                Ok::<_, OAuthError>(StoreState { grants, pending, hasher })
            })
            .await
    }

    /// A user by id or email (emails compare case-insensitively).
    pub(crate) fn find_user(&self, id_or_email: &str) -> Option<&DevUser> {
        self.users
            .iter()
            .find(|u| u.id == id_or_email)
            .or_else(|| self.users.iter().find(|u| u.email.eq_ignore_ascii_case(id_or_email)))
    }

    pub(crate) fn user_by_id(&self, id: &str) -> Option<&DevUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The user auto-approve signs in without a hint.
    pub(crate) fn default_user(&self) -> Option<&DevUser> {
        match &self.default_user {
            Some(id) => self.user_by_id(id),
            None => self.users.first(),
        }
    }

    /// RFC 8414 metadata; the OpenID discovery document is the same.
    pub(crate) fn metadata(&self) -> AuthorizationServerMetadata {
        let mut m = self.metadata.build();
        m.extra.insert("subject_types_supported".into(), serde_json::json!(["public"]));
        m.extra.insert("id_token_signing_alg_values_supported".into(), serde_json::json!(["RS256"]));
        m.extra.insert(
            "claims_supported".into(),
            serde_json::json!([
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "sid",
                "email",
                "email_verified",
                "name",
                "given_name",
                "family_name",
                "picture",
                "org_id",
                "roles",
                "permissions"
            ]),
        );
        m.extra.insert("dev_only".into(), serde_json::json!(true));
        m
    }
}

/// The development identity provider: its state, keys and router, without a socket.
///
/// Get one from [`DevIdpBuilder::build`](crate::DevIdpBuilder::build) to mount the
/// [`router`](Self::router) yourself, or use [`DevIdpBuilder::start`](crate::DevIdpBuilder::start) for a
/// server on loopback with a [`DevIdpHandle`](crate::DevIdpHandle). Clones share state.
#[derive(Clone)]
pub struct DevIdp {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for DevIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdp").field("issuer", &self.inner.issuer).finish_non_exhaustive()
    }
}

fn key_error(error: JwtError) -> DevIdpError {
    match error {
        JwtError::ActiveKey { kid } => DevIdpError::CurrentKey(kid),
        JwtError::NoSuchKey { kid } => DevIdpError::UnknownKey(kid),
        other => DevIdpError::Jwt(other),
    }
}

impl DevIdp {
    /// A builder with no users, no clients, auto-approve off, a memory store and the system clock.
    pub fn builder() -> crate::DevIdpBuilder {
        crate::DevIdpBuilder::default()
    }

    /// The axum router serving every endpoint.
    pub fn router(&self) -> Router {
        crate::endpoints::router(Arc::clone(&self.inner))
    }

    /// The issuer identifier: the base URL, without a trailing slash.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The JWKS URL (`{issuer}/oauth2/jwks`).
    #[must_use]
    pub fn jwks_url(&self) -> String {
        self.inner.endpoint("/oauth2/jwks")
    }

    /// The RFC 8414 metadata document this server publishes.
    #[must_use]
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        self.inner.metadata()
    }

    /// Adds a fresh RSA key that signs every token from now on; the old keys stay in the JWKS until
    /// removed. Returns the new key's `kid`.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::Jwt`] when key generation fails.
    pub fn rotate_signing_key(&self) -> Result<String, DevIdpError> {
        let kid = crate::builder::new_kid()?;
        self.inner.jwt.rotate(SigningKey::generate_rs256(kid.clone())?)?;
        tracing::info!(kid, "dev-idp rotated its signing key");
        Ok(kid)
    }

    /// Removes an old key from the JWKS: tokens it signed stop verifying.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownKey`] for an unknown kid, [`DevIdpError::CurrentKey`] for the signing key.
    pub fn remove_key(&self, kid: &str) -> Result<(), DevIdpError> {
        self.inner.jwt.remove_key(kid).map_err(key_error)
    }

    /// Removes every key but the current one; returns how many were removed.
    pub fn remove_old_keys(&self) -> usize {
        self.inner.jwt.remove_previous_keys()
    }

    /// The published key ids, oldest first; the last one signs.
    #[must_use]
    pub fn signing_key_ids(&self) -> Vec<String> {
        self.inner.jwt.key_ids()
    }

    /// The `kid` of the key that signs now.
    #[must_use]
    pub fn current_key_id(&self) -> String {
        self.inner.jwt.active_kid()
    }

    /// How many token-exchange requests (RFC 8693) reached the token endpoint so far, refused ones
    /// included: tests count the upstream calls of a token exchanger's cache with it.
    ///
    /// ```
    /// use mcp_auth_dev_idp::DevIdp;
    ///
    /// let idp = DevIdp::builder().build("http://127.0.0.1:9400").unwrap();
    /// assert_eq!(idp.token_exchanges(), 0);
    /// ```
    #[must_use]
    pub fn token_exchanges(&self) -> u64 {
        self.inner.token_exchanges.load(Ordering::Relaxed)
    }

    /// The configured users.
    #[must_use]
    pub fn users(&self) -> &[DevUser] {
        &self.inner.users
    }

    /// Mints an access token for a configured user (by id or email) directly, as if they had signed in
    /// through client [`TEST_CLIENT_ID`]: for tests that need a token without running the flow. An empty
    /// `audience` uses the [default audience](crate::DevIdpBuilder::default_audience) (or none).
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownUser`] when no user has this id or email, [`DevIdpError::Jwt`] when
    /// signing fails.
    pub fn issue_access_token<I, S>(
        &self,
        user_id: &str,
        audience: &str,
        scopes: I,
    ) -> Result<String, DevIdpError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let user =
            self.inner.find_user(user_id).ok_or_else(|| DevIdpError::UnknownUser(user_id.to_owned()))?;
        let scopes: Vec<String> = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let sid = format!("session_{}", crate::builder::random(12)?);
        let audience = if audience.is_empty() { None } else { Some(audience) };
        let token = tokens::sign_access(
            &self.inner,
            &Subject::User(user),
            TEST_CLIENT_ID,
            &scopes,
            audience,
            Some(&sid),
        )?;
        Ok(token.expose().to_owned())
    }
}
