//! The upstream identity provider, seen through its one fixed client: the authorization URL the person
//! is sent to, and the code exchange, refresh and revocation requests, made by the `oauth2` crate over
//! the proxy's `reqwest` client.

use std::fmt;
use std::time::{Duration, Instant};

use mcp_auth_core::metrics::{self, UpstreamOutcome, UpstreamTarget};

use oauth2::basic::{BasicClient, BasicRequestTokenError, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RevocationUrl, Scope, StandardRevocableToken, TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ProxyError;

/// How long an upstream token without `expires_in` is taken to live (RFC 6749 §5.1 only recommends the
/// field). An `expires_in` of zero or less is taken at its word: the token has expired, so the grant's
/// next refresh refreshes upstream first (or, without an upstream refresh token, ends the grant).
const ASSUMED_UPSTREAM_TTL: Duration = Duration::from_secs(3600);
/// The most an upstream token endpoint answer may weigh.
const MAX_UPSTREAM_BODY: usize = 256 * 1024;

/// How the proxy authenticates its client to the upstream token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UpstreamAuthMethod {
    /// HTTP Basic (`client_secret_basic`), the OAuth default.
    #[default]
    ClientSecretBasic,
    /// The secret in the form body (`client_secret_post`).
    ClientSecretPost,
}

impl UpstreamAuthMethod {
    /// Picks the method from the upstream's `token_endpoint_auth_methods_supported`: `client_secret_basic`
    /// when offered (or when the list is absent, per RFC 8414's default), else `client_secret_post`
    /// when offered.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_proxy::UpstreamAuthMethod;
    ///
    /// assert_eq!(UpstreamAuthMethod::from_supported(None), Some(UpstreamAuthMethod::ClientSecretBasic));
    /// let post_only = ["client_secret_post".to_owned()];
    /// assert_eq!(UpstreamAuthMethod::from_supported(Some(&post_only)), Some(UpstreamAuthMethod::ClientSecretPost));
    /// assert_eq!(UpstreamAuthMethod::from_supported(Some(&["private_key_jwt".to_owned()])), None);
    /// ```
    #[must_use]
    pub fn from_supported(supported: Option<&[String]>) -> Option<Self> {
        let Some(supported) = supported else { return Some(Self::ClientSecretBasic) };
        let offers = |name: &str| supported.iter().any(|m| m == name);
        if offers("client_secret_basic") {
            Some(Self::ClientSecretBasic)
        } else if offers("client_secret_post") {
            Some(Self::ClientSecretPost)
        } else {
            None
        }
    }
}

/// The upstream authorization server and the proxy's one client there.
#[derive(Clone)]
#[non_exhaustive]
pub struct UpstreamConfig {
    /// The upstream authorization endpoint.
    pub authorization_endpoint: Url,
    /// The upstream token endpoint.
    pub token_endpoint: Url,
    /// The upstream revocation endpoint (RFC 7009), if it has one.
    pub revocation_endpoint: Option<Url>,
    /// The proxy's client id upstream.
    pub client_id: String,
    /// The proxy's client secret upstream.
    pub client_secret: SecretString,
    /// How the secret is sent.
    pub auth_method: UpstreamAuthMethod,
    /// The scopes asked for upstream (`openid`, `profile`, `email`, `offline_access`...).
    pub scopes: Vec<String>,
}

impl fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("authorization_endpoint", &self.authorization_endpoint.as_str())
            .field("token_endpoint", &self.token_endpoint.as_str())
            .field("revocation_endpoint", &self.revocation_endpoint.as_ref().map(Url::as_str))
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("auth_method", &self.auth_method)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl UpstreamConfig {
    /// An upstream with its endpoints and the proxy's client; `client_secret_basic`, no scopes.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_proxy::UpstreamConfig;
    ///
    /// let upstream = UpstreamConfig::new(
    ///     "https://idp.example.com/oauth2/authorize",
    ///     "https://idp.example.com/oauth2/token",
    ///     "client_01",
    ///     "s3cret".into(),
    /// )
    /// .unwrap()
    /// .scopes(["openid", "offline_access"]);
    /// assert!(!format!("{upstream:?}").contains("s3cret"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ProxyError::Config`] when an endpoint is not an absolute `https` URL (plain `http` only on a
    /// loopback host) or the client id is empty.
    pub fn new(
        authorization_endpoint: &str,
        token_endpoint: &str,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Result<Self, ProxyError> {
        let client_id = client_id.into();
        if client_id.trim().is_empty() {
            return Err(ProxyError::config("upstream client id", "is empty"));
        }
        Ok(Self {
            authorization_endpoint: endpoint_url("upstream authorization endpoint", authorization_endpoint)?,
            token_endpoint: endpoint_url("upstream token endpoint", token_endpoint)?,
            revocation_endpoint: None,
            client_id,
            client_secret,
            auth_method: UpstreamAuthMethod::default(),
            scopes: Vec::new(),
        })
    }

    /// Sets the upstream revocation endpoint.
    ///
    /// # Errors
    ///
    /// [`ProxyError::Config`] as for [`UpstreamConfig::new`].
    pub fn revocation_endpoint(mut self, url: &str) -> Result<Self, ProxyError> {
        self.revocation_endpoint = Some(endpoint_url("upstream revocation endpoint", url)?);
        Ok(self)
    }

    /// Sets how the client authenticates upstream.
    #[must_use]
    pub fn auth_method(mut self, method: UpstreamAuthMethod) -> Self {
        self.auth_method = method;
        self
    }

    /// Sets the scopes asked for upstream.
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// Parses an endpoint: absolute, `https`, or `http` on a loopback host.
pub(crate) fn endpoint_url(what: &'static str, value: &str) -> Result<Url, ProxyError> {
    let url = Url::parse(value).map_err(|e| ProxyError::config(what, format!("is not a URL ({e})")))?;
    let loopback = mcp_auth_core::loopback::is_loopback_url(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(ProxyError::config(what, "must be https (plain http only on a loopback host)")),
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ProxyError::config(what, "must have no fragment and no user information"));
    }
    Ok(url)
}

/// Tokens the upstream issued. `Debug` shows none of them.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UpstreamTokens {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    /// Unix seconds.
    pub(crate) expires_at: u64,
    pub(crate) scope: Option<String>,
}

impl fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[REDACTED]"))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why an upstream call failed.
#[derive(Debug)]
pub(crate) enum UpstreamFailure {
    /// The upstream refused (`invalid_grant`, `access_denied`...): retrying will not help. The code is
    /// the upstream's; the description is logged, never shown.
    Refused { error: String },
    /// The upstream is down, slow, rate limiting or answered nonsense: try again later.
    Unavailable { retry_after: u64 },
}

impl UpstreamFailure {
    fn from_request(error: BasicRequestTokenError<HttpError>) -> Self {
        match error {
            oauth2::RequestTokenError::ServerResponse(response) => {
                let error = response.error().as_ref().to_owned();
                tracing::warn!(
                    %error,
                    description = response.error_description().map(String::as_str).unwrap_or_default(),
                    "the upstream refused the request"
                );
                Self::Refused { error }
            }
            oauth2::RequestTokenError::Request(HttpError::Status { status, retry_after }) => {
                tracing::warn!(status, "the upstream answered with an error status");
                Self::Unavailable { retry_after }
            }
            oauth2::RequestTokenError::Request(error) => {
                tracing::warn!(%error, "the upstream could not be reached");
                Self::Unavailable { retry_after: 5 }
            }
            oauth2::RequestTokenError::Parse(error, _) => {
                tracing::warn!(%error, "the upstream answered a malformed token response");
                Self::Unavailable { retry_after: 5 }
            }
            oauth2::RequestTokenError::Other(error) => {
                tracing::warn!(%error, "the upstream answered unexpectedly");
                Self::Unavailable { retry_after: 5 }
            }
        }
    }
}

/// A transport failure, or an answer status that means "later".
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("upstream request failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("upstream answered {status}")]
    Status { status: u16, retry_after: u64 },
    #[error("upstream answer larger than {MAX_UPSTREAM_BODY} bytes")]
    TooLarge,
    #[error("cannot build the upstream request: {0}")]
    Build(String),
}

type UpstreamClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointSet>;

/// The upstream, with the proxy's client and HTTP client.
#[derive(Clone)]
pub(crate) struct Upstream {
    config: UpstreamConfig,
    client: UpstreamClient,
    http: OAuthHttp,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Upstream {
    pub(crate) fn new(
        config: UpstreamConfig,
        http: reqwest::Client,
        redirect_uri: &str,
    ) -> Result<Self, ProxyError> {
        let bad = |what: &'static str| move |e: url::ParseError| ProxyError::config(what, e.to_string());
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(config.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(config.token_endpoint.clone()))
            .set_revocation_url_option(config.revocation_endpoint.clone().map(RevocationUrl::from_url))
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(bad("redirect URI"))?)
            .set_auth_type(match config.auth_method {
                UpstreamAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                UpstreamAuthMethod::ClientSecretPost => AuthType::RequestBody,
            });
        Ok(Self { config, client, http: OAuthHttp(http) })
    }

    /// The scopes asked for upstream.
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.config.scopes.clone()
    }

    /// The URL the person's browser is sent to, with the proxy's `state` and PKCE challenge.
    pub(crate) fn authorize_url(&self, state: &str, challenge: PkceCodeChallenge) -> Url {
        let state = state.to_owned();
        self.client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url()
            .0
    }

    /// Exchanges the upstream's code with the proxy's PKCE verifier.
    pub(crate) async fn exchange_code(
        &self,
        code: &str,
        verifier: &SecretString,
        now: u64,
    ) -> Result<UpstreamTokens, UpstreamFailure> {
        let started = Instant::now();
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(UpstreamFailure::from_request);
        record(UpstreamTarget::UpstreamToken, &response, started);
        Ok(tokens(&response?, None, now))
    }

    /// Refreshes the upstream tokens; an upstream that does not rotate keeps the old refresh token.
    pub(crate) async fn refresh(
        &self,
        refresh_token: &str,
        now: u64,
    ) -> Result<UpstreamTokens, UpstreamFailure> {
        let token = RefreshToken::new(refresh_token.to_owned());
        let started = Instant::now();
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(UpstreamFailure::from_request);
        record(UpstreamTarget::UpstreamRefresh, &response, started);
        Ok(tokens(&response?, Some(refresh_token), now))
    }

    /// Revokes an upstream token (best effort; the caller logs a failure). Without a revocation
    /// endpoint, nothing to do.
    pub(crate) async fn revoke(&self, token: StandardRevocableToken) -> Result<(), UpstreamFailure> {
        let Ok(request) = self.client.revoke_token(token) else { return Ok(()) };
        let started = Instant::now();
        let result = request.request_async(&self.http).await.map_err(|error| match error {
            oauth2::RequestTokenError::ServerResponse(response) => {
                UpstreamFailure::Refused { error: response.error().as_ref().to_owned() }
            }
            _ => UpstreamFailure::Unavailable { retry_after: 5 },
        });
        record(UpstreamTarget::UpstreamRevoke, &result, started);
        result
    }
}

/// Counts and times one upstream call: a refusal is `rejected`, an unavailable upstream a `failure`.
fn record<T>(target: UpstreamTarget, result: &Result<T, UpstreamFailure>, started: Instant) {
    let outcome = match result {
        Ok(_) => UpstreamOutcome::Success,
        Err(UpstreamFailure::Refused { .. }) => UpstreamOutcome::Rejected,
        Err(UpstreamFailure::Unavailable { .. }) => UpstreamOutcome::Failure,
    };
    metrics::record_upstream(target, outcome, started.elapsed());
}

pub(crate) fn refresh_token(token: &str) -> StandardRevocableToken {
    StandardRevocableToken::RefreshToken(RefreshToken::new(token.to_owned()))
}

pub(crate) fn access_token(token: &str) -> StandardRevocableToken {
    StandardRevocableToken::AccessToken(oauth2::AccessToken::new(token.to_owned()))
}

fn tokens(response: &BasicTokenResponse, previous_refresh: Option<&str>, now: u64) -> UpstreamTokens {
    // Zero (negative answers are read as zero by `send`) means expired now, never the assumed hour.
    let lifetime = response.expires_in().unwrap_or(ASSUMED_UPSTREAM_TTL);
    UpstreamTokens {
        access_token: response.access_token().secret().clone(),
        refresh_token: response
            .refresh_token()
            .map(|t| t.secret().clone())
            .or_else(|| previous_refresh.map(str::to_owned)),
        expires_at: now.saturating_add(lifetime.as_secs()),
        scope: response
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
    }
}

/// The `oauth2` crate's HTTP client: the proxy's `reqwest` client, with [`send`]'s rules.
#[derive(Debug, Clone)]
struct OAuthHttp(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// Sends one upstream request through `reqwest`: statuses that mean "later" (408, 429, 5xx) become
/// [`HttpError::Status`] with the upstream's `Retry-After` (bounded), and bodies are size-limited.
async fn send(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let mut outgoing = http.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name, value);
    }
    let mut response = outgoing.send().await.map_err(HttpError::Transport)?;
    let status = response.status();
    if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(5)
            .clamp(1, 300);
        return Err(HttpError::Status { status: status.as_u16(), retry_after });
    }
    if response.content_length().is_some_and(|len| len > MAX_UPSTREAM_BODY as u64) {
        return Err(HttpError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(HttpError::Transport)? {
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_success() {
        body = negative_expires_in_as_zero(body);
    }
    let mut builder = http::Response::builder().status(status);
    for (name, value) in response.headers() {
        if name != http::header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    builder.body(body).map_err(|e| HttpError::Build(e.to_string()))
}

/// A token answer whose `expires_in` is negative gets `0` instead: the `oauth2` crate reads the field as
/// unsigned and would refuse the whole answer as malformed, which a person can only meet with "try
/// again" (and the upstream code is spent by then). A negative lifetime says the token has already
/// expired, which `0` says too. Any other body is returned untouched.
fn negative_expires_in_as_zero(body: Vec<u8>) -> Vec<u8> {
    const FIELD: &[u8] = b"\"expires_in\"";
    if !body.windows(FIELD.len()).any(|w| w == FIELD) {
        return body;
    }
    let Ok(serde_json::Value::Object(mut answer)) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    match answer.get("expires_in").and_then(serde_json::Value::as_f64) {
        Some(seconds) if seconds < 0.0 => {
            tracing::warn!(
                expires_in = seconds,
                "the upstream answered a negative expires_in; taken as 0 (expired)"
            );
            answer.insert("expires_in".to_owned(), 0.into());
            serde_json::to_vec(&answer).unwrap_or(body)
        }
        _ => body,
    }
}

/// The parts of an error answer a client can be shown.
pub(crate) fn client_facing_error(upstream_error: &str) -> &'static str {
    match upstream_error {
        "access_denied" => "access_denied",
        "temporarily_unavailable" => "temporarily_unavailable",
        "login_required" => "login_required",
        "consent_required" => "consent_required",
        "interaction_required" => "interaction_required",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &[u8]) -> BasicTokenResponse {
        serde_json::from_slice(&negative_expires_in_as_zero(body.to_vec())).expect("a token answer")
    }

    #[test]
    fn expires_in_absent_is_assumed_and_zero_or_negative_is_expired_now() {
        let now = 1_800_000_000;
        let with =
            |field: &str| format!(r#"{{"access_token":"at","token_type":"Bearer"{field}}}"#).into_bytes();
        assert_eq!(tokens(&answer(&with(r#","expires_in":300"#)), None, now).expires_at, now + 300);
        assert_eq!(tokens(&answer(&with("")), None, now).expires_at, now + 3600, "absent: the assumed hour");
        assert_eq!(tokens(&answer(&with(r#","expires_in":0"#)), None, now).expires_at, now, "zero: expired");
        assert_eq!(
            tokens(&answer(&with(r#","expires_in":-5"#)), None, now).expires_at,
            now,
            "negative: expired"
        );
        assert_eq!(tokens(&answer(&with(r#","expires_in":-0.5"#)), None, now).expires_at, now);
    }

    #[test]
    fn only_a_negative_expires_in_is_rewritten() {
        for untouched in [
            &br#"{"access_token":"at","expires_in":30}"#[..],
            br#"{"access_token":"at"}"#,
            br#"{"expires_in": -5"#,
            br#"["expires_in", -5]"#,
            b"not json at all",
        ] {
            assert_eq!(negative_expires_in_as_zero(untouched.to_vec()), untouched);
        }
        let rewritten = negative_expires_in_as_zero(br#"{"access_token":"at","expires_in":-5}"#.to_vec());
        let rewritten: serde_json::Value = serde_json::from_slice(&rewritten).unwrap();
        assert_eq!(rewritten["expires_in"], 0);
        assert_eq!(rewritten["access_token"], "at");
    }
}
