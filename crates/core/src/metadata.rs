//! OAuth discovery documents: RFC 9728 Protected Resource Metadata and RFC 8414 Authorization Server
//! Metadata.
//!
//! Both keep fields they do not know in `extra`, so a document forwarded from an upstream (AuthKit's,
//! say) loses nothing on the way through.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The RFC 9728 well-known path of Protected Resource Metadata. For a resource with a path, the metadata
/// URL inserts it between the origin and the path (RFC 9728 §3.1), as
/// [`ResourceUrl::metadata_url`](crate::resource::ResourceUrl::metadata_url) does.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::metadata::WELL_KNOWN_PROTECTED_RESOURCE;
///
/// assert_eq!(format!("https://mcp.example.com{WELL_KNOWN_PROTECTED_RESOURCE}/mcp"),
///            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
/// ```
pub const WELL_KNOWN_PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// RFC 9728 Protected Resource Metadata: what an MCP server publishes at
/// `/.well-known/oauth-protected-resource` so clients find its authorization server.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::metadata::ProtectedResourceMetadata;
///
/// let metadata = ProtectedResourceMetadata::new("https://mcp.example.com/mcp")
///     .with_authorization_server("https://auth.example.com")
///     .with_scopes_supported(["mcp:tools"]);
/// let json = serde_json::to_value(&metadata).unwrap();
/// assert_eq!(json["resource"], "https://mcp.example.com/mcp");
/// assert_eq!(json["bearer_methods_supported"][0], "header");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the canonical URL of the protected MCP endpoint.
    pub resource: String,
    /// Issuer URLs of the authorization servers that issue tokens for this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes clients may request for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// How the bearer token may be sent; always `["header"]` here (RFC 6750 §2.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name for the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A URL of human-readable documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// The resource's JWKS URL, if it signs anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Every other field, kept as it came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource`, with the header bearer method and nothing else yet.
    #[must_use]
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: None,
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            resource_documentation: None,
            jwks_uri: None,
            extra: Map::new(),
        }
    }

    /// Adds an authorization server issuer URL.
    #[must_use]
    pub fn with_authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Sets the supported scopes.
    #[must_use]
    pub fn with_scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the human-readable name.
    #[must_use]
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Sets the documentation URL.
    #[must_use]
    pub fn with_resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }
}

/// RFC 8414 Authorization Server Metadata (also the shape of OpenID Connect discovery).
///
/// # Examples
///
/// ```
/// use mcp_auth_core::metadata::AuthorizationServerMetadata;
///
/// let doc = r#"{"issuer":"https://auth.example.com","authorization_endpoint":"https://auth.example.com/authorize",
///   "token_endpoint":"https://auth.example.com/token","response_types_supported":["code"],
///   "vendor_field":{"kept":true}}"#;
/// let metadata: AuthorizationServerMetadata = serde_json::from_str(doc).unwrap();
/// assert_eq!(metadata.issuer, "https://auth.example.com");
/// assert_eq!(serde_json::to_value(&metadata).unwrap()["vendor_field"]["kept"], true);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The RFC 7591 dynamic client registration endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// The JWKS URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The OpenID Connect userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// The RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// Supported scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// Supported response types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    /// Supported response modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// Supported grant types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// Supported client authentication methods at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Supported authentication methods at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Supported PKCE code challenge methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether the server sends `iss` in authorization responses (RFC 9207).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Whether the server accepts OAuth Client ID Metadata Documents as client ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// A URL of human-readable documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// Every other field, kept as it came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthorizationServerMetadata {
    /// Metadata for `issuer` with nothing else yet.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            authorization_endpoint: None,
            token_endpoint: None,
            registration_endpoint: None,
            jwks_uri: None,
            userinfo_endpoint: None,
            revocation_endpoint: None,
            introspection_endpoint: None,
            scopes_supported: None,
            response_types_supported: Vec::new(),
            response_modes_supported: None,
            grant_types_supported: None,
            token_endpoint_auth_methods_supported: None,
            revocation_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: None,
            authorization_response_iss_parameter_supported: None,
            client_id_metadata_document_supported: None,
            service_documentation: None,
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn protected_resource_round_trip_keeps_unknown_fields() {
        let doc = json!({
            "resource": "https://mcp.example.com/mcp",
            "authorization_servers": ["https://a.example.com"],
            "bearer_methods_supported": ["header"],
            "tls_client_certificate_bound_access_tokens": true
        });
        let metadata: ProtectedResourceMetadata = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(metadata.extra["tls_client_certificate_bound_access_tokens"], true);
        assert_eq!(serde_json::to_value(&metadata).unwrap(), doc);
    }

    #[test]
    fn authorization_server_round_trip_keeps_unknown_fields() {
        let doc = json!({
            "issuer": "https://a.example.com",
            "authorization_endpoint": "https://a.example.com/oauth2/authorize",
            "token_endpoint": "https://a.example.com/oauth2/token",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "x_vendor": [1, 2, 3]
        });
        let metadata: AuthorizationServerMetadata = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&metadata).unwrap(), doc);
    }

    #[test]
    fn hostile_documents_are_errors_not_panics() {
        for doc in [json!(null), json!([]), json!({"issuer": 5}), json!({"resource": {"a": 1}})] {
            assert!(serde_json::from_value::<AuthorizationServerMetadata>(doc.clone()).is_err());
            assert!(serde_json::from_value::<ProtectedResourceMetadata>(doc).is_err());
        }
    }
}
