//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1) and OAuth-style JSON error bodies.

use std::fmt::Write;

use crate::scope::join_scopes;

/// An RFC 6750 bearer challenge, rendered for the `WWW-Authenticate` header.
///
/// Parameter values are written as quoted strings; characters a quoted string may not carry are
/// replaced, so a challenge can never break the header.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::challenge::BearerChallenge;
///
/// let header = BearerChallenge::new()
///     .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
///     .scope(&["mcp:tools"])
///     .to_string();
/// assert_eq!(
///     header,
///     r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools""#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct BearerChallenge {
    error: Option<&'static str>,
    error_description: Option<String>,
    resource_metadata: Option<String>,
    scope: Option<String>,
}

impl BearerChallenge {
    /// A challenge with no parameters: the answer to a request that carried no token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `error` code (`invalid_request`, `invalid_token` or `insufficient_scope`).
    pub fn error(mut self, code: &'static str) -> Self {
        self.error = Some(code);
        self
    }

    /// Sets the human-readable `error_description`.
    pub fn error_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description.into());
        self
    }

    /// Sets the RFC 9728 `resource_metadata` URL.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Sets the `scope` parameter; an empty list leaves it out.
    pub fn scope<S: AsRef<str>>(mut self, scopes: &[S]) -> Self {
        self.scope = (!scopes.is_empty()).then(|| join_scopes(scopes));
        self
    }
}

impl std::fmt::Display for BearerChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer")?;
        let params = [
            ("error", self.error),
            ("error_description", self.error_description.as_deref()),
            ("resource_metadata", self.resource_metadata.as_deref()),
            ("scope", self.scope.as_deref()),
        ];
        let mut separator = " ";
        for (name, value) in params {
            let Some(value) = value else { continue };
            write!(f, "{separator}{name}=\"")?;
            write_quoted_string_safe(f, value)?;
            f.write_str("\"")?;
            separator = ", ";
        }
        Ok(())
    }
}

/// Replaces every character RFC 6750 §3 does not allow in a quoted parameter value
/// (`%x20-21 / %x23-5B / %x5D-7E`) with `'`, so the header stays well-formed.
#[must_use]
pub fn quoted_string_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    // Writing to a `String` cannot fail.
    let _ = write_quoted_string_safe(&mut out, value);
    out
}

/// [`quoted_string_safe`] written straight into `out`. Every refusal's challenge passes through here, so
/// a value that needs no replacing (the usual case) is checked with a branch-free loop over its bytes and
/// written whole, without a copy.
fn write_quoted_string_safe(out: &mut impl Write, value: &str) -> std::fmt::Result {
    if value.bytes().fold(true, |ok, b| ok & is_quoted_string_byte(b)) {
        return out.write_str(value);
    }
    for c in value.chars() {
        out.write_char(if c.is_ascii() && is_quoted_string_byte(c as u8) { c } else { '\'' })?;
    }
    Ok(())
}

fn is_quoted_string_byte(b: u8) -> bool {
    (b == b' ') | (b == b'!') | (b'#'..=b'[').contains(&b) | (b']'..=b'~').contains(&b)
}

/// The JSON body of an OAuth error: `{"error": ..., "error_description": ...}` (RFC 6749 §5.2).
#[must_use]
pub fn oauth_error_body(error: &str, description: &str) -> String {
    let mut body = String::with_capacity(48 + description.len());
    // serde_json cannot fail on two strings; write by hand to skip an allocation of a Value.
    let _ = write!(
        body,
        r#"{{"error":{},"error_description":{}}}"#,
        serde_json::Value::String(error.to_owned()),
        serde_json::Value::String(description.to_owned())
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_replaces_exactly_the_characters_rfc_6750_forbids() {
        // Every byte: the fast check and the character loop must agree with the grammar.
        for b in 0u8..=0x7f {
            let c = char::from(b);
            let allowed = matches!(c, ' ' | '!' | '#'..='[' | ']'..='~');
            let expected = if allowed { c.to_string() } else { "'".to_owned() };
            assert_eq!(quoted_string_safe(&c.to_string()), expected, "{b:#04x}");
            assert_eq!(quoted_string_safe(&format!("ok {c} ok")), format!("ok {expected} ok"), "{b:#04x}");
        }
        assert_eq!(quoted_string_safe("caf\u{e9} \u{1F600}\"x\\"), "caf' ''x'");
        assert_eq!(quoted_string_safe(""), "");
    }

    #[test]
    fn renders_error_challenges_in_order() {
        let header = BearerChallenge::new()
            .error("insufficient_scope")
            .error_description("needs write")
            .resource_metadata("https://x/.well-known/oauth-protected-resource")
            .scope(&["read", "write"])
            .to_string();
        assert_eq!(
            header,
            r#"Bearer error="insufficient_scope", error_description="needs write", resource_metadata="https://x/.well-known/oauth-protected-resource", scope="read write""#
        );
        assert_eq!(BearerChallenge::new().to_string(), "Bearer");
        assert_eq!(BearerChallenge::new().scope::<&str>(&[]).to_string(), "Bearer");
    }

    #[test]
    fn hostile_values_cannot_break_the_header() {
        let header = BearerChallenge::new().error_description("a\"b\\c\r\nd\u{7f}é").to_string();
        assert_eq!(header, r#"Bearer error_description="a'b'c''d''""#);
        assert!(http_header_ok(&header));
    }

    fn http_header_ok(value: &str) -> bool {
        value.bytes().all(|b| (0x20..0x7f).contains(&b))
    }

    #[test]
    fn error_body_is_json() {
        let body = oauth_error_body("invalid_token", "quote \" inside");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["error"], "invalid_token");
        assert_eq!(parsed["error_description"], "quote \" inside");
    }
}
