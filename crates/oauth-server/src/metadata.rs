//! RFC 8414 authorization server metadata built from what the server actually enables, so it never
//! advertises a grant, method or endpoint that is not there.

use mcp_auth_core::metadata::AuthorizationServerMetadata;
use openidconnect::core::{CoreClientAuthMethod, CoreGrantType};

use crate::pkce::S256;

/// The endpoints and features an authorization server has; [`build`](Self::build) turns them into
/// its metadata document.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::ServerMetadata;
/// use openidconnect::core::CoreGrantType;
///
/// let metadata = ServerMetadata::new("https://auth.example.com")
///     .authorization_endpoint("/authorize")
///     .token_endpoint("/token")
///     .registration_endpoint("/register")
///     .grant(CoreGrantType::RefreshToken)
///     .scopes(["mcp"])
///     .build();
/// assert_eq!(metadata.token_endpoint.as_deref(), Some("https://auth.example.com/token"));
/// assert_eq!(metadata.code_challenge_methods_supported, Some(vec!["S256".to_owned()]));
/// assert_eq!(metadata.authorization_response_iss_parameter_supported, Some(true));
/// assert_eq!(
///     metadata.grant_types_supported,
///     Some(vec!["authorization_code".to_owned(), "refresh_token".to_owned()])
/// );
/// assert!(metadata.revocation_endpoint.is_none());
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerMetadata {
    issuer: String,
    authorization: Option<String>,
    token: Option<String>,
    registration: Option<String>,
    revocation: Option<String>,
    introspection: Option<String>,
    jwks: Option<String>,
    userinfo: Option<String>,
    grants: Vec<CoreGrantType>,
    auth_methods: Vec<CoreClientAuthMethod>,
    scopes: Option<Vec<String>>,
    client_id_metadata_documents: bool,
    service_documentation: Option<String>,
}

impl ServerMetadata {
    /// Metadata for `issuer` (no trailing slash), with the authorization-code grant and the `none`,
    /// `client_secret_basic` and `client_secret_post` client authentication methods.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            authorization: None,
            token: None,
            registration: None,
            revocation: None,
            introspection: None,
            jwks: None,
            userinfo: None,
            grants: vec![CoreGrantType::AuthorizationCode],
            auth_methods: vec![
                CoreClientAuthMethod::None,
                CoreClientAuthMethod::ClientSecretBasic,
                CoreClientAuthMethod::ClientSecretPost,
            ],
            scopes: None,
            client_id_metadata_documents: false,
            service_documentation: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The authorization endpoint (a path under the issuer); advertises `iss` in responses (RFC 9207).
    pub fn authorization_endpoint(mut self, path: &str) -> Self {
        self.authorization = Some(self.url(path));
        self
    }

    /// The token endpoint.
    pub fn token_endpoint(mut self, path: &str) -> Self {
        self.token = Some(self.url(path));
        self
    }

    /// The RFC 7591 registration endpoint.
    pub fn registration_endpoint(mut self, path: &str) -> Self {
        self.registration = Some(self.url(path));
        self
    }

    /// The RFC 7009 revocation endpoint.
    pub fn revocation_endpoint(mut self, path: &str) -> Self {
        self.revocation = Some(self.url(path));
        self
    }

    /// The RFC 7662 introspection endpoint.
    pub fn introspection_endpoint(mut self, path: &str) -> Self {
        self.introspection = Some(self.url(path));
        self
    }

    /// The JWKS endpoint.
    pub fn jwks_endpoint(mut self, path: &str) -> Self {
        self.jwks = Some(self.url(path));
        self
    }

    /// The OpenID Connect userinfo endpoint.
    pub fn userinfo_endpoint(mut self, path: &str) -> Self {
        self.userinfo = Some(self.url(path));
        self
    }

    /// Adds a grant type besides `authorization_code`.
    pub fn grant(mut self, grant: CoreGrantType) -> Self {
        if !self.grants.contains(&grant) {
            self.grants.push(grant);
        }
        self
    }

    /// The scopes clients may ask for.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Whether URL client ids (Client ID Metadata Documents) are accepted.
    pub fn client_id_metadata_documents(mut self, supported: bool) -> Self {
        self.client_id_metadata_documents = supported;
        self
    }

    /// A page for people.
    pub fn service_documentation(mut self, path: &str) -> Self {
        self.service_documentation = Some(self.url(path));
        self
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The metadata document.
    #[must_use]
    pub fn build(&self) -> AuthorizationServerMetadata {
        let strings =
            |items: &[CoreClientAuthMethod]| items.iter().map(|m| m.as_ref().to_owned()).collect::<Vec<_>>();
        let mut m = AuthorizationServerMetadata::new(self.issuer.clone());
        m.authorization_endpoint.clone_from(&self.authorization);
        m.token_endpoint.clone_from(&self.token);
        m.registration_endpoint.clone_from(&self.registration);
        m.revocation_endpoint.clone_from(&self.revocation);
        m.introspection_endpoint.clone_from(&self.introspection);
        m.jwks_uri.clone_from(&self.jwks);
        m.userinfo_endpoint.clone_from(&self.userinfo);
        m.scopes_supported.clone_from(&self.scopes);
        m.response_types_supported = vec!["code".to_owned()];
        m.response_modes_supported = Some(vec!["query".to_owned()]);
        m.grant_types_supported = Some(self.grants.iter().map(|g| g.as_ref().to_owned()).collect());
        if self.token.is_some() {
            m.token_endpoint_auth_methods_supported = Some(strings(&self.auth_methods));
        }
        if self.revocation.is_some() {
            m.revocation_endpoint_auth_methods_supported = Some(strings(&self.auth_methods));
        }
        if self.introspection.is_some() {
            m.extra.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                strings(&self.auth_methods).into(),
            );
        }
        m.code_challenge_methods_supported = Some(vec![S256.to_owned()]);
        m.authorization_response_iss_parameter_supported = self.authorization.is_some().then_some(true);
        m.client_id_metadata_document_supported = Some(self.client_id_metadata_documents);
        m.service_documentation.clone_from(&self.service_documentation);
        m
    }
}
