//! Per-operation scopes in the bearer layer: the JSON-RPC body is read, and a call of a tool, prompt or
//! resource whose scopes the token lacks gets a 403 step-up challenge before the MCP service runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::scope::ScopeImplications;
use mcp_auth_core::{AccessToken, BearerAuthLayer, StaticTokenVerifier};
use serde_json::{Value, json};
use tower::ServiceExt;

const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn verifier() -> StaticTokenVerifier {
    let token = |value: &str, scopes: &[&str]| {
        AccessToken::new(value).with_subject("user_1").with_scopes(scopes.iter().copied())
    };
    StaticTokenVerifier::new()
        .with_token("low", token("low", &["mcp:tools"]))
        .with_token("repo-admin", token("repo-admin", &["mcp:tools", "repo:admin"]))
        .with_token(
            "everything",
            token("everything", &["mcp:tools", "repo:admin", "prompts:secret", "orders:read"]),
        )
        .with_token("org-admin", token("org-admin", &["mcp:tools", "org:admin"]))
}

fn policy() -> McpScopePolicy {
    McpScopePolicy::builder()
        .tool("delete_repo", ["repo:admin"])
        .tool("we\"ird\r\nname", ["repo:admin"])
        .prompt("secret_prompt", ["prompts:secret"])
        .resource_template("orders://{org}/orders/{id}", ["orders:read"])
        .max_body_bytes(4096)
        .build()
        .unwrap()
}

struct World {
    app: Router,
    calls: Arc<AtomicUsize>,
}

/// The MCP service stand-in echoes the body it received, so tests see that the layer put it back whole.
fn world(layer: BearerAuthLayer) -> World {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/mcp",
            post(move |body: Bytes| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { body }
            })
            .get(|| async { "event stream" }),
        )
        .layer(layer);
    World { app, calls }
}

fn layer() -> BearerAuthLayer {
    BearerAuthLayer::new(Arc::new(verifier()))
        .resource_metadata_url(METADATA_URL)
        .required_scopes(["mcp:tools"])
        .mcp_scopes(policy())
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    cache_control: Option<String>,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn post_mcp(world: &World, token: &str, body: impl Into<Body>) -> Answer {
    let request = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap();
    let response = world.app.clone().oneshot(request).await.unwrap();
    let text =
        |name| response.headers().get(name).map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned());
    let (status, challenge, cache_control) =
        (response.status(), text(header::WWW_AUTHENTICATE), text(header::CACHE_CONTROL));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, challenge, cache_control, body }
}

fn call_tool(name: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": {}}})
        .to_string()
}

/// RFC 6750 §3 with RFC 9728 §5.1: `Bearer` then comma-separated `name="value"` pairs whose values hold
/// only the characters a quoted string may carry unescaped (`%x20-21 / %x23-5B / %x5D-7E`).
fn parse_challenge(header: &str) -> Vec<(String, String)> {
    let params = header.strip_prefix("Bearer ").expect("the Bearer scheme, then one space");
    let mut out = Vec::new();
    for pair in params.split(", ") {
        let (name, quoted) = pair.split_once('=').expect("name=value");
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        let value = quoted.strip_prefix('"').and_then(|v| v.strip_suffix('"')).expect("a quoted value");
        assert!(value.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "{value:?}");
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

#[tokio::test]
async fn tool_without_its_scope_gets_a_403_step_up_challenge_naming_every_scope_it_needs() {
    let world = world(layer());
    let answer = post_mcp(&world, "low", call_tool("delete_repo")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let challenge = answer.challenge.clone().unwrap();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer error="insufficient_scope", error_description="tool delete_repo needs scopes the token lacks", resource_metadata="{METADATA_URL}", scope="mcp:tools repo:admin""#
        )
    );
    let params = parse_challenge(&challenge);
    let names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["error", "error_description", "resource_metadata", "scope"]);
    assert_eq!(answer.json()["error"], "insufficient_scope");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    assert_eq!(world.calls.load(Ordering::SeqCst), 0, "the MCP service never saw the call");
}

#[tokio::test]
async fn tool_with_its_scope_reaches_the_service_with_the_body_intact() {
    let world = world(layer());
    let body = call_tool("delete_repo");
    let answer = post_mcp(&world, "repo-admin", body.clone()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, body.as_bytes());
    for unguarded in [
        call_tool("whoami"),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "result": {}}).to_string(),
    ] {
        let answer = post_mcp(&world, "low", unguarded.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{unguarded}");
        assert_eq!(answer.body, unguarded.as_bytes());
    }
}

#[tokio::test]
async fn a_batch_is_challenged_once_with_the_union_of_its_scopes() {
    let world = world(layer());
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "delete_repo"}},
        {"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": "secret_prompt"}},
        {"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "orders://acme/orders/9"}}
    ])
    .to_string();
    let answer = post_mcp(&world, "repo-admin", batch.clone()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let params = parse_challenge(&answer.challenge.unwrap());
    assert_eq!(params[1].1, "this batch needs scopes the token lacks");
    assert_eq!(params[3], ("scope".to_owned(), "mcp:tools repo:admin prompts:secret orders:read".to_owned()));
    assert_eq!(post_mcp(&world, "everything", batch).await.status, StatusCode::OK);
}

#[tokio::test]
async fn resources_are_guarded_through_their_templates_without_echoing_the_uri() {
    let world = world(layer());
    let read = |uri: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": uri}}).to_string()
    };
    let answer = post_mcp(&world, "low", read("orders://acme/orders/1")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let params = parse_challenge(&answer.challenge.unwrap());
    assert_eq!(params[1].1, "this resource needs scopes the token lacks");
    assert_eq!(params[3].1, "mcp:tools orders:read");
    assert_eq!(post_mcp(&world, "low", read("orders://acme/invoices/1")).await.status, StatusCode::OK);
    assert_eq!(post_mcp(&world, "everything", read("orders://acme/orders/1")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_or_ambiguous_bodies_are_refused_not_passed_through() {
    let world = world(layer());
    let cases = [
        ("not json", -32700),
        ("", -32700),
        ("[1, 2]", -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"delete_repo"}}"#,
            -32700,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"delete_repo"}}"#,
            -32602,
        ),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete_repo"]}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#, -32602),
    ];
    for (body, code) in cases {
        let answer = post_mcp(&world, "low", body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        let json = answer.json();
        assert_eq!(json["jsonrpc"], "2.0");
        assert_eq!(json["id"], Value::Null);
        assert_eq!(json["error"]["code"], code, "{body}: {json}");
        assert!(answer.challenge.is_none());
    }
    assert_eq!(world.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_rather_than_let_through_unread() {
    let world = world(layer());
    let padded = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "delete_repo", "arguments": {"pad": "x".repeat(5000)}}})
    .to_string();
    let answer = post_mcp(&world, "low", padded).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["error"]["code"], -32600);
    // A streamed body without Content-Length is cut off at the limit too.
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1000]))));
    let answer = post_mcp(&world, "low", Body::from_stream(chunks)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(world.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn requests_without_a_body_to_read_pass_unread() {
    let world = world(layer());
    let request =
        Request::get("/mcp").header(header::AUTHORIZATION, "Bearer low").body(Body::empty()).unwrap();
    let response = world.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET opens the SSE stream; nothing to check");
}

#[tokio::test]
async fn hostile_tool_names_cannot_break_the_challenge() {
    let world = world(layer());
    let answer = post_mcp(&world, "low", call_tool("we\"ird\r\nname")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let params = parse_challenge(&answer.challenge.unwrap());
    assert_eq!(params[1].1, "tool we'ird''name needs scopes the token lacks");
    // Unknown names, however hostile, are the MCP service's to refuse.
    assert_eq!(post_mcp(&world, "low", call_tool("x\"\r\n\u{0}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_scope_hierarchy_applies_to_per_operation_checks() {
    let hierarchy = ScopeImplications::new().scope_implies("org:admin", ["repo:admin"]);
    let world = world(layer().scope_hierarchy(hierarchy));
    assert_eq!(post_mcp(&world, "org-admin", call_tool("delete_repo")).await.status, StatusCode::OK);
    let world_exact = self::world(layer());
    assert_eq!(
        post_mcp(&world_exact, "org-admin", call_tool("delete_repo")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_layer_without_a_policy_never_reads_the_body() {
    let plain = BearerAuthLayer::new(Arc::new(verifier())).resource_metadata_url(METADATA_URL);
    let world = world(plain);
    let answer = post_mcp(&world, "low", "not json at all").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "not json at all".as_bytes());
}

/// Review finding: other spellings of a guarded resource (case, dot and empty segments, escapes, a query)
/// matched no rule and needed no scope.
#[tokio::test]
async fn other_spellings_of_a_guarded_resource_need_its_scopes() {
    let world = world(layer());
    let read = |uri: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": uri}}).to_string()
    };
    for spelling in [
        "ORDERS://acme/orders/1",
        "orders://ACME/orders/1",
        "orders://acme/orders//1",
        "orders://acme/x/../orders/1",
        "orders://acme/orders/%31",
        "orders://acme/orders/1?all=1",
        "orders://acme/orders/1/",
    ] {
        let answer = post_mcp(&world, "low", read(spelling)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{spelling}");
    }
    assert_eq!(world.calls.load(Ordering::SeqCst), 0);
}

/// Review finding: `subscriptions/listen`, `completion/complete` and `skills/get` reach a guarded
/// resource or prompt without naming it in `resources/read` or `prompts/get`.
#[tokio::test]
async fn subscriptions_and_completions_of_guarded_targets_are_challenged() {
    let world = world(layer());
    let listen = json!({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": ["orders://acme/orders/1"]}}})
    .to_string();
    let complete = json!({"jsonrpc": "2.0", "id": 2, "method": "completion/complete",
        "params": {"ref": {"type": "ref/prompt", "name": "secret_prompt"}, "argument": {"name": "a", "value": ""}}})
    .to_string();
    let complete_template = json!({"jsonrpc": "2.0", "id": 3, "method": "completion/complete",
        "params": {"ref": {"type": "ref/resource", "uri": "orders://{org}/orders/{id}"},
            "argument": {"name": "org", "value": ""}}})
    .to_string();
    for body in [listen, complete, complete_template] {
        let answer = post_mcp(&world, "low", body.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(post_mcp(&world, "everything", body.clone()).await.status, StatusCode::OK, "{body}");
    }
}
