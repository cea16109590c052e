//! A small MCP server over stdio, to try `mcp-auth gateway --upstream-command` with (and what the gateway's
//! tests run behind it): `echo` answers its text, `pid` the server's process id (so a restart shows).
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
