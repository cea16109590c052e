//! [`RemoteAuthProviderBuilder`]: the settings and the checks `build()` makes.

use std::fmt;
use std::sync::Arc;

use mcp_auth_core::TokenVerifier;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::scope::{ScopeCheck, ScopeHierarchy};
use mcp_auth_core::settings::Settings;

use crate::audience::ResourceCheck;
use crate::{OFFLINE_ACCESS, RemoteAuthError, RemoteAuthProvider};

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
    audience: Option<String>,
    scope_hierarchy: Option<Arc<dyn ScopeHierarchy>>,
    mcp_scopes: Option<Arc<McpScopePolicy>>,
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
    pub(crate) fn new(verifier: Arc<dyn TokenVerifier>) -> Self {
        Self {
            verifier,
            authorization_servers: Vec::new(),
            base_url: None,
            mcp_path: "/mcp".to_owned(),
            scopes_supported: None,
            required_scopes: None,
            resource_name: None,
            resource_documentation: None,
            check_audience: true,
            audience: None,
            scope_hierarchy: None,
            mcp_scopes: None,
        }
    }

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

    /// Judges scopes through `hierarchy` (a broad scope satisfies the narrower ones it implies), in the
    /// bearer layer and in every per-operation check. Off by default: scopes match exactly.
    pub fn scope_hierarchy(mut self, hierarchy: impl ScopeHierarchy + 'static) -> Self {
        self.scope_hierarchy = Some(Arc::new(hierarchy));
        self
    }

    /// Per-operation scopes: calls of the tools, prompts and resources `policy` names need its scopes too,
    /// and a call without them is answered with a 403 step-up challenge
    /// ([`BearerAuthLayer::mcp_scopes`](mcp_auth_core::BearerAuthLayer::mcp_scopes)).
    pub fn mcp_scopes(mut self, policy: McpScopePolicy) -> Self {
        self.mcp_scopes = Some(Arc::new(policy));
        self
    }

    /// The audience every token must carry, instead of the resource URL (the default, as RFC 8707 and the
    /// MCP specification have it).
    ///
    /// For authorization servers that name an API by another identifier (an Auth0 API identifier, an Entra
    /// application ID URI); the check stays on, only the expected value changes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mcp_auth_core::StaticTokenVerifier;
    /// use mcp_auth_remote::RemoteAuthProvider;
    ///
    /// let provider = RemoteAuthProvider::builder(Arc::new(StaticTokenVerifier::new()))
    ///     .authorization_server("https://tenant.auth0.example.com/")
    ///     .base_url("https://mcp.example.com")
    ///     .audience("https://api.example.com")
    ///     .build()?;
    /// assert_eq!(provider.audience(), Some("https://api.example.com"));
    /// # Ok::<(), mcp_auth_remote::RemoteAuthError>(())
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
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
        if !self.check_audience {
            tracing::warn!(resource = %resource, "audience check turned off: tokens for other resources are accepted");
        }
        let scope_check = self.scope_hierarchy.clone().map(ScopeCheck::with_hierarchy).unwrap_or_default();
        let audience =
            self.check_audience.then(|| self.audience.unwrap_or_else(|| resource.as_str().to_owned()));
        let verifier: Arc<dyn TokenVerifier> = Arc::new(ResourceCheck {
            inner: self.verifier,
            audience: audience.clone(),
            required_scopes: required_scopes.clone(),
            scope_check,
        });
        Ok(RemoteAuthProvider {
            verifier,
            audience,
            resource,
            metadata: Arc::new(metadata),
            required_scopes,
            scope_hierarchy: self.scope_hierarchy,
            mcp_scopes: self.mcp_scopes,
        })
    }
}

/// Checks an authorization server's issuer and returns it exactly as given, minus surrounding blanks.
///
/// No other normalisation, not even of a trailing slash: clients compare this value with the
/// authorization server's own `issuer` byte for byte (RFC 8414 §3.3, RFC 9207), so it must be the
/// string the server publishes.
fn validate_issuer(issuer: &str) -> Result<String, RemoteAuthError> {
    let invalid = |reason: String| RemoteAuthError::InvalidAuthorizationServer { reason };
    let issuer = issuer.trim();
    let url = url::Url::parse(issuer).map_err(|err| invalid(format!("{issuer:?}: {err}")))?;
    match url.scheme() {
        "https" => {}
        "http" if mcp_auth_core::loopback::is_loopback_url(&url) => {}
        _ => return Err(invalid(format!("{issuer:?} must be https (http only for loopback hosts)"))),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{issuer:?} must not have a query or fragment")));
    }
    Ok(issuer.to_owned())
}

fn without_offline_access(scopes: Vec<String>) -> Vec<String> {
    scopes.into_iter().filter(|scope| scope != OFFLINE_ACCESS).collect()
}
