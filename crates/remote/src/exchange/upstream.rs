//! The one HTTP call of an exchange: the token endpoint (given, or read from the authorization server's
//! RFC 8414 metadata once), the form request with this server's client credentials, and the answer
//! sorted into a token, a refusal or an outage.

use mcp_auth_core::RawToken;
use mcp_auth_core::body::read_response_limited;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::check::Answer;
use super::error::ExchangeError;
use super::types::{TOKEN_EXCHANGE_GRANT, Target, TokenType};

/// The most bytes read from a token or metadata answer.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where the token endpoint is.
#[derive(Debug)]
pub(super) enum Endpoint {
    /// Given.
    Fixed(Url),
    /// Read from the authorization server's metadata on first use (a failed read is tried again next time).
    Discovered { issuer: String, metadata_url: Url, token_endpoint: OnceCell<Url> },
}

/// How this server authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum ClientAuth {
    /// `client_secret_post`: id and secret in the form (AuthKit's documented way).
    #[default]
    Post,
    /// `client_secret_basic`: HTTP Basic.
    Basic,
}

/// What one exchange sends, besides the client credentials.
#[derive(Debug)]
pub(super) struct Request<'a> {
    pub(super) subject_token: &'a RawToken,
    pub(super) target: Target,
    pub(super) resource: &'a str,
    pub(super) scopes: &'a [String],
    pub(super) token_type: &'a TokenType,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    token_endpoint: Option<String>,
}

/// Checks that `url` is https, or http on a loopback host.
pub(super) fn check_endpoint_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if mcp_auth_core::loopback::is_loopback_url(url) => Ok(()),
        _ => Err(format!("{url} must be https (http only on loopback hosts)")),
    }
}

impl Endpoint {
    /// The token endpoint URL.
    pub(super) async fn url(&self, http: &reqwest::Client) -> Result<&Url, ExchangeError> {
        match self {
            Self::Fixed(url) => Ok(url),
            Self::Discovered { issuer, metadata_url, token_endpoint } => {
                token_endpoint.get_or_try_init(|| discover(http, issuer, metadata_url)).await
            }
        }
    }
}

#[tracing::instrument(skip(http), fields(metadata = %metadata_url))]
async fn discover(http: &reqwest::Client, issuer: &str, metadata_url: &Url) -> Result<Url, ExchangeError> {
    let response =
        http.get(metadata_url.clone()).send().await.map_err(|err| {
            ExchangeError::unavailable("cannot fetch the authorization server metadata", err)
        })?;
    if !response.status().is_success() {
        return Err(ExchangeError::Unavailable {
            reason: "the authorization server metadata answered an error status",
            source: None,
        });
    }
    let body = read_response_limited(http::Response::from(response), MAX_ANSWER_BYTES)
        .await
        .map_err(|err| ExchangeError::unavailable("cannot read the authorization server metadata", err))?;
    let metadata: Metadata = serde_json::from_slice(&body)
        .map_err(|_| ExchangeError::invalid_answer("the authorization server metadata is not JSON"))?;
    if metadata.issuer.as_deref() != Some(issuer) {
        return Err(ExchangeError::invalid_answer(format!(
            "the metadata names the issuer {:?}, not {issuer:?}",
            metadata.issuer
        )));
    }
    let endpoint = metadata
        .token_endpoint
        .as_deref()
        .ok_or_else(|| ExchangeError::invalid_answer("the metadata names no token_endpoint"))?;
    let url = Url::parse(endpoint)
        .map_err(|err| ExchangeError::invalid_answer(format!("the token_endpoint is not a URL: {err}")))?;
    check_endpoint_url(&url).map_err(ExchangeError::invalid_answer)?;
    tracing::debug!(token_endpoint = %url, "token endpoint discovered");
    Ok(url)
}

/// Sends the exchange to `endpoint` and sorts the answer.
pub(super) async fn send(
    http: &reqwest::Client,
    endpoint: &Url,
    client_id: &str,
    client_secret: &SecretString,
    auth: ClientAuth,
    request: &Request<'_>,
) -> Result<Answer, ExchangeError> {
    let scope = request.scopes.join(" ");
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("subject_token", request.subject_token.expose_secret()),
        ("subject_token_type", TokenType::AccessToken.as_str()),
        ("requested_token_type", request.token_type.as_str()),
        (request.target.parameter(), request.resource),
    ];
    if !scope.is_empty() {
        form.push(("scope", &scope));
    }
    let mut builder = http.post(endpoint.clone()).header(http::header::ACCEPT, "application/json");
    match auth {
        ClientAuth::Post => {
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret.expose_secret()));
        }
        ClientAuth::Basic => {
            builder =
                builder.basic_auth(form_encode(client_id), Some(form_encode(client_secret.expose_secret())));
        }
    }
    let response = builder
        .form(&form)
        .send()
        .await
        .map_err(|err| ExchangeError::unavailable("cannot reach the token endpoint", err))?;
    let status = response.status();
    if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(ExchangeError::Unavailable {
            reason: "the token endpoint answered 5xx or 429",
            source: None,
        });
    }
    let body = read_response_limited(http::Response::from(response), MAX_ANSWER_BYTES)
        .await
        .map_err(|err| ExchangeError::unavailable("cannot read the token endpoint's answer", err))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|_| {
            ExchangeError::invalid_answer("the token endpoint's answer is not a token response")
        });
    }
    let refusal: ErrorBody = serde_json::from_slice(&body).map_err(|_| {
        ExchangeError::invalid_answer(format!("the token endpoint answered {status} without an OAuth error"))
    })?;
    let description = refusal.error_description.unwrap_or_default();
    Err(match refusal.error.as_str() {
        "invalid_grant" => ExchangeError::InvalidGrant { description },
        "unauthorized_client" => ExchangeError::UnauthorizedClient { description },
        "temporarily_unavailable" => ExchangeError::Unavailable {
            reason: "the token endpoint is temporarily unavailable",
            source: None,
        },
        _ => ExchangeError::Refused { error: refusal.error, description },
    })
}

/// Client credentials in HTTP Basic are form-encoded first (RFC 6749 §2.3.1).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
