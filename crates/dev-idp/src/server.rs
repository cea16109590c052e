//! The builder, the running server's handle and the shared state.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::metadata::AuthorizationServerMetadata;
use mcp_auth_core::store::{JsonCollection, KvStorage, MemoryStore};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{ApplicationType, DevClient, DevIdpConfig, DevUser, ServerConfig};
use crate::error::DevIdpError;
use crate::keys::KeyRing;
use crate::tokens::{self, Subject};
use crate::util::{check_redirect_uri, hash_key, is_valid_scope, random_token};

/// The default access and ID token lifetime: one hour.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The default refresh token lifetime: thirty days.
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default authorization code lifetime: sixty seconds.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(60);
/// The largest request body any endpoint reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The client id stamped on tokens minted by [`DevIdp::issue_access_token`].
pub const TEST_CLIENT_ID: &str = "mcp-auth-dev-idp";

/// The scopes always advertised, as AuthKit does.
const BASE_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A registered client, pre-configured or dynamically registered. Only the secret's hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClientRecord {
    pub(crate) client_id: String,
    pub(crate) secret_sha256: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) token_endpoint_auth_method: String,
    pub(crate) grant_types: Vec<String>,
    pub(crate) application_type: ApplicationType,
    pub(crate) client_name: Option<String>,
    pub(crate) dynamic: bool,
}

impl ClientRecord {
    fn from_config(client: &DevClient) -> Self {
        let confidential = client.secret.is_some();
        let mut grant_types = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
        if confidential {
            grant_types.push("client_credentials".to_owned());
        }
        Self {
            client_id: client.id.clone(),
            secret_sha256: client.secret.as_ref().map(|s| hash_key(s.expose_secret())),
            redirect_uris: client.redirect_uris.clone(),
            token_endpoint_auth_method: if confidential { "client_secret_basic" } else { "none" }.to_owned(),
            grant_types,
            application_type: client.application_type,
            client_name: client.name.clone(),
            dynamic: false,
        }
    }

    pub(crate) fn is_confidential(&self) -> bool {
        self.secret_sha256.is_some()
    }

    /// Whether the client may use `grant_type`; `refresh_token` comes with `authorization_code`.
    pub(crate) fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
            || (grant_type == "refresh_token" && self.grant_types.iter().any(|g| g == "authorization_code"))
    }

    /// The registered redirect URI that `presented` matches, if any.
    pub(crate) fn matches_redirect_uri(&self, presented: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| crate::util::redirect_uri_matches(registered, presented, self.application_type))
    }
}

/// The typed views of the state store's collections.
#[derive(Debug, Clone)]
pub(crate) struct Collections {
    pub(crate) clients: JsonCollection<ClientRecord>,
    pub(crate) pending: JsonCollection<tokens::PendingAuthorization>,
    pub(crate) codes: JsonCollection<tokens::CodeGrant>,
    pub(crate) codes_used: JsonCollection<String>,
    pub(crate) refresh: JsonCollection<tokens::RefreshGrant>,
    pub(crate) refresh_used: JsonCollection<String>,
    pub(crate) revoked_sessions: JsonCollection<bool>,
    pub(crate) revoked_access: JsonCollection<bool>,
}

impl Collections {
    fn new(store: &Arc<dyn KvStorage>) -> Self {
        let c = |name: &str| format!("dev_idp_{name}");
        Self {
            clients: JsonCollection::new(Arc::clone(store), c("clients")),
            pending: JsonCollection::new(Arc::clone(store), c("pending")),
            codes: JsonCollection::new(Arc::clone(store), c("codes")),
            codes_used: JsonCollection::new(Arc::clone(store), c("codes_used")),
            refresh: JsonCollection::new(Arc::clone(store), c("refresh")),
            refresh_used: JsonCollection::new(Arc::clone(store), c("refresh_used")),
            revoked_sessions: JsonCollection::new(Arc::clone(store), c("revoked_sessions")),
            revoked_access: JsonCollection::new(Arc::clone(store), c("revoked_access")),
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) users: Vec<DevUser>,
    pub(crate) default_user: Option<String>,
    pub(crate) clients: HashMap<String, ClientRecord>,
    pub(crate) store: Collections,
    pub(crate) clock: SharedClock,
    pub(crate) keys: KeyRing,
    pub(crate) auto_approve: bool,
    pub(crate) default_audience: Option<String>,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) code_ttl: Duration,
    pub(crate) scopes_supported: Vec<String>,
}

impl Inner {
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
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

    /// A client by id, pre-registered first, then dynamically registered.
    pub(crate) async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, DevIdpError> {
        if let Some(client) = self.clients.get(client_id) {
            return Ok(Some(client.clone()));
        }
        if client_id.is_empty() || client_id.len() > 256 {
            return Ok(None);
        }
        Ok(self.store.clients.get(client_id).await?)
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }

    /// RFC 8414 metadata; the OpenID discovery document is the same.
    pub(crate) fn metadata(&self) -> AuthorizationServerMetadata {
        let mut m = AuthorizationServerMetadata::new(self.issuer.clone());
        m.authorization_endpoint = Some(self.endpoint("/oauth2/authorize"));
        m.token_endpoint = Some(self.endpoint("/oauth2/token"));
        m.registration_endpoint = Some(self.endpoint("/oauth2/register"));
        m.jwks_uri = Some(self.endpoint("/oauth2/jwks"));
        m.userinfo_endpoint = Some(self.endpoint("/oauth2/userinfo"));
        m.revocation_endpoint = Some(self.endpoint("/oauth2/revoke"));
        m.introspection_endpoint = Some(self.endpoint("/oauth2/introspection"));
        m.scopes_supported = Some(self.scopes_supported.clone());
        m.response_types_supported = vec!["code".to_owned()];
        m.response_modes_supported = Some(vec!["query".to_owned()]);
        m.grant_types_supported =
            Some(["authorization_code", "refresh_token", "client_credentials"].map(String::from).to_vec());
        let auth_methods = ["none", "client_secret_basic", "client_secret_post"].map(String::from).to_vec();
        m.token_endpoint_auth_methods_supported = Some(auth_methods.clone());
        m.revocation_endpoint_auth_methods_supported = Some(auth_methods.clone());
        m.code_challenge_methods_supported = Some(vec!["S256".to_owned()]);
        m.authorization_response_iss_parameter_supported = Some(true);
        m.client_id_metadata_document_supported = Some(false);
        m.service_documentation = Some(self.endpoint("/"));
        let extra = serde_json::json!({
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "email", "email_verified",
                "name", "given_name", "family_name", "picture", "org_id", "roles", "permissions"
            ],
            "dev_only": true,
        });
        if let serde_json::Value::Object(map) = extra {
            m.extra = map;
        }
        m
    }
}

/// The development identity provider: its state, keys and router, without a socket.
///
/// Get one from [`DevIdpBuilder::build`] to mount the [`router`](Self::router) yourself, or use
/// [`DevIdpBuilder::start`] for a server on loopback with a [`DevIdpHandle`]. Clones share state.
#[derive(Clone)]
pub struct DevIdp {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for DevIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdp").field("issuer", &self.inner.issuer).finish_non_exhaustive()
    }
}

impl DevIdp {
    /// A builder with no users, no clients, auto-approve off, a [`MemoryStore`] and the system clock.
    pub fn builder() -> DevIdpBuilder {
        DevIdpBuilder::default()
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
    /// [`DevIdpError::Key`] when key generation fails.
    pub fn rotate_signing_key(&self) -> Result<String, DevIdpError> {
        let kid = self.inner.keys.rotate()?;
        tracing::info!(kid, "dev-idp rotated its signing key");
        Ok(kid)
    }

    /// Removes an old key from the JWKS: tokens it signed stop verifying.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownKey`] for an unknown kid, [`DevIdpError::CurrentKey`] for the signing key.
    pub fn remove_key(&self, kid: &str) -> Result<(), DevIdpError> {
        self.inner.keys.remove(kid)
    }

    /// Removes every key but the current one; returns how many were removed.
    pub fn remove_old_keys(&self) -> usize {
        self.inner.keys.remove_old()
    }

    /// The published key ids, oldest first; the last one signs.
    #[must_use]
    pub fn signing_key_ids(&self) -> Vec<String> {
        self.inner.keys.kids()
    }

    /// The `kid` of the key that signs now.
    #[must_use]
    pub fn current_key_id(&self) -> String {
        self.inner.keys.current_kid()
    }

    /// The configured users.
    #[must_use]
    pub fn users(&self) -> &[DevUser] {
        &self.inner.users
    }

    /// Mints an access token for a configured user (by id or email) directly, as if they had signed in
    /// through client [`TEST_CLIENT_ID`]: for tests that need a token without running the flow. An empty
    /// `audience` uses the [default audience](DevIdpBuilder::default_audience) (or none).
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownUser`] when no user has this id or email, [`DevIdpError::Sign`] when
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
        let scope = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect::<Vec<_>>().join(" ");
        let sid = format!("session_{}", random_token(12));
        let audience = if audience.is_empty() { None } else { Some(audience) };
        let (token, _) = tokens::sign_access_token(
            &self.inner,
            &Subject::User(user),
            TEST_CLIENT_ID,
            &scope,
            audience,
            Some(&sid),
        )?;
        Ok(token)
    }
}

/// Builds a [`DevIdp`] and starts it.
///
/// # Examples
///
/// ```no_run
/// use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
///
/// # async fn demo() -> Result<(), mcp_auth_dev_idp::DevIdpError> {
/// let idp = DevIdp::builder()
///     .user(DevUser::new("user_ada", "ada@example.com").roles(["admin"]))
///     .client(DevClient::confidential("proxy", "secret", ["http://127.0.0.1:8000/callback"]))
///     .auto_approve(true)
///     .start()
///     .await?;
/// println!("issuer: {}", idp.url());
/// let token = idp.issue_access_token("user_ada", "http://127.0.0.1:8000/mcp", ["mcp"])?;
/// # let _ = token;
/// idp.shutdown().await;
/// # Ok(()) }
/// ```
#[must_use]
pub struct DevIdpBuilder {
    users: Vec<DevUser>,
    clients: Vec<DevClient>,
    auto_approve: bool,
    store: Option<Arc<dyn KvStorage>>,
    clock: Option<SharedClock>,
    bind: SocketAddr,
    insecure_allow_non_loopback: bool,
    default_audience: Option<String>,
    default_user: Option<String>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    code_ttl: Duration,
    scopes: Vec<String>,
    config_error: Option<String>,
}

impl Default for DevIdpBuilder {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            clients: Vec::new(),
            auto_approve: false,
            store: None,
            clock: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            insecure_allow_non_loopback: false,
            default_audience: None,
            default_user: None,
            access_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            refresh_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            code_ttl: DEFAULT_CODE_TTL,
            scopes: Vec::new(),
            config_error: None,
        }
    }
}

impl fmt::Debug for DevIdpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdpBuilder")
            .field("users", &self.users)
            .field("clients", &self.clients)
            .field("auto_approve", &self.auto_approve)
            .field("bind", &self.bind)
            .finish_non_exhaustive()
    }
}

impl DevIdpBuilder {
    /// Adds a user.
    pub fn user(mut self, user: DevUser) -> Self {
        self.users.push(user);
        self
    }

    /// Adds a pre-registered client.
    pub fn client(mut self, client: DevClient) -> Self {
        self.clients.push(client);
        self
    }

    /// Applies a parsed configuration file: its users, clients and `[server]` settings.
    pub fn config(mut self, config: DevIdpConfig) -> Self {
        let DevIdpConfig { server, users, clients } = config;
        self.users.extend(users);
        self.clients.extend(clients);
        let ServerConfig {
            port,
            bind,
            auto_approve,
            default_audience,
            access_token_ttl_secs,
            refresh_token_ttl_secs,
            code_ttl_secs,
            scopes,
            default_user,
        } = server;
        if let Some(port) = port {
            self.bind.set_port(port);
        }
        if let Some(bind) = bind {
            match bind.parse() {
                Ok(addr) => self.bind = addr,
                Err(error) => {
                    self.config_error.get_or_insert(format!(
                        "[server] bind = {bind:?} is not a socket address such as 127.0.0.1:9400 ({error})"
                    ));
                }
            }
        }
        self.auto_approve = auto_approve.unwrap_or(self.auto_approve);
        self.default_audience = default_audience.or(self.default_audience);
        self.access_ttl = ServerConfig::secs(access_token_ttl_secs).unwrap_or(self.access_ttl);
        self.refresh_ttl = ServerConfig::secs(refresh_token_ttl_secs).unwrap_or(self.refresh_ttl);
        self.code_ttl = ServerConfig::secs(code_ttl_secs).unwrap_or(self.code_ttl);
        self.scopes.extend(scopes);
        self.default_user = default_user.or(self.default_user);
        self
    }

    /// Signs in a user without showing any page: `GET /oauth2/authorize` answers with the redirect at
    /// once. The `login_hint` parameter (a user id or email) picks the user; otherwise the
    /// [`default_user`](Self::default_user) (or the first configured one) signs in.
    pub fn auto_approve(mut self, on: bool) -> Self {
        self.auto_approve = on;
        self
    }

    /// The user auto-approve signs in when no `login_hint` is given (id or email).
    pub fn default_user(mut self, id_or_email: impl Into<String>) -> Self {
        self.default_user = Some(id_or_email.into());
        self
    }

    /// The state store (default: a fresh [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn KvStorage>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock for token times and expiry (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The port on 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.bind.set_port(port);
        self
    }

    /// The address to listen on (default `127.0.0.1:0`). Non-loopback addresses are refused unless
    /// [`insecure_allow_non_loopback`](Self::insecure_allow_non_loopback) is set.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Allows listening on a non-loopback address. This server signs in anyone as anyone: never
    /// expose it to a network you do not control.
    pub fn insecure_allow_non_loopback(mut self, allow: bool) -> Self {
        self.insecure_allow_non_loopback = allow;
        self
    }

    /// The `aud` of access tokens requested without an RFC 8707 `resource` parameter (default: none,
    /// and such tokens carry no `aud`).
    pub fn default_audience(mut self, audience: impl Into<String>) -> Self {
        self.default_audience = Some(audience.into());
        self
    }

    /// Access and ID token lifetime (default one hour).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Refresh token lifetime (default thirty days).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Authorization code lifetime (default sixty seconds).
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// Adds a scope to `scopes_supported` (any well-formed scope is granted when asked for).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Builds the provider for the issuer URL `issuer`, without listening: mount
    /// [`DevIdp::router`] yourself at that URL.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::InvalidConfig`] for contradictory or invalid settings, [`DevIdpError::Key`] when
    /// key generation fails.
    pub fn build(self, issuer: &str) -> Result<DevIdp, DevIdpError> {
        if let Some(error) = self.config_error {
            return Err(DevIdpError::InvalidConfig(error));
        }
        let issuer = issuer.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&issuer)
            .map_err(|e| DevIdpError::InvalidConfig(format!("issuer {issuer:?} is not a URL: {e}")))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(DevIdpError::InvalidConfig(format!(
                "issuer {issuer:?} must not have a query or fragment"
            )));
        }
        for (what, ttl) in [
            ("access_token_ttl", self.access_ttl),
            ("refresh_token_ttl", self.refresh_ttl),
            ("code_ttl", self.code_ttl),
        ] {
            if ttl.is_zero() {
                return Err(DevIdpError::InvalidConfig(format!("{what} must be more than zero")));
            }
        }
        let mut ids = HashSet::new();
        let mut emails = HashSet::new();
        for user in &self.users {
            if user.id.is_empty() || user.email.is_empty() {
                return Err(DevIdpError::InvalidConfig("every user needs a non-empty id and email".into()));
            }
            if !ids.insert(user.id.clone()) {
                return Err(DevIdpError::InvalidConfig(format!("two users have the id {:?}", user.id)));
            }
            if !emails.insert(user.email.to_ascii_lowercase()) {
                return Err(DevIdpError::InvalidConfig(format!("two users have the email {:?}", user.email)));
            }
        }
        let mut clients = HashMap::new();
        for client in &self.clients {
            if client.id.is_empty() {
                return Err(DevIdpError::InvalidConfig("a client has an empty id".into()));
            }
            for uri in &client.redirect_uris {
                check_redirect_uri(uri, client.application_type).map_err(|why| {
                    DevIdpError::InvalidConfig(format!("client {:?}: redirect URI {why}", client.id))
                })?;
            }
            if clients.insert(client.id.clone(), ClientRecord::from_config(client)).is_some() {
                return Err(DevIdpError::InvalidConfig(format!("two clients have the id {:?}", client.id)));
            }
        }
        let default_user = match &self.default_user {
            Some(hint) => {
                let found = self.users.iter().find(|u| &u.id == hint || u.email.eq_ignore_ascii_case(hint));
                Some(found.map(|u| u.id.clone()).ok_or_else(|| {
                    DevIdpError::InvalidConfig(format!("default_user {hint:?} is not a configured user"))
                })?)
            }
            None => None,
        };
        if self.auto_approve && self.users.is_empty() {
            return Err(DevIdpError::InvalidConfig(
                "auto_approve(true) signs in a configured user, but there are none: add .user(DevUser::new(..)) \
                 or a [[users]] entry"
                    .into(),
            ));
        }
        let mut scopes_supported: Vec<String> = BASE_SCOPES.map(String::from).to_vec();
        for scope in self.scopes {
            if !is_valid_scope(&scope) || scope.contains(' ') {
                return Err(DevIdpError::InvalidConfig(format!("{scope:?} is not a valid scope")));
            }
            if !scopes_supported.contains(&scope) {
                scopes_supported.push(scope);
            }
        }
        let clock = self.clock.unwrap_or_else(system_clock);
        let store: Arc<dyn KvStorage> = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let inner = Inner {
            issuer,
            users: self.users,
            default_user,
            clients,
            store: Collections::new(&store),
            clock,
            keys: KeyRing::new()?,
            auto_approve: self.auto_approve,
            default_audience: self.default_audience,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            code_ttl: self.code_ttl,
            scopes_supported,
        };
        Ok(DevIdp { inner: Arc::new(inner) })
    }

    /// Binds the socket, builds the provider for `http://{bound address}` and serves it in a tokio task.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::NonLoopback`] for a non-loopback address without
    /// [`insecure_allow_non_loopback`](Self::insecure_allow_non_loopback), [`DevIdpError::Io`] when
    /// binding fails, and the errors of [`build`](Self::build).
    pub async fn start(self) -> Result<DevIdpHandle, DevIdpError> {
        if let Some(error) = self.config_error {
            return Err(DevIdpError::InvalidConfig(error));
        }
        let addr = self.bind;
        if !addr.ip().is_loopback() && !self.insecure_allow_non_loopback {
            return Err(DevIdpError::NonLoopback { addr });
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DevIdpError::Io { what: format!("binding {addr}"), source })?;
        let local = listener
            .local_addr()
            .map_err(|source| DevIdpError::Io { what: "reading the bound address".into(), source })?;
        if !local.ip().is_loopback() {
            tracing::warn!(
                %local,
                "dev IdP listening on a NON-LOOPBACK address (insecure_allow_non_loopback): anyone who can \
                 reach it can sign in as any configured user"
            );
        }
        let idp = self.build(&format!("http://{local}"))?;
        tracing::warn!(
            issuer = idp.issuer(),
            "mcp-auth dev IdP listening: FOR DEVELOPMENT ONLY, it signs in configured users without real checks"
        );
        let router = idp.router();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "dev IdP server stopped with an error");
            }
        });
        Ok(DevIdpHandle { idp, addr: local, shutdown: Some(tx), task: Some(task) })
    }
}

/// A running development identity provider. Dropping the handle stops the server.
pub struct DevIdpHandle {
    idp: DevIdp,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for DevIdpHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdpHandle").field("addr", &self.addr).field("idp", &self.idp).finish()
    }
}

impl DevIdpHandle {
    /// The provider behind this server (its state, keys and router).
    #[must_use]
    pub fn idp(&self) -> &DevIdp {
        &self.idp
    }

    /// The bound socket address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, which is also the issuer (no trailing slash).
    #[must_use]
    pub fn url(&self) -> &str {
        self.idp.issuer()
    }

    /// The issuer identifier (same as [`url`](Self::url)).
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.idp.issuer()
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        self.idp.jwks_url()
    }

    /// See [`DevIdp::rotate_signing_key`].
    ///
    /// # Errors
    ///
    /// [`DevIdpError::Key`] when key generation fails.
    pub fn rotate_signing_key(&self) -> Result<String, DevIdpError> {
        self.idp.rotate_signing_key()
    }

    /// See [`DevIdp::remove_key`].
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownKey`] or [`DevIdpError::CurrentKey`].
    pub fn remove_key(&self, kid: &str) -> Result<(), DevIdpError> {
        self.idp.remove_key(kid)
    }

    /// See [`DevIdp::remove_old_keys`].
    pub fn remove_old_keys(&self) -> usize {
        self.idp.remove_old_keys()
    }

    /// See [`DevIdp::signing_key_ids`].
    #[must_use]
    pub fn signing_key_ids(&self) -> Vec<String> {
        self.idp.signing_key_ids()
    }

    /// See [`DevIdp::issue_access_token`].
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownUser`] or [`DevIdpError::Sign`].
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
        self.idp.issue_access_token(user_id, audience, scopes)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevIdpHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
