//! The WorkOS cloud cannot run here, so these tests stand a small loopback server in for it: one that
//! serves AuthKit's metadata and userinfo endpoints, counts requests and can misbehave on demand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcp_auth_core::TokenVerifier;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_workos::{AuthKitProvider, WorkOSTokenVerifier};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[derive(Default)]
struct Counters {
    metadata: AtomicUsize,
    userinfo: AtomicUsize,
}

struct Fake {
    base: String,
    counters: Arc<Counters>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn metadata(State((counters, base)): State<(Arc<Counters>, String)>) -> Response {
    counters.metadata.fetch_add(1, Ordering::SeqCst);
    (
        [(header::CACHE_CONTROL, "public, max-age=120")],
        axum::Json(json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "token_endpoint": format!("{base}/oauth2/token"),
            "registration_endpoint": format!("{base}/oauth2/register"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "x_authkit_extra": {"kept": true}
        })),
    )
        .into_response()
}

async fn userinfo(State((counters, _)): State<(Arc<Counters>, String)>, headers: HeaderMap) -> Response {
    counters.userinfo.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match token {
        "good" => axum::Json(json!({
            "sub": "user_01", "email": "ada@example.com", "email_verified": true, "name": "Ada",
            "org_id": "org_1", "roles": ["admin"]
        }))
        .into_response(),
        "boom" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "busy" => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")]).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(json!({"sub": "late"})).into_response()
        }
        "garbage" => "not json".into_response(),
        "no-sub" => axum::Json(json!({"email": "x@example.com"})).into_response(),
        "huge" => axum::Json(json!({"sub": "u", "pad": "x".repeat(200_000)})).into_response(),
        // The same size, streamed in chunks with no Content-Length.
        "huge-streamed" => axum::body::Body::new(Chunks(200)).into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// A body of `n` chunks of 1 KiB (`{"sub":"u","pad":"xxx...`), with no declared length.
struct Chunks(usize);

impl http_body::Body for Chunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let chunk = match self.0 {
            0 => return std::task::Poll::Ready(None),
            _ if self.0 == 200 => {
                let mut first = br#"{"sub":"u","pad":""#.to_vec();
                first.resize(1024, b'x');
                first
            }
            _ => vec![b'x'; 1024],
        };
        self.0 -= 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk.into()))))
    }
}

async fn start() -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{address}");
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/oauth2/userinfo", get(userinfo))
        .with_state((Arc::clone(&counters), base.clone()));
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Fake { base, counters, server }
}

async fn get_metadata(provider: &AuthKitProvider) -> (StatusCode, Value) {
    let request = axum::http::Request::get("/.well-known/oauth-authorization-server")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = provider.router::<()>().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn provider(domain: &str, clock: &ManualClock) -> AuthKitProvider {
    AuthKitProvider::builder()
        .authkit_domain(domain)
        .base_url("http://127.0.0.1:8000")
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn metadata_is_forwarded_whole_and_cached_per_its_headers() {
    let fake = start().await;
    let clock = ManualClock::starting_now();
    let provider = provider(&fake.base, &clock);
    let (status, body) = get_metadata(&provider).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["issuer"], fake.base);
    assert_eq!(body["x_authkit_extra"]["kept"], true, "unknown fields are forwarded");
    get_metadata(&provider).await;
    assert_eq!(fake.counters.metadata.load(Ordering::SeqCst), 1, "second read is served from cache");
    clock.advance(Duration::from_secs(121));
    get_metadata(&provider).await;
    assert_eq!(fake.counters.metadata.load(Ordering::SeqCst), 2, "max-age=120 expired");
}

#[tokio::test]
async fn stale_metadata_is_served_when_authkit_goes_down() {
    let fake = start().await;
    let clock = ManualClock::starting_now();
    let provider = provider(&fake.base, &clock);
    assert_eq!(get_metadata(&provider).await.0, StatusCode::OK);
    let base = fake.base.clone();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    clock.advance(Duration::from_secs(600));
    let (status, body) = get_metadata(&provider).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["issuer"], base);
}

#[tokio::test]
async fn unreachable_authkit_with_nothing_cached_is_502_without_internals() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let provider = provider(&base, &ManualClock::starting_now());
    let (status, body) = get_metadata(&provider).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "temporarily_unavailable");
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1") && !text.contains("refused"), "{text}");
}

fn verifier(base: &str, clock: &ManualClock) -> WorkOSTokenVerifier {
    WorkOSTokenVerifier::builder()
        .authkit_domain(base)
        .timeout(Duration::from_millis(500))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn userinfo_answer_becomes_an_access_token_and_is_cached() {
    let fake = start().await;
    let clock = ManualClock::starting_now();
    let verifier = verifier(&fake.base, &clock);
    let token = verifier.verify("good").await.unwrap();
    assert_eq!(token.subject.as_deref(), Some("user_01"));
    assert!(token.scopes.is_empty(), "userinfo reports no scopes, and none are made up");
    let user = token.user().unwrap();
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    assert_eq!(user.organization_id.as_deref(), Some("org_1"));
    assert!(user.has_role("admin"));
    for _ in 0..50 {
        verifier.verify("good").await.unwrap();
    }
    assert_eq!(fake.counters.userinfo.load(Ordering::SeqCst), 1, "positive answers are cached");
    clock.advance(Duration::from_secs(61));
    verifier.verify("good").await.unwrap();
    assert_eq!(fake.counters.userinfo.load(Ordering::SeqCst), 2, "and expire after 60 s");
}

#[tokio::test]
async fn refused_tokens_are_401_and_negatively_cached_for_less() {
    let fake = start().await;
    let clock = ManualClock::starting_now();
    let verifier = verifier(&fake.base, &clock);
    for _ in 0..10 {
        let err = verifier.verify("revoked").await.unwrap_err();
        assert_eq!(err.status_code(), 401);
    }
    assert_eq!(fake.counters.userinfo.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(11));
    verifier.verify("revoked").await.unwrap_err();
    assert_eq!(fake.counters.userinfo.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn workos_trouble_is_503_and_never_cached() {
    let fake = start().await;
    let clock = ManualClock::starting_now();
    let verifier = verifier(&fake.base, &clock);
    for token in ["boom", "slow", "garbage", "no-sub", "huge", "huge-streamed"] {
        // Past any back-off an earlier failure started (see `hardening.rs`), so each token reaches WorkOS.
        clock.advance(Duration::from_secs(60));
        let err = verifier.verify(token).await.unwrap_err();
        assert!(err.is_unavailable(), "{token}: {err}");
        assert_eq!(err.status_code(), 503, "{token}");
        if token.starts_with("huge") {
            assert!(err.to_string().ends_with("WorkOS userinfo answer too large"), "{token}: {err}");
        }
    }
    clock.advance(Duration::from_secs(60));
    match verifier.verify("busy").await.unwrap_err() {
        mcp_auth_core::VerifyError::Unavailable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("expected unavailable, got {other}"),
    }
    clock.advance(Duration::from_secs(60));
    let before = fake.counters.userinfo.load(Ordering::SeqCst);
    verifier.verify("boom").await.unwrap_err();
    assert_eq!(fake.counters.userinfo.load(Ordering::SeqCst), before + 1, "failures are not cached");
    clock.advance(Duration::from_secs(60));
    verifier.verify("garbage").await.unwrap_err();
    assert_eq!(fake.counters.userinfo.load(Ordering::SeqCst), before + 2, "...only backed off from");
}

#[tokio::test]
async fn unreachable_workos_is_503() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = verifier(&base, &ManualClock::starting_now()).verify("good").await.unwrap_err();
    assert_eq!(err.status_code(), 503);
}

#[test]
fn builders_name_what_is_missing() {
    let err = AuthKitProvider::builder().base_url("https://mcp.example.com").build().unwrap_err();
    assert!(err.to_string().contains("MCP_AUTH_AUTHKIT_DOMAIN"), "{err}");
    let err = AuthKitProvider::builder().authkit_domain("x.authkit.app").build().unwrap_err();
    assert!(err.to_string().contains("MCP_AUTH_BASE_URL"), "{err}");
    let err = AuthKitProvider::builder()
        .authkit_domain("http://x.authkit.app")
        .base_url("https://m.example.com")
        .build();
    assert!(err.unwrap_err().to_string().contains("MCP_AUTH_AUTHKIT_DOMAIN"));
    let err = WorkOSTokenVerifier::builder()
        .authkit_domain("x.authkit.app")
        .positive_ttl(Duration::from_secs(1))
        .negative_ttl(Duration::from_secs(5))
        .build();
    assert!(err.is_err());
    let settings = mcp_auth_core::settings::Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", "your-app.authkit.app"),
        ("MCP_AUTH_BASE_URL", "https://mcp.example.com/prefix"),
        ("MCP_AUTH_REQUIRED_SCOPES", "openid profile"),
    ]);
    let provider = AuthKitProvider::builder().settings(&settings).unwrap().build().unwrap();
    assert_eq!(provider.domain().as_str(), "https://your-app.authkit.app");
    assert_eq!(provider.resource().as_str(), "https://mcp.example.com/prefix/mcp");
    assert_eq!(provider.remote().required_scopes(), ["openid", "profile"]);
}

#[test]
fn debug_output_leaks_no_token() {
    let verifier = WorkOSTokenVerifier::builder().authkit_domain("x.authkit.app").build().unwrap();
    let debug = format!("{verifier:?}");
    assert!(debug.contains("userinfo"), "{debug}");
}

/// A metadata endpoint that always answers `status` with `body`.
async fn metadata_server(status: StatusCode, body: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/.well-known/oauth-authorization-server",
        get(move || {
            let body = body.clone();
            async move { (status, [(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    (base, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
}

#[tokio::test]
async fn hostile_upstream_metadata_is_never_forwarded() {
    let cases = [
        (StatusCode::OK, "not json".to_owned()),
        (StatusCode::OK, "[]".to_owned()),
        (StatusCode::OK, json!({"issuer": "https://evil.example.com"}).to_string()),
        (StatusCode::OK, json!({"issuer": "x", "pad": "y".repeat(300 * 1024)}).to_string()),
        (StatusCode::INTERNAL_SERVER_ERROR, json!({"issuer": "whatever"}).to_string()),
        (StatusCode::MOVED_PERMANENTLY, String::new()),
    ];
    for (status, body) in cases {
        let (base, server) = metadata_server(status, body.clone()).await;
        let provider = provider(&base, &ManualClock::starting_now());
        let (answer, json) = get_metadata(&provider).await;
        assert_eq!(answer, StatusCode::BAD_GATEWAY, "{status} {}", &body[..body.len().min(60)]);
        assert_eq!(json["error"], "temporarily_unavailable");
        server.abort();
    }
}

#[tokio::test]
async fn oversized_upstream_metadata_is_refused_for_its_size_alone() {
    for (padding, expected) in [(300 * 1024, StatusCode::BAD_GATEWAY), (1024, StatusCode::OK)] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // A valid document for this issuer: only its size can be held against it.
        let body = json!({"issuer": base, "x_padding": "y".repeat(padding)}).to_string();
        let app = Router::new().route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let (answer, _) = get_metadata(&provider(&base, &ManualClock::starting_now())).await;
        assert_eq!(answer, expected, "{padding} bytes of padding");
        server.abort();
    }
}
