//! Redis killed (SIGKILL) under the OAuth proxy mid-flow and restarted: a private `redis-server` that
//! persists every write before acknowledging it (`appendfsync always`). Requests in flight and made
//! while it is down answer 503 `temporarily_unavailable` with `Retry-After` within the store's
//! operation timeout (none hangs, none panics, none names Redis); after the restart, every registration
//! and code acknowledged before the kill is still there, grants keep refreshing and new flows complete.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::store::KvStorage;
use mcp_auth_store_redis::RedisStore;
use mcp_auth_tests::faults::{self, PersistentRedis, within};
use mcp_auth_tests::proxy::{self, Flow, SharedKeys};
use serde_json::Value;
use tokio::sync::mpsc;

const CLIENT_REDIRECT: &str = "http://127.0.0.1:7777/cb";
/// The store's bound on one call, reconnect included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// How many registration loops run while Redis is killed under them.
const WORKERS: usize = 4;

async fn store(redis: &PersistentRedis) -> RedisStore {
    RedisStore::builder(redis.url())
        .prefix("faults")
        .connect_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(2))
        .operation_timeout(OPERATION_TIMEOUT)
        .connect()
        .await
        .expect("the private Redis answers")
}

/// One answer of the registration workload: its status, and the client id when it was acknowledged.
#[derive(Debug)]
struct Registration {
    status: u16,
    retry_after: Option<String>,
    body: String,
    client_id: Option<String>,
}

/// A 503 answer is an OAuth `temporarily_unavailable` with `Retry-After`, naming no internals.
fn assert_retryable(what: &str, status: u16, retry_after: Option<&str>, body: &str, internals: &[&str]) {
    assert_eq!(status, 503, "{what}: {body}");
    assert!(
        retry_after.and_then(|v| v.parse::<u64>().ok()).is_some(),
        "{what}: Retry-After: {retry_after:?}"
    );
    let parsed: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
    assert_eq!(parsed["error"], "temporarily_unavailable", "{what}: {body}");
    faults::assert_no_internals(what, body, internals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_flow_answers_503_loses_nothing_acknowledged_and_recovers() {
    let mut redis = PersistentRedis::start().await;
    let redis_store = store(&redis).await;
    let port = redis.port.to_string();
    let dir = redis.dir().display().to_string();
    let internals = [port.as_str(), dir.as_str()];
    let shared: Arc<dyn KvStorage> = Arc::new(redis_store.clone());

    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let instance =
        proxy::proxy_instance(listener, &base_url, &upstream.url, shared, &SharedKeys::random(), |p| p).await;
    let url = instance.url.clone();

    // Before the kill: a signed-in grant, and a second flow stopped between its code and the exchange.
    let client_id = within("registration", proxy::register(&url, CLIENT_REDIRECT)).await;
    let signed_in = Flow::new(client_id.clone(), CLIENT_REDIRECT);
    let code = within("sign-in", proxy::code(&signed_in, &url, &base_url)).await;
    let tokens = within("exchange", proxy::exchange(&signed_in, &url, &code)).await;
    let pending = Flow::new(client_id.clone(), CLIENT_REDIRECT);
    let pending_code = within("sign-in", proxy::code(&pending, &url, &base_url)).await;

    // Registrations keep coming from a few clients; Redis is killed under them.
    let (results, mut answers) = mpsc::unbounded_channel::<Registration>();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (url, results, stopped) = (url.clone(), results.clone(), stopped.clone());
            tokio::spawn(async move {
                while !*stopped.borrow() {
                    let answer = within("a registration", proxy::try_register(&url, CLIENT_REDIRECT)).await;
                    let status = answer.status().as_u16();
                    let retry_after =
                        answer.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let body = within("a registration body", answer.text()).await.expect("a body");
                    let client_id = (status == 201)
                        .then(|| serde_json::from_str::<Value>(&body).ok())
                        .flatten()
                        .and_then(|v| v["client_id"].as_str().map(str::to_owned));
                    if results.send(Registration { status, retry_after, body, client_id }).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(results);

    let mut acknowledged = Vec::new();
    let mut refused_after_kill = 0;
    let mut killed = false;
    while let Some(answer) = within("the registration workload", answers.recv()).await {
        match answer.status {
            201 => acknowledged.push(answer.client_id.expect("an acknowledged registration has an id")),
            _ => {
                assert_retryable(
                    "a registration during the outage",
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &internals,
                );
                refused_after_kill += 1;
            }
        }
        if acknowledged.len() >= 8 && !killed {
            redis.kill();
            killed = true;
        }
        if refused_after_kill >= 2 * WORKERS {
            break;
        }
    }
    stop.send(true).expect("the workers listen");
    drop(answers);
    for worker in workers {
        within("a worker", worker).await.expect("no worker panicked");
    }
    assert!(acknowledged.len() >= 8, "registrations were acknowledged before the kill");

    // While Redis is down: the pending code, a refresh, a registration and a sign-in are all "retry
    // later", and the pending code is not spent by trying.
    let answer =
        within("exchange during the outage", proxy::try_exchange(&pending, &url, &pending_code)).await;
    let (status, retry_after) = (answer.status().as_u16(), header(&answer, "retry-after"));
    let body = answer.text().await.expect("a body");
    assert_retryable("the code exchange", status, retry_after.as_deref(), &body, &internals);
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
    let answer = within("refresh during the outage", proxy::refresh(&client_id, &url, refresh_token)).await;
    let (status, retry_after) = (answer.status().as_u16(), header(&answer, "retry-after"));
    let body = answer.text().await.expect("a body");
    assert_retryable("the refresh", status, retry_after.as_deref(), &body, &internals);
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let authorize = Flow::new(client_id.clone(), CLIENT_REDIRECT).authorize_url(&url, &base_url);
    let page = within("authorize during the outage", browser.get(authorize).send()).await.expect("an answer");
    assert_eq!(page.status(), 503, "the authorization page says: try again shortly");
    let page = page.text().await.expect("a page");
    faults::assert_no_internals("the authorization page", &page, &internals);
    // An access token issued before the kill: verified by signature, or refused as "later", never as
    // invalid (which would send the client to sign in again).
    let access = tokens["access_token"].as_str().expect("an access token");
    let mcp = within("MCP during the outage", proxy::mcp_status(&url, access)).await;
    assert!(mcp == 200 || mcp == 503, "MCP during the outage answered {mcp}");

    // Redis comes back with its append-only file; the store reconnects by itself.
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + faults::HANG;
    while redis_store.ping().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the store did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Nothing acknowledged before the kill is lost: each acknowledged client is still known (a bogus
    // code is invalid_grant for a known client, invalid_client for an unknown one)...
    for id in &acknowledged {
        let flow = Flow::new(id.clone(), CLIENT_REDIRECT);
        let answer = within("a known client", proxy::try_exchange(&flow, &url, "bogus-code")).await;
        let body: Value = answer.json().await.expect("an OAuth error");
        assert_eq!(body["error"], "invalid_grant", "client {id} registered before the kill: {body}");
    }
    // ...the code issued before the kill is redeemed now, and its token opens the MCP endpoint...
    let pending_tokens =
        within("exchange after the restart", proxy::exchange(&pending, &url, &pending_code)).await;
    let access = pending_tokens["access_token"].as_str().expect("an access token");
    assert_eq!(within("MCP", proxy::mcp_status(&url, access)).await, 200);
    // ...and the grant from before the kill refreshes with the refresh token the outage did not spend.
    let answer = within("refresh after the restart", proxy::refresh(&client_id, &url, refresh_token)).await;
    assert_eq!(answer.status(), 200);

    // A new full flow completes.
    let new_client = within("registration", proxy::register(&url, CLIENT_REDIRECT)).await;
    let flow = Flow::new(new_client, CLIENT_REDIRECT);
    let code = within("sign-in", proxy::code(&flow, &url, &base_url)).await;
    let tokens = within("exchange", proxy::exchange(&flow, &url, &code)).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    assert_eq!(within("MCP", proxy::mcp_status(&url, access)).await, 200);
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}
