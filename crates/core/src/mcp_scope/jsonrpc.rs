//! Reading the MCP operations out of a JSON-RPC request body, strictly enough that what the scope check
//! sees is what the MCP service will run.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::McpOperation;

/// Why a JSON-RPC body could not be read for the scope check. The request is refused (400) rather than
/// passed on, so that a body the check cannot read is never one the MCP service runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonRpcBodyError {
    /// Not JSON, not a JSON-RPC message or batch of messages, or a member given twice.
    #[error("the body is not a JSON-RPC message: {0}")]
    Parse(String),
    /// A guarded method whose target (tool or prompt `name`, resource `uri`, the `ref` of a completion, the
    /// `notifications` of a subscription stream) is missing, not of its type, given twice, or (a URI) longer
    /// than [`MAX_URI_LEN`].
    #[error("{method} needs params.{field}, once, as a string")]
    MissingTarget {
        /// The method.
        method: String,
        /// `name` or `uri`.
        field: &'static str,
    },
}

impl JsonRpcBodyError {
    /// The JSON-RPC error code for the answer: -32700 (parse error) or -32602 (invalid params).
    #[must_use]
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::MissingTarget { .. } => -32602,
        }
    }
}

/// One message of the body: duplicate members are an error here (serde's derive refuses them), so a body
/// like `{"method": "tools/call", "method": "ping"}` cannot mean one thing here and another further in.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Addressed<'a> {
    #[serde(borrow)]
    uri: Cow<'a, str>,
}

/// `subscriptions/listen`: the resources whose updates the stream asks for.
#[derive(Deserialize)]
struct Listen {
    notifications: ListenFilter,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListenFilter {
    #[serde(default)]
    resource_subscriptions: Option<Vec<String>>,
}

/// `completion/complete`: completing an argument of a prompt or of a resource template.
#[derive(Deserialize)]
struct Complete {
    #[serde(rename = "ref")]
    reference: Reference,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Reference {
    #[serde(rename = "ref/prompt")]
    Prompt { name: String },
    #[serde(rename = "ref/resource")]
    Resource { uri: String },
}

/// The longest resource URI read; longer ones are refused (MCP resource URIs are short, and matching
/// costs time in the URI's length).
pub const MAX_URI_LEN: usize = 8 * 1024;

/// The guarded operations in a JSON-RPC request body: one message or a batch, in order. Guarded methods:
/// `tools/call` (a tool), `prompts/get` (a prompt), `resources/read`, `resources/subscribe`,
/// `resources/directory/read` and `skills/get` (a resource URI), `subscriptions/listen` (each URI in
/// `notifications.resourceSubscriptions`) and `completion/complete` (the prompt or resource template its
/// `ref` names). Messages of other methods (`initialize`, `tools/list`, notifications, responses) are read
/// and left out.
///
/// # Errors
///
/// [`JsonRpcBodyError`] for a body that is not a JSON-RPC message or batch (including a member given
/// twice), or for a guarded method without its target.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::mcp_scope::{McpOperation, operations_in};
///
/// let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{}}}"#;
/// assert_eq!(operations_in(body).unwrap(), [McpOperation::Tool("delete_repo".into())]);
/// assert!(operations_in(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap().is_empty());
/// assert!(operations_in(b"not json").is_err());
/// ```
pub fn operations_in(body: &[u8]) -> Result<Vec<McpOperation>, JsonRpcBodyError> {
    let parse = |err: serde_json::Error| JsonRpcBodyError::Parse(err.to_string());
    // JSON is UTF-8 (RFC 8259 §8.1). `from_slice` checks only the strings it keeps, so invalid bytes in a
    // member left out (`jsonrpc`, `arguments`) passed the check to the MCP service (found by fuzzing).
    let body = std::str::from_utf8(body)
        .map_err(|err| JsonRpcBodyError::Parse(format!("the body is not UTF-8 ({err})")))?;
    let first = body.bytes().find(|b| !b.is_ascii_whitespace());
    let messages: Vec<Message<'_>> = if first == Some(b'[') {
        serde_json::from_str(body).map_err(parse)?
    } else {
        vec![serde_json::from_str(body).map_err(parse)?]
    };
    let mut operations = Vec::new();
    for message in messages {
        let Some(method) = message.method else { continue };
        let params = message.params.map_or("null", RawValue::get);
        let missing = |field| JsonRpcBodyError::MissingTarget { method: method.to_string(), field };
        let before = operations.len();
        match method.as_ref() {
            "tools/call" => operations.push(McpOperation::Tool(
                serde_json::from_str::<Named<'_>>(params).map_err(|_| missing("name"))?.name.into_owned(),
            )),
            "prompts/get" => operations.push(McpOperation::Prompt(
                serde_json::from_str::<Named<'_>>(params).map_err(|_| missing("name"))?.name.into_owned(),
            )),
            "resources/read" | "resources/subscribe" | "resources/directory/read" | "skills/get" => {
                operations.push(McpOperation::Resource(
                    serde_json::from_str::<Addressed<'_>>(params)
                        .map_err(|_| missing("uri"))?
                        .uri
                        .into_owned(),
                ));
            }
            "subscriptions/listen" => {
                let listen = serde_json::from_str::<Listen>(params).map_err(|_| missing("notifications"))?;
                let uris = listen.notifications.resource_subscriptions.unwrap_or_default();
                operations.extend(uris.into_iter().map(McpOperation::Resource));
            }
            "completion/complete" => {
                let complete = serde_json::from_str::<Complete>(params).map_err(|_| missing("ref"))?;
                operations.push(match complete.reference {
                    Reference::Prompt { name } => McpOperation::Prompt(name),
                    Reference::Resource { uri } => McpOperation::Resource(uri),
                });
            }
            _ => {}
        }
        if operations[before..]
            .iter()
            .any(|operation| matches!(operation, McpOperation::Resource(uri) if uri.len() > MAX_URI_LEN))
        {
            return Err(missing("uri"));
        }
    }
    Ok(operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(body: &str) -> Result<Vec<McpOperation>, JsonRpcBodyError> {
        operations_in(body.as_bytes())
    }

    /// Found by fuzzing (issue 16): invalid UTF-8 in a member the reader leaves out was not noticed, so a
    /// body that is not JSON went on to the MCP service.
    #[test]
    fn a_body_that_is_not_utf8_is_refused_wherever_the_bad_bytes_are() {
        for body in [
            &b"{\"\":\"\xae\"}"[..],
            b"{\"jsonrpc\":\"2\xae0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"x\":\"\xff\"}}}",
            b"[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"x\":\"\xc3\"}]",
        ] {
            let err = operations_in(body).unwrap_err();
            assert_eq!(err.code(), -32700, "{err}");
        }
        // Valid UTF-8 beyond ASCII is fine.
        assert_eq!(
            ops(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"é","arguments":{"x":"✓"}}}"#)
                .unwrap(),
            [McpOperation::Tool("é".into())]
        );
    }

    #[test]
    fn reads_every_guarded_method() {
        let batch = r#"[
            {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"name":"b"}}},
            {"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"p"}},
            {"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///x"}},
            {"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{"uri":"file:///y"}},
            {"jsonrpc":"2.0","method":"notifications/initialized"},
            {"jsonrpc":"2.0","id":5,"result":{}}
        ]"#;
        assert_eq!(
            ops(batch).unwrap(),
            [
                McpOperation::Tool("a".into()),
                McpOperation::Prompt("p".into()),
                McpOperation::Resource("file:///x".into()),
                McpOperation::Resource("file:///y".into()),
            ]
        );
    }

    #[test]
    fn subscriptions_completions_and_skills_are_guarded_too() {
        let batch = r#"[
            {"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":
                {"toolsListChanged":true,"resourceSubscriptions":["config://app","file:///x"]}}},
            {"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},
                "argument":{"name":"a","value":""}}},
            {"jsonrpc":"2.0","id":3,"method":"completion/complete","params":{"ref":{"type":"ref/resource",
                "uri":"orders://{org}/orders/{id}"},"argument":{"name":"org","value":""}}},
            {"jsonrpc":"2.0","id":4,"method":"skills/get","params":{"uri":"skill://deploy"}},
            {"jsonrpc":"2.0","id":5,"method":"subscriptions/listen","params":{"notifications":{}}}
        ]"#;
        assert_eq!(
            ops(batch).unwrap(),
            [
                McpOperation::Resource("config://app".into()),
                McpOperation::Resource("file:///x".into()),
                McpOperation::Prompt("p".into()),
                McpOperation::Resource("orders://{org}/orders/{id}".into()),
                McpOperation::Resource("skill://deploy".into()),
            ]
        );
        for bad in [
            r#"{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/other"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"a","name":"b"}}}"#,
        ] {
            assert_eq!(ops(bad).unwrap_err().code(), -32602, "{bad}");
        }
    }

    #[test]
    fn overlong_resource_uris_are_refused() {
        let long = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{{"uri":"x://{}"}}}}"#,
            "a".repeat(MAX_URI_LEN)
        );
        assert_eq!(ops(&long).unwrap_err().code(), -32602);
    }

    #[test]
    fn escaped_names_are_read_as_the_service_reads_them() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"del\u0065te"}}"#;
        assert_eq!(ops(body).unwrap(), [McpOperation::Tool("delete".into())]);
    }

    #[test]
    fn duplicate_members_are_refused_not_guessed() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"a"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"public","name":"admin"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}"#,
        ] {
            assert!(ops(body).is_err(), "{body}");
        }
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in ["", "   ", "null", "1", "\"tools/call\"", "[1]", "{", "[{}", r#"{"method": 5}"#] {
            assert!(matches!(ops(body), Err(JsonRpcBodyError::Parse(_))), "{body:?}");
        }
        assert!(ops("[]").unwrap().is_empty(), "an empty batch names no operation");
        assert!(ops("{}").unwrap().is_empty());
    }

    #[test]
    fn guarded_methods_without_a_target_are_refused() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"x"}}"#,
        ] {
            let err = ops(body).unwrap_err();
            assert_eq!(err.code(), -32602, "{body}: {err}");
        }
        assert_eq!(ops("nope").unwrap_err().code(), -32700);
    }

    #[test]
    fn deeply_nested_arguments_neither_overflow_nor_hide_the_target() {
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{}{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        // The arguments are skipped as raw JSON, without recursion; the tool is still found.
        assert_eq!(ops(&deep).unwrap(), [McpOperation::Tool("a".into())]);
    }
}
