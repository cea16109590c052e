//! The per-operation scope check of [`BearerAuth`](super::BearerAuth): reads the JSON-RPC body, finds the
//! tools, prompts and resources it calls, and refuses with a step-up challenge before the MCP service runs.

use axum::body::Body;
use http::{Request, Response, StatusCode};

use super::{Config, Refusal, json_response};
use crate::body::read_limited;
use crate::mcp_scope::{McpOperation, McpScopePolicy, operations_in};
use crate::metrics::AuthOutcome;
use crate::token::AccessToken;

/// Checks the operations in `request`'s body against `policy`; gives the request back (with its body
/// restored) when the token holds every scope they need, else the outcome to count and the response to send.
pub(super) async fn check(
    config: &Config,
    policy: &McpScopePolicy,
    token: &AccessToken,
    request: Request<Body>,
) -> Result<Request<Body>, (AuthOutcome, Response<Body>)> {
    let (parts, body) = request.into_parts();
    let bytes = match read_limited(&parts.headers, body, policy.max_body_bytes()).await {
        Ok(bytes) => bytes,
        Err(err) if err.is_too_large() => {
            tracing::info!(limit = policy.max_body_bytes(), "MCP request body over the scope check's limit");
            let response = jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "request body too large");
            return Err((AuthOutcome::Malformed, response));
        }
        Err(err) => {
            tracing::info!(error = %err, "MCP request body could not be read");
            let response =
                jsonrpc_error(StatusCode::BAD_REQUEST, -32700, "the request body could not be read");
            return Err((AuthOutcome::Malformed, response));
        }
    };
    let operations = operations_in(&bytes).map_err(|err| {
        tracing::info!(error = %err, "MCP request body refused by the scope check");
        (AuthOutcome::Malformed, jsonrpc_error(StatusCode::BAD_REQUEST, err.code(), &err.to_string()))
    })?;
    let mut required: Vec<String> = config.required_scopes.clone();
    let mut guarded: Option<&McpOperation> = None;
    let mut count = 0;
    for operation in &operations {
        let needs = policy.required_for(operation);
        if needs.is_empty() {
            continue;
        }
        count += 1;
        guarded.get_or_insert(operation);
        for scope in needs {
            if !required.iter().any(|have| have == scope) {
                required.push(scope.to_owned());
            }
        }
    }
    let missing = config.scope_check.missing(&required, &token.scopes);
    if missing.is_empty() {
        return Ok(Request::from_parts(parts, Body::from(bytes)));
    }
    let description = match guarded {
        Some(_) if count > 1 => "this batch needs scopes the token lacks".to_owned(),
        Some(operation @ (McpOperation::Tool(_) | McpOperation::Prompt(_))) => {
            format!("{operation} needs scopes the token lacks")
        }
        _ => "this resource needs scopes the token lacks".to_owned(),
    };
    tracing::info!(missing = ?missing, operation = guarded.map(tracing::field::display), "step-up required");
    Err((
        AuthOutcome::InsufficientScope,
        Refusal::InsufficientScope { required, description }.into_response(config),
    ))
}

/// A JSON-RPC error answer with no request id (RFC: the id could not be determined, or the refusal
/// concerns the whole HTTP request).
fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response<Body> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    json_response(status, &body.to_string())
}
