//! The proxy's cookies, all signed with the store-key secret every instance shares:
//!
//! - the **browser** cookie: a random id naming this browser, for the consent form's CSRF token and
//!   for remembered consents;
//! - one **binding** cookie per transaction, set when the person approves, that the upstream callback
//!   requires: a code the upstream sends to another browser (a victim lured into finishing an
//!   attacker's flow) is refused.
//!
//! On `https` they are `__Host-` cookies (`Secure`, `Path=/`, no `Domain`), `HttpOnly`, `SameSite=Lax`;
//! on loopback `http` (development) the names drop the prefix and `Secure`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use mcp_auth_oauth_server::KeyedHasher;
use subtle::ConstantTimeEq as _;

const BROWSER: &str = "mcp_auth_browser";
/// How long a browser cookie lasts (the most browsers keep one: 400 days).
pub(crate) const BROWSER_COOKIE_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);
const BINDING: &str = "mcp_auth_tx_";

/// How the proxy names and marks its cookies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cookies {
    pub(crate) secure: bool,
}

impl Cookies {
    fn name(self, base: &str) -> String {
        if self.secure { format!("__Host-{base}") } else { base.to_owned() }
    }

    /// A `Set-Cookie` value.
    pub(crate) fn set(self, name: &str, value: &str, max_age: Duration) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            max_age.as_secs()
        ))
        .ok()
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub(crate) fn clear(self, name: &str) -> Option<HeaderValue> {
        self.set(name, "", Duration::ZERO)
    }

    pub(crate) fn browser_name(self) -> String {
        self.name(BROWSER)
    }

    /// The binding cookie of a transaction: its name (derived from the transaction, so several flows in
    /// one browser do not collide) and its signed value.
    pub(crate) fn binding(self, hasher: &KeyedHasher, transaction_id: &str) -> (String, String) {
        let tag = hasher.hash(&format!("binding-name:{transaction_id}"));
        let name = self.name(&format!("{BINDING}{}", &tag[..tag.len().min(16)]));
        (name, hasher.hash(&format!("binding:{transaction_id}")))
    }
}

/// The browser id in a signed browser cookie value (`id.signature`), when the signature holds.
pub(crate) fn verified_browser(hasher: &KeyedHasher, value: &str) -> Option<String> {
    let (id, signature) = value.split_once('.')?;
    let expected = hasher.hash(&format!("browser:{id}"));
    bool::from(expected.as_bytes().ct_eq(signature.as_bytes())).then(|| id.to_owned())
}

/// A signed browser cookie value for `id`.
pub(crate) fn signed_browser(hasher: &KeyedHasher, id: &str) -> String {
    format!("{id}.{}", hasher.hash(&format!("browser:{id}")))
}

/// The consent form's CSRF token: bound to the browser and the transaction.
pub(crate) fn csrf_token(hasher: &KeyedHasher, browser: &str, transaction_id: &str) -> String {
    hasher.hash(&format!("csrf:{browser}:{transaction_id}"))
}

/// Compares two tokens in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_host_prefix_only_on_https() {
        let hasher = KeyedHasher::random().unwrap();
        let (secure, _) = Cookies { secure: true }.binding(&hasher, "tx1");
        let (plain, _) = Cookies { secure: false }.binding(&hasher, "tx1");
        assert!(secure.starts_with("__Host-mcp_auth_tx_"));
        assert!(plain.starts_with("mcp_auth_tx_"));
        let set = Cookies { secure: true }.set(&secure, "v", Duration::from_secs(60)).unwrap();
        let set = set.to_str().unwrap();
        assert!(set.contains("; Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(set.contains("Path=/") && !set.contains("Domain"));
    }

    #[test]
    fn a_browser_cookie_is_accepted_only_with_its_signature() {
        let hasher = KeyedHasher::random().unwrap();
        let value = signed_browser(&hasher, "b1");
        assert_eq!(verified_browser(&hasher, &value).as_deref(), Some("b1"));
        assert!(verified_browser(&hasher, "b1.forged").is_none());
        assert!(verified_browser(&hasher, "b2.".to_owned().as_str()).is_none());
        let other = KeyedHasher::random().unwrap();
        assert!(verified_browser(&other, &value).is_none());
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; mcp_auth_browser=x.y; ab=2"));
        assert_eq!(read(&headers, "mcp_auth_browser"), Some("x.y"));
        assert_eq!(read(&headers, "b"), None);
        assert_eq!(read(&headers, "ab"), Some("2"));
    }
}
