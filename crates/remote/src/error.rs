//! [`RemoteAuthError`]: why a remote-auth provider could not be built.

use mcp_auth_core::resource::ResourceUrlError;
use mcp_auth_core::settings::SettingsError;

/// Why a remote-auth provider could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteAuthError {
    /// The public base URL or the MCP path is unusable (`MCP_AUTH_BASE_URL`, `MCP_AUTH_MCP_PATH`); the
    /// message names which.
    #[error(transparent)]
    Resource(#[from] ResourceUrlError),
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

#[cfg(test)]
mod tests {
    use mcp_auth_core::resource::ResourceUrl;

    use super::*;

    #[test]
    fn resource_url_errors_keep_their_variant_and_message() {
        let base = RemoteAuthError::from(ResourceUrl::new("ftp://a.example.com", "/mcp").unwrap_err());
        assert!(
            matches!(base, RemoteAuthError::Resource(ResourceUrlError::InvalidBaseUrl { .. })),
            "{base:?}"
        );
        assert!(base.to_string().starts_with("invalid base URL (MCP_AUTH_BASE_URL)"), "{base}");
        let path = RemoteAuthError::from(ResourceUrl::new("https://a.example.com", "/../mcp").unwrap_err());
        assert!(
            matches!(path, RemoteAuthError::Resource(ResourceUrlError::InvalidMcpPath { .. })),
            "{path:?}"
        );
        assert!(path.to_string().starts_with("invalid MCP path (MCP_AUTH_MCP_PATH)"), "{path}");
    }
}
