//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients; one method per request,
//! secrets compared in constant time.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openidconnect::core::CoreClientAuthMethod;

use crate::client::Client;
use crate::error::OAuthError;
use crate::params::Params;
use crate::registry::ClientRegistry;

/// A client that proved who it is, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthenticatedClient {
    /// The client.
    pub client: Client,
    /// The method it used (`none` for a public client that only named itself).
    pub method: CoreClientAuthMethod,
}

/// Decodes one `application/x-www-form-urlencoded` component of HTTP Basic client credentials
/// (RFC 6749 §2.3.1); `None` when the result is not UTF-8.
fn form_decode(component: &str) -> Option<String> {
    let plus_as_space = component.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

/// Reads `Authorization: Basic` client credentials, if the header is there.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(OAuthError::invalid_request("send one Authorization header"));
    }
    let value = value.to_str().map_err(|_| OAuthError::invalid_client("unreadable Authorization header"))?;
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client("only HTTP Basic client authentication is accepted"));
    }
    let malformed = || OAuthError::invalid_client("malformed HTTP Basic credentials");
    let decoded = STANDARD
        .decode(credentials.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(malformed)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    Ok(Some((id, secret)))
}

/// Authenticates the client of a token, revocation or introspection request.
///
/// Rules: Basic credentials and a `client_secret` parameter together are refused (one method only);
/// a `client_id` parameter that differs from the Basic id is refused; a confidential client must send
/// its secret; a public client must not send one, except the empty secret some clients put in
/// `Basic base64("id:")`.
///
/// # Errors
///
/// `invalid_client` (401 with a Basic challenge) for unknown clients and wrong or missing secrets,
/// `invalid_request` for contradictory requests, the store's errors as 503/500.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use mcp_auth_core::store::MemoryStore;
/// use mcp_auth_oauth_server::{Client, ClientRegistry, Params, RegistrationPolicy, authenticate_client};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let registry = ClientRegistry::new(Arc::new(MemoryStore::new()), "demo", RegistrationPolicy::default())
///     .with_client(Client::confidential("proxy", "s3cret", ["https://proxy.example/cb"]).unwrap())
///     .unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic cHJveHk6czNjcmV0")); // proxy:s3cret
/// let params = Params::parse(b"grant_type=client_credentials").unwrap();
/// let client = authenticate_client(&registry, &headers, &params).await.unwrap().client;
/// assert_eq!(client.client_id, "proxy");
/// let wrong = Params::parse(b"client_id=proxy&client_secret=guess").unwrap();
/// let error = authenticate_client(&registry, &HeaderMap::new(), &wrong).await.unwrap_err();
/// assert_eq!(error.code().as_str(), "invalid_client");
/// # });
/// ```
pub async fn authenticate_client(
    registry: &ClientRegistry,
    headers: &HeaderMap,
    params: &Params,
) -> Result<AuthenticatedClient, OAuthError> {
    let (client_id, secret, method) = match basic_credentials(headers)? {
        Some((id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method, not two"));
            }
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (id, Some(secret), CoreClientAuthMethod::ClientSecretBasic)
        }
        None => {
            let id = params.get("client_id").ok_or_else(|| {
                OAuthError::invalid_client("client authentication is required (client_id is missing)")
            })?;
            match params.get("client_secret") {
                Some(secret) => {
                    (id.to_owned(), Some(secret.to_owned()), CoreClientAuthMethod::ClientSecretPost)
                }
                None => (id.to_owned(), None, CoreClientAuthMethod::None),
            }
        }
    };
    let client =
        registry.get(&client_id).await?.ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    // Some public clients send `Basic base64(client_id:)`: an empty secret is no secret.
    let secret = secret.filter(|s| !s.is_empty() || client.is_confidential());
    let method = match (client.is_confidential(), secret) {
        (true, Some(secret)) => {
            if !client.verify_secret(&secret) {
                tracing::info!(client_id = %client.client_id, "client authentication failed");
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
            method
        }
        (true, None) => {
            return Err(OAuthError::invalid_client(
                "this confidential client must authenticate with its secret",
            ));
        }
        (false, Some(_)) => return Err(OAuthError::invalid_client("this public client has no secret")),
        (false, None) => CoreClientAuthMethod::None,
    };
    Ok(AuthenticatedClient { client, method })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::HeaderValue;
    use mcp_auth_core::store::MemoryStore;

    use super::*;
    use crate::registration::RegistrationPolicy;

    fn registry() -> ClientRegistry {
        ClientRegistry::new(Arc::new(MemoryStore::new()), "t", RegistrationPolicy::default())
            .with_client(Client::confidential("proxy", "s3cret:with+plus", ["https://a.example/cb"]).unwrap())
            .unwrap()
            .with_client(Client::public("cli", ["http://127.0.0.1/cb"]).unwrap())
            .unwrap()
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(id), encode(secret))));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        headers
    }

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes()).unwrap()
    }

    async fn auth(headers: &HeaderMap, body: &str) -> Result<CoreClientAuthMethod, String> {
        authenticate_client(&registry(), headers, &params(body))
            .await
            .map(|a| a.method)
            .map_err(|e| format!("{} {}", e.status().as_u16(), e.code()))
    }

    #[tokio::test]
    async fn the_three_methods() {
        assert_eq!(
            auth(&basic("proxy", "s3cret:with+plus"), "").await,
            Ok(CoreClientAuthMethod::ClientSecretBasic)
        );
        assert_eq!(
            auth(&HeaderMap::new(), "client_id=proxy&client_secret=s3cret%3Awith%2Bplus").await,
            Ok(CoreClientAuthMethod::ClientSecretPost)
        );
        assert_eq!(auth(&HeaderMap::new(), "client_id=cli").await, Ok(CoreClientAuthMethod::None));
        assert_eq!(auth(&basic("cli", ""), "").await, Ok(CoreClientAuthMethod::None));
    }

    #[tokio::test]
    async fn refusals() {
        let none = HeaderMap::new();
        for (headers, body, expected) in [
            (basic("proxy", "wrong"), "", "401 invalid_client"),
            (basic("nobody", "x"), "", "401 invalid_client"),
            (none.clone(), "", "401 invalid_client"),
            (none.clone(), "client_id=proxy", "401 invalid_client"),
            (none.clone(), "client_id=cli&client_secret=x", "401 invalid_client"),
            (basic("proxy", "s3cret:with+plus"), "client_secret=s3cret", "400 invalid_request"),
            (basic("proxy", "s3cret:with+plus"), "client_id=cli", "400 invalid_request"),
            (none.clone(), &format!("client_id={}", "x".repeat(300)), "401 invalid_client"),
        ] {
            assert_eq!(auth(&headers, body).await.unwrap_err(), expected, "{body}");
        }
        for raw in ["Basic !!!", "Basic", "Bearer x", "Basic Y2xp", "Basic JXp6Onk="] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(raw));
            assert_eq!(auth(&headers, "").await.unwrap_err(), "401 invalid_client", "{raw}");
        }
        let mut two = basic("cli", "");
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Basic Y2xpOg=="));
        assert_eq!(auth(&two, "").await.unwrap_err(), "400 invalid_request");
    }

    #[test]
    fn form_decoding_of_basic_components() {
        assert_eq!(form_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(form_decode("100%").as_deref(), Some("100%"), "a stray % stays as it is");
        assert_eq!(form_decode("%ff"), None, "not UTF-8");
        assert_eq!(form_decode("plain"), Some("plain".to_owned()));
    }
}
