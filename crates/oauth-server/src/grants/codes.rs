//! Authorization codes: issued under their keyed hash, redeemed once.

use std::time::Duration;

use mcp_auth_core::metrics::FlowEvent;
use serde::{Deserialize, Serialize};

use super::{GrantData, GrantStore};
use crate::authorize::AuthorizationRequest;
use crate::client::Client;
use crate::error::{OAuthError, record_flow};
use crate::pkce::CodeChallenge;
use crate::resource::check_same_resource;
use crate::secrets::random_token;

/// What an authorization code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeGrant<E> {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request; the token request must repeat it.
    pub redirect_uri: String,
    /// Who signed in (the `sub` of the tokens).
    pub subject: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The RFC 8707 resource.
    pub resource: Option<String>,
    /// The PKCE challenge the verifier must match.
    pub code_challenge: CodeChallenge,
    /// The OpenID Connect nonce.
    pub nonce: Option<String>,
    /// The session id: names the token family this code starts.
    pub sid: String,
    /// When the person signed in (Unix seconds).
    pub auth_time: u64,
    /// When the code expires (Unix seconds).
    pub expires_at: u64,
    /// The issuing server's own data.
    pub extra: E,
}

/// A code to issue for a checked authorization request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewCode<'a, E> {
    /// The request the person approved.
    pub request: &'a AuthorizationRequest,
    /// Who signed in.
    pub subject: &'a str,
    /// When they signed in (Unix seconds); `None` is now.
    pub auth_time: Option<u64>,
    /// The issuing server's own data.
    pub extra: E,
}

impl<'a, E> NewCode<'a, E> {
    /// A code for `request`, approved by `subject` just now.
    pub fn new(request: &'a AuthorizationRequest, subject: &'a str, extra: E) -> Self {
        Self { request, subject, auth_time: None, extra }
    }
}

fn internal<T: std::fmt::Display>(what: &'static str) -> impl FnOnce(T) -> OAuthError {
    move |error| {
        tracing::error!(%error, "{what}");
        OAuthError::server_error()
    }
}

impl<E: GrantData> GrantStore<E> {
    /// Issues a single-use code for an approved request, with a new session id. Returns the code (to put
    /// in the [`AuthorizationResponse`](crate::AuthorizationResponse)) and its grant.
    ///
    /// # Errors
    ///
    /// The store's errors; `server_error` without randomness.
    pub async fn issue_code(&self, new: NewCode<'_, E>) -> Result<(String, CodeGrant<E>), OAuthError> {
        let code = format!("code_{}", random_token(32).map_err(internal("no randomness for a code"))?);
        let sid = format!("session_{}", random_token(16).map_err(internal("no randomness for a session"))?);
        let now = self.now();
        let request = new.request;
        let grant = CodeGrant {
            client_id: request.client.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            subject: new.subject.to_owned(),
            scopes: request.scopes.clone(),
            resource: request.resource.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            sid,
            auth_time: new.auth_time.unwrap_or(now),
            expires_at: now.saturating_add(self.code_ttl.as_secs()),
            extra: new.extra,
        };
        self.codes.put(&self.hasher.hash(&code), &grant, Some(self.code_ttl)).await?;
        Ok((code, grant))
    }

    /// Whether `code` was issued and is still waiting to be redeemed (for a server that may hand the same
    /// redirect to a browser again, never a code already used).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub async fn is_code_pending(&self, code: &str) -> Result<bool, OAuthError> {
        Ok(self.codes.get(&self.hasher.hash(code)).await?.is_some())
    }

    /// Redeems a code at the token endpoint: takes it (single use, atomically), then checks the client,
    /// expiry, redirect URI, PKCE verifier and resource. A code presented a second time revokes the
    /// family it started (RFC 6749 §4.1.2).
    ///
    /// # Errors
    ///
    /// `invalid_grant` for an unknown, expired, reused, foreign or mismatched code or a wrong verifier;
    /// `invalid_target` for another resource; the store's errors.
    pub async fn redeem_code(
        &self,
        code: &str,
        client: &Client,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        resource: Option<&str>,
    ) -> Result<CodeGrant<E>, OAuthError> {
        let result = self.redeem(code, client, redirect_uri, code_verifier, resource).await;
        record_flow(FlowEvent::TokenGrant, &result);
        result
    }

    async fn redeem(
        &self,
        code: &str,
        client: &Client,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        resource: Option<&str>,
    ) -> Result<CodeGrant<E>, OAuthError> {
        let verifier =
            code_verifier.ok_or_else(|| OAuthError::invalid_grant("code_verifier is required (PKCE)"))?;
        let key = self.hasher.hash(code);
        let Some(grant) = self.codes.take(&key).await? else {
            if let Some(sid) = self.redeemed.get(&key).await? {
                tracing::warn!(sid, "authorization code reused; revoking the tokens issued from it");
                let revoked = self.revoke_session(&sid).await.map_err(OAuthError::from);
                record_flow(FlowEvent::CodeReuse, &revoked);
                revoked?;
            }
            return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
        };
        let marker_ttl = self.refresh_ttl.max(Duration::from_secs(60));
        self.redeemed.put(&key, &grant.sid, Some(marker_ttl)).await?;
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if grant.expires_at <= self.now() {
            return Err(OAuthError::invalid_grant("the code has expired"));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's"));
        }
        if !grant.code_challenge.verify(verifier) {
            return Err(OAuthError::invalid_grant("the code_verifier does not match the code_challenge"));
        }
        check_same_resource(resource, grant.resource.as_deref())?;
        Ok(grant)
    }
}
