//! PKCE (RFC 7636) with the `S256` method only, as OAuth 2.1 and the MCP authorization specification
//! ("Authorization Code Protection") require; `plain` is refused.

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::error::OAuthError;

/// The only supported `code_challenge_method`.
pub const S256: &str = "S256";

/// A validated `S256` code challenge: 43 base64url characters (a SHA-256 digest).
///
/// # Examples
///
/// ```
/// use mcp_auth_oauth_server::CodeChallenge;
///
/// // RFC 7636 Appendix B.
/// let challenge =
///     CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("S256")).unwrap();
/// assert!(challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
/// assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
/// assert!(CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("plain")).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates the `code_challenge` and `code_challenge_method` of an authorization request.
    ///
    /// # Errors
    ///
    /// `invalid_request` when the challenge is missing or not a base64url SHA-256 digest, or the method
    /// is missing, `plain` or unknown.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, OAuthError> {
        let challenge = challenge.ok_or_else(|| {
            OAuthError::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )
        })?;
        match method {
            Some(S256) => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256 (plain is refused)",
                ));
            }
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "code_challenge_method {other:?} is not supported; use S256"
                )));
            }
        }
        if challenge.len() != 43
            || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(OAuthError::invalid_request("code_challenge is not a base64url SHA-256 digest"));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The challenge as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is a well-formed code verifier (RFC 7636 §4.1: 43 to 128 unreserved characters)
    /// whose S256 transform equals this challenge, compared in constant time.
    #[must_use]
    pub fn verify(&self, verifier: &str) -> bool {
        if !is_code_verifier(verifier) {
            return false;
        }
        let computed =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()));
        computed.as_str().as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// Whether `verifier` has the RFC 7636 §4.1 shape: 43 to 128 characters of `[A-Za-z0-9-._~]`.
#[must_use]
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert!(challenge.verify(VERIFIER));
        assert_eq!(challenge.as_str(), CHALLENGE);
    }

    #[test]
    fn hostile_verifiers_are_false_never_a_panic() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        for verifier in [
            "",
            &VERIFIER[..42],
            &"a".repeat(129),
            &format!("{}+", &VERIFIER[..43]),
            &format!("{VERIFIER} "),
            "é".repeat(30).as_str(),
            CHALLENGE,
        ] {
            assert!(!challenge.verify(verifier), "{verifier:?}");
        }
        assert!(is_code_verifier(&"~._-".repeat(32)));
    }

    #[test]
    fn only_s256_challenges_of_the_right_shape() {
        for (challenge, method) in [
            (None, Some("S256")),
            (Some(CHALLENGE), None),
            (Some(CHALLENGE), Some("plain")),
            (Some(CHALLENGE), Some("s256")),
            (Some(CHALLENGE), Some("S512")),
            (Some("short"), Some("S256")),
            (Some(&CHALLENGE[..42]), Some("S256")),
            (Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"), Some("S256")),
            (Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="), Some("S256")),
        ] {
            let err = CodeChallenge::parse(challenge, method).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_request", "{challenge:?} {method:?}");
        }
    }
}
