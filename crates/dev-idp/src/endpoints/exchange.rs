//! The RFC 8693 token-exchange grant at `POST /oauth2/token`, as AuthKit answers it: a client allowed to
//! exchange (an MCP server) presents a user's access token as `subject_token` and gets an access token for
//! another resource, about the same user (`sub`, organization, roles, permissions, session carried over),
//! with `aud` = the requested resource and an `act` claim naming the client as the actor.

use std::time::Duration;

use mcp_auth_oauth_server::{ACCESS_TOKEN_TYPE, Client, OAuthError, PresentedToken, TokenResponse};
use serde_json::{Map, Value, json};

use crate::idp::Inner;
use crate::tokens::{self, Subject, TokenRejection};

/// What a token-exchange request asks for.
#[derive(Debug)]
pub(super) struct ExchangeRequest {
    pub(super) subject_token: PresentedToken,
    pub(super) subject_token_type: String,
    pub(super) requested_token_type: Option<String>,
    pub(super) resource: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) actor_token: bool,
}

/// Checks the request, the subject token and the target, then signs the delegated token.
pub(super) async fn token_exchange(
    inner: &Inner,
    client: &Client,
    request: ExchangeRequest,
) -> Result<TokenResponse, OAuthError> {
    if request.actor_token {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    if request.subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type {:?} is not supported: only {ACCESS_TOKEN_TYPE}",
            request.subject_token_type
        )));
    }
    if let Some(requested) = request.requested_token_type.as_deref()
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type {requested:?} is not supported: only {ACCESS_TOKEN_TYPE}"
        )));
    }
    let audience = target(inner, request.resource.as_deref(), request.audience.as_deref())?;
    let scopes = inner.authorize_policy.scopes.check_request(request.scope.as_deref().unwrap_or_default())?;
    let subject = match tokens::verify_access_token(inner, request.subject_token.expose_secret()).await {
        Ok(subject) => subject,
        Err(TokenRejection::Invalid(why)) => {
            tracing::debug!(why, "subject_token refused");
            return Err(OAuthError::invalid_grant(
                "the subject_token is not a valid, live access token of this issuer",
            ));
        }
        Err(TokenRejection::Failed(error)) => return Err(error),
    };
    let user =
        subject.subject.as_deref().and_then(|id| inner.user_by_id(id)).ok_or_else(|| {
            OAuthError::invalid_grant("the subject_token does not name a user of this issuer")
        })?;
    let now = inner.clock.now();
    // The delegated token never outlives the token it was exchanged for.
    let ttl = subject
        .expires_at
        .and_then(|exp| exp.duration_since(now).ok())
        .map_or(inner.access_ttl, |left| left.min(inner.access_ttl))
        .max(Duration::from_secs(1));
    let sid = subject.claim("sid").and_then(Value::as_str);
    let claims =
        tokens::access_request(inner, &Subject::User(user), &client.client_id, &scopes, Some(&audience), sid)
            .claim("act", actor(&client.client_id, subject.claim("act")))
            .ttl(ttl);
    let access = inner.jwt.sign_access(&claims).map_err(tokens::signing_failed)?;
    tracing::info!(user = %user.id, actor = %client.client_id, audience, "token exchanged");
    Ok(TokenResponse::bearer(access.expose(), ttl.as_secs())
        .scope(&scopes.join(" "))
        .issued_token_type(ACCESS_TOKEN_TYPE))
}

/// The audience of the new token: the `resource` (an absolute URI, RFC 8707) or the `audience` (a logical
/// name); both may be given only when they agree.
fn target(inner: &Inner, resource: Option<&str>, audience: Option<&str>) -> Result<String, OAuthError> {
    let resource = inner.authorize_policy.resources.check(resource)?;
    match (resource, audience) {
        (Some(resource), Some(audience)) if resource != audience => {
            Err(OAuthError::invalid_target("resource and audience name different targets: give one of them"))
        }
        (Some(resource), _) => Ok(resource),
        (None, Some(audience)) => Ok(audience.to_owned()),
        (None, None) => Err(OAuthError::invalid_request(
            "name the target of the new token with the resource (or audience) parameter",
        )),
    }
}

/// The `act` claim (RFC 8693 §4.1): the client acting now, with the actor of the subject token (if it was
/// itself exchanged) nested as the prior actor.
fn actor(client_id: &str, prior: Option<&Value>) -> Value {
    let mut act = Map::new();
    act.insert("sub".into(), json!(client_id));
    if let Some(prior) = prior {
        act.insert("act".into(), prior.clone());
    }
    Value::Object(act)
}
