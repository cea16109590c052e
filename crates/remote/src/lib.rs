//! Remote auth for MCP servers: the MCP server is an OAuth resource server, an external authorization
//! server (WorkOS AuthKit, or any OAuth 2.1 server) issues the tokens.
//!
//! [`RemoteAuthProvider`] publishes RFC 9728 Protected Resource Metadata that points clients at the
//! authorization server, and protects the MCP route with the bearer layer: 401 with a challenge that names
//! the metadata, 403 `insufficient_scope` for step-up, 503 when the verifier cannot reach its keys. Tokens
//! must carry the server's canonical [`ResourceUrl`] as audience.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rmcp` | yes | [`Caller`](crate::rmcp::Caller): the verified user as an rmcp tool-handler argument |
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::post};
//! use mcp_auth_core::StaticTokenVerifier;
//! use mcp_auth_remote::RemoteAuthProvider;
//!
//! let provider = RemoteAuthProvider::builder(Arc::new(StaticTokenVerifier::new()))
//!     .authorization_server("https://your-app.authkit.app")
//!     .base_url("https://mcp.example.com")
//!     .mcp_path("/mcp")
//!     .scopes_supported(["openid", "profile", "email"])
//!     .build()
//!     .unwrap();
//!
//! let mcp_routes = Router::new()
//!     .route("/mcp", post(|| async { "your rmcp service goes here" }))
//!     .layer(provider.bearer_layer());
//! let app: Router = mcp_routes.merge(provider.metadata_router());
//! assert_eq!(provider.resource().as_str(), "https://mcp.example.com/mcp");
//! ```

mod resource;
#[cfg(feature = "rmcp")]
pub mod rmcp;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::{AccessToken, BearerAuthLayer, TokenVerifier, VerifyError, async_trait};
use tower_http::cors::{Any, CorsLayer};

pub use crate::resource::ResourceUrl;

/// The RFC 9728 well-known path.
pub const WELL_KNOWN_PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// The scope that asks for refresh tokens: never a resource requirement, so never advertised or challenged
/// (MCP authorization, "Scope Selection Strategy").
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Why a remote-auth provider could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteAuthError {
    /// The public base URL is unusable.
    #[error("invalid base URL (MCP_AUTH_BASE_URL): {reason}")]
    InvalidBaseUrl {
        /// What is wrong.
        reason: String,
    },
    /// The MCP path is unusable.
    #[error("invalid MCP path (MCP_AUTH_MCP_PATH): {reason}")]
    InvalidMcpPath {
        /// What is wrong.
        reason: String,
    },
    /// An authorization server URL is unusable.
    #[error("invalid authorization server URL: {reason}")]
    InvalidAuthorizationServer {
        /// What is wrong.
        reason: String,
    },
    /// A required setting was not given.
    #[error("{setting} is required: {hint}")]
    Missing {
        /// The setting.
        setting: &'static str,
        /// How to give it.
        hint: &'static str,
    },
    /// Reading settings from the environment failed.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// A resource server in front of an MCP endpoint, trusting an external authorization server.
///
/// Build it with [`RemoteAuthProvider::builder`]; then merge [`metadata_router`](Self::metadata_router)
/// into the app and put [`bearer_layer`](Self::bearer_layer) on the MCP route.
#[derive(Clone)]
pub struct RemoteAuthProvider {
    verifier: Arc<dyn TokenVerifier>,
    resource: ResourceUrl,
    metadata: Arc<ProtectedResourceMetadata>,
    required_scopes: Vec<String>,
}

impl fmt::Debug for RemoteAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAuthProvider")
            .field("resource", &self.resource)
            .field("authorization_servers", &self.metadata.authorization_servers)
            .field("required_scopes", &self.required_scopes)
            .field("verifier", &self.verifier)
            .finish()
    }
}

impl RemoteAuthProvider {
    /// Starts building a provider around `verifier`.
    pub fn builder(verifier: Arc<dyn TokenVerifier>) -> RemoteAuthProviderBuilder {
        RemoteAuthProviderBuilder {
            verifier,
            authorization_servers: Vec::new(),
            base_url: None,
            mcp_path: "/mcp".to_owned(),
            scopes_supported: None,
            required_scopes: None,
            resource_name: None,
            resource_documentation: None,
            check_audience: true,
        }
    }

    /// The canonical resource URL.
    #[must_use]
    pub fn resource(&self) -> &ResourceUrl {
        &self.resource
    }

    /// The Protected Resource Metadata document this provider serves.
    #[must_use]
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    /// The scopes every request needs.
    #[must_use]
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The verifier in use (wrapped with the audience check unless it was turned off).
    #[must_use]
    pub fn verifier(&self) -> Arc<dyn TokenVerifier> {
        Arc::clone(&self.verifier)
    }

    /// The bearer layer for the MCP route: challenges name the metadata URL and the required scopes.
    pub fn bearer_layer(&self) -> BearerAuthLayer {
        BearerAuthLayer::new(Arc::clone(&self.verifier))
            .resource_metadata_url(self.resource.metadata_url())
            .required_scopes(self.required_scopes.iter().cloned())
    }

    /// Routes serving the metadata, with CORS and `OPTIONS` so browser-based clients can read it, at:
    /// `/.well-known/oauth-protected-resource<path>` for the full public path and for the MCP path alone
    /// (so it answers whether or not a reverse proxy strips the prefix), and at the root
    /// `/.well-known/oauth-protected-resource`.
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let mut paths = vec![
            format!("{WELL_KNOWN_PROTECTED_RESOURCE}{}", self.resource.path()),
            format!("{WELL_KNOWN_PROTECTED_RESOURCE}{}", self.resource.mcp_path()),
            WELL_KNOWN_PROTECTED_RESOURCE.to_owned(),
        ];
        paths.dedup();
        let body = Arc::new(serde_json::to_vec(&*self.metadata).unwrap_or_default());
        let mut router = Router::new();
        for path in paths {
            let body = Arc::clone(&body);
            router = router.route(
                &path,
                get(move || {
                    let body = Arc::clone(&body);
                    async move { metadata_response(&body) }
                }),
            );
        }
        // The CORS layer answers every OPTIONS request itself, preflight or not.
        router.layer(metadata_cors())
    }
}

fn metadata_response(body: &[u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        body.to_vec(),
    )
        .into_response()
}

/// CORS for discovery documents: any origin may read them (they are public), with `GET` and `OPTIONS`.
pub fn metadata_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            "mcp-protocol-version".parse().unwrap_or(header::ACCEPT),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// CORS for the MCP endpoint itself, for browser-based clients: any origin (the endpoint authenticates
/// with bearer tokens, never cookies, so no ambient credential is exposed), the MCP methods and headers,
/// and `WWW-Authenticate` and `Mcp-Session-Id` exposed so the client can read the challenge and session.
///
/// Put it outside the bearer layer (`.layer(bearer).layer(mcp_cors())`) so preflight requests, which
/// carry no token, are answered before authentication.
pub fn mcp_cors() -> CorsLayer {
    let header = |name: &'static str| http::HeaderName::from_static(name);
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header("mcp-protocol-version"),
            header("mcp-session-id"),
            header("last-event-id"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE, header("mcp-session-id")])
        .max_age(std::time::Duration::from_secs(3600))
}

/// Builds a [`RemoteAuthProvider`].
#[must_use]
pub struct RemoteAuthProviderBuilder {
    verifier: Arc<dyn TokenVerifier>,
    authorization_servers: Vec<String>,
    base_url: Option<String>,
    mcp_path: String,
    scopes_supported: Option<Vec<String>>,
    required_scopes: Option<Vec<String>>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    check_audience: bool,
}

impl fmt::Debug for RemoteAuthProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAuthProviderBuilder")
            .field("authorization_servers", &self.authorization_servers)
            .field("base_url", &self.base_url)
            .field("mcp_path", &self.mcp_path)
            .finish_non_exhaustive()
    }
}

impl RemoteAuthProviderBuilder {
    /// Adds an authorization server (its issuer URL). At least one is required.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The server's public base URL, as clients reach it (with any path prefix a reverse proxy adds).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The MCP endpoint's path (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = path.into();
        self
    }

    /// The scopes advertised in the metadata (`offline_access` is always left out).
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The scopes every request needs (default: the verifier's). `offline_access` is always left out.
    pub fn required_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.required_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// A human-readable name for the metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A documentation URL for the metadata.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Stops requiring the resource URL in the token's audience.
    ///
    /// Only for verifiers that cannot know a token's audience (opaque tokens checked via userinfo): without
    /// the check, a token the same authorization server issued for another application is accepted here.
    pub fn insecure_skip_audience_check(mut self) -> Self {
        self.check_audience = false;
        self
    }

    /// Reads `MCP_AUTH_BASE_URL`, `MCP_AUTH_MCP_PATH` and `MCP_AUTH_REQUIRED_SCOPES` where set.
    ///
    /// # Errors
    ///
    /// [`RemoteAuthError::Settings`] naming the malformed variable.
    pub fn settings(mut self, settings: &Settings) -> Result<Self, RemoteAuthError> {
        if let Some(base_url) = settings.string("BASE_URL") {
            self.base_url = Some(base_url);
        }
        if let Some(path) = settings.string("MCP_PATH") {
            self.mcp_path = path;
        }
        if let Some(scopes) = settings.scopes("REQUIRED_SCOPES")? {
            self.required_scopes = Some(scopes);
        }
        Ok(self)
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// A [`RemoteAuthError`] naming the setting to fix: no base URL or authorization server, or one that
    /// is not a valid https URL (http is accepted for loopback hosts only).
    pub fn build(self) -> Result<RemoteAuthProvider, RemoteAuthError> {
        let base_url = self.base_url.ok_or(RemoteAuthError::Missing {
            setting: "base URL",
            hint: "call .base_url(\"https://mcp.example.com\") or set MCP_AUTH_BASE_URL",
        })?;
        let resource = ResourceUrl::new(&base_url, &self.mcp_path)?;
        if self.authorization_servers.is_empty() {
            return Err(RemoteAuthError::Missing {
                setting: "authorization server",
                hint: "call .authorization_server(\"https://your-app.authkit.app\")",
            });
        }
        let mut authorization_servers = Vec::with_capacity(self.authorization_servers.len());
        for issuer in self.authorization_servers {
            authorization_servers.push(validate_issuer(&issuer)?);
        }
        let required_scopes = without_offline_access(
            self.required_scopes.unwrap_or_else(|| self.verifier.required_scopes().to_vec()),
        );
        let mut metadata = ProtectedResourceMetadata::new(resource.as_str());
        metadata.authorization_servers = authorization_servers;
        metadata.scopes_supported = self.scopes_supported.map(without_offline_access);
        metadata.resource_name = self.resource_name;
        metadata.resource_documentation = self.resource_documentation;
        let verifier: Arc<dyn TokenVerifier> = if self.check_audience {
            Arc::new(AudienceCheck { inner: self.verifier, audience: resource.as_str().to_owned() })
        } else {
            tracing::warn!(resource = %resource, "audience check turned off: tokens for other resources are accepted");
            self.verifier
        };
        Ok(RemoteAuthProvider { verifier, resource, metadata: Arc::new(metadata), required_scopes })
    }
}

fn validate_issuer(issuer: &str) -> Result<String, RemoteAuthError> {
    let invalid = |reason: String| RemoteAuthError::InvalidAuthorizationServer { reason };
    let url = url::Url::parse(issuer.trim()).map_err(|err| invalid(format!("{issuer:?}: {err}")))?;
    match url.scheme() {
        "https" => {}
        "http" if mcp_auth_core::loopback::is_loopback_url(&url) => {}
        _ => return Err(invalid(format!("{issuer:?} must be https (http only for loopback hosts)"))),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{issuer:?} must not have a query or fragment")));
    }
    // Issuer identifiers are compared as strings: keep the caller's form, minus a lone trailing slash.
    Ok(issuer.trim().trim_end_matches('/').to_owned())
}

fn without_offline_access(scopes: Vec<String>) -> Vec<String> {
    scopes.into_iter().filter(|scope| scope != OFFLINE_ACCESS).collect()
}

/// Refuses tokens whose audience does not include the resource URL.
#[derive(Debug)]
struct AudienceCheck {
    inner: Arc<dyn TokenVerifier>,
    audience: String,
}

#[async_trait]
impl TokenVerifier for AudienceCheck {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let access = self.inner.verify(token).await?;
        if access.audience.contains(&self.audience) {
            Ok(access)
        } else {
            tracing::info!(expected = %self.audience, got = ?access.audience, "token audience mismatch");
            Err(VerifyError::invalid("token audience mismatch"))
        }
    }

    fn required_scopes(&self) -> &[String] {
        self.inner.required_scopes()
    }
}
