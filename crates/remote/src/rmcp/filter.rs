//! [`ScopeFilter`]: listings that leave out what the caller's token cannot use.

use std::sync::Arc;

use mcp_auth_core::AccessToken;
use mcp_auth_core::mcp_scope::{McpOperation, McpScopePolicy};
use mcp_auth_core::scope::ScopeCheck;
use rmcp::RoleServer;
use rmcp::model::{CacheScope, ListToolsResult, Prompt, Resource, ResourceTemplate, Tool};
use rmcp::service::RequestContext;

/// The MCP scope policy of a request, as the bearer layer left it
/// ([`BearerAuthLayer::mcp_scopes`](mcp_auth_core::BearerAuthLayer::mcp_scopes)), for filtering listings.
///
/// When the policy asks to [hide](mcp_auth_core::mcp_scope::McpScopePolicyBuilder::hide_unauthorized),
/// the `visible_*` methods keep only what the token holds the scopes for (through the layer's scope
/// hierarchy); otherwise, or for a request that carries no policy, they keep everything. Call them from the
/// listing methods of your `ServerHandler` (`#[tool_handler]` generates `list_tools` only when you do not
/// write it). A filtered listing differs from user to user, so [`list_tools`](Self::list_tools) marks it
/// `cacheScope: private` (MCP 2026-07-28 cache hints default to public, which would let a shared cache serve
/// one user's listing to another):
///
/// ```
/// use mcp_auth_remote::rmcp::ScopeFilter;
/// use rmcp::model::{CallToolResult, ContentBlock, ListToolsResult, PaginatedRequestParams};
/// use rmcp::service::RequestContext;
/// use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
///
/// #[derive(Clone)]
/// struct Tools;
///
/// #[tool_router]
/// impl Tools {
///     #[tool(description = "Deploy to production (needs deploy:prod in the policy)")]
///     async fn deploy(&self) -> Result<CallToolResult, ErrorData> {
///         Ok(CallToolResult::success(vec![ContentBlock::text("deployed")]))
///     }
/// }
///
/// #[tool_handler]
/// impl ServerHandler for Tools {
///     async fn list_tools(
///         &self,
///         _request: Option<PaginatedRequestParams>,
///         context: RequestContext<RoleServer>,
///     ) -> Result<ListToolsResult, ErrorData> {
///         Ok(ScopeFilter::of(&context).list_tools(Self::tool_router().list_all()))
///     }
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopeFilter {
    /// `None` keeps everything: no policy on the request, or one that does not hide.
    hiding: Option<Hiding>,
}

#[derive(Debug, Clone)]
struct Hiding {
    policy: Arc<McpScopePolicy>,
    check: ScopeCheck,
    scopes: Vec<String>,
}

impl ScopeFilter {
    /// Reads the policy, the scope check and the token's scopes from an rmcp request context.
    #[must_use]
    pub fn of(context: &RequestContext<RoleServer>) -> Self {
        Self::from_extensions(&context.extensions)
    }

    /// Reads the policy, the scope check and the token's scopes from rmcp request extensions.
    #[must_use]
    pub fn from_extensions(extensions: &rmcp::model::Extensions) -> Self {
        let hiding = extensions.get::<http::request::Parts>().and_then(|parts| {
            let policy = parts.extensions.get::<Arc<McpScopePolicy>>().filter(|p| p.hides_unauthorized())?;
            Some(Hiding {
                policy: Arc::clone(policy),
                check: ScopeCheck::of(&parts.extensions),
                // No token (a server mounted without the layer) holds no scope.
                scopes: parts.extensions.get::<AccessToken>().map(|t| t.scopes.clone()).unwrap_or_default(),
            })
        });
        Self { hiding }
    }

    /// Whether the caller may use `operation` (always, when nothing is hidden).
    #[must_use]
    pub fn allows(&self, operation: &McpOperation) -> bool {
        self.hiding.as_ref().is_none_or(|hiding| {
            hiding.check.missing(&hiding.policy.required_for(operation), &hiding.scopes).is_empty()
        })
    }

    /// The tools the caller may call.
    #[must_use]
    pub fn visible_tools(&self, mut tools: Vec<Tool>) -> Vec<Tool> {
        tools.retain(|tool| self.allows(&McpOperation::Tool(tool.name.to_string())));
        tools
    }

    /// The `tools/list` result for the tools the caller may call: marked private to the caller when the
    /// listing was filtered.
    #[must_use]
    pub fn list_tools(&self, tools: Vec<Tool>) -> ListToolsResult {
        let mut result = ListToolsResult::with_all_items(self.visible_tools(tools));
        if self.hiding.is_some() {
            result.cache_scope = Some(CacheScope::Private);
        }
        result
    }

    /// The prompts the caller may get.
    #[must_use]
    pub fn visible_prompts(&self, mut prompts: Vec<Prompt>) -> Vec<Prompt> {
        prompts.retain(|prompt| self.allows(&McpOperation::Prompt(prompt.name.clone())));
        prompts
    }

    /// The resources the caller may read.
    #[must_use]
    pub fn visible_resources(&self, mut resources: Vec<Resource>) -> Vec<Resource> {
        resources.retain(|resource| self.allows(&McpOperation::Resource(resource.uri.clone())));
        resources
    }

    /// The resource templates the caller may read through (a template the policy names by its exact text
    /// is hidden when its scopes are missing).
    #[must_use]
    pub fn visible_resource_templates(&self, mut templates: Vec<ResourceTemplate>) -> Vec<ResourceTemplate> {
        if let Some(hiding) = &self.hiding {
            templates.retain(|template| {
                hiding
                    .policy
                    .template_scopes(&template.uri_template)
                    .is_none_or(|required| hiding.check.missing(required, &hiding.scopes).is_empty())
            });
        }
        templates
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::scope::ScopeImplications;

    use super::*;

    fn extensions(policy: McpScopePolicy, scopes: &[&str], check: ScopeCheck) -> rmcp::model::Extensions {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.extensions.insert(Arc::new(policy));
        parts.extensions.insert(check);
        parts.extensions.insert(AccessToken::new("t").with_subject("u").with_scopes(scopes.iter().copied()));
        let mut extensions = rmcp::model::Extensions::new();
        extensions.insert(parts);
        extensions
    }

    fn tools(names: &[&'static str]) -> Vec<Tool> {
        names.iter().map(|name| Tool::new(*name, "a tool", Arc::new(serde_json::Map::new()))).collect()
    }

    fn names(tools: &[Tool]) -> Vec<String> {
        tools.iter().map(|tool| tool.name.to_string()).collect()
    }

    fn policy(hide: bool) -> McpScopePolicy {
        let builder = McpScopePolicy::builder().tool("delete", ["admin"]).tool("read", ["read"]);
        if hide { builder.hide_unauthorized() } else { builder }.build().unwrap()
    }

    #[test]
    fn hiding_keeps_only_what_the_token_can_call() {
        let filter = ScopeFilter::from_extensions(&extensions(policy(true), &["read"], ScopeCheck::exact()));
        assert_eq!(names(&filter.visible_tools(tools(&["whoami", "delete", "read"]))), ["whoami", "read"]);
        let listing = filter.list_tools(tools(&["delete", "read"]));
        assert_eq!(names(&listing.tools), ["read"]);
        assert_eq!(listing.cache_scope, Some(CacheScope::Private), "a per-user listing is never public");
    }

    #[test]
    fn without_hiding_or_without_a_policy_everything_is_listed() {
        let shown = ScopeFilter::from_extensions(&extensions(policy(false), &[], ScopeCheck::exact()));
        assert_eq!(names(&shown.visible_tools(tools(&["delete", "read"]))), ["delete", "read"]);
        assert_eq!(shown.list_tools(tools(&["delete"])).cache_scope, None);
        let bare = ScopeFilter::from_extensions(&rmcp::model::Extensions::new());
        assert_eq!(names(&bare.visible_tools(tools(&["delete"]))), ["delete"]);
    }

    #[test]
    fn hiding_follows_the_scope_hierarchy() {
        let check = ScopeCheck::with_hierarchy(ScopeImplications::new().scope_implies("admin", ["read"]));
        let filter = ScopeFilter::from_extensions(&extensions(policy(true), &["admin"], check));
        assert_eq!(names(&filter.visible_tools(tools(&["delete", "read"]))), ["delete", "read"]);
    }
}
