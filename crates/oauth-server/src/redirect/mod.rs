//! Redirect URI rules: what may be registered (by application type, RFC 8252 and OpenID Connect Dynamic
//! Client Registration), and when a presented URI matches a registered one (exact string matching, with
//! the RFC 8252 §7.3 loopback port exception for native apps).
//!
//! Every URI is parsed with the WHATWG URL parser (`url`) and refused when its raw form holds something a
//! browser would rewrite before navigating: a backslash (read as `/` in `http(s)` authorities), a
//! dot segment, plain or percent-encoded (`/./`, `/../`, `/%2e%2e/`), control characters or spaces. So
//! the string compared is the string the browser goes to. Fragments, user information and the
//! `javascript:`, `data:`, `file:`, `vbscript:`, `blob:` and `about:` schemes are refused everywhere.

mod pattern;

use std::fmt;

use mcp_auth_core::loopback::is_loopback_url;
use openidconnect::core::CoreApplicationType;
use serde::{Deserialize, Serialize};
use url::Url;

pub use self::pattern::{PatternError, RedirectAllowList, RedirectPattern};

/// The longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Schemes that are never a redirect target: they run code, read local files or stay in the browser.
const FORBIDDEN_SCHEMES: [&str; 7] =
    ["javascript", "data", "file", "vbscript", "blob", "about", "filesystem"];

/// The OpenID Connect / RFC 7591 `application_type` of a client.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::ApplicationType;
///
/// let native: ApplicationType = serde_json::from_str("\"native\"").unwrap();
/// assert_eq!(native, ApplicationType::Native);
/// assert!(serde_json::from_str::<ApplicationType>("\"tv\"").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    /// A web application (the OpenID default): `https` redirect URIs on non-loopback hosts, matched exactly.
    #[default]
    Web,
    /// A native application (RFC 8252; desktop apps, CLIs, and web apps served on `localhost`): loopback
    /// `http` redirect URIs (matched on any port), claimed `https` URIs and private-use schemes.
    Native,
}

impl ApplicationType {
    /// The `openidconnect` value for this type.
    #[must_use]
    pub fn to_core(self) -> CoreApplicationType {
        match self {
            Self::Web => CoreApplicationType::Web,
            Self::Native => CoreApplicationType::Native,
        }
    }

    /// The type for an `openidconnect` value; `None` for an extension value this server does not know.
    #[must_use]
    pub fn from_core(value: &CoreApplicationType) -> Option<Self> {
        match value {
            CoreApplicationType::Web => Some(Self::Web),
            CoreApplicationType::Native => Some(Self::Native),
            _ => None,
        }
    }
}

/// Why a redirect URI is refused. The message names the URI and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{uri:?} {reason}")]
pub struct RedirectUriError {
    uri: String,
    reason: String,
}

impl RedirectUriError {
    fn new(uri: &str, reason: impl Into<String>) -> Self {
        let mut uri = uri.to_owned();
        if uri.len() > 200 {
            let mut cut = 200;
            while !uri.is_char_boundary(cut) {
                cut -= 1;
            }
            uri.truncate(cut);
            uri.push('…');
        }
        Self { uri, reason: reason.into() }
    }
}

/// A syntactically safe redirect URI: absolute, parsed by the WHATWG rules, and refused when its raw
/// form holds something a browser would rewrite before navigating (a backslash, a dot segment, plain or
/// percent-encoded, control characters or spaces), a fragment, user information, or the `javascript:`,
/// `data:`, `file:`, `vbscript:`, `blob:` or `about:` scheme. So the string compared is the string the
/// browser goes to. It keeps the original string for exact comparison.
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::{ApplicationType, RedirectUri};
///
/// let uri = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
/// assert!(uri.check_registration(ApplicationType::Native).is_ok());
/// assert!(uri.check_registration(ApplicationType::Web).is_err(), "web apps use https on a real host");
/// assert!(uri.matches("http://127.0.0.1:51234/callback", ApplicationType::Native));
/// assert!(!uri.matches("http://127.0.0.1:51234/other", ApplicationType::Native));
/// assert!(RedirectUri::parse("https://good.example\\@evil.example/").is_err());
/// assert!(RedirectUri::parse("https://app.example/cb/%2e%2e/admin").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    url: Url,
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedirectUri").field(&self.raw).finish()
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl RedirectUri {
    /// Parses and checks a redirect URI's syntax (the rules every redirect URI follows, whatever the
    /// client).
    ///
    /// # Errors
    ///
    /// [`RedirectUriError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        let refuse = |reason: &str| RedirectUriError::new(raw, reason);
        if raw.len() > MAX_REDIRECT_URI_LEN {
            return Err(refuse(&format!("is longer than {MAX_REDIRECT_URI_LEN} bytes")));
        }
        if raw.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(refuse("contains spaces or control characters"));
        }
        if raw.contains('\\') {
            return Err(refuse("contains a backslash, which browsers read as a slash"));
        }
        if raw.contains('#') {
            return Err(refuse("has a fragment (#), which redirect URIs must not have"));
        }
        let url = Url::parse(raw).map_err(|e| refuse(&format!("is not an absolute URI ({e})")))?;
        if !raw.starts_with(url.scheme()) {
            return Err(refuse("has upper-case letters in its scheme, which browsers lower-case"));
        }
        if FORBIDDEN_SCHEMES.contains(&url.scheme()) {
            return Err(refuse(&format!(
                "uses the {}: scheme, which is never a redirect target",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() || authority_of(raw).contains('@') {
            return Err(refuse("carries user information (user@host), which redirect URIs must not"));
        }
        if has_dot_segment(path_of(raw)) {
            return Err(refuse("has a dot segment (. or .., possibly percent-encoded) in its path"));
        }
        if matches!(url.scheme(), "http" | "https") && authority_of(raw).is_empty() {
            return Err(refuse("has no host after the scheme's //"));
        }
        Ok(Self { raw: raw.to_owned(), url })
    }

    /// The URI as registered or presented.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host to show a person on a consent page (the MCP specification's "clearly display the
    /// redirect URI hostname"), or the scheme for a private-use URI.
    #[must_use]
    pub fn display_host(&self) -> String {
        match self.url.host_str() {
            Some(host) => match self.url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            },
            None => format!("{}:", self.url.scheme()),
        }
    }

    /// Whether the host is loopback (`localhost`, `127.0.0.0/8`, `::1`).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(&self.url)
    }

    /// Checks the URI for dynamic registration by a client of `application_type` (the 2026-07-28 MCP
    /// rules, "Application Type and Redirect URI Constraints"): a web client needs `https` on a
    /// non-loopback host; a native client may use loopback `http`, `https`, or a private-use scheme in
    /// reverse-domain form (RFC 8252 §7.1, such as `com.example.app:/cb`).
    ///
    /// # Errors
    ///
    /// [`RedirectUriError`] saying what the client should use instead.
    pub fn check_registration(&self, application_type: ApplicationType) -> Result<(), RedirectUriError> {
        let refuse = |reason: &str| Err(RedirectUriError::new(&self.raw, reason));
        match (application_type, self.url.scheme()) {
            (ApplicationType::Web, "https") if self.is_loopback() => refuse(
                "is a loopback URI, which only native clients may register; register with \
                 application_type \"native\"",
            ),
            (ApplicationType::Web | ApplicationType::Native, "https") => Ok(()),
            (ApplicationType::Web, "http") if self.is_loopback() => refuse(
                "is a loopback http URI, which only native clients may register; register with \
                 application_type \"native\"",
            ),
            (ApplicationType::Native, "http") if self.is_loopback() => Ok(()),
            (_, "http") => refuse("uses plain http on a non-loopback host; use https"),
            (ApplicationType::Native, scheme) if scheme.contains('.') => Ok(()),
            (ApplicationType::Native, scheme) => refuse(&format!(
                "uses the scheme {scheme:?}; a native app's private-use scheme must be a reverse domain name \
                 such as com.example.app (RFC 8252 section 7.1)"
            )),
            (ApplicationType::Web, scheme) => refuse(&format!(
                "uses the scheme {scheme:?}; web clients use https (private-use schemes need application_type \"native\")"
            )),
        }
    }

    /// Checks the URI of a client configured by the operator: the syntax rules, `https` anywhere, plain
    /// `http` only on loopback hosts (for local development), private-use schemes only for native apps.
    ///
    /// # Errors
    ///
    /// [`RedirectUriError`].
    pub fn check_configured(&self, application_type: ApplicationType) -> Result<(), RedirectUriError> {
        match self.url.scheme() {
            "https" => Ok(()),
            "http" if self.is_loopback() => Ok(()),
            "http" => {
                Err(RedirectUriError::new(&self.raw, "uses plain http on a non-loopback host; use https"))
            }
            _ => self.check_registration(application_type),
        }
    }

    /// Whether `presented` (from an authorization or token request) matches this registered URI: the
    /// exact same string, or, for a native client and a loopback `http` URI, the same URI on another port
    /// (RFC 8252 §7.3: the port is chosen when the app starts). The presented URI must itself pass
    /// [`parse`](Self::parse).
    #[must_use]
    pub fn matches(&self, presented: &str, application_type: ApplicationType) -> bool {
        if self.raw == presented {
            return true;
        }
        if application_type != ApplicationType::Native || self.url.scheme() != "http" || !self.is_loopback() {
            return false;
        }
        let Ok(presented) = Self::parse(presented) else { return false };
        let (r, p) = (&self.url, &presented.url);
        p.scheme() == "http" && r.host_str() == p.host_str() && r.path() == p.path() && r.query() == p.query()
    }
}

/// The authority part of a raw URI (between `scheme://` and the next `/`, `?` or `#`), or "" without one.
fn authority_of(raw: &str) -> &str {
    let Some(rest) = raw.split_once(':').and_then(|(_, rest)| rest.strip_prefix("//")) else { return "" };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// The raw path of a URI: after the scheme and authority, before `?` or `#`.
fn path_of(raw: &str) -> &str {
    let after_scheme = raw.split_once(':').map_or(raw, |(_, rest)| rest);
    let after_authority = match after_scheme.strip_prefix("//") {
        Some(rest) => rest.find(['/', '?', '#']).map_or("", |at| &rest[at..]),
        None => after_scheme,
    };
    let end = after_authority.find(['?', '#']).unwrap_or(after_authority.len());
    &after_authority[..end]
}

/// Whether a raw path has a `.` or `..` segment, literally or percent-encoded.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: ApplicationType = ApplicationType::Web;
    const NATIVE: ApplicationType = ApplicationType::Native;

    #[test]
    fn syntax_refusals() {
        for bad in [
            "",
            "/relative/cb",
            "cb",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>x</script>",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "blob:https://a.example/uuid",
            "about:blank",
            "https://a.example/cb#",
            "https://a.example/cb#frag",
            "https://user@a.example/cb",
            "https://user:pw@a.example/cb",
            "https://a.example@evil.example/cb",
            "https://good.example\\@evil.example/",
            "https:\\\\evil.example\\cb",
            "https://a.example/cb/../admin",
            "https://a.example/./cb",
            "https://a.example/cb/%2e%2e/admin",
            "https://a.example/cb/%2E./admin",
            "https://a.example/cb/.%2e",
            "https://a.example/c b",
            "https://a.example/cb\n",
            "https://a.example/cb\t",
            "http:///cb",
            "https://",
            "com.example.app:/cb/../x",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("https://a.example/{}", "a".repeat(MAX_REDIRECT_URI_LEN));
        assert!(RedirectUri::parse(&long).unwrap_err().to_string().contains("longer than"));
        for good in [
            "https://a.example/cb",
            "https://a.example:8443/cb?x=1",
            "https://a.example/cb/..x/%2ex",
            "http://127.0.0.1/cb",
            "http://[::1]:9/cb",
            "com.example.app:/oauth/cb",
            "com.example.app:cb",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good:?} was refused");
        }
    }

    #[test]
    fn registration_by_application_type() {
        let check = |uri: &str, kind| RedirectUri::parse(uri).unwrap().check_registration(kind);
        assert!(check("https://app.example.com/cb", WEB).is_ok());
        assert!(check("https://app.example.com/cb", NATIVE).is_ok());
        for uri in
            ["http://127.0.0.1/cb", "http://localhost:3000/cb", "https://localhost/cb", "http://[::1]/cb"]
        {
            assert!(check(uri, WEB).unwrap_err().to_string().contains("native"), "{uri}");
        }
        assert!(check("http://127.0.0.1/cb", NATIVE).is_ok());
        assert!(check("http://app.localhost:3000/cb", NATIVE).is_ok());
        assert!(check("http://evil.example.com/cb", NATIVE).is_err());
        assert!(check("http://evil.example.com/cb", WEB).is_err());
        assert!(check("com.example.app:/cb", NATIVE).is_ok());
        assert!(check("com.example.app:/cb", WEB).is_err());
        assert!(check("myapp:/cb", NATIVE).unwrap_err().to_string().contains("reverse domain"));
        assert!(check("ftp://files.example/cb", WEB).is_err());
    }

    #[test]
    fn configured_clients_may_use_loopback_http_as_web_apps() {
        let check = |uri: &str, kind| RedirectUri::parse(uri).unwrap().check_configured(kind);
        assert!(check("http://127.0.0.1:8000/auth/callback", WEB).is_ok());
        assert!(check("http://proxy.internal/cb", WEB).is_err());
        assert!(check("com.example.app:/cb", WEB).is_err());
        assert!(check("com.example.app:/cb", NATIVE).is_ok());
    }

    #[test]
    fn matching() {
        let loopback = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert!(loopback.matches("http://127.0.0.1/callback", WEB));
        assert!(!loopback.matches("http://127.0.0.1:5555/callback", WEB), "port flexibility is native only");
        assert!(loopback.matches("http://127.0.0.1:5555/callback", NATIVE));
        for other in [
            "http://127.0.0.1:5555/other",
            "http://127.0.0.1:5555/callback/",
            "http://127.0.0.1:5555/callback?x=1",
            "http://localhost:5555/callback",
            "https://127.0.0.1:5555/callback",
            "http://user@127.0.0.1:5555/callback",
            "http://127.0.0.1:5555/x/../callback",
            "http://127.0.0.1:5555/callback#f",
            "http://127.0.0.1:5555\\@evil.example/callback",
        ] {
            assert!(!loopback.matches(other, NATIVE), "{other}");
        }
        let web = RedirectUri::parse("https://a.example/cb").unwrap();
        assert!(web.matches("https://a.example/cb", NATIVE));
        for other in [
            "https://a.example:444/cb",
            "https://A.example/cb",
            "https://a.example/cb/",
            "https://a.example/cb?",
        ] {
            assert!(!web.matches(other, NATIVE), "{other}");
        }
    }

    #[test]
    fn display_host_names_where_the_code_goes() {
        assert_eq!(RedirectUri::parse("https://a.example:8443/cb").unwrap().display_host(), "a.example:8443");
        assert_eq!(RedirectUri::parse("http://127.0.0.1/cb").unwrap().display_host(), "127.0.0.1");
        assert_eq!(RedirectUri::parse("com.example.app:/cb").unwrap().display_host(), "com.example.app:");
    }

    #[test]
    fn application_type_round_trips_openidconnect() {
        for kind in [WEB, NATIVE] {
            assert_eq!(ApplicationType::from_core(&kind.to_core()), Some(kind));
        }
        assert_eq!(ApplicationType::from_core(&CoreApplicationType::Extension("tv".into())), None);
    }
}
