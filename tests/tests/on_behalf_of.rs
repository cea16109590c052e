//! Calling another API as the signed-in user (RFC 8693 token exchange), end to end over loopback: the dev
//! IdP as AuthKit, the rmcp client signing in, the `on_behalf_of` example's MCP server and orders API;
//! and the exchanger's cache, expiry, single flight and errors against the dev IdP, whose counter of
//! token-exchange requests is the count of upstream calls.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::AccessToken;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::MemoryStore;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use mcp_auth_examples::client;
use mcp_auth_examples::on_behalf_of::{self, MCP_SERVER_CLIENT_ID, MCP_SERVER_CLIENT_SECRET, ORDERS_READ};
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_workos::exchange::{ExchangeError, SharedTokenCache, TokenExchanger};
use serde_json::Value;

const API: &str = "http://127.0.0.1:7000";
const MCP: &str = "http://127.0.0.1:8000/mcp";

#[tokio::test]
async fn the_api_gets_a_token_for_itself_about_the_user_with_the_mcp_server_as_actor_never_the_mcp_token() {
    let stack = on_behalf_of::start(None, true).await.unwrap();
    let (session, auth) = client::sign_in(&stack.mcp_url, "ada@example.com").await.unwrap();
    let text = client::text_of(&client::call(&session, "list_orders").await.unwrap()).unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["user"], "user_ada", "{answer}");

    let received = stack.seen.accepted();
    assert_eq!(received.len(), 1);
    let token = &received[0];
    assert_eq!(token.audience, [stack.api_url.as_str()], "aud is the API's own URL");
    assert_eq!(token.subject.as_deref(), Some("user_ada"), "sub is the user");
    assert_eq!(token.claim("act").and_then(|act| act.get("sub")), Some(&Value::from(MCP_SERVER_CLIENT_ID)));
    assert_eq!(token.claim("org_id"), Some(&Value::from("org_math")), "the user's organization carried over");
    assert!(token.has_scope(ORDERS_READ));

    let mcp_token = auth.get_access_token().await.unwrap();
    assert_ne!(token.expose_token(), mcp_token);
    assert!(!stack.seen.was_presented(&mcp_token), "the MCP access token never reached the API");
    assert_eq!(stack.idp.idp().token_exchanges(), 1);

    // A second call is served from the MCP server's cache: the API is called, the IdP is not.
    client::call(&session, "list_orders").await.unwrap();
    assert_eq!(stack.seen.accepted().len(), 2);
    assert_eq!(stack.idp.idp().token_exchanges(), 1, "no second exchange");
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn the_api_refuses_the_mcp_token_presented_directly() {
    let stack = on_behalf_of::start(None, true).await.unwrap();
    let (session, auth) = client::sign_in(&stack.mcp_url, "ada@example.com").await.unwrap();
    let mcp_token = auth.get_access_token().await.unwrap();
    session.cancel().await.unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/orders", stack.api_url))
        .bearer_auth(&mcp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(stack.seen.accepted().is_empty(), "the API served nothing");
}

#[tokio::test]
async fn a_client_not_allowed_to_exchange_gets_a_clear_mcp_error_and_the_api_nothing() {
    let stack = on_behalf_of::start(None, false).await.unwrap();
    let (session, _) = client::sign_in(&stack.mcp_url, "ada@example.com").await.unwrap();
    let error = client::try_call(&session, "list_orders").await.unwrap_err();
    let data = client::mcp_error(&error).expect("an MCP error").clone();
    session.cancel().await.unwrap();
    assert_eq!(data.code.0, -32004, "{data:?}");
    assert!(
        data.message.contains("not allowed to exchange tokens (unauthorized_client)"),
        "{}",
        data.message
    );
    let details = data.data.unwrap();
    assert_eq!(details["kind"], "unauthorized_client");
    assert_eq!(details["retryable"], false);
    assert_eq!(stack.seen.presented(), 0, "no token of any kind reached the API");
}

/// A dev IdP on `clock`, with the MCP server's client (allowed to exchange) and another one that is not.
async fn idp(clock: &ManualClock) -> DevIdpHandle {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").org_id("org_math"))
        .client(
            DevClient::confidential(MCP_SERVER_CLIENT_ID, MCP_SERVER_CLIENT_SECRET, Vec::<String>::new())
                .allow_token_exchange(),
        )
        .client(DevClient::confidential("not-allowed", "not-allowed-secret", Vec::<String>::new()))
        .scope(ORDERS_READ)
        .scope("orders:write")
        .access_token_ttl(Duration::from_secs(600))
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap()
}

fn exchanger(idp: &DevIdpHandle, clock: &ManualClock) -> TokenExchanger {
    TokenExchanger::builder(MCP_SERVER_CLIENT_ID, MCP_SERVER_CLIENT_SECRET)
        .discover_from_issuer(idp.url())
        .clock(Arc::new(clock.clone()))
        .refresh_before(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Ada's MCP access token, as the bearer layer would hand it to a tool.
fn subject(idp: &DevIdpHandle) -> AccessToken {
    AccessToken::new(idp.issue_access_token("user_ada", MCP, ["openid"]).unwrap()).with_subject("user_ada")
}

#[tokio::test]
async fn a_second_call_is_served_from_the_cache_whatever_the_scope_order() {
    let clock = ManualClock::starting_now();
    let idp = idp(&clock).await;
    let exchanger = exchanger(&idp, &clock);
    let subject = subject(&idp);
    let first = exchanger.exchange(&subject, API, &[ORDERS_READ, "orders:write"]).await.unwrap();
    assert_eq!(idp.idp().token_exchanges(), 1);
    assert_eq!(first.audience(), API);
    assert_eq!(first.actor(), Some(MCP_SERVER_CLIENT_ID));
    let again = exchanger.exchange(&subject, API, &["orders:write", ORDERS_READ, ORDERS_READ]).await.unwrap();
    assert_eq!(again.expose_secret(), first.expose_secret());
    assert_eq!(idp.idp().token_exchanges(), 1, "served from the cache");
    exchanger.exchange(&subject, "http://127.0.0.1:7001", &[ORDERS_READ]).await.unwrap();
    assert_eq!(idp.idp().token_exchanges(), 2, "another resource is another key");
}

#[tokio::test]
async fn expiry_refreshes_the_cached_token() {
    let clock = ManualClock::starting_now();
    let idp = idp(&clock).await;
    let exchanger = exchanger(&idp, &clock);
    let first = exchanger.exchange(&subject(&idp), API, &[ORDERS_READ]).await.unwrap();
    clock.advance(Duration::from_secs(500));
    let cached = exchanger.exchange(&subject(&idp), API, &[ORDERS_READ]).await.unwrap();
    assert_eq!(cached.expose_secret(), first.expose_secret());
    assert_eq!(idp.idp().token_exchanges(), 1, "still more than a minute left");
    clock.advance(Duration::from_secs(50));
    let renewed = exchanger.exchange(&subject(&idp), API, &[ORDERS_READ]).await.unwrap();
    assert_eq!(idp.idp().token_exchanges(), 2, "inside the last minute: exchanged again");
    assert!(renewed.expires_at() > first.expires_at());
}

#[tokio::test]
async fn concurrent_calls_for_one_key_make_one_exchange() {
    let clock = ManualClock::starting_now();
    let idp = idp(&clock).await;
    let exchanger = exchanger(&idp, &clock);
    let subject = subject(&idp);
    let call = || exchanger.exchange(&subject, API, &[ORDERS_READ]);
    let (a, b, c, d) = tokio::join!(call(), call(), call(), call());
    let tokens = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    assert!(tokens.iter().all(|token| token.expose_secret() == tokens[0].expose_secret()));
    assert_eq!(idp.idp().token_exchanges(), 1, "one upstream call for four requests");
}

#[tokio::test]
async fn refusals_are_typed_and_an_outage_is_retryable() {
    let clock = ManualClock::starting_now();
    let idp = idp(&clock).await;
    let subject = subject(&idp);

    let not_allowed = TokenExchanger::builder("not-allowed", "not-allowed-secret")
        .discover_from_issuer(idp.url())
        .build()
        .unwrap();
    let err = not_allowed.exchange(&subject, API, &[ORDERS_READ]).await.unwrap_err();
    assert!(matches!(err, ExchangeError::UnauthorizedClient { .. }), "{err:?}");
    assert!(!err.is_retryable());

    let wrong_secret = TokenExchanger::builder(MCP_SERVER_CLIENT_ID, "guess")
        .discover_from_issuer(idp.url())
        .build()
        .unwrap();
    let err = wrong_secret.exchange(&subject, API, &[ORDERS_READ]).await.unwrap_err();
    assert_eq!(err.oauth_error(), Some("invalid_client"), "{err:?}");

    let exchanger = exchanger(&idp, &clock);
    let garbage = AccessToken::new("not-a-token").with_subject("user_ada");
    let err = exchanger.exchange(&garbage, API, &[ORDERS_READ]).await.unwrap_err();
    assert!(matches!(err, ExchangeError::InvalidGrant { .. }), "{err:?}");
    let err = exchanger.exchange(&subject, API, &["admin:all"]).await.unwrap_err();
    assert_eq!(err.oauth_error(), Some("invalid_scope"), "{err:?}");
    assert_eq!(idp.idp().token_exchanges(), 4);

    idp.shutdown().await;
    let err = exchanger.exchange(&subject, "http://127.0.0.1:7002", &[ORDERS_READ]).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(err, ExchangeError::Unavailable { .. }));
}

#[tokio::test]
async fn instances_share_tokens_through_the_encrypted_cache() {
    let clock = ManualClock::starting_now();
    let idp = idp(&clock).await;
    let backend = Arc::new(MemoryStore::new());
    let key = FernetKey::generate();
    let instance = || {
        let shared =
            SharedTokenCache::new(FernetStore::new(Arc::clone(&backend), vec![key.clone()]).unwrap());
        TokenExchanger::builder(MCP_SERVER_CLIENT_ID, MCP_SERVER_CLIENT_SECRET)
            .discover_from_issuer(idp.url())
            .clock(Arc::new(clock.clone()))
            .shared_cache(shared)
            .build()
            .unwrap()
    };
    let subject = subject(&idp);
    let first = instance().exchange(&subject, API, &[ORDERS_READ]).await.unwrap();
    let second = instance().exchange(&subject, API, &[ORDERS_READ]).await.unwrap();
    assert_eq!(second.expose_secret(), first.expose_secret());
    assert_eq!(idp.idp().token_exchanges(), 1, "the second instance read the shared cache");
}
