//! [`ResourceUrl`]: the canonical URL of a protected MCP endpoint, shared by the resource server
//! (`mcp-auth-remote`, which re-exports it) and the authorization server that issues tokens for it.

use std::fmt;

use url::Url;

use crate::loopback::is_loopback_url;
use crate::metadata::WELL_KNOWN_PROTECTED_RESOURCE;

/// Why a base URL and MCP path do not make a [`ResourceUrl`].
///
/// # Examples
///
/// ```
/// use mcp_auth_core::resource::{ResourceUrl, ResourceUrlError};
///
/// let err = ResourceUrl::new("http://mcp.example.com", "/mcp").unwrap_err();
/// assert!(matches!(err, ResourceUrlError::InvalidBaseUrl { .. }));
/// assert!(err.to_string().contains("MCP_AUTH_BASE_URL"));
/// assert!(matches!(
///     ResourceUrl::new("https://mcp.example.com", "/../admin"),
///     Err(ResourceUrlError::InvalidMcpPath { .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceUrlError {
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
}

/// The canonical URL of a protected MCP endpoint: the public base URL joined with the MCP path, with no
/// fragment, no query and no trailing slash (MCP authorization, "Canonical Server URI"; RFC 8707).
///
/// It is used everywhere the resource is named: the `resource` of the Protected Resource Metadata, the
/// challenge's `resource_metadata` URL, and the audience every token must carry. `https` is required,
/// except for loopback hosts (local development).
///
/// # Examples
///
/// ```
/// use mcp_auth_core::resource::ResourceUrl;
///
/// let resource = ResourceUrl::new("https://api.example.com/tools/", "/mcp/").unwrap();
/// assert_eq!(resource.as_str(), "https://api.example.com/tools/mcp");
/// assert_eq!(
///     resource.metadata_url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/tools/mcp"
/// );
/// assert!(ResourceUrl::new("http://api.example.com", "/mcp").is_err());
/// assert!(ResourceUrl::new("http://127.0.0.1:8000", "/mcp").is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceUrl {
    url: String,
    origin: String,
    path: String,
    prefix: String,
    mcp_path: String,
}

impl ResourceUrl {
    /// Joins `base_url` (the server's public URL, possibly with a path prefix) and `mcp_path`.
    ///
    /// # Errors
    ///
    /// [`ResourceUrlError::InvalidBaseUrl`] when the base URL does not parse, is not `https` (or `http` on
    /// a loopback host), or carries a query, fragment or credentials; [`ResourceUrlError::InvalidMcpPath`]
    /// when the path is empty or carries `?`, `#` or `..`.
    pub fn new(base_url: &str, mcp_path: &str) -> Result<Self, ResourceUrlError> {
        let invalid_base = |reason: &str| ResourceUrlError::InvalidBaseUrl { reason: reason.to_owned() };
        let base = Url::parse(base_url.trim()).map_err(|err| invalid_base(&err.to_string()))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback_url(&base) => {}
            "http" => return Err(invalid_base("plain http is only allowed for loopback hosts; use https")),
            _ => return Err(invalid_base("the scheme must be https")),
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid_base("it must not have a query or fragment"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid_base("it must not carry credentials"));
        }
        let mcp_path = normalize_path(mcp_path)?;
        let origin = base.origin().ascii_serialization();
        let prefix = base.path().trim_end_matches('/').to_owned();
        let path = format!("{prefix}{mcp_path}");
        Ok(Self { url: format!("{origin}{path}"), origin, path, prefix, mcp_path })
    }

    /// The canonical URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The scheme, host and port, such as `https://api.example.com`.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The full public path of the MCP endpoint, prefix included, such as `/tools/mcp`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path prefix of the base URL (empty when there is none), such as `/tools`.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The MCP path as the server itself routes it, such as `/mcp`.
    #[must_use]
    pub fn mcp_path(&self) -> &str {
        &self.mcp_path
    }

    /// The RFC 9728 metadata URL: the well-known path inserted between the origin and the resource path.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        format!("{}{WELL_KNOWN_PROTECTED_RESOURCE}{}", self.origin, self.path)
    }
}

impl fmt::Display for ResourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for ResourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceUrl").field(&self.url).finish()
    }
}

fn normalize_path(mcp_path: &str) -> Result<String, ResourceUrlError> {
    let invalid = |reason: &str| ResourceUrlError::InvalidMcpPath { reason: reason.to_owned() };
    let trimmed = mcp_path.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(invalid("it must name a path such as /mcp"));
    }
    if trimmed.contains(['?', '#', ' ', '\\']) || trimmed.split('/').any(|segment| segment == "..") {
        return Err(invalid("it must be a plain path such as /mcp, without ?, #, spaces or .."));
    }
    Ok(if trimmed.starts_with('/') { trimmed.to_owned() } else { format!("/{trimmed}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        for (base, path, expected) in [
            ("https://a.example.com", "/mcp", "https://a.example.com/mcp"),
            ("https://a.example.com/", "mcp", "https://a.example.com/mcp"),
            ("https://A.EXAMPLE.com:443/", "/mcp/", "https://a.example.com/mcp"),
            ("https://a.example.com:8443/p/q/", "/mcp", "https://a.example.com:8443/p/q/mcp"),
            ("http://localhost:8000", "/mcp", "http://localhost:8000/mcp"),
            ("http://[::1]:8000", "/mcp", "http://[::1]:8000/mcp"),
        ] {
            assert_eq!(ResourceUrl::new(base, path).unwrap().as_str(), expected, "{base} {path}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_resource() {
        for (base, path) in [
            ("not a url", "/mcp"),
            ("ftp://a.example.com", "/mcp"),
            ("http://a.example.com", "/mcp"),
            ("http://10.0.0.1", "/mcp"),
            ("https://a.example.com/?q=1", "/mcp"),
            ("https://a.example.com/#frag", "/mcp"),
            ("https://user:pw@a.example.com", "/mcp"),
            ("https://a.example.com", ""),
            ("https://a.example.com", "/"),
            ("https://a.example.com", "/mcp?x"),
            ("https://a.example.com", "/../mcp"),
        ] {
            assert!(ResourceUrl::new(base, path).is_err(), "{base} {path}");
        }
    }

    #[test]
    fn errors_tell_the_base_url_from_the_path() {
        let base = ResourceUrl::new("http://a.example.com", "/mcp").unwrap_err();
        assert!(matches!(base, ResourceUrlError::InvalidBaseUrl { .. }), "{base:?}");
        assert!(base.to_string().starts_with("invalid base URL (MCP_AUTH_BASE_URL)"), "{base}");
        let path = ResourceUrl::new("https://a.example.com", "/mcp#x").unwrap_err();
        assert!(matches!(path, ResourceUrlError::InvalidMcpPath { .. }), "{path:?}");
        assert!(path.to_string().starts_with("invalid MCP path (MCP_AUTH_MCP_PATH)"), "{path}");
    }

    #[test]
    fn metadata_url_inserts_the_well_known_path() {
        let resource = ResourceUrl::new("https://a.example.com/prefix", "/mcp").unwrap();
        assert_eq!(
            resource.metadata_url(),
            "https://a.example.com/.well-known/oauth-protected-resource/prefix/mcp"
        );
        assert_eq!(resource.prefix(), "/prefix");
        assert_eq!(resource.mcp_path(), "/mcp");
    }
}
