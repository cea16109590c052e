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
/// userinfo cannot be reached the token is still accepted, without the profile.
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
            Err(err) => tracing::info!(error = %err, "userinfo profile unavailable; continuing without it"),
        }
        Ok(access)
    }

    fn required_scopes(&self) -> &[String] {
        self.inner.required_scopes()
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::HeaderMap;
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
