//! [`OAuthProxyBuilder`]: the proxy's settings and the checks `build()` makes.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::TokenVerifier;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::scope::ScopeHierarchy;
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_jwt::{JwtIssuer, SigningKey};
use mcp_auth_oauth_server::openidconnect::core::CoreGrantType;
use mcp_auth_oauth_server::{
    AuthorizePolicy, ClientMetadataResolver, ClientRegistry, CorsPolicy, DEFAULT_CODE_TTL, RedirectAllowList,
    RegistrationPolicy, ResourcePolicy, ScopePolicy, ServerMetadata,
};
use mcp_auth_remote::RemoteAuthProvider;
use tokio::sync::OnceCell;

use crate::cimd::MetadataDocuments;
use crate::error::ProxyError;
use crate::limits::SourceLimiter;
use crate::proxy::{Consent, Inner, Lifetimes, OAuthProxy, Paths};
use crate::state::NAMESPACE;
use crate::upstream::{Upstream, UpstreamConfig};
use crate::verifier::{ProxyTokenVerifier, SessionCache};

/// Authorization requests one source address may make per 10 minutes on one instance.
const AUTHORIZATIONS_PER_SOURCE: u32 = 600;

/// The default upstream callback path.
pub const DEFAULT_REDIRECT_PATH: &str = "/auth/callback";

/// Builds an [`OAuthProxy`].
///
/// Required: [`base_url`](Self::base_url), [`upstream`](Self::upstream) and
/// [`upstream_verifier`](Self::upstream_verifier). Everything else has a production default, except the
/// keys and the store: without [`signing_key`](Self::signing_key) and [`fernet_keys`](Self::fernet_keys)
/// the proxy generates ephemeral ones (and says so loudly: tokens and stored state do not survive a
/// restart), and without [`store`](Self::store) it keeps state in memory (one instance only).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::{StaticTokenVerifier, store::MemoryStore};
/// use mcp_auth_fernet::FernetKey;
/// use mcp_auth_jwt::SigningKey;
/// use mcp_auth_proxy::{OAuthProxy, UpstreamConfig};
///
/// let upstream = UpstreamConfig::new(
///     "https://idp.example.com/oauth2/authorize",
///     "https://idp.example.com/oauth2/token",
///     "client_01",
///     "upstream-secret".into(),
/// )?
/// .scopes(["openid", "profile", "email", "offline_access"]);
/// let proxy = OAuthProxy::builder()
///     .base_url("https://mcp.example.com")
///     .upstream(upstream)
///     .upstream_verifier(Arc::new(StaticTokenVerifier::new()))
///     .store(Arc::new(MemoryStore::new()))
///     .signing_key(SigningKey::generate_es256("key-1")?)
///     .fernet_keys(vec![FernetKey::generate()])
///     .allowed_client_redirect_uris(["http://localhost:*", "http://127.0.0.1:*"])?
///     .build()?;
/// assert_eq!(proxy.callback_url(), "https://mcp.example.com/auth/callback");
/// assert_eq!(proxy.resource().as_str(), "https://mcp.example.com/mcp");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct OAuthProxyBuilder {
    base_url: Option<String>,
    mcp_path: String,
    redirect_path: String,
    upstream: Option<UpstreamConfig>,
    upstream_verifier: Option<Arc<dyn TokenVerifier>>,
    store: Option<Arc<dyn KvStorage>>,
    fernet_keys: Option<Vec<FernetKey>>,
    signing_key: Option<SigningKey>,
    previous_signing_keys: Vec<SigningKey>,
    required_scopes: Vec<String>,
    scopes_supported: Vec<String>,
    allowed_redirects: Option<RedirectAllowList>,
    metadata_documents: Option<Arc<dyn ClientMetadataResolver>>,
    documents_enabled: bool,
    documents_loopback: bool,
    documents_hosts: Vec<String>,
    consent: Consent,
    lifetimes: Lifetimes,
    max_registrations_per_hour: u32,
    registered_client_ttl: Option<Duration>,
    token_cache: usize,
    registrations_per_source: (u32, Duration),
    mcp_scopes: Option<McpScopePolicy>,
    scope_hierarchy: Option<Arc<dyn ScopeHierarchy>>,
    resource_name: Option<String>,
    http: Option<reqwest::Client>,
    clock: SharedClock,
    allowed_origins: Vec<String>,
}

impl std::fmt::Debug for OAuthProxyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProxyBuilder")
            .field("base_url", &self.base_url)
            .field("mcp_path", &self.mcp_path)
            .field("upstream", &self.upstream)
            .field("consent", &self.consent)
            .finish_non_exhaustive()
    }
}

impl Default for OAuthProxyBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            mcp_path: "/mcp".to_owned(),
            redirect_path: DEFAULT_REDIRECT_PATH.to_owned(),
            upstream: None,
            upstream_verifier: None,
            store: None,
            fernet_keys: None,
            signing_key: None,
            previous_signing_keys: Vec::new(),
            required_scopes: Vec::new(),
            scopes_supported: Vec::new(),
            allowed_redirects: None,
            metadata_documents: None,
            documents_enabled: true,
            documents_loopback: false,
            documents_hosts: Vec::new(),
            consent: Consent::Required,
            lifetimes: Lifetimes {
                access: Duration::from_secs(3600),
                refresh: Duration::from_secs(30 * 24 * 3600),
                refresh_grace: Duration::from_secs(30),
                code: DEFAULT_CODE_TTL,
                transaction: Duration::from_secs(600),
                remembered_consent: Duration::from_secs(30 * 24 * 3600),
                upstream_refresh_margin: Duration::from_secs(120),
                revocation_check: Duration::from_secs(5),
            },
            max_registrations_per_hour: 1_000,
            registered_client_ttl: None,
            token_cache: 10_000,
            registrations_per_source: (100, Duration::from_secs(600)),
            mcp_scopes: None,
            scope_hierarchy: None,
            resource_name: None,
            http: None,
            clock: system_clock(),
            allowed_origins: Vec::new(),
        }
    }
}

impl OAuthProxyBuilder {
    /// The public URL of this server (`MCP_AUTH_BASE_URL`): the proxy's issuer, and the origin of the MCP
    /// endpoint. `https`, or `http` on loopback for development.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The MCP endpoint's path (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = path.into();
        self
    }

    /// The upstream callback path (`MCP_AUTH_REDIRECT_PATH`, default `/auth/callback`); register
    /// [`OAuthProxy::callback_url`] with the upstream.
    pub fn redirect_path(mut self, path: impl Into<String>) -> Self {
        self.redirect_path = path.into();
        self
    }

    /// The upstream identity provider and the proxy's client there.
    pub fn upstream(mut self, upstream: UpstreamConfig) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Checks the upstream's access tokens at sign-in and after each upstream refresh, and gives the
    /// user (id, email, name, organization, roles, permissions) the proxy's tokens carry.
    pub fn upstream_verifier(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.upstream_verifier = Some(verifier);
        self
    }

    /// Where state lives (clients, transactions, codes, grants, upstream tokens, consents): memory by
    /// default, Redis (or the file store) to survive restarts and share it between instances. The proxy
    /// encrypts everything it writes with its Fernet keys.
    pub fn store(mut self, store: Arc<dyn KvStorage>) -> Self {
        self.store = Some(store);
        self
    }

    /// The Fernet keys for data at rest (`MCP_AUTH_FERNET_KEYS`), newest first: the first encrypts,
    /// all decrypt, so a key can be rotated in without losing what is stored.
    pub fn fernet_keys(mut self, keys: Vec<FernetKey>) -> Self {
        self.fernet_keys = Some(keys);
        self
    }

    /// The key that signs the proxy's access tokens (`MCP_AUTH_JWT_SIGNING_KEY`).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// A previous signing key, still accepted for tokens it signed until they expire (key rotation).
    pub fn previous_signing_key(mut self, key: SigningKey) -> Self {
        self.previous_signing_keys.push(key);
        self
    }

    /// Scopes every token must carry (`MCP_AUTH_REQUIRED_SCOPES`); clients that ask for none get these.
    pub fn required_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The scopes clients may ask for (default: the required scopes; any well-formed scope when both
    /// are empty).
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Which client redirect URIs may be registered (`MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS`), as
    /// patterns such as `http://localhost:*` or `https://*.example.com/callback`. Without a list, any
    /// URI the registration rules accept.
    ///
    /// # Errors
    ///
    /// [`ProxyError::Config`] naming the malformed pattern.
    pub fn allowed_client_redirect_uris<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        patterns: I,
    ) -> Result<Self, ProxyError> {
        let list = RedirectAllowList::parse(patterns).map_err(|e| {
            ProxyError::config(
                "allowed client redirect URIs (MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS)",
                e.to_string(),
            )
        })?;
        self.allowed_redirects = Some(list);
        Ok(self)
    }

    /// Resolves Client ID Metadata Documents through `resolver` instead of the built-in
    /// [`MetadataDocuments`](crate::MetadataDocuments).
    pub fn client_metadata_documents(mut self, resolver: Arc<dyn ClientMetadataResolver>) -> Self {
        self.metadata_documents = Some(resolver);
        self
    }

    /// Whether clients may present a Client ID Metadata Document URL as their `client_id` (default on;
    /// advertised as `client_id_metadata_document_supported`). Documents are fetched SSRF-safely by
    /// [`MetadataDocuments`](crate::MetadataDocuments).
    pub fn client_id_metadata_documents(mut self, enabled: bool) -> Self {
        self.documents_enabled = enabled;
        self
    }

    /// Only these hosts (exact, or `*.example.com`) may serve metadata documents; others are refused
    /// before any fetch. Default: any public host.
    pub fn metadata_document_hosts<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Self {
        self.documents_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts metadata documents served over plain `http` from loopback (development only).
    pub fn insecure_allow_loopback_metadata_documents(mut self) -> Self {
        self.documents_loopback = true;
        self
    }

    /// Issues codes without asking the person first. **Insecure**: any registered client, including a
    /// malicious one, gets the signed-in user's access with one click on a link.
    pub fn insecure_skip_consent(mut self) -> Self {
        self.consent = Consent::InsecureSkipped;
        self
    }

    /// The lifetime of the proxy's access tokens (default one hour).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.lifetimes.access = ttl;
        self
    }

    /// The longest a grant lives from sign-in, however often it is refreshed (default 30 days); each
    /// refresh token lives until then (or until rotated).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.lifetimes.refresh = ttl;
        self
    }

    /// How long a just-rotated refresh token may be presented again and get the same answer (default
    /// 30 s; zero turns it off). Past it, reuse revokes the grant.
    pub fn refresh_grace(mut self, grace: Duration) -> Self {
        self.lifetimes.refresh_grace = grace;
        self
    }

    /// How long a person has to finish consent and upstream sign-in (default 10 minutes).
    pub fn transaction_ttl(mut self, ttl: Duration) -> Self {
        self.lifetimes.transaction = ttl;
        self
    }

    /// How long "remember this client" lasts in a browser (default 30 days).
    pub fn remembered_consent_ttl(mut self, ttl: Duration) -> Self {
        self.lifetimes.remembered_consent = ttl;
        self
    }

    /// Upstream tokens are refreshed when a client refreshes within this margin of their expiry
    /// (default two minutes).
    pub fn upstream_refresh_margin(mut self, margin: Duration) -> Self {
        self.lifetimes.upstream_refresh_margin = margin;
        self
    }

    /// How long an instance trusts its last answer to "was this session revoked?" (default 5 s): a
    /// revocation on another instance takes effect within it; on this one, at once.
    pub fn revocation_check_interval(mut self, interval: Duration) -> Self {
        self.lifetimes.revocation_check = interval;
        self
    }

    /// The most registrations per clock hour across every instance (default 1,000).
    pub fn max_registrations_per_hour(mut self, max: u32) -> Self {
        self.max_registrations_per_hour = max;
        self
    }

    /// How long a dynamically registered client lives in the store without being used (default 30 days,
    /// at least one minute); every use renews it. With [`max_registrations_per_hour`](Self::max_registrations_per_hour)
    /// it bounds how many registrations the store holds.
    pub fn registered_client_ttl(mut self, ttl: Duration) -> Self {
        self.registered_client_ttl = Some(ttl);
        self
    }

    /// How many of its own access tokens the proxy remembers as verified (default 10,000), so a returning
    /// token costs a lookup rather than a signature check; 0 turns the cache off. The memory it takes
    /// grows with each new token until the bound, then stays there.
    pub fn token_cache(mut self, max_entries: usize) -> Self {
        self.token_cache = max_entries;
        self
    }

    /// The most registrations one source address may make per `window` on one instance (default 100
    /// per 10 minutes: a ceiling, not a wall, since hosted clients share egress addresses).
    pub fn registrations_per_source(mut self, max: u32, window: Duration) -> Self {
        self.registrations_per_source = (max, window);
        self
    }

    /// Per-tool scopes on the MCP endpoint (see `BearerAuthLayer::mcp_scopes`).
    pub fn mcp_scopes(mut self, policy: McpScopePolicy) -> Self {
        self.mcp_scopes = Some(policy);
        self
    }

    /// A scope hierarchy for the scope checks (`admin` implies `read`...).
    pub fn scope_hierarchy(mut self, hierarchy: impl ScopeHierarchy + 'static) -> Self {
        self.scope_hierarchy = Some(Arc::new(hierarchy));
        self
    }

    /// A human-readable name in the protected resource metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A web origin (besides loopback ones and the proxy's own) whose pages may call the endpoints.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// The HTTP client for upstream calls (default: 10 s timeout, no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock (tests).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the proxy.
    ///
    /// # Errors
    ///
    /// A [`ProxyError`] naming the missing or unusable setting.
    pub fn build(self) -> Result<OAuthProxy, ProxyError> {
        let base_url = self.base_url.ok_or(ProxyError::Missing {
            setting: "MCP_AUTH_BASE_URL",
            example: "https://mcp.example.com",
        })?;
        let upstream_config = self.upstream.ok_or(ProxyError::Missing {
            setting: "upstream",
            example: "UpstreamConfig::new(authorize URL, token URL, client id, secret)",
        })?;
        let upstream_verifier = self.upstream_verifier.ok_or(ProxyError::Missing {
            setting: "upstream_verifier",
            example: "a JwtVerifier on the upstream's JWKS",
        })?;
        let resource =
            ResourceUrl::new(&base_url, &self.mcp_path).map_err(mcp_auth_remote::RemoteAuthError::from)?;
        if !self.redirect_path.starts_with('/') || self.redirect_path.contains(['?', '#']) {
            return Err(ProxyError::config(
                "redirect path (MCP_AUTH_REDIRECT_PATH)",
                "must be a path such as /auth/callback",
            ));
        }
        let lifetimes = self.lifetimes;
        for (name, ttl) in [
            ("access_token_ttl", lifetimes.access),
            ("refresh_token_ttl", lifetimes.refresh),
            ("transaction_ttl", lifetimes.transaction),
        ] {
            if ttl.as_secs() == 0 {
                return Err(ProxyError::config(name, "must be at least one second"));
            }
        }
        let issuer = format!("{}{}", resource.origin(), resource.prefix());
        let secure_cookies = resource.origin().starts_with("https://");
        let paths = Paths::new(resource.prefix(), &self.redirect_path);

        let fernet_keys = match self.fernet_keys {
            Some(keys) if keys.is_empty() => {
                return Err(ProxyError::config("Fernet keys (MCP_AUTH_FERNET_KEYS)", "is an empty list"));
            }
            Some(keys) => keys,
            None => {
                tracing::warn!(
                    "no Fernet keys (MCP_AUTH_FERNET_KEYS): using an ephemeral key; everything the proxy \
                     stored (clients, grants, upstream tokens) is unreadable after a restart"
                );
                vec![FernetKey::generate()]
            }
        };
        let store = self.store.unwrap_or_else(|| {
            tracing::info!(
                "no store given: the proxy keeps its state in memory (one instance, lost on restart)"
            );
            Arc::new(MemoryStore::new())
        });
        let store: Arc<dyn KvStorage> =
            Arc::new(FernetStore::builder(store, fernet_keys).clock(Arc::clone(&self.clock)).build()?);

        let signing_key = match self.signing_key {
            Some(key) => key,
            None => {
                tracing::warn!(
                    "no signing key (MCP_AUTH_JWT_SIGNING_KEY): using an ephemeral one; every token the proxy \
                     issued stops working after a restart"
                );
                SigningKey::generate_es256("ephemeral")?
            }
        };
        let mut signer = JwtIssuer::builder()
            .issuer(issuer.clone())
            .audience(resource.as_str())
            .signing_key(signing_key)
            .access_ttl(lifetimes.access)
            .refresh_ttl(lifetimes.refresh)
            .clock(Arc::clone(&self.clock));
        for key in self.previous_signing_keys {
            signer = signer.verification_key(key);
        }
        let signer = signer.build()?;

        let scopes_supported = if self.scopes_supported.is_empty() {
            self.required_scopes.clone()
        } else {
            self.scopes_supported
        };
        let mut policy =
            RegistrationPolicy::default().max_registrations_per_hour(self.max_registrations_per_hour);
        if let Some(ttl) = self.registered_client_ttl {
            policy = policy.client_ttl(ttl);
        }
        // The allow-list both limits what may be registered and names the URIs an early error may be
        // redirected to without a page first (RFC 9700 §4.11.2).
        let trusted_redirect_uris = self.allowed_redirects.clone();
        if let Some(list) = self.allowed_redirects {
            policy = policy.allowed_redirect_uris(list);
        }
        if !scopes_supported.is_empty() {
            policy = policy.scopes_supported(scopes_supported.iter().cloned());
        }
        let resolver = match (self.metadata_documents, self.documents_enabled) {
            (_, false) => None,
            (Some(resolver), true) => Some(resolver),
            (None, true) => {
                let mut documents = MetadataDocuments::builder(policy.clone()).clock(Arc::clone(&self.clock));
                if !self.documents_hosts.is_empty() {
                    documents = documents.allowed_hosts(self.documents_hosts);
                }
                if self.documents_loopback {
                    documents = documents.insecure_allow_loopback_http();
                }
                let documents = documents
                    .build()
                    .map_err(|e| ProxyError::config("client ID metadata documents", e.to_string()))?;
                Some(Arc::new(documents) as Arc<dyn ClientMetadataResolver>)
            }
        };
        let documents = resolver.is_some();
        let mut registry =
            ClientRegistry::new(Arc::clone(&store), NAMESPACE, policy).with_clock(Arc::clone(&self.clock));
        if let Some(resolver) = resolver {
            registry = registry.with_metadata_documents(resolver);
        }
        let authorize_policy = AuthorizePolicy {
            scopes: if scopes_supported.is_empty() {
                ScopePolicy::default()
            } else {
                ScopePolicy::supported(scopes_supported.iter().cloned())
            },
            resources: ResourcePolicy::only([resource.as_str()]),
            trusted_redirect_uris,
        };
        let mut metadata = ServerMetadata::new(issuer.clone())
            .authorization_endpoint(&paths.authorize[resource.prefix().len()..])
            .token_endpoint(&paths.token[resource.prefix().len()..])
            .registration_endpoint(&paths.register[resource.prefix().len()..])
            .revocation_endpoint(&paths.revoke[resource.prefix().len()..])
            .grant(CoreGrantType::RefreshToken)
            .client_id_metadata_documents(documents);
        if !scopes_supported.is_empty() {
            metadata = metadata.scopes(scopes_supported.iter().cloned());
        }
        let mut cors = CorsPolicy::loopback()
            .with_origin(resource.origin())
            .map_err(|e| ProxyError::config("base URL (MCP_AUTH_BASE_URL)", e))?;
        for origin in &self.allowed_origins {
            cors = cors.with_origin(origin).map_err(|e| ProxyError::config("allowed_origin", e))?;
        }
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(ProxyError::HttpClient)?,
        };
        let callback = format!("{}{}", resource.origin(), paths.callback);
        let upstream = Upstream::new(upstream_config, http, &callback)?;
        let (max, window) = self.registrations_per_source;

        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            paths,
            resource: resource.clone(),
            required_scopes: self.required_scopes.clone(),
            upstream,
            upstream_verifier,
            store,
            registry,
            authorize_policy,
            signer,
            metadata,
            cors,
            clock: self.clock,
            consent: self.consent,
            secure_cookies,
            lifetimes,
            registrations: SourceLimiter::new(max, window),
            authorizations: SourceLimiter::new(AUTHORIZATIONS_PER_SOURCE, Duration::from_secs(600)),
            sessions: Arc::new(SessionCache::default()),
            state: OnceCell::new(),
        });
        let mut jwt = inner.signer.access_verifier();
        if self.token_cache > 0 {
            jwt = jwt.token_cache(self.token_cache);
        }
        let jwt = jwt.build()?;
        let verifier: Arc<dyn TokenVerifier> = Arc::new(ProxyTokenVerifier::new(jwt, Arc::clone(&inner)));
        let mut remote = RemoteAuthProvider::builder(verifier)
            .authorization_server(issuer)
            .base_url(base_url)
            .mcp_path(self.mcp_path)
            .required_scopes(self.required_scopes);
        if !scopes_supported.is_empty() {
            remote = remote.scopes_supported(scopes_supported);
        }
        if let Some(name) = self.resource_name {
            remote = remote.resource_name(name);
        }
        if let Some(policy) = self.mcp_scopes {
            remote = remote.mcp_scopes(policy);
        }
        if let Some(hierarchy) = self.scope_hierarchy {
            remote = remote.scope_hierarchy(hierarchy);
        }
        Ok(OAuthProxy { inner, remote: remote.build()? })
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::StaticTokenVerifier;

    use super::*;

    fn upstream() -> UpstreamConfig {
        UpstreamConfig::new(
            "https://idp.example.com/oauth2/authorize",
            "https://idp.example.com/oauth2/token",
            "client_01",
            "upstream-secret".into(),
        )
        .unwrap()
    }

    fn complete() -> OAuthProxyBuilder {
        OAuthProxy::builder()
            .base_url("https://mcp.example.com")
            .upstream(upstream())
            .upstream_verifier(Arc::new(StaticTokenVerifier::new()))
            .signing_key(SigningKey::generate_es256("k1").unwrap())
            .fernet_keys(vec![FernetKey::generate()])
    }

    fn error(builder: OAuthProxyBuilder) -> String {
        builder.build().unwrap_err().to_string()
    }

    #[test]
    fn missing_and_unusable_settings_are_named() {
        assert!(error(OAuthProxy::builder()).contains("MCP_AUTH_BASE_URL"));
        assert!(error(OAuthProxy::builder().base_url("https://mcp.example.com")).contains("upstream"));
        assert!(error(complete().redirect_path("auth/callback")).contains("MCP_AUTH_REDIRECT_PATH"));
        assert!(error(complete().fernet_keys(Vec::new())).contains("MCP_AUTH_FERNET_KEYS"));
        assert!(error(complete().access_token_ttl(Duration::ZERO)).contains("access_token_ttl"));
        assert!(error(complete().base_url("http://mcp.example.com")).contains("https"));
        let bad = complete().allowed_client_redirect_uris(["https://*.com/cb"]).unwrap_err().to_string();
        assert!(bad.contains("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS"), "{bad}");
        let plain =
            UpstreamConfig::new("http://idp.example.com/a", "https://idp.example.com/t", "c", "s".into());
        assert!(plain.unwrap_err().to_string().contains("https"));
        assert!(UpstreamConfig::new("https://i/a", "https://i/t", " ", "s".into()).is_err());
    }

    #[test]
    fn paths_and_urls_follow_the_base_url() {
        let proxy =
            complete().base_url("https://example.com/tools").redirect_path("/oauth/cb").build().unwrap();
        assert_eq!(proxy.issuer(), "https://example.com/tools");
        assert_eq!(proxy.callback_url(), "https://example.com/tools/oauth/cb");
        assert_eq!(proxy.resource().as_str(), "https://example.com/tools/mcp");
        let metadata = proxy.inner.metadata.build();
        assert_eq!(metadata.token_endpoint.as_deref(), Some("https://example.com/tools/token"));
        assert_eq!(metadata.authorization_endpoint.as_deref(), Some("https://example.com/tools/authorize"));
        assert_eq!(metadata.client_id_metadata_document_supported, Some(true));
        let off = complete().client_id_metadata_documents(false).build().unwrap();
        assert_eq!(off.inner.metadata.build().client_id_metadata_document_supported, Some(false));
    }

    #[test]
    fn registered_clients_live_as_long_as_configured() {
        let default = complete().build().unwrap();
        assert_eq!(default.inner.registry.policy().ttl(), Duration::from_secs(30 * 24 * 3600));
        let short = complete().registered_client_ttl(Duration::from_secs(90)).build().unwrap();
        assert_eq!(short.inner.registry.policy().ttl(), Duration::from_secs(90));
        let floor = complete().registered_client_ttl(Duration::from_secs(1)).build().unwrap();
        assert_eq!(floor.inner.registry.policy().ttl(), Duration::from_secs(60), "one minute at least");
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let text = format!("{:?} {:?}", complete(), complete().build().unwrap());
        assert!(!text.contains("upstream-secret"), "{text}");
    }
}
