//! Forwarding the verified identity to the upstream in headers the operator names, after removing any
//! copy of those headers the client sent (so a caller can never claim to be someone else).

use std::fmt;
use std::str::FromStr;

use http::{HeaderMap, HeaderName, HeaderValue};
use mcp_auth_core::{AccessToken, AuthUser};

/// A part of the verified identity that can be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    /// The subject (`sub`): the user id.
    User,
    /// The `email` claim.
    Email,
    /// The `name` claim.
    Name,
    /// The organization (`org_id`).
    Org,
    /// The roles, comma-separated.
    Roles,
    /// The permissions, comma-separated.
    Permissions,
    /// The granted scopes, space-separated.
    Scopes,
    /// The OAuth client the token was issued to.
    Client,
}

impl IdentityField {
    /// Every field, with its name in the configuration.
    pub const ALL: [(&'static str, Self); 8] = [
        ("user", Self::User),
        ("email", Self::Email),
        ("name", Self::Name),
        ("org", Self::Org),
        ("roles", Self::Roles),
        ("permissions", Self::Permissions),
        ("scopes", Self::Scopes),
        ("client", Self::Client),
    ];

    fn value(self, token: &AccessToken, user: Option<&AuthUser>) -> Option<String> {
        let claim = |name: &str| token.claims.get(name).and_then(|value| value.as_str()).map(str::to_owned);
        match self {
            Self::User => token.subject.clone(),
            Self::Email => claim("email"),
            Self::Name => user.and_then(|user| user.name.clone()),
            Self::Org => user.and_then(|user| user.organization_id.clone()),
            Self::Roles => user.map(|user| user.roles.join(",")),
            Self::Permissions => user.map(|user| user.permissions.join(",")),
            Self::Scopes => Some(token.scopes.join(" ")),
            Self::Client => token.client_id.clone(),
        }
    }
}

impl fmt::Display for IdentityField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL.iter().find(|(_, field)| field == self).map_or("?", |(name, _)| name);
        f.write_str(name)
    }
}

/// Headers that must never carry the identity: they mean something to HTTP, to MCP or to auth.
const RESERVED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// Which identity fields go upstream, in which headers.
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaders {
    headers: Vec<(IdentityField, HeaderName)>,
}

impl IdentityHeaders {
    /// Whether no header is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The configured header names.
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        self.headers.iter().map(|(_, name)| name)
    }

    /// Removes every configured header from `headers` (what the client sent), then adds the verified
    /// values. A value that cannot be a header value (a control character) is left out.
    pub fn apply(&self, headers: &mut HeaderMap, token: Option<&AccessToken>) {
        for (_, name) in &self.headers {
            headers.remove(name);
        }
        // `X_User_Id` reaches CGI-style servers as HTTP_X_USER_ID, the same as `X-User-Id`: remove those too.
        let lookalikes: Vec<HeaderName> = headers
            .keys()
            .filter(|incoming| incoming.as_str().contains('_'))
            .filter(|incoming| {
                let dashed = incoming.as_str().replace('_', "-");
                self.headers.iter().any(|(_, name)| name.as_str() == dashed)
            })
            .cloned()
            .collect();
        for name in lookalikes {
            headers.remove(name);
        }
        let Some(token) = token else { return };
        let user = AuthUser::from_token(token);
        for (field, name) in &self.headers {
            let Some(value) = field.value(token, user.as_ref()) else { continue };
            match HeaderValue::from_bytes(value.as_bytes()) {
                Ok(value) => {
                    headers.insert(name.clone(), value);
                }
                Err(_) => {
                    tracing::warn!(header = %name, field = %field, "identity value is not a valid header value; left out");
                }
            }
        }
    }
}

impl FromStr for IdentityHeaders {
    type Err = String;

    /// `field=Header-Name` pairs, comma-separated: `user=X-Auth-User,email=X-Auth-Email`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut headers = Self::default();
        for pair in text.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
            headers.push(pair)?;
        }
        Ok(headers)
    }
}

impl IdentityHeaders {
    /// Adds one `field=Header-Name` pair.
    ///
    /// # Errors
    ///
    /// An unknown field, an invalid or reserved header name, or a header named twice.
    pub fn push(&mut self, pair: &str) -> Result<(), String> {
        let fields = || IdentityField::ALL.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
        let (field, header) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not field=Header-Name (fields: {})", fields()))?;
        let field = IdentityField::ALL
            .iter()
            .find(|(name, _)| *name == field.trim())
            .map(|(_, field)| *field)
            .ok_or_else(|| format!("unknown identity field `{}` (fields: {})", field.trim(), fields()))?;
        let header = HeaderName::from_str(header.trim())
            .map_err(|_| format!("`{}` is not a valid header name", header.trim()))?;
        if RESERVED.contains(&header.as_str()) {
            return Err(format!("`{header}` cannot carry the identity: it means something to HTTP or MCP"));
        }
        if self.headers.iter().any(|(_, name)| *name == header) {
            return Err(format!("header `{header}` is named twice"));
        }
        self.headers.push((field, header));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token() -> AccessToken {
        let claims = json!({"sub": "user_ada", "email": "ada@example.com", "org_id": "org_1", "roles": ["admin", "member"]});
        let mut token = AccessToken::new("secret-token").with_subject("user_ada");
        token.claims = std::sync::Arc::new(claims.as_object().cloned().unwrap_or_default());
        token.scopes = vec!["openid".into(), "notes:write".into()];
        token
    }

    #[test]
    fn spoofed_headers_are_replaced_by_the_verified_identity() {
        let identity: IdentityHeaders =
            "user=X-Auth-User, email=x-auth-email,roles=X-Auth-Roles,scopes=X-Auth-Scopes,org=X-Auth-Org"
                .parse()
                .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-user", HeaderValue::from_static("user_mallory"));
        headers.append("x-auth-user", HeaderValue::from_static("user_mallory2"));
        headers.insert("x-auth-org", HeaderValue::from_static("org_evil"));
        headers.insert("x_auth_user", HeaderValue::from_static("user_mallory3"));
        identity.apply(&mut headers, Some(&token()));
        assert_eq!(headers.get_all("x-auth-user").iter().collect::<Vec<_>>(), ["user_ada"]);
        assert_eq!(headers["x-auth-email"], "ada@example.com");
        assert_eq!(headers["x-auth-roles"], "admin,member");
        assert_eq!(headers["x-auth-scopes"], "openid notes:write");
        assert_eq!(headers["x-auth-org"], "org_1");
        assert!(headers.get("x_auth_user").is_none());
        // Without a token (never the case behind the bearer layer) the spoofed values are still removed.
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-user", HeaderValue::from_static("user_mallory"));
        identity.apply(&mut headers, None);
        assert!(headers.is_empty());
    }

    #[test]
    fn bad_configurations_are_refused_with_the_reason() {
        for (text, expected) in [
            ("user", "not field=Header-Name"),
            ("uid=X-User", "unknown identity field `uid`"),
            ("user=X User", "not a valid header name"),
            ("user=Authorization", "cannot carry the identity"),
            ("user=mcp-session-id", "cannot carry the identity"),
            ("user=X-A,email=x-a", "named twice"),
        ] {
            let err = text.parse::<IdentityHeaders>().unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!("".parse::<IdentityHeaders>().unwrap().is_empty());
    }

    #[test]
    fn values_that_cannot_be_headers_are_left_out() {
        let identity: IdentityHeaders = "email=X-Email".parse().unwrap();
        let mut token = token();
        let mut claims = (*token.claims).clone();
        claims.insert("email".into(), json!("ada@example.com\r\nX-Admin: yes"));
        token.claims = std::sync::Arc::new(claims);
        let mut headers = HeaderMap::new();
        identity.apply(&mut headers, Some(&token));
        assert!(headers.get("x-email").is_none());
    }
}
