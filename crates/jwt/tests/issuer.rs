//! JwtIssuer: signing, key rotation, the public JWKS served to another verifier over HTTP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mcp_auth_jwt::{Algorithm, JwtError, JwtIssuer, JwtVerifier, SigningKey, TokenRequest};
use secrecy::SecretString;
use serde_json::json;

fn issuer_with(
    active: SigningKey,
    previous: Vec<SigningKey>,
    clock: &mcp_auth_core::clock::ManualClock,
) -> JwtIssuer {
    let mut builder = JwtIssuer::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .signing_key(active)
        .access_ttl(Duration::from_secs(600))
        .clock(Arc::new(clock.clone()));
    for key in previous {
        builder = builder.verification_key(key);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn access_tokens_carry_every_claim() {
    let clock = clock();
    let issuer = issuer_with(SigningKey::generate_es256("k1").unwrap(), vec![], &clock);
    let issued = issuer
        .sign_access(
            &TokenRequest::new("user_1")
                .client_id("client_a")
                .scopes(["mcp:read", "mcp:write"])
                .claim("org_id", "org_9"),
        )
        .unwrap();
    assert_eq!(issued.kid, "k1");
    let header = jsonwebtoken::decode_header(issued.expose()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let verifier = issuer.access_verifier().required_scopes(["mcp:read"]).build().unwrap();
    let access = verifier.verify_jwt(issued.expose()).await.unwrap();
    assert_eq!(access.subject.as_deref(), Some("user_1"));
    assert_eq!(access.client_id.as_deref(), Some("client_a"));
    assert_eq!(access.scopes, ["mcp:read", "mcp:write"]);
    assert_eq!(access.issuer.as_deref(), Some(ISSUER));
    assert_eq!(access.audience, [AUDIENCE]);
    assert_eq!(access.claim("token_use"), Some(&json!("access")));
    assert_eq!(access.claim("jti"), Some(&json!(issued.jti)));
    assert_eq!(access.claim("iat"), Some(&json!(NOW)));
    assert_eq!(access.claim("exp"), Some(&json!(NOW + 600)));
    assert_eq!(access.claim("org_id"), Some(&json!("org_9")));
    assert_eq!(access.expires_at, Some(issued.expires_at));

    // jti is unique per token.
    let again = issuer.sign_access(&TokenRequest::new("user_1")).unwrap();
    assert_ne!(again.jti, issued.jti);

    // Expiry follows the injected clock.
    clock.advance(Duration::from_secs(600 + 31));
    assert!(matches!(verifier.verify_jwt(issued.expose()).await, Err(JwtError::Expired { .. })));
}

#[tokio::test]
async fn hmac_issuer_round_trip_and_no_public_keys() {
    let clock = clock();
    let key =
        SigningKey::from_hmac_secret(&SecretString::from("this is a long enough shared secret!!")).unwrap();
    let issuer = issuer_with(key, vec![], &clock);
    assert!(issuer.public_jwks().keys.is_empty());
    let token = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    issuer.access_verifier().build().unwrap().verify_jwt(token.expose()).await.unwrap();
    let refresh = issuer.sign_refresh(&TokenRequest::new("u")).unwrap();
    let refreshed = issuer.verify_refresh(refresh.expose()).await.unwrap();
    assert_eq!(refreshed.subject.as_deref(), Some("u"));
    // Another secret derives another key: its tokens do not verify here.
    let other = issuer_with(
        SigningKey::from_hmac_secret(&SecretString::from("a different long enough shared secret")).unwrap(),
        vec![],
        &clock,
    );
    let foreign = other.sign_access(&TokenRequest::new("u")).unwrap();
    assert!(issuer.access_verifier().build().unwrap().verify_jwt(foreign.expose()).await.is_err());
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire() {
    let clock = clock();
    let old_key =
        || SigningKey::from_pem("old", &SecretString::from(include_str!("keys/ec256_private.pem"))).unwrap();
    let before = issuer_with(old_key(), vec![], &clock);
    let old_token = before.sign_access(&TokenRequest::new("u")).unwrap();

    // Rotate: the new key signs, the old one still verifies.
    let after = issuer_with(SigningKey::generate_ed25519("new").unwrap(), vec![old_key()], &clock);
    assert_eq!(after.active_kid(), "new");
    let new_token = after.sign_access(&TokenRequest::new("u")).unwrap();
    assert_eq!(new_token.kid, "new");
    let verifier = after.access_verifier().build().unwrap();
    verifier.verify_jwt(old_token.expose()).await.unwrap();
    verifier.verify_jwt(new_token.expose()).await.unwrap();
    let kids: Vec<_> = after.public_jwks().keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect();
    assert_eq!(kids, ["new", "old"]);

    // Once the old key is dropped, its tokens stop verifying.
    let later = issuer_with(SigningKey::generate_es256("newer").unwrap(), vec![], &clock);
    assert!(matches!(
        later.access_verifier().build().unwrap().verify_jwt(old_token.expose()).await,
        Err(JwtError::UnknownKid { .. })
    ));
}

#[tokio::test]
async fn another_service_verifies_through_the_published_jwks() {
    let clock = clock();
    let issuer = issuer_with(
        SigningKey::generate_es256("es").unwrap(),
        vec![SigningKey::generate_ed25519("ed").unwrap()],
        &clock,
    );
    let server = JwksServer::start(issuer.public_jwks_json()).await;
    let verifier = JwtVerifier::builder()
        .jwks_url(server.url())
        .algorithms([Algorithm::ES256, Algorithm::EdDSA])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_access_token_type()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let token = issuer.sign_access(&TokenRequest::new("u").scopes(["a"])).unwrap();
    let access = verifier.verify_jwt(token.expose()).await.unwrap();
    assert_eq!(access.scopes, ["a"]);
    // The published document holds only public parts.
    let doc = issuer.public_jwks_json().to_string();
    assert!(!doc.contains("\"d\""), "{doc}");
}

#[test]
fn issuer_builder_refuses_missing_or_clashing_settings() {
    let missing = JwtIssuer::builder().issuer(ISSUER).audience(AUDIENCE).build().unwrap_err();
    assert!(missing.to_string().contains("MCP_AUTH_JWT_SIGNING_KEY"), "{missing}");
    let clash = JwtIssuer::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .signing_key(SigningKey::generate_es256("same").unwrap())
        .verification_key(SigningKey::generate_es256("same").unwrap())
        .build()
        .unwrap_err();
    assert!(clash.to_string().contains("share the kid"), "{clash}");
    // The default audience is optional; forgetting it is caught when the access verifier is built.
    let no_aud = JwtIssuer::builder()
        .issuer(ISSUER)
        .signing_key(SigningKey::generate_es256("k").unwrap())
        .build()
        .unwrap();
    assert!(matches!(no_aud.access_verifier().build(), Err(JwtError::Config { setting: "audience", .. })));
    let no_iss = JwtIssuer::builder().signing_key(SigningKey::generate_es256("k").unwrap()).build();
    assert!(matches!(no_iss, Err(JwtError::Config { setting: "issuer", .. })));
}
