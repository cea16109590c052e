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

#[async_trait]
impl TokenVerifier for ResourceCheck {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let access = self.inner.verify(token).await?;
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

    fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }
}
