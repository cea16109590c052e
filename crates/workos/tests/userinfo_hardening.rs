//! Issue 11, the WorkOS findings about `WorkOSTokenVerifier`: each test is named after the finding it pins down and
//! runs against a real loopback stand-in for WorkOS (`support`) that counts the upstream calls made.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::settings::Settings;
use mcp_auth_core::{TokenVerifier, VerifyError};
use mcp_auth_workos::{WorkOSTokenVerifier, WorkOSTokenVerifierBuilder};
use serde_json::json;
use support::{Mode, StandIn};

fn builder(standin: &StandIn, clock: &ManualClock) -> WorkOSTokenVerifierBuilder {
    WorkOSTokenVerifier::builder()
        .authkit_domain(&standin.base)
        .timeout(Duration::from_secs(5))
        .clock(Arc::new(clock.clone()))
}

fn retry_after(err: &VerifyError) -> Option<Duration> {
    match err {
        VerifyError::Unavailable { retry_after, .. } => *retry_after,
        other => panic!("expected unavailable, got {other}"),
    }
}

// Finding: `required_scopes` grants those scopes to every token instead of requiring them; with opaque
// tokens `MCP_AUTH_REQUIRED_SCOPES` then enforces nothing.

#[test]
fn required_scopes_grant_instead_of_require_so_the_setting_is_refused() {
    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", "your-app.authkit.app"),
        ("MCP_AUTH_REQUIRED_SCOPES", "mcp:admin"),
    ]);
    let err = WorkOSTokenVerifier::builder()
        .settings(&settings)
        .and_then(WorkOSTokenVerifierBuilder::build)
        .expect_err("userinfo reports no scopes, so a required scope cannot be enforced");
    let message = err.to_string();
    assert!(message.contains("MCP_AUTH_REQUIRED_SCOPES"), "{message}");
    assert!(message.contains("insecure_assume_scopes"), "the message names the explicit way: {message}");
}

#[tokio::test]
async fn required_scopes_grant_instead_of_require_so_assumed_scopes_are_never_required() {
    let standin = StandIn::start().await;
    standin.user("good", json!({"sub": "user_01"}));
    let clock = ManualClock::starting_now();
    let plain = builder(&standin, &clock).build().unwrap();
    assert!(plain.required_scopes().is_empty());
    assert!(plain.verify("good").await.unwrap().scopes.is_empty(), "no scope is made up");
    let assuming = builder(&standin, &clock).insecure_assume_scopes(["mcp:read"]).build().unwrap();
    assert_eq!(assuming.verify("good").await.unwrap().scopes, ["mcp:read"]);
    assert!(
        assuming.required_scopes().is_empty(),
        "scopes handed out to every token are not advertised as a requirement"
    );
}

// Finding: unauthenticated traffic becomes WorkOS calls: no merging, no rate bound, 429 and 5xx not
// cached, and refusals evict legitimate answers.

#[tokio::test]
async fn concurrent_lookups_of_one_token_are_merged_into_one_userinfo_call() {
    let standin = StandIn::start().await;
    standin.user("good", json!({"sub": "user_01"}));
    standin.userinfo_mode(Mode::Held);
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock).build().unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify("good").await })
        })
        .collect();
    standin.wait_for(1, StandIn::userinfo_calls).await;
    // Give every other lookup the chance to reach WorkOS too, if it were going to.
    tokio::time::sleep(Duration::from_millis(200)).await;
    standin.release();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().subject.as_deref(), Some("user_01"));
    }
    assert_eq!(standin.userinfo_calls(), 1, "twenty concurrent lookups, one upstream call");
}

#[tokio::test]
async fn lookups_of_unknown_tokens_are_rate_limited_with_503_and_retry_after() {
    let standin = StandIn::start().await;
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock).lookup_rate_limit(5, 10).build().unwrap();
    let (mut refused, mut limited) = (0, 0);
    for i in 0..100 {
        match verifier.verify(&format!("random-{i}")).await.unwrap_err() {
            VerifyError::Invalid { .. } => refused += 1,
            err @ VerifyError::Unavailable { .. } => {
                assert_eq!(err.status_code(), 503);
                assert_eq!(retry_after(&err), Some(Duration::from_secs(1)), "one token back in 1/5 s");
                limited += 1;
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!((refused, limited), (10, 90), "the burst, then 503");
    assert_eq!(standin.userinfo_calls(), 10);
    clock.advance(Duration::from_secs(1));
    for i in 100..110 {
        let _ = verifier.verify(&format!("random-{i}")).await;
    }
    assert_eq!(standin.userinfo_calls(), 15, "five more lookups after a second at 5/s");
}

#[tokio::test]
async fn lookups_beyond_the_concurrency_limit_are_503_without_an_upstream_call() {
    let standin = StandIn::start().await;
    standin.userinfo_mode(Mode::Held);
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock).max_concurrent_lookups(2).build().unwrap();
    let held: Vec<_> = ["held-a", "held-b"]
        .into_iter()
        .map(|token| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(token).await })
        })
        .collect();
    standin.wait_for(2, StandIn::userinfo_calls).await;
    let third = tokio::time::timeout(Duration::from_secs(10), verifier.verify("third"))
        .await
        .expect("a lookup over the limit is answered at once, not queued behind the held ones")
        .unwrap_err();
    assert_eq!(third.status_code(), 503);
    assert!(retry_after(&third).is_some());
    assert_eq!(standin.userinfo_calls(), 2);
    standin.release();
    for task in held {
        assert_eq!(task.await.unwrap().unwrap_err().status_code(), 401);
    }
}

#[tokio::test]
async fn a_flood_of_refused_tokens_does_not_evict_cached_users() {
    let standin = StandIn::start().await;
    standin.user("good", json!({"sub": "user_01"}));
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock)
        .max_cached(100)
        .max_cached_refusals(100)
        .lookup_rate_limit(100_000, 100_000)
        .build()
        .unwrap();
    verifier.verify("good").await.unwrap();
    for i in 0..1_000 {
        assert_eq!(verifier.verify(&format!("random-{i}")).await.unwrap_err().status_code(), 401);
    }
    assert_eq!(standin.userinfo_calls(), 1_001);
    verifier.verify("good").await.unwrap();
    assert_eq!(standin.userinfo_calls(), 1_001, "the user is still served from the cache");
    assert_eq!(standin.known_calls(), 1);
}

#[tokio::test]
async fn a_429_is_503_with_retry_after_and_backs_off_without_upstream_calls() {
    let standin = StandIn::start().await;
    standin.userinfo_mode(Mode::Status(StatusCode::TOO_MANY_REQUESTS, Some(7)));
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock)
        .unavailable_backoff(Duration::from_secs(1), Duration::from_secs(60))
        .build()
        .unwrap();
    let err = verifier.verify("first").await.unwrap_err();
    assert_eq!(err.status_code(), 503);
    assert_eq!(retry_after(&err), Some(Duration::from_secs(7)), "WorkOS's Retry-After is passed on");
    assert_eq!(standin.userinfo_calls(), 1);
    for token in ["second", "third", "first"] {
        let err = verifier.verify(token).await.unwrap_err();
        assert_eq!(retry_after(&err), Some(Duration::from_secs(7)));
    }
    assert_eq!(standin.userinfo_calls(), 1, "no upstream call while backing off");
    standin.userinfo_mode(Mode::Normal);
    clock.advance(Duration::from_secs(6));
    assert_eq!(retry_after(&verifier.verify("fourth").await.unwrap_err()), Some(Duration::from_secs(1)));
    assert_eq!(standin.userinfo_calls(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(verifier.verify("fourth").await.unwrap_err().status_code(), 401, "WorkOS asked again");
    assert_eq!(standin.userinfo_calls(), 2);
}

#[tokio::test]
async fn server_errors_back_off_exponentially_without_upstream_calls() {
    let standin = StandIn::start().await;
    standin.userinfo_mode(Mode::Status(StatusCode::BAD_GATEWAY, None));
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock)
        .unavailable_backoff(Duration::from_secs(1), Duration::from_secs(4))
        .build()
        .unwrap();
    assert_eq!(retry_after(&verifier.verify("a").await.unwrap_err()), Some(Duration::from_secs(1)));
    assert_eq!(retry_after(&verifier.verify("b").await.unwrap_err()), Some(Duration::from_secs(1)));
    assert_eq!(standin.userinfo_calls(), 1);
    // Each failed probe doubles the back-off, up to the maximum.
    for (expected_calls, wait, backoff) in [(2, 1, 2), (3, 2, 4), (4, 4, 4)] {
        clock.advance(Duration::from_secs(wait));
        let err = verifier.verify("c").await.unwrap_err();
        assert_eq!(retry_after(&err), Some(Duration::from_secs(backoff)), "probe {expected_calls}");
        assert_eq!(standin.userinfo_calls(), expected_calls);
        assert!(verifier.verify("d").await.unwrap_err().is_unavailable());
        assert_eq!(standin.userinfo_calls(), expected_calls);
    }
    standin.userinfo_mode(Mode::Normal);
    clock.advance(Duration::from_secs(4));
    assert_eq!(verifier.verify("e").await.unwrap_err().status_code(), 401);
    assert_eq!(verifier.verify("f").await.unwrap_err().status_code(), 401, "closed again after a success");
    assert_eq!(standin.userinfo_calls(), 6);
}

// Finding: a WorkOS 404 from a mistyped domain becomes 401 for every user.

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_404_from_a_mistyped_domain_is_a_503_configuration_error_logged_with_the_domain() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let standin = StandIn::start().await;
    standin.user("good", json!({"sub": "user_01"}));
    standin.userinfo_mode(Mode::Status(StatusCode::NOT_FOUND, None));
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock).build().unwrap();
    for token in ["good", "other"] {
        let err = verifier.verify(token).await.unwrap_err();
        assert_eq!(err.status_code(), 503, "{token}: {err}");
    }
    let text = logs.text();
    let line = text
        .lines()
        .find(|line| line.contains("ERROR") && line.contains(&standin.base))
        .unwrap_or_else(|| panic!("no error line naming the domain in:\n{text}"));
    assert!(line.contains("MCP_AUTH_AUTHKIT_DOMAIN"), "{line}");
    assert!(!text.contains("Bearer"), "no token in the logs");
}

// Follow-up to the flood finding: a user whose cached answer expired must not compete with a flood of
// random tokens for the rate limit, or a long flood locks returning users out.

#[tokio::test]
async fn a_returning_user_is_looked_up_even_while_a_flood_uses_up_the_rate_limit() {
    let standin = StandIn::start().await;
    standin.user("good", json!({"sub": "user_01"}));
    let clock = ManualClock::starting_now();
    let verifier = builder(&standin, &clock).lookup_rate_limit(5, 10).build().unwrap();
    assert_eq!(verifier.verify("good").await.unwrap().subject.as_deref(), Some("user_01"));
    let flood = |from: usize| {
        let verifier = verifier.clone();
        async move {
            for i in from..from + 100 {
                let _ = verifier.verify(&format!("random-{i}")).await;
            }
        }
    };
    flood(0).await;
    // The positive answer expires (60 s); the bucket refills, and the flood drains it again.
    clock.advance(Duration::from_secs(61));
    flood(1000).await;
    let calls = standin.userinfo_calls();
    let again = verifier.verify("good").await.expect("a returning user is not rate limited with the flood");
    assert_eq!(again.subject.as_deref(), Some("user_01"));
    assert_eq!(standin.userinfo_calls(), calls + 1, "checked with WorkOS again, not served stale");
    assert!(verifier.verify("random-new").await.unwrap_err().is_unavailable(), "strangers still wait");
}

// Observability: the userinfo cache and the userinfo calls are counted, with no token in any label.

#[test]
fn userinfo_cache_lookups_and_calls_are_counted() {
    use mcp_auth_core::metrics::{TOKEN_CACHE_TOTAL, UPSTREAM_REQUESTS_TOTAL};
    use mcp_auth_core::testkit::MetricsCapture;

    let capture = MetricsCapture::new();
    capture.run(async {
        let standin = StandIn::start().await;
        standin.user("good", json!({"sub": "user_01"}));
        let clock = ManualClock::starting_now();
        let verifier = builder(&standin, &clock).build().unwrap();
        verifier.verify("good").await.unwrap(); // miss, call
        verifier.verify("good").await.unwrap(); // hit
        assert!(verifier.verify("stranger").await.is_err()); // miss, call refused
        assert!(verifier.verify("stranger").await.is_err()); // hit (the cached refusal)
    });
    let recorded = capture.take();
    let cache = |result: &str| {
        recorded.counter(TOKEN_CACHE_TOTAL, &[("cache", "workos_userinfo"), ("result", result)])
    };
    assert_eq!((cache("hit"), cache("miss")), (2, 2));
    let calls = |outcome: &str| {
        recorded.counter(UPSTREAM_REQUESTS_TOTAL, &[("target", "workos_userinfo"), ("outcome", outcome)])
    };
    assert_eq!((calls("success"), calls("rejected"), calls("failure")), (1, 1, 0));
    for name in [TOKEN_CACHE_TOTAL, UPSTREAM_REQUESTS_TOTAL] {
        for labels in recorded.label_sets(name) {
            assert!(
                labels.iter().all(|(_, value)| value != "good" && value != "stranger" && value != "user_01")
            );
        }
    }
}
