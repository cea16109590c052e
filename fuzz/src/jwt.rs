//! JWT decoding and verification with a fixed key set, and JWKS documents.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use mcp_auth_core::clock::ManualClock;
use mcp_auth_jwt::{Algorithm, JwkSet, JwtVerifier};
use secrecy::SecretSlice;
use serde_json::Value;
use sha2::Sha256;

use crate::{block_on, split_line, text};

const SECRET: &[u8] = b"fuzz-secret-fuzz-secret-fuzz-secret!";
const ISSUER: &str = "https://issuer.example.com";
const AUDIENCE: &str = "https://mcp.example.com/mcp";
/// The verifiers' clock: 2026-01-01T00:00:00Z.
const NOW: u64 = 1_767_225_600;
/// `DEFAULT_LEEWAY` in seconds.
const LEEWAY: f64 = 30.0;

fn hmac_verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        JwtVerifier::builder()
            .hmac_secret(SecretSlice::from(SECRET.to_vec()))
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .clock(Arc::new(ManualClock::at_unix(NOW)))
            .build()
            .expect("a valid verifier")
    })
}

/// `base64url(header).base64url(payload).base64url(HS256 signature)` with the fixed secret.
fn sign(header: &[u8], payload: &[u8]) -> String {
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature(message.as_bytes())))
}

fn signature(message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `JwtVerifier::verify_jwt` with a fixed HMAC key. The first byte picks the mode: even, the rest is the
/// token as sent, and a token is accepted only when its last segment is the correct signature of the
/// rest; odd, the rest is `header JSON \n payload JSON`, signed correctly here so the header and claim
/// checks are reached, and a token is accepted only for `alg` HS256, the right issuer and audience and
/// an `exp` not yet past.
pub fn jwt_verify(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let Some(token) = text(rest) else { return };
        if block_on(hmac_verifier().verify_jwt(token)).is_ok() {
            let (message, sig) = token.rsplit_once('.').expect("accepted a token without segments");
            assert_eq!(sig, URL_SAFE_NO_PAD.encode(signature(message.as_bytes())), "accepted a forged token");
        }
        return;
    }
    let (header, payload) = split_line(rest);
    let token = sign(header, payload);
    if block_on(hmac_verifier().verify_jwt(&token)).is_err() {
        return;
    }
    let header: Value = serde_json::from_slice(header).expect("accepted a header that is not JSON");
    assert_eq!(header["alg"], "HS256", "accepted another algorithm");
    let claims: Value = serde_json::from_slice(payload).expect("accepted a payload that is not JSON");
    assert_eq!(claims["iss"], ISSUER, "accepted another issuer");
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => aud == AUDIENCE,
        Value::Array(auds) => auds.iter().any(|aud| aud == AUDIENCE),
        _ => false,
    };
    assert!(audience_ok, "accepted the audience {}", claims["aud"]);
    let exp = claims["exp"].as_f64().expect("accepted a token without a numeric exp");
    assert!(exp + LEEWAY > NOW as f64, "accepted an expired token (exp {exp})");
}

/// A JWKS document given to `JwtVerifierBuilder::jwks` (with the default and with every asymmetric
/// algorithm allowed) and, when it reads as one, as a `JwkSet` to `jwk_set`; a verifier that builds
/// refuses tokens signed with the fuzz targets' HMAC secret, whatever `alg` and `kid` they name.
pub fn jwks_document(data: &[u8]) {
    let Ok(document) = serde_json::from_slice::<Value>(data) else { return };
    let build = |builder: mcp_auth_jwt::JwtVerifierBuilder| {
        builder.issuer(ISSUER).audience(AUDIENCE).clock(Arc::new(ManualClock::at_unix(NOW))).build()
    };
    let mut verifiers = Vec::new();
    if let Ok(set) = serde_json::from_value::<JwkSet>(document.clone()) {
        verifiers.extend(build(JwtVerifier::builder().jwk_set(&set)).ok());
    }
    verifiers.extend(build(JwtVerifier::builder().jwks(document.clone())).ok());
    let asymmetric =
        [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];
    verifiers.extend(build(JwtVerifier::builder().jwks(document).algorithms(asymmetric)).ok());
    let claims = format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}"#, NOW + 600);
    for verifier in verifiers {
        for alg in ["RS256", "ES256", "EdDSA", "HS256"] {
            for kid in ["", r#","kid":"k1""#] {
                let header = format!(r#"{{"alg":"{alg}","typ":"JWT"{kid}}}"#);
                let token = sign(header.as_bytes(), claims.as_bytes());
                assert!(block_on(verifier.verify_jwt(&token)).is_err(), "a JWKS verifier accepted {alg}");
            }
        }
    }
}
