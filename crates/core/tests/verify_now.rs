//! The bearer layer's two ways to a verdict: a verifier that answers at once
//! ([`TokenVerifier::verify_now`], a cache hit) and one that must be awaited give the same answers, and
//! each way is taken when it should be.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::{AccessToken, BearerAuthLayer, StaticTokenVerifier, TokenVerifier, VerifyError};
use tower::ServiceExt;

const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

/// A table answering at once (`StaticTokenVerifier` implements `verify_now`). The clock is past the
/// expiring token's `exp`.
fn table() -> StaticTokenVerifier {
    StaticTokenVerifier::new()
        .with_clock(Arc::new(ManualClock::at_unix(2_000)))
        .with_token("member", AccessToken::new("member").with_subject("user_1").with_scopes(["mcp:tools"]))
        .with_token("narrow", AccessToken::new("narrow").with_subject("user_2"))
        .with_token(
            "expired",
            AccessToken::new("expired")
                .with_subject("user_3")
                .with_scopes(["mcp:tools"])
                .with_expires_at_unix(1_000),
        )
}

/// The same table behind a verifier that can only be awaited (the trait's default `verify_now`).
#[derive(Debug)]
struct Awaited(StaticTokenVerifier);

#[async_trait]
impl TokenVerifier for Awaited {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        tokio::task::yield_now().await;
        self.0.verify(token).await
    }
}

/// Counts which way each verification went.
#[derive(Debug)]
struct Counting {
    table: StaticTokenVerifier,
    answers_at_once: bool,
    asked_at_once: AtomicUsize,
    awaited: AtomicUsize,
}

impl Counting {
    fn new(answers_at_once: bool) -> Arc<Self> {
        Arc::new(Self {
            table: table(),
            answers_at_once,
            asked_at_once: AtomicUsize::new(0),
            awaited: AtomicUsize::new(0),
        })
    }

    fn counts(&self) -> (usize, usize) {
        (self.asked_at_once.load(Ordering::SeqCst), self.awaited.load(Ordering::SeqCst))
    }
}

#[async_trait]
impl TokenVerifier for Counting {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        self.awaited.fetch_add(1, Ordering::SeqCst);
        self.table.verify(token).await
    }

    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        self.asked_at_once.fetch_add(1, Ordering::SeqCst);
        if self.answers_at_once { self.table.verify_now(token) } else { None }
    }
}

fn layer(verifier: Arc<dyn TokenVerifier>) -> BearerAuthLayer {
    BearerAuthLayer::new(verifier).resource_metadata_url(METADATA_URL).required_scopes(["mcp:tools"])
}

fn app(layer: BearerAuthLayer) -> Router {
    let whoami = |token: AccessToken| async move { token.subject.clone().unwrap_or_default() };
    Router::new().route("/mcp", get(whoami).post(whoami)).layer(layer)
}

#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, challenge, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn get_with(authorization: &[&str]) -> Request<Body> {
    let mut request = Request::get("/mcp");
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn answering_at_once_and_awaiting_give_the_same_status_challenge_and_body() {
    let at_once = app(layer(Arc::new(table())));
    let awaited = app(layer(Arc::new(Awaited(table()))));
    let cases: [&[&str]; 9] = [
        &[],
        &["Basic dXNlcjpwYXNz"],
        &["Bearer"],
        &["Bearer not a token"],
        &["Bearer unknown"],
        &["Bearer member"],
        &["Bearer narrow"],
        &["Bearer expired"],
        &["Bearer member", "Bearer member"],
    ];
    let mut statuses = Vec::new();
    for case in cases {
        let (first, second) = (send(&at_once, get_with(case)).await, send(&awaited, get_with(case)).await);
        assert_eq!(first, second, "{case:?}");
        statuses.push(first.status.as_u16());
    }
    // The cases cover every verdict, so the comparison above means something.
    assert_eq!(statuses, [401, 401, 400, 401, 401, 200, 403, 401, 400]);
}

#[tokio::test]
async fn a_verifier_that_answers_at_once_is_never_awaited() {
    let verifier = Counting::new(true);
    let app = app(layer(Arc::clone(&verifier) as Arc<dyn TokenVerifier>));
    let answer = send(&app, get_with(&["Bearer member"])).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "user_1"));
    assert_eq!(send(&app, get_with(&["Bearer unknown"])).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(verifier.counts(), (2, 0));
}

#[tokio::test]
async fn a_verifier_that_cannot_answer_at_once_is_awaited() {
    let verifier = Counting::new(false);
    let app = app(layer(Arc::clone(&verifier) as Arc<dyn TokenVerifier>));
    let answer = send(&app, get_with(&["Bearer member"])).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "user_1"));
    assert_eq!(verifier.counts(), (1, 1));
}

#[tokio::test]
async fn a_malformed_header_is_refused_before_any_verifier_is_asked() {
    let verifier = Counting::new(true);
    let app = app(layer(Arc::clone(&verifier) as Arc<dyn TokenVerifier>));
    assert_eq!(send(&app, get_with(&["Bearer bad token!"])).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&app, get_with(&[])).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(verifier.counts(), (0, 0));
}

#[tokio::test]
async fn a_body_the_operation_scopes_must_read_is_verified_by_awaiting_and_still_judged() {
    let verifier = Counting::new(true);
    let policy = McpScopePolicy::builder().tool("delete_repo", ["repo:admin"]).build().unwrap();
    let app = app(layer(Arc::clone(&verifier) as Arc<dyn TokenVerifier>).mcp_scopes(policy));
    let post = |tool: &str| {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#);
        Request::post("/mcp")
            .header(header::AUTHORIZATION, "Bearer member")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    assert_eq!(send(&app, post("whoami")).await.status, StatusCode::OK);
    assert_eq!(send(&app, post("delete_repo")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(verifier.counts(), (0, 2), "a POST whose body is read goes the awaited way");
    assert_eq!(send(&app, get_with(&["Bearer member"])).await.status, StatusCode::OK);
    assert_eq!(verifier.counts(), (1, 2), "a GET has no body to read");
}
