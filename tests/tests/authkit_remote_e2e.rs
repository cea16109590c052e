//! Remote auth end to end: the dev identity provider poses as AuthKit, an rmcp server sits behind
//! `AuthKitProvider`, and the rmcp client SDK signs in as MCP clients do (discovery, DCR, PKCE, `iss`
//! check, token with `resource`) over real loopback HTTP with real RS256 signatures.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle, DevUser};
use mcp_auth_examples::client::{self, McpSession};
use mcp_auth_examples::server;
use mcp_auth_tests::mcp;
use mcp_auth_workos::AuthKitProvider;
use serde_json::Value;
use tokio::net::TcpListener;

struct World {
    idp: Option<DevIdpHandle>,
    mcp_url: String,
    base_url: String,
    clock: ManualClock,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl World {
    fn idp(&self) -> &DevIdpHandle {
        self.idp.as_ref().expect("the identity provider is running")
    }
}

async fn world() -> World {
    world_with(server::scope_policy()).await
}

async fn world_with(policy: McpScopePolicy) -> World {
    let idp = DevIdp::builder()
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .name("Ada Lovelace")
                .org_id("org_math")
                .roles(["member"]),
        )
        .user(
            DevUser::new("user_grace", "grace@example.com")
                .name("Grace Hopper")
                .roles(["admin"])
                .permissions(["demo:reset"]),
        )
        .scope(server::NOTES_WRITE)
        .auto_approve(true)
        .default_user("user_ada")
        .start()
        .await
        .expect("dev identity provider starts");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base_url = format!("http://{address}");
    let clock = ManualClock::starting_now();
    let provider = AuthKitProvider::builder()
        .authkit_domain(idp.url())
        .base_url(&base_url)
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("provider builds");
    let app =
        server::authkit_app_with_policy(&provider, vec![address.to_string(), "127.0.0.1".to_owned()], policy);
    let server = tokio::spawn(async move {
        axum::serve(mcp_auth_core::serve::no_delay(listener), app).await.unwrap();
    });
    World { idp: Some(idp), mcp_url: format!("{base_url}/mcp"), base_url, clock, server }
}

async fn sign_in(
    world: &World,
    login_hint: &str,
) -> (McpSession, rmcp::transport::auth::AuthClient<reqwest::Client>) {
    let challenge = client::challenge(&world.mcp_url).await.expect("a challenge");
    let manager = client::authorize(&world.mcp_url, &challenge, login_hint).await.expect("authorized");
    client::connect(&world.mcp_url, manager).await.expect("connected")
}

async fn whoami(session: &McpSession) -> Value {
    let result = client::call(session, "whoami").await.expect("whoami answers");
    serde_json::from_str(&client::text_of(&result).expect("text content")).expect("JSON user")
}

#[tokio::test]
async fn unauthenticated_call_gets_the_challenge_and_metadata_points_at_authkit() {
    let world = world().await;
    let challenge = client::challenge(&world.mcp_url).await.unwrap();
    assert_eq!(
        challenge,
        format!(r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#, world.base_url)
    );
    let metadata: Value =
        reqwest::get(format!("{}/.well-known/oauth-protected-resource/mcp", world.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(metadata["resource"], world.mcp_url);
    assert_eq!(metadata["authorization_servers"][0], world.idp().url());
    assert!(!metadata["scopes_supported"].as_array().unwrap().iter().any(|s| s == "offline_access"));
    let forwarded: Value = reqwest::get(format!("{}/.well-known/oauth-authorization-server", world.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(forwarded["issuer"], world.idp().url());
    assert_eq!(forwarded["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn full_flow_then_whoami_returns_the_user() {
    let world = world().await;
    let (session, _) = sign_in(&world, "ada@example.com").await;
    let user = whoami(&session).await;
    assert_eq!(user["user_id"], "user_ada");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["organization_id"], "org_math");
    assert_eq!(user["roles"], serde_json::json!(["member"]));
    assert!(user["session_id"].as_str().is_some_and(|sid| !sid.is_empty()), "{user}");
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn admin_tool_is_refused_for_a_member_and_allowed_for_an_admin() {
    let world = world().await;
    let (member, _) = sign_in(&world, "user_ada").await;
    let refused = client::call(&member, "admin_reset").await.unwrap_err();
    let text = format!("{refused:#}");
    assert!(text.contains("-32003") || text.contains("requires the role 'admin'"), "{text}");
    let (admin, _) = sign_in(&world, "grace@example.com").await;
    let done = client::call(&admin, "admin_reset").await.unwrap();
    assert_eq!(client::text_of(&done).unwrap(), "reset done by user_grace");
}

#[tokio::test]
async fn token_for_another_resource_is_refused() {
    let world = world().await;
    let token =
        world.idp().issue_access_token("user_ada", "http://127.0.0.1:1/other-mcp", ["openid"]).unwrap();
    let response = mcp::initialize(&world.mcp_url, &token).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with(r#"Bearer error="invalid_token""#), "{challenge}");
    let ours = world.idp().issue_access_token("user_ada", &world.mcp_url, ["openid"]).unwrap();
    assert_eq!(mcp::initialize(&world.mcp_url, &ours).await.status(), 200);
}

#[tokio::test]
async fn expired_token_is_refused() {
    let world = world().await;
    let token = world.idp().issue_access_token("user_ada", &world.mcp_url, ["openid"]).unwrap();
    assert_eq!(mcp::initialize(&world.mcp_url, &token).await.status(), 200);
    world.clock.advance(Duration::from_secs(2 * 3600));
    let response = mcp::initialize(&world.mcp_url, &token).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

#[tokio::test]
async fn refreshed_token_is_accepted() {
    let world = world().await;
    let (session, auth) = sign_in(&world, "user_ada").await;
    let before = auth.get_access_token().await.unwrap();
    let refreshed = auth.auth_manager.lock().await.refresh_token().await.expect("refresh succeeds");
    let after = auth.get_access_token().await.unwrap();
    assert_ne!(before, after, "refresh issued a new access token");
    assert!(oauth2_token_has_refresh(&refreshed), "the refresh token is rotated along");
    assert_eq!(whoami(&session).await["user_id"], "user_ada");
    assert_eq!(mcp::initialize(&world.mcp_url, &after).await.status(), 200);
}

fn oauth2_token_has_refresh(response: &rmcp::transport::auth::OAuthTokenResponse) -> bool {
    use oauth2::TokenResponse;
    response.refresh_token().is_some()
}

#[tokio::test]
async fn key_rotation_at_the_idp_does_not_break_a_running_server() {
    let world = world().await;
    let (session, _) = sign_in(&world, "user_ada").await;
    assert_eq!(whoami(&session).await["user_id"], "user_ada");
    let old = world.idp().issue_access_token("user_ada", &world.mcp_url, ["openid"]).unwrap();
    let new_kid = world.idp().rotate_signing_key().unwrap();
    // The verifier refetches on an unknown kid at most once per cooldown (30 s); let it pass.
    world.clock.advance(Duration::from_secs(31));
    let new = world.idp().issue_access_token("user_ada", &world.mcp_url, ["openid"]).unwrap();
    assert!(new_kid_in_header(&new, &new_kid));
    assert_eq!(mcp::initialize(&world.mcp_url, &new).await.status(), 200, "token signed with the new key");
    assert_eq!(
        mcp::initialize(&world.mcp_url, &old).await.status(),
        200,
        "token signed with the old key, still published"
    );
    assert_eq!(whoami(&session).await["user_id"], "user_ada");
}

fn new_kid_in_header(token: &str, kid: &str) -> bool {
    jwt_part(token, 0)["kid"] == kid
}

fn payload_of(token: &str) -> Value {
    jwt_part(token, 1)
}

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()
}

#[tokio::test]
async fn idp_down_after_start_does_not_break_issued_tokens() {
    let mut world = world().await;
    let (session, _) = sign_in(&world, "user_ada").await;
    let token = world.idp().issue_access_token("user_ada", &world.mcp_url, ["openid"]).unwrap();
    let unused = world.idp().issue_access_token("user_ada", &world.mcp_url, ["openid"]).unwrap();
    assert_eq!(mcp::initialize(&world.mcp_url, &token).await.status(), 200);
    world.idp.take().unwrap().shutdown().await;
    // Never seen before the outage: verified from cached keys, the userinfo profile is skipped.
    assert_eq!(mcp::initialize(&world.mcp_url, &unused).await.status(), 200, "a first use during the outage");
    assert_eq!(mcp::initialize(&world.mcp_url, &token).await.status(), 200, "cached keys still verify");
    assert_eq!(whoami(&session).await["user_id"], "user_ada");
    // Past the JWKS cache lifetime (refetches now fail) the last good keys keep serving.
    world.clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(mcp::initialize(&world.mcp_url, &token).await.status(), 200);
}

/// The step-up flow of the MCP authorization specification, with the rmcp client: a token without the
/// scope a tool needs is challenged with 403 `insufficient_scope` naming it; the client re-authorizes with
/// the union of its scopes and the challenge's, and the same call then succeeds.
#[tokio::test]
async fn step_up_low_scope_token_is_challenged_then_succeeds_after_reauthorizing() {
    let world = world().await;
    let (session, auth) = sign_in(&world, "user_ada").await;
    let first_scopes = auth.auth_manager.lock().await.get_current_scopes().await;
    assert!(!first_scopes.iter().any(|s| s == server::NOTES_WRITE), "{first_scopes:?}");
    assert_eq!(whoami(&session).await["user_id"], "user_ada");

    let refused = client::try_call(&session, "save_note").await.unwrap_err();
    let challenge = client::insufficient_scope_challenge(&refused).expect("a 403 step-up challenge");
    assert_eq!(
        challenge,
        format!(
            r#"Bearer error="insufficient_scope", error_description="tool save_note needs scopes the token lacks", resource_metadata="{}/.well-known/oauth-protected-resource/mcp", scope="notes:write""#,
            world.base_url
        )
    );

    let scopes = client::step_up(&auth, &world.mcp_url, &challenge, "user_ada").await.expect("step-up");
    for scope in first_scopes.iter().chain([&server::NOTES_WRITE.to_owned()]) {
        assert!(scopes.contains(scope), "the union keeps {scope}: {scopes:?}");
    }
    let token = auth.get_access_token().await.unwrap();
    let granted = payload_of(&token)["scope"].as_str().unwrap_or_default().to_owned();
    assert!(granted.split(' ').any(|s| s == server::NOTES_WRITE), "the new token carries it: {granted}");

    let saved = client::call(&session, "save_note").await.expect("the call succeeds after step-up");
    assert_eq!(client::text_of(&saved).unwrap(), "note saved for user_ada");
    assert_eq!(whoami(&session).await["user_id"], "user_ada", "earlier permissions are kept");
    session.cancel().await.unwrap();
}

/// With a hiding policy, `tools/list` leaves out what the token cannot call, and shows it after step-up.
#[tokio::test]
async fn tools_the_caller_cannot_use_are_hidden_from_tools_list_when_asked() {
    let policy = McpScopePolicy::builder()
        .tool("save_note", [server::NOTES_WRITE])
        .hide_unauthorized()
        .build()
        .unwrap();
    let world = world_with(policy).await;
    let (session, auth) = sign_in(&world, "user_ada").await;
    let names =
        |tools: Vec<rmcp::model::Tool>| tools.into_iter().map(|t| t.name.to_string()).collect::<Vec<_>>();
    let listed = names(session.list_all_tools().await.unwrap());
    assert!(listed.contains(&"whoami".to_owned()) && !listed.contains(&"save_note".to_owned()), "{listed:?}");

    let refused = client::try_call(&session, "save_note").await.unwrap_err();
    let challenge =
        client::insufficient_scope_challenge(&refused).expect("hidden tools are still challenged");
    client::step_up(&auth, &world.mcp_url, &challenge, "user_ada").await.expect("step-up");
    let listed = names(session.list_all_tools().await.unwrap());
    assert!(listed.contains(&"save_note".to_owned()), "{listed:?}");
    session.cancel().await.unwrap();
}
