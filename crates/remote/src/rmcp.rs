//! The verified caller inside rmcp tool handlers.
//!
//! rmcp's streamable HTTP server hands each request's [`http::request::Parts`] to the handler; the bearer
//! layer has put the [`AccessToken`] (and the [`ScopeCheck`] it judges scopes with, unless exact) into their
//! extensions. [`Caller`] reads them back, so a tool gets its user in one argument, and can ask for scopes
//! or roles:
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
//! A tool that calls another API as the user exchanges the caller's token for one meant for that API
//! (RFC 8693; see [`exchange`](crate::exchange)), never passing the MCP token on:
//!
//! ```
//! use mcp_auth_remote::rmcp::Caller;
//! use rmcp::model::{CallToolResult, ContentBlock};
//! use rmcp::ErrorData;
//!
//! async fn list_orders(caller: Caller) -> Result<CallToolResult, ErrorData> {
//!     // An MCP error the client can show (refused, or "unavailable, retry") when it fails.
//!     let token = caller.exchange_for("https://api.example.com", ["orders:read"]).await?;
//!     // ... GET https://api.example.com/orders with `Authorization: Bearer {token.expose_secret()}`
//!     Ok(CallToolResult::success(vec![ContentBlock::text(format!("token for {}", token.audience()))]))
//! }
//! ```
//!
//! The HTTP layer is where step-up belongs (a 403 challenge the client acts on, see
//! [`BearerAuthLayer::mcp_scopes`](mcp_auth_core::BearerAuthLayer::mcp_scopes)); `require_scopes` is the
//! same check at the tool, for scopes that depend on the arguments. [`ScopeFilter`] leaves out of listings
//! what the caller cannot use, when the policy asks for it.

use std::sync::Arc;

use mcp_auth_core::scope::ScopeCheck;
use mcp_auth_core::{AccessToken, AuthUser};
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use rmcp::model::{ErrorCode, ErrorData};

use crate::exchange::{ExchangeError, ExchangedToken, TokenExchanger};

mod filter;

pub use filter::ScopeFilter;

/// The JSON-RPC error code for "authenticated but not allowed" (in the server-defined range).
pub const FORBIDDEN: ErrorCode = ErrorCode(-32003);

/// The JSON-RPC error code for "no verified caller".
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-32001);

/// The JSON-RPC error code for "could not get a token to call another API as the user" (a failed token
/// exchange); the error data says which failure (`kind`) and whether to retry (`retryable`).
pub const DELEGATION_FAILED: ErrorCode = ErrorCode(-32004);

/// The verified user calling a tool: an rmcp handler argument. It derefs to [`AuthUser`].
///
/// Extraction fails with an MCP error (`-32001`, "authentication required") when the request did not pass
/// through the bearer layer, which means a server misconfiguration, never a caller to trust.
#[derive(Debug, Clone)]
pub struct Caller {
    user: AuthUser,
    scope_check: ScopeCheck,
    /// The verified token (its `Debug` is redacted): the subject of token exchanges.
    token: AccessToken,
    exchanger: Option<Arc<TokenExchanger>>,
}

impl Caller {
    /// Reads the caller from rmcp request extensions.
    ///
    /// # Errors
    ///
    /// An MCP error when no verified token is attached.
    pub fn from_extensions(extensions: &rmcp::model::Extensions) -> Result<Self, ErrorData> {
        let parts = extensions.get::<http::request::Parts>();
        let token = parts.and_then(|parts| parts.extensions.get::<AccessToken>());
        let (Some(token), Some(user)) = (token, token.and_then(AccessToken::user)) else {
            return Err(ErrorData::new(UNAUTHENTICATED, "authentication required", None));
        };
        let scope_check = parts.map(|parts| ScopeCheck::of(&parts.extensions)).unwrap_or_default();
        let exchanger = parts.and_then(|parts| parts.extensions.get::<Arc<TokenExchanger>>()).cloned();
        Ok(Self { user, scope_check, token: token.clone(), exchanger })
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

    /// The verified access token this request carried. Its audience is this MCP server: never send it to
    /// another API (use [`exchange_for`](Self::exchange_for)).
    #[must_use]
    pub fn access_token(&self) -> &AccessToken {
        &self.token
    }

    /// An access token to call `resource` (the API's URL, its audience) with `scopes` as this user,
    /// obtained by token exchange (RFC 8693) through the `Arc<TokenExchanger>` in the request extensions
    /// (`AuthKitProviderBuilder::token_exchange` puts it there), cached until shortly before it expires.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::NotConfigured`] without an exchanger; otherwise the exchange's errors (a
    /// refusal, or a retryable outage). `?` in a tool turns them into an MCP error ([`DELEGATION_FAILED`]).
    pub async fn exchange_for<I, S>(&self, resource: &str, scopes: I) -> Result<ExchangedToken, ExchangeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let exchanger = self.exchanger.as_deref().ok_or(ExchangeError::NotConfigured)?;
        let scopes: Vec<S> = scopes.into_iter().collect();
        exchanger.exchange(&self.token, resource, &scopes).await
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

impl From<ExchangeError> for ErrorData {
    /// [`DELEGATION_FAILED`] with the error's message, and data naming its `kind`, the upstream
    /// `oauth_error` (if any) and whether it is `retryable`.
    fn from(err: ExchangeError) -> Self {
        ErrorData::new(
            DELEGATION_FAILED,
            err.to_string(),
            Some(serde_json::json!({
                "kind": err.kind(),
                "oauth_error": err.oauth_error(),
                "retryable": err.is_retryable(),
            })),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(exchanger: Option<Arc<TokenExchanger>>) -> rmcp::model::Extensions {
        let mut request = http::Request::new(());
        let token = AccessToken::new("mcp-token-very-secret").with_subject("user_ada");
        request.extensions_mut().insert(token);
        if let Some(exchanger) = exchanger {
            request.extensions_mut().insert(exchanger);
        }
        let (parts, ()) = request.into_parts();
        let mut extensions = rmcp::model::Extensions::new();
        extensions.insert(parts);
        extensions
    }

    #[tokio::test]
    async fn without_an_exchanger_exchange_for_says_so_and_nothing_leaks_in_debug() {
        let caller = Caller::from_extensions(&extensions(None)).unwrap();
        assert!(!format!("{caller:?}").contains("very-secret"), "{caller:?}");
        let err = caller.exchange_for("https://api.example.com", ["a"]).await.unwrap_err();
        assert!(matches!(err, ExchangeError::NotConfigured), "{err:?}");
        let data = ErrorData::from(err);
        assert_eq!(data.code, DELEGATION_FAILED);
        assert_eq!(data.data.unwrap()["kind"], "not_configured");
    }

    #[tokio::test]
    async fn the_exchanger_in_the_extensions_is_used() {
        let exchanger = TokenExchanger::builder("mcp", "secret")
            .token_endpoint("http://127.0.0.1:9/oauth2/token")
            .build()
            .unwrap();
        let caller = Caller::from_extensions(&extensions(Some(Arc::new(exchanger)))).unwrap();
        assert_eq!(caller.access_token().expose_token(), "mcp-token-very-secret");
        // Port 9 (discard) refuses: the exchanger ran, and an outage is retryable, never a passthrough.
        let err = caller.exchange_for("https://api.example.com", ["a"]).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert_eq!(ErrorData::from(err).data.unwrap()["retryable"], true);
    }
}
