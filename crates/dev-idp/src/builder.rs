//! [`DevIdpBuilder`]: configuration, checked at build time, and start-up on loopback.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::scope::is_scope_token;
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_jwt::{JwtIssuer, SigningKey};
use mcp_auth_oauth_server::openidconnect::core::CoreGrantType;
use mcp_auth_oauth_server::{
    AuthorizePolicy, ClientRegistry, CorsPolicy, RegistrationPolicy, ResourcePolicy, ScopePolicy,
    ServerMetadata, random_token,
};
use tokio::sync::{OnceCell, oneshot};

use crate::config::{DevClient, DevIdpConfig, DevUser, ServerConfig};
use crate::error::DevIdpError;
use crate::handle::DevIdpHandle;
use crate::idp::{DevIdp, Inner, NAMESPACE};

/// The default access and ID token lifetime: one hour.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The default refresh token lifetime: thirty days.
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default authorization code lifetime: sixty seconds.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(60);
/// How long a dynamically registered client lives unused.
const DYNAMIC_CLIENT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The scopes always advertised, as AuthKit does.
const BASE_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// `bytes` random bytes as base64url.
pub(crate) fn random(bytes: usize) -> Result<String, DevIdpError> {
    random_token(bytes).map_err(|e| DevIdpError::InvalidConfig(format!("no randomness: {e}")))
}

/// A fresh key id.
pub(crate) fn new_kid() -> Result<String, DevIdpError> {
    Ok(format!("key_{}", random(12)?))
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
    max_registrations_per_hour: Option<u32>,
    allowed_origins: Vec<String>,
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
            max_registrations_per_hour: None,
            allowed_origins: Vec::new(),
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
            max_registrations_per_hour,
            allowed_origins,
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
        self.max_registrations_per_hour = max_registrations_per_hour.or(self.max_registrations_per_hour);
        self.allowed_origins.extend(allowed_origins);
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

    /// Adds a scope to `scopes_supported`. Clients may ask for these and for `openid`, `profile`,
    /// `email` and `offline_access`; any other scope is refused with `invalid_scope`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// The most clients that may register per hour (default 1,000); past it registration answers 429.
    /// Unused registrations expire after seven days, so this bounds what registration can put in the store.
    pub fn max_registrations_per_hour(mut self, max: u32) -> Self {
        self.max_registrations_per_hour = Some(max);
        self
    }

    /// A web origin (`https://app.example.com`) besides loopback ones that may call the endpoints from a
    /// browser. By default only loopback origins may: a page on any other origin must not be able to
    /// register a client and mint tokens through a person's browser.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Builds the provider for the issuer URL `issuer`, without listening: mount
    /// [`DevIdp::router`] yourself at that URL.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::InvalidConfig`] for contradictory or invalid settings, [`DevIdpError::Jwt`] when
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
            if !is_scope_token(&scope) {
                return Err(DevIdpError::InvalidConfig(format!("{scope:?} is not a valid scope")));
            }
            if !scopes_supported.contains(&scope) {
                scopes_supported.push(scope);
            }
        }
        let clock = self.clock.unwrap_or_else(system_clock);
        let store: Arc<dyn KvStorage> = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let mut policy = RegistrationPolicy::default()
            .client_ttl(DYNAMIC_CLIENT_TTL)
            .scopes_supported(scopes_supported.iter().cloned());
        if let Some(max) = self.max_registrations_per_hour {
            policy = policy.max_registrations_per_hour(max);
        }
        let mut registry =
            ClientRegistry::new(Arc::clone(&store), NAMESPACE, policy).with_clock(Arc::clone(&clock));
        for client in &self.clients {
            registry = registry
                .with_client(client.to_client()?)
                .map_err(|duplicate| DevIdpError::InvalidConfig(duplicate.to_string()))?;
        }
        let mut cors = CorsPolicy::loopback()
            .with_origin(parsed.origin().ascii_serialization().as_str())
            .map_err(DevIdpError::InvalidConfig)?;
        for origin in &self.allowed_origins {
            cors = cors
                .with_origin(origin)
                .map_err(|why| DevIdpError::InvalidConfig(format!("allowed origin: {why}")))?;
        }
        let jwt = JwtIssuer::builder()
            .issuer(issuer.clone())
            .signing_key(SigningKey::generate_rs256(new_kid()?)?)
            .access_ttl(self.access_ttl)
            .refresh_ttl(self.refresh_ttl)
            .clock(Arc::clone(&clock))
            .build()?;
        let metadata = ServerMetadata::new(issuer.clone())
            .authorization_endpoint("/oauth2/authorize")
            .token_endpoint("/oauth2/token")
            .registration_endpoint("/oauth2/register")
            .jwks_endpoint("/oauth2/jwks")
            .userinfo_endpoint("/oauth2/userinfo")
            .revocation_endpoint("/oauth2/revoke")
            .introspection_endpoint("/oauth2/introspection")
            .grant(CoreGrantType::RefreshToken)
            .grant(CoreGrantType::ClientCredentials)
            .grant(mcp_auth_oauth_server::token_exchange_grant())
            .scopes(scopes_supported.iter().cloned())
            .service_documentation("/");
        let inner = Inner {
            issuer,
            users: self.users,
            default_user,
            registry,
            store,
            store_state: OnceCell::new(),
            clock,
            jwt,
            auto_approve: self.auto_approve,
            default_audience: self.default_audience,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            code_ttl: self.code_ttl,
            authorize_policy: AuthorizePolicy {
                scopes: ScopePolicy::supported(scopes_supported),
                resources: ResourcePolicy::default(),
                trusted_redirect_uris: None,
            },
            metadata,
            cors,
            token_exchanges: std::sync::atomic::AtomicU64::new(0),
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
            let serve =
                axum::serve(mcp_auth_core::serve::no_delay(listener), router).with_graceful_shutdown(async {
                    let _ = rx.await;
                });
            if let Err(error) = serve.await {
                tracing::error!(%error, "dev IdP server stopped with an error");
            }
        });
        Ok(DevIdpHandle::new(idp, local, tx, task))
    }
}
