//! Redirect URI allow-list patterns, for an operator who limits which redirect URIs clients may
//! register (the OAuth proxy's `allowed_client_redirect_uris`).
//!
//! A pattern is a URI with four kinds of wildcard, and nothing else is ever a wildcard:
//! - the scheme is exact (`https`, `http`, `com.example.app`);
//! - the host is exact, or `*.example.com` for any subdomain of `example.com` at any depth (never
//!   `example.com` itself, never an IP address, and the suffix needs at least two labels);
//! - the port is exact, absent (the scheme's default only), or `*` (any port);
//! - in the path, `*` matches any run of characters within one segment and a `**` segment matches any
//!   number of whole segments (zero included);
//! - a query, if the pattern has one, must match exactly; a pattern without one admits no query.
//!
//! Matching runs on URIs that already passed [`RedirectUri::parse`], so no pattern ever admits user
//! information, a fragment, a backslash trick or a dot segment, and hosts are compared after WHATWG
//! normalisation (lower case, IDNA), label by label.

use std::fmt;

use url::{Host, Url};

use super::{FORBIDDEN_SCHEMES, RedirectUri, has_dot_segment};

/// Why an allow-list pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirect URI pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pattern: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// Any host ending in `.` + this suffix.
    Subdomains(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Default,
    Exact(u16),
    Any,
}

/// One allow-list pattern. The syntax has exactly four wildcards: the host `*.example.com` (any
/// subdomain at any depth, never the apex, never an IP, at least two labels after `*.`), the port `*`,
/// `*` within one path segment and a whole `**` segment (any number of segments). The scheme is exact,
/// a query must match exactly (no query in the pattern admits none), a loopback pattern without a path
/// (`http://127.0.0.1:*`) admits any path of its origin (other patterns without a path admit `/`), and
/// patterns only ever match URIs
/// that passed [`RedirectUri::parse`], so none admits user information, another scheme or another host.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::{RedirectPattern, RedirectUri};
///
/// let pattern = RedirectPattern::parse("https://*.example.com:*/oauth/*/callback").unwrap();
/// let ok = RedirectUri::parse("https://app.eu.example.com:8443/oauth/v2/callback").unwrap();
/// assert!(pattern.matches(&ok));
/// for no in [
///     "https://example.com/oauth/v2/callback",
///     "https://evil.com/.example.com/oauth/v2/callback",
///     "https://app.example.com.evil.com/oauth/v2/callback",
///     "http://app.example.com/oauth/v2/callback",
///     "https://app.example.com/oauth/v2/x/callback",
/// ] {
///     assert!(!pattern.matches(&RedirectUri::parse(no).unwrap()), "{no}");
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedirectPattern {
    raw: String,
    scheme: String,
    host: Option<HostPattern>,
    port: PortPattern,
    path: String,
    query: Option<String>,
}

impl fmt::Debug for RedirectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedirectPattern").field(&self.raw).finish()
    }
}

impl RedirectPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    ///
    /// [`PatternError`] for anything outside the syntax: wildcards elsewhere, user information,
    /// fragments, backslashes, dot segments, a forbidden scheme, a wildcard over a top-level domain.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let refuse = |reason: &str| PatternError { pattern: pattern.to_owned(), reason: reason.to_owned() };
        if pattern.bytes().any(|b| b.is_ascii_control() || matches!(b, b' ' | b'\\' | b'#' | b'@')) {
            return Err(refuse("must not contain spaces, control characters, \\, # or @"));
        }
        let (scheme, rest) = pattern.split_once(':').ok_or_else(|| refuse("has no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            || FORBIDDEN_SCHEMES.contains(&scheme.as_str())
        {
            return Err(refuse("has an invalid or forbidden scheme"));
        }
        let (authority, rest) = match rest.strip_prefix("//") {
            Some(after) => {
                let end = after.find(['/', '?']).unwrap_or(after.len());
                (Some(&after[..end]), &after[end..])
            }
            None => (None, rest),
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (rest, None),
        };
        if query.as_deref().is_some_and(|q| q.contains('*')) {
            return Err(refuse("a query is matched exactly; it cannot hold a wildcard"));
        }
        if has_dot_segment(path) {
            return Err(refuse("has a dot segment in its path"));
        }
        if path.split('/').any(|segment| segment.contains("**") && segment != "**") {
            return Err(refuse("** must be a whole path segment"));
        }
        let (host, port) = match authority {
            None if matches!(scheme.as_str(), "http" | "https") => {
                return Err(refuse("an http(s) pattern needs a host"));
            }
            None => (None, PortPattern::Default),
            Some(authority) => {
                let (host, port) = split_port(authority).map_err(&refuse)?;
                (Some(parse_host(&scheme, host).map_err(|reason| refuse(&reason))?), port)
            }
        };
        if authority.is_some() && !path.is_empty() && !path.starts_with('/') {
            return Err(refuse("the path must start with /"));
        }
        // A loopback pattern that names no path (`http://localhost:*`, as native clients pick their own
        // callback path) admits every path of that origin; any other pattern without a path admits `/`.
        let loopback = authority
            .and_then(|a| split_port(a).ok())
            .and_then(|(host, _)| url::Host::parse(host).ok())
            .is_some_and(|host| mcp_auth_core::loopback::is_loopback_host(&host));
        let path = match (authority.is_some() && path.is_empty(), loopback) {
            (true, true) => "/**".to_owned(),
            (true, false) => "/".to_owned(),
            (false, _) => path.to_owned(),
        };
        Ok(Self { raw: pattern.to_owned(), scheme, host, port, path, query })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether `uri` is admitted by this pattern.
    #[must_use]
    pub fn matches(&self, uri: &RedirectUri) -> bool {
        let url = uri.url();
        url.scheme() == self.scheme
            && self.host_matches(url)
            && self.port_matches(url)
            && glob_path(&self.path, url.path())
            && url.query() == self.query.as_deref()
    }

    fn host_matches(&self, url: &Url) -> bool {
        match (&self.host, url.host()) {
            (None, None) => true,
            (Some(HostPattern::Exact(expected)), Some(host)) => host.to_string() == *expected,
            (Some(HostPattern::Subdomains(suffix)), Some(Host::Domain(domain))) => {
                let domain = domain.strip_suffix('.').unwrap_or(domain);
                domain
                    .strip_suffix(suffix.as_str())
                    .and_then(|prefix| prefix.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty())
            }
            _ => false,
        }
    }

    fn port_matches(&self, url: &Url) -> bool {
        match self.port {
            PortPattern::Any => true,
            PortPattern::Default => url.port().is_none(),
            PortPattern::Exact(port) => url.port_or_known_default() == Some(port),
        }
    }
}

fn split_port(authority: &str) -> Result<(&str, PortPattern), &'static str> {
    // An IPv6 literal has colons of its own: the port comes after the closing bracket.
    let port_at = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].find(':').map(|at| bracket + at),
        None => authority.rfind(':'),
    };
    let Some(at) = port_at else { return Ok((authority, PortPattern::Default)) };
    let (host, port) = (&authority[..at], &authority[at + 1..]);
    let port = match port {
        "*" => PortPattern::Any,
        digits => PortPattern::Exact(digits.parse().map_err(|_| "the port must be a number or *")?),
    };
    Ok((host, port))
}

fn parse_host(scheme: &str, host: &str) -> Result<HostPattern, String> {
    let normalize = |host: &str| -> Result<String, String> {
        let url =
            Url::parse(&format!("https://{host}/")).map_err(|e| format!("the host is invalid ({e})"))?;
        url.host().map(|h| h.to_string()).ok_or_else(|| "the host is empty".to_owned())
    };
    if host.contains('*') {
        let suffix = host
            .strip_prefix("*.")
            .filter(|suffix| !suffix.contains('*'))
            .ok_or("a host wildcard must be a leading *. label, as in *.example.com")?;
        let suffix = normalize(suffix)?;
        if suffix.parse::<std::net::IpAddr>().is_ok() || suffix.starts_with('[') {
            return Err("an IP address cannot take a host wildcard".to_owned());
        }
        if !suffix.contains('.') {
            return Err("a host wildcard needs at least two labels after *. (not *.com)".to_owned());
        }
        return Ok(HostPattern::Subdomains(suffix));
    }
    if host.is_empty() {
        return Err(format!("a {scheme} pattern needs a host"));
    }
    Ok(HostPattern::Exact(normalize(host)?))
}

/// Glob-matches a path: `*` within a segment, `**` as a whole segment.
fn glob_path(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    glob_segments(&pattern, &path)
}

/// Whether the path segments match the pattern's, `**` standing for any number of segments. Worked
/// segment by segment over the set of path positions reachable so far, so the time is the product of the
/// two lengths however many `**` the pattern has (trying every split recursively took time to the power of
/// their number: four `**` against a presented URI of a thousand segments would not finish).
fn glob_segments(pattern: &[&str], path: &[&str]) -> bool {
    // reachable[j]: the pattern segments seen so far match the first j path segments.
    let mut reachable = vec![false; path.len() + 1];
    reachable[0] = true;
    for segment in pattern {
        let mut next = vec![false; path.len() + 1];
        if *segment == "**" {
            let mut any = false;
            for (j, slot) in next.iter_mut().enumerate() {
                any |= reachable[j];
                *slot = any;
            }
        } else {
            for (j, text) in path.iter().enumerate() {
                next[j + 1] = reachable[j] && glob_segment(segment, text);
            }
        }
        reachable = next;
    }
    reachable[path.len()]
}

/// `*` matches any run of characters (within one segment).
fn glob_segment(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return text.is_empty() };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// An operator's list of [`RedirectPattern`]s: a redirect URI is allowed when any pattern matches it.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::{RedirectAllowList, RedirectUri};
///
/// let list = RedirectAllowList::parse(["http://127.0.0.1:*/callback", "https://*.claude.ai/**"]).unwrap();
/// assert!(list.permits(&RedirectUri::parse("http://127.0.0.1:33418/callback").unwrap()));
/// assert!(list.permits(&RedirectUri::parse("https://app.claude.ai/api/mcp/auth_callback").unwrap()));
/// assert!(!list.permits(&RedirectUri::parse("https://evil.example/cb").unwrap()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectAllowList {
    patterns: Vec<RedirectPattern>,
}

impl RedirectAllowList {
    /// Parses every pattern.
    ///
    /// # Errors
    ///
    /// The first [`PatternError`].
    pub fn parse<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| RedirectPattern::parse(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether any pattern admits `uri`.
    #[must_use]
    pub fn permits(&self, uri: &RedirectUri) -> bool {
        self.patterns.iter().any(|pattern| pattern.matches(uri))
    }

    /// The patterns.
    #[must_use]
    pub fn patterns(&self) -> &[RedirectPattern] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admits(pattern: &str, uri: &str) -> bool {
        RedirectPattern::parse(pattern).unwrap().matches(&RedirectUri::parse(uri).unwrap())
    }

    /// The recursive matcher `glob_segments` replaced, as the reference on short inputs.
    fn recursive(pattern: &[&str], path: &[&str]) -> bool {
        match pattern.split_first() {
            None => path.is_empty(),
            Some((&"**", rest)) => (0..=path.len()).any(|skip| recursive(rest, &path[skip..])),
            Some((first, rest)) => path
                .split_first()
                .is_some_and(|(segment, tail)| glob_segment(first, segment) && recursive(rest, tail)),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5_000, failure_persistence: None, ..Default::default() })]

        #[test]
        fn the_segment_matcher_agrees_with_the_recursive_one(
            pattern in proptest::collection::vec(proptest::sample::select(vec!["**", "a", "*", "a*", "*b", "b", ""]), 0..7),
            path in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "ab", "ba", ""]), 0..7),
        ) {
            proptest::prop_assert_eq!(glob_segments(&pattern, &path), recursive(&pattern, &path));
        }
    }

    /// Found while fuzzing (issue 16): matching tried every split of the path for each `**`, so a
    /// pattern with several of them and a long presented URI (the client chooses it) took time to the
    /// power of their number. These finish at once now; before, the first would not finish.
    #[test]
    fn many_double_stars_against_a_long_path_answer() {
        let long = format!("https://example.com{}", "/a".repeat(1000));
        assert!(!admits("https://example.com/**/**/**/**/x", &format!("{long}/y")));
        assert!(admits("https://example.com/**/**/**/**/x", &format!("{long}/x")));
        assert!(admits("https://example.com/**/a/**/a/**/a/**", &long));
        assert!(!admits("https://example.com/**/b/**/**", &long));
    }

    #[test]
    fn only_loopback_patterns_without_a_path_admit_every_path() {
        for pattern in ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"] {
            let host = pattern.trim_start_matches("http://").trim_end_matches(":*");
            assert!(admits(pattern, &format!("http://{host}:5173/callback")), "{pattern}");
            assert!(admits(pattern, &format!("http://{host}:80/")), "{pattern}");
            assert!(!admits(pattern, &format!("http://{host}:80/cb?x=1")), "a query still matches exactly");
        }
        assert!(admits("https://app.example.com", "https://app.example.com/"));
        assert!(!admits("https://app.example.com", "https://app.example.com/redirect"), "not widened");
        assert!(!admits("http://127.0.0.1:*", "http://127.0.0.2.example.com:80/cb"));
    }

    #[test]
    fn hosts() {
        assert!(admits("https://app.example.com/cb", "https://app.example.com/cb"));
        assert!(admits("https://APP.Example.com/cb", "https://app.example.com/cb"));
        assert!(!admits("https://app.example.com/cb", "https://app.example.com.evil/cb"));
        assert!(admits("https://*.example.com/cb", "https://a.example.com/cb"));
        assert!(admits("https://*.example.com/cb", "https://a.b.example.com/cb"));
        assert!(admits("https://*.example.com/cb", "https://a.example.com./cb"));
        for no in [
            "https://example.com/cb",
            "https://aexample.com/cb",
            "https://a.example.com.evil.com/cb",
            "https://a.example.org/cb",
            "https://127.0.0.1/cb",
        ] {
            assert!(!admits("https://*.example.com/cb", no), "{no}");
        }
        assert!(admits("https://*.bücher.example/cb", "https://a.xn--bcher-kva.example/cb"), "IDNA");
        assert!(admits("http://[::1]:*/cb", "http://[::1]:4000/cb"));
        assert!(!admits("http://[::1]:*/cb", "http://127.0.0.1:4000/cb"));
    }

    #[test]
    fn ports() {
        assert!(admits("https://a.example/cb", "https://a.example/cb"));
        assert!(admits("https://a.example/cb", "https://a.example:443/cb"), "443 is https's default");
        assert!(!admits("https://a.example/cb", "https://a.example:8443/cb"));
        assert!(admits("https://a.example:8443/cb", "https://a.example:8443/cb"));
        assert!(admits("http://127.0.0.1:*/cb", "http://127.0.0.1:1/cb"));
        assert!(admits("http://127.0.0.1:*/cb", "http://127.0.0.1/cb"));
    }

    #[test]
    fn paths_and_queries() {
        assert!(admits("https://a.example/cb/*", "https://a.example/cb/x"));
        assert!(!admits("https://a.example/cb/*", "https://a.example/cb/x/y"));
        assert!(admits("https://a.example/cb/*", "https://a.example/cb/"), "* may be empty");
        assert!(admits("https://a.example/**", "https://a.example/"));
        assert!(admits("https://a.example/**", "https://a.example/x/y/z"));
        assert!(admits("https://a.example/a/**/z", "https://a.example/a/z"));
        assert!(admits("https://a.example/a/**/z", "https://a.example/a/b/c/z"));
        assert!(!admits("https://a.example/a/**/z", "https://a.example/a/b/c/zz"));
        assert!(admits("https://a.example/v*-cb", "https://a.example/v2-cb"));
        assert!(!admits("https://a.example/v*-cb", "https://a.example/v2-cbx"));
        assert!(admits("https://a.example", "https://a.example/"));
        assert!(!admits("https://a.example/cb", "https://a.example/cb?x=1"), "no query in the pattern");
        assert!(admits("https://a.example/cb?x=1", "https://a.example/cb?x=1"));
        assert!(!admits("https://a.example/cb?x=1", "https://a.example/cb?x=2"));
    }

    #[test]
    fn private_use_schemes() {
        assert!(admits("com.example.app:/oauth/*", "com.example.app:/oauth/cb"));
        assert!(!admits("com.example.app:/oauth/*", "com.evil.app:/oauth/cb"));
        assert!(!admits("com.example.app:/oauth/*", "https://com.example.app/oauth/cb"));
    }

    #[test]
    fn refused_patterns() {
        for bad in [
            "",
            "no-scheme",
            "javascript:*",
            "https://*/cb",
            "https://*.com/cb",
            "https://a.*.example.com/cb",
            "https://*example.com/cb",
            "https://*.127.0.0.1/cb",
            "https://user@a.example/cb",
            "https://a.example/cb#x",
            "https://a.example\\cb",
            "https://a.example/../cb",
            "https://a.example/%2e%2e/cb",
            "https://a.example/cb?x=*",
            "https://a.example:abc/cb",
            "https://a.example/a**b",
            "https:cb",
            "https:///cb",
        ] {
            assert!(RedirectPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn never_userinfo_other_scheme_or_host() {
        let patterns = ["https://*.example.com:*/**", "http://127.0.0.1:*/**", "com.example.app:/**"];
        let hostile = [
            "https://a.example.com@evil.com/",
            "https://evil.com#.example.com/",
            "https://evil.com\\.example.com/",
            "http://evil.com/.example.com/",
            "https://evil.com?.example.com",
            "https://example.com.evil.com/",
            "http://127.0.0.1.evil.com/",
            "http://127.0.0.2/",
            "com.example.app.evil:/x",
        ];
        for pattern in patterns {
            let pattern = RedirectPattern::parse(pattern).unwrap();
            for uri in hostile {
                if let Ok(uri) = RedirectUri::parse(uri) {
                    assert!(!pattern.matches(&uri), "{pattern:?} admitted {uri:?}");
                }
            }
        }
    }
}
