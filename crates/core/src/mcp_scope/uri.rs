//! The spellings of a resource URI the policy matches, so another spelling of a guarded resource cannot
//! slip past its rule.

/// Every form of `uri` the policy's rules are matched against: the URI as sent, and its normalized form
/// (RFC 3986 §6 and the WHATWG URL rules: scheme and host lower-cased, `.` and `..` segments resolved,
/// `%2e` included, empty segments collapsed, percent-encoded unreserved characters decoded, query and
/// fragment dropped), with and without a trailing `/`.
///
/// A resource needs the scopes of every rule any of these forms matches. Normalizing only ever adds rules,
/// never removes one: a server that reads `file:///etc/x/../shadow` or `FILE:///etc/%73hadow` as
/// `file:///etc/shadow` is protected by the rule for `file:///etc/{name}`.
pub(crate) fn matching_forms(uri: &str) -> Vec<String> {
    let mut forms = vec![uri.to_owned()];
    if let Some(normalized) = normalized(uri) {
        let trimmed = normalized.strip_suffix('/').filter(|rest| !rest.ends_with(':')).map(str::to_owned);
        for form in [Some(normalized), trimmed].into_iter().flatten() {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

fn normalized(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    if let Some(host) = url.host_str() {
        let lower = host.to_ascii_lowercase();
        if lower != host {
            // Special schemes lower-case hosts already; this covers opaque hosts (`config://APP`).
            let _ = url.set_host(Some(&lower));
        }
    }
    let path = url.path();
    if path.contains("//") {
        let mut collapsed = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && collapsed.ends_with('/')) {
                collapsed.push(c);
            }
        }
        url.set_path(&collapsed);
    }
    Some(decode_unreserved(url.as_str()))
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986 §2.3: letters, digits, `-`, `.`, `_`, `~`),
/// which mean the same decoded; every other escape stays as it is.
fn decode_unreserved(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(value) = u8::from_str_radix(hex, 16)
            && (value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~'))
        {
            out.push(char::from(value));
            i += 3;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_spellings_of_one_resource_share_its_normal_form() {
        for spelling in [
            "file:///etc/shadow",
            "FILE:///etc/shadow",
            "file:///etc//shadow",
            "file:///etc/./shadow",
            "file:///etc/x/../shadow",
            "file:///etc/x/%2e%2E/shadow",
            "file:///etc/%73hadow",
            "file:///etc/shadow?x=1",
            "file:///etc/shadow#top",
            "file:///etc/shadow/",
        ] {
            assert!(matching_forms(spelling).contains(&"file:///etc/shadow".to_owned()), "{spelling}");
        }
        for spelling in ["config://APP", "config://app/", "Config://app", "config://app/./"] {
            assert!(
                matching_forms(spelling).contains(&"config://app".to_owned()),
                "{spelling}: {:?}",
                matching_forms(spelling)
            );
        }
    }

    #[test]
    fn reserved_escapes_stay_and_the_original_comes_first() {
        let forms = matching_forms("file:///a%2Fb");
        assert_eq!(forms[0], "file:///a%2Fb");
        assert!(!forms.iter().any(|form| form.contains("a/b")), "%2F is data, not a separator: {forms:?}");
        assert_eq!(matching_forms("not a uri"), ["not a uri"]);
        assert_eq!(decode_unreserved("%7e%41%zz%"), "~A%zz%");
        assert_eq!(decode_unreserved("é%41"), "éA");
    }
}
