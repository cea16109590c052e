//! The verified caller inside rmcp tool handlers.
//!
//! rmcp's streamable HTTP server hands each request's [`http::request::Parts`] to the handler; the bearer
//! layer has put the [`AccessToken`] (and the [`ScopeCheck`] it judges scopes with) into their extensions.
//! [`Caller`] reads them back, so a tool gets its user in one argument, and can ask for scopes or roles:
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
//!     async fn whoami(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
//!         Ok(CallToolResult::success(vec![ContentBlock::json(caller.user())?]))
//!     }
//!
//!     #[tool(description = "Needs the notes:write scope")]
//!     async fn write_note(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
//!         caller.require_scopes(&["notes:write"])?; // an MCP error (-32003) naming the scopes otherwise
//!         Ok(CallToolResult::success(vec![ContentBlock::text("saved")]))
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
//!
//! The HTTP layer is where step-up belongs (a 403 challenge the client acts on, see
//! [`BearerAuthLayer::mcp_scopes`](mcp_auth_core::BearerAuthLayer::mcp_scopes)); `require_scopes` is the
//! same check at the tool, for scopes that depend on the arguments. [`ScopeFilter`] leaves out of listings
//! what the caller cannot use, when the policy asks for it.

use mcp_auth_core::scope::ScopeCheck;
use mcp_auth_core::{AccessToken, AuthUser};
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use rmcp::model::{ErrorCode, ErrorData};

mod filter;

pub use filter::ScopeFilter;

/// The JSON-RPC error code for "authenticated but not allowed" (in the server-defined range).
pub const FORBIDDEN: ErrorCode = ErrorCode(-32003);

/// The JSON-RPC error code for "no verified caller".
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-32001);

/// The verified user calling a tool: an rmcp handler argument. It derefs to [`AuthUser`].
///
/// Extraction fails with an MCP error (`-32001`, "authentication required") when the request did not pass
/// through the bearer layer, which means a server misconfiguration, never a caller to trust.
#[derive(Debug, Clone)]
pub struct Caller {
    user: AuthUser,
    scope_check: ScopeCheck,
}

impl Caller {
    /// Reads the caller from rmcp request extensions.
    ///
    /// # Errors
    ///
    /// An MCP error when no verified token is attached.
    pub fn from_extensions(extensions: &rmcp::model::Extensions) -> Result<Self, ErrorData> {
        let parts = extensions.get::<http::request::Parts>();
        let user = parts
            .and_then(|parts| parts.extensions.get::<AccessToken>())
            .and_then(AccessToken::user)
            .ok_or_else(|| ErrorData::new(UNAUTHENTICATED, "authentication required", None))?;
        let scope_check =
            parts.and_then(|parts| parts.extensions.get::<ScopeCheck>()).cloned().unwrap_or_default();
        Ok(Self { user, scope_check })
    }

    /// The verified user.
    #[must_use]
    pub fn user(&self) -> &AuthUser {
        &self.user
    }

    /// The verified user, by value.
    #[must_use]
    pub fn into_user(self) -> AuthUser {
        self.user
    }

    /// `Ok` when the caller's token holds every one of `scopes` (directly, or through the scope hierarchy
    /// the bearer layer was given), else an MCP error (`-32003`) whose data lists `required` and `missing`.
    ///
    /// # Errors
    ///
    /// The forbidden MCP error.
    pub fn require_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> Result<(), ErrorData> {
        let missing = self.scope_check.missing(scopes, &self.user.scopes);
        if missing.is_empty() {
            return Ok(());
        }
        let required: Vec<&str> = scopes.iter().map(AsRef::as_ref).collect();
        Err(ErrorData::new(
            FORBIDDEN,
            format!("forbidden: this operation requires the scopes {}", required.join(" ")),
            Some(serde_json::json!({"required": required, "missing": missing})),
        ))
    }

    /// `Ok` when the caller has `role`, else an MCP error (`-32003`) naming the missing role.
    ///
    /// # Errors
    ///
    /// The forbidden MCP error.
    pub fn require_role(&self, role: &str) -> Result<(), ErrorData> {
        self.user.require_role(role).map_err(|err| forbidden(&err))
    }

    /// `Ok` when the caller has `permission`, else an MCP error (`-32003`) naming it.
    ///
    /// # Errors
    ///
    /// The forbidden MCP error.
    pub fn require_permission(&self, permission: &str) -> Result<(), ErrorData> {
        self.user.require_permission(permission).map_err(|err| forbidden(&err))
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
        &self.user
    }
}
