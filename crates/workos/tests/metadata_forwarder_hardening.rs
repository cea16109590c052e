//! Issue 11, the WorkOS findings about the metadata forwarder: each test is named after the finding it pins down and
//! runs against a real loopback stand-in for WorkOS (`support`) that counts the upstream calls made.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use mcp_auth_core::clock::ManualClock;
use mcp_auth_workos::AuthKitProvider;
use serde_json::Value;
use support::{Mode, StandIn};
use tower::ServiceExt;

const BASE_URL: &str = "http://127.0.0.1:8000";

// Finding: the metadata forwarder holds its lock across the upstream fetch and has no back-off before
// its first success.

async fn get_metadata(provider: &AuthKitProvider) -> (StatusCode, HeaderMap, Value) {
    let request = Request::get("/.well-known/oauth-authorization-server").body(Body::empty()).unwrap();
    let response = provider.router::<()>().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

fn provider(domain: &str, clock: &ManualClock) -> AuthKitProvider {
    AuthKitProvider::builder()
        .authkit_domain(domain)
        .base_url(BASE_URL)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn metadata_forwarder_holds_no_lock_across_the_upstream_fetch() {
    let standin = StandIn::start().await;
    let clock = ManualClock::starting_now();
    // A client that waits long for the held refresh, so a caller stuck behind it would stay stuck.
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
    let provider = AuthKitProvider::builder()
        .authkit_domain(&standin.base)
        .base_url(BASE_URL)
        .clock(Arc::new(clock.clone()))
        .http_client(patient)
        .build()
        .unwrap();
    assert_eq!(get_metadata(&provider).await.0, StatusCode::OK);
    standin.metadata_mode(Mode::Held);
    clock.advance(Duration::from_secs(121));
    let refreshing = {
        let provider = provider.clone();
        tokio::spawn(async move { get_metadata(&provider).await })
    };
    standin.wait_for(2, StandIn::metadata_calls).await;
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(10), get_metadata(&provider))
        .await
        .expect("served the stale copy while the refresh is in flight, not blocked behind it");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["issuer"], standin.base);
    standin.release();
    assert_eq!(refreshing.await.unwrap().0, StatusCode::OK);
    assert_eq!(standin.metadata_calls(), 2, "one refresh");
}

#[tokio::test]
async fn metadata_forwarder_shares_one_fetch_and_backs_off_before_its_first_success() {
    let standin = StandIn::start().await;
    standin.metadata_mode(Mode::Status(StatusCode::INTERNAL_SERVER_ERROR, None));
    let clock = ManualClock::starting_now();
    let provider = provider(&standin.base, &clock);
    let answers = futures_util::future::join_all((0..10).map(|_| get_metadata(&provider))).await;
    for (status, _, body) in &answers {
        assert_eq!(*status, StatusCode::BAD_GATEWAY);
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    assert_eq!(standin.metadata_calls(), 1, "ten concurrent callers, one fetch");
    let (status, headers, _) = get_metadata(&provider).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(headers.contains_key(header::RETRY_AFTER), "{headers:?}");
    assert_eq!(standin.metadata_calls(), 1, "no fetch while backing off");
    standin.metadata_mode(Mode::Normal);
    clock.advance(Duration::from_secs(60));
    assert_eq!(get_metadata(&provider).await.0, StatusCode::OK);
    assert_eq!(standin.metadata_calls(), 2);
}
