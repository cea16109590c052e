//! The authorization endpoint's request and response (RFC 6749 §4.1.1 and §4.1.2, RFC 9207).
//!
//! [`AuthorizationRequest::parse`] checks the request in the only safe order: until the client and its
//! redirect URI are known and matched, every problem is an [`AuthorizeError::Untrusted`] (shown on a
//! page, never redirected, so the endpoint is no open redirector); after that, problems are redirected
//! to the client. An [`AuthorizationResponse`] can only be made from a checked request, so an error
//! is never sent to a URI the client did not register, and every response carries `state` (when the
//! client sent one) and `iss`.
//!
//! A registered redirect URI is not yet a trusted one: anyone may register a client through RFC 7591
//! with `https://evil.example/cb`. An error found before the person has seen any page is therefore
//! redirected only when [`AuthorizePolicy::redirects_errors_to`] trusts the URI (RFC 9700 §4.11.2);
//! otherwise it is shown on a page, so the endpoint cannot bounce a browser to an attacker's site.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{CoreAuthErrorResponseType, CoreGrantType};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{Client, ClientOrigin};
use crate::error::OAuthError;
use crate::params::{DEFAULT_MAX_QUERY_BYTES, Params};
use crate::pkce::CodeChallenge;
use crate::redirect::{RedirectAllowList, RedirectUri};
use crate::registry::ClientRegistry;
use crate::resource::ResourcePolicy;
use crate::scopes::ScopePolicy;

/// What the authorization endpoint accepts beyond the protocol's fixed rules.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AuthorizePolicy {
    /// Which scopes may be asked for.
    pub scopes: ScopePolicy,
    /// Which RFC 8707 resources may be asked for.
    pub resources: ResourcePolicy,
    /// Redirect URIs, beyond loopback ones and those of operator-configured clients, that an error found
    /// before the person has seen any page may be sent to automatically (RFC 9700 §4.11.2). `None`
    /// trusts no others. A server that restricts which redirect URIs clients may register passes the
    /// same allow-list here.
    pub trusted_redirect_uris: Option<RedirectAllowList>,
}

impl AuthorizePolicy {
    /// Whether an error may be redirected to `redirect_uri` (already matched against `client`'s
    /// registered ones) before the person has seen any page.
    ///
    /// Trusted: every redirect URI of a client the operator configured; an `http` or `https` loopback
    /// URI (`localhost`, `127.0.0.0/8`, `[::1]`: only a program on the person's own machine receives
    /// it); a URI the [`trusted_redirect_uris`](Self::trusted_redirect_uris) allow-list permits. Not
    /// trusted by themselves: the URIs of a self-registered client, and those of a Client ID Metadata
    /// Document client, whose document only proves that the owner of the client id's host vouches for
    /// them, and anyone can own a host.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_oauth_server::{AuthorizePolicy, Client, ClientOrigin};
    ///
    /// let mut client = Client::public("c", ["https://app.example/cb"]).unwrap();
    /// let policy = AuthorizePolicy::default();
    /// assert!(policy.redirects_errors_to(&client, "https://app.example/cb"));
    /// client.origin = ClientOrigin::Dynamic;
    /// assert!(!policy.redirects_errors_to(&client, "https://app.example/cb"));
    /// assert!(policy.redirects_errors_to(&client, "http://127.0.0.1:8123/cb"));
    /// ```
    #[must_use]
    pub fn redirects_errors_to(&self, client: &Client, redirect_uri: &str) -> bool {
        if client.origin == ClientOrigin::Configured {
            return true;
        }
        let Ok(uri) = RedirectUri::parse(redirect_uri) else { return false };
        (matches!(uri.url().scheme(), "http" | "https") && uri.is_loopback())
            || self.trusted_redirect_uris.as_ref().is_some_and(|list| list.permits(&uri))
    }
}

/// A checked authorization request.
///
/// It serialises, so a server can keep it while a person signs in (or while an upstream identity
/// provider answers) and finish it later; a request read back is exactly as trustworthy as the store
/// it was kept in (encrypt and authenticate it with `FernetStore` when the store is shared).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The client, known and allowed the code grant.
    pub client: Client,
    /// The redirect URI as presented, matched against the client's registered ones.
    pub redirect_uri: String,
    /// The client's `state`, echoed in the response.
    pub state: Option<String>,
    /// The requested scopes, within the policy.
    pub scopes: Vec<String>,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// The RFC 8707 resource, within the policy.
    pub resource: Option<String>,
    /// The OpenID Connect `nonce`.
    pub nonce: Option<String>,
    /// The `login_hint`.
    pub login_hint: Option<String>,
    /// The `prompt` values (`none`, `login`, `consent`, ...).
    pub prompt: Vec<String>,
}

/// A failed authorization request.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show `message` on a page with `status`; never
    /// redirect.
    Untrusted {
        /// The HTTP status of the page.
        status: StatusCode,
        /// What went wrong, for the person.
        message: String,
    },
    /// Redirect this error to the client.
    Redirect(AuthorizationResponse),
}

impl AuthorizeError {
    fn page(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Untrusted { status, message: message.into() }
    }

    /// An error found before the person has seen any page: redirected when `trusted`, otherwise a
    /// `400` page naming the error and where it would have gone.
    fn early(response: AuthorizationResponse, trusted: bool) -> Self {
        if trusted {
            return Self::Redirect(response);
        }
        let host =
            RedirectUri::parse(&response.redirect_uri).map(|uri| uri.display_host()).unwrap_or_default();
        let message = format!(
            "The application's request was refused ({}): {}. This server does not send the answer to \
             {host} by itself, because it cannot vouch for that address; return to the application \
             and start again.",
            response.param("error").unwrap_or_default(),
            response.param("error_description").unwrap_or_default().trim_end_matches('.'),
        );
        Self::page(StatusCode::BAD_REQUEST, message)
    }
}

impl From<OAuthError> for AuthorizeError {
    fn from(error: OAuthError) -> Self {
        let status = if error.status().is_server_error() { error.status() } else { StatusCode::BAD_REQUEST };
        Self::page(status, error.description().to_owned())
    }
}

impl From<mcp_auth_core::StoreError> for AuthorizeError {
    fn from(error: mcp_auth_core::StoreError) -> Self {
        OAuthError::from(error).into()
    }
}

impl AuthorizationRequest {
    /// Checks an authorization request's query string.
    ///
    /// # Errors
    ///
    /// [`AuthorizeError::Untrusted`] while the client or redirect URI is unknown, wrong or repeated
    /// (and for an over-long or undecodable query); for every later problem (`invalid_request` for
    /// missing or repeated parameters and PKCE, `unsupported_response_type`, `unauthorized_client`,
    /// `invalid_scope`, `invalid_target`, `request_not_supported`), [`AuthorizeError::Redirect`] when
    /// [`AuthorizePolicy::redirects_errors_to`] trusts the redirect URI and
    /// [`AuthorizeError::Untrusted`] naming the error otherwise.
    pub async fn parse(
        query: Option<&str>,
        registry: &ClientRegistry,
        policy: &AuthorizePolicy,
    ) -> Result<Self, AuthorizeError> {
        let query_len = query.map_or(0, str::len);
        if query_len > DEFAULT_MAX_QUERY_BYTES {
            return Err(AuthorizeError::page(
                StatusCode::URI_TOO_LONG,
                "the authorization request is too long",
            ));
        }
        let params = Params::parse(query.unwrap_or_default().as_bytes())?;
        let repeated = params.repeated().map(str::to_owned);
        if let Some(name @ ("client_id" | "redirect_uri")) = repeated.as_deref() {
            return Err(AuthorizeError::page(
                StatusCode::BAD_REQUEST,
                format!("the {name} parameter is repeated"),
            ));
        }
        let client_id = params.require("client_id")?;
        let client = registry.get(client_id).await?.ok_or_else(|| {
            AuthorizeError::page(StatusCode::BAD_REQUEST, format!("unknown client {client_id:?}"))
        })?;
        let redirect_uri = params.require("redirect_uri")?.to_owned();
        if client.matching_redirect_uri(&redirect_uri).is_none() {
            return Err(AuthorizeError::page(
                StatusCode::BAD_REQUEST,
                format!("the redirect URI {redirect_uri:?} is not registered for this client"),
            ));
        }
        // From here on the client and its redirect URI are matched: errors go back to the client when
        // the policy trusts the URI, and are shown on a page otherwise.
        let state = params.get("state").map(str::to_owned);
        let trusted = policy.redirects_errors_to(&client, &redirect_uri);
        let fail = |code: CoreAuthErrorResponseType, description: String| {
            let response = AuthorizationResponse {
                redirect_uri: redirect_uri.clone(),
                pairs: vec![
                    ("error".into(), code.as_ref().to_owned()),
                    ("error_description".into(), description),
                ],
                state: state.clone(),
            };
            AuthorizeError::early(response, trusted)
        };
        match repeated.as_deref() {
            Some("resource") => {
                return Err(fail(
                    CoreAuthErrorResponseType::Extension(crate::error::INVALID_TARGET.to_owned()),
                    "only one resource per authorization request is supported".into(),
                ));
            }
            Some(name) => {
                return Err(fail(
                    CoreAuthErrorResponseType::InvalidRequest,
                    format!("the {name} parameter is repeated"),
                ));
            }
            None => {}
        }
        match params.get("response_type") {
            Some("code") => {}
            Some(other) => {
                return Err(fail(
                    CoreAuthErrorResponseType::UnsupportedResponseType,
                    format!("response_type {other:?} is not supported; use code"),
                ));
            }
            None => {
                return Err(fail(
                    CoreAuthErrorResponseType::InvalidRequest,
                    "the response_type parameter is missing".into(),
                ));
            }
        }
        if params.get("response_mode").is_some_and(|mode| mode != "query") {
            return Err(fail(
                CoreAuthErrorResponseType::InvalidRequest,
                "only response_mode=query is supported".into(),
            ));
        }
        if params.get("request").is_some() {
            return Err(fail(
                CoreAuthErrorResponseType::RequestNotSupported,
                "request objects are not supported".into(),
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(fail(
                CoreAuthErrorResponseType::RequestUriNotSupported,
                "request_uri is not supported".into(),
            ));
        }
        if !client.allows_grant(&CoreGrantType::AuthorizationCode) {
            return Err(fail(
                CoreAuthErrorResponseType::UnauthorizedClient,
                "this client is not registered for the authorization code grant".into(),
            ));
        }
        let code_challenge =
            CodeChallenge::parse(params.get("code_challenge"), params.get("code_challenge_method"))
                .map_err(|e| fail(CoreAuthErrorResponseType::InvalidRequest, e.description().to_owned()))?;
        let scopes = policy
            .scopes
            .check_request(params.get("scope").unwrap_or_default())
            .map_err(|e| fail(CoreAuthErrorResponseType::InvalidScope, e.description().to_owned()))?;
        let resource = policy.resources.check(params.get("resource")).map_err(|e| {
            fail(
                CoreAuthErrorResponseType::Extension(crate::error::INVALID_TARGET.to_owned()),
                e.description().to_owned(),
            )
        })?;
        let prompt = params
            .get("prompt")
            .map(|p| p.split(' ').filter(|v| !v.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Self {
            redirect_uri,
            state,
            scopes,
            code_challenge,
            resource,
            nonce: params.get("nonce").map(str::to_owned),
            login_hint: params.get("login_hint").map(str::to_owned),
            prompt,
            client,
        })
    }

    /// Whether the client asked for `prompt=none` (no page may be shown).
    #[must_use]
    pub fn prompt_none(&self) -> bool {
        self.prompt.iter().any(|p| p == "none")
    }

    /// The scopes as one space-separated string.
    #[must_use]
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// The host the code will be sent to, for the consent page.
    #[must_use]
    pub fn redirect_host(&self) -> String {
        RedirectUri::parse(&self.redirect_uri).map(|uri| uri.display_host()).unwrap_or_default()
    }

    /// The success response carrying `code`.
    #[must_use]
    pub fn code_response(&self, code: &str) -> AuthorizationResponse {
        AuthorizationResponse::code(&self.redirect_uri, self.state.as_deref(), code)
    }

    /// The answer to an error found before the person has seen any page (such as `login_required` for
    /// `prompt=none`): [`AuthorizeError::Redirect`] when `policy` trusts the redirect URI
    /// ([`AuthorizePolicy::redirects_errors_to`]), otherwise [`AuthorizeError::Untrusted`], a page
    /// naming the error. After the person chose to continue (consent, sign-in), use
    /// [`error_response`](Self::error_response).
    #[must_use]
    pub fn error_before_interaction(
        &self,
        policy: &AuthorizePolicy,
        code: CoreAuthErrorResponseType,
        description: &str,
    ) -> AuthorizeError {
        let trusted = policy.redirects_errors_to(&self.client, &self.redirect_uri);
        AuthorizeError::early(self.error_response(code, description), trusted)
    }

    /// An error response to this (checked) request.
    #[must_use]
    pub fn error_response(
        &self,
        code: CoreAuthErrorResponseType,
        description: &str,
    ) -> AuthorizationResponse {
        AuthorizationResponse::error(&self.redirect_uri, self.state.as_deref(), code, description)
    }
}

/// A redirect back to the client: a code or an error, the client's `state`, and the issuer's `iss`.
///
/// Made only from a checked [`AuthorizationRequest`], so its target is always a redirect URI the client
/// registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    redirect_uri: String,
    pairs: Vec<(String, String)>,
    state: Option<String>,
}

impl AuthorizationResponse {
    fn code(redirect_uri: &str, state: Option<&str>, code: &str) -> Self {
        Self {
            redirect_uri: redirect_uri.to_owned(),
            pairs: vec![("code".into(), code.to_owned())],
            state: state.map(str::to_owned),
        }
    }

    fn error(
        redirect_uri: &str,
        state: Option<&str>,
        code: CoreAuthErrorResponseType,
        description: &str,
    ) -> Self {
        Self {
            redirect_uri: redirect_uri.to_owned(),
            pairs: vec![
                ("error".into(), code.as_ref().to_owned()),
                ("error_description".into(), description.to_owned()),
            ],
            state: state.map(str::to_owned),
        }
    }

    /// The `Location` URL: the redirect URI with the response parameters, `state` and `iss` appended
    /// to its query.
    ///
    /// # Errors
    ///
    /// `server_error` if the stored redirect URI no longer parses (it was checked when stored).
    pub fn location(&self, issuer: &str) -> Result<String, OAuthError> {
        let mut url = Url::parse(&self.redirect_uri).map_err(|_| OAuthError::server_error())?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in &self.pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", issuer);
        }
        Ok(url.into())
    }

    /// The redirect: `302 Found` (for `GET /authorize`) or `303 See Other` (after a form `POST`), with
    /// `Cache-Control: no-store`.
    #[must_use]
    pub fn into_redirect(self, issuer: &str, status: StatusCode) -> Response {
        let location = match self.location(issuer) {
            Ok(location) => location,
            Err(error) => return error.into_response(),
        };
        let mut response = if status == StatusCode::SEE_OTHER {
            Redirect::to(&location)
        } else {
            Redirect::temporary(&location)
        }
        .into_response();
        *response.status_mut() = status;
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The response parameter named `name`, if set (for tests and logs).
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcp_auth_core::store::MemoryStore;

    use super::*;
    use crate::registration::RegistrationPolicy;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn registry() -> ClientRegistry {
        ClientRegistry::new(Arc::new(MemoryStore::new()), "t", RegistrationPolicy::default())
            .with_client(Client::confidential("proxy", "s", ["http://127.0.0.1:8000/cb"]).unwrap())
            .unwrap()
            .with_client(Client::public("cli", ["http://127.0.0.1/cb"]).unwrap().native())
            .unwrap()
    }

    fn query(pairs: &[(&str, &str)]) -> String {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "proxy"),
            ("redirect_uri", "http://127.0.0.1:8000/cb"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "st"),
            ("scope", "openid mcp"),
            ("resource", "http://127.0.0.1:8000/mcp"),
        ]
    }

    fn with(changes: &[(&'static str, Option<&'static str>)]) -> String {
        let mut pairs = base();
        for (name, value) in changes {
            pairs.retain(|(n, _)| n != name);
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        query(&pairs)
    }

    async fn parse(q: &str) -> Result<AuthorizationRequest, AuthorizeError> {
        let policy = AuthorizePolicy {
            scopes: ScopePolicy::supported(["openid", "mcp"]),
            ..AuthorizePolicy::default()
        };
        AuthorizationRequest::parse(Some(q), &registry(), &policy).await
    }

    #[tokio::test]
    async fn a_good_request_and_its_responses() {
        let request = parse(&with(&[])).await.unwrap();
        assert_eq!(request.scopes, ["openid", "mcp"]);
        assert_eq!(request.resource.as_deref(), Some("http://127.0.0.1:8000/mcp"));
        assert_eq!(request.redirect_host(), "127.0.0.1:8000");
        let location = request.code_response("c0de").location("https://issuer.example").unwrap();
        let pairs: Vec<(String, String)> =
            Url::parse(&location).unwrap().query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [("code", "c0de"), ("state", "st"), ("iss", "https://issuer.example")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let response = request
            .error_response(CoreAuthErrorResponseType::AccessDenied, "no")
            .into_redirect("i", StatusCode::SEE_OTHER);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert!(response.headers()[header::LOCATION].to_str().unwrap().contains("error=access_denied"));
    }

    #[tokio::test]
    async fn untrusted_requests_stay_on_a_page() {
        for changes in [
            vec![("client_id", None)],
            vec![("client_id", Some("nobody"))],
            vec![("redirect_uri", None)],
            vec![("redirect_uri", Some("https://evil.example/cb"))],
            vec![("redirect_uri", Some("http://127.0.0.1:8001/cb"))],
        ] {
            assert!(
                matches!(parse(&with(&changes)).await, Err(AuthorizeError::Untrusted { .. })),
                "{changes:?}"
            );
        }
        let repeated = format!("{}&client_id=cli", with(&[]));
        assert!(matches!(parse(&repeated).await, Err(AuthorizeError::Untrusted { .. })));
        assert!(matches!(parse("%%%=&&").await, Err(AuthorizeError::Untrusted { .. })));
        let long = "a".repeat(DEFAULT_MAX_QUERY_BYTES + 1);
        assert!(matches!(
            parse(&long).await,
            Err(AuthorizeError::Untrusted { status: StatusCode::URI_TOO_LONG, .. })
        ));
    }

    #[tokio::test]
    async fn trusted_failures_redirect_with_state() {
        for (changes, error) in [
            (vec![("response_type", None)], "invalid_request"),
            (vec![("response_type", Some("token"))], "unsupported_response_type"),
            (vec![("response_mode", Some("fragment"))], "invalid_request"),
            (vec![("request", Some("eyJ"))], "request_not_supported"),
            (vec![("request_uri", Some("urn:x"))], "request_uri_not_supported"),
            (vec![("code_challenge", None)], "invalid_request"),
            (vec![("code_challenge_method", Some("plain"))], "invalid_request"),
            (vec![("scope", Some("openid admin"))], "invalid_scope"),
            (vec![("scope", Some("a\"b"))], "invalid_scope"),
            (vec![("resource", Some("not a uri"))], "invalid_target"),
            (vec![("resource", Some("https://x.example/mcp#f"))], "invalid_target"),
        ] {
            let Err(AuthorizeError::Redirect(response)) = parse(&with(&changes)).await else {
                panic!("{changes:?} did not redirect")
            };
            assert_eq!(response.param("error"), Some(error), "{changes:?}");
            assert_eq!(response.state.as_deref(), Some("st"));
            assert!(response.location("https://i").unwrap().contains("iss=https%3A%2F%2Fi"));
        }
        let twice = format!("{}&resource=https%3A%2F%2Fother.example", with(&[]));
        let Err(AuthorizeError::Redirect(response)) = parse(&twice).await else { panic!() };
        assert_eq!(response.param("error"), Some("invalid_target"));
        let twice = format!("{}&state=again", with(&[]));
        let Err(AuthorizeError::Redirect(response)) = parse(&twice).await else { panic!() };
        assert_eq!(response.param("error"), Some("invalid_request"));
    }

    /// A self-registered client: its registered redirect URI proves nothing about who receives it.
    async fn registered(registry: &ClientRegistry, redirect_uri: &str) -> String {
        let metadata = serde_json::json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
        });
        let serde_json::Value::Object(metadata) = metadata else { unreachable!() };
        registry.register(&metadata).await.unwrap().client.client_id
    }

    fn dynamic_query(client_id: &str, redirect_uri: &str, changes: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = base()
            .into_iter()
            .filter(|(name, _)| !matches!(*name, "client_id" | "redirect_uri" | "resource"))
            .collect();
        pairs.push(("client_id", client_id));
        pairs.push(("redirect_uri", redirect_uri));
        for (name, value) in changes {
            pairs.retain(|(n, _)| n != name);
            pairs.push((name, value));
        }
        query(&pairs)
    }

    #[tokio::test]
    async fn early_errors_for_an_untrusted_redirect_uri_stay_on_a_page_naming_the_error() {
        let registry = registry();
        let evil = registered(&registry, "https://evil.example/cb").await;
        let policy = AuthorizePolicy {
            scopes: ScopePolicy::supported(["openid", "mcp"]),
            ..AuthorizePolicy::default()
        };
        for (changes, error) in [
            (vec![("scope", "openid admin")], "invalid_scope"),
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("response_type", "token")], "unsupported_response_type"),
        ] {
            let q = dynamic_query(&evil, "https://evil.example/cb", &changes);
            match AuthorizationRequest::parse(Some(&q), &registry, &policy).await {
                Err(AuthorizeError::Untrusted { status, message }) => {
                    assert_eq!(status, StatusCode::BAD_REQUEST);
                    assert!(message.contains(error), "{message}");
                    assert!(message.contains("evil.example"), "{message}");
                }
                other => panic!("{changes:?}: {other:?}"),
            }
        }
        // A good request from it parses (the person will see the consent page), but prompt=none cannot
        // be answered by a redirect.
        let q = dynamic_query(&evil, "https://evil.example/cb", &[("prompt", "none")]);
        let request = AuthorizationRequest::parse(Some(&q), &registry, &policy).await.unwrap();
        let answer =
            request.error_before_interaction(&policy, CoreAuthErrorResponseType::LoginRequired, "no");
        assert!(matches!(answer, AuthorizeError::Untrusted { status: StatusCode::BAD_REQUEST, ref message }
            if message.contains("login_required")));
    }

    #[tokio::test]
    async fn early_errors_redirect_to_loopback_allow_listed_and_configured_uris() {
        let registry = registry();
        let loopback = registered(&registry, "http://127.0.0.1:9000/cb").await;
        let listed = registered(&registry, "https://app.good.example/cb").await;
        let policy = AuthorizePolicy {
            scopes: ScopePolicy::supported(["openid", "mcp"]),
            trusted_redirect_uris: Some(RedirectAllowList::parse(["https://*.good.example/**"]).unwrap()),
            ..AuthorizePolicy::default()
        };
        for (client_id, redirect_uri) in [
            (loopback.as_str(), "http://127.0.0.1:9000/cb"),
            (listed.as_str(), "https://app.good.example/cb"),
        ] {
            let q = dynamic_query(client_id, redirect_uri, &[("scope", "openid admin")]);
            let Err(AuthorizeError::Redirect(response)) =
                AuthorizationRequest::parse(Some(&q), &registry, &policy).await
            else {
                panic!("{redirect_uri} did not redirect")
            };
            assert_eq!(response.param("error"), Some("invalid_scope"));
        }
        // Without the allow-list, the same client's errors stay on a page.
        let q = dynamic_query(&listed, "https://app.good.example/cb", &[("scope", "openid admin")]);
        let unlisted = AuthorizePolicy { trusted_redirect_uris: None, ..policy.clone() };
        assert!(matches!(
            AuthorizationRequest::parse(Some(&q), &registry, &unlisted).await,
            Err(AuthorizeError::Untrusted { .. })
        ));
        // The operator's client is trusted whatever its URI; a metadata document client is not.
        let request = parse(&with(&[("prompt", Some("none"))])).await.unwrap();
        let answer =
            request.error_before_interaction(&unlisted, CoreAuthErrorResponseType::LoginRequired, "no");
        assert!(matches!(answer, AuthorizeError::Redirect(_)));
        let mut document = request.client.clone();
        document.origin = ClientOrigin::MetadataDocument;
        assert!(!unlisted.redirects_errors_to(&document, "https://app.good.example/cb"));
        assert!(policy.redirects_errors_to(&document, "https://app.good.example/cb"));
        assert!(!unlisted.redirects_errors_to(&document, "com.example.app:/cb"));
    }
}
