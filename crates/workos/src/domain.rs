//! The AuthKit domain, normalised.

use std::fmt;

use mcp_auth_core::loopback::is_loopback_url;
use url::Url;

use crate::WorkOSError;

/// An AuthKit domain as a base URL: `your-app.authkit.app`, `https://your-app.authkit.app/` and
/// `auth.example.com` (a custom domain) all become `https://<host>`.
///
/// `https` is added when no scheme is given; plain `http://` is accepted only for loopback hosts, for local
/// development against the mcp-auth dev identity provider. Paths, queries and credentials are refused.
///
/// # Examples
///
/// ```
/// use mcp_auth_workos::AuthKitDomain;
///
/// assert_eq!(AuthKitDomain::parse("your-app.authkit.app").unwrap().as_str(), "https://your-app.authkit.app");
/// assert_eq!(AuthKitDomain::parse("https://your-app.authkit.app/").unwrap().as_str(), "https://your-app.authkit.app");
/// assert_eq!(AuthKitDomain::parse("http://127.0.0.1:9400").unwrap().as_str(), "http://127.0.0.1:9400");
/// assert!(AuthKitDomain::parse("http://your-app.authkit.app").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthKitDomain {
    base: String,
}

impl AuthKitDomain {
    /// Normalises `domain`.
    ///
    /// # Errors
    ///
    /// [`WorkOSError::InvalidDomain`] saying what is wrong and showing the expected form.
    pub fn parse(domain: &str) -> Result<Self, WorkOSError> {
        let invalid = |reason: &str| WorkOSError::InvalidDomain { reason: reason.to_owned() };
        let trimmed = domain.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let with_scheme =
            if trimmed.contains("://") { trimmed.to_owned() } else { format!("https://{trimmed}") };
        let url = Url::parse(&with_scheme).map_err(|err| invalid(&err.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_url(&url) => {}
            "http" => return Err(invalid("plain http is only accepted for loopback hosts; use https")),
            _ => return Err(invalid("the scheme must be https")),
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("give the domain only, without a path, query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not carry credentials"));
        }
        Ok(Self { base: url.origin().ascii_serialization() })
    }

    /// The base URL, such as `https://your-app.authkit.app`; also the issuer of AuthKit's tokens.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// Whether the domain is on loopback (the dev identity provider).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.base).is_ok_and(|url| is_loopback_url(&url))
    }

    /// `<domain>/oauth2/jwks`.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!("{}/oauth2/jwks", self.base)
    }

    /// `<domain>/oauth2/userinfo`.
    #[must_use]
    pub fn userinfo_url(&self) -> String {
        format!("{}/oauth2/userinfo", self.base)
    }

    /// `<domain>/.well-known/oauth-authorization-server`.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-authorization-server", self.base)
    }
}

impl fmt::Display for AuthKitDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl fmt::Debug for AuthKitDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthKitDomain").field(&self.base).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_every_accepted_form() {
        for (input, expected) in [
            ("your-app.authkit.app", "https://your-app.authkit.app"),
            (" https://your-app.authkit.app// ", "https://your-app.authkit.app"),
            ("HTTPS://Your-App.AuthKit.app", "https://your-app.authkit.app"),
            ("auth.example.com:8443", "https://auth.example.com:8443"),
            ("http://localhost:9400/", "http://localhost:9400"),
            ("http://[::1]:9400", "http://[::1]:9400"),
        ] {
            assert_eq!(AuthKitDomain::parse(input).unwrap().as_str(), expected, "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_domain() {
        for input in [
            "",
            "   ",
            "http://your-app.authkit.app",
            "ftp://your-app.authkit.app",
            "https://your-app.authkit.app/oauth2",
            "https://your-app.authkit.app?x=1",
            "https://user:pw@your-app.authkit.app",
            "https://exa mple.com",
        ] {
            assert!(AuthKitDomain::parse(input).is_err(), "{input:?}");
        }
    }
}
