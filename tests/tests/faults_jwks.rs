//! The JWKS endpoint failing after a good fetch: the real dev IdP signs the tokens, and its JWKS is
//! served through a switchable hop that goes down, holds answers past the verifier's fetch timeout,
//! answers 500 or serves garbage. Tokens signed with a known key keep verifying within the bounded stale
//! window (and only within it); a token whose key the verifier cannot look up during the outage is
//! "unavailable" (503, retry), never "invalid" (401); everything recovers with the endpoint. Time moves
//! with a `ManualClock`, shared by the IdP and the verifier.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::TokenVerifier as _;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::MemoryStore;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
use mcp_auth_jwt::JwtVerifier;
use mcp_auth_tests::faults::{Fault, FaultyUpstream, within};

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const JWKS_PATH: &str = "/oauth2/jwks";
/// How long fetched keys are fresh.
const FRESH: Duration = Duration::from_secs(60);
/// How long past their freshness the last keys are still used while fetches fail.
const MAX_STALE: Duration = Duration::from_secs(600);
/// The pause after a failed fetch, and the cooldown between refetches for unknown key ids.
const PAUSE: Duration = Duration::from_secs(5);

async fn upstream(clock: &ManualClock) -> FaultyUpstream {
    let shared = Arc::new(clock.clone());
    FaultyUpstream::start(|issuer| {
        DevIdp::builder()
            .user(DevUser::new("user_ada", "ada@example.com").roles(["member"]))
            .client(DevClient::confidential("proxy", "proxy-secret", ["http://127.0.0.1:8000/cb"]))
            .clock(shared.clone())
            .store(Arc::new(MemoryStore::builder().clock(shared).build()))
            .access_token_ttl(Duration::from_secs(86_400))
            .build(issuer)
            .expect("the IdP builds")
    })
    .await
}

fn verifier(upstream: &FaultyUpstream, clock: &ManualClock) -> JwtVerifier {
    JwtVerifier::builder()
        .jwks_url(format!("{}{JWKS_PATH}", upstream.url()))
        .issuer(upstream.url())
        .audience(RESOURCE)
        .clock(Arc::new(clock.clone()))
        .jwks_default_ttl(FRESH)
        .jwks_ttl_bounds(Duration::from_secs(1), FRESH)
        .jwks_max_stale(MAX_STALE)
        .jwks_retry_after_failure(PAUSE)
        .jwks_refresh_cooldown(PAUSE)
        .jwks_timeout(Duration::from_secs(2))
        .build()
        .expect("the verifier builds")
}

async fn inject(upstream: &FaultyUpstream, fault: Option<Fault>) {
    match fault {
        None => upstream.hop.down().await,
        Some(fault) => upstream.hop.set_at(JWKS_PATH, fault),
    }
}

async fn heal(upstream: &FaultyUpstream) {
    upstream.hop.set_at(JWKS_PATH, Fault::Healthy);
    upstream.hop.up().await;
}

/// `None` is the endpoint down (connections refused).
const FAULTS: [Option<Fault>; 4] =
    [None, Some(Fault::Slow), Some(Fault::ServerError), Some(Fault::MalformedJson)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_keys_keep_verifying_through_a_jwks_outage_within_the_stale_window() {
    let clock = ManualClock::starting_now();
    let upstream = upstream(&clock).await;
    let verifier = verifier(&upstream, &clock);
    let token = upstream.idp.issue_access_token("user_ada", RESOURCE, ["openid"]).expect("a token");
    within("the first verification", verifier.verify(&token)).await.expect("verifies after a good fetch");
    assert_eq!(upstream.hop.requests_to(JWKS_PATH), 1);

    for fault in FAULTS {
        // The keys are stale and the pause after the last failure is over: this verification refreshes.
        clock.advance(FRESH + PAUSE);
        inject(&upstream, fault).await;
        let before = upstream.hop.requests_to(JWKS_PATH);
        let verified = within("a verification during the outage", verifier.verify(&token)).await;
        assert!(verified.is_ok(), "{fault:?}: the last good keys still verify: {verified:?}");
        if fault.is_some() {
            assert_eq!(upstream.hop.requests_to(JWKS_PATH), before + 1, "{fault:?}: the refresh was tried");
        }
        heal(&upstream).await;
    }
    // Healthy again: the next refresh succeeds and the token verifies on fresh keys.
    clock.advance(PAUSE);
    let before = upstream.hop.requests_to(JWKS_PATH);
    within("a verification", verifier.verify(&token)).await.expect("verifies");
    assert_eq!(upstream.hop.requests_to(JWKS_PATH), before + 1, "the keys were fetched again");

    // The stale window is bounded: down for longer than it, the same token is refused as unavailable
    // (503: try later), not as invalid; it verifies again once the endpoint is back.
    upstream.hop.down().await;
    clock.advance(FRESH + MAX_STALE + Duration::from_secs(1));
    let error = within("a verification past the stale window", verifier.verify(&token))
        .await
        .expect_err("keys past the stale window are not trusted");
    assert_eq!(error.status_code(), 503, "{error}");
    heal(&upstream).await;
    clock.advance(PAUSE);
    within("a verification", verifier.verify(&token)).await.expect("verifies once the JWKS is back");
}

/// Before the fix, a token signed with a key the verifier had not seen yet (the issuer rotated during
/// the outage) was refused as invalid (401: the client drops a good token and signs in again, which
/// fails the same way) whenever the refetch for its `kid` failed. It is now unavailable (503, retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_during_a_jwks_outage_is_unavailable_not_invalid_and_verifies_after() {
    let clock = ManualClock::starting_now();
    let upstream = upstream(&clock).await;
    let verifier = verifier(&upstream, &clock);
    let old = upstream.idp.issue_access_token("user_ada", RESOURCE, ["openid"]).expect("a token");
    within("the first verification", verifier.verify(&old)).await.expect("verifies");

    upstream.idp.rotate_signing_key().expect("a new signing key");
    let new = upstream.idp.issue_access_token("user_ada", RESOURCE, ["openid"]).expect("a token");
    for fault in FAULTS {
        clock.advance(PAUSE);
        inject(&upstream, fault).await;
        let error = within("a new key during the outage", verifier.verify(&new))
            .await
            .expect_err("the new key cannot be looked up");
        assert_eq!(error.status_code(), 503, "{fault:?}: unavailable, not invalid: {error}");
        // Right after the failed refetch (within the pause), still unavailable, and nothing is fetched.
        let before = upstream.hop.requests_to(JWKS_PATH);
        let error = within("again", verifier.verify(&new)).await.expect_err("still unknown");
        assert_eq!(error.status_code(), 503, "{fault:?}: {error}");
        assert_eq!(upstream.hop.requests_to(JWKS_PATH), before, "{fault:?}: no refetch within the pause");
        within("the old key", verifier.verify(&old)).await.expect("the known key still verifies");
        heal(&upstream).await;
    }
    // Healthy again: the new key is fetched and verifies.
    clock.advance(PAUSE);
    within("the new key", verifier.verify(&new)).await.expect("verifies once the JWKS answers");
    // The control: a token claiming the same issuer but signed with a key the healthy endpoint does not
    // publish is invalid (401), as before.
    let stranger = DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com"))
        .build(&upstream.url())
        .expect("another IdP with the same issuer name");
    let forged = stranger.issue_access_token("user_ada", RESOURCE, ["openid"]).expect("a token");
    clock.advance(PAUSE);
    let error = within("a foreign key", verifier.verify(&forged)).await.expect_err("not this issuer's key");
    assert_eq!(error.status_code(), 401, "{error}");
}
