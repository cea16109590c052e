//! Users, clients and the TOML configuration file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use mcp_auth_oauth_server::{ApplicationType, Client};

use crate::error::DevIdpError;

/// A person who can sign in to the development identity provider.
///
/// Everything but `id` and `email` is optional. A user without a password signs in on the login page
/// with any password (it is a development tool); in auto-approve mode no password is asked at all.
///
/// # Examples
///
/// ```
/// use mcp_auth_dev_idp::DevUser;
///
/// let ada = DevUser::new("user_ada", "ada@example.com")
///     .name("Ada Lovelace")
///     .org_id("org_analytical")
///     .roles(["admin"])
///     .permissions(["posts:write"])
///     .password("correct horse");
/// assert_eq!(ada.id, "user_ada");
/// assert!(!format!("{ada:?}").contains("correct horse"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct DevUser {
    /// The user's id: the `sub` claim.
    pub id: String,
    /// The email address.
    pub email: String,
    /// Whether the email address counts as verified (default `true`).
    #[serde(default = "default_true")]
    pub email_verified: bool,
    /// The display name (`name`); built from the given and family names when unset.
    #[serde(default)]
    pub name: Option<String>,
    /// The given name (`given_name`).
    #[serde(default)]
    pub given_name: Option<String>,
    /// The family name (`family_name`).
    #[serde(default)]
    pub family_name: Option<String>,
    /// A picture URL (`picture`).
    #[serde(default)]
    pub picture: Option<String>,
    /// The organization the user signs in to (`org_id`).
    #[serde(default)]
    pub org_id: Option<String>,
    /// Roles (`roles` claim, present only when non-empty).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permissions (`permissions` claim, present only when non-empty).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The password for the login page; `None` accepts any password.
    #[serde(default)]
    pub password: Option<SecretString>,
}

fn default_true() -> bool {
    true
}

impl fmt::Debug for DevUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("org_id", &self.org_id)
            .field("roles", &self.roles)
            .field("permissions", &self.permissions)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl DevUser {
    /// A user with an id and an email address, email verified, nothing else.
    #[must_use]
    pub fn new(id: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            email: email.into(),
            email_verified: true,
            name: None,
            given_name: None,
            family_name: None,
            picture: None,
            org_id: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            password: None,
        }
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the given and family names.
    #[must_use]
    pub fn names(mut self, given: impl Into<String>, family: impl Into<String>) -> Self {
        self.given_name = Some(given.into());
        self.family_name = Some(family.into());
        self
    }

    /// Sets the picture URL.
    #[must_use]
    pub fn picture(mut self, url: impl Into<String>) -> Self {
        self.picture = Some(url.into());
        self
    }

    /// Sets whether the email address is verified.
    #[must_use]
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }

    /// Sets the organization id.
    #[must_use]
    pub fn org_id(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    /// Sets the roles.
    #[must_use]
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the permissions.
    #[must_use]
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the login-page password.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(SecretString::from(password.into()));
        self
    }

    /// The display name, falling back to the given and family names.
    pub(crate) fn display_name(&self) -> Option<String> {
        self.name.clone().or_else(|| match (&self.given_name, &self.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        })
    }

    /// Whether `password` opens this account (constant-time compare; users without one accept any).
    pub(crate) fn password_matches(&self, password: &str) -> bool {
        self.password.as_ref().is_none_or(|expected| {
            subtle::ConstantTimeEq::ct_eq(expected.expose_secret().as_bytes(), password.as_bytes()).into()
        })
    }
}

/// A client registered in configuration (such as the fixed client a proxy uses).
///
/// # Examples
///
/// ```
/// use mcp_auth_dev_idp::DevClient;
///
/// let proxy = DevClient::confidential("proxy", "proxy-secret", ["http://127.0.0.1:8000/oauth/callback"]);
/// assert!(!format!("{proxy:?}").contains("proxy-secret"));
/// let cli = DevClient::public("cli", ["http://127.0.0.1/callback"]).native();
/// assert_eq!(cli.id, "cli");
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct DevClient {
    /// The client id.
    pub id: String,
    /// The client secret; `None` makes a public client (token endpoint auth method `none`).
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// The registered redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A display name for the consent page.
    #[serde(default)]
    pub name: Option<String>,
    /// Web or native.
    #[serde(default)]
    pub application_type: ApplicationType,
    /// Whether this (confidential) client may use the `client_credentials` grant. Off by default:
    /// only clients the operator names here ever get it.
    #[serde(default)]
    pub client_credentials: bool,
    /// Whether this (confidential) client may use the RFC 8693 token-exchange grant, trading a user's
    /// access token for one to call another API as that user. Off by default, as in AuthKit, where only
    /// applications allowed to exchange can.
    #[serde(default)]
    pub token_exchange: bool,
}

impl fmt::Debug for DevClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevClient")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("redirect_uris", &self.redirect_uris)
            .field("name", &self.name)
            .field("application_type", &self.application_type)
            .field("client_credentials", &self.client_credentials)
            .field("token_exchange", &self.token_exchange)
            .finish()
    }
}

impl DevClient {
    /// A confidential client that authenticates with `client_secret_basic` or `client_secret_post`.
    #[must_use]
    pub fn confidential<I, S>(id: impl Into<String>, secret: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            id: id.into(),
            secret: Some(SecretString::from(secret.into())),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            name: None,
            application_type: ApplicationType::Web,
            client_credentials: false,
            token_exchange: false,
        }
    }

    /// A public client (no secret; PKCE protects its codes).
    #[must_use]
    pub fn public<I, S>(id: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            id: id.into(),
            secret: None,
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            name: None,
            application_type: ApplicationType::Web,
            client_credentials: false,
            token_exchange: false,
        }
    }

    /// Makes this a native application (RFC 8252 loopback redirects on any port).
    #[must_use]
    pub fn native(mut self) -> Self {
        self.application_type = ApplicationType::Native;
        self
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Allows the `client_credentials` grant (a confidential client only; refused at build otherwise).
    #[must_use]
    pub fn allow_client_credentials(mut self) -> Self {
        self.client_credentials = true;
        self
    }

    /// Allows the RFC 8693 token-exchange grant (a confidential client only; refused at build otherwise):
    /// the client, such as an MCP server, trades a user's access token for one for another API, with an
    /// `act` claim naming the client.
    ///
    /// ```
    /// use mcp_auth_dev_idp::DevClient;
    ///
    /// let mcp_server = DevClient::confidential("mcp-server", "secret", Vec::<String>::new()).allow_token_exchange();
    /// assert!(mcp_server.token_exchange);
    /// ```
    #[must_use]
    pub fn allow_token_exchange(mut self) -> Self {
        self.token_exchange = true;
        self
    }

    /// The authorization-server client this configuration describes.
    pub(crate) fn to_client(&self) -> Result<Client, DevIdpError> {
        let invalid = |why: String| DevIdpError::InvalidConfig(format!("client {:?}: {why}", self.id));
        if self.id.is_empty() {
            return Err(DevIdpError::InvalidConfig("a client has an empty id".into()));
        }
        if self.client_credentials && self.secret.is_none() {
            return Err(invalid("client_credentials needs a confidential client (set a secret)".into()));
        }
        if self.token_exchange && self.secret.is_none() {
            return Err(invalid("token_exchange needs a confidential client (set a secret)".into()));
        }
        let client = Client::from_config(
            self.id.clone(),
            self.secret.as_ref(),
            self.redirect_uris.clone(),
            self.application_type,
        )
        .map_err(|e| invalid(format!("redirect URI {e}")))?;
        let client = match &self.name {
            Some(name) => client.name(name.clone()),
            None => client,
        };
        let mut client = if self.client_credentials { client.allow_client_credentials() } else { client };
        if self.token_exchange {
            client.grant_types.push(mcp_auth_oauth_server::token_exchange_grant());
        }
        Ok(client)
    }
}

/// The contents of a configuration file such as `users.example.toml`.
///
/// Every `[server]` field is optional; the builder's defaults apply to what is left out.
///
/// # Examples
///
/// ```
/// use mcp_auth_dev_idp::DevIdpConfig;
///
/// let config = DevIdpConfig::from_toml_str(r#"
///     [server]
///     auto_approve = true
///     access_token_ttl_secs = 300
///
///     [[users]]
///     id = "user_ada"
///     email = "ada@example.com"
///     roles = ["admin"]
///
///     [[clients]]
///     id = "proxy"
///     secret = "proxy-secret"
///     redirect_uris = ["http://127.0.0.1:8000/oauth/callback"]
/// "#).unwrap();
/// assert_eq!(config.users[0].roles, ["admin"]);
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DevIdpConfig {
    /// Server settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// The users.
    #[serde(default)]
    pub users: Vec<DevUser>,
    /// The pre-registered clients.
    #[serde(default)]
    pub clients: Vec<DevClient>,
}

/// The `[server]` table of a configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The port to listen on (0 picks a free one).
    pub port: Option<u16>,
    /// The address to listen on, such as `127.0.0.1:9400` (overrides `port`).
    pub bind: Option<String>,
    /// Sign in the default user (or the `login_hint` user) without showing any page.
    pub auto_approve: Option<bool>,
    /// The `aud` of access tokens requested without an RFC 8707 `resource`.
    pub default_audience: Option<String>,
    /// Access and ID token lifetime, in seconds.
    pub access_token_ttl_secs: Option<u64>,
    /// Refresh token lifetime, in seconds.
    pub refresh_token_ttl_secs: Option<u64>,
    /// Authorization code lifetime, in seconds.
    pub code_ttl_secs: Option<u64>,
    /// Extra scopes to advertise in `scopes_supported`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The id or email of the user auto-approve signs in when no `login_hint` is given.
    pub default_user: Option<String>,
    /// The most clients that may register per hour (default 1,000).
    pub max_registrations_per_hour: Option<u32>,
    /// Web origins besides loopback ones that may call the endpoints from a browser.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl ServerConfig {
    pub(crate) fn secs(value: Option<u64>) -> Option<Duration> {
        value.map(Duration::from_secs)
    }
}

impl DevIdpConfig {
    /// Parses a configuration from TOML text.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::Config`] when the text is not valid TOML of this shape.
    pub fn from_toml_str(text: &str) -> Result<Self, DevIdpError> {
        toml::from_str(text).map_err(|source| DevIdpError::Config { source: Box::new(source) })
    }

    /// Reads and parses a TOML configuration file.
    ///
    /// # Errors
    ///
    /// [`DevIdpError::Io`] when the file cannot be read, [`DevIdpError::Config`] when it does not parse.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, DevIdpError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| DevIdpError::Io { what: format!("reading {}", path.display()), source })?;
        Self::from_toml_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_passwords_and_secrets() {
        let user = DevUser::new("u", "u@example.com").password("hunter2-password");
        assert!(!format!("{user:?}").contains("hunter2"));
        let client = DevClient::confidential("c", "s3cret-value", ["https://a.example/cb"]);
        assert!(!format!("{client:?}").contains("s3cret"));
        let config = DevIdpConfig::from_toml_str(
            "[[users]]\nid='u'\nemail='e'\npassword='pw-in-toml'\n[[clients]]\nid='c'\nsecret='toml-secret'",
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("pw-in-toml") && !debug.contains("toml-secret"), "{debug}");
    }

    #[test]
    fn passwords_compare() {
        let user = DevUser::new("u", "e").password("pw");
        assert!(user.password_matches("pw"));
        assert!(!user.password_matches("pw "));
        assert!(DevUser::new("u", "e").password_matches("anything"));
    }

    #[test]
    fn bad_toml_is_an_error() {
        assert!(DevIdpConfig::from_toml_str("[[users]]\nid = 5").is_err());
        assert!(DevIdpConfig::from_toml_str("[server]\nunknown = 1").is_err());
        assert!(DevIdpConfig::from_toml_str("not toml at all [").is_err());
    }

    #[test]
    fn example_file_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");
        let config = DevIdpConfig::from_toml_file(path).unwrap();
        assert!(config.users.len() >= 2);
        assert!(config.users.iter().any(|u| u.roles.iter().any(|r| r == "admin")));
    }

    #[test]
    fn display_name_falls_back() {
        assert_eq!(DevUser::new("u", "e").names("Ada", "L").display_name().as_deref(), Some("Ada L"));
        assert_eq!(DevUser::new("u", "e").display_name(), None);
    }
}
