//! `JwtIssuer`'s OpenID Connect ID tokens as a real OpenID Connect client library sees them: the
//! `openidconnect` crate verifies the signature against the published JWKS, `iss`, `aud`, `exp`, `nonce`
//! and computes `at_hash` with its own code, for RS256 and EdDSA keys, before and after a key rotation.

use std::str::FromStr as _;
use std::time::SystemTime;

use mcp_auth_jwt::{IdTokenRequest, JwtIssuer, SigningKey, TokenRequest};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, IssuerUrl, Nonce};

const ISSUER: &str = "https://auth.example.com";
const CLIENT: &str = "client_a";

fn verifier(issuer: &JwtIssuer) -> CoreIdTokenVerifier<'static> {
    let jwks: CoreJsonWebKeySet = serde_json::from_value(issuer.public_jwks_json()).unwrap();
    CoreIdTokenVerifier::new_public_client(
        ClientId::new(CLIENT.into()),
        IssuerUrl::new(ISSUER.into()).unwrap(),
        jwks,
    )
    .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, CoreJwsSigningAlgorithm::EdDsa])
}

/// Signs an access token and an ID token for it, then has `openidconnect` check the ID token.
fn check(issuer: &JwtIssuer, expected_alg: CoreJwsSigningAlgorithm) {
    let access = issuer.sign_access(&TokenRequest::new("user_1").client_id(CLIENT)).unwrap();
    let id = issuer
        .sign_id_token(
            &IdTokenRequest::new("user_1", CLIENT, SystemTime::now())
                .nonce("n-0S6_WzA2Mj")
                .sid("session-7")
                .access_token(access.expose())
                .claim("email", "ada@example.com"),
        )
        .unwrap();
    let id_token = CoreIdToken::from_str(id.expose()).unwrap();
    let verifier = verifier(issuer);
    let claims = id_token.claims(&verifier, &Nonce::new("n-0S6_WzA2Mj".into())).unwrap();
    assert_eq!(claims.subject().as_str(), "user_1");
    assert_eq!(claims.issuer().as_str(), ISSUER);
    assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [CLIENT]);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(id_token.signing_alg().unwrap(), &expected_alg);
    let computed = AccessTokenHash::from_token(
        &AccessToken::new(access.expose().to_owned()),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&computed), "at_hash as openidconnect computes it");
    // The wrong nonce, or another client, is refused.
    assert!(id_token.claims(&verifier, &Nonce::new("other".into())).is_err());
    let other_client = CoreIdTokenVerifier::new_public_client(
        ClientId::new("client_b".into()),
        IssuerUrl::new(ISSUER.into()).unwrap(),
        serde_json::from_value(issuer.public_jwks_json()).unwrap(),
    );
    assert!(id_token.claims(&other_client, &Nonce::new("n-0S6_WzA2Mj".into())).is_err());
}

#[test]
fn an_openid_connect_client_accepts_the_issuers_id_tokens_across_a_rotation() {
    let issuer = JwtIssuer::builder()
        .issuer(ISSUER)
        .audience("https://mcp.example.com/mcp")
        .signing_key(SigningKey::generate_rs256("rsa-1").unwrap())
        .build()
        .unwrap();
    check(&issuer, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    let before = issuer.sign_id_token(&IdTokenRequest::new("u", CLIENT, SystemTime::now())).unwrap();
    let before = CoreIdToken::from_str(before.expose()).unwrap();
    let no_nonce =
        |nonce: Option<&Nonce>| if nonce.is_none() { Ok(()) } else { Err("unexpected nonce".to_owned()) };

    issuer.rotate(SigningKey::generate_ed25519("ed-2").unwrap()).unwrap();
    check(&issuer, CoreJwsSigningAlgorithm::EdDsa);
    before.claims(&verifier(&issuer), no_nonce).unwrap();

    // Once the old key is removed, the published JWKS no longer verifies its ID tokens.
    issuer.remove_key("rsa-1").unwrap();
    assert!(before.claims(&verifier(&issuer), no_nonce).is_err());
    check(&issuer, CoreJwsSigningAlgorithm::EdDsa);
}
