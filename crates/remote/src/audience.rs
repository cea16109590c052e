//! The verifier wrapper that holds a token to this resource: its audience must name the resource, and it
//! must carry the provider's required scopes.

use std::sync::Arc;

use mcp_auth_core::scope::ScopeCheck;
use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError, async_trait};

/// Refuses tokens whose audience does not include the resource URL (unless that check was turned off)
/// and tokens without the required scopes, judged through the provider's scope hierarchy. The bearer
/// layer checks the scopes too; doing it here as well keeps [`RemoteAuthProvider::verifier`]
/// (crate::RemoteAuthProvider::verifier) a complete check for callers that use it directly.
#[derive(Debug)]
pub(crate) struct ResourceCheck {
    pub(crate) inner: Arc<dyn TokenVerifier>,
    /// `None` when the audience check was turned off.
    pub(crate) audience: Option<String>,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) scope_check: ScopeCheck,
}

impl ResourceCheck {
    fn check(&self, access: AccessToken) -> Result<AccessToken, VerifyError> {
        if let Some(audience) = &self.audience
            && !access.audience.contains(audience)
        {
            tracing::info!(expected = %audience, got = ?access.audience, "token audience mismatch");
            return Err(VerifyError::invalid("token audience mismatch"));
        }
        if !self.scope_check.missing(&self.required_scopes, &access.scopes).is_empty() {
            return Err(VerifyError::InsufficientScope { required: self.required_scopes.clone() });
        }
        Ok(access)
    }
}

#[async_trait]
impl TokenVerifier for ResourceCheck {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        self.check(self.inner.verify(token).await?)
    }

    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        Some(self.inner.verify_now(token)?.and_then(|access| self.check(access)))
    }

    fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::StaticTokenVerifier;

    use super::*;

    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn check(inner: Arc<dyn TokenVerifier>) -> ResourceCheck {
        ResourceCheck {
            inner,
            audience: Some(RESOURCE.to_owned()),
            required_scopes: vec!["mcp:tools".to_owned()],
            scope_check: ScopeCheck::exact(),
        }
    }

    fn table() -> StaticTokenVerifier {
        let token = |raw: &str, audience: &str, scopes: &[&str]| {
            AccessToken::new(raw)
                .with_subject("u1")
                .with_audience([audience])
                .with_scopes(scopes.iter().copied())
        };
        StaticTokenVerifier::new()
            .with_token("ours", token("ours", RESOURCE, &["mcp:tools"]))
            .with_token("theirs", token("theirs", "https://other.example.com/mcp", &["mcp:tools"]))
            .with_token("narrow", token("narrow", RESOURCE, &[]))
    }

    /// Only `verify`, like a verifier without a cache.
    #[derive(Debug)]
    struct Awaited(StaticTokenVerifier);

    #[async_trait]
    impl TokenVerifier for Awaited {
        async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
            self.0.verify(token).await
        }
    }

    #[tokio::test]
    async fn verify_now_judges_audience_and_scopes_exactly_as_verify_does() {
        let check = check(Arc::new(table()));
        let verdicts = ["ours", "theirs", "narrow", "unknown"].map(|token| {
            let now = check.verify_now(token).expect("the inner table answers at once");
            (token, now)
        });
        for (token, now) in &verdicts {
            let awaited = check.verify(token).await;
            assert_eq!(format!("{now:?}"), format!("{awaited:?}"), "{token}");
        }
        let [ours, theirs, narrow, unknown] = verdicts.map(|(_, verdict)| verdict);
        assert_eq!(ours.unwrap().subject.as_deref(), Some("u1"));
        assert!(matches!(theirs, Err(VerifyError::Invalid { .. })));
        assert!(matches!(narrow, Err(VerifyError::InsufficientScope { .. })));
        assert!(matches!(unknown, Err(VerifyError::Invalid { .. })));
    }

    #[tokio::test]
    async fn an_inner_verifier_that_must_be_awaited_is_awaited() {
        let check = check(Arc::new(Awaited(table())));
        assert!(check.verify_now("ours").is_none());
        assert!(check.verify("ours").await.is_ok());
    }
}
