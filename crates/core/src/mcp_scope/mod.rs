//! Per-operation scopes for MCP servers: which tools, prompts and resources need which scopes.
//!
//! MCP clients ask for more scopes when an operation needs them (the specification's step-up flow): a
//! call whose token lacks a scope the called tool requires is answered with HTTP 403 and a
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` challenge naming every scope the call
//! needs, and the client re-authorizes with the union of what it had and what was asked.
//!
//! [`McpScopePolicy`] is the table; give it to
//! [`BearerAuthLayer::mcp_scopes`](crate::BearerAuthLayer::mcp_scopes), which reads each JSON-RPC request
//! body (bounded; batches included) and challenges before the MCP service sees the request, so no response
//! or SSE stream has started. Inside an rmcp server, `mcp_auth_remote::rmcp::Caller::require_scopes`
//! checks the same way and answers an MCP error, and `mcp_auth_remote::rmcp::ScopeFilter` leaves out of
//! `tools/list` what the caller cannot use, when the policy asks for it.
//!
//! # Examples
//!
//! ```
//! use mcp_auth_core::mcp_scope::{McpOperation, McpScopePolicy};
//!
//! let policy = McpScopePolicy::builder()
//!     .tool("delete_repo", ["repo:admin"])
//!     .prompt("incident_report", ["incidents:read"])
//!     .resource("config://app", ["config:read"])
//!     .resource_template("orders://{org}/orders/{id}", ["orders:read"])
//!     .hide_unauthorized()
//!     .build()
//!     .unwrap();
//! assert_eq!(policy.required_for(&McpOperation::Tool("delete_repo".into())), ["repo:admin"]);
//! assert_eq!(policy.required_for(&McpOperation::Resource("orders://acme/orders/7".into())), ["orders:read"]);
//! assert!(policy.required_for(&McpOperation::Tool("whoami".into())).is_empty());
//! ```

mod jsonrpc;
mod template;
mod uri;

use std::collections::HashMap;
use std::fmt;

pub use self::jsonrpc::{JsonRpcBodyError, MAX_URI_LEN, operations_in};
use self::template::UriTemplate;
use crate::scope::is_scope_token;

/// The default limit on a JSON-RPC request body read for the scope check (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// An MCP operation that can require scopes, as read from a JSON-RPC request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum McpOperation {
    /// `tools/call` of the named tool.
    Tool(String),
    /// `prompts/get` of the named prompt.
    Prompt(String),
    /// `resources/read`, `resources/subscribe` or `resources/directory/read` of the URI.
    Resource(String),
}

impl fmt::Display for McpOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tool(name) => write!(f, "tool {name}"),
            Self::Prompt(name) => write!(f, "prompt {name}"),
            Self::Resource(uri) => write!(f, "resource {uri}"),
        }
    }
}

/// Which MCP operations need which scopes. Operations not named need only the scopes every request needs.
///
/// Built with [`McpScopePolicy::builder`]; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct McpScopePolicy {
    tools: HashMap<String, Vec<String>>,
    prompts: HashMap<String, Vec<String>>,
    resources: HashMap<String, Vec<String>>,
    templates: Vec<(UriTemplate, Vec<String>)>,
    hide_unauthorized: bool,
    max_body_bytes: usize,
}

impl McpScopePolicy {
    /// Starts an empty policy.
    pub fn builder() -> McpScopePolicyBuilder {
        McpScopePolicyBuilder::default()
    }

    /// The scopes `operation` requires, beyond those every request needs. For a resource: those of its
    /// exact entry and of every template it matches, together, for the URI as sent and for its normalized
    /// form (lower-cased scheme and host, dot and empty segments resolved, unreserved escapes decoded, no
    /// query or fragment, no trailing `/`), so another spelling of a guarded resource needs its scopes too.
    #[must_use]
    pub fn required_for(&self, operation: &McpOperation) -> Vec<&str> {
        fn add<'a>(required: &mut Vec<&'a str>, scopes: &'a [String]) {
            for scope in scopes {
                if !required.contains(&scope.as_str()) {
                    required.push(scope);
                }
            }
        }
        let mut required: Vec<&str> = Vec::new();
        match operation {
            McpOperation::Tool(name) => {
                if let Some(scopes) = self.tools.get(name) {
                    add(&mut required, scopes);
                }
            }
            McpOperation::Prompt(name) => {
                if let Some(scopes) = self.prompts.get(name) {
                    add(&mut required, scopes);
                }
            }
            McpOperation::Resource(uri) => {
                for form in uri::matching_forms(uri) {
                    if let Some(scopes) = self.resources.get(&form) {
                        add(&mut required, scopes);
                    }
                    for (template, scopes) in &self.templates {
                        // A completion names the template itself.
                        if template.as_str() == form || template.matches(&form) {
                            add(&mut required, scopes);
                        }
                    }
                }
            }
        }
        required
    }

    /// The scopes a resource template requires, when the policy names that template exactly (used to
    /// filter `resources/templates/list`).
    #[must_use]
    pub fn template_scopes(&self, uri_template: &str) -> Option<&[String]> {
        self.templates.iter().find(|(t, _)| t.as_str() == uri_template).map(|(_, scopes)| scopes.as_slice())
    }

    /// Whether listings should leave out what the caller cannot use.
    #[must_use]
    pub fn hides_unauthorized(&self) -> bool {
        self.hide_unauthorized
    }

    /// The largest request body read for the check.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether the policy names no operation at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
            && self.prompts.is_empty()
            && self.resources.is_empty()
            && self.templates.is_empty()
    }
}

/// Builds a [`McpScopePolicy`]; `build()` checks every scope and template.
#[derive(Debug, Clone)]
#[must_use]
pub struct McpScopePolicyBuilder {
    entries: Vec<(Kind, String, Vec<String>)>,
    hide_unauthorized: bool,
    max_body_bytes: usize,
}

impl Default for McpScopePolicyBuilder {
    fn default() -> Self {
        Self { entries: Vec::new(), hide_unauthorized: false, max_body_bytes: DEFAULT_MAX_BODY_BYTES }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tool,
    Prompt,
    Resource,
    Template,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Prompt => "prompt",
            Self::Resource => "resource",
            Self::Template => "resource template",
        }
    }
}

impl McpScopePolicyBuilder {
    fn entry<I, S>(mut self, kind: Kind, name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entries.push((kind, name.into(), scopes.into_iter().map(Into::into).collect()));
        self
    }

    /// `tools/call` of tool `name` needs `scopes`.
    pub fn tool<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        name: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.entry(Kind::Tool, name, scopes)
    }

    /// `prompts/get` of prompt `name` needs `scopes`.
    pub fn prompt<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        name: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.entry(Kind::Prompt, name, scopes)
    }

    /// Reading or subscribing to the resource at exactly `uri` needs `scopes`.
    pub fn resource<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        uri: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.entry(Kind::Resource, uri, scopes)
    }

    /// Reading or subscribing to any resource whose URI matches `uri_template` (`{name}` for one path
    /// segment, `{+name}` for several) needs `scopes`.
    pub fn resource_template<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        uri_template: impl Into<String>,
        scopes: I,
    ) -> Self {
        self.entry(Kind::Template, uri_template, scopes)
    }

    /// Leaves out of `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list` what the
    /// caller's token cannot use (off by default: clients then learn of a tool and step up when they call
    /// it, which is what the specification's step-up flow expects).
    pub fn hide_unauthorized(mut self) -> Self {
        self.hide_unauthorized = true;
        self
    }

    /// The largest JSON-RPC request body read for the check (default
    /// [`DEFAULT_MAX_BODY_BYTES`]); larger bodies are refused with 413 rather than let through unread.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Checks and builds the policy.
    ///
    /// # Errors
    ///
    /// [`McpScopeError`] naming the entry: a scope that is not an RFC 6749 scope token, an empty name, an
    /// entry given twice, or a template that cannot be matched.
    pub fn build(self) -> Result<McpScopePolicy, McpScopeError> {
        let mut policy = McpScopePolicy {
            tools: HashMap::new(),
            prompts: HashMap::new(),
            resources: HashMap::new(),
            templates: Vec::new(),
            hide_unauthorized: self.hide_unauthorized,
            max_body_bytes: self.max_body_bytes,
        };
        for (kind, name, scopes) in self.entries {
            let invalid = |reason: String| McpScopeError { kind: kind.as_str(), name: name.clone(), reason };
            if name.is_empty() {
                return Err(invalid("the name is empty".to_owned()));
            }
            if let Some(bad) = scopes.iter().find(|scope| !is_scope_token(scope)) {
                return Err(invalid(format!("{bad:?} is not a valid scope (RFC 6749 section 3.3)")));
            }
            let mut deduped: Vec<String> = Vec::with_capacity(scopes.len());
            for scope in scopes {
                if !deduped.contains(&scope) {
                    deduped.push(scope);
                }
            }
            let table = match kind {
                Kind::Tool => &mut policy.tools,
                Kind::Prompt => &mut policy.prompts,
                Kind::Resource => &mut policy.resources,
                Kind::Template => {
                    let template = UriTemplate::parse(&name).map_err(invalid)?;
                    if policy.templates.iter().any(|(t, _)| t.as_str() == name) {
                        return Err(invalid("it is configured twice".to_owned()));
                    }
                    policy.templates.push((template, deduped));
                    continue;
                }
            };
            if table.insert(name.clone(), deduped).is_some() {
                return Err(invalid("it is configured twice".to_owned()));
            }
        }
        Ok(policy)
    }
}

/// Why an [`McpScopePolicy`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MCP scope policy: {kind} {name:?}: {reason}")]
pub struct McpScopeError {
    /// `tool`, `prompt`, `resource` or `resource template`.
    pub kind: &'static str,
    /// The entry's name, URI or template.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_need_the_union_of_their_entry_and_every_matching_template() {
        let policy = McpScopePolicy::builder()
            .resource("file:///etc/app.toml", ["config:read"])
            .resource_template("file:///{+path}", ["files:read"])
            .resource_template("file:///etc/{name}", ["files:read", "etc:read"])
            .build()
            .unwrap();
        assert_eq!(
            policy.required_for(&McpOperation::Resource("file:///etc/app.toml".into())),
            ["config:read", "files:read", "etc:read"]
        );
        assert_eq!(policy.required_for(&McpOperation::Resource("file:///home/a".into())), ["files:read"]);
        assert!(policy.required_for(&McpOperation::Resource("https://x".into())).is_empty());
        assert_eq!(policy.template_scopes("file:///{+path}").unwrap(), ["files:read"]);
        assert!(policy.template_scopes("file:///{path}").is_none());
    }

    #[test]
    fn tools_and_prompts_are_separate_namespaces() {
        let policy =
            McpScopePolicy::builder().tool("report", ["a"]).prompt("report", ["b", "b"]).build().unwrap();
        assert_eq!(policy.required_for(&McpOperation::Tool("report".into())), ["a"]);
        assert_eq!(policy.required_for(&McpOperation::Prompt("report".into())), ["b"]);
        assert!(policy.required_for(&McpOperation::Tool("Report".into())).is_empty(), "names are exact");
        assert!(!policy.is_empty() && !policy.hides_unauthorized());
        assert_eq!(policy.max_body_bytes(), DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn contradictory_or_invalid_entries_are_refused_with_their_name() {
        let twice = McpScopePolicy::builder().tool("a", ["x"]).tool("a", ["y"]).build().unwrap_err();
        assert_eq!(twice.to_string(), r#"MCP scope policy: tool "a": it is configured twice"#);
        let bad_scope = McpScopePolicy::builder().tool("a", ["has space"]).build().unwrap_err();
        assert!(bad_scope.reason.contains("not a valid scope"), "{bad_scope}");
        let bad_template =
            McpScopePolicy::builder().resource_template("x://{?q}", ["s"]).build().unwrap_err();
        assert_eq!(bad_template.kind, "resource template");
        assert!(McpScopePolicy::builder().prompt("", ["s"]).build().is_err());
        assert!(McpScopePolicy::builder().build().unwrap().is_empty());
    }
}
