//! The verifier wrapper that refuses tokens whose audience does not name this resource.

use std::sync::Arc;

use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError, async_trait};

/// Refuses tokens whose audience does not include the resource URL.
#[derive(Debug)]
pub(crate) struct AudienceCheck {
    pub(crate) inner: Arc<dyn TokenVerifier>,
    pub(crate) audience: String,
}

#[async_trait]
impl TokenVerifier for AudienceCheck {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let access = self.inner.verify(token).await?;
        if access.audience.contains(&self.audience) {
            Ok(access)
        } else {
            tracing::info!(expected = %self.audience, got = ?access.audience, "token audience mismatch");
            Err(VerifyError::invalid("token audience mismatch"))
        }
    }

    fn required_scopes(&self) -> &[String] {
        self.inner.required_scopes()
    }
}
