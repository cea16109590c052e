//! An MCP server whose tools know who is calling.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use mcp_auth_core::BearerAuthLayer;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_remote::mcp_cors;
use mcp_auth_remote::rmcp::{Caller, ScopeFilter};
use mcp_auth_workos::{AuthKitProvider, WorkOSProvider};
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

/// Three tools: `whoami` answers with the caller's [`AuthUser`](mcp_auth_core::AuthUser) as JSON,
/// `admin_reset` runs only for callers with the `admin` role (others get an MCP error, code -32003), and
/// `save_note` needs the `notes:write` scope (the [`scope_policy`]), which clients get by stepping up.
#[derive(Debug, Clone, Copy, Default)]
pub struct WhoAmIServer;

#[tool_router]
impl WhoAmIServer {
    /// The verified caller, as JSON.
    #[tool(
        description = "Who am I? Returns the verified caller: id, email, name, organization, roles, permissions."
    )]
    async fn whoami(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::json(caller.user())?]))
    }

    /// An admin-only operation.
    #[tool(description = "Reset the demo state. Requires the admin role.")]
    async fn admin_reset(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        caller.require_role("admin")?;
        tracing::info!(user = %caller.user_id, "admin_reset called");
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("reset done by {}", caller.user_id))]))
    }

    /// A tool that needs a scope clients do not ask for at first: the bearer layer answers a call without
    /// it with a 403 step-up challenge; the check here is the same rule at the tool.
    #[tool(description = "Save a note. Requires the notes:write scope.")]
    async fn save_note(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        caller.require_scopes(&[NOTES_WRITE])?;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("note saved for {}", caller.user_id))]))
    }
}

/// The scope `save_note` needs.
pub const NOTES_WRITE: &str = "notes:write";

/// The per-tool scopes of [`WhoAmIServer`]: `save_note` needs `notes:write`.
///
/// # Panics
///
/// Never: the policy is fixed and valid (a test builds it).
#[must_use]
pub fn scope_policy() -> McpScopePolicy {
    McpScopePolicy::builder().tool("save_note", [NOTES_WRITE]).build().expect("a valid fixed policy")
}

#[tool_handler]
impl ServerHandler for WhoAmIServer {
    /// The tools, without those the caller lacks the scopes for when the policy hides them.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ScopeFilter::of(&context).list_tools(Self::tool_router().list_all()))
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-auth-whoami", env!("CARGO_PKG_VERSION")))
            .with_instructions("Call whoami to see who you are signed in as.")
    }
}

/// The axum app: the MCP service at the provider's MCP path, behind its bearer layer (with the per-tool
/// [`scope_policy`]), plus the discovery routes. `allowed_hosts` are the `Host` values the MCP service
/// accepts (DNS-rebinding protection).
pub fn authkit_app(provider: &AuthKitProvider, allowed_hosts: Vec<String>) -> Router {
    authkit_app_with_policy(provider, allowed_hosts, scope_policy())
}

/// [`authkit_app`] with another per-tool scope policy.
pub fn authkit_app_with_policy(
    provider: &AuthKitProvider,
    allowed_hosts: Vec<String>,
    policy: McpScopePolicy,
) -> Router {
    let mcp_path = provider.resource().path().to_owned();
    mcp_app(provider.bearer_layer(), provider.router(), &mcp_path, allowed_hosts, policy)
}

/// The same MCP service behind the OAuth proxy of a [`WorkOSProvider`]: the proxy's bearer layer (its
/// own tokens) with the per-tool [`scope_policy`], and its authorization server routes.
pub fn proxy_app(provider: &WorkOSProvider, allowed_hosts: Vec<String>) -> Router {
    let mcp_path = provider.proxy().resource().path().to_owned();
    mcp_app(provider.bearer_layer(), provider.router(), &mcp_path, allowed_hosts, scope_policy())
}

/// [`WhoAmIServer`] at `mcp_path` behind `bearer` (with the per-tool `policy`), merged with the
/// provider's `routes`.
pub fn mcp_app(
    bearer: BearerAuthLayer,
    routes: Router,
    mcp_path: &str,
    allowed_hosts: Vec<String>,
    policy: McpScopePolicy,
) -> Router {
    mount(|| WhoAmIServer, bearer.mcp_scopes(policy), routes, mcp_path, allowed_hosts)
}

/// Any rmcp server (a new one from `server` per MCP session) at `mcp_path` behind `bearer`, merged
/// with the provider's `routes` (its metadata, or its authorization server). `allowed_hosts` are the
/// `Host` values the MCP service accepts (DNS-rebinding protection).
pub fn mount<S, F>(
    server: F,
    bearer: BearerAuthLayer,
    routes: Router,
    mcp_path: &str,
    allowed_hosts: Vec<String>,
) -> Router
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let service =
        mcp_service(server, StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts));
    // CORS outside the bearer layer, so browser clients' preflights are answered without a token.
    let mcp = Router::new().nest_service(mcp_path, service).layer(bearer).layer(mcp_cors());
    mcp.merge(routes)
}

/// Any rmcp server (a new one from `server` per MCP session) as a streamable HTTP service with `config`,
/// without auth: nest it at the resource's path behind a bearer layer (`McpAuth::protect` does). Give the
/// config the `Host` values to accept (`with_allowed_hosts`, DNS-rebinding protection).
pub fn mcp_service<S, F>(server: F, config: StreamableHttpServerConfig) -> SharedMcpService<S>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    SharedMcpService(Arc::new(StreamableHttpService::new(
        move || Ok(server()),
        Arc::new(LocalSessionManager::default()),
        config,
    )))
}

/// rmcp's streamable HTTP service, shared by its clones.
///
/// axum clones a route's service for every request (and once more for each `Router::layer` around it),
/// and rmcp's own `call` clones it again; a clone of `StreamableHttpService` copies its configuration
/// (the allowed hosts and origins, each a `String`). This service's clones share one `Arc`, and its `call`
/// hands the request to `StreamableHttpService::handle` without a copy (3,600 instructions per request
/// fewer for a server with no auth, 5,300 behind `Router::layer(bearer_layer())`; `docs/benchmarks.md`).
///
/// # Examples
///
/// ```
/// use mcp_auth_demo::server::{WhoAmIServer, mcp_service};
/// use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
///
/// let service = mcp_service(|| WhoAmIServer, StreamableHttpServerConfig::default());
/// let app: axum::Router = axum::Router::new().nest_service("/mcp", service);
/// ```
pub struct SharedMcpService<S>(Arc<StreamableHttpService<S, LocalSessionManager>>);

impl<S> std::fmt::Debug for SharedMcpService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedMcpService").field(&self.0.config).finish()
    }
}

impl<S> Clone for SharedMcpService<S> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S> tower::Service<axum::extract::Request> for SharedMcpService<S>
where
    S: ServerHandler + Send + 'static,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let service = Arc::clone(&self.0);
        Box::pin(async move { Ok(service.handle(request).await.map(axum::body::Body::new)) })
    }
}

/// An [`AuthKitProvider`] for a server listening on `listen`, configured from `settings` as
/// `authkit_remote` documents (`MCP_AUTH_AUTHKIT_DOMAIN` required; `MCP_AUTH_BASE_URL`, default
/// `http://<listen>`; `MCP_AUTH_REQUIRED_SCOPES`...).
///
/// # Errors
///
/// A missing or malformed setting, named.
pub fn authkit_provider(
    settings: &mcp_auth_core::settings::Settings,
    listen: std::net::SocketAddr,
    resource_name: &str,
) -> anyhow::Result<AuthKitProvider> {
    let base_url = settings.string("BASE_URL").unwrap_or_else(|| format!("http://{listen}"));
    let provider = AuthKitProvider::builder()
        .settings(settings)?
        .base_url(&base_url)
        .resource_name(resource_name)
        .build()
        .context("configuring AuthKit")?;
    Ok(provider)
}

/// Any rmcp server behind `provider` ([`mount`] with its bearer layer and routes), accepting the
/// `Host` values of its public URL and of `listen`.
///
/// # Errors
///
/// Never for a built provider (its resource URL parses).
pub fn authkit_mount<S, F>(
    provider: &AuthKitProvider,
    listen: std::net::SocketAddr,
    server: F,
) -> anyhow::Result<Router>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let hosts = allowed_hosts(&url::Url::parse(provider.resource().origin())?, listen);
    Ok(mount(server, provider.bearer_layer(), provider.router(), provider.resource().path(), hosts))
}

/// The `Host` header values to accept for a server reached at `base_url` and listening on `listen`.
#[must_use]
pub fn allowed_hosts(base_url: &url::Url, listen: std::net::SocketAddr) -> Vec<String> {
    let mut hosts = vec![listen.to_string()];
    if let Some(host) = base_url.host_str() {
        hosts.push(host.to_owned());
        if let Some(port) = base_url.port_or_known_default() {
            hosts.push(format!("{host}:{port}"));
        }
    }
    if listen.ip().is_loopback() {
        hosts.extend([
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            format!("localhost:{}", listen.port()),
        ]);
    }
    hosts.sort();
    hosts.dedup();
    hosts
}
