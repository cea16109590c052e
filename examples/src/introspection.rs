//! A [`TokenVerifier`] of your own: RFC 7662 token introspection, for authorization servers whose access
//! tokens are opaque (or that you would rather ask than trust a signature alone, to see revocations at
//! once).
//!
//! Each token is POSTed to the introspection endpoint with this resource server's client credentials
//! (`client_secret_basic`). The answer's `active`, `sub`, `client_id`, `scope`, `exp`, `iss` and `aud`
//! become the [`AccessToken`]'s fields, and every member of the answer its claims (so `roles`,
//! `permissions` and `org_id` reach [`AuthUser`](mcp_auth_core::AuthUser) as they do from a JWT).
//!
//! | the endpoint answers | the verifier returns | the bearer layer answers |
//! |---|---|---|
//! | `"active": true`, not expired, not a refresh token | the token | the request goes through |
//! | `"active": false` (unknown, expired, revoked) | [`VerifyError::Invalid`] | 401 `invalid_token` |
//! | no answer in time, a refused connection, a 5xx, a malformed body | [`VerifyError::Unavailable`] | 503 |
//! | 401/403 (our own client credentials refused) | [`VerifyError::Unavailable`], logged as an error | 503 |
//!
//! An outage is never a 401: a client told its token is invalid throws it away and signs in again, which
//! only adds load to a struggling authorization server.
//!
//! Nothing here caches: every request costs one introspection call. A production verifier would keep
//! answers for a short while under a keyed fingerprint of the token
//! ([`mcp_auth_core::fingerprint`]), never the token itself.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, bail};
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::secrecy::{ExposeSecret, SecretString};
use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError, async_trait};
use serde_json::{Map, Value};

/// The default bound on one introspection call, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest introspection answer read; anything longer is treated as a failing endpoint.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Verifies bearer tokens by asking an RFC 7662 introspection endpoint.
pub struct IntrospectionVerifier {
    http: reqwest::Client,
    endpoint: url::Url,
    client_id: String,
    client_secret: SecretString,
    clock: SharedClock,
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// A verifier that introspects at `endpoint` as `client_id`, each call bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// An `endpoint` that is not `https` (plain `http` is accepted for loopback hosts only: the token and
    /// the client secret travel in the request), an empty client id or secret, a zero timeout, or an
    /// HTTP client that cannot be built.
    pub fn new(
        endpoint: url::Url,
        client_id: impl Into<String>,
        client_secret: SecretString,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        match endpoint.scheme() {
            "https" => {}
            "http" if mcp_auth_core::loopback::is_loopback_url(&endpoint) => {}
            _ => bail!("the introspection endpoint {endpoint} must be https (http only for loopback hosts)"),
        }
        let client_id = client_id.into();
        if client_id.is_empty() || client_secret.expose_secret().is_empty() {
            bail!("the introspection client id and secret must not be empty");
        }
        if timeout.is_zero() {
            bail!("the introspection timeout must be more than zero");
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // An introspection endpoint answers; a redirect would send the token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the introspection HTTP client")?;
        Ok(Self { http, endpoint, client_id, client_secret, clock: system_clock() })
    }

    /// Judges expiry by `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The introspection call: the answer's members, or why there is none.
    async fn introspect(&self, token: &str) -> Result<Map<String, Value>, VerifyError> {
        // RFC 6749 §2.3.1: the client id and secret are form-encoded before they go into Basic.
        let encode = |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(self.endpoint.clone())
            .basic_auth(encode(&self.client_id), Some(encode(self.client_secret.expose_secret())))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|err| {
                let reason = if err.is_timeout() {
                    "introspection endpoint did not answer in time"
                } else {
                    "introspection endpoint unreachable"
                };
                VerifyError::unavailable(reason, err)
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            tracing::error!(%status, client_id = %self.client_id, "the introspection endpoint refused our client credentials");
            return Err(VerifyError::unavailable(
                "introspection endpoint refused this server's credentials",
                format!("HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(VerifyError::unavailable("introspection endpoint failed", format!("HTTP {status}")));
        }
        let body = read_limited(response).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(answer)) => Ok(answer),
            Ok(_) => Err(VerifyError::unavailable(
                "introspection endpoint gave a malformed answer",
                "the answer is not a JSON object",
            )),
            Err(err) => Err(VerifyError::unavailable("introspection endpoint gave a malformed answer", err)),
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, VerifyError> {
    let failed = |err: reqwest::Error| VerifyError::unavailable("introspection answer cut short", err);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(VerifyError::unavailable(
                "introspection endpoint gave a malformed answer",
                format!("the answer is longer than {MAX_ANSWER_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let answer = self.introspect(token).await?;
        // Only a JSON `true` means active (RFC 7662 §2.2); "true", 1 or a missing member do not.
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(VerifyError::invalid("token is not active"));
        }
        if answer.get("token_type").and_then(Value::as_str) == Some("refresh_token") {
            return Err(VerifyError::invalid("not an access token"));
        }
        let mut access = AccessToken::new(token);
        if let Some(exp) = answer.get("exp") {
            // A NumericDate (RFC 7519 §2) may carry a fraction; a negative or non-numeric one is malformed.
            let exp = exp
                .as_u64()
                .or_else(|| {
                    exp.as_f64().filter(|secs| secs.is_finite() && *secs >= 0.0).map(|secs| secs as u64)
                })
                .ok_or_else(|| VerifyError::invalid("malformed exp"))?;
            let expires_at = UNIX_EPOCH + Duration::from_secs(exp);
            if expires_at <= self.clock.now() {
                return Err(VerifyError::invalid("token expired"));
            }
            access = access.with_expires_at(expires_at);
        }
        if let Some(sub) = string(&answer, "sub") {
            access = access.with_subject(sub);
        }
        if let Some(client_id) = string(&answer, "client_id") {
            access = access.with_client_id(client_id);
        }
        if let Some(issuer) = string(&answer, "iss") {
            access = access.with_issuer(issuer);
        }
        if let Some(scope) = string(&answer, "scope") {
            access = access.with_scopes(scope.split_whitespace());
        }
        access = match answer.get("aud") {
            Some(Value::String(aud)) => access.with_audience([aud.as_str()]),
            Some(Value::Array(auds)) => access.with_audience(auds.iter().filter_map(Value::as_str)),
            _ => access,
        };
        Ok(access.with_claims(answer))
    }
}

fn string<'a>(answer: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    answer.get(name).and_then(Value::as_str).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use mcp_auth_core::clock::ManualClock;
    use serde_json::json;

    use super::*;

    const SECRET: &str = "s3cret with spaces&symbols";

    /// An introspection endpoint on loopback that checks our Basic credentials and answers by token.
    async fn endpoint() -> url::Url {
        async fn introspect(headers: HeaderMap, body: String) -> axum::response::Response {
            // "client-1:s3cret with spaces&symbols", each part form-encoded first.
            let expected = "Basic Y2xpZW50LTE6czNjcmV0K3dpdGgrc3BhY2VzJTI2c3ltYm9scw==";
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected) {
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"})))
                    .into_response();
            }
            let token = url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let answer = match token.as_str() {
                "good" => json!({
                    "active": true, "sub": "user_ada", "client_id": "app", "scope": "openid notes:read",
                    "exp": 2_000, "iss": "https://as.example", "aud": "https://mcp.example/mcp",
                    "org_id": "org_1", "roles": ["member"]
                }),
                "two-audiences" => json!({"active": true, "sub": "u", "aud": ["a", "b"]}),
                "expired" => json!({"active": true, "sub": "u", "exp": 999}),
                "fractional-exp" => json!({"active": true, "sub": "u", "exp": 1_500.5}),
                "malformed-exp" => json!({"active": true, "sub": "u", "exp": "soon"}),
                "refresh" => json!({"active": true, "sub": "u", "token_type": "refresh_token"}),
                "string-active" => json!({"active": "true", "sub": "u"}),
                "not-json" => return "<html>oops</html>".into_response(),
                "broken" => return StatusCode::BAD_GATEWAY.into_response(),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    json!({"active": true, "sub": "u"})
                }
                _ => json!({"active": false}),
            };
            axum::Json(answer).into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().route("/introspect", post(introspect));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url::Url::parse(&format!("http://{address}/introspect")).unwrap()
    }

    fn verifier(endpoint: url::Url, secret: &str) -> IntrospectionVerifier {
        IntrospectionVerifier::new(endpoint, "client-1", secret.into(), Duration::from_millis(500))
            .unwrap()
            .with_clock(Arc::new(ManualClock::at_unix(1_000)))
    }

    #[tokio::test]
    async fn an_active_answer_becomes_the_token() {
        let verifier = verifier(endpoint().await, SECRET);
        let token = verifier.verify("good").await.unwrap();
        assert_eq!(token.subject.as_deref(), Some("user_ada"));
        assert_eq!(token.client_id.as_deref(), Some("app"));
        assert_eq!(token.scopes, ["openid", "notes:read"]);
        assert_eq!(token.expires_at, Some(UNIX_EPOCH + Duration::from_secs(2_000)));
        assert_eq!(token.issuer.as_deref(), Some("https://as.example"));
        assert_eq!(token.audience, ["https://mcp.example/mcp"]);
        let user = token.user().unwrap();
        assert_eq!(user.organization_id.as_deref(), Some("org_1"));
        assert!(user.has_role("member"));
        let token = verifier.verify("two-audiences").await.unwrap();
        assert_eq!(token.audience, ["a", "b"]);
        let token = verifier.verify("fractional-exp").await.unwrap();
        assert_eq!(token.expires_at, Some(UNIX_EPOCH + Duration::from_secs(1_500)));
    }

    #[tokio::test]
    async fn inactive_expired_and_refresh_tokens_are_invalid() {
        let verifier = verifier(endpoint().await, SECRET);
        for (token, reason) in [
            ("unknown", "token is not active"),
            ("string-active", "token is not active"),
            ("expired", "token expired"),
            ("malformed-exp", "malformed exp"),
            ("refresh", "not an access token"),
        ] {
            let err = verifier.verify(token).await.unwrap_err();
            assert_eq!(err.status_code(), 401, "{token}: {err}");
            assert_eq!(err.to_string(), format!("invalid token: {reason}"), "{token}");
        }
    }

    #[tokio::test]
    async fn failures_of_the_endpoint_are_unavailable_never_invalid() {
        let endpoint = endpoint().await;
        let good = verifier(endpoint.clone(), SECRET);
        for token in ["broken", "not-json", "slow"] {
            let err = good.verify(token).await.unwrap_err();
            assert!(err.is_unavailable(), "{token}: {err}");
        }
        let err = good.verify("slow").await.unwrap_err();
        assert!(err.to_string().contains("in time"), "{err}");
        let refused = verifier(endpoint, "wrong secret");
        let err = refused.verify("good").await.unwrap_err();
        assert!(err.is_unavailable() && err.to_string().contains("credentials"), "{err}");

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let down = verifier(url::Url::parse(&format!("http://{address}/introspect")).unwrap(), SECRET);
        let err = down.verify("good").await.unwrap_err();
        assert_eq!(err.status_code(), 503, "{err}");
    }

    #[test]
    fn refuses_plain_http_off_loopback_and_empty_settings() {
        let new = |endpoint: &str, id: &str, secret: &str, timeout: Duration| {
            IntrospectionVerifier::new(url::Url::parse(endpoint).unwrap(), id, secret.into(), timeout)
        };
        let err = new("http://as.example/introspect", "c", "s", DEFAULT_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("must be https"), "{err}");
        assert!(new("https://as.example/introspect", "c", "s", DEFAULT_TIMEOUT).is_ok());
        assert!(new("http://127.0.0.1:9/introspect", "c", "s", DEFAULT_TIMEOUT).is_ok());
        assert!(new("https://as.example/introspect", "", "s", DEFAULT_TIMEOUT).is_err());
        assert!(new("https://as.example/introspect", "c", "", DEFAULT_TIMEOUT).is_err());
        assert!(new("https://as.example/introspect", "c", "s", Duration::ZERO).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let verifier = IntrospectionVerifier::new(
            url::Url::parse("https://as.example/introspect").unwrap(),
            "client-1",
            "hunter2-secret".into(),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let debug = format!("{verifier:?}");
        assert!(!debug.contains("hunter2-secret") && debug.contains("REDACTED"), "{debug}");
    }
}
