//! [`WorkOSProvider`]: the OAuth proxy preset for WorkOS AuthKit / Connect applications, whose one
//! client id and secret the proxy uses upstream while MCP clients register with the proxy itself.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::settings::Settings;
use mcp_auth_core::store::KvStorage;
use mcp_auth_core::{BearerAuthLayer, TokenVerifier};
use mcp_auth_fernet::FernetKey;
use mcp_auth_jwt::{Algorithm, JwtVerifier, SigningKey};
use mcp_auth_proxy::{OAuthProxy, OAuthProxyBuilder, UpstreamAuthMethod, UpstreamConfig};
use secrecy::SecretString;

use crate::WorkOSError;
use crate::authkit::default_client;
use crate::domain::AuthKitDomain;
use crate::profile::WithUserinfoProfile;
use crate::userinfo::WorkOSTokenVerifier;

/// The scopes asked for upstream: the OpenID profile for the user's name and email, and
/// `offline_access` so the proxy can refresh.
pub const UPSTREAM_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An OAuth proxy in front of WorkOS AuthKit: MCP clients register with this server (or present a
/// Client ID Metadata Document), consent, and sign in at AuthKit through the server's one WorkOS client;
/// the server issues its own tokens for its MCP endpoint and keeps AuthKit's tokens encrypted at rest.
///
/// Pick it over [`AuthKitProvider`](crate::AuthKitProvider) when MCP clients cannot register with
/// AuthKit directly (a Connect application with one fixed client), or when the server must hold the
/// user's AuthKit tokens itself.
///
/// # Examples
///
/// ```no_run
/// use mcp_auth_workos::WorkOSProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = WorkOSProvider::builder()
///     .authkit_domain("your-app.authkit.app")
///     .client_id("client_01H...")
///     .client_secret("sk_test_...".into())
///     .base_url("https://mcp.example.com")
///     .build()
///     .await?;
/// let app = provider.protect(axum::Router::<()>::new() /* .route("/mcp", your MCP service) */);
/// # let _ = app; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WorkOSProvider {
    domain: AuthKitDomain,
    proxy: OAuthProxy,
}

impl WorkOSProvider {
    /// A builder.
    pub fn builder() -> WorkOSProviderBuilder {
        WorkOSProviderBuilder::default()
    }

    /// A provider configured from the environment (and `.env`): `MCP_AUTH_AUTHKIT_DOMAIN`,
    /// `MCP_AUTH_WORKOS_CLIENT_ID`, `MCP_AUTH_WORKOS_CLIENT_SECRET`, `MCP_AUTH_BASE_URL`,
    /// `MCP_AUTH_MCP_PATH`, `MCP_AUTH_REDIRECT_PATH`, `MCP_AUTH_REQUIRED_SCOPES`, `MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS`,
    /// `MCP_AUTH_JWT_SIGNING_KEY`, `MCP_AUTH_FERNET_KEYS`, with state in `store`.
    ///
    /// # Errors
    ///
    /// A [`WorkOSError`] naming the missing or malformed variable.
    pub async fn from_env(store: Arc<dyn KvStorage>) -> Result<Self, WorkOSError> {
        Self::builder().settings(&Settings::from_env()?)?.store(store).build().await
    }

    /// The AuthKit domain.
    #[must_use]
    pub fn domain(&self) -> &AuthKitDomain {
        &self.domain
    }

    /// The proxy.
    #[must_use]
    pub fn proxy(&self) -> &OAuthProxy {
        &self.proxy
    }

    /// The bearer layer for the MCP routes.
    pub fn bearer_layer(&self) -> BearerAuthLayer {
        self.proxy.bearer_layer()
    }

    /// The authorization server's routes and the protected resource metadata.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        self.proxy.router()
    }

    /// Puts the bearer layer on `mcp_routes` and merges [`WorkOSProvider::router`].
    pub fn protect<S: Clone + Send + Sync + 'static>(&self, mcp_routes: Router<S>) -> Router<S> {
        self.proxy.protect(mcp_routes)
    }
}

/// Builds a [`WorkOSProvider`].
#[must_use]
pub struct WorkOSProviderBuilder {
    domain: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    auth_method: Option<UpstreamAuthMethod>,
    http: Option<reqwest::Client>,
    clock: SharedClock,
    proxy: OAuthProxyBuilder,
    base_url_set: bool,
}

impl std::fmt::Debug for WorkOSProviderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkOSProviderBuilder")
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[REDACTED]"))
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Default for WorkOSProviderBuilder {
    fn default() -> Self {
        Self {
            domain: None,
            client_id: None,
            client_secret: None,
            auth_method: None,
            http: None,
            clock: system_clock(),
            proxy: OAuthProxyBuilder::default(),
            base_url_set: false,
        }
    }
}

impl WorkOSProviderBuilder {
    /// The AuthKit domain (`MCP_AUTH_AUTHKIT_DOMAIN`), such as `your-app.authkit.app`; plain `http` only on
    /// loopback.
    pub fn authkit_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The WorkOS client id (`MCP_AUTH_WORKOS_CLIENT_ID`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The WorkOS client secret (`MCP_AUTH_WORKOS_CLIENT_SECRET`).
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.client_secret = Some(secret);
        self
    }

    /// This server's public URL (`MCP_AUTH_BASE_URL`).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.proxy = self.proxy.base_url(base_url);
        self.base_url_set = true;
        self
    }

    /// How the client authenticates at AuthKit's token endpoint; by default chosen from AuthKit's
    /// metadata (`client_secret_basic` when offered, else `client_secret_post`).
    pub fn upstream_auth_method(mut self, method: UpstreamAuthMethod) -> Self {
        self.auth_method = Some(method);
        self
    }

    /// Where state lives (see [`OAuthProxyBuilder::store`]).
    pub fn store(mut self, store: Arc<dyn KvStorage>) -> Self {
        self.proxy = self.proxy.store(store);
        self
    }

    /// The HTTP client for AuthKit calls.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.proxy = self.proxy.http_client(client.clone());
        self.http = Some(client);
        self
    }

    /// The clock (tests).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.proxy = self.proxy.clock(Arc::clone(&clock));
        self.clock = clock;
        self
    }

    /// Any other proxy setting: consent, lifetimes, keys, redirect allow-list, metadata documents,
    /// per-tool scopes...
    pub fn configure(mut self, configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder) -> Self {
        self.proxy = configure(self.proxy);
        self
    }

    /// Reads the variables [`WorkOSProvider::from_env`] names from `settings`.
    ///
    /// # Errors
    ///
    /// A [`WorkOSError`] naming the malformed variable.
    pub fn settings(mut self, settings: &Settings) -> Result<Self, WorkOSError> {
        if let Some(domain) = settings.string("AUTHKIT_DOMAIN") {
            self.domain = Some(domain);
        }
        if let Some(id) = settings.string("WORKOS_CLIENT_ID") {
            self.client_id = Some(id);
        }
        if let Some(secret) = settings.secret("WORKOS_CLIENT_SECRET") {
            self.client_secret = Some(secret);
        }
        if let Some(base_url) = settings.string("BASE_URL") {
            self = self.base_url(base_url);
        }
        let mut proxy = self.proxy;
        if let Some(path) = settings.string("REDIRECT_PATH") {
            proxy = proxy.redirect_path(path);
        }
        if let Some(path) = settings.string("MCP_PATH") {
            proxy = proxy.mcp_path(path);
        }
        if let Some(scopes) = settings.scopes("REQUIRED_SCOPES")? {
            proxy = proxy.required_scopes(scopes);
        }
        if let Some(patterns) = settings.string("ALLOWED_CLIENT_REDIRECT_URIS") {
            let patterns: Vec<&str> = patterns.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
            proxy = proxy
                .allowed_client_redirect_uris(patterns)
                .map_err(|e| WorkOSError::Conflict { reason: e.to_string() })?;
        }
        if let Some(key) = SigningKey::from_settings(settings)? {
            proxy = proxy.signing_key(key);
        }
        if let Some(key) = SigningKey::previous_from_settings(settings)? {
            proxy = proxy.previous_signing_key(key);
        }
        if settings.string("FERNET_KEYS").is_some() {
            let keys = FernetKey::from_settings(settings)
                .map_err(|e| WorkOSError::Conflict { reason: e.to_string() })?;
            proxy = proxy.fernet_keys(keys);
        }
        self.proxy = proxy;
        Ok(self)
    }

    /// Builds the provider. Reads AuthKit's metadata once to choose the client authentication method
    /// (unless set); when AuthKit cannot be reached, `client_secret_basic` is used and a warning logged.
    ///
    /// # Errors
    ///
    /// A [`WorkOSError`] naming the missing or unusable setting.
    pub async fn build(self) -> Result<WorkOSProvider, WorkOSError> {
        let domain = self.domain.ok_or(WorkOSError::Missing {
            setting: "MCP_AUTH_AUTHKIT_DOMAIN",
            example: "your-app.authkit.app",
        })?;
        let domain = AuthKitDomain::parse(&domain)?;
        let client_id = self
            .client_id
            .ok_or(WorkOSError::Missing { setting: "MCP_AUTH_WORKOS_CLIENT_ID", example: "client_01H..." })?;
        let client_secret = self.client_secret.ok_or(WorkOSError::Missing {
            setting: "MCP_AUTH_WORKOS_CLIENT_SECRET",
            example: "sk_test_...",
        })?;
        if !self.base_url_set {
            return Err(WorkOSError::Missing {
                setting: "MCP_AUTH_BASE_URL",
                example: "https://mcp.example.com",
            });
        }
        let http = match self.http {
            Some(client) => client,
            None => default_client()?,
        };
        let auth_method = match self.auth_method {
            Some(method) => method,
            None => discover_auth_method(&http, &domain).await?,
        };
        let endpoint = |path: &str| format!("{}{path}", domain.as_str());
        let conflict = |e: mcp_auth_proxy::ProxyError| WorkOSError::Conflict { reason: e.to_string() };
        let upstream = UpstreamConfig::new(
            &endpoint("/oauth2/authorize"),
            &endpoint("/oauth2/token"),
            client_id,
            client_secret,
        )
        .and_then(|u| u.revocation_endpoint(&endpoint("/oauth2/revoke")))
        .map_err(conflict)?
        .auth_method(auth_method)
        .scopes(UPSTREAM_SCOPES);
        let verifier = upstream_verifier(&domain, &http, &self.clock)?;
        let proxy = self
            .proxy
            .upstream(upstream)
            .upstream_verifier(verifier)
            .http_client(http)
            .build()
            .map_err(conflict)?;
        Ok(WorkOSProvider { domain, proxy })
    }
}

/// AuthKit's access tokens are checked by signature, issuer and expiry on AuthKit's JWKS, then the
/// profile (email, name) read from userinfo; an opaque (non-JWT) token is checked through userinfo
/// alone. Not the audience: the proxy receives these tokens straight from AuthKit's token endpoint and
/// never accepts them from clients (its MCP endpoint takes only its own tokens, whose audience is
/// checked).
fn upstream_verifier(
    domain: &AuthKitDomain,
    http: &reqwest::Client,
    clock: &SharedClock,
) -> Result<Arc<dyn TokenVerifier>, WorkOSError> {
    let mut jwt = JwtVerifier::builder()
        .jwks_url(domain.jwks_url())
        .issuer(domain.as_str())
        .insecure_skip_audience()
        .algorithms([Algorithm::RS256])
        .clock(Arc::clone(clock))
        .http_client(http.clone());
    if domain.is_loopback() {
        jwt = jwt.insecure_allow_http_jwks();
    }
    let userinfo = WorkOSTokenVerifier::builder()
        .authkit_domain(domain.as_str())
        .http_client(http.clone())
        .timeout(Duration::from_secs(5))
        .clock(Arc::clone(clock))
        .build()?;
    // No verified-token cache on this JWT verifier, so no merged profiles to remember either.
    let jwt = WithUserinfoProfile::new(Arc::new(jwt.build()?), userinfo.clone(), 0)?;
    Ok(Arc::new(JwtOrOpaque { jwt, opaque: userinfo }))
}

/// A JWT goes to the JWKS check (with the profile added); anything else is an opaque token, checked
/// through userinfo.
#[derive(Debug)]
struct JwtOrOpaque {
    jwt: WithUserinfoProfile,
    opaque: WorkOSTokenVerifier,
}

#[mcp_auth_core::async_trait]
impl TokenVerifier for JwtOrOpaque {
    async fn verify(&self, token: &str) -> Result<mcp_auth_core::AccessToken, mcp_auth_core::VerifyError> {
        if token.split('.').count() == 3 {
            self.jwt.verify(token).await
        } else {
            self.opaque.verify(token).await
        }
    }

    fn required_scopes(&self) -> &[String] {
        &[]
    }
}

/// Reads `token_endpoint_auth_methods_supported` from AuthKit's metadata.
async fn discover_auth_method(
    http: &reqwest::Client,
    domain: &AuthKitDomain,
) -> Result<UpstreamAuthMethod, WorkOSError> {
    let answer = async {
        let response = http.get(domain.metadata_url()).send().await?.error_for_status()?;
        response.json::<serde_json::Value>().await
    };
    let metadata = match answer.await {
        Ok(metadata) => metadata,
        Err(error) => {
            tracing::warn!(%error, "cannot read AuthKit's metadata; using client_secret_basic upstream");
            return Ok(UpstreamAuthMethod::ClientSecretBasic);
        }
    };
    let supported: Option<Vec<String>> = metadata
        .get("token_endpoint_auth_methods_supported")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    UpstreamAuthMethod::from_supported(supported.as_deref()).ok_or_else(|| WorkOSError::Conflict {
        reason: "AuthKit offers neither client_secret_basic nor client_secret_post for its token endpoint; \
                 set the method with upstream_auth_method(..)"
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use mcp_auth_core::VerifyError;

    use super::*;

    /// An AuthKit stand-in whose userinfo knows one opaque token.
    async fn authkit() -> (String, tokio::task::JoinHandle<()>) {
        let app = axum::Router::new().route(
            "/oauth2/userinfo",
            get(|headers: HeaderMap| async move {
                let known =
                    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer opaque_1");
                if known {
                    Ok(axum::Json(serde_json::json!({"sub": "user_9", "email": "nine@example.com"})))
                } else {
                    Err(StatusCode::UNAUTHORIZED)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        (base, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
    }

    #[tokio::test]
    async fn opaque_upstream_tokens_are_checked_through_userinfo_and_jwts_through_the_jwks() {
        let (base, server) = authkit().await;
        let domain = AuthKitDomain::parse(&base).unwrap();
        let verifier = upstream_verifier(&domain, &default_client().unwrap(), &system_clock()).unwrap();
        let user = verifier.verify("opaque_1").await.expect("userinfo knows it");
        assert_eq!(user.subject.as_deref(), Some("user_9"));
        assert_eq!(user.claim("email").and_then(|v| v.as_str()), Some("nine@example.com"));
        assert!(matches!(verifier.verify("opaque_2").await, Err(VerifyError::Invalid { .. })));
        // A JWT-shaped token goes to the JWKS check, which refuses it (no JWKS here), never to userinfo.
        assert!(verifier.verify("e30.e30.c2ln").await.is_err());
        server.abort();
    }
}
