//! Matching resource URIs against the RFC 6570 templates a server publishes as resource templates.

use std::fmt;

/// A resource template, as MCP servers publish them (`file:///orders/{id}`), read for matching.
///
/// Two kinds of expression are understood: `{name}` (RFC 6570 simple expansion: one or more characters,
/// none of them `/`, `?` or `#`) and `{+name}` (reserved expansion: one or more characters, `/` included).
/// Any other operator (`{#x}`, `{/x}`, `{?x}`, …) or an explode or prefix modifier is refused when the
/// policy is built, rather than matched loosely.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct UriTemplate {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `{name}`: a run without `/`, `?` or `#`.
    Segment,
    /// `{+name}`: any non-empty run.
    Reserved,
}

impl fmt::Debug for UriTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl UriTemplate {
    /// Parses `source`; the error says what is wrong with it.
    pub(crate) fn parse(source: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
                Some(at) if rest.as_bytes()[at] == b'}' => {
                    return Err("a '}' closes no expression".to_owned());
                }
                Some(at) => {
                    if at > 0 {
                        parts.push(Part::Literal(rest[..at].to_owned()));
                    }
                    let after = &rest[at + 1..];
                    let end = after.find('}').ok_or("an expression is not closed with '}'")?;
                    let expression = &after[..end];
                    parts.push(expression_part(expression)?);
                    rest = &after[end + 1..];
                }
            }
        }
        if parts
            .windows(2)
            .any(|pair| !matches!(pair[0], Part::Literal(_)) && !matches!(pair[1], Part::Literal(_)))
        {
            return Err("two expressions in a row cannot be told apart".to_owned());
        }
        if parts.is_empty() {
            return Err("the template is empty".to_owned());
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    /// The template as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `uri` is an expansion of this template.
    pub(crate) fn matches(&self, uri: &str) -> bool {
        matches_from(&self.parts, uri)
    }
}

fn expression_part(expression: &str) -> Result<Part, String> {
    let (part, name) = match expression.strip_prefix('+') {
        Some(name) => (Part::Reserved, name),
        None => (Part::Segment, expression),
    };
    let valid_name = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'%');
    if valid_name {
        Ok(part)
    } else {
        Err(format!(
            "{{{expression}}} is not supported: use {{name}} for one path segment or {{+name}} for several"
        ))
    }
}

/// Runs the template over `uri` as an automaton over byte positions: linear in the URI's length per part,
/// whatever the template and the URI (no backtracking to exploit).
fn matches_from(parts: &[Part], uri: &str) -> bool {
    let bytes = uri.as_bytes();
    let mut reached = vec![false; bytes.len() + 1];
    reached[0] = true;
    for part in parts {
        let mut next = vec![false; bytes.len() + 1];
        match part {
            Part::Literal(literal) => {
                for (at, _) in reached.iter().enumerate().filter(|(_, r)| **r) {
                    if bytes[at..].starts_with(literal.as_bytes()) {
                        next[at + literal.len()] = true;
                    }
                }
            }
            Part::Segment => {
                // A run may end after any byte that is not `/`, `?` or `#`, once one has started.
                let mut running = false;
                for (at, byte) in bytes.iter().enumerate() {
                    running |= reached[at];
                    if matches!(byte, b'/' | b'?' | b'#') {
                        running = false;
                    } else if running {
                        next[at + 1] = true;
                    }
                }
            }
            Part::Reserved => {
                if let Some(first) = reached.iter().position(|r| *r) {
                    next.iter_mut().skip(first + 1).for_each(|n| *n = true);
                }
            }
        }
        reached = next;
    }
    reached[bytes.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(source: &str) -> UriTemplate {
        UriTemplate::parse(source).unwrap()
    }

    #[test]
    fn simple_expressions_match_one_segment() {
        let orders = template("orders://{org}/orders/{id}");
        assert!(orders.matches("orders://acme/orders/42"));
        assert!(!orders.matches("orders://acme/orders/"), "an expression is never empty");
        assert!(!orders.matches("orders://acme/orders/42/items"));
        assert!(!orders.matches("orders://acme/x/orders/42"));
        assert!(!orders.matches("orders://acme/orders/42?all"));
        assert!(!orders.matches("other://acme/orders/42"));
    }

    #[test]
    fn reserved_expressions_span_segments() {
        let files = template("file:///{+path}");
        assert!(files.matches("file:///etc/passwd"));
        assert!(files.matches("file:///a"));
        assert!(!files.matches("file:///"));
        assert!(!files.matches("https://example.com/a"));
        let suffixed = template("docs://{+path}.md");
        assert!(suffixed.matches("docs://a/b.c.md"));
        assert!(!suffixed.matches("docs://a/b.txt"));
    }

    #[test]
    fn literal_templates_match_exactly() {
        let fixed = template("config://app");
        assert!(fixed.matches("config://app"));
        assert!(!fixed.matches("config://app2"));
        assert_eq!(fixed.as_str(), "config://app");
    }

    #[test]
    fn unsupported_or_broken_templates_are_refused() {
        for bad in ["", "a{", "a}", "{}", "{#x}", "{/x}", "{?x}", "{x*}", "{x:3}", "{a}{b}", "{a b}"] {
            assert!(UriTemplate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_uris_do_not_blow_up() {
        let many = template("x://{a}-{b}-{c}-{d}/end");
        let uri = format!("x://{}", "-".repeat(200_000));
        assert!(!many.matches(&uri), "a long run is decided at once, without backtracking");
        assert!(many.matches("x://a-b-c-d/end"));
        assert!(!template("x://{+a}").matches("x://"));
    }
}

/// Property tests (issue 16): the linear matcher agrees with a plain backtracking one on every small
/// template and URI.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The obvious matcher, exponential in the worst case: the reference.
    fn reference(parts: &[Part], uri: &str) -> bool {
        let Some((first, rest)) = parts.split_first() else { return uri.is_empty() };
        match first {
            Part::Literal(literal) => {
                uri.strip_prefix(literal.as_str()).is_some_and(|tail| reference(rest, tail))
            }
            Part::Segment | Part::Reserved => (1..=uri.len()).any(|end| {
                uri.is_char_boundary(end)
                    && (matches!(first, Part::Reserved) || !uri[..end].contains(['/', '?', '#']))
                    && reference(rest, &uri[end..])
            }),
        }
    }

    fn template_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "/", "-", "x/", "{v}", "{+v}", "é"]), 1..6)
            .prop_map(|pieces| pieces.concat())
    }

    fn uri_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "/", "-", "x", "?", "#", "é", "{"]), 0..10)
            .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_linear_matcher_agrees_with_backtracking(template in template_text(), uri in uri_text()) {
            if let Ok(parsed) = UriTemplate::parse(&template) {
                prop_assert_eq!(parsed.matches(&uri), reference(&parsed.parts, &uri), "{} vs {}", template, uri);
            }
        }
    }
}
