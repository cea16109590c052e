//! Which scopes a client may ask for, and how a refresh may narrow them.

use mcp_auth_core::scope::parse_scope_param;

use crate::error::OAuthError;

/// The scopes an authorization server grants: any well-formed scope, or only those it supports (what it
/// publishes as `scopes_supported`).
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::ScopePolicy;
///
/// let policy = ScopePolicy::supported(["openid", "mcp:tools"]);
/// assert_eq!(policy.check_request("mcp:tools openid").unwrap(), ["mcp:tools", "openid"]);
/// assert_eq!(policy.check_request("admin").unwrap_err().code().as_str(), "invalid_scope");
/// assert_eq!(ScopePolicy::default().check_request("anything:at-all").unwrap(), ["anything:at-all"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopePolicy {
    supported: Option<Vec<String>>,
}

impl ScopePolicy {
    /// Only these scopes may be asked for.
    #[must_use]
    pub fn supported<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { supported: Some(scopes.into_iter().map(Into::into).collect()) }
    }

    /// The supported scopes, when limited.
    #[must_use]
    pub fn supported_scopes(&self) -> Option<&[String]> {
        self.supported.as_deref()
    }

    /// Parses a `scope` parameter (RFC 6749 §3.3) and checks it against the policy.
    ///
    /// # Errors
    ///
    /// `invalid_scope` for a malformed list or a scope this server does not support.
    pub fn check_request(&self, scope: &str) -> Result<Vec<String>, OAuthError> {
        let scopes = parse_scope_param(scope)
            .map_err(|why| OAuthError::invalid_scope(format!("the scope parameter is malformed: {why}")))?;
        if let Some(supported) = &self.supported
            && let Some(unknown) = scopes.iter().find(|s| !supported.contains(s))
        {
            return Err(OAuthError::invalid_scope(format!("the scope {unknown:?} is not supported here")));
        }
        Ok(scopes)
    }
}

/// The scopes for a token issued from a grant of `granted` scopes: all of them when the request names
/// none, or the ones it names when they are all granted (RFC 6749 §6: a refresh may narrow, never widen;
/// the grant itself keeps every scope, so a later refresh may ask for them again).
///
/// # Errors
///
/// `invalid_scope` when the request is malformed or asks for a scope that was not granted.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::narrow_scopes;
///
/// let granted = ["openid".to_owned(), "mcp".to_owned()];
/// assert_eq!(narrow_scopes(None, &granted).unwrap(), granted);
/// assert_eq!(narrow_scopes(Some("mcp"), &granted).unwrap(), ["mcp"]);
/// assert!(narrow_scopes(Some("mcp admin"), &granted).is_err());
/// ```
pub fn narrow_scopes(requested: Option<&str>, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else { return Ok(granted.to_vec()) };
    let scopes = parse_scope_param(requested)
        .map_err(|why| OAuthError::invalid_scope(format!("the scope parameter is malformed: {why}")))?;
    if scopes.iter().any(|s| !granted.contains(s)) {
        return Err(OAuthError::invalid_scope("a refresh cannot widen the granted scope"));
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_unknown_scopes() {
        let policy = ScopePolicy::supported(["a", "b"]);
        assert!(policy.check_request("").unwrap().is_empty());
        for bad in ["a  b", " a", "a\"", "c", "a c"] {
            assert_eq!(policy.check_request(bad).unwrap_err().code().as_str(), "invalid_scope", "{bad:?}");
        }
        assert_eq!(policy.supported_scopes(), Some(&["a".to_owned(), "b".to_owned()][..]));
        assert_eq!(narrow_scopes(Some("b b"), &["a".into(), "b".into()]).unwrap(), ["b"]);
        assert!(narrow_scopes(Some("a  b"), &["a".into(), "b".into()]).is_err());
    }
}
