//! What counts as a loopback host: the one check every crate uses for "plain http is allowed here" and
//! "this address is this machine".
//!
//! A host is loopback when it is an IPv4 address in `127.0.0.0/8`, the IPv6 address `::1`, an IPv4-mapped
//! IPv6 form of a loopback IPv4 address (`::ffff:127.0.0.1`), the name `localhost`, or a name under
//! `.localhost` (RFC 6761 §6.3 reserves the whole domain for loopback), with or without the root's
//! trailing dot, in any letter case.

use std::net::IpAddr;

use url::{Host, Url};

/// Whether `ip` is a loopback address, IPv4-mapped IPv6 loopback addresses included.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::loopback::is_loopback_ip;
///
/// assert!(is_loopback_ip("127.0.0.1".parse().unwrap()));
/// assert!(is_loopback_ip("127.8.9.10".parse().unwrap()));
/// assert!(is_loopback_ip("::1".parse().unwrap()));
/// assert!(is_loopback_ip("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!is_loopback_ip("10.0.0.1".parse().unwrap()));
/// ```
#[must_use]
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Whether `host` is a loopback address or a `localhost` name.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::loopback::is_loopback_host;
/// use url::Host;
///
/// assert!(is_loopback_host(&Host::Domain("localhost")));
/// assert!(is_loopback_host(&Host::Domain("app.LOCALHOST.")));
/// assert!(!is_loopback_host(&Host::Domain("localhost.example.com")));
/// assert!(!is_loopback_host(&Host::Domain("notlocalhost")));
/// ```
#[must_use]
pub fn is_loopback_host<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Ipv4(ip) => is_loopback_ip(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_loopback_ip(IpAddr::V6(*ip)),
        Host::Domain(name) => {
            let name = name.as_ref();
            let name = name.strip_suffix('.').unwrap_or(name);
            let Some(start) = name.len().checked_sub("localhost".len()) else { return false };
            if !name.is_char_boundary(start) || !name[start..].eq_ignore_ascii_case("localhost") {
                return false;
            }
            // `localhost` itself, or a label boundary right before it (`app.localhost`).
            start == 0 || (name.as_bytes()[start - 1] == b'.' && start > 1)
        }
    }
}

/// Whether the host of `url` is loopback; a URL without a host is not.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::loopback::is_loopback_url;
/// use url::Url;
///
/// assert!(is_loopback_url(&Url::parse("http://127.0.0.1:8000/mcp").unwrap()));
/// assert!(is_loopback_url(&Url::parse("http://[::1]/cb").unwrap()));
/// assert!(is_loopback_url(&Url::parse("http://localhost/cb").unwrap()));
/// assert!(!is_loopback_url(&Url::parse("https://example.com/cb").unwrap()));
/// assert!(!is_loopback_url(&Url::parse("com.example.app:/cb").unwrap()));
/// ```
#[must_use]
pub fn is_loopback_url(url: &Url) -> bool {
    url.host().is_some_and(|host| is_loopback_host(&host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for yes in ["localhost", "LocalHost", "localhost.", "a.localhost", "a.b.localhost", "x.LOCALHOST."] {
            assert!(is_loopback_host(&Host::Domain(yes)), "{yes}");
        }
        for no in [
            "",
            ".",
            ".localhost",
            "localhost.example.com",
            "evil-localhost",
            "notlocalhost",
            "localhos",
            "example.com",
            "localhost..",
        ] {
            assert!(!is_loopback_host(&Host::Domain(no)), "{no}");
        }
    }

    #[test]
    fn urls() {
        for yes in [
            "http://127.0.0.1/",
            "http://127.255.255.254:1/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]/",
            "https://localhost/",
            "http://app.localhost:3000/cb",
        ] {
            assert!(is_loopback_url(&Url::parse(yes).unwrap()), "{yes}");
        }
        for no in [
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://[::ffff:10.0.0.1]/",
            "http://0.0.0.0/",
            "http://localhost.evil.example/",
            "file:///etc/passwd",
            "urn:x:y",
        ] {
            assert!(!is_loopback_url(&Url::parse(no).unwrap()), "{no}");
        }
    }
}
