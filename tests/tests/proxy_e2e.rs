//! The OAuth proxy end to end: the dev identity provider is the upstream with one fixed confidential
//! client; `WorkOSProvider` instances front the examples' rmcp server; the rmcp client SDK registers
//! (DCR), passes consent (a form post, as a browser without JavaScript would), signs in upstream, and
//! calls tools with the proxy's own tokens, over real loopback HTTP.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_examples::client::{self, McpSession};
use mcp_auth_tests::mcp;
use mcp_auth_tests::proxy::{self, ProxyInstance, SharedKeys, Upstream};
use rmcp::transport::auth::AuthClient;
use serde_json::Value;

struct World {
    upstream: Upstream,
    _instance: ProxyInstance,
    base_url: String,
}

impl World {
    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }
}

async fn world_with(store: Arc<dyn KvStorage>, upstream_ttl: Duration) -> World {
    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), upstream_ttl).await;
    let instance =
        proxy::proxy_instance(listener, &base_url, &upstream.url, store, &SharedKeys::random(), |p| p).await;
    World { upstream, _instance: instance, base_url }
}

async fn world() -> World {
    world_with(Arc::new(MemoryStore::new()), Duration::from_secs(3600)).await
}

async fn sign_in(mcp_url: &str) -> (McpSession, AuthClient<reqwest::Client>) {
    let challenge = client::challenge(mcp_url).await.expect("a challenge");
    let manager =
        client::authorize(mcp_url, &challenge, "user_ada").await.expect("authorized through the proxy");
    client::connect(mcp_url, manager).await.expect("connected")
}

async fn whoami(session: &McpSession) -> Value {
    let result = client::call(session, "whoami").await.expect("whoami answers");
    serde_json::from_str(&client::text_of(&result).expect("text content")).expect("JSON user")
}

/// The claims of a JWT, read without checking (the MCP endpoint checked it).
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

#[tokio::test]
async fn metadata_names_the_proxy_and_advertises_only_what_it_implements() {
    let world = world().await;
    let challenge = client::challenge(&world.mcp_url()).await.unwrap();
    assert!(challenge.contains("/.well-known/oauth-protected-resource/mcp"), "{challenge}");
    let resource: Value =
        reqwest::get(format!("{}/.well-known/oauth-protected-resource/mcp", world.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(resource["authorization_servers"][0], world.base_url);
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let metadata: Value =
            reqwest::get(format!("{}{path}", world.base_url)).await.unwrap().json().await.unwrap();
        assert_eq!(metadata["issuer"], world.base_url, "{path}");
        assert_eq!(metadata["authorization_endpoint"], format!("{}/authorize", world.base_url));
        assert_eq!(metadata["token_endpoint"], format!("{}/token", world.base_url));
        assert_eq!(metadata["registration_endpoint"], format!("{}/register", world.base_url));
        assert_eq!(metadata["revocation_endpoint"], format!("{}/revoke", world.base_url));
        assert_eq!(metadata["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            metadata["grant_types_supported"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
    }
}

#[tokio::test]
async fn dcr_consent_upstream_sign_in_then_whoami_shows_the_upstream_user() {
    let world = world().await;
    let (session, auth) = sign_in(&world.mcp_url()).await;
    let user = whoami(&session).await;
    assert_eq!(user["user_id"], "user_ada");
    assert_eq!(user["email"], "ada@example.com", "the profile came from upstream userinfo at sign-in");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["organization_id"], "org_math");
    assert_eq!(user["roles"], serde_json::json!(["member"]));
    // The token on the MCP endpoint is the proxy's own, for the MCP resource; the upstream one never left.
    let token = auth.get_access_token().await.unwrap();
    let claims = jwt_claims(&token);
    assert_eq!(claims["iss"], world.base_url);
    assert_eq!(claims["aud"], world.mcp_url());
    assert!(claims["sid"].is_string());
    let _ = session.cancel().await;
}

#[tokio::test]
async fn refresh_rotates_and_the_new_token_works() {
    let world = world().await;
    let (session, auth) = sign_in(&world.mcp_url()).await;
    let _ = session.cancel().await;
    let before = auth.get_access_token().await.unwrap();
    let refreshed = auth.auth_manager.lock().await.refresh_token().await.expect("refresh succeeds");
    let after = auth.get_access_token().await.unwrap();
    assert_ne!(before, after);
    assert!(oauth2::TokenResponse::refresh_token(&refreshed).is_some(), "a rotated refresh token");
    assert_eq!(mcp::initialize(&world.mcp_url(), &after).await.status(), 200);
}

#[tokio::test]
async fn revoke_ends_the_grant_and_the_upstream_tokens() {
    let world = world().await;
    let (session, auth) = sign_in(&world.mcp_url()).await;
    let _ = session.cancel().await;
    let access = auth.get_access_token().await.unwrap();
    assert_eq!(mcp::initialize(&world.mcp_url(), &access).await.status(), 200);
    let (client_id, _) = auth.auth_manager.lock().await.get_credentials().await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/revoke", world.base_url))
        .form(&[("token", access.as_str()), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mcp::initialize(&world.mcp_url(), &access).await.status(), 401, "the access token is revoked");
    let error = auth.auth_manager.lock().await.refresh_token().await;
    assert!(error.is_err(), "the refresh token went with the grant");
    let _ = world.upstream.token_requests.load(Ordering::SeqCst);
}
