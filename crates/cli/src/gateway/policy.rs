//! Per-tool policy from a TOML file: which tools need which scopes (answered with the step-up
//! challenge by the bearer layer) or roles (refused by the gateway), and whether `tools/list` leaves out
//! the tools a caller cannot use.
//!
//! ```toml
//! # Leave out of tools/list what the caller cannot call.
//! hide_unauthorized = true
//!
//! [tools.delete_repo]
//! scopes = ["repo:admin"]      # every one of these scopes (403 insufficient_scope, then step-up)
//! roles = ["admin", "owner"]   # any one of these roles (a JSON-RPC error otherwise)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use mcp_auth_core::AuthUser;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use serde::Deserialize;
use serde_json::Value;

/// The policy file's contents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPolicy {
    /// Leave out of `tools/list` the tools the caller cannot call.
    #[serde(default)]
    pub hide_unauthorized: bool,
    /// By tool name.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolRule>,
}

/// What one tool needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    /// Every one of these scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Any one of these roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Why a caller may not call a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token lacks these scopes (the bearer layer challenges before the gateway sees the request).
    Scopes(Vec<String>),
    /// The caller has none of these roles.
    Roles(Vec<String>),
}

impl ToolPolicy {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not TOML of this shape, or names an invalid scope.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        Self::from_toml(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Parses and checks a policy.
    ///
    /// # Errors
    ///
    /// Not TOML of this shape, or an invalid scope or tool name.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let policy: Self = toml::from_str(text).map_err(|error| error.message().to_owned())?;
        policy.scope_policy(mcp_auth_core::mcp_scope::DEFAULT_MAX_BODY_BYTES)?;
        for (name, rule) in &policy.tools {
            if name.is_empty() || rule.roles.iter().any(|role| role.trim().is_empty()) {
                return Err(format!("tool `{name}`: empty tool or role name"));
            }
        }
        Ok(policy)
    }

    /// The scopes part, for the bearer layer's per-tool challenge.
    ///
    /// # Errors
    ///
    /// An invalid scope.
    pub fn scope_policy(&self, max_body_bytes: usize) -> Result<McpScopePolicy, String> {
        let mut builder = McpScopePolicy::builder().max_body_bytes(max_body_bytes);
        for (name, rule) in &self.tools {
            if !rule.scopes.is_empty() {
                builder = builder.tool(name, rule.scopes.iter().cloned());
            }
        }
        builder.build().map_err(|error| error.to_string())
    }

    /// Whether any rule needs a role (then `tools/call` bodies are read by the gateway).
    #[must_use]
    pub fn has_roles(&self) -> bool {
        self.tools.values().any(|rule| !rule.roles.is_empty())
    }

    /// Whether the gateway must read request bodies at all.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.has_roles() || (self.hide_unauthorized && !self.tools.is_empty())
    }

    /// Why `user` (with `scopes`) may not call `tool`, if it may not.
    #[must_use]
    pub fn refusal(&self, tool: &str, scopes: &[String], user: Option<&AuthUser>) -> Option<Refusal> {
        let rule = self.tools.get(tool)?;
        let missing: Vec<String> =
            rule.scopes.iter().filter(|scope| !scopes.contains(scope)).cloned().collect();
        if !missing.is_empty() {
            return Some(Refusal::Scopes(missing));
        }
        let roles = user.map(|user| user.roles.as_slice()).unwrap_or_default();
        if !rule.roles.is_empty() && !rule.roles.iter().any(|role| roles.contains(role)) {
            return Some(Refusal::Roles(rule.roles.clone()));
        }
        None
    }

    /// The roles `tool` needs, when `user` has none of them (whatever the scopes).
    #[must_use]
    pub fn role_refusal(&self, tool: &str, user: Option<&AuthUser>) -> Option<Vec<String>> {
        let rule = self.tools.get(tool)?;
        let roles = user.map(|user| user.roles.as_slice()).unwrap_or_default();
        (!rule.roles.is_empty() && !rule.roles.iter().any(|role| roles.contains(role)))
            .then(|| rule.roles.clone())
    }

    /// Removes from a `tools/list` result the tools `user` may not call. Returns how many it removed.
    pub fn filter_tools_list(&self, result: &mut Value, scopes: &[String], user: Option<&AuthUser>) -> usize {
        let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) else { return 0 };
        let before = tools.len();
        tools.retain(|tool| {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
            self.refusal(name, scopes, user).is_none()
        });
        before - tools.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: &str = r#"
        hide_unauthorized = true
        [tools.delete_repo]
        scopes = ["repo:admin"]
        roles = ["admin", "owner"]
        [tools.save_note]
        scopes = ["notes:write"]
        [tools.reset]
        roles = ["admin"]
    "#;

    fn user(roles: &[&str]) -> AuthUser {
        let mut token = mcp_auth_core::AccessToken::new("t").with_subject("user_1");
        token.claims = std::sync::Arc::new(
            json!({"sub": "user_1", "roles": roles}).as_object().cloned().unwrap_or_default(),
        );
        AuthUser::from_token(&token).expect("a user")
    }

    #[test]
    fn rules_need_every_scope_and_any_role() {
        let policy = ToolPolicy::from_toml(POLICY).unwrap();
        assert!(policy.is_active() && policy.has_roles());
        let admin = user(&["admin"]);
        let member = user(&["member"]);
        let scopes = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(policy.refusal("whoami", &[], Some(&member)), None);
        assert_eq!(
            policy.refusal("delete_repo", &[], Some(&admin)),
            Some(Refusal::Scopes(vec!["repo:admin".into()]))
        );
        assert_eq!(policy.refusal("delete_repo", &scopes(&["repo:admin"]), Some(&admin)), None);
        assert_eq!(
            policy.refusal("delete_repo", &scopes(&["repo:admin"]), Some(&member)),
            Some(Refusal::Roles(vec!["admin".into(), "owner".into()]))
        );
        assert_eq!(policy.refusal("reset", &[], None), Some(Refusal::Roles(vec!["admin".into()])));
        let scope_policy = policy.scope_policy(4096).unwrap();
        assert!(!scope_policy.is_empty());
    }

    #[test]
    fn tools_list_leaves_out_what_the_caller_cannot_call() {
        let policy = ToolPolicy::from_toml(POLICY).unwrap();
        let mut result = json!({"tools": [{"name": "whoami"}, {"name": "delete_repo"}, {"name": "save_note"}, {"name": "reset"}, {"nameless": true}]});
        let removed =
            policy.filter_tools_list(&mut result, &["notes:write".to_owned()], Some(&user(&["member"])));
        assert_eq!(removed, 2);
        assert_eq!(result, json!({"tools": [{"name": "whoami"}, {"name": "save_note"}, {"nameless": true}]}));
        let mut not_a_list = json!({"tools": "nope"});
        assert_eq!(policy.filter_tools_list(&mut not_a_list, &[], None), 0);
    }

    #[test]
    fn malformed_policies_are_refused_with_the_reason() {
        for (text, expected) in [
            ("hide_unauthorised = true", "unknown field"),
            ("[tools.x]\nscope = [\"a\"]", "unknown field"),
            ("[tools.x]\nscopes = \"a\"", "invalid type"),
            ("[tools.x]\nscopes = [\"a b\"]", "scope"),
            ("[tools.x]\nroles = [\" \"]", "empty"),
            ("tools = 3", "invalid type"),
            ("=", ""),
        ] {
            let err = ToolPolicy::from_toml(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = ToolPolicy::from_file(Path::new("/nonexistent/policy.toml")).unwrap_err();
        assert!(err.contains("cannot read /nonexistent/policy.toml"), "{err}");
    }
}
