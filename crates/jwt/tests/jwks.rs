//! The JWKS cache against a real HTTP server on 127.0.0.1: rotation, cooldown, single flight,
//! Cache-Control, outages. Time moves with a ManualClock, never by sleeping.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::TokenVerifier;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_jwt::{JwtError, JwtVerifier};
use serde_json::json;

fn remote(url: &str, clock: &ManualClock) -> JwtVerifier {
    JwtVerifier::builder()
        .jwks_url(url)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// A remote verifier with a verified-token cache of `entries`.
fn remote_cached(url: &str, clock: &ManualClock, entries: usize) -> JwtVerifier {
    JwtVerifier::builder()
        .jwks_url(url)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .token_cache(entries)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// Claims valid for a day, so tests can move the clock freely.
fn long_claims() -> serde_json::Value {
    claims_with(json!({"exp": NOW + 86_400}))
}

#[tokio::test]
async fn new_kid_is_accepted_after_one_refetch() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    verifier.verify_jwt(&token(&rsa1(), &long_claims())).await.unwrap();
    assert_eq!(server.hits(), 1);

    server.set_jwks(jwks(&[&rsa1(), &rsa2()]));
    clock.advance(Duration::from_secs(31)); // past the unknown-kid cooldown
    verifier.verify_jwt(&token(&rsa2(), &long_claims())).await.unwrap();
    assert_eq!(server.hits(), 2, "exactly one refetch");
    verifier.verify_jwt(&token(&rsa2(), &long_claims())).await.unwrap();
    verifier.verify_jwt(&token(&rsa1(), &long_claims())).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn unknown_kid_within_the_cooldown_does_not_refetch() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    verifier.verify_jwt(&token(&rsa1(), &long_claims())).await.unwrap();
    // An unknown kid (claiming our issuer, so it could be ours) uses the refetch of this cooldown.
    let unknown = token_with_header(&rsa1(), &json!({"alg": "RS256", "kid": "unknown"}), &long_claims());
    assert!(matches!(verifier.verify_jwt(&unknown).await, Err(JwtError::UnknownKid { .. })));
    assert_eq!(server.hits(), 2);
    server.set_jwks(jwks(&[&rsa1(), &rsa2()]));
    clock.advance(Duration::from_secs(10));
    assert!(matches!(
        verifier.verify_jwt(&token(&rsa2(), &long_claims())).await,
        Err(JwtError::UnknownKid { .. })
    ));
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn removed_key_stops_verifying_after_the_next_refresh() {
    let server = JwksServer::start(jwks(&[&rsa1(), &rsa2()])).await;
    server.set_cache_control("public, max-age=60");
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let old = token(&rsa1(), &long_claims());
    verifier.verify_jwt(&old).await.unwrap();

    server.set_jwks(jwks(&[&rsa2()]));
    clock.advance(Duration::from_secs(30));
    verifier.verify_jwt(&old).await.unwrap(); // still fresh: not refetched yet
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(31)); // max-age passed
    assert!(matches!(verifier.verify_jwt(&old).await, Err(JwtError::UnknownKid { kid }) if kid == "rsa-1"));
    assert_eq!(server.hits(), 2);
    verifier.verify_jwt(&token(&rsa2(), &long_claims())).await.unwrap();
}

#[tokio::test]
async fn removed_key_also_leaves_the_verified_token_cache() {
    let server = JwksServer::start(jwks(&[&rsa1(), &rsa2()])).await;
    server.set_cache_control("max-age=60");
    let clock = clock();
    let verifier = remote_cached(&server.url(), &clock, 1_000);
    let old = token(&rsa1(), &long_claims());
    verifier.verify_jwt(&old).await.unwrap();
    verifier.verify_jwt(&old).await.unwrap(); // cache hit
    server.set_jwks(jwks(&[&rsa2()]));
    clock.advance(Duration::from_secs(61));
    assert!(matches!(verifier.verify_jwt(&old).await, Err(JwtError::UnknownKid { .. })));
}

#[tokio::test]
async fn a_thousand_random_kids_cause_at_most_one_fetch_per_cooldown() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let key = rsa1();
    let forged =
        |i: u32| token_with_header(&key, &json!({"alg": "RS256", "kid": format!("random-{i}")}), &claims());

    for i in 0..1_000 {
        assert!(matches!(verifier.verify_jwt(&forged(i)).await, Err(JwtError::UnknownKid { .. })));
    }
    // The first token's request made the initial fetch (and no second one for its kid); the second token
    // used the one refetch for unknown kids of this cooldown (the initial fetch does not use it up).
    assert_eq!(server.hits(), 2, "the initial fetch and one refetch");

    clock.advance(Duration::from_secs(31));
    // This time concurrently.
    let mut tasks = Vec::new();
    for i in 1_000..2_000 {
        let verifier = verifier.clone();
        let t = forged(i);
        tasks.push(tokio::spawn(async move { verifier.verify_jwt(&t).await }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Err(JwtError::UnknownKid { .. })));
    }
    assert_eq!(server.hits(), 3, "one refetch for the whole cooldown period");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_cause_one_fetch() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let t = token(&rsa1(), &claims());
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let verifier = verifier.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move { verifier.verify_jwt(&t).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn jwks_down_at_start_up_is_unavailable_not_invalid() {
    let clock = clock();
    let verifier = remote(&dead_url().await, &clock);
    let t = token(&rsa1(), &claims());
    let err = verifier.verify(&t).await.unwrap_err();
    assert_eq!(err.status_code(), 503, "{err}");
    assert!(err.is_unavailable());
    assert!(matches!(verifier.verify_jwt(&t).await, Err(JwtError::KeySourceUnavailable(_))));
}

#[tokio::test]
async fn jwks_error_status_at_start_up_is_unavailable_and_retried_after_a_pause() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    server.set_status(StatusCode::INTERNAL_SERVER_ERROR);
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let t = token(&rsa1(), &claims());
    match verifier.verify_jwt(&t).await {
        Err(JwtError::KeySourceUnavailable(cause)) => {
            assert!(matches!(*cause, JwtError::JwksStatus { status: 500, .. }), "{cause:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(verifier.verify(&t).await.unwrap_err().status_code(), 503);
    assert_eq!(server.hits(), 1, "no hammering while down");

    server.set_status(StatusCode::OK);
    clock.advance(Duration::from_secs(6));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn an_oversized_jwks_document_is_refused_as_too_large() {
    let mut doc = jwks(&[&rsa1()]);
    doc["padding"] = json!("x".repeat(512 * 1024));
    let server = JwksServer::start(doc).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let t = token(&rsa1(), &claims());
    match verifier.verify_jwt(&t).await {
        Err(JwtError::KeySourceUnavailable(cause)) => assert!(
            matches!(&*cause, JwtError::InvalidJwks { reason, .. } if reason == "document too large"),
            "{cause:?}"
        ),
        other => panic!("{other:?}"),
    }
    // Just under the limit is fine.
    let mut doc = jwks(&[&rsa1()]);
    let room = 512 * 1024 - doc.to_string().len() - r#","padding":"""#.len();
    doc["padding"] = json!("x".repeat(room));
    assert_eq!(doc.to_string().len(), 512 * 1024);
    server.set_jwks(doc);
    clock.advance(Duration::from_secs(6));
    verifier.verify_jwt(&t).await.unwrap();
}

#[tokio::test]
async fn jwks_down_after_a_good_fetch_keeps_serving_the_last_keys() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let t = token(&rsa1(), &long_claims());
    verifier.verify_jwt(&t).await.unwrap();

    server.set_status(StatusCode::SERVICE_UNAVAILABLE);
    clock.advance(Duration::from_secs(3_600)); // keys long stale
    verifier.verify_jwt(&t).await.unwrap();
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 2, "one failed refresh, then a pause");

    // Garbage instead of a key set is a failure too, and also keeps the old keys.
    server.set_status(StatusCode::OK);
    server.set_jwks(json!({"nope": true}));
    clock.advance(Duration::from_secs(10));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 3);
}

/// Keys that were due and came back the same keep the verified token: the cached one is the answer (its
/// one shared info, no new verification). A new copy at every refresh made AuthKit's profile memo, keyed
/// on that info, gain an entry per refresh (RSS drifting up under load, issue 15). A changed key set
/// still means a new verification.
#[tokio::test]
async fn a_refresh_that_finds_the_same_keys_answers_from_the_cache() {
    let server = JwksServer::start(jwks(&[&rsa1(), &rsa2()])).await;
    server.set_cache_control("max-age=60");
    let clock = clock();
    let verifier = remote_cached(&server.url(), &clock, 100);
    let token = token(&rsa1(), &long_claims());
    let first = verifier.verify_jwt(&token).await.unwrap();
    clock.advance(Duration::from_secs(61));
    assert!(verifier.verify_now(&token).is_none(), "the keys are due: no answer without a refresh");
    let after_refresh = verifier.verify_jwt(&token).await.unwrap();
    assert_eq!(server.hits(), 2, "the keys were fetched again");
    assert!(Arc::ptr_eq(first.info(), after_refresh.info()), "the cached token, not a new verification");
    assert!(Arc::ptr_eq(first.info(), verifier.verify_now(&token).unwrap().unwrap().info()));

    server.set_jwks(jwks(&[&rsa1()]));
    clock.advance(Duration::from_secs(61));
    let after_rotation = verifier.verify_jwt(&token).await.unwrap();
    assert_eq!(server.hits(), 3);
    assert!(!Arc::ptr_eq(first.info(), after_rotation.info()), "a new key set verifies again");
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_within_bounds() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    server.set_cache_control("max-age=100");
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let t = token(&rsa1(), &long_claims());
    verifier.verify_jwt(&t).await.unwrap();
    clock.advance(Duration::from_secs(99));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(2));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 2);

    // max-age=1 is raised to the 30 s minimum.
    server.set_cache_control("max-age=1");
    clock.advance(Duration::from_secs(101));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 3);
    clock.advance(Duration::from_secs(20));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 3);
    clock.advance(Duration::from_secs(11));
    verifier.verify_jwt(&t).await.unwrap();
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn unusable_keys_in_the_remote_set_are_skipped() {
    let mut doc = jwks(&[&rsa1()]);
    doc["keys"].as_array_mut().unwrap().splice(
        0..0,
        [
            json!({"kty": "oct", "kid": "sym", "k": b64([1u8; 32])}),
            json!({"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP-256", "n": "AQAB", "e": "AQAB"}),
            json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}),
            json!({"kty": "unknown-type"}),
        ],
    );
    let server = JwksServer::start(doc).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    verifier.verify_jwt(&token(&rsa1(), &claims())).await.unwrap();
    // The symmetric key published by the remote set is never used.
    let secret = jsonwebtoken::EncodingKey::from_secret(&[1u8; 32]);
    let forged = sign_raw(
        r#"{"alg":"RS256","kid":"sym"}"#,
        &claims().to_string(),
        jsonwebtoken::Algorithm::HS256,
        &secret,
    );
    assert!(matches!(verifier.verify_jwt(&forged).await, Err(JwtError::UnknownKid { .. })));
}

#[tokio::test]
async fn redirects_are_followed_a_few_times_only() {
    use axum::response::Redirect;
    use axum::routing::get;
    let upstream = JwksServer::start(jwks(&[&rsa1()])).await;
    let target = upstream.url();
    let app = axum::Router::new()
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/moved", get(move || async move { Redirect::permanent(&target) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let clock = clock();
    let t = token(&rsa1(), &claims());

    remote(&format!("http://{addr}/moved"), &clock).verify_jwt(&t).await.unwrap();
    match remote(&format!("http://{addr}/loop"), &clock).verify_jwt(&t).await {
        Err(JwtError::KeySourceUnavailable(cause)) => {
            assert!(matches!(*cause, JwtError::JwksFetch { .. }), "{cause:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 11: while every refresh failed, the last keys were trusted forever. They are now trusted for at
/// most the maximum stale age past their freshness (default 24 h), then verification answers 503 until a
/// refresh succeeds.
#[tokio::test]
async fn keys_are_not_trusted_forever_while_refreshes_fail() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    let clock = clock();
    let verifier = remote(&server.url(), &clock);
    let t = token(&rsa1(), &claims_with(json!({"exp": NOW + 10 * 86_400})));
    verifier.verify_jwt(&t).await.unwrap(); // fresh for the default 5 minutes

    server.set_status(StatusCode::SERVICE_UNAVAILABLE);
    clock.advance(Duration::from_secs(300 + 24 * 3_600 - 1)); // one second short of the default limit
    verifier.verify_jwt(&t).await.unwrap();
    clock.advance(Duration::from_secs(1));
    let err = verifier.verify(&t).await.unwrap_err();
    assert_eq!(err.status_code(), 503, "{err}");
    assert!(matches!(verifier.verify_jwt(&t).await, Err(JwtError::KeySourceUnavailable(_))));
    let hits = server.hits();
    clock.advance(Duration::from_secs(1));
    assert!(matches!(verifier.verify_jwt(&t).await, Err(JwtError::KeySourceUnavailable(_))));
    assert_eq!(server.hits(), hits, "still no hammering: retried after the failure pause only");

    server.set_status(StatusCode::OK);
    clock.advance(Duration::from_secs(5));
    verifier.verify_jwt(&t).await.unwrap();

    // The limit is a setting, checked against the keys' freshness, not their fetch time.
    server.set_cache_control("max-age=600");
    let short = JwtVerifier::builder()
        .jwks_url(server.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_max_stale(Duration::from_secs(60))
        .token_cache(100)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    short.verify_jwt(&t).await.unwrap();
    short.verify_jwt(&t).await.unwrap(); // now cached
    server.set_status(StatusCode::BAD_GATEWAY);
    clock.advance(Duration::from_secs(659));
    short.verify_jwt(&t).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(
        matches!(short.verify_jwt(&t).await, Err(JwtError::KeySourceUnavailable(_))),
        "the verified-token cache does not outlive the keys either"
    );
}

/// Issue 11: a stream of tokens with random `kid`s used up the refetch cooldown, so a key the issuer had
/// just rotated in was refused for up to 30 s. Tokens whose (unverified) `iss` is not a configured issuer
/// no longer cause refetches at all, and a periodic refresh no longer uses up the budget of refetches for
/// new `kid`s; random `kid`s that claim the right issuer still cause at most one refetch per cooldown.
#[tokio::test]
async fn random_kids_do_not_delay_a_rotated_key_from_a_listed_issuer() {
    let server = JwksServer::start(jwks(&[&rsa1()])).await;
    server.set_cache_control("max-age=60");
    let clock = clock();
    let verifier = JwtVerifier::builder()
        .jwks_url(server.url())
        .algorithms([jsonwebtoken::Algorithm::RS256, jsonwebtoken::Algorithm::ES256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let claims = claims_with(json!({"exp": NOW + 86_400}));
    verifier.verify_jwt(&token(&rsa1(), &claims)).await.unwrap();
    assert_eq!(server.hits(), 1);

    // Random kids in tokens of other issuers (or none, or an unreadable payload) cause no fetch at all,
    // even once the cooldown has passed.
    clock.advance(Duration::from_secs(31));
    let key = rsa1();
    let random = |i: u32, claims: &serde_json::Value| {
        token_with_header(&key, &json!({"alg": "RS256", "kid": format!("random-{i}")}), claims)
    };
    for i in 0..300 {
        let claims = match i % 3 {
            0 => claims_with(json!({"iss": format!("https://attacker-{i}.example")})),
            1 => claims_with(json!({"iss": null})),
            _ => json!({"iss": [ISSUER]}),
        };
        assert!(matches!(verifier.verify_jwt(&random(i, &claims)).await, Err(JwtError::UnknownKid { .. })));
    }
    let unreadable = format!("{}.!!.sig", b64(r#"{"alg":"RS256","kid":"random-x"}"#));
    assert!(matches!(verifier.verify_jwt(&unreadable).await, Err(JwtError::UnknownKid { .. })));
    assert_eq!(server.hits(), 1, "no refetch for tokens of other issuers");

    // The issuer rotates: its new key is accepted at once.
    server.set_jwks(jwks(&[&rsa1(), &rsa2()]));
    clock.advance(Duration::from_secs(1));
    verifier.verify_jwt(&token(&rsa2(), &claims)).await.unwrap();
    assert_eq!(server.hits(), 2);

    // A periodic refresh (max-age passed) does not use up the refetch for the next new kid.
    clock.advance(Duration::from_secs(60));
    verifier.verify_jwt(&token(&rsa1(), &claims)).await.unwrap();
    assert_eq!(server.hits(), 3, "periodic refresh");
    server.set_cache_control("max-age=3600"); // no more periodic refreshes below
    server.set_jwks(jwks(&[&rsa1(), &rsa2(), &ec256()]));
    clock.advance(Duration::from_secs(1));
    verifier.verify_jwt(&token(&ec256(), &claims)).await.unwrap();
    assert_eq!(server.hits(), 4, "the new kid's refetch");

    // Random kids claiming the configured issuer: still one refetch per cooldown, no more.
    for period in 0..5u32 {
        clock.advance(Duration::from_secs(31));
        for i in 0..200 {
            let forged = random(1_000 * (period + 1) + i, &claims);
            assert!(matches!(verifier.verify_jwt(&forged).await, Err(JwtError::UnknownKid { .. })));
        }
        assert_eq!(server.hits(), 5 + period as usize, "period {period}: one refetch");
    }
}

#[test]
fn key_fetches_and_cache_lookups_are_counted() {
    use mcp_auth_core::metrics::{TOKEN_CACHE_TOTAL, UPSTREAM_DURATION_SECONDS, UPSTREAM_REQUESTS_TOTAL};
    use mcp_auth_core::testkit::MetricsCapture;

    let capture = MetricsCapture::new();
    capture.run(async {
        let server = JwksServer::start(jwks(&[&rsa1()])).await;
        server.set_cache_control("max-age=60");
        let clock = clock();
        let verifier = JwtVerifier::builder()
            .jwks_url(server.url())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .token_cache(100)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let token = token(&rsa1(), &long_claims());
        verifier.verify_jwt(&token).await.unwrap(); // miss, fetch
        verifier.verify_jwt(&token).await.unwrap(); // hit
        verifier.verify_jwt(&token).await.unwrap(); // hit
        server.set_status(StatusCode::INTERNAL_SERVER_ERROR);
        clock.advance(Duration::from_secs(61));
        // The keys are due: a miss, and a failed fetch (the stale keys may still answer).
        let _ = verifier.verify_jwt(&token).await;
    });
    let recorded = capture.take();
    let cache = |result: &str| recorded.counter(TOKEN_CACHE_TOTAL, &[("cache", "jwt"), ("result", result)]);
    assert_eq!((cache("hit"), cache("miss")), (2, 2));
    let fetches = |outcome: &str| {
        recorded.counter(UPSTREAM_REQUESTS_TOTAL, &[("target", "jwks"), ("outcome", outcome)])
    };
    assert_eq!(fetches("success"), 1);
    assert!(fetches("failure") >= 1, "the failed refetch");
    assert_eq!(
        recorded.histogram_count(UPSTREAM_DURATION_SECONDS, &[("target", "jwks")]) as u64,
        fetches("success") + fetches("failure")
    );
}
