//! [`Client`]: a registered OAuth client, configured by the operator or dynamically registered.

use std::fmt;

use openidconnect::core::{CoreClientAuthMethod, CoreGrantType, CoreResponseType};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::redirect::{ApplicationType, RedirectUri, RedirectUriError};

/// How a client came to be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// Configured by the operator: never expires, may be granted `client_credentials`.
    Configured,
    /// Registered anonymously through RFC 7591: expires when unused, never gets `client_credentials`.
    Dynamic,
    /// Described by a Client ID Metadata Document: the client id is the https URL the document was
    /// fetched from, the client is public, and it never gets `client_credentials`.
    MetadataDocument,
}

/// A registered client. Only a SHA-256 of its secret is kept, so a leaked record reveals no secret
/// (secrets are 256-bit random values, so an unsalted hash is enough). `Debug` shows no secret material.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::Client;
/// use openidconnect::core::CoreGrantType;
///
/// let proxy = Client::confidential("proxy", "proxy-secret", ["http://127.0.0.1:8000/auth/callback"])
///     .unwrap()
///     .allow_client_credentials();
/// assert!(proxy.verify_secret("proxy-secret"));
/// assert!(!proxy.verify_secret("guess"));
/// assert!(proxy.allows_grant(&CoreGrantType::ClientCredentials));
/// assert!(proxy.allows_grant(&CoreGrantType::RefreshToken), "comes with the code grant");
/// assert!(!format!("{proxy:?}").contains("proxy-secret"));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Client {
    /// The client id.
    pub client_id: String,
    /// The SHA-256 (hex) of the secret; `None` for a public client.
    secret_sha256: Option<String>,
    /// The registered redirect URIs, as registered.
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: CoreClientAuthMethod,
    /// The grants it may use.
    pub grant_types: Vec<CoreGrantType>,
    /// The response types it may use (`code`).
    pub response_types: Vec<CoreResponseType>,
    /// Web or native.
    pub application_type: ApplicationType,
    /// A display name for consent pages.
    pub client_name: Option<String>,
    /// The client's home page.
    pub client_uri: Option<String>,
    /// Its logo.
    pub logo_uri: Option<String>,
    /// Its terms of service.
    pub tos_uri: Option<String>,
    /// Its privacy policy.
    pub policy_uri: Option<String>,
    /// The scopes it registered for, if it named any (space-separated).
    pub scope: Option<String>,
    /// Unix seconds of registration.
    pub client_id_issued_at: u64,
    /// Configured or dynamic.
    pub origin: ClientOrigin,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("confidential", &self.is_confidential())
            .field("redirect_uris", &self.redirect_uris)
            .field("token_endpoint_auth_method", &self.token_endpoint_auth_method)
            .field("grant_types", &self.grant_types)
            .field("application_type", &self.application_type)
            .field("client_name", &self.client_name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The hex SHA-256 of a client secret.
pub(crate) fn secret_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Client {
    fn configured(
        client_id: String,
        secret: Option<&str>,
        redirect_uris: Vec<String>,
        application_type: ApplicationType,
    ) -> Result<Self, RedirectUriError> {
        for uri in &redirect_uris {
            RedirectUri::parse(uri)?.check_configured(application_type)?;
        }
        let mut client = Self::base(client_id, secret, ClientOrigin::Configured);
        client.token_endpoint_auth_method = if secret.is_some() {
            CoreClientAuthMethod::ClientSecretBasic
        } else {
            CoreClientAuthMethod::None
        };
        client.grant_types = vec![CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken];
        client.redirect_uris = redirect_uris;
        client.application_type = application_type;
        Ok(client)
    }

    /// A client with no redirect URIs, no grants and no metadata yet.
    fn base(client_id: String, secret: Option<&str>, origin: ClientOrigin) -> Self {
        Self {
            client_id,
            secret_sha256: secret.map(secret_digest),
            redirect_uris: Vec::new(),
            token_endpoint_auth_method: CoreClientAuthMethod::None,
            grant_types: Vec::new(),
            response_types: vec![CoreResponseType::Code],
            application_type: ApplicationType::Web,
            client_name: None,
            client_uri: None,
            logo_uri: None,
            tos_uri: None,
            policy_uri: None,
            scope: None,
            client_id_issued_at: 0,
            origin,
        }
    }

    /// An operator-configured confidential client (authenticates with `client_secret_basic` or
    /// `client_secret_post`), web type, allowed the authorization-code and refresh grants.
    ///
    /// # Errors
    ///
    /// [`RedirectUriError`] for a redirect URI outside [`RedirectUri::check_configured`].
    pub fn confidential<I, S>(
        client_id: impl Into<String>,
        secret: &str,
        redirect_uris: I,
    ) -> Result<Self, RedirectUriError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::configured(
            client_id.into(),
            Some(secret),
            redirect_uris.into_iter().map(Into::into).collect(),
            ApplicationType::Web,
        )
    }

    /// An operator-configured public client (no secret; PKCE protects its codes).
    ///
    /// # Errors
    ///
    /// [`RedirectUriError`] for a redirect URI outside [`RedirectUri::check_configured`].
    pub fn public<I, S>(client_id: impl Into<String>, redirect_uris: I) -> Result<Self, RedirectUriError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::configured(
            client_id.into(),
            None,
            redirect_uris.into_iter().map(Into::into).collect(),
            ApplicationType::Web,
        )
    }

    /// An operator-configured client from a secret that may or may not be set.
    ///
    /// # Errors
    ///
    /// [`RedirectUriError`].
    pub fn from_config(
        client_id: impl Into<String>,
        secret: Option<&SecretString>,
        redirect_uris: Vec<String>,
        application_type: ApplicationType,
    ) -> Result<Self, RedirectUriError> {
        Self::configured(
            client_id.into(),
            secret.map(ExposeSecret::expose_secret),
            redirect_uris,
            application_type,
        )
    }

    /// Makes this a native application (loopback redirect URIs match on any port).
    #[must_use]
    pub fn native(mut self) -> Self {
        self.application_type = ApplicationType::Native;
        self
    }

    /// Allows the `client_credentials` grant: only ever for a confidential client the operator
    /// configured, never for an anonymous registration.
    #[must_use]
    pub fn allow_client_credentials(mut self) -> Self {
        if self.is_confidential()
            && self.origin == ClientOrigin::Configured
            && !self.grant_types.contains(&CoreGrantType::ClientCredentials)
        {
            self.grant_types.push(CoreGrantType::ClientCredentials);
        }
        self
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    pub(crate) fn dynamic(client_id: String, secret: Option<&str>) -> Self {
        Self::base(client_id, secret, ClientOrigin::Dynamic)
    }

    /// Turns a client validated from a Client ID Metadata Document into the client it names: the id is
    /// the document's URL, the client is public (the document can hold no secret), and its origin is
    /// [`ClientOrigin::MetadataDocument`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_oauth_server::{Client, ClientOrigin, RegistrationPolicy};
    ///
    /// let document = serde_json::json!({
    ///     "client_id": "https://app.example.com/oauth/client.json",
    ///     "redirect_uris": ["http://127.0.0.1/callback"],
    ///     "token_endpoint_auth_method": "none",
    /// });
    /// let validated = RegistrationPolicy::default().validate(document.as_object().unwrap()).unwrap();
    /// let client = Client::from_metadata_document("https://app.example.com/oauth/client.json", validated);
    /// assert_eq!(client.client_id, "https://app.example.com/oauth/client.json");
    /// assert_eq!(client.origin, ClientOrigin::MetadataDocument);
    /// assert!(!client.is_confidential());
    /// ```
    #[must_use]
    pub fn from_metadata_document(url: impl Into<String>, mut validated: Client) -> Self {
        validated.client_id = url.into();
        validated.secret_sha256 = None;
        validated.token_endpoint_auth_method = CoreClientAuthMethod::None;
        validated.grant_types.retain(|grant| *grant != CoreGrantType::ClientCredentials);
        validated.origin = ClientOrigin::MetadataDocument;
        validated
    }

    /// Sets (or clears) the secret, keeping only its digest.
    pub(crate) fn set_secret(&mut self, secret: Option<&str>) {
        self.secret_sha256 = secret.map(secret_digest);
    }

    /// Whether the client has a secret.
    #[must_use]
    pub fn is_confidential(&self) -> bool {
        self.secret_sha256.is_some()
    }

    /// Whether `secret` is this client's secret (constant-time comparison of the digests).
    #[must_use]
    pub fn verify_secret(&self, secret: &str) -> bool {
        self.secret_sha256
            .as_ref()
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(secret_digest(secret).as_bytes())))
    }

    /// Whether the client may use `grant`; `refresh_token` comes with `authorization_code`.
    #[must_use]
    pub fn allows_grant(&self, grant: &CoreGrantType) -> bool {
        self.grant_types.contains(grant)
            || (*grant == CoreGrantType::RefreshToken
                && self.grant_types.contains(&CoreGrantType::AuthorizationCode))
    }

    /// The registered redirect URI that `presented` matches (see [`RedirectUri::matches`]), if any.
    #[must_use]
    pub fn matching_redirect_uri(&self, presented: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .find(|registered| {
                RedirectUri::parse(registered)
                    .is_ok_and(|registered| registered.matches(presented, self.application_type))
            })
            .map(String::as_str)
    }

    /// The name to show people: the registered name, or the client id.
    #[must_use]
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_only_for_configured_confidential_clients() {
        let public = Client::public("cli", ["http://127.0.0.1/cb"]).unwrap().allow_client_credentials();
        assert!(!public.allows_grant(&CoreGrantType::ClientCredentials));
        let dynamic = Client::dynamic("c".into(), Some("s")).allow_client_credentials();
        assert!(!dynamic.allows_grant(&CoreGrantType::ClientCredentials));
        let proxy = Client::confidential("p", "s", ["https://a.example/cb"]).unwrap();
        assert!(!proxy.allows_grant(&CoreGrantType::ClientCredentials), "off unless asked for");
        let proxy = proxy.allow_client_credentials().allow_client_credentials();
        assert_eq!(proxy.grant_types.iter().filter(|g| **g == CoreGrantType::ClientCredentials).count(), 1);
    }

    #[test]
    fn configured_redirect_uris_are_checked() {
        assert!(
            Client::public("c", ["http://evil.example.com/cb"]).unwrap_err().to_string().contains("evil")
        );
        assert!(Client::public("c", ["com.example.app:/cb"]).is_err(), "private-use needs native");
        let native = Client::public("c", ["http://127.0.0.1/cb"]).unwrap().native();
        assert_eq!(native.matching_redirect_uri("http://127.0.0.1:9/cb"), Some("http://127.0.0.1/cb"));
        assert_eq!(native.matching_redirect_uri("http://127.0.0.1:9/other"), None);
    }

    #[test]
    fn secrets_compare_and_stay_hidden() {
        let client = Client::confidential("p", "s3cret-value", ["https://a.example/cb"]).unwrap();
        assert!(client.verify_secret("s3cret-value"));
        assert!(!client.verify_secret("s3cret-valu"));
        assert!(!client.verify_secret(""));
        let json = serde_json::to_string(&client).unwrap();
        assert!(!json.contains("s3cret-value"));
        assert!(!format!("{client:?}").contains(&secret_digest("s3cret-value")));
        assert!(!Client::public("c", ["https://a.example/cb"]).unwrap().verify_secret(""));
    }
}
