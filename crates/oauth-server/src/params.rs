//! Request parsing: query strings and `application/x-www-form-urlencoded` bodies as [`Params`], JSON
//! bodies as objects, every body read with a size limit.
//!
//! The rules (RFC 6749 §3.1 and §3.2): a parameter sent twice is an error (each endpoint decides how to
//! answer it: the authorization endpoint can only redirect once it trusts the client), a parameter with
//! an empty value counts as absent, and parameters an endpoint does not know are ignored.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use crate::error::OAuthError;

/// The largest form body the endpoints read by default.
pub const DEFAULT_MAX_FORM_BYTES: usize = 64 * 1024;
/// The longest query string the authorization endpoint reads by default.
pub const DEFAULT_MAX_QUERY_BYTES: usize = 16 * 1024;

/// Parsed request parameters.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::Params;
///
/// let params = Params::parse(b"grant_type=refresh_token&scope=&refresh_token=rt&x=1&x=2").unwrap();
/// assert_eq!(params.get("grant_type"), Some("refresh_token"));
/// assert_eq!(params.get("scope"), None, "empty counts as absent");
/// assert_eq!(params.repeated(), Some("x"));
/// assert!(params.require("code").is_err());
/// ```
#[derive(Debug, Default, Clone)]
pub struct Params {
    map: HashMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes (a body or a query string).
    ///
    /// # Errors
    ///
    /// `invalid_request` when the bytes do not decode.
    pub fn parse(bytes: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
            .map_err(|e| OAuthError::invalid_request(format!("cannot parse the parameters: {e}")))?;
        let mut params = Self { map: HashMap::with_capacity(pairs.len()), repeated: None };
        for (name, value) in pairs {
            match params.map.entry(name) {
                Entry::Occupied(entry) => {
                    params.repeated.get_or_insert_with(|| entry.key().clone());
                }
                Entry::Vacant(entry) => {
                    entry.insert(value);
                }
            }
        }
        Ok(params)
    }

    /// Parses a query string, refusing one longer than `max_bytes` (414).
    ///
    /// # Errors
    ///
    /// `invalid_request` (with status 414 when too long).
    pub fn from_query(query: Option<&str>, max_bytes: usize) -> Result<Self, OAuthError> {
        let query = query.unwrap_or_default();
        if query.len() > max_bytes {
            return Err(
                OAuthError::invalid_request("the request is too long").with_status(StatusCode::URI_TOO_LONG)
            );
        }
        Self::parse(query.as_bytes())
    }

    /// The first parameter that appeared more than once.
    #[must_use]
    pub fn repeated(&self) -> Option<&str> {
        self.repeated.as_deref()
    }

    /// Refuses the parameters when one is repeated (RFC 6749 §3.1).
    ///
    /// # Errors
    ///
    /// `invalid_request` naming the repeated parameter.
    pub fn refuse_repeats(self) -> Result<Self, OAuthError> {
        match &self.repeated {
            Some(name) => Err(OAuthError::invalid_request(format!("the parameter {name:?} is repeated"))),
            None => Ok(self),
        }
    }

    /// A parameter's value; an empty value counts as absent.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A required parameter.
    ///
    /// # Errors
    ///
    /// `invalid_request` naming the missing parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is missing")))
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The `Content-Type` is not the one the endpoint takes.
    #[error("the body must be {expected}")]
    ContentType {
        /// The media type the endpoint takes.
        expected: &'static str,
    },
    /// The body is larger than the endpoint reads.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed while the body was read.
    #[error("the body could not be read")]
    Unreadable,
    /// The body is not what the content type says (not JSON, not an object, not UTF-8...).
    #[error("{0}")]
    Malformed(String),
}

impl From<BodyError> for OAuthError {
    fn from(error: BodyError) -> Self {
        let status = if matches!(error, BodyError::TooLarge { .. }) {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        OAuthError::invalid_request(error.to_string()).with_status(status)
    }
}

fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Reads at most `limit` bytes of `body` with the workspace's one size-limited reader
/// ([`mcp_auth_core::body::read_limited`]).
///
/// # Errors
///
/// [`BodyError::TooLarge`] past the limit (a `Content-Length` over it is refused before reading),
/// [`BodyError::Unreadable`] when the connection fails.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, BodyError> {
    mcp_auth_core::body::read_limited(headers, body, limit).await.map_err(|error| {
        if error.is_too_large() { BodyError::TooLarge { limit } } else { BodyError::Unreadable }
    })
}

/// Reads an `application/x-www-form-urlencoded` body of at most `limit` bytes and refuses repeated
/// parameters: the request shape of the token, revocation and introspection endpoints.
///
/// # Errors
///
/// `invalid_request` (413 when too large) for a wrong content type, an oversized or undecodable body,
/// or a repeated parameter.
///
/// # Examples
///
/// ```
/// use axum::body::Body;
/// use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
/// use mcp_auth_oauth_server::read_form;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut headers = HeaderMap::new();
/// headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
/// let params = read_form(&headers, Body::from("grant_type=client_credentials"), 1024).await.unwrap();
/// assert_eq!(params.get("grant_type"), Some("client_credentials"));
/// let error = read_form(&headers, Body::from("a=1&a=2"), 1024).await.unwrap_err();
/// assert_eq!(error.status(), StatusCode::BAD_REQUEST);
/// let error = read_form(&headers, Body::from("a".repeat(2000)), 1024).await.unwrap_err();
/// assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// # });
/// ```
pub async fn read_form(headers: &HeaderMap, body: Body, limit: usize) -> Result<Params, OAuthError> {
    if !has_content_type(headers, "application/x-www-form-urlencoded") {
        return Err(BodyError::ContentType { expected: "application/x-www-form-urlencoded" }.into());
    }
    let bytes = read_body(headers, body, limit).await?;
    Params::parse(&bytes)?.refuse_repeats()
}

/// Reads an `application/json` body of at most `limit` bytes that must be a JSON object: the request
/// shape of dynamic client registration.
///
/// # Errors
///
/// [`BodyError`]: the caller decides which OAuth error each one is (registration answers a body that is
/// not a JSON object with `invalid_client_metadata`).
pub async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Map<String, Value>, BodyError> {
    if !has_content_type(headers, "application/json") {
        return Err(BodyError::ContentType { expected: "application/json" });
    }
    let bytes = read_body(headers, body, limit).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::Malformed("the body must be a JSON object".to_owned())),
        Err(error) => Err(BodyError::Malformed(format!("the body is not valid JSON: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        headers
    }

    #[test]
    fn parameters() {
        let p = Params::parse(b"a=1&b=&c=x+y&d=%20z").unwrap();
        assert_eq!(
            (p.get("a"), p.get("b"), p.get("c"), p.get("d")),
            (Some("1"), None, Some("x y"), Some(" z"))
        );
        assert!(p.repeated().is_none());
        let repeated = Params::parse(b"a=1&a=1").unwrap();
        assert_eq!(repeated.repeated(), Some("a"));
        assert!(repeated.refuse_repeats().unwrap_err().description().contains("\"a\""));
        // Invalid UTF-8 decodes lossily (never a panic); such a name matches no parameter.
        assert!(Params::parse(b"%ff%fe=1").unwrap().get("\u{fffd}\u{fffd}").is_some());
        assert!(
            Params::from_query(Some(&"a".repeat(20)), 10).unwrap_err().status() == StatusCode::URI_TOO_LONG
        );
        assert!(Params::from_query(None, 10).unwrap().get("x").is_none());
    }

    #[tokio::test]
    async fn forms_are_checked_for_type_size_and_repeats() {
        let ok = read_form(&form_headers(), Body::from("grant_type=x"), 100).await.unwrap();
        assert_eq!(ok.get("grant_type"), Some("x"));
        let err = read_form(&HeaderMap::new(), Body::from("grant_type=x"), 100).await.unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_request");
        let err = read_form(&form_headers(), Body::from("a".repeat(101)), 100).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let mut declared = form_headers();
        declared.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000000"));
        let err = read_form(&declared, Body::from("a=1"), 100).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE, "refused before reading");
        let err = read_form(&form_headers(), Body::from("a=1&a=2"), 100).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn json_objects() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(read_json_object(&headers, Body::from("{\"a\":1}"), 100).await.unwrap().contains_key("a"));
        for body in ["[1]", "\"s\"", "{not json", "\u{0}"] {
            assert!(matches!(
                read_json_object(&headers, Body::from(body), 100).await,
                Err(BodyError::Malformed(_))
            ));
        }
        assert_eq!(
            read_json_object(&headers, Body::from(" ".repeat(200)), 100).await,
            Err(BodyError::TooLarge { limit: 100 })
        );
        assert_eq!(
            read_json_object(&form_headers(), Body::from("{}"), 100).await,
            Err(BodyError::ContentType { expected: "application/json" })
        );
    }
}
