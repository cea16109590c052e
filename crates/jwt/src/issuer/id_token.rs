//! OpenID Connect ID-token specifics: the reserved claims and `at_hash`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Claims the issuer sets itself in an ID token; [`IdTokenRequest::claim`](crate::IdTokenRequest::claim)
/// cannot override them.
pub(super) const ID_TOKEN_RESERVED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "iat",
    "nbf",
    "exp",
    "jti",
    "auth_time",
    "nonce",
    "sid",
    "at_hash",
    "c_hash",
    "token_use",
];

/// The `at_hash` of `access_token` for an ID token signed with `alg` (OpenID Connect Core §3.1.3.6): the
/// left half of the hash that matches the algorithm, base64url without padding. SHA-256 for the `*256`
/// algorithms, SHA-384 for `*384`, SHA-512 for `*512` and for EdDSA (Ed25519 signs with SHA-512, as the
/// OpenID Foundation's guidance for EdDSA ID tokens states). `None` for an algorithm without a defined
/// hash.
pub(super) fn at_hash(alg: Algorithm, access_token: &str) -> Option<String> {
    fn left_half<D: Digest>(input: &[u8]) -> String {
        let digest = D::digest(input);
        URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
    }
    let input = access_token.as_bytes();
    match alg {
        Algorithm::HS256 | Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => {
            Some(left_half::<Sha256>(input))
        }
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            Some(left_half::<Sha384>(input))
        }
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
            Some(left_half::<Sha512>(input))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access token of the examples in OpenID Connect Core 1.0, Appendix A (`response_type=id_token token`).
    const SPEC_TOKEN: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";

    #[test]
    fn the_spec_vector_for_rs256() {
        // Appendix A gives at_hash 77QmUPtjPfzWtF2AnpK9RQ for this token under RS256.
        assert_eq!(at_hash(Algorithm::RS256, SPEC_TOKEN).unwrap(), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Algorithm::ES256, SPEC_TOKEN).unwrap(), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Algorithm::HS256, SPEC_TOKEN).unwrap(), "77QmUPtjPfzWtF2AnpK9RQ");
    }

    #[test]
    fn longer_hashes_for_longer_algorithms_and_eddsa() {
        // Computed independently (Python hashlib): the left half of SHA-384 and SHA-512.
        assert_eq!(at_hash(Algorithm::ES384, SPEC_TOKEN).unwrap(), "jtAeDp945y1dDqU3nkIVGNZP1HjH_MFs");
        assert_eq!(
            at_hash(Algorithm::EdDSA, SPEC_TOKEN).unwrap(),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
        assert_eq!(
            at_hash(Algorithm::RS512, SPEC_TOKEN).unwrap(),
            at_hash(Algorithm::EdDSA, SPEC_TOKEN).unwrap()
        );
        assert_eq!(at_hash(Algorithm::EdDSA, SPEC_TOKEN).unwrap().len(), 43, "32 bytes in base64url");
        assert_ne!(
            at_hash(Algorithm::RS256, "another token").unwrap(),
            at_hash(Algorithm::RS256, SPEC_TOKEN).unwrap()
        );
    }
}
