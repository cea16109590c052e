//! [`AuthKitProvider`]: remote auth with WorkOS AuthKit as the authorization server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::scope::ScopeHierarchy;
use mcp_auth_core::settings::Settings;
use mcp_auth_core::{BearerAuthLayer, TokenVerifier};
use mcp_auth_jwt::{Algorithm, JwtVerifier};
use mcp_auth_remote::exchange::{SharedTokenCache, TokenExchanger};
use mcp_auth_remote::{OFFLINE_ACCESS, RemoteAuthProvider, ResourceUrl, metadata_cors};
use secrecy::SecretString;

use crate::WorkOSError;
use crate::domain::AuthKitDomain;
use crate::forward::{CachePolicy, MetadataForwarder};
use crate::profile::WithUserinfoProfile;
use crate::userinfo::WorkOSTokenVerifier;

/// The scopes AuthKit supports for MCP clients, advertised by default.
pub const DEFAULT_SCOPES_SUPPORTED: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Protects an MCP server with WorkOS AuthKit, the mode WorkOS recommends for MCP: AuthKit is the
/// authorization server (clients register with it by DCR or CIMD), this server only verifies its tokens.
///
/// It serves:
/// - RFC 9728 Protected Resource Metadata naming AuthKit as the authorization server (see
///   [`RemoteAuthProvider`]);
/// - `/.well-known/oauth-authorization-server`, AuthKit's own metadata forwarded and cached, for clients
///   that look for it on the MCP server's origin (MCP 2025-03-26 clients);
/// - the bearer layer for the MCP route. The default verifier checks AuthKit's RS256 JWTs against
///   `<domain>/oauth2/jwks`, with issuer = the AuthKit domain and audience = this server's canonical resource
///   URL (set the resource indicator in the WorkOS dashboard, see `docs/workos.md`).
///
/// # Examples
///
/// ```
/// use axum::{Router, routing::post};
/// use mcp_auth_workos::AuthKitProvider;
///
/// let authkit = AuthKitProvider::builder()
///     .authkit_domain("your-app.authkit.app")
///     .base_url("https://mcp.example.com")
///     .build()
///     .unwrap();
/// let app: Router = authkit.protect(Router::new().route("/mcp", post(|| async { "rmcp service here" })));
/// assert_eq!(authkit.resource().as_str(), "https://mcp.example.com/mcp");
/// ```
#[derive(Clone)]
pub struct AuthKitProvider {
    domain: AuthKitDomain,
    remote: RemoteAuthProvider,
    forwarder: Arc<MetadataForwarder>,
    exchanger: Option<Arc<TokenExchanger>>,
}

impl fmt::Debug for AuthKitProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKitProvider")
            .field("domain", &self.domain)
            .field("remote", &self.remote)
            .field("exchanger", &self.exchanger)
            .finish()
    }
}

impl AuthKitProvider {
    /// Starts building a provider.
    pub fn builder() -> AuthKitProviderBuilder {
        AuthKitProviderBuilder::default()
    }

    /// A provider configured from `MCP_AUTH_AUTHKIT_DOMAIN`, `MCP_AUTH_BASE_URL`, `MCP_AUTH_MCP_PATH` and
    /// `MCP_AUTH_REQUIRED_SCOPES` (process environment and `.env`).
    ///
    /// # Errors
    ///
    /// A [`WorkOSError`] naming the missing or malformed variable.
    pub fn from_env() -> Result<Self, WorkOSError> {
        Self::builder().settings(&Settings::from_env()?)?.build()
    }

    /// The AuthKit domain.
    #[must_use]
    pub fn domain(&self) -> &AuthKitDomain {
        &self.domain
    }

    /// The canonical resource URL (the audience tokens must carry).
    #[must_use]
    pub fn resource(&self) -> &ResourceUrl {
        self.remote.resource()
    }

    /// The underlying remote-auth provider.
    #[must_use]
    pub fn remote(&self) -> &RemoteAuthProvider {
        &self.remote
    }

    /// The bearer layer for the MCP route.
    pub fn bearer_layer(&self) -> BearerAuthLayer {
        self.remote.bearer_layer()
    }

    /// The discovery routes: protected resource metadata and the forwarded authorization server metadata.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let forwarder = Arc::clone(&self.forwarder);
        let authorization_server = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || {
                    let forwarder = Arc::clone(&forwarder);
                    async move { forwarder.respond().await }
                }),
            )
            .layer(metadata_cors());
        self.remote.metadata_router().merge(authorization_server)
    }

    /// The token exchanger, when [`token_exchange`](AuthKitProviderBuilder::token_exchange) configured one.
    ///
    /// [`protect`](Self::protect) puts it into every MCP request's extensions, where
    /// [`Caller::exchange_for`](mcp_auth_remote::rmcp::Caller::exchange_for) finds it; when you mount the
    /// MCP route yourself, add it with `.layer(axum::Extension(exchanger))`.
    #[must_use]
    pub fn token_exchanger(&self) -> Option<&Arc<TokenExchanger>> {
        self.exchanger.as_ref()
    }

    /// Puts the bearer layer on `mcp_routes` (your MCP endpoint), and the token exchanger (if configured)
    /// into their request extensions, and merges the discovery routes.
    pub fn protect<S: Clone + Send + Sync + 'static>(&self, mcp_routes: Router<S>) -> Router<S> {
        let mcp_routes = mcp_routes.layer(self.bearer_layer());
        let mcp_routes = match &self.exchanger {
            Some(exchanger) => mcp_routes.layer(Extension(Arc::clone(exchanger))),
            None => mcp_routes,
        };
        mcp_routes.merge(self.router())
    }
}

/// Builds an [`AuthKitProvider`].
#[must_use]
pub struct AuthKitProviderBuilder {
    domain: Option<String>,
    base_url: Option<String>,
    mcp_path: String,
    required_scopes: Option<Vec<String>>,
    scopes_supported: Vec<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    client: Option<reqwest::Client>,
    clock: SharedClock,
    metadata_cache: CachePolicy,
    resource_name: Option<String>,
    userinfo_profile: bool,
    profile_timeout: Duration,
    token_cache: usize,
    client_id_audience: Option<String>,
    scope_hierarchy: Option<Arc<dyn ScopeHierarchy>>,
    mcp_scopes: Option<McpScopePolicy>,
    token_exchange: Option<(String, SecretString)>,
    token_exchange_cache: Option<SharedTokenCache>,
}

impl Default for AuthKitProviderBuilder {
    fn default() -> Self {
        Self {
            domain: None,
            base_url: None,
            mcp_path: "/mcp".to_owned(),
            required_scopes: None,
            scopes_supported: DEFAULT_SCOPES_SUPPORTED.iter().map(|s| (*s).to_owned()).collect(),
            verifier: None,
            client: None,
            clock: system_clock(),
            metadata_cache: CachePolicy {
                default_ttl: Duration::from_secs(300),
                min_ttl: Duration::from_secs(30),
                max_ttl: Duration::from_secs(3600),
            },
            resource_name: None,
            userinfo_profile: true,
            profile_timeout: Duration::from_secs(2),
            token_cache: 10_000,
            client_id_audience: None,
            scope_hierarchy: None,
            mcp_scopes: None,
            token_exchange: None,
            token_exchange_cache: None,
        }
    }
}

impl fmt::Debug for AuthKitProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKitProviderBuilder")
            .field("domain", &self.domain)
            .field("base_url", &self.base_url)
            .field("mcp_path", &self.mcp_path)
            .field("required_scopes", &self.required_scopes)
            .field("client_id_audience", &self.client_id_audience)
            .finish_non_exhaustive()
    }
}

impl AuthKitProviderBuilder {
    /// The AuthKit domain: `your-app.authkit.app`, a full URL, or a custom domain.
    pub fn authkit_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// This server's public base URL.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The MCP endpoint's path (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = path.into();
        self
    }

    /// Scopes every token must carry (default: the verifier's own, none for the default verifier).
    ///
    /// This one list is both what the bearer layer checks and what its challenges advertise, so the two
    /// always agree. `offline_access` is left out of both: it asks for refresh tokens and is never a
    /// resource requirement (MCP authorization, "Scope Selection Strategy").
    pub fn required_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.required_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The scopes advertised in the protected resource metadata (default: openid, profile, email;
    /// `offline_access` is never advertised there).
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Per-tool (prompt, resource) scopes: a call without them is answered with a 403 step-up challenge
    /// naming every scope it needs ([`RemoteAuthProviderBuilder::mcp_scopes`](mcp_auth_remote::RemoteAuthProviderBuilder::mcp_scopes)).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::mcp_scope::McpScopePolicy;
    /// use mcp_auth_workos::AuthKitProvider;
    ///
    /// let provider = AuthKitProvider::builder()
    ///     .authkit_domain("your-app.authkit.app")
    ///     .base_url("https://mcp.example.com")
    ///     .mcp_scopes(McpScopePolicy::builder().tool("delete_repo", ["repo:admin"]).build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// assert!(provider.remote().mcp_scopes().is_some());
    /// ```
    pub fn mcp_scopes(mut self, policy: McpScopePolicy) -> Self {
        self.mcp_scopes = Some(policy);
        self
    }

    /// Judges scopes through `hierarchy` (a broad scope satisfies the narrower ones it implies), in the
    /// bearer layer and in every per-operation check. Off by default: scopes match exactly.
    pub fn scope_hierarchy(mut self, hierarchy: impl ScopeHierarchy + 'static) -> Self {
        self.scope_hierarchy = Some(Arc::new(hierarchy));
        self
    }

    /// A human-readable name for the protected resource metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Uses `verifier` instead of the default AuthKit JWT verifier. It is still wrapped with the audience
    /// check, so it must report audiences (use [`RemoteAuthProvider`] with
    /// `insecure_skip_audience_check` for opaque tokens).
    pub fn verifier(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Stops adding the userinfo profile to verified tokens.
    ///
    /// AuthKit's access tokens carry the user id, organization, roles and permissions but not the email or
    /// name. By default the provider reads those from `<domain>/oauth2/userinfo` once per token (cached 60
    /// s, best-effort: a userinfo outage never refuses a valid token). Turn it off to save that call when
    /// your tools do not need the profile.
    pub fn without_userinfo_profile(mut self) -> Self {
        self.userinfo_profile = false;
        self
    }

    /// The size of the default verifier's verified-token cache (default 10,000 entries; 0 turns it off).
    ///
    /// A cached token is trusted until its `exp` or for 5 minutes, whichever is first, and the cache is
    /// dropped whenever the key set changes; a repeat request then costs a hash and a lookup instead of an
    /// RSA signature check.
    pub fn token_cache(mut self, max_entries: usize) -> Self {
        self.token_cache = max_entries;
        self
    }

    /// Also accepts tokens whose audience is `client_id`, the AuthKit environment's client id, which
    /// AuthKit puts in `aud` when a client leaves out the `resource` parameter (RFC 8707). Also read
    /// from `MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE`. Tokens for this server's resource URL are
    /// accepted as before; tokens for any other audience are still refused. Logged at warn level when
    /// the provider is built.
    ///
    /// # Security
    ///
    /// This weakens the audience check. A token issued without a resource names no resource server,
    /// so with this option a token obtained for *any* resource server of this AuthKit environment
    /// (another MCP server, an API of yours) without a resource indicator is accepted here too, and a
    /// server that receives such a token can replay it against this one. Use it only while clients that
    /// leave out `resource` must be served, and only when every server trusting this environment is
    /// yours. Applies to the default JWT verifier: combined with [`verifier`](Self::verifier),
    /// [`build`](Self::build) refuses it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_workos::AuthKitProvider;
    ///
    /// let authkit = AuthKitProvider::builder()
    ///     .authkit_domain("your-app.authkit.app")
    ///     .base_url("https://mcp.example.com")
    ///     // Logs a warning naming the option when built.
    ///     .insecure_accept_client_id_audience("client_01HZEXAMPLE")
    ///     .build()?;
    /// # Ok::<(), mcp_auth_workos::WorkOSError>(())
    /// ```
    pub fn insecure_accept_client_id_audience(mut self, client_id: impl Into<String>) -> Self {
        self.client_id_audience = Some(client_id.into());
        self
    }

    /// The timeout of the best-effort userinfo profile lookup (default 2 s). After a failed lookup
    /// (this timeout included), no lookup is tried for a back-off (1 s, doubling up to 30 s) and
    /// requests proceed at once without the profile.
    pub fn userinfo_profile_timeout(mut self, timeout: Duration) -> Self {
        self.profile_timeout = timeout;
        self
    }

    /// Lets tools call other APIs as the signed-in user by token exchange (RFC 8693, WorkOS Connect),
    /// authenticated as this MCP server's own WorkOS application (`client_id`, `client_secret`), which
    /// must be allowed to exchange tokens. The token endpoint is read from AuthKit's metadata.
    ///
    /// [`protect`](AuthKitProvider::protect) then puts the exchanger into every MCP request, and a tool calls
    /// [`Caller::exchange_for`](mcp_auth_remote::rmcp::Caller::exchange_for). The MCP access token itself
    /// is never passed on.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_workos::AuthKitProvider;
    ///
    /// let authkit = AuthKitProvider::builder()
    ///     .authkit_domain("your-app.authkit.app")
    ///     .base_url("https://mcp.example.com")
    ///     .token_exchange("client_01MCPSERVER", "sk_example_secret")
    ///     .build()?;
    /// let exchanger = authkit.token_exchanger().expect("configured");
    /// assert_eq!(exchanger.client_id(), "client_01MCPSERVER");
    /// assert!(!format!("{authkit:?}").contains("sk_example_secret"));
    /// # Ok::<(), mcp_auth_workos::WorkOSError>(())
    /// ```
    pub fn token_exchange(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.token_exchange = Some((client_id.into(), client_secret.into()));
        self
    }

    /// Shares exchanged tokens between server instances through `cache` (values Fernet-encrypted; see
    /// [`SharedTokenCache`]). Needs [`token_exchange`](Self::token_exchange).
    pub fn token_exchange_cache(mut self, cache: SharedTokenCache) -> Self {
        self.token_exchange_cache = Some(cache);
        self
    }

    /// The HTTP client for JWKS and metadata fetches.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The clock for caches and token expiry.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Reads `MCP_AUTH_AUTHKIT_DOMAIN`, `MCP_AUTH_BASE_URL`, `MCP_AUTH_MCP_PATH`,
    /// `MCP_AUTH_REQUIRED_SCOPES` and `MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE` where set.
    ///
    /// # Errors
    ///
    /// [`WorkOSError::Settings`] naming a malformed variable.
    pub fn settings(mut self, settings: &Settings) -> Result<Self, WorkOSError> {
        if let Some(domain) = settings.string("AUTHKIT_DOMAIN") {
            self.domain = Some(domain);
        }
        if let Some(base_url) = settings.string("BASE_URL") {
            self.base_url = Some(base_url);
        }
        if let Some(path) = settings.string("MCP_PATH") {
            self.mcp_path = path;
        }
        if let Some(scopes) = settings.scopes("REQUIRED_SCOPES")? {
            self.required_scopes = Some(scopes);
        }
        if let Some(client_id) = settings.string("INSECURE_ACCEPT_CLIENT_ID_AUDIENCE") {
            self.client_id_audience = Some(client_id.trim().to_owned());
        }
        Ok(self)
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// A [`WorkOSError`] naming the setting and its environment variable: a missing or malformed AuthKit
    /// domain or base URL, a verifier that cannot be built, a custom verifier that requires
    /// `offline_access` (its 403 would ask for a scope clients are told never to request), or
    /// [`insecure_accept_client_id_audience`](Self::insecure_accept_client_id_audience) with a custom
    /// verifier.
    pub fn build(self) -> Result<AuthKitProvider, WorkOSError> {
        let domain = self.domain.ok_or(WorkOSError::Missing {
            setting: "MCP_AUTH_AUTHKIT_DOMAIN",
            example: "your-app.authkit.app",
        })?;
        let domain = AuthKitDomain::parse(&domain)?;
        let base_url = self.base_url.ok_or(WorkOSError::Missing {
            setting: "MCP_AUTH_BASE_URL",
            example: "https://mcp.example.com",
        })?;
        let resource =
            ResourceUrl::new(&base_url, &self.mcp_path).map_err(mcp_auth_remote::RemoteAuthError::from)?;
        let client = match self.client {
            Some(client) => client,
            None => default_client()?,
        };
        if let Some(scopes) = &self.required_scopes
            && scopes.iter().any(|scope| scope == OFFLINE_ACCESS)
        {
            tracing::warn!(
                "offline_access in the required scopes (MCP_AUTH_REQUIRED_SCOPES) is ignored: it asks for \
                 refresh tokens and is never required or challenged"
            );
        }
        if self.client_id_audience.as_deref().is_some_and(|client_id| client_id.trim().is_empty()) {
            return Err(WorkOSError::Conflict {
                reason:
                    "insecure_accept_client_id_audience (MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE) is \
                         empty: give the AuthKit client id, or leave it out"
                        .to_owned(),
            });
        }
        let verifier = match self.verifier {
            Some(verifier) => {
                if let Some(client_id) = &self.client_id_audience {
                    return Err(WorkOSError::Conflict {
                        reason: format!(
                            "insecure_accept_client_id_audience ({client_id:?}, \
                             MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE) configures the default AuthKit JWT \
                             verifier's audience check, but a custom verifier was given: remove one of them"
                        ),
                    });
                }
                if verifier.required_scopes().iter().any(|scope| scope == OFFLINE_ACCESS) {
                    return Err(WorkOSError::Conflict {
                        reason: "the custom verifier requires offline_access, which is never challenged \
                                 (clients are told not to request it for a resource), so its 403 answers \
                                 would ask for a scope no client asks for: remove it from the verifier's \
                                 required scopes"
                            .to_owned(),
                    });
                }
                verifier
            }
            None => {
                // No required scopes here: the bearer layer checks the provider's one list (below), so
                // what is required and what a 403 challenge asks for cannot drift apart.
                let mut builder = JwtVerifier::builder()
                    .jwks_url(domain.jwks_url())
                    .issuer(domain.as_str())
                    .audience(resource.as_str())
                    .algorithms([Algorithm::RS256])
                    .clock(Arc::clone(&self.clock))
                    .http_client(client.clone());
                if let Some(client_id) = &self.client_id_audience {
                    tracing::warn!(
                        client_id = %client_id,
                        resource = %resource,
                        "INSECURE: insecure_accept_client_id_audience (MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE) \
                         is on: tokens whose audience is the AuthKit client id, issued to clients that left out \
                         the resource parameter, are accepted besides those for this resource; a token such a \
                         client obtained for any other server of this AuthKit environment works here too"
                    );
                    builder = builder.audience(client_id.as_str());
                }
                if domain.is_loopback() {
                    builder = builder.insecure_allow_http_jwks();
                }
                if self.token_cache > 0 {
                    builder = builder.token_cache(self.token_cache);
                }
                let jwt: Arc<dyn TokenVerifier> = Arc::new(builder.build()?);
                if self.userinfo_profile {
                    let userinfo = WorkOSTokenVerifier::builder()
                        .authkit_domain(domain.as_str())
                        .http_client(client.clone())
                        .timeout(self.profile_timeout)
                        .clock(Arc::clone(&self.clock))
                        .build()?;
                    Arc::new(WithUserinfoProfile::new(jwt, userinfo, self.token_cache)?)
                } else {
                    jwt
                }
            }
        };
        let mut remote = RemoteAuthProvider::builder(verifier)
            .authorization_server(domain.as_str())
            .base_url(base_url)
            .mcp_path(self.mcp_path)
            .scopes_supported(self.scopes_supported);
        if let Some(scopes) = self.required_scopes {
            remote = remote.required_scopes(scopes);
        }
        if self.client_id_audience.is_some() {
            // The JWT verifier checks the audience itself, against the resource and the client id.
            remote = remote.insecure_skip_audience_check();
        }
        if let Some(name) = self.resource_name {
            remote = remote.resource_name(name);
        }
        if let Some(hierarchy) = self.scope_hierarchy {
            remote = remote.scope_hierarchy(hierarchy);
        }
        if let Some(policy) = self.mcp_scopes {
            remote = remote.mcp_scopes(policy);
        }
        let remote = remote.build()?;
        let exchanger = match (self.token_exchange, self.token_exchange_cache) {
            (Some((client_id, client_secret)), cache) => {
                let mut builder = TokenExchanger::builder(client_id, client_secret)
                    .discover_from_issuer(domain.as_str())
                    .http_client(client.clone())
                    .clock(Arc::clone(&self.clock));
                if let Some(cache) = cache {
                    builder = builder.shared_cache(cache);
                }
                Some(Arc::new(builder.build()?))
            }
            (None, Some(_)) => {
                return Err(WorkOSError::Conflict {
                    reason:
                        "token_exchange_cache was given without token_exchange: configure the MCP server's \
                             client with .token_exchange(client_id, client_secret), or remove the cache"
                            .to_owned(),
                });
            }
            (None, None) => None,
        };
        let forwarder = Arc::new(MetadataForwarder::new(
            domain.metadata_url(),
            domain.as_str().to_owned(),
            client,
            self.clock,
            self.metadata_cache,
        ));
        Ok(AuthKitProvider { domain, remote, forwarder, exchanger })
    }
}

pub(crate) fn default_client() -> Result<reqwest::Client, WorkOSError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(WorkOSError::HttpClient)
}
