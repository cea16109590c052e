//! [`ProxyError`]: why an [`OAuthProxy`](crate::OAuthProxy) could not be built. Requests never fail
//! with it: they answer with the kit's [`OAuthError`](mcp_auth_oauth_server::OAuthError) or an error page.

/// Why the proxy could not be built. Every message names the setting (and its environment variable,
/// where there is one) and what to change; secrets are never echoed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A required setting is missing.
    #[error("{setting} is required (example: {example})")]
    Missing {
        /// The setting (builder method or environment variable).
        setting: &'static str,
        /// An example value.
        example: &'static str,
    },
    /// A setting has an unusable value.
    #[error("{setting} {problem}")]
    Config {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The protected resource part (base URL, MCP path, scopes) could not be built.
    #[error(transparent)]
    Remote(#[from] mcp_auth_remote::RemoteAuthError),
    /// The token signer or verifier could not be built.
    #[error("cannot build the proxy's token signer or verifier")]
    Jwt(#[from] mcp_auth_jwt::JwtError),
    /// The Fernet keys are unusable.
    #[error("cannot use the Fernet keys (MCP_AUTH_FERNET_KEYS)")]
    Fernet(#[from] mcp_auth_fernet::FernetError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

impl ProxyError {
    pub(crate) fn config(setting: &'static str, problem: impl Into<String>) -> Self {
        Self::Config { setting, problem: problem.into() }
    }
}
