//! The per-tool policy applied to MCP traffic at the HTTP level, whatever the upstream: `tools/call`
//! bodies checked for roles before they reach the upstream, and `tools/list` results (JSON or inside an
//! SSE stream, rewritten event by event as they pass) cleared of the tools the caller cannot call.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt as _;
use mcp_auth_core::mcp_scope::{McpOperation, operations_in};
use mcp_auth_core::{AccessToken, AuthUser};
use serde_json::{Value, json};

use super::policy::ToolPolicy;

/// The largest JSON `tools/list` response (or SSE event) the gateway rewrites; larger ones pass unchanged.
const MAX_REWRITE_BYTES: usize = 16 * 1024 * 1024;

/// The JSON-RPC error code for a call the caller's role does not allow (as the examples' servers use).
pub(crate) const FORBIDDEN_CODE: i64 = -32003;

/// State of the policy middleware.
#[derive(Debug, Clone)]
pub(crate) struct Inspect {
    /// The policy.
    pub policy: Arc<ToolPolicy>,
    /// The largest request body read.
    pub max_body_bytes: usize,
}

/// Axum middleware: refuses `tools/call` of a tool the caller's roles do not allow, and filters
/// `tools/list` answers (and replayed SSE streams) when the policy hides unauthorized tools.
///
/// While a policy is active, a POST body is read strictly (the core's JSON-RPC reader: duplicate members,
/// a `tools/call` without a tool name, or JSON it cannot read are refused, never let through unread),
/// keys that differ only in case are refused (some JSON readers match keys case-insensitively), compressed
/// bodies are refused, and the upstream receives the message as the gateway read it, re-serialized.
pub(crate) async fn apply_policy(State(inspect): State<Inspect>, request: Request, next: Next) -> Response {
    if !inspect.policy.is_active() {
        return next.run(request).await;
    }
    let token = request.extensions().get::<AccessToken>().cloned();
    let scopes = token.as_ref().map(|token| token.scopes.clone()).unwrap_or_default();
    let user = token.as_ref().and_then(AuthUser::from_token);
    let filter = Arc::new(ListFilter { policy: Arc::clone(&inspect.policy), scopes, user });
    if request.method() == Method::GET {
        // A resumed SSE stream (Last-Event-ID) can replay a tools/list answer: filter it too.
        let hide = inspect.policy.hide_unauthorized;
        let response = next.run(request).await;
        return if hide { rewrite_response(response, filter).await } else { response };
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    if request.headers().get(header::CONTENT_ENCODING).is_some_and(|value| value.as_bytes() != b"identity") {
        return json_rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            -32700,
            "compressed request bodies are not accepted while a tool policy is active",
        );
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, inspect.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large or unreadable").into_response();
        }
    };
    let operations = match operations_in(&bytes) {
        Ok(operations) => operations,
        Err(error) => return json_rpc_error(StatusCode::BAD_REQUEST, error.code(), &error.to_string()),
    };
    let Ok(message) = serde_json::from_slice::<Value>(&bytes) else {
        return json_rpc_error(StatusCode::BAD_REQUEST, -32700, "the body is not a JSON-RPC message");
    };
    let messages: Vec<&Value> = match &message {
        Value::Array(batch) => batch.iter().collect(),
        single => vec![single],
    };
    if messages.iter().any(|message| has_case_variants(message)) {
        return json_rpc_error(StatusCode::BAD_REQUEST, -32600, "members whose names differ only in case");
    }
    let mut refusals = Vec::new();
    for operation in &operations {
        if let McpOperation::Tool(tool) = operation
            && let Some(roles) = inspect.policy.role_refusal(tool, filter.user.as_ref())
        {
            tracing::info!(tool = %tool, user = filter.user.as_ref().map(|u| u.user_id.as_str()), "tool refused: role");
            metrics::counter!("mcp_auth_gateway_tool_refusals_total").increment(1);
            refusals.push((tool.clone(), roles));
        }
    }
    if !refusals.is_empty() {
        return refuse(&messages, &refusals);
    }
    let lists = inspect.policy.hide_unauthorized
        && messages.iter().any(|message| message.get("method").and_then(Value::as_str) == Some("tools/list"));
    if lists {
        // The answer is rewritten: ask for it uncompressed.
        parts.headers.remove(header::ACCEPT_ENCODING);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let response = next.run(Request::from_parts(parts, Body::from(message.to_string()))).await;
    if lists { rewrite_response(response, filter).await } else { response }
}

/// Whether an object (the message, or its `params`) has two member names equal but for case.
fn has_case_variants(message: &Value) -> bool {
    fn variants(object: &serde_json::Map<String, Value>) -> bool {
        let mut names: Vec<String> = object.keys().map(|key| key.to_ascii_lowercase()).collect();
        names.sort_unstable();
        names.windows(2).any(|pair| pair[0] == pair[1])
    }
    let Some(object) = message.as_object() else { return false };
    variants(object) || object.get("params").and_then(Value::as_object).is_some_and(variants)
}

fn json_rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The answer to a request holding calls the caller may not make: nothing in it reaches the upstream; each
/// refused call with an id gets a JSON-RPC error, the other requests of a batch a batch refusal, and a
/// request with no id at all 403.
fn refuse(messages: &[&Value], refusals: &[(String, Vec<String>)]) -> Response {
    let answers: Vec<Value> = messages
        .iter()
        .filter_map(|message| {
            let id = message.get("id")?;
            let tool = (message.get("method").and_then(Value::as_str) == Some("tools/call"))
                .then(|| message.pointer("/params/name").and_then(Value::as_str))
                .flatten();
            let error = match refusals.iter().find(|(refused, _)| Some(refused.as_str()) == tool) {
                Some((tool, roles)) => json!({
                    "code": FORBIDDEN_CODE,
                    "message": format!("tool `{tool}` needs one of the roles: {}", roles.join(", ")),
                }),
                None => json!({"code": -32600, "message": "refused: the batch holds a call the caller may not make"}),
            };
            Some(json!({"jsonrpc": "2.0", "id": id, "error": error}))
        })
        .collect();
    let body = match (messages.len(), answers.len()) {
        (_, 0) => {
            return json_rpc_error(StatusCode::FORBIDDEN, FORBIDDEN_CODE, "a tool the caller may not call");
        }
        (1, _) if answers.len() == 1 => answers.into_iter().next().unwrap_or_default(),
        _ => Value::Array(answers),
    };
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// What a `tools/list` answer is filtered with. Every `result.tools` in the answer to a request holding a
/// `tools/list` is filtered, whatever its id (ids are echoed in forms that compare unequal as text).
struct ListFilter {
    policy: Arc<ToolPolicy>,
    scopes: Vec<String>,
    user: Option<AuthUser>,
}

impl ListFilter {
    /// Filters the answers in `message` (one message or a batch); whether anything changed.
    fn filter(&self, message: &mut Value) -> bool {
        match message {
            Value::Array(batch) => {
                batch.iter_mut().fold(false, |changed, message| self.filter(message) | changed)
            }
            single => match single.get_mut("result") {
                Some(result) if single_has_tools(result) => {
                    self.policy.filter_tools_list(result, &self.scopes, self.user.as_ref()) > 0
                }
                _ => false,
            },
        }
    }
}

fn single_has_tools(result: &Value) -> bool {
    result.get("tools").is_some_and(Value::is_array)
}

async fn rewrite_response(response: Response, filter: Arc<ListFilter>) -> Response {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if response.headers().get(header::CONTENT_ENCODING).is_some_and(|value| value.as_bytes() != b"identity") {
        // Asked uncompressed; an answer the gateway cannot read is not passed on unfiltered.
        return (StatusCode::BAD_GATEWAY, "the upstream compressed an answer the policy must filter")
            .into_response();
    }
    if content_type.starts_with("application/json") {
        let (mut parts, body) = response.into_parts();
        let bytes = match http_body_util::Limited::new(body, MAX_REWRITE_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return (StatusCode::BAD_GATEWAY, "upstream answer too large or broken").into_response();
            }
        };
        let bytes = match serde_json::from_slice::<Value>(&bytes) {
            Ok(mut message) => {
                if filter.filter(&mut message) {
                    Bytes::from(message.to_string())
                } else {
                    bytes
                }
            }
            Err(_) => bytes,
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(bytes))
    } else if content_type.starts_with("text/event-stream") {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, filter_sse(body, filter))
    } else {
        response
    }
}

/// Rewrites the SSE events of `body` that carry a filtered answer, passing every other byte through as
/// it arrives (each event is held only until its blank line).
fn filter_sse(body: Body, filter: Arc<ListFilter>) -> Body {
    let stream = body.into_data_stream();
    let events = futures_util::stream::unfold(
        (stream, BytesMut::new(), false),
        move |(mut stream, mut buffer, mut done)| {
            let filter = Arc::clone(&filter);
            async move {
                loop {
                    if let Some(end) = event_end(&buffer) {
                        let event = buffer.split_to(end).freeze();
                        return Some((
                            Ok::<_, axum::Error>(rewrite_event(event, &filter)),
                            (stream, buffer, done),
                        ));
                    }
                    if done {
                        if buffer.is_empty() {
                            return None;
                        }
                        let rest = buffer.split().freeze();
                        return Some((Ok(rest), (stream, buffer, done)));
                    }
                    if buffer.len() > MAX_REWRITE_BYTES {
                        // An event this large is not held, nor passed on unfiltered: the stream ends.
                        tracing::warn!("an SSE event over 16 MiB in a filtered answer; stream closed");
                        return None;
                    }
                    match stream.next().await {
                        Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                        Some(Err(error)) => return Some((Err(error), (stream, buffer, true))),
                        None => done = true,
                    }
                }
            }
        },
    );
    Body::from_stream(events)
}

/// The length of the first complete event in `buffer` (up to and including its blank line).
fn event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|window| window == b"\n\n").map(|at| at + 2);
    let crlf = buffer.windows(4).position(|window| window == b"\r\n\r\n").map(|at| at + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The event with its `data` replaced when it carries a filtered answer; otherwise unchanged.
fn rewrite_event(event: Bytes, filter: &ListFilter) -> Bytes {
    let Ok(text) = std::str::from_utf8(&event) else { return event };
    let mut data = String::new();
    let mut others = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        } else if !line.is_empty() {
            others.push(line);
        }
    }
    let Ok(mut message) = serde_json::from_str::<Value>(&data) else { return event };
    if !filter.filter(&mut message) {
        return event;
    }
    let mut rewritten = String::new();
    for line in others {
        rewritten.push_str(line);
        rewritten.push('\n');
    }
    rewritten.push_str("data: ");
    rewritten.push_str(&message.to_string());
    rewritten.push_str("\n\n");
    Bytes::from(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> ListFilter {
        let policy =
            ToolPolicy::from_toml("hide_unauthorized = true\n[tools.reset]\nroles = [\"admin\"]").unwrap();
        ListFilter { policy: Arc::new(policy), scopes: vec![], user: None }
    }

    #[test]
    fn sse_events_are_found_and_rewritten() {
        assert_eq!(event_end(b"data: x\n\ndata: y"), Some(9));
        assert_eq!(event_end(b"data: x\r\n\r\n"), Some(11));
        assert_eq!(event_end(b"data: x\n"), None);
        let event = Bytes::from_static(
            b"id: 0/1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{\"name\":\"reset\"},{\"name\":\"whoami\"}]}}\n\n",
        );
        let rewritten = rewrite_event(event, &filter());
        let text = std::str::from_utf8(&rewritten).unwrap();
        assert!(text.starts_with("id: 0/1\nevent: message\ndata: "), "{text}");
        assert!(text.contains("whoami") && !text.contains("reset") && text.ends_with("\n\n"), "{text}");
        // A ping, a notification, or not JSON: unchanged, byte for byte.
        for untouched in [
            &b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"[..],
            b": ping\n\n",
            b"data: not json\n\n",
            b"\xff\xfe\n\n",
        ] {
            assert_eq!(rewrite_event(Bytes::copy_from_slice(untouched), &filter()), untouched);
        }
    }

    #[tokio::test]
    async fn a_stream_is_filtered_across_chunk_boundaries() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n")),
            Ok(Bytes::from_static(b"\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{\"na")),
            Ok(Bytes::from_static(b"me\":\"reset\"}]}}\n\ntrailing")),
        ];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let out = filter_sse(body, Arc::new(filter())).collect().await.unwrap().to_bytes();
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            text,
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
             data: {\"id\":7,\"jsonrpc\":\"2.0\",\"result\":{\"tools\":[]}}\n\ntrailing"
        );
    }

    #[tokio::test]
    async fn refusals_answer_each_request_of_a_batch() {
        let refusals = vec![("reset".to_owned(), vec!["admin".to_owned()])];
        let batch = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "reset"}}),
            json!({"jsonrpc": "2.0", "method": "notifications/x"}),
        ];
        let response = refuse(&batch.iter().collect::<Vec<_>>(), &refusals);
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body[0]["error"]["code"], -32600);
        assert_eq!(body[1]["error"]["code"], FORBIDDEN_CODE);
        // A call without an id: 403, nothing forwarded.
        let silent = json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "reset"}});
        assert_eq!(refuse(&[&silent], &refusals).status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn keys_equal_but_for_case_are_found() {
        assert!(has_case_variants(&json!({"method": "tools/call", "Method": "x"})));
        assert!(has_case_variants(
            &json!({"method": "tools/call", "params": {"name": "echo", "NAME": "reset"}})
        ));
        assert!(!has_case_variants(
            &json!({"method": "tools/call", "params": {"name": "echo", "arguments": {"A": 1, "a": 2}}})
        ));
    }
}
