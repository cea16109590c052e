//! The OAuth proxy as deployed: two instances over one Redis sharing keys (every step of a flow may land
//! on either), concurrent refreshes of one token on both (both clients keep working, the upstream sees
//! one refresh), restarts over Redis and over the file store (clients and tokens keep working), and a
//! client identified by a Client ID Metadata Document served on loopback.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mcp_auth_core::store::KvStorage;
use mcp_auth_examples::client::Browser;
use mcp_auth_store_file::FileStore;
use mcp_auth_store_redis::RedisStore;
use mcp_auth_tests::proxy::{self, Flow, SharedKeys, exchange, mcp_status, refresh, register};
use serde_json::{Value, json};
use tokio::net::TcpListener;

async fn redis() -> Arc<dyn KvStorage> {
    let prefix = format!("proxy-test-{}", mcp_auth_oauth_server::random_token(6).unwrap());
    let store = RedisStore::builder("redis://127.0.0.1:6379")
        .prefix(prefix)
        .connect()
        .await
        .expect("Redis on 127.0.0.1:6379 (.ci/run starts one)");
    Arc::new(store)
}

const CLIENT_REDIRECT: &str = "http://127.0.0.1:7777/cb";

#[tokio::test]
async fn two_instances_over_one_redis_share_every_step_and_refresh_the_upstream_once() {
    let store = redis().await;
    let keys = SharedKeys::random();
    let (listener_a, base_url) = proxy::listener().await;
    let (listener_b, _) = proxy::listener().await;
    // Upstream access tokens live 60 s; a 10-minute margin makes every refresh refresh upstream too.
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(60)).await;
    let configure =
        |p: mcp_auth_proxy::OAuthProxyBuilder| p.upstream_refresh_margin(Duration::from_secs(600));
    let a = proxy::proxy_instance(listener_a, &base_url, &upstream.url, Arc::clone(&store), &keys, configure)
        .await;
    let b = proxy::proxy_instance(listener_b, &base_url, &upstream.url, Arc::clone(&store), &keys, configure)
        .await;

    // Register on A, authorize on B (the upstream calls back at the base URL: A), token on B, MCP on A.
    let flow = Flow::new(register(&a.url, CLIENT_REDIRECT).await, CLIENT_REDIRECT);
    let code = proxy::code(&flow, &b.url, &base_url).await;
    let tokens = exchange(&flow, &b.url, &code).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(mcp_status(&a.url, access).await, 200);
    assert_eq!(mcp_status(&b.url, access).await, 200);

    // Two concurrent refreshes of the same token, one on each instance.
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let before = upstream.token_requests.load(Ordering::SeqCst);
    let (on_a, on_b) = tokio::join!(
        refresh(&flow.client_id, &a.url, &refresh_token),
        refresh(&flow.client_id, &b.url, &refresh_token)
    );
    assert_eq!(on_a.status(), 200, "the refresh on A succeeds");
    assert_eq!(on_b.status(), 200, "the refresh on B succeeds");
    let (on_a, on_b): (Value, Value) = (on_a.json().await.unwrap(), on_b.json().await.unwrap());
    assert_eq!(on_a["refresh_token"], on_b["refresh_token"], "both got the same new pair");
    assert_eq!(
        upstream.token_requests.load(Ordering::SeqCst) - before,
        1,
        "the upstream saw exactly one refresh"
    );
    // Both clients keep working: the new access token on either instance, and the next refresh.
    assert_eq!(mcp_status(&a.url, on_b["access_token"].as_str().unwrap()).await, 200);
    let next = refresh(&flow.client_id, &b.url, on_a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status(), 200);
}

async fn survives_a_restart(store: Arc<dyn KvStorage>) {
    let keys = SharedKeys::random();
    let (listener, base_url) = proxy::listener().await;
    let address = listener.local_addr().unwrap();
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let first =
        proxy::proxy_instance(listener, &base_url, &upstream.url, Arc::clone(&store), &keys, |p| p).await;
    let client_id = register(&first.url, CLIENT_REDIRECT).await;
    let flow = Flow::new(client_id, CLIENT_REDIRECT);
    let code = proxy::code(&flow, &first.url, &base_url).await;
    let tokens = exchange(&flow, &first.url, &code).await;
    first.stop();
    drop(first);
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A new process: same address, same keys, same store.
    let listener = TcpListener::bind(address).await.expect("the port again");
    let second = proxy::proxy_instance(listener, &base_url, &upstream.url, store, &keys, |p| p).await;
    assert_eq!(mcp_status(&second.url, tokens["access_token"].as_str().unwrap()).await, 200, "issued token");
    let refreshed = refresh(&flow.client_id, &second.url, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200, "refresh token");
    // The registered client still signs in.
    let again = Flow::new(flow.client_id.clone(), CLIENT_REDIRECT);
    let code = proxy::code(&again, &second.url, &base_url).await;
    exchange(&again, &second.url, &code).await;
}

#[tokio::test]
async fn a_restart_over_redis_keeps_clients_and_tokens() {
    survives_a_restart(redis().await).await;
}

#[tokio::test]
async fn a_restart_over_the_file_store_keeps_clients_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let store = FileStore::open(&root).await.expect("the file store opens");
    survives_a_restart(Arc::new(store)).await;
}

#[tokio::test]
async fn a_client_id_metadata_document_signs_in_and_shows_as_a_verified_domain() {
    // The client's document, served on loopback (the development allowance).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let document_url = format!("http://{}/oauth/client.json", listener.local_addr().unwrap());
    let document = json!({
        "client_id": document_url,
        "client_name": "Document App",
        "redirect_uris": [CLIENT_REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    let app = axum::Router::new()
        .route("/oauth/client.json", axum::routing::get(move || async move { axum::Json(document) }));
    let documents = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let store: Arc<dyn KvStorage> = Arc::new(mcp_auth_core::store::MemoryStore::new());
    let instance =
        proxy::proxy_instance(listener, &base_url, &upstream.url, store, &SharedKeys::random(), |p| {
            p.insecure_allow_loopback_metadata_documents()
        })
        .await;
    let metadata: Value = reqwest::get(format!("{base_url}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    let flow = Flow::new(document_url.clone(), CLIENT_REDIRECT);
    // The consent page names the verified domain.
    let mut authorize = url::Url::parse(&format!("{}/authorize", instance.url)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &flow.client_id)
        .append_pair("redirect_uri", CLIENT_REDIRECT)
        .append_pair("code_challenge", &flow.challenge)
        .append_pair("code_challenge_method", "S256");
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = no_redirects.get(authorize).send().await.unwrap();
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    // The consent page answers only the browser that started the authorization.
    let browser_cookie =
        consent.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = no_redirects
        .get(&location)
        .header("cookie", browser_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let host = url::Url::parse(&document_url).unwrap();
    assert!(
        page.contains(&format!("Verified domain: <strong>127.0.0.1:{}</strong>", host.port().unwrap())),
        "{page}"
    );
    assert!(page.contains("Document App"));

    let code = proxy::code(&flow, &instance.url, &base_url).await;
    let tokens = exchange(&flow, &instance.url, &code).await;
    assert_eq!(mcp_status(&instance.url, tokens["access_token"].as_str().unwrap()).await, 200);
    documents.abort();
}

/// A signed-in client on one instance whose upstream tokens are always due for refresh (they live 60 s,
/// the margin is 10 minutes), so every refresh calls the upstream.
struct SignedIn {
    upstream: proxy::Upstream,
    instance: proxy::ProxyInstance,
    flow: Flow,
    tokens: Value,
}

async fn signed_in_with_upstream_refreshes() -> SignedIn {
    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(60)).await;
    let store: Arc<dyn KvStorage> = Arc::new(mcp_auth_core::store::MemoryStore::new());
    let instance =
        proxy::proxy_instance(listener, &base_url, &upstream.url, store, &SharedKeys::random(), |p| {
            p.upstream_refresh_margin(Duration::from_secs(600))
        })
        .await;
    let flow = Flow::new(register(&instance.url, CLIENT_REDIRECT).await, CLIENT_REDIRECT);
    let code = proxy::code(&flow, &instance.url, &base_url).await;
    let tokens = exchange(&flow, &instance.url, &code).await;
    SignedIn { upstream, instance, flow, tokens }
}

#[tokio::test]
async fn an_upstream_outage_is_503_with_retry_after_and_spends_nothing() {
    let SignedIn { upstream, instance, flow, tokens } = signed_in_with_upstream_refreshes().await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    // The upstream is down when the client refreshes (and its tokens need refreshing): 503, retry later.
    upstream.token_outage.store(true, Ordering::SeqCst);
    let response = refresh(&flow.client_id, &instance.url, refresh_token).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7", "the upstream's Retry-After is passed on");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "never invalid_grant: the user need not sign in again"
    );
    assert!(!body.to_string().contains("127.0.0.1"), "no internals: {body}");

    // A sign-in while it is down: the client is told to retry, in OAuth form.
    let again = Flow::new(flow.client_id.clone(), CLIENT_REDIRECT);
    let mut url = url::Url::parse(&format!("{}/authorize", instance.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &again.client_id)
        .append_pair("redirect_uri", CLIENT_REDIRECT)
        .append_pair("code_challenge", &again.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "s2");
    let callback = Browser::new().unwrap().follow(url, CLIENT_REDIRECT).await.unwrap();
    assert!(
        callback.contains("error=temporarily_unavailable") && callback.contains("state=s2"),
        "{callback}"
    );

    // The upstream recovers: the same refresh token works, it was never spent.
    upstream.token_outage.store(false, Ordering::SeqCst);
    let response = refresh(&flow.client_id, &instance.url, refresh_token).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn only_invalid_grant_from_the_upstream_ends_a_grant() {
    let SignedIn { upstream, instance, flow, tokens } = signed_in_with_upstream_refreshes().await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    // A refusal about the proxy's client (a rotated secret, say) is the operator's to fix: 503, the
    // user's grant survives.
    *upstream.token_error.lock().unwrap() = Some("invalid_client");
    let response = refresh(&flow.client_id, &instance.url, refresh_token).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    *upstream.token_error.lock().unwrap() = None;
    let response = refresh(&flow.client_id, &instance.url, refresh_token).await;
    assert_eq!(response.status(), 200, "the grant survived");
    let next: Value = response.json().await.unwrap();

    // The upstream ended the sign-in: the proxy's grant ends too, its access tokens with it.
    *upstream.token_error.lock().unwrap() = Some("invalid_grant");
    let response = refresh(&flow.client_id, &instance.url, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(mcp_status(&instance.url, next["access_token"].as_str().unwrap()).await, 401);
}
