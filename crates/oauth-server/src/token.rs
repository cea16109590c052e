//! The token endpoint's request (RFC 6749 §4.1.3, §6, §4.4; RFC 8693 §2.1) and success answer (§5.1).

use axum::Json;
use axum::response::{IntoResponse, Response};
use openidconnect::core::CoreGrantType;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::error::{OAuthError, no_store};
use crate::params::Params;

/// The RFC 8693 token-exchange grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The RFC 8693 token type of an OAuth access token (§3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The RFC 8693 token-exchange grant type, as the grant lists and [`Client::allows_grant`] name it.
///
/// [`Client::allows_grant`]: crate::Client::allows_grant
///
/// ```
/// use mcp_auth_oauth_server::token_exchange_grant;
///
/// assert_eq!(token_exchange_grant().as_ref(), "urn:ietf:params:oauth:grant-type:token-exchange");
/// ```
#[must_use]
pub fn token_exchange_grant() -> CoreGrantType {
    CoreGrantType::Extension(TOKEN_EXCHANGE_GRANT.to_owned())
}

/// A parsed token request, by grant type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRequest {
    /// `authorization_code`.
    AuthorizationCode {
        /// The code.
        code: String,
        /// The redirect URI of the authorization request.
        redirect_uri: String,
        /// The PKCE verifier (checked when the code is redeemed, so a missing one is `invalid_grant`).
        code_verifier: Option<String>,
        /// The RFC 8707 resource.
        resource: Option<String>,
    },
    /// `refresh_token`.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// A narrower scope, if asked for.
        scope: Option<String>,
        /// The RFC 8707 resource.
        resource: Option<String>,
    },
    /// `client_credentials`.
    ClientCredentials {
        /// The requested scope.
        scope: Option<String>,
        /// The RFC 8707 resource.
        resource: Option<String>,
    },
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1). `Debug` shows no token.
    TokenExchange {
        /// The token that represents the party on whose behalf the request is made.
        subject_token: PresentedToken,
        /// What `subject_token` is (a token-type URI).
        subject_token_type: String,
        /// The token type asked for, if any.
        requested_token_type: Option<String>,
        /// The RFC 8707 resource (the absolute URI of the target service).
        resource: Option<String>,
        /// The logical name of the target service (RFC 8693 `audience`).
        audience: Option<String>,
        /// The requested scope.
        scope: Option<String>,
        /// An actor token: not supported here, kept so the endpoint can refuse it by name.
        actor_token: bool,
    },
}

/// A token presented in a request (the RFC 8693 `subject_token`): `Debug` is redacted, there is no
/// `Display`, and two compare in constant time.
///
/// ```
/// use mcp_auth_oauth_server::PresentedToken;
///
/// let token = PresentedToken::new("eyJ.secret");
/// assert_eq!(token.expose_secret(), "eyJ.secret");
/// assert!(!format!("{token:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct PresentedToken(SecretString);

impl PresentedToken {
    /// Wraps a presented token.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The token itself. Never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PresentedToken([redacted])")
    }
}

impl PartialEq for PresentedToken {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.expose_secret().as_bytes(), other.expose_secret().as_bytes())
            .into()
    }
}

impl Eq for PresentedToken {}

impl TokenRequest {
    /// The grant type named by the `grant_type` parameter, checked against the supported ones before
    /// any client authentication (so a bad grant type is answered the same for everyone).
    ///
    /// # Errors
    ///
    /// `invalid_request` when it is missing, `unsupported_grant_type` when it is not one of `supported`.
    pub fn grant_type(params: &Params, supported: &[CoreGrantType]) -> Result<CoreGrantType, OAuthError> {
        let name = params.require("grant_type")?;
        let grant = match name {
            "authorization_code" => CoreGrantType::AuthorizationCode,
            "refresh_token" => CoreGrantType::RefreshToken,
            "client_credentials" => CoreGrantType::ClientCredentials,
            TOKEN_EXCHANGE_GRANT => token_exchange_grant(),
            _ => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "grant_type {name:?} is not supported"
                )));
            }
        };
        if !supported.contains(&grant) {
            return Err(OAuthError::unsupported_grant_type(format!("grant_type {name:?} is not supported")));
        }
        Ok(grant)
    }

    /// Reads the parameters of `grant`.
    ///
    /// # Errors
    ///
    /// `invalid_request` naming a missing parameter.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_oauth_server::{Params, TokenRequest};
    /// use mcp_auth_oauth_server::openidconnect::core::CoreGrantType;
    ///
    /// let params = Params::parse(b"grant_type=refresh_token&refresh_token=rt_1&scope=mcp").unwrap();
    /// let grant = TokenRequest::grant_type(&params, &[CoreGrantType::RefreshToken]).unwrap();
    /// let TokenRequest::RefreshToken { refresh_token, scope, .. } = TokenRequest::parse(&params, &grant).unwrap()
    /// else {
    ///     unreachable!()
    /// };
    /// assert_eq!((refresh_token.as_str(), scope.as_deref()), ("rt_1", Some("mcp")));
    /// ```
    pub fn parse(params: &Params, grant: &CoreGrantType) -> Result<Self, OAuthError> {
        let owned = |name: &str| params.get(name).map(str::to_owned);
        match grant {
            CoreGrantType::AuthorizationCode => Ok(Self::AuthorizationCode {
                code: params.require("code")?.to_owned(),
                redirect_uri: params.require("redirect_uri")?.to_owned(),
                code_verifier: owned("code_verifier"),
                resource: owned("resource"),
            }),
            CoreGrantType::RefreshToken => Ok(Self::RefreshToken {
                refresh_token: params.require("refresh_token")?.to_owned(),
                scope: owned("scope"),
                resource: owned("resource"),
            }),
            CoreGrantType::ClientCredentials => {
                Ok(Self::ClientCredentials { scope: owned("scope"), resource: owned("resource") })
            }
            CoreGrantType::Extension(name) if name == TOKEN_EXCHANGE_GRANT => Ok(Self::TokenExchange {
                subject_token: PresentedToken::new(params.require("subject_token")?),
                subject_token_type: params.require("subject_token_type")?.to_owned(),
                requested_token_type: owned("requested_token_type"),
                resource: owned("resource"),
                audience: owned("audience"),
                scope: owned("scope"),
                actor_token: params.get("actor_token").is_some(),
            }),
            other => Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {:?} is not supported",
                other.as_ref()
            ))),
        }
    }
}

/// A successful token answer. `Debug` shows no token.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::TokenResponse;
///
/// let response = TokenResponse::bearer("eyJ...", 3600).refresh_token("rt_...").scope("mcp");
/// assert_eq!(response.body()["token_type"], "Bearer");
/// assert!(!format!("{response:?}").contains("eyJ"));
/// ```
#[must_use]
pub struct TokenResponse {
    access_token: SecretString,
    expires_in: u64,
    refresh_token: Option<SecretString>,
    scope: Option<String>,
    id_token: Option<SecretString>,
    issued_token_type: Option<&'static str>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.is_some())
            .field("issued_token_type", &self.issued_token_type)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// A `Bearer` access token that expires in `expires_in` seconds.
    pub fn bearer(access_token: &str, expires_in: u64) -> Self {
        Self {
            access_token: SecretString::from(access_token.to_owned()),
            expires_in: expires_in.max(1),
            refresh_token: None,
            scope: None,
            id_token: None,
            issued_token_type: None,
        }
    }

    /// Sets the RFC 8693 `issued_token_type` of a token-exchange answer (such as [`ACCESS_TOKEN_TYPE`]).
    pub fn issued_token_type(mut self, token_type: &'static str) -> Self {
        self.issued_token_type = Some(token_type);
        self
    }

    /// Adds a refresh token.
    pub fn refresh_token(mut self, token: &str) -> Self {
        self.refresh_token = Some(SecretString::from(token.to_owned()));
        self
    }

    /// Sets the granted scope (omitted when empty).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = (!scope.is_empty()).then(|| scope.to_owned());
        self
    }

    /// Adds an OpenID Connect ID token.
    pub fn id_token(mut self, token: &str) -> Self {
        self.id_token = Some(SecretString::from(token.to_owned()));
        self
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> Value {
        let mut body = json!({
            "access_token": self.access_token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(token) = &self.refresh_token {
            body["refresh_token"] = json!(token.expose_secret());
        }
        if let Some(scope) = &self.scope {
            body["scope"] = json!(scope);
        }
        if let Some(token) = &self.id_token {
            body["id_token"] = json!(token.expose_secret());
        }
        if let Some(token_type) = self.issued_token_type {
            body["issued_token_type"] = json!(token_type);
        }
        body
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        (no_store(), Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn grant_types() {
        let all = [CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken];
        assert_eq!(
            TokenRequest::grant_type(&params("grant_type=refresh_token"), &all).unwrap(),
            CoreGrantType::RefreshToken
        );
        for (body, code) in [
            ("", "invalid_request"),
            ("grant_type=password", "unsupported_grant_type"),
            ("grant_type=client_credentials", "unsupported_grant_type"),
            ("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code", "unsupported_grant_type"),
        ] {
            assert_eq!(
                TokenRequest::grant_type(&params(body), &all).unwrap_err().code().as_str(),
                code,
                "{body}"
            );
        }
    }

    #[test]
    fn parameters_per_grant() {
        let code =
            TokenRequest::parse(&params("code=c&redirect_uri=r"), &CoreGrantType::AuthorizationCode).unwrap();
        assert!(matches!(code, TokenRequest::AuthorizationCode { code_verifier: None, .. }));
        assert!(TokenRequest::parse(&params("code=c"), &CoreGrantType::AuthorizationCode).is_err());
        assert!(TokenRequest::parse(&params("scope=x"), &CoreGrantType::RefreshToken).is_err());
        let cc = TokenRequest::parse(&params("scope=x"), &CoreGrantType::ClientCredentials).unwrap();
        assert_eq!(cc, TokenRequest::ClientCredentials { scope: Some("x".into()), resource: None });
    }

    #[test]
    fn token_exchange_parameters() {
        let body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=st\
                    &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
                    &resource=https%3A%2F%2Fapi.example.com&scope=orders%3Aread";
        let grant = TokenRequest::grant_type(&params(body), &[token_exchange_grant()]).unwrap();
        assert_eq!(grant, token_exchange_grant());
        let TokenRequest::TokenExchange {
            subject_token,
            subject_token_type,
            resource,
            scope,
            actor_token,
            ..
        } = TokenRequest::parse(&params(body), &grant).unwrap()
        else {
            panic!("not a token exchange")
        };
        assert_eq!(subject_token.expose_secret(), "st");
        assert_eq!(subject_token_type, ACCESS_TOKEN_TYPE);
        assert_eq!(resource.as_deref(), Some("https://api.example.com"));
        assert_eq!(scope.as_deref(), Some("orders:read"));
        assert!(!actor_token);
        let missing = TokenRequest::parse(&params("subject_token=st"), &grant).unwrap_err();
        assert_eq!(missing.code().as_str(), "invalid_request");
        assert!(missing.description().contains("subject_token_type"), "{}", missing.description());
        assert!(TokenRequest::grant_type(&params(body), &[CoreGrantType::RefreshToken]).is_err());
    }

    #[test]
    fn bodies() {
        let body = TokenResponse::bearer("at", 0).scope("").id_token("idt").body();
        assert_eq!(
            body,
            json!({"access_token": "at", "token_type": "Bearer", "expires_in": 1, "id_token": "idt"})
        );
    }
}
