//! RFC 8707 resource indicators: which `resource` a client may ask tokens for, and that the token
//! request names the resource the grant was for.

use url::Url;

use crate::error::OAuthError;

/// Which resources may be named in authorization and token requests.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::ResourcePolicy;
///
/// let any = ResourcePolicy::default();
/// assert_eq!(any.check(Some("https://mcp.example.com/mcp")).unwrap().as_deref(), Some("https://mcp.example.com/mcp"));
/// assert_eq!(any.check(Some("not a uri")).unwrap_err().code().as_str(), "invalid_target");
///
/// let only = ResourcePolicy::only(["https://mcp.example.com/mcp"]);
/// assert!(only.check(Some("https://other.example.com/mcp")).is_err());
/// assert_eq!(only.check(None).unwrap(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePolicy {
    allowed: Option<Vec<String>>,
}

impl ResourcePolicy {
    /// Only these resources (compared exactly) may be named.
    #[must_use]
    pub fn only<I, S>(resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { allowed: Some(resources.into_iter().map(Into::into).collect()) }
    }

    /// Checks a `resource` parameter: an absolute URI without a fragment (RFC 8707 §2), within the
    /// policy. Absent is allowed.
    ///
    /// # Errors
    ///
    /// `invalid_target` naming the problem.
    pub fn check(&self, resource: Option<&str>) -> Result<Option<String>, OAuthError> {
        let Some(resource) = resource else { return Ok(None) };
        let url = Url::parse(resource).map_err(|_| {
            OAuthError::invalid_target(format!("resource {resource:?} is not an absolute URI"))
        })?;
        if url.fragment().is_some() || resource.contains('#') {
            return Err(OAuthError::invalid_target(format!(
                "resource {resource:?} must not have a fragment"
            )));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|a| a == resource)
        {
            return Err(OAuthError::invalid_target(format!(
                "resource {resource:?} is not served by this server"
            )));
        }
        Ok(Some(resource.to_owned()))
    }
}

/// At the token endpoint: a `resource` named there must be the one the grant was authorized for
/// (RFC 8707 §2.2: the client cannot switch audiences on the way).
///
/// # Errors
///
/// `invalid_target` when they differ.
pub fn check_same_resource(requested: Option<&str>, granted: Option<&str>) -> Result<(), OAuthError> {
    match requested {
        Some(requested) if Some(requested) != granted => {
            Err(OAuthError::invalid_target("the resource differs from the one this grant was authorized for"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_keep_the_granted_resource() {
        assert!(check_same_resource(None, Some("https://a/mcp")).is_ok());
        assert!(check_same_resource(Some("https://a/mcp"), Some("https://a/mcp")).is_ok());
        assert!(check_same_resource(Some("https://b/mcp"), Some("https://a/mcp")).is_err());
        assert!(check_same_resource(Some("https://b/mcp"), None).is_err());
    }

    #[test]
    fn hostile_resources() {
        let any = ResourcePolicy::default();
        for bad in ["", "/relative", "https://a.example/#", "https://a.example/mcp#x", "::"] {
            if !bad.is_empty() {
                assert!(any.check(Some(bad)).is_err(), "{bad:?}");
            }
        }
    }
}
