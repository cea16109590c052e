//! Small helpers: random values, hashing, PKCE, redirect URI rules, parameter parsing.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::config::ApplicationType;

/// `bytes` random bytes from the OS, base64url without padding.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The store key for a secret value: hex SHA-256, so raw codes and tokens are never keys.
pub(crate) fn hash_key(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality of two byte strings.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether `verifier` is an RFC 7636 §4.1 code verifier: 43–128 unreserved characters.
pub(crate) fn is_valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The RFC 7636 S256 challenge of a verifier.
pub(crate) fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The OpenID Connect `at_hash` of an access token signed with RS256.
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Whether `s` is a valid RFC 6749 §3.3 scope list (space-separated tokens of NQCHAR).
pub(crate) fn is_valid_scope(s: &str) -> bool {
    s.split(' ').all(|token| {
        !token.is_empty()
            && token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    })
}

use mcp_auth_core::loopback::is_loopback_url as is_loopback_host;

/// Checks a redirect URI for registration: absolute, no fragment, `https`, or loopback `http`, or (for
/// native apps, RFC 8252 §7.1) a private-use scheme with a dot. Returns why it is refused.
pub(crate) fn check_redirect_uri(uri: &str, application_type: ApplicationType) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI ({e})"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!("{uri:?} has a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(format!("{uri:?} uses http on a non-loopback host; use https")),
        scheme if application_type == ApplicationType::Native && scheme.contains('.') => Ok(()),
        scheme => Err(format!("{uri:?} has the scheme {scheme:?}; use https or loopback http")),
    }
}

/// Whether a redirect URI presented in a request matches a registered one: exactly, or for native
/// clients and loopback `http` URIs, on everything but the port (RFC 8252 §7.3).
pub(crate) fn redirect_uri_matches(
    registered: &str,
    presented: &str,
    application_type: ApplicationType,
) -> bool {
    if registered == presented {
        return true;
    }
    if application_type != ApplicationType::Native {
        return false;
    }
    let (Ok(r), Ok(p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    r.scheme() == "http"
        && p.scheme() == "http"
        && is_loopback_host(&r)
        && r.host() == p.host()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
        && r.username() == p.username()
        && r.password().is_none()
        && p.password().is_none()
}

/// Request parameters (query or form body) as a map. RFC 6749 §3.1 forbids repeating a parameter; the
/// first repeated name is kept in [`repeated`](Self::repeated) so each endpoint can answer as it must
/// (the authorization endpoint, say, only redirects once the client is known).
#[derive(Debug, Default)]
pub(crate) struct Params {
    map: HashMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes. `Err` names the problem.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(bytes).map_err(|e| format!("cannot parse the parameters: {e}"))?;
        let mut params = Self { map: HashMap::with_capacity(pairs.len()), repeated: None };
        for (key, value) in pairs {
            match params.map.entry(key) {
                std::collections::hash_map::Entry::Occupied(entry) => {
                    params.repeated.get_or_insert_with(|| entry.key().clone());
                }
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(value);
                }
            }
        }
        Ok(params)
    }

    /// The first parameter that appeared more than once.
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.repeated.as_deref()
    }

    /// A parameter's value; empty values count as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A required parameter, or a message naming it.
    pub(crate) fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("the {key} parameter is missing"))
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (as in HTTP Basic client credentials,
/// RFC 6749 §2.3.1).
pub(crate) fn form_decode(component: &str) -> Option<String> {
    let plus_as_space = component.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

/// Minimal HTML escaping for the pages.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        assert!(is_valid_code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(
            !is_valid_code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX"),
            "42 chars is too short"
        );
        // The RFC's example verifier and challenge.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!is_valid_code_verifier(&"a".repeat(129)));
        assert!(!is_valid_code_verifier(&format!("{}+", "a".repeat(50))));
    }

    #[test]
    fn redirect_uri_rules() {
        let web = ApplicationType::Web;
        let native = ApplicationType::Native;
        assert!(check_redirect_uri("https://app.example.com/cb", web).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:3000/cb", web).is_ok());
        assert!(check_redirect_uri("http://localhost/cb", web).is_ok());
        assert!(check_redirect_uri("http://[::1]:9/cb", web).is_ok());
        assert!(check_redirect_uri("http://evil.example.com/cb", web).is_err());
        assert!(check_redirect_uri("https://app.example.com/cb#frag", web).is_err());
        assert!(check_redirect_uri("javascript:alert(1)", web).is_err());
        assert!(check_redirect_uri("/relative", web).is_err());
        assert!(check_redirect_uri("com.example.app:/cb", web).is_err());
        assert!(check_redirect_uri("com.example.app:/cb", native).is_ok());

        assert!(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb", native));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb", web));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:5555/other", native));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://localhost:5555/cb", native));
        assert!(!redirect_uri_matches("https://a.example/cb", "https://a.example:444/cb", native));
        assert!(redirect_uri_matches("https://a.example/cb", "https://a.example/cb", web));
        assert!(!redirect_uri_matches("https://a.example/cb", "https://a.example/cb/", web));
    }

    #[test]
    fn params_refuse_repeats() {
        assert_eq!(Params::parse(b"a=1&a=2").unwrap().repeated(), Some("a"));
        let p = Params::parse(b"a=1&b=&c=x+y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(p.require("zz").unwrap_err().contains("zz"));
    }

    #[test]
    fn scopes_and_decoding() {
        assert!(is_valid_scope("openid profile mcp:tools"));
        assert!(!is_valid_scope("openid  profile"));
        assert!(!is_valid_scope("a\"b"));
        assert_eq!(form_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(hash_key("x").len(), 64);
        assert_ne!(random_token(32), random_token(32));
    }
}
