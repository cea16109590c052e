//! Property tests for redirect URI rules (issue 16): whatever the pattern and the presented URI, no
//! allow-list pattern admits a URI with user information, another scheme or another host, and a
//! registered redirect URI only ever matches itself (or, for native loopback clients, itself on
//! another port).

use mcp_auth_oauth_server::{ApplicationType, RedirectPattern, RedirectUri};
use proptest::prelude::*;

/// Pieces that URIs and patterns are built from, hostile ones included.
fn scheme() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => prop::sample::select(vec!["https", "http", "myapp"]),
        1 => prop::sample::select(vec!["HTTPS", "com.example.app", "javascript", "file"]),
    ]
}

fn host() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "example.com",
        "app.example.com",
        "a.b.example.com",
        "EXAMPLE.com",
        "example.com.evil.com",
        "evilexample.com",
        "evil.com",
        "127.0.0.1",
        "localhost",
        "[::1]",
        "xn--exmple-cua.com",
        "example.com.",
    ])
}

fn userinfo() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => Just(""),
        1 => prop::sample::select(vec!["user@", "user:pw@", "example.com@", "%40@", "a%40b@", "app.example.com@"]),
    ]
}

fn port() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", ":443", ":8443", ":80", ":1"])
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(vec!["cb", "oauth", "callback", "v2", "x"]),
            1 => prop::sample::select(vec!["%2e%2e", "..", ".", "", "a%2Fb"]),
        ],
        0..4,
    )
    .prop_map(|segments| segments.iter().map(|s| format!("/{s}")).collect())
}

fn tail() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => Just(""),
        1 => prop::sample::select(vec!["?a=1", "#frag", "\\evil.com", "?next=https://evil.com", "@evil.com"]),
    ]
}

fn presented() -> impl Strategy<Value = String> {
    (scheme(), userinfo(), host(), port(), path(), tail()).prop_map(
        |(scheme, user, host, port, path, tail)| format!("{scheme}://{user}{host}{port}{path}{tail}"),
    )
}

fn pattern() -> impl Strategy<Value = String> {
    let pattern_host = prop::sample::select(vec!["example.com", "app.example.com", "*.example.com"]);
    let pattern_port = prop::sample::select(vec!["", ":*", ":8443"]);
    let pattern_path = prop::sample::select(vec!["/cb", "/oauth/*", "/**", "/oauth/**/callback", ""]);
    (prop::sample::select(vec!["https", "http", "myapp"]), pattern_host, pattern_port, pattern_path)
        .prop_map(|(scheme, host, port, path)| format!("{scheme}://{host}{port}{path}"))
}

/// Whether `host` is the pattern's host, or a subdomain of it for a `*.` pattern.
fn host_admitted(pattern_host: &str, host: &str) -> bool {
    match pattern_host.strip_prefix("*.") {
        Some(suffix) => host.ends_with(&format!(".{suffix}")),
        None => host == pattern_host,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_pattern_admits_userinfo_another_scheme_or_another_host(pattern in pattern(), raw in presented()) {
        let parsed_pattern = RedirectPattern::parse(&pattern).expect("the generated patterns are valid");
        let Ok(uri) = RedirectUri::parse(&raw) else { return Ok(()) };
        if parsed_pattern.matches(&uri) {
            let url = uri.url();
            prop_assert!(url.username().is_empty() && url.password().is_none(), "{raw} via {pattern}");
            let authority = raw.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
            prop_assert!(!authority.contains('@'), "{raw} via {pattern}");
            let (pattern_scheme, rest) = pattern.split_once("://").unwrap();
            prop_assert_eq!(url.scheme(), pattern_scheme);
            let pattern_host = rest.split(['/', ':']).next().unwrap();
            let host = url.host_str().unwrap_or_default();
            prop_assert!(host_admitted(pattern_host, host), "{raw} (host {host}) via {pattern}");
            prop_assert!(!raw.contains('\\') && !raw.contains('#'));
        }
    }

    #[test]
    fn a_registered_uri_matches_only_itself(registered in presented(), raw in presented()) {
        let Ok(uri) = RedirectUri::parse(&registered) else { return Ok(()) };
        for application_type in [ApplicationType::Web, ApplicationType::Native] {
            if uri.matches(&raw, application_type) && raw != registered {
                // Only a native loopback client may differ, and only in the port.
                prop_assert_eq!(application_type, ApplicationType::Native);
                prop_assert!(uri.is_loopback(), "{raw} matched {registered}");
                let strip_port = |text: &str| {
                    let url = url::Url::parse(text).unwrap();
                    let mut without = url.clone();
                    without.set_port(None).unwrap();
                    without.to_string()
                };
                prop_assert_eq!(strip_port(&raw), strip_port(&registered));
            }
        }
    }
}

/// Patterns with loopback hosts, port wildcards and path wildcards (issue 16).
fn ported_pattern() -> impl Strategy<Value = String> {
    let host = prop::sample::select(vec!["127.0.0.1", "localhost", "[::1]", "example.com", "*.example.com"]);
    let port = prop::sample::select(vec!["", ":*", ":8443", ":443", ":80"]);
    let path = prop::sample::select(vec!["", "/cb", "/a/*/cb", "/a/*", "/**", "/a/**/cb"]);
    (prop::sample::select(vec!["http", "https"]), host, port, path)
        .prop_map(|(scheme, host, port, path)| format!("{scheme}://{host}{port}{path}"))
}

fn loopback_presented() -> impl Strategy<Value = String> {
    let host = prop::sample::select(vec![
        "127.0.0.1",
        "127.0.0.2",
        "localhost",
        "[::1]",
        "127.0.0.1.example.com",
        "localhost.example.com",
        "app.example.com",
        "example.com",
    ]);
    let port = prop::sample::select(vec!["", ":8443", ":443", ":80", ":51234"]);
    let path = prop::sample::select(vec!["", "/", "/cb", "/a/cb", "/a/b/cb", "/a/x/y/cb", "/a/", "/a/b"]);
    (prop::sample::select(vec!["http", "https"]), userinfo(), host, port, path)
        .prop_map(|(scheme, user, host, port, path)| format!("{scheme}://{user}{host}{port}{path}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ports_and_path_wildcards_admit_only_what_they_say(pattern in ported_pattern(), raw in loopback_presented()) {
        let parsed_pattern = RedirectPattern::parse(&pattern).expect("the generated patterns are valid");
        let Ok(uri) = RedirectUri::parse(&raw) else { return Ok(()) };
        if !parsed_pattern.matches(&uri) {
            return Ok(());
        }
        let url = uri.url();
        prop_assert!(url.username().is_empty() && url.password().is_none(), "{raw} via {pattern}");
        let (pattern_scheme, rest) = pattern.split_once("://").unwrap();
        prop_assert_eq!(url.scheme(), pattern_scheme);
        let authority = rest.split('/').next().unwrap();
        let (pattern_host, pattern_port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.ends_with(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let host = url.host_str().unwrap_or_default();
        prop_assert!(host_admitted(pattern_host, host), "{raw} (host {host}) via {pattern}");
        match pattern_port {
            None => prop_assert_eq!(url.port(), None, "{} via {}", raw, pattern),
            Some("*") => {}
            Some(port) => prop_assert_eq!(url.port_or_known_default(), port.parse().ok(), "{} via {}", raw, pattern),
        }
        let pattern_path = &rest[authority.len()..];
        let segments = |path: &str| path.split('/').count();
        if !pattern_path.contains("**") && !pattern_path.is_empty() {
            // `*` stays within one segment: the path has as many segments as the pattern.
            prop_assert_eq!(segments(url.path()), segments(pattern_path), "{} via {}", raw, pattern);
        }
        if pattern_path.is_empty() && !uri.is_loopback() {
            prop_assert_eq!(url.path(), "/", "{} via {}", raw, pattern);
        }
    }
}
