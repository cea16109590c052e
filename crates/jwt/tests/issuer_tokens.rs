//! JwtIssuer: the audience per token, OpenID Connect ID tokens, and the issuer checking its own access
//! tokens (with the hostile tokens it must refuse).

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{DecodingKey, Validation};
use mcp_auth_core::clock::ManualClock;
use mcp_auth_jwt::{Algorithm, IdTokenRequest, JwtError, JwtIssuer, JwtVerifier, SigningKey, TokenRequest};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

fn issuer_with(key: SigningKey, audience: Option<&str>, clock: &ManualClock) -> JwtIssuer {
    let mut builder = JwtIssuer::builder()
        .issuer(ISSUER)
        .signing_key(key)
        .access_ttl(Duration::from_secs(600))
        .clock(Arc::new(clock.clone()));
    if let Some(audience) = audience {
        builder = builder.audience(audience);
    }
    builder.build().unwrap()
}

/// The claims of a token, read without checking anything (the tests check what the issuer wrote).
fn payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn ec_issuer(clock: &ManualClock) -> (JwtIssuer, TestKey) {
    let key = ec256();
    let pem = SecretString::from(include_str!("keys/ec256_private.pem"));
    (issuer_with(SigningKey::from_pem(key.kid.clone(), &pem).unwrap(), Some(AUDIENCE), clock), key)
}

// ---- Audience per token ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_request_audience_overrides_the_default_and_none_means_no_aud() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_es256("k").unwrap(), Some(AUDIENCE), &clock);
    let default = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    assert_eq!(payload(default.expose())["aud"], AUDIENCE);
    let other = issuer.sign_access(&TokenRequest::new("u").audience("https://other.example/mcp")).unwrap();
    assert_eq!(payload(other.expose())["aud"], "https://other.example/mcp");
    let refresh = issuer.sign_refresh(&TokenRequest::new("u").audience("https://other.example/mcp")).unwrap();
    assert_eq!(payload(refresh.expose())["aud"], "https://other.example/mcp");
    issuer.verify_refresh(refresh.expose()).await.unwrap();

    // The default-audience verifier refuses the token minted for the other resource.
    let verifier = issuer.access_verifier().build().unwrap();
    verifier.verify_jwt(default.expose()).await.unwrap();
    assert!(matches!(verifier.verify_jwt(other.expose()).await, Err(JwtError::WrongAudience { .. })));

    let bare = issuer_with(SigningKey::generate_es256("k").unwrap(), None, &clock);
    let no_aud = bare.sign_access(&TokenRequest::new("u")).unwrap();
    assert!(payload(no_aud.expose()).get("aud").is_none());
    // Forgetting the audience is a start-up error, not an open door.
    let err = bare.access_verifier().build().unwrap_err();
    assert!(matches!(err, JwtError::Config { setting: "audience", .. }), "{err:?}");
    let verifier = bare.access_verifier().audience(AUDIENCE).build().unwrap();
    assert!(matches!(verifier.verify_jwt(no_aud.expose()).await, Err(JwtError::MissingClaim("aud"))));
    let named = bare.sign_access(&TokenRequest::new("u").audience(AUDIENCE)).unwrap();
    verifier.verify_jwt(named.expose()).await.unwrap();
    // `aud` stays reserved: the audience is set with `.audience(..)`.
    assert!(matches!(
        bare.sign_access(&TokenRequest::new("u").claim("aud", "x")),
        Err(JwtError::Config { setting: "TokenRequest::claim", .. })
    ));
}

// ---- ID tokens ------------------------------------------------------------------------------------------

fn left_half_b64<D: Digest>(token: &str) -> String {
    let digest = D::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[tokio::test]
async fn id_tokens_carry_the_openid_claims_and_verify_like_an_oidc_client_would() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_rs256("rsa-1").unwrap(), Some(AUDIENCE), &clock);
    let access = issuer.sign_access(&TokenRequest::new("user_1").client_id("client_a")).unwrap();
    let auth_time = UNIX_EPOCH + Duration::from_secs(NOW - 120);
    let id = issuer
        .sign_id_token(
            &IdTokenRequest::new("user_1", "client_a", auth_time)
                .nonce("n-0S6_WzA2Mj")
                .sid("session-7")
                .access_token(access.expose())
                .claim("email", "ada@example.com")
                .claim("name", "Ada Lovelace")
                .claim("org_id", "org_9"),
        )
        .unwrap();
    let header = jsonwebtoken::decode_header(id.expose()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("rsa-1"));

    // An OpenID Connect client checks signature, iss, aud = its client id, exp; here with jsonwebtoken.
    let jwk = issuer.public_jwks().keys[0].clone();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["client_a"]);
    validation.validate_exp = false; // the test clock is in the future of the real one
    let claims =
        jsonwebtoken::decode::<Value>(id.expose(), &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "user_1");
    assert_eq!(claims["aud"], "client_a");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 600, "the access-token lifetime by default");
    assert_eq!(claims["auth_time"], NOW - 120);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sid"], "session-7");
    assert_eq!(claims["at_hash"], left_half_b64::<Sha256>(access.expose()));
    assert_eq!(claims["token_use"], "id");
    assert_eq!(claims["jti"], id.jti);
    assert_eq!(
        (&claims["email"], &claims["name"], &claims["org_id"]),
        (&json!("ada@example.com"), &json!("Ada Lovelace"), &json!("org_9"))
    );
    assert_eq!(id.expires_at, UNIX_EPOCH + Duration::from_secs(NOW + 600));

    // Access-token verifiers refuse it, for the client id as audience too.
    let as_access = JwtVerifier::builder()
        .jwk_set(&issuer.public_jwks())
        .issuer(ISSUER)
        .audience("client_a")
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert!(matches!(
        as_access.verify_jwt(id.expose()).await,
        Err(JwtError::WrongTokenUse { expected: "access", found: Some(found) }) if found == "id"
    ));
    assert!(matches!(
        issuer.access_verifier().audience("client_a").build().unwrap().verify_jwt(id.expose()).await,
        Err(JwtError::WrongType { .. })
    ));
}

#[tokio::test]
async fn optional_id_token_claims_are_left_out_and_the_lifetime_can_be_set() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_es256("es").unwrap(), None, &clock);
    let id = issuer
        .sign_id_token(&IdTokenRequest::new("u", "c", SystemTime::UNIX_EPOCH).ttl(Duration::from_secs(60)))
        .unwrap();
    let claims = payload(id.expose());
    for absent in ["nonce", "sid", "at_hash"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    assert_eq!(claims["exp"], NOW + 60);
    assert_eq!(claims["auth_time"], 0);
}

#[test]
fn at_hash_follows_the_signing_algorithm() {
    let clock = clock();
    let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
    for (key, expected) in [
        // OpenID Connect Core 1.0, Appendix A: at_hash of this token under RS256.
        (SigningKey::generate_rs256("rs").unwrap(), "77QmUPtjPfzWtF2AnpK9RQ".to_owned()),
        (SigningKey::generate_es256("es").unwrap(), left_half_b64::<Sha256>(token)),
        (
            SigningKey::from_hmac_secret(&SecretString::from("a shared secret that is long enough!!"))
                .unwrap(),
            left_half_b64::<Sha256>(token),
        ),
        // Ed25519 signs with SHA-512, so EdDSA ID tokens use the left half of SHA-512.
        (SigningKey::generate_ed25519("ed").unwrap(), left_half_b64::<Sha512>(token)),
    ] {
        let alg = key.algorithm();
        let issuer = issuer_with(key, None, &clock);
        let id =
            issuer.sign_id_token(&IdTokenRequest::new("u", "c", UNIX_EPOCH).access_token(token)).unwrap();
        assert_eq!(payload(id.expose())["at_hash"], expected, "{alg:?}");
    }
    assert_eq!(left_half_b64::<Sha256>(token), "77QmUPtjPfzWtF2AnpK9RQ");
}

// ---- The issuer's own access tokens ---------------------------------------------------------------------

#[tokio::test]
async fn own_access_tokens_pass_for_any_audience_or_none() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_ed25519("ed").unwrap(), None, &clock);
    for request in [
        TokenRequest::new("u"),
        TokenRequest::new("u").audience("https://a.example/mcp"),
        TokenRequest::new("u").audience("https://b.example/mcp").client_id("c").scopes(["x"]),
    ] {
        let token = issuer.sign_access(&request).unwrap();
        let access = issuer.verify_own_access_token(token.expose()).await.unwrap();
        assert_eq!(access.subject.as_deref(), Some("u"));
        assert_eq!(access.issuer.as_deref(), Some(ISSUER));
    }
}

#[tokio::test]
async fn own_tokens_expire_on_the_issuers_clock_without_leeway() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_es256("es").unwrap(), Some(AUDIENCE), &clock);
    let token = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    let resource_side = issuer.access_verifier().build().unwrap();
    clock.advance(Duration::from_secs(599));
    issuer.verify_own_access_token(token.expose()).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        issuer.verify_own_access_token(token.expose()).await,
        Err(JwtError::Expired { exp, now }) if exp == NOW + 600 && now == NOW + 600
    ));
    // A resource server on another machine keeps its 30 s of leeway.
    resource_side.verify_jwt(token.expose()).await.unwrap();
}

#[tokio::test]
async fn refresh_and_id_tokens_are_not_access_tokens_at_the_issuers_endpoints() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_rs256("rsa").unwrap(), Some(AUDIENCE), &clock);
    let refresh = issuer.sign_refresh(&TokenRequest::new("u")).unwrap();
    assert!(matches!(
        issuer.verify_own_access_token(refresh.expose()).await,
        Err(JwtError::WrongType { found: Some(found), .. }) if found == "JWT"
    ));
    let id = issuer.sign_id_token(&IdTokenRequest::new("u", "c", UNIX_EPOCH)).unwrap();
    assert!(matches!(issuer.verify_own_access_token(id.expose()).await, Err(JwtError::WrongType { .. })));
    // And an access token is no refresh token.
    let access = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    assert!(matches!(
        issuer.verify_refresh(access.expose()).await,
        Err(JwtError::WrongTokenUse { expected: "refresh", .. })
    ));
}

#[tokio::test]
async fn forged_tokens_under_the_issuers_own_key_are_refused() {
    let clock = clock();
    let (issuer, key) = ec_issuer(&clock);
    let at_jwt = json!({"alg": "ES256", "typ": "at+jwt", "kid": key.kid});
    let good = json!({"iss": ISSUER, "sub": "u", "iat": NOW, "exp": NOW + 60, "token_use": "access"});
    issuer.verify_own_access_token(&token_with_header(&key, &at_jwt, &good)).await.unwrap();

    let with = |changes: Value| {
        let mut claims = good.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        token_with_header(&key, &at_jwt, &claims)
    };
    let refuse = |token: String| {
        let issuer = issuer.clone();
        async move { issuer.verify_own_access_token(&token).await.expect_err("must be refused") }
    };
    // `typ: at+jwt` alone does not make an access token: `token_use` must say so.
    for token_use in [json!("refresh"), json!("id"), Value::Null] {
        assert!(
            matches!(
                refuse(with(json!({"token_use": token_use}))).await,
                JwtError::WrongTokenUse { expected: "access", .. }
            ),
            "{token_use}"
        );
    }
    assert!(matches!(
        refuse(with(json!({"iss": "https://evil.example"}))).await,
        JwtError::WrongIssuer { .. }
    ));
    assert!(matches!(refuse(with(json!({"iss": null}))).await, JwtError::MissingClaim("iss")));
    assert!(matches!(refuse(with(json!({"exp": null}))).await, JwtError::MissingClaim("exp")));
    assert!(matches!(refuse(with(json!({"iat": NOW + 1}))).await, JwtError::IssuedInFuture { .. }));
    assert!(matches!(refuse(with(json!({"nbf": NOW + 1}))).await, JwtError::NotYetValid { .. }));
    assert!(matches!(refuse(with(json!({"exp": NOW}))).await, JwtError::Expired { .. }));
    // The strict decoder is the one in use: a repeated member is refused even when correctly signed.
    let duplicate =
        format!(r#"{{"iss":"{ISSUER}","sub":"u","sub":"admin","exp":{},"token_use":"access"}}"#, NOW + 60);
    let token = sign_raw(&at_jwt.to_string(), &duplicate, Algorithm::ES256, &key.encoding);
    assert!(matches!(refuse(token).await, JwtError::DuplicateKey { .. }));
    // No typ, or the wrong one.
    let plain = json!({"alg": "ES256", "kid": key.kid});
    assert!(matches!(refuse(token_with_header(&key, &plain, &good)).await, JwtError::WrongType { .. }));
}

#[tokio::test]
async fn forged_headers_are_refused() {
    let clock = clock();
    let issuer = issuer_with(
        SigningKey::from_pem("rsa-1", &SecretString::from(include_str!("keys/rsa1_private.pem"))).unwrap(),
        Some(AUDIENCE),
        &clock,
    );
    let rsa = rsa1();
    let claims = json!({"iss": ISSUER, "sub": "admin", "iat": NOW, "exp": NOW + 60, "token_use": "access"});
    let refuse = |token: String| {
        let issuer = issuer.clone();
        async move { issuer.verify_own_access_token(&token).await.expect_err("must be refused") }
    };
    // alg: none, with or without a signature segment.
    let none = json!({"alg": "none", "typ": "at+jwt", "kid": "rsa-1"});
    let unsigned = format!("{}.{}.", b64(none.to_string()), b64(claims.to_string()));
    assert!(matches!(refuse(unsigned).await, JwtError::AlgNone));
    let with_sig = format!("{}.{}.{}", b64(none.to_string()), b64(claims.to_string()), b64("sig"));
    assert!(matches!(refuse(with_sig).await, JwtError::AlgNone));
    // HS256 keyed with the issuer's public key: HS256 is not among the issuer's algorithms.
    let secret = jsonwebtoken::EncodingKey::from_secret(rsa.public_pem.as_bytes());
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"});
    let confused = sign_raw(&header.to_string(), &claims.to_string(), Algorithm::HS256, &secret);
    assert!(matches!(refuse(confused).await, JwtError::AlgorithmNotAllowed { .. }));
    // PS256 with the issuer's own RSA key: the key is pinned to RS256.
    let header = json!({"alg": "PS256", "typ": "at+jwt", "kid": "rsa-1"});
    let pss = sign_raw(&header.to_string(), &claims.to_string(), Algorithm::PS256, &rsa.encoding);
    assert!(matches!(refuse(pss).await, JwtError::AlgorithmNotAllowed { .. }));
    // A signature by another key under the issuer's kid.
    let other = rsa2();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
    let foreign = sign_raw(&header.to_string(), &claims.to_string(), Algorithm::RS256, &other.encoding);
    assert!(matches!(refuse(foreign).await, JwtError::InvalidSignature(_)));
    // A kid the issuer never had.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-2"});
    let unknown = sign_raw(&header.to_string(), &claims.to_string(), Algorithm::RS256, &other.encoding);
    assert!(matches!(refuse(unknown).await, JwtError::UnknownKid { .. }));
    // The genuine article passes.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
    issuer
        .verify_own_access_token(&sign_raw(
            &header.to_string(),
            &claims.to_string(),
            Algorithm::RS256,
            &rsa.encoding,
        ))
        .await
        .unwrap();
}
