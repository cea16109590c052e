//! Parsing and checking OAuth scope lists, and scope hierarchies ([`ScopeHierarchy`], [`ScopeCheck`]).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

mod hierarchy;

pub use hierarchy::{ScopeCheck, ScopeHierarchy, ScopeImplications};

/// Parses a scope list written as a space- or comma-separated string or as a JSON array of strings.
///
/// Empty items are dropped and duplicates removed, keeping the first occurrence's position.
///
/// # Errors
///
/// Returns a message when the text starts like a JSON array (`[`) but is not an array of strings.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::scope::parse_scope_list;
///
/// assert_eq!(parse_scope_list("openid profile").unwrap(), ["openid", "profile"]);
/// assert_eq!(parse_scope_list("openid, email,,email").unwrap(), ["openid", "email"]);
/// assert_eq!(parse_scope_list(r#"["read", "write"]"#).unwrap(), ["read", "write"]);
/// assert!(parse_scope_list("[1, 2]").is_err());
/// ```
pub fn parse_scope_list(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim();
    let items: Vec<String> = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|err| format!("not a JSON array of strings: {err}"))?
    } else {
        trimmed.split(|c: char| c == ',' || c.is_whitespace()).map(str::to_owned).collect()
    };
    let mut scopes: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if !is_scope_token(item) {
            return Err(format!("{item:?} is not a valid scope token (RFC 6749 section 3.3)"));
        }
        if !scopes.iter().any(|s| s == item) {
            scopes.push(item.to_owned());
        }
    }
    Ok(scopes)
}

/// Parses a `scope` request parameter exactly as RFC 6749 §3.3 writes it: scope tokens separated by
/// single spaces, nothing else. Unlike [`parse_scope_list`] (for configuration, which also takes commas
/// and JSON), this refuses doubled, leading or trailing spaces, tabs and commas-as-separators, because
/// a wire value in another shape is a client bug to report, not to guess at. Duplicates are dropped,
/// keeping the first position. An empty string is an empty list.
///
/// # Errors
///
/// A message naming the first problem, fit for an `invalid_scope` error description.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::scope::parse_scope_param;
///
/// assert_eq!(parse_scope_param("openid mcp:tools openid").unwrap(), ["openid", "mcp:tools"]);
/// assert!(parse_scope_param("").unwrap().is_empty());
/// assert!(parse_scope_param("openid  profile").is_err());
/// assert!(parse_scope_param("a,b").is_ok(), "a comma is a legal scope character");
/// assert!(parse_scope_param("quote\"").is_err());
/// ```
pub fn parse_scope_param(param: &str) -> Result<Vec<String>, String> {
    if param.is_empty() {
        return Ok(Vec::new());
    }
    let mut scopes: Vec<String> = Vec::new();
    for token in param.split(' ') {
        if token.is_empty() {
            return Err("scopes must be separated by single spaces".to_owned());
        }
        if !is_scope_token(token) {
            return Err(format!("{token:?} is not a valid scope token (RFC 6749 section 3.3)"));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

/// Whether `scope` is a valid RFC 6749 §3.3 scope token: printable ASCII without space, `"` or `\`.
#[must_use]
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Joins scopes with single spaces, the form used in `scope` parameters and claims.
#[must_use]
pub fn join_scopes<S: AsRef<str>>(scopes: &[S]) -> String {
    let mut out = String::new();
    for scope in scopes {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(scope.as_ref());
    }
    out
}

/// The scopes of `required` that are missing from `granted`, compared exactly ([`ScopeCheck`] also
/// follows a scope hierarchy).
///
/// # Examples
///
/// ```
/// use mcp_auth_core::scope::missing_scopes;
///
/// let granted = vec!["read".to_owned()];
/// assert_eq!(missing_scopes(&["read", "write"], &granted), ["write"]);
/// ```
#[must_use]
pub fn missing_scopes<'a, S: AsRef<str>>(required: &'a [S], granted: &[String]) -> Vec<&'a str> {
    required.iter().map(AsRef::as_ref).filter(|needed| !granted.iter().any(|have| have == needed)).collect()
}

/// Deserializes a scope list from either a space-separated string or an array of strings.
///
/// Use with `#[serde(deserialize_with = "mcp_auth_core::scope::deserialize_scope_list")]`.
///
/// # Errors
///
/// Fails when the value is neither a string nor an array of strings.
pub fn deserialize_scope_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct ScopeListVisitor;

    impl<'de> Visitor<'de> for ScopeListVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a space-separated scope string or an array of scope strings")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(value.split_whitespace().map(str::to_owned).collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_any(ScopeListVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_written_form() {
        assert_eq!(parse_scope_list("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_scope_list("  a  b\tc ").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_scope_list("a,b , c").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_scope_list(r#"["a","b","a"]"#).unwrap(), ["a", "b"]);
    }

    #[test]
    fn refuses_invalid_scope_tokens() {
        assert!(parse_scope_list(r#"["a b"]"#).is_err());
        assert!(parse_scope_list(r#"["quote\""]"#).is_err());
        assert!(parse_scope_list("[not json").is_err());
    }

    #[test]
    fn scope_params_are_strict() {
        assert_eq!(parse_scope_param("a b a").unwrap(), ["a", "b"]);
        for bad in [" a", "a ", "a  b", "a\tb", "a\"b", "a\\b", "é"] {
            assert!(parse_scope_param(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn joins_and_diffs() {
        assert_eq!(join_scopes(&["a", "b"]), "a b");
        let granted = vec!["a".to_owned()];
        assert!(missing_scopes(&["a"], &granted).is_empty());
    }
}

/// Property tests (issue 16): scope lists parse to sets of valid tokens that write back as they were
/// read, and the exact check is set difference, so granting more never leaves more missing.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Scope tokens from a small alphabet (so lists repeat), with the characters RFC 6749 allows
    /// beyond letters.
    fn token() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "mcp:read", "mcp:write", "x,y", "[z]", "~!#$%&'()*+-./"])
            .prop_map(str::to_owned)
    }

    fn tokens() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(token(), 0..6)
    }

    fn dedup(list: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in list {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_joined_list_parses_back_to_its_set_in_order(list in tokens()) {
            let joined = join_scopes(&list);
            let parsed = parse_scope_param(&joined).unwrap();
            prop_assert_eq!(&parsed, &dedup(&list));
            prop_assert!(parsed.iter().all(|scope| is_scope_token(scope)));
            prop_assert_eq!(parse_scope_param(&join_scopes(&parsed)).unwrap(), parsed);
        }

        #[test]
        fn a_parameter_with_any_separator_but_one_space_is_refused(list in prop::collection::vec(token(), 2..5),
                                                                  separator in prop::sample::select(vec!["  ", "\t", "\n", " \t"])) {
            let joined = list.join(" ");
            let (leading, trailing) = (format!(" {joined}"), format!("{joined} "));
            prop_assert!(parse_scope_param(&list.join(separator)).is_err());
            prop_assert!(parse_scope_param(&leading).is_err());
            prop_assert!(parse_scope_param(&trailing).is_err());
        }

        #[test]
        fn missing_is_set_difference_in_required_order(required in tokens(), granted in tokens()) {
            let missing = missing_scopes(&required, &granted);
            let expected: Vec<&str> =
                required.iter().map(String::as_str).filter(|r| !granted.iter().any(|g| g == r)).collect();
            prop_assert_eq!(&missing, &expected);
            prop_assert_eq!(ScopeCheck::exact().missing(&required, &granted), missing);
        }

        #[test]
        fn granting_more_never_leaves_more_missing(required in tokens(), first in tokens(), second in tokens()) {
            let union: Vec<String> = first.iter().chain(&second).cloned().collect();
            let from_union = missing_scopes(&required, &union);
            let from_first = missing_scopes(&required, &first);
            let from_second = missing_scopes(&required, &second);
            // Missing from the union is exactly what is missing from both.
            let both: Vec<&str> = from_first.iter().copied().filter(|s| from_second.contains(s)).collect();
            prop_assert_eq!(&from_union, &both);
            prop_assert!(from_union.iter().all(|s| from_first.contains(s)));
            // A grant that holds every required scope leaves nothing missing.
            prop_assert!(missing_scopes(&required, &required).is_empty());
        }
    }
}
