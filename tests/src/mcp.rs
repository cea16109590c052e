//! Raw MCP requests, for tests that look at the HTTP answer itself (status, challenge) rather than
//! through an MCP client.

/// Posts an MCP `initialize` to `mcp_url` with `token` as the bearer token.
///
/// # Panics
///
/// When the request cannot be sent (a test failure).
pub async fn initialize(mcp_url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        }))
        .send()
        .await
        .expect("the MCP endpoint answers")
}
