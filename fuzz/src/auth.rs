//! The bearer layer's `Authorization` header handling and the per-tool scope layer's JSON-RPC reader.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use mcp_auth_core::mcp_scope::{McpOperation, McpScopePolicy, operations_in};
use mcp_auth_core::{AccessToken, BearerAuthLayer, StaticTokenVerifier};
use serde_json::Value;
use tower::{Layer as _, ServiceExt as _};

use crate::block_on;

/// The one token the bearer target's verifier knows.
const GOOD_TOKEN: &str = "good-token_1.2~3+4/5==";

/// `BearerAuthLayer` answering a request carrying the input as its `Authorization` headers (one header per
/// line). It lets a request through only with exactly one header, of the Bearer scheme, holding exactly
/// the known token; every refusal carries a `WWW-Authenticate` challenge.
pub fn bearer_header(data: &[u8]) {
    let verifier =
        StaticTokenVerifier::new().with_token(GOOD_TOKEN, AccessToken::new(GOOD_TOKEN).with_subject("user"));
    let service = BearerAuthLayer::new(Arc::new(verifier))
        .resource_metadata_url("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        .max_token_len(64)
        .layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
    let mut request = Request::get("/mcp").body(Body::empty()).expect("a request");
    let mut values = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        let Ok(value) = HeaderValue::from_bytes(line) else { return };
        request.headers_mut().append(AUTHORIZATION, value.clone());
        values.push(value);
    }
    let response = block_on(service.oneshot(request)).expect("the layer never fails");
    let status = response.status();
    if status == StatusCode::OK {
        let [value] = values.as_slice() else { panic!("let through with {} headers", values.len()) };
        let value = value.to_str().expect("let through a header that is not ASCII");
        let (scheme, token) = value.split_once(' ').expect("let through a header without a token");
        assert!(scheme.eq_ignore_ascii_case("bearer"), "let through the scheme {scheme:?}");
        assert_eq!(token.trim_matches(' '), GOOD_TOKEN, "let through another token");
    } else {
        assert!(
            matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED),
            "unexpected status {status}"
        );
        assert!(response.headers().contains_key(WWW_AUTHENTICATE), "a {status} without a challenge");
    }
}

fn policy() -> &'static McpScopePolicy {
    static POLICY: OnceLock<McpScopePolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        McpScopePolicy::builder()
            .tool("delete_repo", ["repo:admin"])
            .prompt("secrets", ["prompts:secret"])
            .resource("file:///etc/passwd", ["files:root"])
            .resource_template("repo://{owner}/{name}/issues", ["repo:read"])
            .build()
            .expect("a valid policy")
    })
}

/// `operations_in` on the input as a request body, then the policy's scopes for each operation. The
/// strict reader never accepts what a plain JSON parser refuses (but for numbers beyond `f64`), and sees every `tools/call`,
/// `prompts/get` and `resources/read` the MCP service would run; a guarded operation always needs its
/// scopes.
pub fn jsonrpc_body(data: &[u8]) {
    let Ok(operations) = operations_in(data) else { return };
    let value: Value = match serde_json::from_slice(data) {
        Ok(value) => value,
        // Valid JSON (RFC 8259 §6 sets no range) that `Value` cannot hold, such as an `id` of 5e555; the
        // reader skips such members unread, and the MCP service refuses them itself.
        Err(err) if err.to_string().starts_with("number out of range") => return,
        Err(err) => panic!("the strict reader accepted invalid JSON: {err}"),
    };
    let messages = match value {
        Value::Array(messages) => messages,
        message => vec![message],
    };
    let mut expected = Vec::new();
    for message in &messages {
        let method = message.get("method").and_then(Value::as_str);
        let params = message.get("params");
        let field = |name: &str| params.and_then(|p| p.get(name)).and_then(Value::as_str).map(str::to_owned);
        match method {
            Some("tools/call") => expected.push(McpOperation::Tool(field("name").expect("a tool name"))),
            Some("prompts/get") => expected.push(McpOperation::Prompt(field("name").expect("a prompt name"))),
            Some("resources/read") => {
                expected.push(McpOperation::Resource(field("uri").expect("a resource uri")));
            }
            _ => {}
        }
    }
    for operation in &expected {
        assert!(operations.contains(operation), "{operation} missed in {operations:?}");
    }
    for operation in &operations {
        let required = policy().required_for(operation);
        let guarded = match operation {
            McpOperation::Tool(name) => name == "delete_repo",
            McpOperation::Prompt(name) => name == "secrets",
            McpOperation::Resource(uri) => uri == "file:///etc/passwd",
            _ => false,
        };
        if guarded {
            assert!(!required.is_empty(), "{operation} needs no scope");
        }
    }
}
