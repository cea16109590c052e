//! Dynamic client registration (RFC 7591) with the MCP 2026-07-28 rules: the request's metadata checked
//! field by field, and the answer built from what was registered.
//!
//! - `application_type` (OpenID Connect Dynamic Client Registration): `web` needs `https` redirect URIs
//!   on non-loopback hosts; `native` may use loopback `http` (any port at authorization time), `https`
//!   and reverse-domain private-use schemes. When a client omits it (clients written before the
//!   2026-07-28 revision do), a client whose every redirect URI is a loopback `http(s)` URI is
//!   registered as `native`, since only native apps can receive a redirect on loopback; any other
//!   client is `web`, the OpenID default.
//! - `grant_types`: `authorization_code` (required), `refresh_token`. `client_credentials` is never
//!   granted to an anonymous registration: such a client could mint tokens with no person involved.
//! - `token_endpoint_auth_method`: `none`, `client_secret_basic` (the RFC 7591 default) or
//!   `client_secret_post`.
//! - `response_types`: `code` only.
//! - Every string field is bounded, URIs shown to people (`client_uri`, `logo_uri`, `tos_uri`,
//!   `policy_uri`) must be `https` (or loopback `http`), `scope` must be well-formed (and within the
//!   supported scopes when the policy names them). Unknown fields are ignored, as RFC 7591 §2 says.

use std::time::Duration;

use openidconnect::core::{CoreClientAuthMethod, CoreGrantType, CoreResponseType};
use serde_json::{Map, Value, json};
use url::Url;

use crate::client::Client;
use crate::error::OAuthError;
use crate::redirect::{ApplicationType, RedirectAllowList, RedirectUri};

/// What dynamic registration accepts and how long registrations live.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_oauth_server::{RedirectAllowList, RegistrationPolicy};
///
/// let policy = RegistrationPolicy::default()
///     .client_ttl(Duration::from_secs(7 * 24 * 3600))
///     .max_registrations_per_hour(200)
///     .allowed_redirect_uris(RedirectAllowList::parse(["http://127.0.0.1:*/**"]).unwrap());
/// assert_eq!(policy.max_per_hour(), 200);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RegistrationPolicy {
    client_ttl: Duration,
    max_per_hour: u32,
    max_body_bytes: usize,
    max_redirect_uris: usize,
    max_field_bytes: usize,
    allowed_redirect_uris: Option<RedirectAllowList>,
    scopes_supported: Option<Vec<String>>,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            client_ttl: Duration::from_secs(30 * 24 * 3600),
            max_per_hour: 1000,
            max_body_bytes: 16 * 1024,
            max_redirect_uris: 16,
            max_field_bytes: 2048,
            allowed_redirect_uris: None,
            scopes_supported: None,
        }
    }
}

impl RegistrationPolicy {
    /// How long a dynamically registered client lives without being used (default 30 days); every use
    /// renews it.
    pub fn client_ttl(mut self, ttl: Duration) -> Self {
        self.client_ttl = ttl.max(Duration::from_secs(60));
        self
    }

    /// How many clients may register per clock hour across every instance sharing the store (default
    /// 1,000); past it registration answers 429 with `Retry-After`. With the TTL this bounds how many
    /// unused registrations the store can hold, so a registration flood cannot fill it.
    pub fn max_registrations_per_hour(mut self, max: u32) -> Self {
        self.max_per_hour = max;
        self
    }

    /// The largest registration request body (default 16 KiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The most redirect URIs one client may register (default 16).
    pub fn max_redirect_uris(mut self, count: usize) -> Self {
        self.max_redirect_uris = count;
        self
    }

    /// Only redirect URIs one of these patterns admits may be registered.
    pub fn allowed_redirect_uris(mut self, allow_list: RedirectAllowList) -> Self {
        self.allowed_redirect_uris = Some(allow_list);
        self
    }

    /// A registration's `scope` must stay within these.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// See [`client_ttl`](Self::client_ttl).
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.client_ttl
    }

    /// See [`max_registrations_per_hour`](Self::max_registrations_per_hour).
    #[must_use]
    pub fn max_per_hour(&self) -> u32 {
        self.max_per_hour
    }

    /// See [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes
    }

    /// Validates registration metadata into an unsaved [`Client`] (without id, secret or timestamps).
    ///
    /// # Errors
    ///
    /// `invalid_redirect_uri` or `invalid_client_metadata` naming the field and the problem.
    pub fn validate(&self, metadata: &Map<String, Value>) -> Result<Client, OAuthError> {
        let fields = Fields { map: metadata, max: self.max_field_bytes };
        let auth_method = match fields.string("token_endpoint_auth_method")?.as_deref() {
            None | Some("client_secret_basic") => CoreClientAuthMethod::ClientSecretBasic,
            Some("client_secret_post") => CoreClientAuthMethod::ClientSecretPost,
            Some("none") => CoreClientAuthMethod::None,
            Some(other) => {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "token_endpoint_auth_method {other:?} is not supported; use none, client_secret_basic or \
                     client_secret_post"
                )));
            }
        };
        let grant_types = match fields.strings("grant_types")? {
            None => vec![CoreGrantType::AuthorizationCode],
            Some(names) => names.iter().map(|name| grant_type(name)).collect::<Result<Vec<_>, _>>()?,
        };
        if !grant_types.contains(&CoreGrantType::AuthorizationCode) {
            return Err(OAuthError::invalid_client_metadata(
                "grant_types must include authorization_code, the only flow this server offers clients",
            ));
        }
        if let Some(types) = fields.strings("response_types")?
            && types.iter().any(|t| t != "code")
        {
            return Err(OAuthError::invalid_client_metadata("only the code response type is supported"));
        }
        let redirect_uris = fields.strings("redirect_uris")?.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err(OAuthError::invalid_redirect_uri(
                "redirect_uris is required for the authorization_code grant",
            ));
        }
        if redirect_uris.len() > self.max_redirect_uris {
            return Err(OAuthError::invalid_redirect_uri(format!(
                "{} redirect URIs is more than the {} allowed",
                redirect_uris.len(),
                self.max_redirect_uris
            )));
        }
        let parsed = redirect_uris
            .iter()
            .map(|uri| RedirectUri::parse(uri).map_err(|e| OAuthError::invalid_redirect_uri(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let application_type = match fields.string("application_type")?.as_deref() {
            Some("web") => ApplicationType::Web,
            Some("native") => ApplicationType::Native,
            Some(other) => {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "application_type {other:?} is not web or native"
                )));
            }
            None if parsed
                .iter()
                .all(|uri| uri.is_loopback() && matches!(uri.url().scheme(), "http" | "https")) =>
            {
                ApplicationType::Native
            }
            None => ApplicationType::Web,
        };
        for uri in &parsed {
            uri.check_registration(application_type)
                .map_err(|e| OAuthError::invalid_redirect_uri(e.to_string()))?;
            if let Some(allowed) = &self.allowed_redirect_uris
                && !allowed.permits(uri)
            {
                return Err(OAuthError::invalid_redirect_uri(format!(
                    "{:?} is not among the redirect URIs this server allows",
                    uri.as_str()
                )));
            }
        }
        let scope = match fields.string("scope")? {
            None => None,
            Some(scope) => {
                let scopes = mcp_auth_core::scope::parse_scope_param(&scope)
                    .map_err(|why| OAuthError::invalid_client_metadata(format!("scope: {why}")))?;
                if let Some(supported) = &self.scopes_supported
                    && let Some(unknown) = scopes.iter().find(|s| !supported.contains(s))
                {
                    return Err(OAuthError::invalid_client_metadata(format!(
                        "scope {unknown:?} is not supported here"
                    )));
                }
                Some(scopes.join(" "))
            }
        };
        let mut client = Client::dynamic(String::new(), None);
        client.redirect_uris = redirect_uris;
        client.token_endpoint_auth_method = auth_method;
        client.grant_types = grant_types;
        client.response_types = vec![CoreResponseType::Code];
        client.application_type = application_type;
        client.client_name = fields.string("client_name")?;
        client.client_uri = fields.display_uri("client_uri")?;
        client.logo_uri = fields.display_uri("logo_uri")?;
        client.tos_uri = fields.display_uri("tos_uri")?;
        client.policy_uri = fields.display_uri("policy_uri")?;
        client.scope = scope;
        Ok(client)
    }
}

fn grant_type(name: &str) -> Result<CoreGrantType, OAuthError> {
    match name {
        "authorization_code" => Ok(CoreGrantType::AuthorizationCode),
        "refresh_token" => Ok(CoreGrantType::RefreshToken),
        "client_credentials" => Err(OAuthError::invalid_client_metadata(
            "client_credentials is not available to dynamically registered clients; ask the operator to \
             configure the client",
        )),
        other => Err(OAuthError::invalid_client_metadata(format!("grant type {other:?} is not supported"))),
    }
}

/// Typed, bounded access to the metadata object.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    max: usize,
}

impl Fields<'_> {
    fn string(&self, name: &str) -> Result<Option<String>, OAuthError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= self.max => Ok(Some(s.clone())),
            Some(Value::String(_)) => {
                Err(OAuthError::invalid_client_metadata(format!("{name} is longer than {} bytes", self.max)))
            }
            Some(_) => Err(OAuthError::invalid_client_metadata(format!("{name} must be a string"))),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, OAuthError> {
        let wrong = || OAuthError::invalid_client_metadata(format!("{name} must be an array of strings"));
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.len() <= 64 => items
                .iter()
                .map(|item| match item {
                    Value::String(s) if s.len() <= self.max => Ok(s.clone()),
                    Value::String(_) => Err(OAuthError::invalid_client_metadata(format!(
                        "an item of {name} is longer than {} bytes",
                        self.max
                    ))),
                    _ => Err(wrong()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Value::Array(_)) => {
                Err(OAuthError::invalid_client_metadata(format!("{name} has too many items")))
            }
            Some(_) => Err(wrong()),
        }
    }

    /// A URI shown to people: absolute `https` (or loopback `http`), no user information or fragment.
    fn display_uri(&self, name: &str) -> Result<Option<String>, OAuthError> {
        let Some(uri) = self.string(name)? else { return Ok(None) };
        let refuse = || OAuthError::invalid_client_metadata(format!("{name} must be an https URL"));
        let url = Url::parse(&uri).map_err(|_| refuse())?;
        let loopback_http = url.scheme() == "http" && mcp_auth_core::loopback::is_loopback_url(&url);
        if !(url.scheme() == "https" || loopback_http)
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(refuse());
        }
        Ok(Some(uri))
    }
}

/// The RFC 7591 §3.2.1 answer for a client just registered: every registered field, the new id, the
/// secret when there is one, and when they were issued.
#[must_use]
pub fn registration_response(client: &Client, secret: Option<&str>) -> Value {
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.client_id_issued_at,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_types,
        "response_types": client.response_types,
        "application_type": client.application_type,
    });
    let fields = [
        ("client_name", &client.client_name),
        ("client_uri", &client.client_uri),
        ("logo_uri", &client.logo_uri),
        ("tos_uri", &client.tos_uri),
        ("policy_uri", &client.policy_uri),
        ("scope", &client.scope),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            body[name] = json!(value);
        }
    }
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        // The secret itself does not expire; an unused registration does (it is renewed by every use).
        body["client_secret_expires_at"] = json!(0);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(metadata: Value) -> Result<Client, OAuthError> {
        let Value::Object(map) = metadata else { panic!("object") };
        RegistrationPolicy::default().validate(&map)
    }

    fn code(result: Result<Client, OAuthError>) -> String {
        result.unwrap_err().code().as_str().to_owned()
    }

    #[test]
    fn a_typical_mcp_client() {
        let client = validate(json!({
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost:33418/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "unknown_extension": {"ignored": true}
        }))
        .unwrap();
        assert_eq!(client.application_type, ApplicationType::Native);
        assert_eq!(client.token_endpoint_auth_method, CoreClientAuthMethod::None);
        assert!(client.allows_grant(&CoreGrantType::RefreshToken));
        let body = registration_response(&client, None);
        assert!(body.get("unknown_extension").is_none());
        assert!(body.get("client_secret").is_none());
        assert_eq!(body["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert_eq!(body["application_type"], "native");
    }

    #[test]
    fn application_type_is_inferred_only_for_loopback_only_clients() {
        let loopback =
            validate(json!({"redirect_uris": ["http://127.0.0.1:9/cb", "http://localhost/cb"]})).unwrap();
        assert_eq!(loopback.application_type, ApplicationType::Native);
        let web = validate(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap();
        assert_eq!(web.application_type, ApplicationType::Web);
        assert_eq!(
            code(validate(json!({"redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"]}))),
            "invalid_redirect_uri"
        );
        assert_eq!(code(validate(json!({"redirect_uris": ["com.example.app:/cb"]}))), "invalid_redirect_uri");
        assert_eq!(
            code(validate(json!({"redirect_uris": ["http://127.0.0.1/cb"], "application_type": "web"}))),
            "invalid_redirect_uri"
        );
    }

    #[test]
    fn hostile_metadata_is_refused_with_the_right_code() {
        let long = "a".repeat(3000);
        for (metadata, expected) in [
            (json!({}), "invalid_redirect_uri"),
            (json!({"redirect_uris": []}), "invalid_redirect_uri"),
            (json!({"redirect_uris": "https://a.example/cb"}), "invalid_client_metadata"),
            (json!({"redirect_uris": [5]}), "invalid_client_metadata"),
            (json!({"redirect_uris": ["javascript:alert(1)"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": ["data:text/html,x"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": ["file:///etc/passwd"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": ["https://u:p@a.example/cb"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": ["https://a.example/cb#x"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": ["https://a.example/x/../cb"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": ["https://a.example\\@b.example/cb"]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": [format!("https://a.example/{long}")]}), "invalid_client_metadata"),
            (json!({"redirect_uris": vec!["https://a.example/cb"; 17]}), "invalid_redirect_uri"),
            (json!({"redirect_uris": vec!["https://a.example/cb"; 65]}), "invalid_client_metadata"),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["authorization_code", "client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["refresh_token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "application_type": "tv"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "application_type": 1}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": long}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": ["x"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:alert(1)"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_uri": "http://evil.example/"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "policy_uri": "https://u@a.example/"}),
                "invalid_client_metadata",
            ),
            (json!({"redirect_uris": ["https://a.example/cb"], "scope": "a  b"}), "invalid_client_metadata"),
        ] {
            assert_eq!(code(validate(metadata.clone())), expected, "{metadata}");
        }
    }

    #[test]
    fn policy_allow_list_and_scopes() {
        let Value::Object(map) = json!({"redirect_uris": ["https://evil.example/cb"], "scope": "mcp"}) else {
            panic!()
        };
        let policy = RegistrationPolicy::default()
            .allowed_redirect_uris(RedirectAllowList::parse(["https://*.good.example/**"]).unwrap());
        assert_eq!(policy.validate(&map).unwrap_err().code().as_str(), "invalid_redirect_uri");
        let policy = RegistrationPolicy::default().scopes_supported(["openid"]);
        assert!(policy.validate(&map).unwrap_err().description().contains("\"mcp\""));
        let policy = RegistrationPolicy::default().scopes_supported(["mcp"]);
        assert_eq!(policy.validate(&map).unwrap().scope.as_deref(), Some("mcp"));
    }

    #[test]
    fn secrets_are_returned_once_with_the_registration() {
        let client =
            validate(json!({"redirect_uris": ["https://a.example/cb"], "client_name": "A"})).unwrap();
        assert_eq!(client.token_endpoint_auth_method, CoreClientAuthMethod::ClientSecretBasic);
        let body = registration_response(&client, Some("the-secret"));
        assert_eq!(body["client_secret"], "the-secret");
        assert_eq!(body["client_secret_expires_at"], 0);
        assert_eq!(body["client_name"], "A");
    }
}
