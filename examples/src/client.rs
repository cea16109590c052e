//! An MCP client that signs in the way Claude, Cursor or the MCP Inspector do, driven by the rmcp SDK:
//! it meets the server's 401 challenge, discovers the authorization server from the protected resource
//! metadata, registers itself (DCR), runs the PKCE authorization, checks the `iss` of the response
//! (RFC 9207), exchanges the code for tokens bound to the MCP resource (RFC 8707), and calls tools.
//!
//! The only step not done by a person here is the browser: the authorization URL is fetched without
//! following redirects, which works against an authorization server that signs users in without a form
//! (the dev identity provider's auto-approve mode). `login_hint` picks the user.

use anyhow::{Context, anyhow, bail};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationCallback, AuthorizationManager, AuthorizationRequest, OAuthState,
    WWWAuthenticateParams,
};
use rmcp::transport::streamable_http_client::{InsufficientScopeError, StreamableHttpClientTransportConfig};
use rmcp::{RoleClient, ServiceExt};

/// The redirect URI the demo client registers: a loopback URI, as native clients use (RFC 8252).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

/// A connected, authorized MCP client session.
pub type McpSession = RunningService<RoleClient, ClientConfig>;

/// Connects without a token and returns the server's `WWW-Authenticate` challenge.
///
/// # Errors
///
/// When the server accepts the connection (it should not) or fails in another way.
pub async fn challenge(mcp_url: &str) -> anyhow::Result<String> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()),
    );
    match ClientConfig::default().serve(transport).await {
        Ok(session) => {
            let _ = session.cancel().await;
            bail!("the server accepted an unauthenticated MCP connection")
        }
        Err(error) => match error.auth_challenge() {
            Some(challenge) => Ok(challenge.to_owned()),
            None => Err(anyhow!(error).context("connecting without a token failed without a challenge")),
        },
    }
}

/// Runs discovery, registration, authorization (as `login_hint`) and the token exchange.
///
/// # Errors
///
/// Any step's failure, with the step named.
pub async fn authorize(
    mcp_url: &str,
    challenge: &str,
    login_hint: &str,
) -> anyhow::Result<AuthorizationManager> {
    let mut state =
        OAuthState::new(mcp_url, Some(reqwest::Client::new())).await.context("creating the OAuth state")?;
    state
        .start_authorization(
            AuthorizationRequest::new(REDIRECT_URI)
                .with_client_name("mcp-auth demo client")
                .with_application_type("native")
                .with_challenge(challenge.to_owned()),
        )
        .await
        .context("discovery and client registration")?;
    let authorization_url = state.get_authorization_url().await.context("building the authorization URL")?;
    let callback = follow_authorization(&authorization_url, login_hint).await?;
    state
        .handle_callback_url(&callback)
        .await
        .context("checking the callback (state, iss) and exchanging the code")?;
    state.into_authorization_manager().ok_or_else(|| anyhow!("the OAuth state did not end authorized"))
}

/// Opens an authorization URL as `login_hint` without following redirects, and returns the callback URL the
/// authorization server redirected to.
async fn follow_authorization(authorization_url: &str, login_hint: &str) -> anyhow::Result<String> {
    let mut authorization_url = url::Url::parse(authorization_url)?;
    authorization_url.query_pairs_mut().append_pair("login_hint", login_hint);
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let response =
        no_redirects.get(authorization_url).send().await.context("opening the authorization URL")?;
    let callback = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            anyhow!("the authorization server answered {} without a redirect", response.status())
        })?;
    if !callback.starts_with(REDIRECT_URI) {
        bail!("the authorization server redirected somewhere else: {callback}");
    }
    Ok(callback)
}

/// The `WWW-Authenticate` challenge of a call the server refused with 403 `insufficient_scope`, when that
/// is why `error` happened.
#[must_use]
pub fn insufficient_scope_challenge(error: &ServiceError) -> Option<String> {
    let ServiceError::TransportSend(transport) = error else { return None };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(transport.error.as_ref());
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<InsufficientScopeError>() {
            return Some(refusal.www_authenticate_header.clone());
        }
        source = current.source();
    }
    None
}

/// The step-up flow of the MCP authorization specification: re-authorizes (as `login_hint`) with the union
/// of the scopes asked for so far and those of `challenge`, and exchanges the code on the same
/// authorization manager, so the client's next request carries the wider token. Returns the scopes asked
/// for.
///
/// # Errors
///
/// When the challenge names no scope, the upgrade is refused by the SDK's retry limit, or a step fails.
pub async fn step_up(
    auth: &AuthClient<reqwest::Client>,
    mcp_url: &str,
    challenge: &str,
    login_hint: &str,
) -> anyhow::Result<Vec<String>> {
    let params = WWWAuthenticateParams::parse(challenge, &url::Url::parse(mcp_url)?);
    if !params.is_insufficient_scope() {
        bail!("not an insufficient_scope challenge: {challenge}");
    }
    let scope = params.scope.ok_or_else(|| anyhow!("the challenge names no scope: {challenge}"))?;
    let manager = auth.auth_manager.lock().await;
    let authorization_url =
        manager.request_scope_upgrade(&scope).await.context("building the step-up authorization URL")?;
    let callback = follow_authorization(&authorization_url, login_hint).await?;
    let callback = AuthorizationCallback::from_redirect_url(&callback)?;
    manager
        .exchange_code_for_token_with_issuer(&callback.code, &callback.csrf_token, callback.issuer.as_deref())
        .await
        .context("checking the step-up callback and exchanging the code")?;
    Ok(manager.get_current_scopes().await)
}

/// Connects with the tokens of `manager`; returns the session and the shared client for later refreshes.
///
/// # Errors
///
/// When the authorized connection fails.
pub async fn connect(
    mcp_url: &str,
    manager: AuthorizationManager,
) -> anyhow::Result<(McpSession, AuthClient<reqwest::Client>)> {
    let auth_client = AuthClient::new(reqwest::Client::new(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        auth_client.clone(),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()),
    );
    let session =
        ClientConfig::default().serve(transport).await.context("connecting with the access token")?;
    Ok((session, auth_client))
}

/// Calls a tool without arguments.
///
/// # Errors
///
/// The MCP error the server answered, or a transport failure.
pub async fn call(session: &McpSession, tool: &'static str) -> anyhow::Result<CallToolResult> {
    Ok(try_call(session, tool).await?)
}

/// Calls a tool without arguments, keeping rmcp's error (to read a step-up challenge out of it).
///
/// # Errors
///
/// The MCP error the server answered, or a transport failure.
pub async fn try_call(session: &McpSession, tool: &'static str) -> Result<CallToolResult, ServiceError> {
    session.call_tool(CallToolRequestParams::new(tool)).await
}

/// The first text content of a tool result.
#[must_use]
pub fn text_of(result: &CallToolResult) -> Option<String> {
    result.content.iter().find_map(|block| block.as_text().map(|text| text.text.clone()))
}
