//! Issue 11, acceptance: a flood of random bearer tokens against `WorkOSTokenVerifier`, over a loopback
//! stand-in for WorkOS that counts userinfo calls, makes a bounded number of upstream calls, and the
//! legitimate users verified before it keep being served from the cache, without an upstream call.
//!
//! The clock is frozen, so the rate limit's bucket never refills during the run: the bound is exact
//! (the burst), whatever the speed of the machine. `benches/userinfo_flood.rs` runs the same flood on
//! the real clock and prints figures.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_core::TokenVerifier;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_workos::WorkOSTokenVerifier;
use serde_json::json;
use support::StandIn;

const LEGIT_USERS: usize = 20;
const RANDOM_TOKENS: usize = 5_000;
const WORKERS: usize = 32;
const BURST: u32 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_token_flood_makes_bounded_userinfo_calls_and_cached_users_stay_served() {
    let standin = StandIn::start().await;
    for i in 0..LEGIT_USERS {
        standin.user(&format!("legit-{i}"), json!({"sub": format!("user_{i}")}));
    }
    let clock = ManualClock::starting_now();
    let verifier = WorkOSTokenVerifier::builder()
        .authkit_domain(&standin.base)
        .clock(Arc::new(clock.clone()))
        .lookup_rate_limit(10, BURST)
        .max_concurrent_lookups(8)
        .build()
        .unwrap();
    for i in 0..LEGIT_USERS {
        verifier.verify(&format!("legit-{i}")).await.unwrap();
    }
    assert_eq!(standin.userinfo_calls(), LEGIT_USERS);

    let next = Arc::new(AtomicUsize::new(0));
    let (refused, unavailable, legit_ok) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let verifier = verifier.clone();
            let (next, refused, unavailable, legit_ok) =
                (Arc::clone(&next), Arc::clone(&refused), Arc::clone(&unavailable), Arc::clone(&legit_ok));
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= RANDOM_TOKENS {
                        break;
                    }
                    // A random-looking token an attacker made up, once each.
                    let token = format!("flood-{worker}-{n}-{:x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    match verifier.verify(&token).await {
                        Ok(_) => panic!("a made-up token was accepted"),
                        Err(err) if err.is_unavailable() => unavailable.fetch_add(1, Ordering::Relaxed),
                        Err(err) => {
                            assert_eq!(err.status_code(), 401, "{err}");
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    // Every tenth request is a legitimate user's, in the middle of the flood.
                    if n % 10 == 0 {
                        let user = verifier.verify(&format!("legit-{}", n % LEGIT_USERS)).await;
                        assert!(user.is_ok(), "a cached user was refused during the flood: {user:?}");
                        legit_ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    let upstream_for_flood = standin.userinfo_calls() - LEGIT_USERS;
    let (refused, unavailable) = (refused.load(Ordering::Relaxed), unavailable.load(Ordering::Relaxed));
    assert_eq!(refused + unavailable, RANDOM_TOKENS);
    assert_eq!(refused, upstream_for_flood, "each refusal came from one upstream call");
    assert!(
        upstream_for_flood <= BURST as usize,
        "{RANDOM_TOKENS} random tokens made {upstream_for_flood} userinfo calls; the bound is {BURST}"
    );
    assert_eq!(legit_ok.load(Ordering::Relaxed), RANDOM_TOKENS / 10);
    assert_eq!(standin.known_calls(), LEGIT_USERS, "legitimate users were served from the cache");
}
