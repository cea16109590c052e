//! [`OAuthProxy`]: the built proxy, its routes and the bearer layer for the MCP endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mcp_auth_core::BearerAuthLayer;
use mcp_auth_core::TokenVerifier;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::store::KvStorage;
use mcp_auth_jwt::JwtIssuer;
use mcp_auth_oauth_server::{
    AuthorizePolicy, ClientRegistry, CorsPolicy, GrantStore, KeyedHasher, OAuthError, ServerMetadata,
    SharedKeyError, random_token,
};
use mcp_auth_remote::RemoteAuthProvider;
use tokio::sync::OnceCell;

use crate::limits::SourceLimiter;
use crate::state::{NAMESPACE, StoreState};
use crate::upstream::Upstream;
use crate::verifier::SessionCache;

/// The paths the proxy serves (below the base URL's path).
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) prefix: String,
    pub(crate) authorize: String,
    pub(crate) consent: String,
    pub(crate) callback: String,
    pub(crate) token: String,
    pub(crate) register: String,
    pub(crate) revoke: String,
}

impl Paths {
    pub(crate) fn new(prefix: &str, callback: &str) -> Self {
        let at = |path: &str| format!("{prefix}{path}");
        Self {
            prefix: prefix.to_owned(),
            authorize: at("/authorize"),
            consent: at("/consent"),
            callback: at(callback),
            token: at("/token"),
            register: at("/register"),
            revoke: at("/revoke"),
        }
    }
}

/// Whether the person is asked before a client gets access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consent {
    Required,
    InsecureSkipped,
}

/// Lifetimes and limits.
#[derive(Debug, Clone)]
pub(crate) struct Lifetimes {
    pub(crate) access: Duration,
    pub(crate) refresh: Duration,
    pub(crate) refresh_grace: Duration,
    pub(crate) code: Duration,
    pub(crate) transaction: Duration,
    pub(crate) remembered_consent: Duration,
    pub(crate) upstream_refresh_margin: Duration,
    pub(crate) revocation_check: Duration,
}

/// Everything the handlers share.
pub(crate) struct Inner {
    /// The proxy's issuer: its base URL, no trailing slash.
    pub(crate) issuer: String,
    pub(crate) paths: Paths,
    pub(crate) resource: ResourceUrl,
    /// Scopes every token needs; a request that names none is given these.
    pub(crate) required_scopes: Vec<String>,
    pub(crate) upstream: Upstream,
    pub(crate) upstream_verifier: Arc<dyn TokenVerifier>,
    /// The Fernet-encrypted store.
    pub(crate) store: Arc<dyn KvStorage>,
    pub(crate) registry: ClientRegistry,
    pub(crate) authorize_policy: AuthorizePolicy,
    pub(crate) signer: JwtIssuer,
    pub(crate) metadata: ServerMetadata,
    pub(crate) cors: CorsPolicy,
    pub(crate) clock: SharedClock,
    pub(crate) consent: Consent,
    /// `__Host-` cookies with `Secure` (https), or plain names (loopback http).
    pub(crate) secure_cookies: bool,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) registrations: SourceLimiter,
    pub(crate) authorizations: SourceLimiter,
    pub(crate) sessions: Arc<SessionCache>,
    pub(crate) state: OnceCell<StoreState>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource.as_str())
            .field("upstream", &self.upstream)
            .field("consent", &self.consent)
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// An absolute URL of one of the proxy's paths.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.resource.origin(), path)
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }

    /// The store-backed state, loaded on first use (the store-key secret is shared by every instance).
    pub(crate) async fn state(&self) -> Result<&StoreState, OAuthError> {
        self.state
            .get_or_try_init(|| async {
                let hasher = KeyedHasher::shared_in(self.store.as_ref()).await.map_err(|error| {
                    tracing::error!(%error, "cannot load the store-key secret");
                    match error {
                        SharedKeyError::Store(store) => OAuthError::from(store),
                        _ => OAuthError::server_error(),
                    }
                })?;
                let grants = GrantStore::new(Arc::clone(&self.store), NAMESPACE, hasher.clone())
                    .with_clock(Arc::clone(&self.clock))
                    .with_code_ttl(self.lifetimes.code)
                    .with_refresh_ttl(self.lifetimes.refresh)
                    .with_access_ttl(self.lifetimes.access)
                    .with_refresh_grace(self.lifetimes.refresh_grace)
                    .with_revocation_listener({
                        // Whatever revokes a session here (revocation, code replay, refresh reuse), this
                        // instance's verifier refuses its access tokens at once.
                        let (sessions, interval) =
                            (Arc::clone(&self.sessions), self.lifetimes.revocation_check);
                        Arc::new(move |sid: &str| sessions.remember(sid, true, interval))
                    });
                Ok::<_, OAuthError>(StoreState::new(&self.store, hasher, grants))
            })
            .await
    }
}

/// A random value for ids and secrets; no randomness is a server error.
pub(crate) fn random(bytes: usize) -> Result<String, OAuthError> {
    random_token(bytes).map_err(|error| {
        tracing::error!(%error, "no randomness");
        OAuthError::server_error()
    })
}

/// An OAuth 2.1 authorization server facade in front of an upstream identity provider, and the
/// resource server of the MCP endpoint it protects.
///
/// Mount [`OAuthProxy::router`] (discovery, registration, authorize, consent, callback, token, revoke)
/// beside your MCP routes with [`OAuthProxy::bearer_layer`] on them, or let [`OAuthProxy::protect`] do
/// both. Build one with [`OAuthProxy::builder`]; `WorkOSProvider` in `mcp-auth-workos` is the preset for
/// WorkOS AuthKit.
#[derive(Clone)]
pub struct OAuthProxy {
    pub(crate) inner: Arc<Inner>,
    pub(crate) remote: RemoteAuthProvider,
}

impl fmt::Debug for OAuthProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthProxy").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl OAuthProxy {
    /// A builder.
    pub fn builder() -> crate::OAuthProxyBuilder {
        crate::OAuthProxyBuilder::default()
    }

    /// The proxy's issuer URL (its base URL).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The canonical URL of the protected MCP endpoint (the audience of the proxy's tokens).
    #[must_use]
    pub fn resource(&self) -> &ResourceUrl {
        &self.inner.resource
    }

    /// The upstream callback URL to register with the upstream identity provider.
    #[must_use]
    pub fn callback_url(&self) -> String {
        self.inner.url(&self.inner.paths.callback)
    }

    /// The resource-server side: protected resource metadata and the verifier.
    #[must_use]
    pub fn remote(&self) -> &RemoteAuthProvider {
        &self.remote
    }

    /// The verifier of the proxy's access tokens (signature, issuer, audience, expiry, type, revoked
    /// sessions), as the bearer layer uses it.
    #[must_use]
    pub fn verifier(&self) -> Arc<dyn TokenVerifier> {
        self.remote.verifier()
    }

    /// The bearer layer for the MCP routes.
    pub fn bearer_layer(&self) -> BearerAuthLayer {
        self.remote.bearer_layer()
    }

    /// Every route of the authorization server and the protected resource metadata.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        crate::endpoints::router(Arc::clone(&self.inner)).merge(self.remote.metadata_router())
    }

    /// Puts the bearer layer on `mcp_routes` and merges [`OAuthProxy::router`].
    pub fn protect<S: Clone + Send + Sync + 'static>(&self, mcp_routes: Router<S>) -> Router<S> {
        mcp_routes.layer(self.bearer_layer()).merge(self.router())
    }
}
