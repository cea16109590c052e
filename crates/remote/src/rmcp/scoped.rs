//! [`ScopedServer`]: an rmcp service wrapper that applies the MCP scope policy inside the server: listings
//! leave out what the caller cannot use (when the policy hides), and calls the HTTP layer should have
//! challenged are refused with an MCP error all the same.

use std::sync::Arc;

use mcp_auth_core::AccessToken;
use mcp_auth_core::mcp_scope::{McpOperation, McpScopePolicy};
use mcp_auth_core::scope::ScopeCheck;
use rmcp::RoleServer;
use rmcp::model::{ClientRequest, ErrorData, ServerConfig, ServerResult};
use rmcp::service::{NotificationContext, RequestContext, Service, ServiceRole};

use super::FORBIDDEN;

/// Wraps an rmcp server (any `ServerHandler`) so the MCP scope policy the bearer layer was given
/// ([`BearerAuthLayer::mcp_scopes`](mcp_auth_core::BearerAuthLayer::mcp_scopes)) also holds inside it:
///
/// - with [`hide_unauthorized`](mcp_auth_core::mcp_scope::McpScopePolicyBuilder::hide_unauthorized),
///   `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list` leave out what the
///   caller's token lacks the scopes for;
/// - a `tools/call`, `prompts/get` or resource read that needs scopes the token lacks is refused with an
///   MCP error (`-32003`) listing them. The HTTP layer challenges such calls first (403, so the client can
///   step up); this is the second line, for a server mounted without the layer's policy.
///
/// Requests that did not come through the bearer layer (no policy in their extensions) pass unchanged.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_remote::rmcp::ScopedServer;
/// use rmcp::ServerHandler;
/// use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
/// use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
///
/// #[derive(Clone)]
/// struct Tools;
/// impl ServerHandler for Tools {}
///
/// let service = StreamableHttpService::new(
///     || Ok(ScopedServer::new(Tools)),
///     Arc::new(LocalSessionManager::default()),
///     StreamableHttpServerConfig::default(),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct ScopedServer<S> {
    inner: S,
}

impl<S> ScopedServer<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped server.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// What the bearer layer left in the request: the policy, how to judge scopes, and the token's scopes.
struct Grant {
    policy: Arc<McpScopePolicy>,
    check: ScopeCheck,
    scopes: Vec<String>,
}

impl Grant {
    fn of(context: &RequestContext<RoleServer>) -> Option<Self> {
        let parts = context.extensions.get::<http::request::Parts>()?;
        let policy = Arc::clone(parts.extensions.get::<Arc<McpScopePolicy>>()?);
        let scopes =
            parts.extensions.get::<AccessToken>().map(|token| token.scopes.clone()).unwrap_or_default();
        let check = parts.extensions.get::<ScopeCheck>().cloned().unwrap_or_default();
        Some(Self { policy, check, scopes })
    }

    fn missing(&self, operation: &McpOperation) -> Vec<String> {
        let required = self.policy.required_for(operation);
        self.check.missing(&required, &self.scopes).into_iter().map(str::to_owned).collect()
    }

    fn allows(&self, operation: McpOperation) -> bool {
        self.missing(&operation).is_empty()
    }

    fn allows_template(&self, uri_template: &str) -> bool {
        self.policy
            .template_scopes(uri_template)
            .is_none_or(|required| self.check.missing(required, &self.scopes).is_empty())
    }

    /// Leaves out of a listing what the token cannot use.
    fn filter(&self, result: &mut ServerResult) {
        match result {
            ServerResult::ListToolsResult(list) => {
                list.tools.retain(|tool| self.allows(McpOperation::Tool(tool.name.to_string())));
            }
            ServerResult::ListPromptsResult(list) => {
                list.prompts.retain(|prompt| self.allows(McpOperation::Prompt(prompt.name.clone())));
            }
            ServerResult::ListResourcesResult(list) => {
                list.resources.retain(|resource| self.allows(McpOperation::Resource(resource.uri.clone())));
            }
            ServerResult::ListResourceTemplatesResult(list) => {
                list.resource_templates.retain(|template| self.allows_template(&template.uri_template));
            }
            _ => {}
        }
    }
}

/// The guarded operation a request names, if any.
fn operation_of(request: &ClientRequest) -> Option<McpOperation> {
    match request {
        ClientRequest::CallToolRequest(call) => Some(McpOperation::Tool(call.params.name.to_string())),
        ClientRequest::GetPromptRequest(get) => Some(McpOperation::Prompt(get.params.name.clone())),
        ClientRequest::ReadResourceRequest(read) => Some(McpOperation::Resource(read.params.uri.clone())),
        ClientRequest::SubscribeRequest(subscribe) => {
            Some(McpOperation::Resource(subscribe.params.uri.clone()))
        }
        ClientRequest::ReadResourceDirectoryRequest(read) => {
            Some(McpOperation::Resource(read.params.uri.clone()))
        }
        _ => None,
    }
}

impl<S: Service<RoleServer>> Service<RoleServer> for ScopedServer<S> {
    async fn handle_request(
        &self,
        request: <RoleServer as ServiceRole>::PeerReq,
        context: RequestContext<RoleServer>,
    ) -> Result<<RoleServer as ServiceRole>::Resp, ErrorData> {
        let Some(grant) = Grant::of(&context) else {
            return self.inner.handle_request(request, context).await;
        };
        if let Some(operation) = operation_of(&request) {
            let missing = grant.missing(&operation);
            if !missing.is_empty() {
                tracing::info!(%operation, missing = ?missing, "MCP operation refused: scopes missing");
                let required = grant.policy.required_for(&operation);
                return Err(ErrorData::new(
                    FORBIDDEN,
                    format!("forbidden: {operation} requires the scopes {}", required.join(" ")),
                    Some(serde_json::json!({"required": required, "missing": missing})),
                ));
            }
        }
        let mut result = self.inner.handle_request(request, context).await?;
        if grant.policy.hides_unauthorized() {
            grant.filter(&mut result);
        }
        Ok(result)
    }

    async fn handle_notification(
        &self,
        notification: <RoleServer as ServiceRole>::PeerNot,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.handle_notification(notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [rmcp::model::ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }
}
