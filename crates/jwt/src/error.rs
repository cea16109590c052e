//! The crate's error type.

use std::borrow::Cow;
use std::fmt;

use mcp_auth_core::{BoxError, VerifyError};

/// The part of a JWT (compact serialization) an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The JOSE header (first segment).
    Header,
    /// The claims (second segment).
    Payload,
    /// The signature (third segment).
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        })
    }
}

/// Why a JWT was refused, a key could not be loaded, a token could not be signed, or a builder refused
/// its settings.
///
/// Each kind of failure has its own variant so callers and tests can tell them apart; the
/// [`TokenVerifier`](mcp_auth_core::TokenVerifier) implementation maps them to
/// [`VerifyError`] with a short caller-safe reason ([`JwtError::public_reason`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    // ---- Shape and decoding -------------------------------------------------------------------------
    /// The token is longer than the configured limit; it was refused before decoding.
    #[error("token is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The token does not have exactly three dot-separated segments (JWE and extra segments included).
    #[error("token has {found} segments, a JWS in compact form has 3")]
    SegmentCount {
        /// How many segments were found.
        found: usize,
    },
    /// A segment is not valid unpadded base64url.
    #[error("{part} is not valid base64url")]
    Base64 {
        /// Which segment.
        part: Part,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// The header or payload is not a JSON object.
    #[error("{part} is not a JSON object")]
    Json {
        /// Which segment.
        part: Part,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The header or payload repeats a member name (parsers disagree on which copy wins).
    #[error("{part} has the member {} more than once", Untrusted(name))]
    DuplicateKey {
        /// Which segment.
        part: Part,
        /// The repeated name, as the token wrote it (the message shows it escaped).
        name: String,
    },
    /// The header is JSON but not a valid JOSE header (for example `alg` missing or unknown).
    #[error("invalid JOSE header")]
    InvalidHeader(#[source] serde_json::Error),

    // ---- Header policy ------------------------------------------------------------------------------
    /// The header says `alg: none`: unsigned tokens are never accepted.
    #[error("unsigned tokens (alg \"none\") are never accepted")]
    AlgNone,
    /// The token's algorithm is not in the verifier's allow-list.
    #[error("algorithm {} is not allowed", Untrusted(alg))]
    AlgorithmNotAllowed {
        /// The algorithm named in the header, as the token wrote it (the message shows it escaped).
        alg: String,
    },
    /// The header lists `crit` extensions this verifier does not understand (RFC 7515 §4.1.11).
    #[error("critical header extensions not understood: {}", UntrustedList(names))]
    UnsupportedCritical {
        /// The extensions listed in `crit`, as the token wrote them (the message shows them escaped).
        names: Vec<String>,
    },
    /// The header's `typ` is not the required one (for example `at+jwt`, RFC 9068).
    #[error("token type {} is not the required {expected:?}", UntrustedOption(found.as_deref()))]
    WrongType {
        /// The required type.
        expected: String,
        /// The type found, if any, as the token wrote it (the message shows it escaped).
        found: Option<String>,
    },

    // ---- Keys -------------------------------------------------------------------------------------
    /// The header names a `kid` the key set does not hold (even after a permitted refresh).
    #[error("no key with kid {}", Untrusted(kid))]
    UnknownKid {
        /// The key id from the header, as the token wrote it (the message shows it escaped).
        kid: String,
    },
    /// The header names no `kid` and the key set holds more than one usable key.
    #[error("token has no kid and the key set has {candidates} usable keys")]
    MissingKid {
        /// How many keys could have been meant.
        candidates: usize,
    },
    /// The key the token points at cannot be used with the token's algorithm (for example an RSA key
    /// with `HS256`, the algorithm-confusion attack).
    #[error("key {} cannot be used with {alg}", UntrustedOption(kid.as_deref()))]
    KeyMismatch {
        /// The key id, when the token named one (the message shows it escaped).
        kid: Option<String>,
        /// The token's algorithm.
        alg: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    InvalidSignature(#[source] Option<jsonwebtoken::errors::Error>),
    /// The key source (JWKS URL) has never produced usable keys, or its last keys are more than the
    /// maximum stale age ([`JwtVerifierBuilder::jwks_max_stale`](crate::JwtVerifierBuilder::jwks_max_stale))
    /// past their freshness and refreshing fails, so nothing can be verified now.
    #[error("key source unavailable")]
    KeySourceUnavailable(#[source] Box<JwtError>),
    /// Fetching the JWKS document failed.
    #[error("fetching JWKS from {url} failed")]
    JwksFetch {
        /// The JWKS URL.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: BoxError,
    },
    /// The JWKS endpoint answered with a non-success status.
    #[error("JWKS endpoint {url} answered {status}")]
    JwksStatus {
        /// The JWKS URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The JWKS document is not usable: not JSON, no `keys` array, too large, or no usable key at all.
    #[error("invalid JWKS document: {reason}")]
    InvalidJwks {
        /// What is wrong.
        reason: Cow<'static, str>,
        /// The parser's error, if any.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// A key (PEM, JWK or secret) could not be loaded.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What is wrong.
        reason: Cow<'static, str>,
        /// The underlying error, if any.
        #[source]
        source: Option<jsonwebtoken::errors::Error>,
    },

    // ---- Claims -----------------------------------------------------------------------------------
    /// A required claim is missing (`exp` by default; `iss`/`aud` when checked).
    #[error("claim {0:?} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (for example `exp` as a string, `aud` as an object).
    #[error("claim {claim:?} is malformed: {reason}")]
    InvalidClaim {
        /// The claim.
        claim: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The token has expired (`exp` plus leeway is in the past).
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The `exp` claim.
        exp: u64,
        /// The verifier's clock, Unix seconds.
        now: u64,
    },
    /// The token is not valid yet (`nbf` minus leeway is in the future).
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: u64,
        /// The verifier's clock, Unix seconds.
        now: u64,
    },
    /// The token claims to be issued in the future (`iat` minus leeway is after now).
    #[error("token issued in the future at {iat} (now {now})")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: u64,
        /// The verifier's clock, Unix seconds.
        now: u64,
    },
    /// The `iss` claim is not one of the accepted issuers (compared exactly).
    #[error("issuer {} is not accepted", Untrusted(found))]
    WrongIssuer {
        /// The `iss` claim (the message shows it escaped).
        found: String,
    },
    /// The `aud` claim does not contain an accepted audience.
    #[error("audience {} does not include an accepted audience", UntrustedList(found))]
    WrongAudience {
        /// The audiences the token names (the message shows them escaped).
        found: Vec<String>,
    },
    /// The token is not an access token (`token_use` is `refresh`, `id`, ...), or not the expected kind.
    #[error("token_use {} where {expected:?} was required", UntrustedOption(found.as_deref()))]
    WrongTokenUse {
        /// The required use.
        expected: &'static str,
        /// The `token_use` claim, if any (the message shows it escaped).
        found: Option<String>,
    },
    /// The token is valid but lacks required scopes.
    #[error("token lacks required scopes {missing:?}")]
    InsufficientScope {
        /// The scopes the verifier requires.
        required: Vec<String>,
        /// The ones the token lacks.
        missing: Vec<String>,
    },

    // ---- Configuration and signing ------------------------------------------------------------------
    /// A builder was given missing, contradictory or unsafe settings.
    #[error("{setting}: {reason}")]
    Config {
        /// The setting (builder method or environment variable) to change.
        setting: &'static str,
        /// What is wrong and what to do instead.
        reason: Cow<'static, str>,
    },
    /// Signing a token failed.
    #[error("signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// Key generation or the crypto library failed.
    #[error("crypto library error: {0}")]
    Crypto(&'static str),
    /// [`JwtIssuer::rotate`](crate::JwtIssuer::rotate) was given a key whose `kid` the issuer already
    /// holds; the key set is unchanged.
    #[error("the issuer already holds a key with kid {kid:?}: give the new key another kid")]
    DuplicateKeyId {
        /// The repeated key id.
        kid: String,
    },
    /// [`JwtIssuer::remove_key`](crate::JwtIssuer::remove_key) was asked to remove the key that signs new
    /// tokens.
    #[error("the key {kid:?} signs new tokens: rotate to another key before removing it")]
    ActiveKey {
        /// The active key's id.
        kid: String,
    },
    /// [`JwtIssuer::remove_key`](crate::JwtIssuer::remove_key) was given a `kid` the issuer does not hold.
    #[error("the issuer holds no key with kid {kid:?}")]
    NoSuchKey {
        /// The unknown key id.
        kid: String,
    },
    /// The operating system gave no randomness for the verified-token cache's key.
    #[error("cannot key the verified-token cache")]
    Randomness(#[from] mcp_auth_core::fingerprint::RandomnessUnavailable),
}

/// The most characters of one token-supplied value an error message shows.
const SHOWN_CHARS: usize = 64;
/// The most values of a token-supplied list an error message shows.
const SHOWN_ITEMS: usize = 8;

/// A value a token supplied (a header field, member name or claim), shown in an error message: quoted,
/// with control, formatting and other non-printable characters escaped as Rust's `escape_debug` does
/// (`\n`, `\u{1b}`, `\u{202e}`), and cut after [`SHOWN_CHARS`] characters. Error messages end up in
/// logs; this keeps a hostile token from writing log lines, terminal escapes or hidden text there, or
/// from flooding them.
struct Untrusted<'a>(&'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for (shown, c) in self.0.chars().enumerate() {
            if shown == SHOWN_CHARS {
                return write!(f, "\"... ({} bytes)", self.0.len());
            }
            write!(f, "{}", c.escape_debug())?;
        }
        f.write_str("\"")
    }
}

/// An optional [`Untrusted`] value; `none` when absent.
struct UntrustedOption<'a>(Option<&'a str>);

impl fmt::Display for UntrustedOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => Untrusted(value).fmt(f),
            None => f.write_str("none"),
        }
    }
}

/// A list of [`Untrusted`] values, at most [`SHOWN_ITEMS`] of them.
struct UntrustedList<'a>(&'a [String]);

impl fmt::Display for UntrustedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, value) in self.0.iter().enumerate() {
            if i == SHOWN_ITEMS {
                return write!(f, ", ... ({} in all)]", self.0.len());
            }
            if i > 0 {
                f.write_str(", ")?;
            }
            Untrusted(value).fmt(f)?;
        }
        f.write_str("]")
    }
}

impl JwtError {
    pub(crate) fn config(setting: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Config { setting, reason: reason.into() }
    }

    pub(crate) fn invalid_key(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidKey { reason: reason.into(), source: None }
    }

    pub(crate) fn invalid_jwks(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidJwks { reason: reason.into(), source: None }
    }

    /// A short reason that is safe to show to the caller of a protected endpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::JwtError;
    ///
    /// let err = JwtError::Expired { exp: 10, now: 20 };
    /// assert_eq!(err.public_reason(), "token expired");
    /// ```
    #[must_use]
    pub fn public_reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "token too large",
            Self::SegmentCount { .. }
            | Self::Base64 { .. }
            | Self::Json { .. }
            | Self::DuplicateKey { .. }
            | Self::InvalidHeader(_) => "malformed token",
            Self::AlgNone | Self::AlgorithmNotAllowed { .. } => "algorithm not allowed",
            Self::UnsupportedCritical { .. } => "unsupported critical header",
            Self::WrongType { .. } => "wrong token type",
            Self::UnknownKid { .. } | Self::MissingKid { .. } | Self::KeyMismatch { .. } => {
                "unknown signing key"
            }
            Self::InvalidSignature(_) => "invalid signature",
            Self::KeySourceUnavailable(_)
            | Self::JwksFetch { .. }
            | Self::JwksStatus { .. }
            | Self::InvalidJwks { .. } => "signing keys unavailable",
            Self::InvalidKey { .. }
            | Self::Config { .. }
            | Self::Signing(_)
            | Self::Crypto(_)
            | Self::Randomness(_) => "verifier misconfigured",
            Self::DuplicateKeyId { .. } | Self::ActiveKey { .. } | Self::NoSuchKey { .. } => {
                "key management refused"
            }
            Self::MissingClaim(_) | Self::InvalidClaim { .. } => "missing or malformed claim",
            Self::Expired { .. } => "token expired",
            Self::NotYetValid { .. } => "token not yet valid",
            Self::IssuedInFuture { .. } => "token issued in the future",
            Self::WrongIssuer { .. } => "wrong issuer",
            Self::WrongAudience { .. } => "wrong audience",
            Self::WrongTokenUse { .. } => "not an access token",
            Self::InsufficientScope { .. } => "insufficient scope",
        }
    }
}

impl From<JwtError> for VerifyError {
    fn from(err: JwtError) -> Self {
        match err {
            JwtError::InsufficientScope { required, .. } => VerifyError::InsufficientScope { required },
            JwtError::KeySourceUnavailable(_) => VerifyError::unavailable(err.public_reason(), err),
            other => VerifyError::invalid_because(other.public_reason(), other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_values_are_quoted_escaped_and_cut() {
        assert_eq!(Untrusted("RS256").to_string(), r#""RS256""#);
        assert_eq!(Untrusted("a\"b\nc\u{1b}[31m\u{202e}").to_string(), r#""a\"b\nc\u{1b}[31m\u{202e}""#);
        let long = "é".repeat(100);
        assert_eq!(Untrusted(&long).to_string(), format!("\"{}\"... (200 bytes)", "é".repeat(64)));
        assert_eq!(UntrustedOption(None).to_string(), "none");
        let many: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(
            UntrustedList(&many).to_string(),
            r#"["0", "1", "2", "3", "4", "5", "6", "7", ... (10 in all)]"#
        );
        assert_eq!(UntrustedList(&[]).to_string(), "[]");
    }

    #[test]
    fn maps_to_the_right_status() {
        let invalid: VerifyError = JwtError::Expired { exp: 1, now: 2 }.into();
        assert_eq!(invalid.status_code(), 401);
        assert_eq!(invalid.to_string(), "invalid token: token expired");
        let scope: VerifyError =
            JwtError::InsufficientScope { required: vec!["a".into()], missing: vec!["a".into()] }.into();
        assert_eq!(scope.status_code(), 403);
        let down: VerifyError = JwtError::KeySourceUnavailable(Box::new(JwtError::JwksStatus {
            url: "http://x".into(),
            status: 500,
        }))
        .into();
        assert_eq!(down.status_code(), 503);
    }
}
