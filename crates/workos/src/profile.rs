//! Filling in the profile (email, name, picture) that AuthKit's access tokens do not carry.

use std::sync::Arc;

use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError, async_trait};
use serde_json::Value;

use crate::userinfo::WorkOSTokenVerifier;

/// The userinfo fields copied into a token's claims when the token lacks them.
const PROFILE_CLAIMS: [&str; 7] =
    ["email", "email_verified", "name", "given_name", "family_name", "picture", "preferred_username"];

/// Wraps a verifier: after it accepts a token, the profile claims AuthKit's access tokens leave out are
/// read from userinfo (cached by token hash) and added, so [`AuthUser`](mcp_auth_core::AuthUser) has an
/// email and a name. Only an answer about the same subject is used. The profile is best-effort: when
/// userinfo cannot be reached the token is still accepted, without the profile. The userinfo verifier's
/// back-off is the circuit breaker: after a failure (including a timeout, which `AuthKitProvider` keeps
/// short) no lookup is tried until it has passed, so during an outage requests do not each wait out the
/// timeout.
#[derive(Debug)]
pub(crate) struct WithUserinfoProfile {
    pub(crate) inner: Arc<dyn TokenVerifier>,
    pub(crate) userinfo: WorkOSTokenVerifier,
}

#[async_trait]
impl TokenVerifier for WithUserinfoProfile {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let mut access = self.inner.verify(token).await?;
        match self.userinfo.verify(token).await {
            Ok(profile) if profile.subject.is_some() && profile.subject == access.subject => {
                for name in PROFILE_CLAIMS {
                    if let Some(value) = profile.claims.get(name).filter(|value| !value.is_null())
                        && !access.claims.contains_key(name)
                    {
                        Arc::make_mut(&mut access.claims).insert(name.to_owned(), Value::clone(value));
                    }
                }
            }
            Ok(_) => tracing::warn!("userinfo answered for another subject; profile not added"),
            // The verifier logs an outage once per back-off; each request going on without is routine.
            Err(err) if err.is_unavailable() => {
                tracing::debug!(error = %err, "userinfo profile unavailable; continuing without it");
            }
            Err(err) => {
                tracing::info!(error = %err, "userinfo refused a valid token; continuing without the profile");
            }
        }
        Ok(access)
    }

    fn required_scopes(&self) -> &[String] {
        self.inner.required_scopes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use mcp_auth_core::StaticTokenVerifier;
    use serde_json::json;

    use super::*;

    /// A userinfo endpoint (standing in for WorkOS) that answers by token.
    async fn userinfo_server() -> (String, tokio::task::JoinHandle<()>) {
        let app = Router::new().route(
            "/oauth2/userinfo",
            get(|headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
                match auth {
                    "Bearer mine" => {
                        axum::Json(json!({"sub": "u1", "email": "u1@example.com", "name": "U One"}))
                    }
                    _ => axum::Json(json!({"sub": "someone-else", "email": "evil@example.com"})),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (url, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
    }

    fn wrapper(domain: &str) -> WithUserinfoProfile {
        let inner = StaticTokenVerifier::new()
            .with_token("mine", AccessToken::new("mine").with_subject("u1"))
            .with_token(
                "theirs",
                AccessToken::new("theirs")
                    .with_subject("u2")
                    .with_claims(json!({"name": "Kept"}).as_object().cloned().unwrap()),
            );
        WithUserinfoProfile {
            inner: Arc::new(inner),
            userinfo: WorkOSTokenVerifier::builder().authkit_domain(domain).build().unwrap(),
        }
    }

    #[tokio::test]
    async fn profile_of_the_same_subject_is_added() {
        let (url, server) = userinfo_server().await;
        let user = wrapper(&url).verify("mine").await.unwrap().user().unwrap();
        assert_eq!(user.email.as_deref(), Some("u1@example.com"));
        assert_eq!(user.name.as_deref(), Some("U One"));
        server.abort();
    }

    #[tokio::test]
    async fn profile_of_another_subject_is_ignored() {
        let (url, server) = userinfo_server().await;
        let user = wrapper(&url).verify("theirs").await.unwrap().user().unwrap();
        assert_eq!(user.email, None);
        assert_eq!(user.name.as_deref(), Some("Kept"));
        server.abort();
    }

    /// A userinfo endpoint in an outage: it answers `status` (or, for `None`, never answers) and counts
    /// the requests it gets.
    async fn failing_userinfo(
        status: Option<StatusCode>,
    ) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let app = Router::new().route(
            "/oauth2/userinfo",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    match status {
                        Some(status) => status,
                        None => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (url, calls, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
    }

    #[tokio::test]
    async fn profile_lookup_failures_open_a_circuit_breaker_and_requests_proceed_without_the_profile() {
        for status in [Some(StatusCode::SERVICE_UNAVAILABLE), None] {
            let (url, calls, server) = failing_userinfo(status).await;
            let wrapper = WithUserinfoProfile {
                inner: Arc::new(
                    StaticTokenVerifier::new()
                        .with_token("mine", AccessToken::new("mine").with_subject("u1")),
                ),
                userinfo: WorkOSTokenVerifier::builder()
                    .authkit_domain(&url)
                    .timeout(Duration::from_millis(200))
                    .build()
                    .unwrap(),
            };
            for _ in 0..5 {
                let access = wrapper.verify("mine").await.unwrap();
                assert_eq!(access.subject.as_deref(), Some("u1"), "{status:?}");
                assert!(access.claims.get("email").is_none());
            }
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{status:?}: the outage is remembered");
            server.abort();
        }
    }

    #[tokio::test]
    async fn unreachable_userinfo_keeps_the_token_valid() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let access = wrapper(&url).verify("mine").await.unwrap();
        assert_eq!(access.subject.as_deref(), Some("u1"));
        assert!(access.claims.get("email").is_none());
        assert!(wrapper(&url).verify("unknown").await.is_err(), "the inner verifier still decides");
    }
}
