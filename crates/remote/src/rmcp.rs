//! The verified caller inside rmcp tool handlers.
//!
//! rmcp's streamable HTTP server hands each request's [`http::request::Parts`] to the handler; the bearer
//! layer has put the [`AccessToken`] into their extensions. [`Caller`] reads it back, so a tool gets its
//! user in one argument:
//!
//! ```
//! use mcp_auth_remote::rmcp::Caller;
//! use rmcp::model::{CallToolResult, ContentBlock};
//! use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
//!
//! #[derive(Clone)]
//! struct Tools;
//!
//! #[tool_router]
//! impl Tools {
//!     #[tool(description = "Who am I?")]
//!     async fn whoami(&self, Caller(user): Caller) -> Result<CallToolResult, ErrorData> {
//!         Ok(CallToolResult::success(vec![ContentBlock::json(&user)?]))
//!     }
//!
//!     #[tool(description = "Admins only")]
//!     async fn reset(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
//!         caller.require_role("admin")?; // an MCP error (-32003) for everyone else
//!         Ok(CallToolResult::success(vec![ContentBlock::text("done")]))
//!     }
//! }
//!
//! #[tool_handler]
//! impl ServerHandler for Tools {}
//! ```

use mcp_auth_core::{AccessToken, AuthUser};
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use rmcp::model::{ErrorCode, ErrorData};

/// The JSON-RPC error code for "authenticated but not allowed" (in the server-defined range).
pub const FORBIDDEN: ErrorCode = ErrorCode(-32003);

/// The verified user calling a tool: an rmcp handler argument.
///
/// Extraction fails with an MCP error (`-32001`, "authentication required") when the request did not pass
/// through the bearer layer, which means a server misconfiguration, never a caller to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub AuthUser);

/// The JSON-RPC error code for "no verified caller".
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-32001);

impl Caller {
    /// Reads the caller from rmcp request extensions.
    ///
    /// # Errors
    ///
    /// An MCP error when no verified token is attached.
    pub fn from_extensions(extensions: &rmcp::model::Extensions) -> Result<Self, ErrorData> {
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AccessToken>())
            .and_then(AccessToken::user)
            .map(Caller)
            .ok_or_else(|| ErrorData::new(UNAUTHENTICATED, "authentication required", None))
    }

    /// `Ok` when the caller has `role`, else an MCP error (`-32003`) naming the missing role.
    ///
    /// # Errors
    ///
    /// The forbidden MCP error.
    pub fn require_role(&self, role: &str) -> Result<(), ErrorData> {
        self.0.require_role(role).map_err(|err| forbidden(&err))
    }

    /// `Ok` when the caller has `permission`, else an MCP error (`-32003`) naming it.
    ///
    /// # Errors
    ///
    /// The forbidden MCP error.
    pub fn require_permission(&self, permission: &str) -> Result<(), ErrorData> {
        self.0.require_permission(permission).map_err(|err| forbidden(&err))
    }
}

fn forbidden(err: &mcp_auth_core::Forbidden) -> ErrorData {
    ErrorData::new(FORBIDDEN, err.to_string(), Some(serde_json::json!({"required": err.requirement})))
}

impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        Self::from_extensions(&context.as_request_context().extensions)
    }
}

impl std::ops::Deref for Caller {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.0
    }
}
