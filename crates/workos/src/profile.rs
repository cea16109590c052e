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
                        access.claims.insert(name.to_owned(), Value::clone(value));
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
