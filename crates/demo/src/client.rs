//! An MCP client that signs in the way Claude, Cursor or the MCP Inspector do, driven by the rmcp SDK:
//! it meets the server's 401 challenge, discovers the authorization server from the protected resource
//! metadata, registers itself (DCR), runs the PKCE authorization, checks the `iss` of the response
//! (RFC 9207), exchanges the code for tokens bound to the MCP resource (RFC 8707), and calls tools.
//!
//! The only step not done by a person here is the browser: the authorization URL is fetched without
//! following redirects, which works against an authorization server that signs users in without a form
//! (the dev identity provider's auto-approve mode). `login_hint` picks the user.

use anyhow::{Context, anyhow, bail};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, ErrorData, JsonObject};
use rmcp::service::{ClientInitializeError, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationCallback, AuthorizationManager, AuthorizationRequest, OAuthState,
    WWWAuthenticateParams,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, StreamableHttpClientTransportConfig,
    StreamableHttpError,
};
use rmcp::{RoleClient, ServiceExt};
use secrecy::{ExposeSecret as _, SecretString};

/// The redirect URI the demo client registers: a loopback URI, as native clients use (RFC 8252).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

/// The client name the demo client registers with.
pub const CLIENT_NAME: &str = "mcp-auth demo client";

/// A connected, authorized MCP client session.
pub type McpSession = RunningService<RoleClient, ClientConfig>;

/// Connects without a token and returns the server's `WWW-Authenticate` challenge, which must name the
/// protected resource metadata (`resource_metadata=`), as MCP clients need it for discovery.
///
/// # Errors
///
/// When the server accepts the connection (it should not), answers a challenge naming no metadata, or
/// fails in another way.
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
            Some(challenge) if challenge.contains("resource_metadata=") => Ok(challenge.to_owned()),
            Some(challenge) => bail!("the challenge names no metadata: {challenge}"),
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
    authorize_in(Browser::new()?, mcp_url, challenge, login_hint).await
}

/// [`authorize`] with `browser`, such as one that signs in on the authorization server's sign-in page
/// ([`Browser::sign_in_as`]).
///
/// # Errors
///
/// Any step's failure, with the step named.
pub async fn authorize_in(
    mut browser: Browser,
    mcp_url: &str,
    challenge: &str,
    login_hint: &str,
) -> anyhow::Result<AuthorizationManager> {
    let mut state =
        OAuthState::new(mcp_url, Some(reqwest::Client::new())).await.context("creating the OAuth state")?;
    state
        .start_authorization(
            AuthorizationRequest::new(REDIRECT_URI)
                .with_client_name(CLIENT_NAME)
                .with_application_type("native")
                .with_challenge(challenge.to_owned()),
        )
        .await
        .context("discovery and client registration")?;
    let authorization_url = state.get_authorization_url().await.context("building the authorization URL")?;
    let callback = follow_authorization(&mut browser, &authorization_url, login_hint).await?;
    state
        .handle_callback_url(&callback)
        .await
        .context("checking the callback (state, iss) and exchanging the code")?;
    state.into_authorization_manager().ok_or_else(|| anyhow!("the OAuth state did not end authorized"))
}

/// Opens an authorization URL as `login_hint` the way a browser would, without JavaScript: it follows
/// redirects by hand, keeps cookies per host, and approves a consent page (the OAuth proxy's, whose form
/// carries `transaction` and `csrf` fields) by submitting its form. Returns the callback URL the
/// authorization server finally redirected to.
async fn follow_authorization(
    browser: &mut Browser,
    authorization_url: &str,
    login_hint: &str,
) -> anyhow::Result<String> {
    let mut url = url::Url::parse(authorization_url)?;
    url.query_pairs_mut().append_pair("login_hint", login_hint);
    browser.follow(url, REDIRECT_URI).await
}

/// A minimal browser for the demo and tests: redirects followed by hand, cookies kept per host (not per
/// port, as browsers do), consent forms approved, and sign-in pages (a form with a password field, such
/// as the dev IdP's when it does not auto-approve) submitted with the credentials of
/// [`sign_in_as`](Self::sign_in_as).
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    cookies: std::collections::HashMap<String, Vec<(String, String)>>,
    /// Whether to approve consent pages (or deny them).
    pub approve: bool,
    credentials: Option<(String, SecretString)>,
}

impl Browser {
    /// A browser with no cookies that approves consent.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { http, cookies: std::collections::HashMap::new(), approve: true, credentials: None })
    }

    /// Signs in as `login` (an email or user id) with `password` on the sign-in pages it meets; without
    /// credentials a sign-in page ends the authorization with an error.
    #[must_use]
    pub fn sign_in_as(mut self, login: &str, password: SecretString) -> Self {
        self.credentials = Some((login.to_owned(), password));
        self
    }

    /// Cookies belong to a host, whatever the port (RFC 6265 §8.5), as in browsers.
    fn host_key(url: &url::Url) -> String {
        url.host_str().unwrap_or_default().to_owned()
    }

    fn cookie_header(&self, url: &url::Url) -> Option<String> {
        let jar = self.cookies.get(&Self::host_key(url))?;
        (!jar.is_empty()).then(|| jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    fn keep_cookies(&mut self, url: &url::Url, response: &reqwest::Response) {
        let jar = self.cookies.entry(Self::host_key(url)).or_default();
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let Some((pair, attributes)) = value.to_str().ok().map(|v| v.split_once(';').unwrap_or((v, "")))
            else {
                continue;
            };
            let Some((name, value)) = pair.trim().split_once('=') else { continue };
            jar.retain(|(k, _)| k != name);
            if !attributes.contains("Max-Age=0") {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// Sends one request with this browser's cookies and keeps the ones it sets.
    ///
    /// # Errors
    ///
    /// A transport failure.
    pub async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        url: &url::Url,
    ) -> anyhow::Result<reqwest::Response> {
        let request = match self.cookie_header(url) {
            Some(cookies) => request.header(reqwest::header::COOKIE, cookies),
            None => request,
        };
        let response = request.send().await.with_context(|| format!("opening {url}"))?;
        self.keep_cookies(url, &response);
        Ok(response)
    }

    /// Follows `url` until a redirect to `stop_prefix`, which it returns, submitting consent forms on the
    /// way.
    ///
    /// # Errors
    ///
    /// A page that is neither a redirect nor a consent form (its status and text are in the error), or
    /// more than 12 steps.
    pub async fn follow(&mut self, mut url: url::Url, stop_prefix: &str) -> anyhow::Result<String> {
        let mut form: Option<(url::Url, Vec<(String, String)>)> = None;
        for _ in 0..12 {
            let response = match form.take() {
                Some((action, fields)) => {
                    let request = self
                        .http
                        .post(action.clone())
                        .header(reqwest::header::ORIGIN, origin(&action))
                        .form(&fields);
                    self.send(request, &action).await?
                }
                None => {
                    let request = self.http.get(url.clone());
                    self.send(request, &url).await?
                }
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| anyhow!("a {status} redirect without a Location"))?;
                let next = url.join(location)?;
                if next.as_str().starts_with(stop_prefix) {
                    return Ok(next.into());
                }
                url = next;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            match (status.is_success(), page_form(&body)) {
                (true, Some((action, mut fields))) if body.contains("type=\"password\"") => {
                    let Some((login, password)) = &self.credentials else {
                        bail!("a sign-in page asks for a password, and no credentials were given");
                    };
                    fields.push(("login".to_owned(), login.clone()));
                    fields.push(("password".to_owned(), password.expose_secret().to_owned()));
                    form = Some((url.join(&action)?, fields));
                }
                (true, Some((action, mut fields))) => {
                    let decision = if self.approve { "approve" } else { "deny" };
                    fields.push(("decision".to_owned(), decision.to_owned()));
                    form = Some((url.join(&action)?, fields));
                }
                _ => bail!("the authorization server answered {status}: {}", text_only(&body)),
            }
        }
        bail!("too many steps in the authorization")
    }
}

fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// The action and hidden fields of a page's form (the proxy's or the dev IdP's consent form, or the dev
/// IdP's sign-in form), if it has one with a `csrf` field.
fn page_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let action = attribute_after(html, "<form", "action")?;
    let mut fields = Vec::new();
    let mut rest = &html[html.find("<form")?..];
    while let Some(start) = rest.find("<input") {
        let end = rest[start..].find('>')? + start;
        let tag = &rest[start..end];
        if tag.contains("type=\"hidden\"") {
            fields.push((attribute_after(tag, "<input", "name")?, attribute_after(tag, "<input", "value")?));
        }
        rest = &rest[end..];
    }
    fields.iter().any(|(name, _)| name == "csrf").then(|| (action.replace("&amp;", "&"), fields))
}

fn attribute_after(html: &str, tag: &str, attribute: &str) -> Option<String> {
    let from = html.find(tag)?;
    let marker = format!("{attribute}=\"");
    let start = html[from..].find(&marker)? + from + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A page's text without its tags, shortened, for error messages.
fn text_only(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect()
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
    let callback = follow_authorization(&mut Browser::new()?, &authorization_url, login_hint).await?;
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

/// Signs in as `login_hint` from scratch (the 401 challenge, then [`authorize`]) and connects.
///
/// # Errors
///
/// Any step's failure, with the step named.
pub async fn sign_in(
    mcp_url: &str,
    login_hint: &str,
) -> anyhow::Result<(McpSession, AuthClient<reqwest::Client>)> {
    sign_in_in(Browser::new()?, mcp_url, login_hint).await
}

/// [`sign_in`] on an authorization server that shows a sign-in page (the dev IdP without auto-approve,
/// or behind the OAuth proxy, which does not pass `login_hint` on): the page is submitted with `login`
/// and `password`.
///
/// # Errors
///
/// Any step's failure, with the step named; wrong credentials are the sign-in page's answer.
pub async fn sign_in_with_password(
    mcp_url: &str,
    login: &str,
    password: SecretString,
) -> anyhow::Result<(McpSession, AuthClient<reqwest::Client>)> {
    sign_in_in(Browser::new()?.sign_in_as(login, password), mcp_url, login).await
}

async fn sign_in_in(
    browser: Browser,
    mcp_url: &str,
    login_hint: &str,
) -> anyhow::Result<(McpSession, AuthClient<reqwest::Client>)> {
    let challenge = challenge(mcp_url).await?;
    let manager = authorize_in(browser, mcp_url, &challenge, login_hint)
        .await
        .with_context(|| format!("signing in as {login_hint}"))?;
    connect(mcp_url, manager).await
}

/// Connects with a bearer token as it is, without OAuth: for checking how the server answers a token
/// it did not issue, a revoked one, or any token while its verifier is down.
///
/// # Errors
///
/// rmcp's error, from which [`refusal`] reads the server's answer.
pub async fn connect_with_token(mcp_url: &str, token: &str) -> Result<McpSession, ClientInitializeError> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()).auth_header(token),
    );
    ClientConfig::default().serve(transport).await
}

/// How the server refused a connection, as the HTTP status and, for 401 and 403, the `WWW-Authenticate`
/// challenge; `None` when the connection failed for another reason.
#[must_use]
pub fn refusal(error: &ClientInitializeError) -> Option<(u16, Option<String>)> {
    if let ClientInitializeError::LegacyFallbackFailed { fallback, .. } = error {
        return refusal(fallback);
    }
    let ClientInitializeError::TransportError { error, .. } = error else { return None };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.error.as_ref());
    while let Some(current) = source {
        if let Some(required) = current.downcast_ref::<AuthRequiredError>() {
            return Some((401, Some(required.www_authenticate_header.clone())));
        }
        if let Some(scope) = current.downcast_ref::<InsufficientScopeError>() {
            return Some((403, Some(scope.www_authenticate_header.clone())));
        }
        // rmcp wraps the status `#[error(transparent)]`, which hides it from `source()`: look for the
        // wrapper of the reqwest transport, and then for the status itself (other transports).
        if let Some(StreamableHttpError::HttpStatus(status)) =
            current.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            return Some((status.status, None));
        }
        if let Some(status) = current.downcast_ref::<HttpStatusError>() {
            return Some((status.status, None));
        }
        source = current.source();
    }
    None
}

/// Calls a tool with JSON object arguments.
///
/// # Errors
///
/// `arguments` not being an object, the MCP error the server answered, or a transport failure.
pub async fn call_with(
    session: &McpSession,
    tool: &'static str,
    arguments: serde_json::Value,
) -> Result<CallToolResult, ServiceError> {
    let arguments: JsonObject = match arguments {
        serde_json::Value::Object(map) => map,
        other => {
            return Err(ServiceError::McpError(ErrorData::invalid_params(
                format!("tool arguments must be a JSON object, not {other}"),
                None,
            )));
        }
    };
    session.call_tool(CallToolRequestParams::new(tool).with_arguments(arguments)).await
}

/// The MCP error a tool call was answered with (a refusal such as `-32003` forbidden), when that is
/// how it failed.
#[must_use]
pub fn mcp_error(error: &ServiceError) -> Option<&ErrorData> {
    match error {
        ServiceError::McpError(data) => Some(data),
        _ => None,
    }
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

/// Calls `whoami` and reads its answer, the caller as JSON.
///
/// # Errors
///
/// The call failing, or an answer that is not JSON.
pub async fn whoami(session: &McpSession) -> anyhow::Result<serde_json::Value> {
    let text = text_of(&call(session, "whoami").await?).unwrap_or_default();
    serde_json::from_str(&text).with_context(|| format!("whoami answered {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_with_every_hidden_field() {
        let proxy_consent = "<form method=\"post\" action=\"/consent?a=1&amp;b=2\">\
            <input type=\"hidden\" name=\"transaction\" value=\"t1\">\
            <input type=\"hidden\" name=\"csrf\" value=\"c1\">\
            <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button></form>";
        let (action, fields) = page_form(proxy_consent).unwrap();
        assert_eq!(action, "/consent?a=1&b=2");
        assert_eq!(
            fields,
            [("transaction".to_owned(), "t1".to_owned()), ("csrf".to_owned(), "c1".to_owned())]
        );

        let dev_idp_sign_in = "<p>x</p><form method=\"post\" action=\"/oauth2/login\">\
            <input type=\"hidden\" name=\"pending\" value=\"p1\">\
            <input type=\"hidden\" name=\"csrf\" value=\"c2\">\
            <label>Email <input type=\"text\" name=\"login\" value=\"\" autofocus></label>\
            <label>Password <input type=\"password\" name=\"password\"></label></form>";
        let (action, fields) = page_form(dev_idp_sign_in).unwrap();
        assert_eq!(action, "/oauth2/login");
        assert_eq!(fields, [("pending".to_owned(), "p1".to_owned()), ("csrf".to_owned(), "c2".to_owned())]);

        assert!(page_form("<p>no form</p>").is_none());
        let without_csrf = "<form action=\"/x\"><input type=\"hidden\" name=\"a\" value=\"b\"></form>";
        assert!(page_form(without_csrf).is_none(), "a form without a csrf field is not submitted");
    }

    #[test]
    fn the_browser_debug_output_hides_the_password() {
        let browser = Browser::new().unwrap().sign_in_as("ada@example.com", SecretString::from("hunter2-pw"));
        let debug = format!("{browser:?}");
        assert!(debug.contains("ada@example.com"), "{debug}");
        assert!(!debug.contains("hunter2-pw"), "{debug}");
    }
}
