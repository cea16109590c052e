//! Issue 11, the WorkOS findings about `AuthKitProvider`'s scopes and audiences: each test is named after the finding it pins down and
//! runs against a real loopback stand-in for WorkOS (`support`) that counts the upstream calls made.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::get;
use mcp_auth_core::StaticTokenVerifier;
use mcp_auth_core::settings::Settings;
use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
use mcp_auth_workos::AuthKitProvider;
use support::StandIn;
use tower::ServiceExt;

const BASE_URL: &str = "http://127.0.0.1:8000";

// Finding: `AuthKitProvider` removes `offline_access` from the challenge but the verifier can still
// require it.

/// A stand-in serving the JWKS of a fresh RS256 issuer for its own domain.
async fn authkit_standin() -> (StandIn, JwtIssuer) {
    let standin = StandIn::start().await;
    let issuer = JwtIssuer::builder()
        .issuer(&standin.base)
        .signing_key(SigningKey::generate_rs256("k1").unwrap())
        .build()
        .unwrap();
    standin.jwks(issuer.public_jwks_json());
    (standin, issuer)
}

fn sign(issuer: &JwtIssuer, audience: &str, scopes: &[&str]) -> String {
    let request = TokenRequest::new("user_01").audience(audience).scopes(scopes.iter().copied());
    issuer.sign_access(&request).unwrap().expose().to_owned()
}

async fn call_mcp(provider: &AuthKitProvider, token: &str) -> (StatusCode, HeaderMap) {
    let app: Router = provider.protect(Router::new().route("/mcp", get(|| async { "ok" })));
    let request = Request::get("/mcp").header(header::AUTHORIZATION, format!("Bearer {token}"));
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    (response.status(), response.headers().clone())
}

#[tokio::test]
async fn offline_access_is_neither_challenged_nor_required() {
    let (standin, issuer) = authkit_standin().await;
    let provider = AuthKitProvider::builder()
        .authkit_domain(&standin.base)
        .base_url(BASE_URL)
        .required_scopes(["openid", "offline_access"])
        .build()
        .unwrap();
    let resource = provider.resource().as_str().to_owned();
    assert_eq!(provider.remote().required_scopes(), ["openid"]);
    let (status, _) = call_mcp(&provider, &sign(&issuer, &resource, &["openid"])).await;
    assert_eq!(status, StatusCode::OK, "offline_access is never required, since it is never challenged");
    let (status, headers) = call_mcp(&provider, &sign(&issuer, &resource, &["profile"])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(challenge.contains(r#"scope="openid""#), "{challenge}");
    assert!(!challenge.contains("offline_access"), "{challenge}");
}

#[test]
fn offline_access_required_by_a_custom_verifier_is_refused_at_build() {
    let verifier = StaticTokenVerifier::new().with_required_scopes(["openid", "offline_access"]);
    let err = AuthKitProvider::builder()
        .authkit_domain("your-app.authkit.app")
        .base_url("https://mcp.example.com")
        .verifier(Arc::new(verifier))
        .build()
        .expect_err("its 403 would ask for a scope clients are told never to request");
    assert!(err.to_string().contains("offline_access"), "{err}");
}

// Finding: AuthKit puts the environment's client id in `aud` when a client omits `resource`.

const CLIENT_ID: &str = "client_01HZENVIRONMENT";

#[tokio::test]
async fn client_id_audience_is_refused_unless_the_insecure_option_accepts_it() {
    let (standin, issuer) = authkit_standin().await;
    let strict = AuthKitProvider::builder().authkit_domain(&standin.base).base_url(BASE_URL).build().unwrap();
    let resource = strict.resource().as_str().to_owned();
    let for_client_id = sign(&issuer, CLIENT_ID, &["openid"]);
    assert_eq!(call_mcp(&strict, &for_client_id).await.0, StatusCode::UNAUTHORIZED, "strict by default");

    let lenient = AuthKitProvider::builder()
        .authkit_domain(&standin.base)
        .base_url(BASE_URL)
        .insecure_accept_client_id_audience(CLIENT_ID)
        .build()
        .unwrap();
    assert_eq!(call_mcp(&lenient, &for_client_id).await.0, StatusCode::OK);
    assert_eq!(call_mcp(&lenient, &sign(&issuer, &resource, &["openid"])).await.0, StatusCode::OK);
    for other in ["client_01HZOTHER", "https://other.example.com/mcp"] {
        assert_eq!(
            call_mcp(&lenient, &sign(&issuer, other, &["openid"])).await.0,
            StatusCode::UNAUTHORIZED,
            "{other}: only that one extra audience"
        );
    }

    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", standin.base.as_str()),
        ("MCP_AUTH_BASE_URL", BASE_URL),
        ("MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE", CLIENT_ID),
    ]);
    let from_settings = AuthKitProvider::builder().settings(&settings).unwrap().build().unwrap();
    assert_eq!(call_mcp(&from_settings, &for_client_id).await.0, StatusCode::OK);
}

#[test]
fn client_id_audience_with_a_custom_verifier_is_refused_at_build() {
    let err = AuthKitProvider::builder()
        .authkit_domain("your-app.authkit.app")
        .base_url("https://mcp.example.com")
        .verifier(Arc::new(StaticTokenVerifier::new()))
        .insecure_accept_client_id_audience(CLIENT_ID)
        .build()
        .expect_err("the option configures the default verifier's audience check");
    let message = err.to_string();
    assert!(message.contains("insecure_accept_client_id_audience"), "{message}");
    assert!(message.contains("MCP_AUTH_INSECURE_ACCEPT_CLIENT_ID_AUDIENCE"), "{message}");
}

// Finding: the best-effort userinfo profile lookup has no failure cache: during a userinfo outage every
// request waits out the timeout. (The circuit breaker itself is unit-tested in `src/profile.rs`.)

#[tokio::test]
async fn profile_lookup_during_a_userinfo_outage_is_tried_once_and_requests_proceed_without_it() {
    let (standin, issuer) = authkit_standin().await;
    standin.userinfo_mode(support::Mode::Status(StatusCode::SERVICE_UNAVAILABLE, None));
    let provider =
        AuthKitProvider::builder().authkit_domain(&standin.base).base_url(BASE_URL).build().unwrap();
    let resource = provider.resource().as_str().to_owned();
    for user in 0..5 {
        let token = issuer
            .sign_access(&TokenRequest::new(format!("user_{user}")).audience(resource.as_str()))
            .unwrap();
        assert_eq!(call_mcp(&provider, token.expose()).await.0, StatusCode::OK, "user {user}");
    }
    assert_eq!(standin.userinfo_calls(), 1, "one failed lookup, then the breaker is open");
}
