//! The client id URL of a Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document §3:
//! `https`, a path, no fragment, no user information, no dot segments), and the operator's list of hosts
//! trusted to publish them (the MCP specification's "Trust Policies").
//!
//! URLs are parsed with the WHATWG parser (`url`) and must already be in its normal form: the string the
//! client sent is the string that parsing and serialising gives back. That one comparison refuses every
//! spelling the parser would rewrite — dot segments, plain or percent-encoded, backslashes, spaces and
//! control characters, upper-case host names, default ports, Unicode host names — so the client id the
//! document must repeat, the cache key and the URL fetched are one string.

use std::net::IpAddr;

use mcp_auth_core::loopback::is_loopback_host;
use url::{Host, Url};

use super::address::classify;

/// The longest client id URL accepted, in bytes.
pub(crate) const MAX_CLIENT_ID_URL_LEN: usize = 2048;

/// How much of a client id a message repeats.
const SHOWN_LEN: usize = 200;

/// Why a client id is not a usable metadata document URL. The reason completes the sentence
/// "the client_id ... ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlRefusal {
    /// It is not a metadata document URL at all (another kind of client id, or a malformed URL).
    Shape(String),
    /// It is one, on an IP address this server does not fetch from.
    Address(String),
}

impl UrlRefusal {
    pub(crate) fn reason(&self) -> &str {
        match self {
            Self::Shape(reason) | Self::Address(reason) => reason,
        }
    }
}

/// A client id that is a usable metadata document URL.
#[derive(Debug, Clone)]
pub(crate) struct ClientIdUrl {
    url: Url,
}

impl ClientIdUrl {
    /// Checks `raw` as a metadata document URL. `allow_loopback_http` is the development allowance:
    /// `http` on a loopback host, and loopback IP literals.
    ///
    /// The address check comes before the normal-form one, so an IP literal this server does not fetch
    /// from is always refused as such (`https://[::ffff:127.0.0.1]/` is loopback before it is abnormal).
    pub(crate) fn parse(raw: &str, allow_loopback_http: bool) -> Result<Self, UrlRefusal> {
        Self::check(raw, allow_loopback_http).map_err(|(address, reason)| {
            if address { UrlRefusal::Address(reason) } else { UrlRefusal::Shape(reason) }
        })
    }

    /// The checks; an error is (whether it is the address check, the reason).
    fn check(raw: &str, allow_loopback_http: bool) -> Result<Self, (bool, String)> {
        let shape = |reason: &str| (false, reason.to_owned());
        if raw.len() > MAX_CLIENT_ID_URL_LEN {
            return Err((false, format!("is longer than {MAX_CLIENT_ID_URL_LEN} bytes")));
        }
        let url = Url::parse(raw).map_err(|_| shape("is not a URL"))?;
        let host = url.host().ok_or_else(|| shape("has no host"))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_loopback_http && is_loopback_host(&host) => {}
            "http" if allow_loopback_http => {
                return Err(shape("uses plain http on a host that is not loopback; use https"));
            }
            _ => return Err(shape("does not use https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(shape("carries user information (user@host)"));
        }
        if url.fragment().is_some() {
            return Err(shape("has a fragment (#)"));
        }
        let ip = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = ip {
            let class = classify(ip);
            if !class.permitted(allow_loopback_http) {
                return Err((
                    true,
                    format!("is on {} address, which this server does not fetch from", class.describe()),
                ));
            }
        }
        if url.as_str() != raw {
            return Err((
                false,
                format!(
                    "is not in the URL standard's normal form (it reads as {}): dot segments, backslashes, \
                 spaces, upper-case host names and default ports are not allowed",
                    shown(url.as_str())
                ),
            ));
        }
        if url.path() == "/" {
            return Err(shape(
                "has no path; a metadata document URL names a document, such as \
                 https://app.example.com/client.json",
            ));
        }
        if url.host_str().is_some_and(|host| host.ends_with('.')) {
            return Err(shape("ends its host name with a dot"));
        }
        Ok(Self { url })
    }

    /// The URL, exactly as the client sent it.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The URL's host (no port), in its normal form.
    pub(crate) fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

/// The host a person is shown for a metadata document client: the URL's host, with its port when it
/// has one. `None` when `client_id` is not a URL with a host.
pub(crate) fn display_host(client_id: &str) -> Option<String> {
    let url = Url::parse(client_id).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// `value` cut to at most [`SHOWN_LEN`] bytes (on a character boundary), for messages.
pub(crate) fn shown(value: &str) -> String {
    if value.len() <= SHOWN_LEN {
        return value.to_owned();
    }
    let mut cut = SHOWN_LEN;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &value[..cut])
}

/// One entry of the host allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this host.
    Exact(String),
    /// Any host strictly under this domain (`*.example.com`: `a.example.com`, `a.b.example.com`, never
    /// `example.com` itself).
    Subdomains(String),
}

/// The hosts allowed to publish metadata documents: exact hosts and `*.` wildcards over domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostAllowList {
    patterns: Vec<HostPattern>,
}

impl HostAllowList {
    /// Parses the entries. A wildcard is `*.` followed by a domain of at least two labels
    /// (`*.example.com`, not `*.com`); an exact entry is any host, as the URL standard writes it
    /// (lower case, ASCII).
    ///
    /// The error names the entry and what is wrong with it.
    pub(crate) fn parse<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut patterns = Vec::new();
        for entry in entries {
            let entry = entry.as_ref();
            let refuse = |reason: &str| format!("{:?} {reason}", shown(entry));
            let (wildcard, name) = match entry.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, entry),
            };
            let host = Host::parse(name).map_err(|_| refuse("is not a host name"))?;
            let normal = host.to_string();
            if normal != name || name.is_empty() || name.contains('*') || name.ends_with('.') {
                return Err(refuse(
                    "is not a host name in normal form (lower case, ASCII, no port, no trailing dot)",
                ));
            }
            if wildcard {
                if !matches!(host, Host::Domain(_)) {
                    return Err(refuse("puts a wildcard over an IP address"));
                }
                if name.split('.').count() < 2 {
                    return Err(refuse("is a wildcard over a top-level domain; name at least two labels"));
                }
                patterns.push(HostPattern::Subdomains(normal));
            } else {
                patterns.push(HostPattern::Exact(normal));
            }
        }
        if patterns.is_empty() {
            return Err(
                "is empty, which would refuse every client; leave it unset to allow any host".to_owned()
            );
        }
        Ok(Self { patterns })
    }

    /// Whether `host` (a URL's host in normal form) is allowed.
    pub(crate) fn permits(&self, host: &str) -> bool {
        self.patterns.iter().any(|pattern| match pattern {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .and_then(|prefix| prefix.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<ClientIdUrl, String> {
        ClientIdUrl::parse(raw, false).map_err(|refusal| refusal.reason().to_owned())
    }

    #[test]
    fn metadata_document_urls() {
        for good in [
            "https://app.example.com/client.json",
            "https://app.example.com/oauth/client-metadata.json",
            "https://app.example.com:8443/client.json",
            "https://app.example.com/client.json?v=2",
            "https://app.example.com/a/",
            "https://8.8.8.8/client.json",
            "https://xn--bcher-kva.example/client.json",
        ] {
            let url = check(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(url.url().as_str(), good);
        }
    }

    #[test]
    fn refused_client_ids_say_why() {
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_CLIENT_ID_URL_LEN));
        for (bad, reason) in [
            ("client_abc", "is not a URL"),
            ("", "is not a URL"),
            ("http://app.example.com/client.json", "does not use https"),
            ("ftp://app.example.com/client.json", "does not use https"),
            ("urn:example:client", "has no host"),
            ("https://user@app.example.com/client.json", "user information"),
            ("https://user:pw@app.example.com/client.json", "user information"),
            ("https://app.example.com/client.json#x", "fragment"),
            ("https://app.example.com/client.json#", "fragment"),
            ("https://app.example.com/", "has no path"),
            ("https://app.example.com", "normal form"),
            ("https://app.example.com/a/../client.json", "normal form"),
            ("https://app.example.com/a/./client.json", "normal form"),
            ("https://app.example.com/a/%2e%2e/client.json", "normal form"),
            ("https://app.example.com/a/.%2E/client.json", "normal form"),
            ("https://app.example.com\\client.json", "normal form"),
            ("https://APP.example.com/client.json", "normal form"),
            ("https://app.example.com:443/client.json", "normal form"),
            ("https://app.example.com/a b", "normal form"),
            (" https://app.example.com/client.json", "normal form"),
            ("https://app.example.com/client.json\n", "normal form"),
            ("https://bücher.example/client.json", "normal form"),
            ("https://app.example.com./client.json", "ends its host name with a dot"),
            ("https://127.0.0.1/client.json", "a loopback address"),
            ("https://10.0.0.1/client.json", "a private address"),
            ("https://169.254.169.254/latest/meta-data", "a link-local address"),
            ("https://[::1]/client.json", "a loopback address"),
            ("https://[::ffff:127.0.0.1]/", "a loopback address"),
            ("https://[fd00::1]/client.json", "a unique-local address"),
            ("https://100.64.0.1/client.json", "carrier-grade NAT"),
            ("https://0.0.0.0/client.json", "an unspecified address"),
            ("https://0x7f.1/client.json", "a loopback address"),
            ("https://2130706433/client.json", "a loopback address"),
            (long.as_str(), "longer than 2048 bytes"),
        ] {
            let error = check(bad).map(|url| url.url().to_string()).unwrap_err();
            assert!(error.contains(reason), "{bad:?}: {error}");
            assert!(error.len() < 600, "messages stay short: {error}");
        }
    }

    #[test]
    fn the_development_allowance_admits_loopback_http_only() {
        for good in [
            "http://127.0.0.1:8000/client.json",
            "http://localhost:8000/client.json",
            "http://[::1]:8000/client.json",
            "https://127.0.0.1/client.json",
            "https://app.example.com/client.json",
        ] {
            assert!(ClientIdUrl::parse(good, true).is_ok(), "{good}");
        }
        for (bad, reason) in [
            ("http://app.example.com/client.json", "not loopback"),
            ("http://10.0.0.1/client.json", "not loopback"),
            ("https://10.0.0.1/client.json", "a private address"),
            ("https://169.254.169.254/x", "a link-local address"),
        ] {
            let error = ClientIdUrl::parse(bad, true).map(|url| url.url().to_string()).unwrap_err();
            assert!(error.reason().contains(reason), "{bad}: {error:?}");
        }
    }

    #[test]
    fn address_refusals_are_told_apart_from_other_client_ids() {
        for address in ["https://10.0.0.1/client.json", "https://[::ffff:127.0.0.1]/", "https://0x7f.1/"] {
            assert!(matches!(ClientIdUrl::parse(address, false), Err(UrlRefusal::Address(_))), "{address}");
        }
        for shape in ["client_abc", "http://10.0.0.1/client.json", "https://app.example.com/"] {
            assert!(matches!(ClientIdUrl::parse(shape, false), Err(UrlRefusal::Shape(_))), "{shape}");
        }
    }

    #[test]
    fn shown_cuts_long_values_on_a_character_boundary() {
        assert_eq!(shown("short"), "short");
        let long = "é".repeat(300);
        let cut = shown(&long);
        assert!(cut.len() <= SHOWN_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn display_host_keeps_a_port() {
        assert_eq!(display_host("https://app.example.com/c.json").as_deref(), Some("app.example.com"));
        assert_eq!(display_host("http://127.0.0.1:9/c.json").as_deref(), Some("127.0.0.1:9"));
        assert_eq!(display_host("client_abc"), None);
    }

    #[test]
    fn host_allow_list() {
        let list = HostAllowList::parse(["*.example.com", "claude.ai", "127.0.0.1", "[::1]"]).unwrap();
        for yes in ["a.example.com", "a.b.example.com", "claude.ai", "127.0.0.1", "[::1]"] {
            assert!(list.permits(yes), "{yes}");
        }
        for no in [
            "example.com",
            ".example.com",
            "evilexample.com",
            "example.com.evil.net",
            "a.claude.ai",
            "claude.ai.evil.net",
            "127.0.0.2",
            "",
        ] {
            assert!(!list.permits(no), "{no}");
        }
    }

    #[test]
    fn bad_allow_list_entries_are_named() {
        for (bad, reason) in [
            ("*.com", "top-level"),
            ("*", "not a host name"),
            ("*.*.example.com", "normal form"),
            ("a.*.example.com", "normal form"),
            ("Example.com", "normal form"),
            ("example.com.", "normal form"),
            ("example.com:443", "not a host name"),
            ("https://example.com", "not a host name"),
            ("*.10.0.0.1", "IP address"),
            ("", "not a host name"),
        ] {
            let error = HostAllowList::parse([bad]).unwrap_err();
            assert!(error.contains(reason), "{bad:?}: {error}");
        }
        assert!(HostAllowList::parse::<[&str; 0], _>([]).unwrap_err().contains("empty"));
    }
}
