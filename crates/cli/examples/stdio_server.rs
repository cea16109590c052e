//! A small MCP server over stdio, to try `mcp-auth gateway --upstream-command` with (and what the gateway's
//! tests run behind it): `echo` answers its text, `pid` the server's process id (so a restart shows),
//! `env_names` the `MCP_AUTH_*` variables it was given, `huge` a 17 MiB answer.
//!
//! ```sh
//! cargo build -p mcp-auth-cli --example stdio_server
//! mcp-auth gateway --upstream-command target/debug/examples/stdio_server
//! ```

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt as _, tool, tool_handler, tool_router};

/// The `echo` tool's input.
#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct EchoInput {
    /// What to answer.
    text: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct StdioServer;

#[tool_router]
impl StdioServer {
    #[tool(description = "Answer the text you send.")]
    async fn echo(&self, Parameters(input): Parameters<EchoInput>) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(input.text)]))
    }

    #[tool(
        description = "The names of the MCP_AUTH_* variables this process was given (the gateway gives none)."
    )]
    async fn env_names(&self) -> Result<CallToolResult, ErrorData> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| name.starts_with("MCP_AUTH_"))
            .collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(names.join(","))]))
    }

    #[tool(description = "An answer of 17 MiB: more than the gateway reads in one line.")]
    async fn huge(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text("x".repeat(17 * 1024 * 1024))]))
    }

    #[tool(description = "The server's process id.")]
    async fn pid(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(std::process::id().to_string())]))
    }
}

#[tool_handler]
impl ServerHandler for StdioServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-auth-stdio-example", env!("CARGO_PKG_VERSION")))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = StdioServer.serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
