//! `RemoteAuthProvider` over `oneshot`: metadata at every path with CORS, challenges naming it, the
//! audience check, prefixes, and settings errors.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::scope::ScopeImplications;
use mcp_auth_core::settings::Settings;
use mcp_auth_core::{AccessToken, StaticTokenVerifier, TokenVerifier};
use mcp_auth_remote::{RemoteAuthError, RemoteAuthProvider};
use serde_json::{Value, json};
use tower::ServiceExt;

fn verifier() -> StaticTokenVerifier {
    StaticTokenVerifier::new()
        .with_token(
            "ours",
            AccessToken::new("ours")
                .with_subject("u1")
                .with_scopes(["mcp:tools"])
                .with_audience(["https://mcp.example.com/tools/mcp"]),
        )
        .with_token(
            "theirs",
            AccessToken::new("theirs")
                .with_subject("u1")
                .with_scopes(["mcp:tools"])
                .with_audience(["https://other.example.com/mcp"]),
        )
        .with_token(
            "no-audience",
            AccessToken::new("no-audience").with_subject("u1").with_scopes(["mcp:tools"]),
        )
}

fn provider(verifier: Arc<dyn TokenVerifier>) -> RemoteAuthProvider {
    RemoteAuthProvider::builder(verifier)
        .authorization_server("https://auth.example.com/")
        .base_url("https://mcp.example.com/tools/")
        .mcp_path("mcp")
        .scopes_supported(["mcp:tools", "offline_access"])
        .required_scopes(["mcp:tools", "offline_access"])
        .resource_name("Example tools")
        .resource_documentation("https://docs.example.com")
        .build()
        .unwrap()
}

fn app(provider: &RemoteAuthProvider) -> Router {
    Router::new()
        .route("/mcp", post(|| async { "mcp answer" }))
        .layer(provider.bearer_layer())
        .merge(provider.metadata_router())
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body =
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).header(header::ORIGIN, "https://inspector.example").body(Body::empty()).unwrap()
}

#[tokio::test]
async fn metadata_is_served_at_every_path_with_cors() {
    let provider = provider(Arc::new(verifier()));
    let expected = json!({
        "resource": "https://mcp.example.com/tools/mcp",
        "authorization_servers": ["https://auth.example.com/"],
        "scopes_supported": ["mcp:tools"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Example tools",
        "resource_documentation": "https://docs.example.com"
    });
    for path in [
        "/.well-known/oauth-protected-resource/tools/mcp",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let (status, headers, body) = send(app(&provider), get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, expected, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
    }
}

#[tokio::test]
async fn preflight_and_plain_options_are_answered() {
    let provider = provider(Arc::new(verifier()));
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/.well-known/oauth-protected-resource/mcp")
        .header(header::ORIGIN, "https://inspector.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "mcp-protocol-version")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(app(&provider), preflight).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("mcp-protocol-version"));
    let plain = Request::builder()
        .method(Method::OPTIONS)
        .uri("/.well-known/oauth-protected-resource")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(app(&provider), plain).await;
    assert!(status.is_success(), "{status}");
    assert!(headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().contains("GET"));
}

#[tokio::test]
async fn challenge_names_the_metadata_and_required_scopes_without_offline_access() {
    let provider = provider(Arc::new(verifier()));
    let (status, headers, _) = send(app(&provider), Request::post("/mcp").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/tools/mcp", scope="mcp:tools""#
    );
}

fn bearer(token: &str) -> Request<Body> {
    Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn only_tokens_for_this_resource_are_accepted() {
    let provider = provider(Arc::new(verifier()));
    let (status, _, body) = send(app(&provider), bearer("ours")).await;
    assert_eq!((status, body), (StatusCode::OK, json!("mcp answer")));
    for token in ["theirs", "no-audience"] {
        let (status, headers, _) = send(app(&provider), bearer(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains(r#"error_description="token audience mismatch""#),
            "{token}"
        );
    }
}

#[tokio::test]
async fn audience_check_can_be_turned_off_explicitly() {
    let provider = RemoteAuthProvider::builder(Arc::new(verifier()))
        .authorization_server("https://auth.example.com")
        .base_url("https://mcp.example.com")
        .insecure_skip_audience_check()
        .build()
        .unwrap();
    assert_eq!(send(app(&provider), bearer("theirs")).await.0, StatusCode::OK);
}

#[test]
fn settings_fill_the_builder_and_errors_name_what_to_fix() {
    let settings = Settings::from_pairs([
        ("MCP_AUTH_BASE_URL", "http://127.0.0.1:9000"),
        ("MCP_AUTH_MCP_PATH", "/rpc"),
        ("MCP_AUTH_REQUIRED_SCOPES", "a,b"),
    ]);
    let provider = RemoteAuthProvider::builder(Arc::new(verifier()))
        .authorization_server("http://127.0.0.1:9400")
        .settings(&settings)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(provider.resource().as_str(), "http://127.0.0.1:9000/rpc");
    assert_eq!(provider.required_scopes(), ["a", "b"]);

    let no_base = RemoteAuthProvider::builder(Arc::new(verifier()))
        .authorization_server("https://a.example.com")
        .build();
    assert!(no_base.unwrap_err().to_string().contains("MCP_AUTH_BASE_URL"));
    let no_server =
        RemoteAuthProvider::builder(Arc::new(verifier())).base_url("https://mcp.example.com").build();
    assert!(matches!(no_server, Err(RemoteAuthError::Missing { .. })));
    let http_public = RemoteAuthProvider::builder(Arc::new(verifier()))
        .base_url("http://mcp.example.com")
        .authorization_server("https://a.example.com")
        .build();
    assert!(http_public.unwrap_err().to_string().contains("https"));
    let http_issuer = RemoteAuthProvider::builder(Arc::new(verifier()))
        .base_url("https://mcp.example.com")
        .authorization_server("http://a.example.com")
        .build();
    assert!(matches!(http_issuer, Err(RemoteAuthError::InvalidAuthorizationServer { .. })));
    let bad_scopes = Settings::from_pairs([("MCP_AUTH_REQUIRED_SCOPES", "[1]")]);
    let err = RemoteAuthProvider::builder(Arc::new(verifier())).settings(&bad_scopes).err().unwrap();
    assert!(err.to_string().contains("MCP_AUTH_REQUIRED_SCOPES"), "{err}");
}

#[tokio::test]
async fn hostile_metadata_requests_get_plain_errors() {
    let provider = provider(Arc::new(verifier()));
    for path in [
        "/.well-known/oauth-protected-resource/../mcp",
        "/.well-known/oauth-protected-resource/other",
        "/.well-known/oauth-protected-resource/mcp/%00",
    ] {
        let status = send(app(&provider), get(path)).await.0;
        assert!(status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST, "{path}: {status}");
    }
    let wrong_method = Request::post("/.well-known/oauth-protected-resource").body(Body::from("x")).unwrap();
    assert_eq!(send(app(&provider), wrong_method).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn mcp_cors_answers_preflight_before_authentication_and_exposes_the_challenge() {
    let provider = provider(Arc::new(verifier()));
    let app = Router::new()
        .route("/mcp", post(|| async { "mcp answer" }))
        .layer(provider.bearer_layer())
        .layer(mcp_auth_remote::mcp_cors());
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/mcp")
        .header(header::ORIGIN, "http://localhost:6274")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type, mcp-protocol-version")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(app.clone(), preflight).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let refused =
        Request::post("/mcp").header(header::ORIGIN, "http://localhost:6274").body(Body::empty()).unwrap();
    let (status, headers, _) = send(app, refused).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let exposed = headers[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"), "{exposed}");
}

/// The provider's bearer layer carries its scope hierarchy and per-tool policy: a broad scope meets the
/// required one, and a guarded tool is challenged with the provider's metadata URL.
#[tokio::test]
async fn provider_layer_carries_the_scope_hierarchy_and_the_mcp_scope_policy() {
    let broad = StaticTokenVerifier::new().with_token(
        "broad",
        AccessToken::new("broad")
            .with_subject("u1")
            .with_scopes(["mcp:admin"])
            .with_audience(["https://mcp.example.com/mcp"]),
    );
    let provider = RemoteAuthProvider::builder(Arc::new(broad))
        .authorization_server("https://auth.example.com")
        .base_url("https://mcp.example.com")
        .required_scopes(["mcp:tools"])
        .scope_hierarchy(ScopeImplications::new().scope_implies("mcp:admin", ["mcp:tools"]))
        .mcp_scopes(McpScopePolicy::builder().tool("deploy", ["deploy:prod"]).build().unwrap())
        .build()
        .unwrap();
    let call = |tool: &str| {
        Request::post("/mcp")
            .header(header::AUTHORIZATION, "Bearer broad")
            .body(Body::from(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}})
                    .to_string(),
            ))
            .unwrap()
    };
    let (status, _, _) = send(app(&provider), call("whoami")).await;
    assert_eq!(status, StatusCode::OK, "mcp:admin implies the required mcp:tools");
    let (status, headers, _) = send(app(&provider), call("deploy")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer error="insufficient_scope", error_description="tool deploy needs scopes the token lacks", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools deploy:prod""#
    );
}

/// Issue 11: a trailing slash was trimmed from the issuer, but clients compare the issuer in this metadata
/// with the authorization server's own `issuer` byte for byte (RFC 8414 §3.3, RFC 9207), so
/// `https://auth.example.com/` must stay as written, with or without a path.
#[test]
fn issuers_are_kept_exactly_as_the_authorization_server_publishes_them() {
    for issuer in [
        "https://auth.example.com/",
        "https://auth.example.com",
        "https://login.example.com/tenant-1/",
        "https://login.example.com/tenant-1",
        "https://login.example.com/realms/a//",
        "http://127.0.0.1:9400/",
    ] {
        let provider = RemoteAuthProvider::builder(Arc::new(verifier()))
            .authorization_server(issuer)
            .authorization_server(format!("  {issuer}\n"))
            .base_url("https://mcp.example.com")
            .build()
            .unwrap();
        assert_eq!(provider.metadata().authorization_servers, [issuer, issuer], "surrounding blanks only go");
    }
}

/// Review finding: with the scope check moved out of AuthKit's JWT verifier, `provider.verifier()` used on
/// its own accepted tokens without the required scopes. It checks them now, through the hierarchy.
#[tokio::test]
async fn provider_verifier_checks_the_required_scopes_itself() {
    let tokens = StaticTokenVerifier::new()
        .with_token(
            "narrow",
            AccessToken::new("narrow").with_subject("u1").with_audience(["https://mcp.example.com/mcp"]),
        )
        .with_token(
            "broad",
            AccessToken::new("broad")
                .with_subject("u1")
                .with_scopes(["mcp:admin"])
                .with_audience(["https://mcp.example.com/mcp"]),
        );
    let provider = RemoteAuthProvider::builder(Arc::new(tokens))
        .authorization_server("https://auth.example.com")
        .base_url("https://mcp.example.com")
        .required_scopes(["mcp:tools", "offline_access"])
        .scope_hierarchy(ScopeImplications::new().scope_implies("mcp:admin", ["mcp:tools"]))
        .build()
        .unwrap();
    let verifier = provider.verifier();
    assert_eq!(verifier.required_scopes(), ["mcp:tools"], "offline_access is never a requirement");
    let refused = verifier.verify("narrow").await.unwrap_err();
    assert_eq!(refused.status_code(), 403, "{refused}");
    assert_eq!(verifier.verify("broad").await.unwrap().scopes, ["mcp:admin"]);
}
