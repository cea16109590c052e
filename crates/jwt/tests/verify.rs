//! Happy paths for every key source and algorithm, claim mapping, builder refusals.

mod common;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use mcp_auth_core::{TokenVerifier, VerifyError};
use mcp_auth_jwt::{Algorithm, JwtError, JwtVerifier};
use secrecy::SecretSlice;
use serde_json::json;

fn static_verifier(keys: &[&TestKey], algorithms: &[Algorithm]) -> JwtVerifier {
    JwtVerifier::builder()
        .jwks(jwks(keys))
        .algorithms(algorithms.iter().copied())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(clock()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_asymmetric_algorithm_verifies() {
    let keys = [rsa1(), ec256(), ec384(), ed25519()];
    let refs: Vec<&TestKey> = keys.iter().collect();
    let verifier =
        static_verifier(&refs, &[Algorithm::RS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]);
    for key in &keys {
        let access = verifier
            .verify_jwt(&token(key, &claims()))
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", key.alg));
        assert_eq!(access.subject.as_deref(), Some("user_1"));
    }
}

#[tokio::test]
async fn rsa_pss_and_larger_hashes_verify_with_the_same_rsa_key() {
    let key = rsa1();
    let verifier = static_verifier(
        &[&TestKey {
            jwk: {
                let mut j = key.jwk.clone();
                j.common.key_algorithm = None;
                j
            },
            ..key.clone()
        }],
        &[Algorithm::PS256, Algorithm::RS512],
    );
    for alg in [Algorithm::PS256, Algorithm::RS512] {
        let header = json!({"alg": format!("{alg:?}"), "kid": key.kid});
        let token = sign_raw(&header.to_string(), &claims().to_string(), alg, &key.encoding);
        verifier.verify_jwt(&token).await.unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
    }
}

#[tokio::test]
async fn access_token_is_filled_from_the_claims() {
    let key = rsa1();
    let verifier = static_verifier(&[&key], &[Algorithm::RS256]);
    let access = verifier.verify_jwt(&token(&key, &claims())).await.unwrap();
    assert_eq!(access.expose_token(), token(&key, &claims()));
    assert_eq!(access.subject.as_deref(), Some("user_1"));
    assert_eq!(access.client_id.as_deref(), Some("client_1"));
    assert_eq!(access.scopes, ["mcp:read", "mcp:write"]);
    assert_eq!(access.issuer.as_deref(), Some(ISSUER));
    assert_eq!(access.audience, [AUDIENCE]);
    assert_eq!(access.expires_at, Some(UNIX_EPOCH + Duration::from_secs(NOW + 600)));
    assert_eq!(access.claim("email"), Some(&json!("ada@example.com")));
    assert_eq!(access.user().unwrap().email.as_deref(), Some("ada@example.com"));

    // client_id falls back to azp then cid; scp may be an array.
    let t = token(
        &key,
        &claims_with(json!({"client_id": null, "azp": "azp_client", "scope": null, "scp": ["a", "b"]})),
    );
    let access = verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(access.client_id.as_deref(), Some("azp_client"));
    assert_eq!(access.scopes, ["a", "b"]);
    let t = token(&key, &claims_with(json!({"client_id": null, "cid": "okta_client", "scp": "x y"})));
    let access = verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(access.client_id.as_deref(), Some("okta_client"));
    assert_eq!(access.scopes, ["mcp:read", "mcp:write", "x", "y"]);
}

#[tokio::test]
async fn pem_public_key_source() {
    for key in [rsa1(), ec256(), ed25519()] {
        let verifier = JwtVerifier::builder()
            .public_key_pem(key.public_pem)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .clock(Arc::new(clock()))
            .build()
            .unwrap();
        verifier.verify_jwt(&token(&key, &claims())).await.unwrap_or_else(|e| panic!("{:?}: {e:?}", key.alg));
    }
}

#[tokio::test]
async fn hmac_secret_source() {
    let secret = b"0123456789abcdef0123456789abcdef-hmac".to_vec();
    let verifier = JwtVerifier::builder()
        .hmac_secret(SecretSlice::from(secret.clone()))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let enc = jsonwebtoken::EncodingKey::from_secret(&secret);
    let t = sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &claims().to_string(), Algorithm::HS256, &enc);
    verifier.verify_jwt(&t).await.unwrap();
    let wrong = jsonwebtoken::EncodingKey::from_secret(b"another secret that is long enough!!");
    let t = sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &claims().to_string(), Algorithm::HS256, &wrong);
    assert!(matches!(verifier.verify_jwt(&t).await, Err(JwtError::InvalidSignature(_))));
}

#[tokio::test]
async fn leeway_applies_to_exp() {
    let key = rsa1();
    let verifier = static_verifier(&[&key], &[Algorithm::RS256]);
    // Expired 20 s ago: within the default 30 s leeway.
    verifier.verify_jwt(&token(&key, &claims_with(json!({"exp": NOW - 20})))).await.unwrap();
    // nbf 20 s ahead: within leeway too.
    verifier.verify_jwt(&token(&key, &claims_with(json!({"nbf": NOW + 20})))).await.unwrap();
    // Fractional NumericDates are accepted.
    verifier.verify_jwt(&token(&key, &claims_with(json!({"exp": (NOW + 60) as f64 + 0.5})))).await.unwrap();
}

#[tokio::test]
async fn required_scopes_map_to_403_through_token_verifier() {
    let key = rsa1();
    let verifier = JwtVerifier::builder()
        .jwks(jwks(&[&key]))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .required_scopes(["mcp:read", "admin"])
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    assert_eq!(TokenVerifier::required_scopes(&verifier), ["mcp:read", "admin"]);
    let err = verifier.verify(&token(&key, &claims())).await.unwrap_err();
    assert_eq!(err.status_code(), 403);
    assert!(
        matches!(err, VerifyError::InsufficientScope { ref required } if required == &["mcp:read", "admin"])
    );
    let ok = token(&key, &claims_with(json!({"scope": "mcp:read admin"})));
    assert!(verifier.verify(&ok).await.is_ok());
    let err = verifier.verify(&token(&key, &claims_with(json!({"exp": NOW - 100})))).await.unwrap_err();
    assert_eq!(err.status_code(), 401);
    assert_eq!(err.to_string(), "invalid token: token expired");
}

#[tokio::test]
async fn several_issuers_and_audiences() {
    let key = rsa1();
    let verifier = JwtVerifier::builder()
        .jwks(jwks(&[&key]))
        .issuers([ISSUER, "https://other.example.com"])
        .audiences(["urn:a", AUDIENCE])
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let t = token(&key, &claims_with(json!({"iss": "https://other.example.com", "aud": ["urn:x", "urn:a"]})));
    verifier.verify_jwt(&t).await.unwrap();
}

#[tokio::test]
async fn verified_token_cache_hits_and_respects_expiry_and_key_changes() {
    let key = rsa1();
    let clock = clock();
    let verifier = JwtVerifier::builder()
        .jwks(jwks(&[&key]))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .token_cache(100)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let t = token(&key, &claims_with(json!({"exp": NOW + 60})));
    let first = verifier.verify_jwt(&t).await.unwrap();
    let second = verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(second.expose_token(), t);
    assert_eq!(first.claims, second.claims);
    // Past exp the cache does not answer; the full check then refuses (leeway 30 s).
    clock.advance(Duration::from_secs(91));
    assert!(matches!(verifier.verify_jwt(&t).await, Err(JwtError::Expired { .. })));
}

#[tokio::test]
async fn the_token_cache_answers_only_the_exact_token() {
    let key = rsa1();
    let verifier = JwtVerifier::builder()
        .jwks(jwks(&[&key]))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .token_cache(100)
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let t = token(&key, &claims_with(json!({"exp": NOW + 60})));
    verifier.verify_jwt(&t).await.unwrap();
    // Every one-character change, in every position, is checked in full and refused.
    for (i, c) in t.char_indices() {
        let other = if c == 'A' { 'B' } else { 'A' };
        let tampered = format!("{}{other}{}", &t[..i], &t[i + 1..]);
        assert!(verifier.verify_jwt(&tampered).await.is_err(), "position {i} answered from the cache");
    }
    for tampered in [format!("{t}A"), t[..t.len() - 1].to_owned(), format!(" {t}")] {
        assert!(verifier.verify_jwt(&tampered).await.is_err());
    }
    assert_eq!(verifier.verify_jwt(&t).await.unwrap().expose_token(), t);
}

#[test]
fn builder_refuses_contradictions_with_actionable_messages() {
    let key = rsa1();
    let base = || JwtVerifier::builder().issuer(ISSUER).audience(AUDIENCE);
    let cases: Vec<(JwtError, &str)> = vec![
        (base().build().unwrap_err(), "no key source"),
        (
            base().jwks_url("https://a/jwks").public_key_pem(key.public_pem).build().unwrap_err(),
            "several key sources",
        ),
        (
            base().jwks_url("https://a/jwks").algorithms([Algorithm::HS256]).build().unwrap_err(),
            "HS256 cannot be used",
        ),
        (
            base().public_key_pem(key.public_pem).algorithms([Algorithm::HS256]).build().unwrap_err(),
            "HS256 cannot be used",
        ),
        (
            base().public_key_pem(key.public_pem).algorithms([Algorithm::ES256]).build().unwrap_err(),
            "ES256 cannot be used",
        ),
        (base().jwks_url("https://a/jwks").algorithms([]).build().unwrap_err(), "allow-list is empty"),
        (
            base()
                .hmac_secret(SecretSlice::from(vec![1u8; 32]))
                .algorithms([Algorithm::RS256])
                .build()
                .unwrap_err(),
            "RS256 cannot be used",
        ),
        (base().hmac_secret(SecretSlice::from(vec![1u8; 8])).build().unwrap_err(), "at least 32 bytes"),
        (
            JwtVerifier::builder().jwks_url("https://a/jwks").audience(AUDIENCE).build().unwrap_err(),
            "insecure_skip_issuer",
        ),
        (
            JwtVerifier::builder().jwks_url("https://a/jwks").issuer(ISSUER).build().unwrap_err(),
            "insecure_skip_audience",
        ),
        (base().jwks_url("http://idp.example.com/jwks").build().unwrap_err(), "use https"),
        (base().jwks_url("not a url").build().unwrap_err(), "absolute URL"),
        (
            base().jwks_url("https://a/jwks").leeway(Duration::from_secs(3600)).build().unwrap_err(),
            "5 minutes",
        ),
    ];
    for (err, needle) in cases {
        assert!(err.to_string().contains(needle), "{err} should mention {needle:?}");
    }
    // The explicit escape hatches work.
    JwtVerifier::builder()
        .jwks_url("https://a/jwks")
        .insecure_skip_issuer()
        .insecure_skip_audience()
        .build()
        .unwrap();
    base().jwks_url("http://idp.internal/jwks").insecure_allow_http_jwks().build().unwrap();
    base().jwks_url("http://127.0.0.1:9/jwks").build().unwrap();
}

#[test]
fn debug_output_shows_no_secret() {
    let secret = b"super-secret-hmac-value-0123456789abcdef".to_vec();
    let verifier = JwtVerifier::builder()
        .hmac_secret(SecretSlice::from(secret))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let debug = format!("{verifier:?}");
    assert!(!debug.contains("super-secret"), "{debug}");
    assert!(!debug.contains(&b64(b"super-secret-hmac-value-0123456789abcdef")), "{debug}");
}

#[tokio::test]
async fn kid_rules_for_single_keys() {
    let key = rsa1();
    // A one-key set accepts a token without kid.
    let verifier = static_verifier(&[&key], &[Algorithm::RS256]);
    let t = token_with_header(&key, &json!({"alg": "RS256"}), &claims());
    verifier.verify_jwt(&t).await.unwrap();
    // A PEM key given a key_id only accepts that kid (or none).
    let named = JwtVerifier::builder()
        .public_key_pem(key.public_pem)
        .key_id("pem-key")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let t = token_with_header(&key, &json!({"alg": "RS256", "kid": "pem-key"}), &claims());
    named.verify_jwt(&t).await.unwrap();
    let t = token_with_header(&key, &json!({"alg": "RS256", "kid": "other"}), &claims());
    assert!(matches!(named.verify_jwt(&t).await, Err(JwtError::UnknownKid { .. })));
    let t = token_with_header(&key, &json!({"alg": "RS256"}), &claims());
    named.verify_jwt(&t).await.unwrap();
}
