//! Reading the freshness a response grants from its `Cache-Control` header: the one parser the JWKS
//! cache, the AuthKit metadata forwarder and the client-metadata fetcher share.
//!
//! Rules (RFC 9111 §5.2 as it applies to a private cache):
//! - `no-store` or `no-cache` anywhere, in any header line, means nothing may be reused: zero.
//! - Otherwise the first `max-age` with a valid non-negative integer (quoted or not) wins; §4.2.1 lets a
//!   cache use the first of several. Later ones are ignored, whichever header line they are on.
//! - A `max-age` whose value is not a number is ignored, as if absent, so the caller's default applies.
//! - Directive names compare case-insensitively; `s-maxage` is for shared caches and is ignored.

use std::time::Duration;

/// The freshness granted by the `Cache-Control` header lines in `values`, or `None` when they grant
/// none explicitly (the caller applies its default).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_core::cache_control::max_age;
///
/// assert_eq!(max_age(["public, max-age=600"]), Some(Duration::from_secs(600)));
/// assert_eq!(max_age(["max-age=60", "max-age=5"]), Some(Duration::from_secs(60)));
/// assert_eq!(max_age(["max-age=600, no-cache"]), Some(Duration::ZERO));
/// assert_eq!(max_age(["private"]), None);
/// assert_eq!(max_age::<[&str; 0]>([]), None);
/// ```
#[must_use]
pub fn max_age<'a, I>(values: I) -> Option<Duration>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut first = None;
    for directive in values.into_iter().flat_map(|value| value.split(',')) {
        let directive = directive.trim();
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if first.is_none() && name.eq_ignore_ascii_case("max-age") {
            first = argument
                .map(|argument| {
                    argument.strip_prefix('"').and_then(|a| a.strip_suffix('"')).unwrap_or(argument)
                })
                .and_then(|seconds| seconds.parse::<u64>().ok())
                .map(Duration::from_secs);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn reads_the_first_valid_max_age() {
        assert_eq!(max_age(["max-age=600"]), secs(600));
        assert_eq!(max_age(["Public, MAX-AGE = 600"]), secs(600));
        assert_eq!(max_age(["max-age=\"60\""]), secs(60));
        assert_eq!(max_age(["max-age=60, max-age=5"]), secs(60), "the first of several");
        assert_eq!(max_age(["max-age=60", "max-age=5"]), secs(60), "across header lines");
        assert_eq!(max_age(["max-age=banana, max-age=30"]), secs(30), "an invalid one is skipped");
        assert_eq!(max_age(["s-maxage=600"]), None);
        assert_eq!(max_age(["max-age=-1"]), None);
        assert_eq!(max_age(["max-age="]), None);
        assert_eq!(max_age(["max-age"]), None);
        assert_eq!(max_age([""]), None);
        assert_eq!(max_age(["max-age=99999999999999999999999"]), None, "overflow is not a number");
    }

    #[test]
    fn no_store_and_no_cache_win_anywhere() {
        assert_eq!(max_age(["no-store"]), secs(0));
        assert_eq!(max_age(["max-age=600", "No-Cache"]), secs(0));
        assert_eq!(max_age(["no-cache=\"set-cookie\""]), secs(0));
    }
}
