//! JwtIssuer key rotation at run time: signing, every verifier made from the issuer, the token cache and
//! the published JWKS follow `rotate`, `remove_key` and `remove_previous_keys` at once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mcp_auth_jwt::{Algorithm, JwtError, JwtIssuer, SigningKey, TokenRequest};
use secrecy::SecretString;

fn issuer(key: SigningKey) -> JwtIssuer {
    JwtIssuer::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .signing_key(key)
        .clock(Arc::new(clock()))
        .build()
        .unwrap()
}

fn jwks_kids(issuer: &JwtIssuer) -> Vec<String> {
    issuer.public_jwks().keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect()
}

#[tokio::test]
async fn a_verifier_built_before_a_rotation_accepts_the_new_key_at_once() {
    let issuer = issuer(SigningKey::generate_es256("es-1").unwrap());
    let verifier = issuer.access_verifier().build().unwrap();
    let old = issuer.sign_access(&TokenRequest::new("u")).unwrap();

    // Rotate on a clone, as a request handler holding its own copy would; change algorithm too.
    issuer.clone().rotate(SigningKey::generate_rs256("rsa-2").unwrap()).unwrap();
    assert_eq!(issuer.active_kid(), "rsa-2");
    assert_eq!(issuer.key_ids(), ["es-1", "rsa-2"]);
    assert_eq!(jwks_kids(&issuer), ["rsa-2", "es-1"], "active key first");

    let new = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    assert_eq!(new.kid, "rsa-2");
    assert_eq!(jsonwebtoken::decode_header(new.expose()).unwrap().alg, Algorithm::RS256);
    verifier.verify_jwt(old.expose()).await.unwrap();
    verifier.verify_jwt(new.expose()).await.unwrap();
    issuer.verify_own_access_token(old.expose()).await.unwrap();
    issuer.verify_own_access_token(new.expose()).await.unwrap();
}

#[tokio::test]
async fn a_token_signed_by_a_removed_key_is_refused_everywhere() {
    let issuer = issuer(SigningKey::generate_ed25519("ed-1").unwrap());
    let cached = issuer.access_verifier().token_cache(100).build().unwrap();
    let access = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    let refresh = issuer.sign_refresh(&TokenRequest::new("u")).unwrap();
    cached.verify_jwt(access.expose()).await.unwrap(); // now in the cache
    cached.verify_jwt(access.expose()).await.unwrap(); // served from it

    // Same algorithm, so the refusal below is about the key, not the allow-list.
    issuer.rotate(SigningKey::generate_ed25519("ed-2").unwrap()).unwrap();
    cached.verify_jwt(access.expose()).await.unwrap();
    issuer.remove_key("ed-1").unwrap();
    assert_eq!(jwks_kids(&issuer), ["ed-2"]);

    // The cache does not outlive the key: the key-set generation changed.
    assert!(
        matches!(cached.verify_jwt(access.expose()).await, Err(JwtError::UnknownKid { kid }) if kid == "ed-1")
    );
    assert!(matches!(
        issuer.verify_own_access_token(access.expose()).await,
        Err(JwtError::UnknownKid { .. })
    ));
    assert!(matches!(issuer.verify_refresh(refresh.expose()).await, Err(JwtError::UnknownKid { .. })));
    let fresh = issuer.access_verifier().build().unwrap();
    assert!(fresh.verify_jwt(access.expose()).await.is_err());
    // Tokens of the remaining key still pass.
    let current = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    cached.verify_jwt(current.expose()).await.unwrap();
}

#[tokio::test]
async fn removing_the_last_hmac_key_drops_its_algorithm_from_the_allow_list() {
    let secret = SecretString::from("a shared secret that is long enough!!");
    let hmac = SigningKey::from_hmac_secret(&secret).unwrap();
    let hmac_kid = hmac.kid().to_owned();
    let issuer = issuer(hmac);
    let verifier = issuer.access_verifier().build().unwrap();
    let hs = issuer.sign_access(&TokenRequest::new("u")).unwrap();
    issuer.rotate(SigningKey::generate_es256("es-1").unwrap()).unwrap();
    verifier.verify_jwt(hs.expose()).await.unwrap();
    assert_eq!(issuer.remove_previous_keys(), 1);
    assert_eq!(issuer.key_ids(), ["es-1"]);
    assert!(
        matches!(verifier.verify_jwt(hs.expose()).await, Err(JwtError::AlgorithmNotAllowed { alg }) if alg == "HS256")
    );
    // A removed key may be rotated back in (its kid is free again); its old tokens then verify again,
    // because the key, not the token, was what had been taken away.
    issuer.rotate(SigningKey::from_hmac_secret(&secret).unwrap()).unwrap();
    assert_eq!(issuer.active_kid(), hmac_kid);
    verifier.verify_jwt(hs.expose()).await.unwrap();
}

#[tokio::test]
async fn key_management_mistakes_get_clear_errors_and_change_nothing() {
    let issuer = issuer(SigningKey::generate_es256("k1").unwrap());
    issuer.rotate(SigningKey::generate_es256("k2").unwrap()).unwrap();
    let duplicate = issuer.rotate(SigningKey::generate_ed25519("k1").unwrap()).unwrap_err();
    assert!(matches!(&duplicate, JwtError::DuplicateKeyId { kid } if kid == "k1"), "{duplicate:?}");
    assert!(duplicate.to_string().contains("already holds a key with kid \"k1\""), "{duplicate}");
    let active = issuer.remove_key("k2").unwrap_err();
    assert!(matches!(&active, JwtError::ActiveKey { kid } if kid == "k2"), "{active:?}");
    assert!(active.to_string().contains("rotate to another key"), "{active}");
    let unknown = issuer.remove_key("nope").unwrap_err();
    assert!(matches!(&unknown, JwtError::NoSuchKey { kid } if kid == "nope"), "{unknown:?}");
    assert_eq!(issuer.key_ids(), ["k1", "k2"]);
    assert_eq!(issuer.active_kid(), "k2");
    assert_eq!(jwks_kids(&issuer), ["k2", "k1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_keep_signing_and_verifying_while_keys_rotate() {
    let issuer = issuer(SigningKey::generate_es256("k0").unwrap());
    let verifier = issuer.access_verifier().token_cache(64).build().unwrap();
    let mut handlers = Vec::new();
    for worker in 0..4 {
        let issuer = issuer.clone();
        let verifier = verifier.clone();
        handlers.push(tokio::spawn(async move {
            let mut kids = std::collections::BTreeSet::new();
            for i in 0..200 {
                let token = issuer.sign_access(&TokenRequest::new(format!("u{worker}-{i}"))).unwrap();
                kids.insert(token.kid.clone());
                let access = verifier.verify_jwt(token.expose()).await.unwrap();
                assert_eq!(access.subject.clone().unwrap(), format!("u{worker}-{i}"));
                issuer.verify_own_access_token(token.expose()).await.unwrap();
                tokio::task::yield_now().await;
            }
            kids
        }));
    }
    for n in 1..=5 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        issuer.rotate(SigningKey::generate_es256(format!("k{n}")).unwrap()).unwrap();
    }
    for handler in handlers {
        assert!(!handler.await.unwrap().is_empty());
    }
    assert_eq!(issuer.key_ids().len(), 6);
    assert_eq!(issuer.active_kid(), "k5");
}
