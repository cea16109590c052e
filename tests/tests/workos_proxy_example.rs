//! The configuration path of `examples/workos_proxy.rs`: a `WorkOSProvider` built from `MCP_AUTH_*`
//! variables alone (`WorkOSProviderBuilder::settings`, as the example reads them from the environment), in
//! front of the dev IdP with its one confidential client, serving the examples' MCP server through
//! `server::proxy_app` with the peer address, over real loopback HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use mcp_auth_core::settings::Settings;
use mcp_auth_examples::client;
use mcp_auth_examples::server;
use mcp_auth_tests::proxy::{self, UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET};
use mcp_auth_workos::WorkOSProvider;
use serde_json::{Value, json};

const REDIRECT_PATH: &str = "/oauth/upstream-callback";

fn settings(upstream: &str, base_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MCP_AUTH_AUTHKIT_DOMAIN", upstream.to_owned()),
        ("MCP_AUTH_WORKOS_CLIENT_ID", UPSTREAM_CLIENT_ID.to_owned()),
        ("MCP_AUTH_WORKOS_CLIENT_SECRET", UPSTREAM_CLIENT_SECRET.to_owned()),
        ("MCP_AUTH_BASE_URL", base_url.to_owned()),
        ("MCP_AUTH_REDIRECT_PATH", REDIRECT_PATH.to_owned()),
        ("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://localhost:*, http://127.0.0.1:*".to_owned()),
        ("MCP_AUTH_JWT_SIGNING_KEY", mcp_auth_oauth_server::random_token(32).expect("randomness")),
        ("MCP_AUTH_FERNET_KEYS", mcp_auth_fernet::FernetKey::generate().expose_secret().to_owned()),
    ]
}

#[tokio::test]
async fn the_example_configuration_signs_a_user_in_through_the_proxy() {
    let (listener, base_url) = proxy::listener().await;
    let addr: SocketAddr = listener.local_addr().expect("address");
    let upstream = proxy::upstream(&format!("{base_url}{REDIRECT_PATH}"), Duration::from_secs(3600)).await;
    let settings = Settings::from_pairs(settings(&upstream.url, &base_url));
    let provider = WorkOSProvider::builder()
        .settings(&settings)
        .expect("the variables are well-formed")
        .build()
        .await
        .expect("the proxy builds from the variables alone");
    assert_eq!(provider.proxy().callback_url(), format!("{base_url}{REDIRECT_PATH}"));
    assert_eq!(provider.proxy().resource().as_str(), format!("{base_url}/mcp"));

    let hosts = server::allowed_hosts(&url::Url::parse(&base_url).expect("base URL"), addr);
    let app = server::proxy_app(&provider, hosts);
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(mcp_auth_core::serve::no_delay(listener), service).await;
    });

    // The allow-list from MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS bounds registration.
    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{base_url}/register"))
        .json(&json!({ "redirect_uris": ["https://evil.example/callback"], "client_name": "evil" }))
        .send()
        .await
        .expect("register answers");
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("an OAuth error");
    assert_eq!(body["error"], "invalid_redirect_uri", "{body}");

    // The rmcp client registers, consents, signs in upstream and calls a tool as the upstream user.
    let mcp_url = format!("{base_url}/mcp");
    let challenge = client::challenge(&mcp_url).await.expect("a challenge");
    let manager =
        client::authorize(&mcp_url, &challenge, "user_ada").await.expect("authorized through the proxy");
    let (session, _auth) = client::connect(&mcp_url, manager).await.expect("connected");
    let result = client::call(&session, "whoami").await.expect("whoami answers");
    let user: Value = serde_json::from_str(&client::text_of(&result).expect("text")).expect("JSON user");
    assert_eq!(user["user_id"], "user_ada", "{user}");
    assert_eq!(user["email"], "ada@example.com", "{user}");
    task.abort();
}

#[tokio::test]
async fn a_missing_or_malformed_variable_is_named() {
    let mut pairs = settings("http://127.0.0.1:9", "http://127.0.0.1:8000");
    pairs.retain(|(name, _)| *name != "MCP_AUTH_WORKOS_CLIENT_SECRET");
    let missing = WorkOSProvider::builder()
        .settings(&Settings::from_pairs(pairs))
        .expect("the others are well-formed")
        .build()
        .await
        .expect_err("no client secret");
    assert!(missing.to_string().contains("MCP_AUTH_WORKOS_CLIENT_SECRET"), "{missing}");

    let mut pairs = settings("http://127.0.0.1:9", "http://127.0.0.1:8000");
    pairs.retain(|(name, _)| *name != "MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS");
    pairs.push(("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://localhost:*,not a pattern".to_owned()));
    let malformed =
        WorkOSProvider::builder().settings(&Settings::from_pairs(pairs)).expect_err("a malformed pattern");
    assert!(malformed.to_string().contains("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS"), "{malformed}");
}
