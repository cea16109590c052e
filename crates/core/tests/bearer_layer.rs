//! The bearer-auth layer, driven without sockets through `tower::ServiceExt::oneshot`: every refusal's
//! status, exact `WWW-Authenticate` header and body, and the extractors and guards behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::{
    AccessToken, AuthUser, BearerAuthLayer, RequireAuthLayer, StaticTokenVerifier, TokenVerifier, VerifyError,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn claims(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn verifier(clock: &ManualClock) -> StaticTokenVerifier {
    StaticTokenVerifier::new()
        .with_clock(Arc::new(clock.clone()))
        .with_token(
            "member-token",
            AccessToken::new("member-token")
                .with_subject("user_1")
                .with_scopes(["mcp:tools"])
                .with_claims(claims(json!({"email": "ada@example.com", "roles": ["member"]}))),
        )
        .with_token(
            "admin-token",
            AccessToken::new("admin-token")
                .with_subject("user_2")
                .with_scopes(["mcp:tools", "mcp:admin"])
                .with_claims(claims(json!({"role": "admin", "permissions": ["posts:delete"]}))),
        )
        .with_token("narrow-token", AccessToken::new("narrow-token").with_subject("user_3"))
        .with_token(
            "expiring-token",
            AccessToken::new("expiring-token")
                .with_subject("user_4")
                .with_scopes(["mcp:tools"])
                .with_expires_at_unix(1_060),
        )
}

async fn whoami(user: AuthUser, token: AccessToken) -> axum::Json<Value> {
    axum::Json(json!({"user": user, "scopes": token.scopes}))
}

fn app(verifier: Arc<dyn TokenVerifier>) -> Router {
    Router::new()
        .route("/mcp", get(whoami))
        .route("/admin", get(|| async { "admin area" }).layer(RequireAuthLayer::role("admin")))
        .route("/delete", get(|| async { "deleted" }).layer(RequireAuthLayer::permission("posts:delete")))
        .layer(
            BearerAuthLayer::new(verifier).resource_metadata_url(METADATA_URL).required_scopes(["mcp:tools"]),
        )
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

async fn call(app: Router, path: &str, authorization: &[&str]) -> Answer {
    let mut request = Request::get(path);
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let header_text =
        |name| response.headers().get(name).map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned());
    let status = response.status();
    let challenge = header_text(header::WWW_AUTHENTICATE);
    let retry_after = header_text(header::RETRY_AFTER);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer { status, challenge, retry_after, body }
}

fn default_app() -> Router {
    app(Arc::new(verifier(&ManualClock::at_unix(1_000))))
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let answer = call(default_app(), "/mcp", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.unwrap(),
        format!(r#"Bearer resource_metadata="{METADATA_URL}", scope="mcp:tools""#)
    );
    assert_eq!(answer.body, json!({"error": "unauthorized", "error_description": "bearer token required"}));
}

#[tokio::test]
async fn other_schemes_count_as_no_token() {
    let answer = call(default_app(), "/mcp", &["Basic dXNlcjpwYXNz"]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.unwrap(),
        format!(r#"Bearer resource_metadata="{METADATA_URL}", scope="mcp:tools""#)
    );
}

#[tokio::test]
async fn unknown_token_is_invalid_token() {
    let answer = call(default_app(), "/mcp", &["Bearer not-a-known-token"]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.unwrap(),
        format!(
            r#"Bearer error="invalid_token", error_description="unknown token", resource_metadata="{METADATA_URL}""#
        )
    );
    assert_eq!(answer.body, json!({"error": "invalid_token", "error_description": "unknown token"}));
}

#[tokio::test]
async fn expired_token_is_invalid_token() {
    let clock = ManualClock::at_unix(1_000);
    let app = app(Arc::new(verifier(&clock)));
    assert_eq!(call(app.clone(), "/mcp", &["Bearer expiring-token"]).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(60));
    let answer = call(app, "/mcp", &["Bearer expiring-token"]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.unwrap(),
        format!(
            r#"Bearer error="invalid_token", error_description="token expired", resource_metadata="{METADATA_URL}""#
        )
    );
}

/// Counts calls, so tests can show the verifier was never asked.
#[derive(Debug, Default)]
struct CountingVerifier {
    calls: AtomicUsize,
}

#[async_trait]
impl TokenVerifier for CountingVerifier {
    async fn verify(&self, _token: &str) -> Result<AccessToken, VerifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(VerifyError::invalid("unknown token"))
    }
}

#[tokio::test]
async fn oversized_token_is_refused_before_verification() {
    let counting = Arc::new(CountingVerifier::default());
    let app = Router::new()
        .route("/mcp", get(|| async { "ok" }))
        .layer(BearerAuthLayer::new(counting.clone()).max_token_len(64));
    let long = format!("Bearer {}", "a".repeat(65));
    let answer = call(app.clone(), "/mcp", &[&long]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.unwrap(),
        r#"Bearer error="invalid_token", error_description="token too large""#
    );
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    assert_eq!(call(app.clone(), "/mcp", &[&huge]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
    let fits = format!("Bearer {}", "a".repeat(64));
    call(app, "/mcp", &[&fits]).await;
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn malformed_authorization_is_invalid_request() {
    for (headers, description) in [
        (&["Bearer a", "Bearer b"][..], "more than one Authorization header"),
        (&["Bearer "][..], "empty bearer token"),
        (&["Bearer    "][..], "empty bearer token"),
    ] {
        let answer = call(default_app(), "/mcp", headers).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert_eq!(
            answer.challenge.unwrap(),
            format!(
                r#"Bearer error="invalid_request", error_description="{description}", resource_metadata="{METADATA_URL}""#
            )
        );
        assert_eq!(answer.body["error"], "invalid_request");
    }
}

#[tokio::test]
async fn hostile_token_characters_are_refused() {
    for value in ["Bearer a b", "Bearer a\"b", "Bearer ===", "Bearer a,b", "Bearer é", "Bearer \t"] {
        let request = Request::get("/mcp")
            .header(header::AUTHORIZATION, http::HeaderValue::from_bytes(value.as_bytes()).unwrap());
        let response = default_app().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST, "{value}: {status}");
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer error="), "{value}: {challenge}");
    }
}

#[tokio::test]
async fn scheme_is_case_insensitive() {
    assert_eq!(call(default_app(), "/mcp", &["bearer member-token"]).await.status, StatusCode::OK);
    assert_eq!(call(default_app(), "/mcp", &["BEARER member-token"]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_scope_is_insufficient_scope_with_step_up_hint() {
    let answer = call(default_app(), "/mcp", &["Bearer narrow-token"]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires", resource_metadata="{METADATA_URL}", scope="mcp:tools""#
        )
    );
    assert_eq!(answer.body["error"], "insufficient_scope");
}

#[tokio::test]
async fn verifier_scope_refusal_is_403_with_its_scopes() {
    let verifier = StaticTokenVerifier::new()
        .with_required_scopes(["a", "b"])
        .with_token("t", AccessToken::new("t").with_subject("u").with_scopes(["a"]));
    let app =
        Router::new().route("/mcp", get(|| async { "ok" })).layer(BearerAuthLayer::new(Arc::new(verifier)));
    let missing = call(app.clone(), "/mcp", &[]).await;
    assert_eq!(missing.challenge.unwrap(), r#"Bearer scope="a b""#, "the verifier's scopes are the default");
    let answer = call(app, "/mcp", &["Bearer t"]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.unwrap(),
        r#"Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires", scope="a b""#
    );
}

#[derive(Debug)]
struct DownVerifier(Option<Duration>);

#[async_trait]
impl TokenVerifier for DownVerifier {
    async fn verify(&self, _token: &str) -> Result<AccessToken, VerifyError> {
        Err(VerifyError::Unavailable {
            reason: "JWKS unreachable".into(),
            retry_after: self.0,
            source: Some("connection refused to 10.0.0.1:443".into()),
        })
    }
}

#[tokio::test]
async fn unavailable_verifier_is_503_with_retry_after_and_no_internals() {
    let answer = call(app(Arc::new(DownVerifier(None))), "/mcp", &["Bearer anything"]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    assert_eq!(answer.challenge, None);
    assert_eq!(
        answer.body,
        json!({"error": "temporarily_unavailable", "error_description": "authorization is temporarily unavailable; retry later"})
    );
    assert!(!answer.body.to_string().contains("10.0.0.1"));
    let slow = app(Arc::new(DownVerifier(Some(Duration::from_secs(42)))));
    assert_eq!(call(slow, "/mcp", &["Bearer x"]).await.retry_after.as_deref(), Some("42"));
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_user() {
    let answer = call(default_app(), "/mcp", &["Bearer member-token"]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["user"]["user_id"], "user_1");
    assert_eq!(answer.body["user"]["email"], "ada@example.com");
    assert_eq!(answer.body["scopes"], json!(["mcp:tools"]));
}

#[tokio::test]
async fn guards_check_roles_and_permissions() {
    let member = call(default_app(), "/admin", &["Bearer member-token"]).await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    assert_eq!(
        member.body,
        json!({"error": "forbidden", "error_description": "this operation requires the role 'admin'"})
    );
    let admin = call(default_app(), "/admin", &["Bearer admin-token"]).await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(admin.body, "admin area");
    assert_eq!(call(default_app(), "/delete", &["Bearer member-token"]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(call(default_app(), "/delete", &["Bearer admin-token"]).await.status, StatusCode::OK);
    // Unauthenticated requests never reach the guard: the bearer layer answers first.
    assert_eq!(call(default_app(), "/admin", &[]).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn extractors_without_the_layer_are_a_server_error_not_a_pass() {
    let app = Router::new()
        .route("/needs", get(|user: AuthUser| async move { user.user_id }))
        .route("/optional", get(|token: Option<AccessToken>| async move { format!("{}", token.is_some()) }))
        .route("/guarded", get(|| async { "should not run" }).layer(RequireAuthLayer::role("admin")));
    assert_eq!(call(app.clone(), "/needs", &[]).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(call(app.clone(), "/optional", &[]).await.body, json!(false));
    assert_eq!(call(app, "/guarded", &[]).await.status, StatusCode::INTERNAL_SERVER_ERROR);
}

/// Review finding: cloning a `BearerAuthLayer` and then calling a builder method on either copy panicked
/// (the configuration sat in an `Arc` the builder expected to own alone).
#[tokio::test]
async fn cloned_bearer_layer_can_be_configured_on_either_copy() {
    let clock = ManualClock::at_unix(1_000);
    let base = BearerAuthLayer::new(Arc::new(verifier(&clock))).resource_metadata_url(METADATA_URL);
    let copy = base.clone();
    let strict = base.required_scopes(["mcp:admin"]);
    let lenient = copy.required_scopes(["mcp:tools"]);
    let route = |layer: BearerAuthLayer| Router::new().route("/mcp", get(whoami)).layer(layer);
    assert_eq!(
        call(route(strict.clone()), "/mcp", &["Bearer member-token"]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(route(lenient), "/mcp", &["Bearer member-token"]).await.status, StatusCode::OK);
    // Configuring a clone after the original served requests leaves the original as it was.
    let changed = strict.clone().required_scopes(Vec::<String>::new());
    assert_eq!(call(route(changed), "/mcp", &["Bearer member-token"]).await.status, StatusCode::OK);
    assert_eq!(call(route(strict), "/mcp", &["Bearer member-token"]).await.status, StatusCode::FORBIDDEN);
}

/// Review finding: scope checks were exact string matches; the MCP specification says servers must
/// account for scope hierarchies. Off by default, a hook when asked.
#[tokio::test]
async fn scope_hierarchy_hook_lets_a_broad_scope_meet_a_narrow_requirement() {
    let clock = ManualClock::at_unix(1_000);
    let broad = StaticTokenVerifier::new().with_clock(Arc::new(clock.clone())).with_token(
        "broad-token",
        AccessToken::new("broad-token").with_subject("user_9").with_scopes(["mcp:admin"]),
    );
    let verifier: Arc<dyn TokenVerifier> = Arc::new(broad);
    let route = |layer: BearerAuthLayer| Router::new().route("/mcp", get(whoami)).layer(layer);
    let exact = BearerAuthLayer::new(Arc::clone(&verifier)).required_scopes(["mcp:read"]);
    let answer = call(route(exact.clone()), "/mcp", &["Bearer broad-token"]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "exact matching by default");
    let hierarchy = mcp_auth_core::scope::ScopeImplications::new().scope_implies("mcp:admin", ["mcp:read"]);
    let answer = call(route(exact.scope_hierarchy(hierarchy)), "/mcp", &["Bearer broad-token"]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["scopes"], json!(["mcp:admin"]), "the token's scopes are reported as granted");
}

/// The layer hands its scope check on only when it has a hierarchy (an exact check is what a reader
/// assumes when none is there), and a check an outer layer put into the request never outlives this
/// layer's own judgement.
#[tokio::test]
async fn the_scope_check_handed_on_is_always_this_layers_own() {
    use axum::extract::Request as AxumRequest;
    use mcp_auth_core::scope::{ScopeCheck, ScopeImplications};

    let verifier: Arc<dyn TokenVerifier> = Arc::new(verifier(&ManualClock::at_unix(1_000)));
    // Whether the handler's check lets `mcp:admin` meet `mcp:read`, and whether one was handed on at all.
    let handler = |request: AxumRequest| async move {
        let check = ScopeCheck::of(request.extensions());
        axum::Json(json!({
            "widens": check.satisfies(&["mcp:admin".to_owned()], "mcp:read"),
            "handed_on": request.extensions().get::<ScopeCheck>().is_some(),
        }))
    };
    let implications = || ScopeImplications::new().scope_implies("mcp:admin", ["mcp:read"]);
    // An outer layer that puts a widening check of its own into every request.
    let stale = ScopeCheck::with_hierarchy(implications());
    let outer = axum::middleware::map_request(move |mut request: AxumRequest| {
        let stale = stale.clone();
        async move {
            request.extensions_mut().insert(stale);
            request
        }
    });
    let exact = BearerAuthLayer::new(Arc::clone(&verifier));
    let widening = BearerAuthLayer::new(Arc::clone(&verifier)).scope_hierarchy(implications());
    for (layer, expected) in [(exact, false), (widening, true)] {
        let app = Router::new().route("/mcp", get(handler)).layer(layer).layer(outer.clone());
        let answer = call(app, "/mcp", &["Bearer admin-token"]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, json!({"widens": expected, "handed_on": expected}));
    }
}
