//! What a security review of the dev IdP asked for, each over real loopback HTTP: the browser-origin
//! attack, concurrent refreshes with one token, scopes limited to `scopes_supported`, anti-framing and
//! the redirect host on the consent page, and registration that cannot fill the store.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, ORIGIN};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:8000/auth/callback";

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn builder() -> mcp_auth_dev_idp::DevIdpBuilder {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").password("pw"))
        .client(DevClient::confidential("proxy", "proxy-secret", [REDIRECT]).name("The Proxy"))
        .scope("mcp:tools")
}

fn pkce() -> (String, String) {
    let verifier = "k".repeat(50);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(idp: &DevIdpHandle, challenge: &str, scope: &str) -> Url {
    Url::parse_with_params(
        &format!("{}/oauth2/authorize", idp.url()),
        &[
            ("response_type", "code"),
            ("client_id", "proxy"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "s1"),
            ("scope", scope),
        ],
    )
    .unwrap()
}

fn query_of(location: &str) -> HashMap<String, String> {
    Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

async fn tokens(idp: &DevIdpHandle) -> Value {
    let (verifier, challenge) = pkce();
    let response = http().get(authorize_url(idp, &challenge, "openid mcp:tools")).send().await.unwrap();
    let code = query_of(response.headers()[LOCATION].to_str().unwrap())["code"].clone();
    let response = http()
        .post(format!("{}/oauth2/token", idp.url()))
        .basic_auth("proxy", Some("proxy-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_foreign_web_origin_cannot_register_a_client_or_ask_for_tokens() {
    let idp = builder().auto_approve(true).start().await.unwrap();
    let evil = "https://evil.example";
    // A page on another origin registering a client through the visitor's browser (no preflight: the
    // body is sent as text/plain, a "simple" request) and through fetch with JSON.
    for content_type in ["text/plain", "application/json"] {
        let response = http()
            .post(format!("{}/oauth2/register", idp.url()))
            .header(ORIGIN, evil)
            .header("content-type", content_type)
            .body(
                json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{content_type}");
        assert!(response.headers().get("access-control-allow-origin").is_none());
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
    // ...or asking the token endpoint for anything, with a form (also a simple request).
    let response = http()
        .post(format!("{}/oauth2/token", idp.url()))
        .header(ORIGIN, evil)
        .basic_auth("proxy", Some("proxy-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A preflight from that origin is not granted.
    let response = http()
        .request(reqwest::Method::OPTIONS, format!("{}/oauth2/register", idp.url()))
        .header(ORIGIN, evil)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
    // Nothing was registered: the registration counter and clients are untouched, and the same request
    // from a loopback origin (the MCP Inspector) or from no browser at all works.
    for origin in [Some("http://localhost:6274"), None] {
        let mut request = http()
            .post(format!("{}/oauth2/register", idp.url()))
            .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}));
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{origin:?}");
        if let Some(origin) = origin {
            assert_eq!(response.headers()["access-control-allow-origin"], origin);
        }
    }
    // The dev IdP's own pages post from its own origin.
    let own = idp.url().to_owned();
    let response = http()
        .post(format!("{}/oauth2/login", idp.url()))
        .header(ORIGIN, own)
        .form(&[("pending", "x"), ("csrf", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "reaches the handler, which refuses the form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_refreshes_with_one_token_have_one_winner_and_revoke_the_family() {
    let idp = builder().auto_approve(true).start().await.unwrap();
    for round in 0..5 {
        let first = tokens(&idp).await;
        let refresh_token = first["refresh_token"].as_str().unwrap().to_owned();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..2 {
            let url = format!("{}/oauth2/token", idp.url());
            let refresh_token = refresh_token.clone();
            let barrier = Arc::clone(&barrier);
            tasks.spawn(async move {
                barrier.wait().await;
                let response = http()
                    .post(url)
                    .basic_auth("proxy", Some("proxy-secret"))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)])
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap())
            });
        }
        let results = tasks.join_all().await;
        let winners: Vec<&Value> =
            results.iter().filter(|(status, _)| *status == StatusCode::OK).map(|(_, body)| body).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find(|(status, _)| *status != StatusCode::OK).unwrap();
        assert_eq!(loser.0, StatusCode::BAD_REQUEST);
        assert_eq!(loser.1["error"], "invalid_grant");
        assert!(loser.1["error_description"].as_str().unwrap().contains("already used"), "{:?}", loser.1);
        // The loser was treated as reuse: the family is revoked, the winner's new tokens included.
        let newest = winners[0]["refresh_token"].as_str().unwrap();
        let response = http()
            .post(format!("{}/oauth2/token", idp.url()))
            .basic_auth("proxy", Some("proxy-secret"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", newest)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "round {round}");
        let userinfo = |token: String| {
            let url = format!("{}/oauth2/userinfo", idp.url());
            async move { http().get(url).bearer_auth(token).send().await.unwrap().status() }
        };
        let winner_access = winners[0]["access_token"].as_str().unwrap().to_owned();
        assert_eq!(userinfo(winner_access).await, StatusCode::UNAUTHORIZED, "round {round}");
        let first_access = first["access_token"].as_str().unwrap().to_owned();
        assert_eq!(userinfo(first_access).await, StatusCode::UNAUTHORIZED, "round {round}");
    }
}

#[tokio::test]
async fn only_supported_scopes_are_granted() {
    let idp = builder().auto_approve(true).start().await.unwrap();
    let (_, challenge) = pkce();
    for scope in ["admin", "openid admin", "mcp:tools:write"] {
        let response = http().get(authorize_url(&idp, &challenge, scope)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let query = query_of(response.headers()[LOCATION].to_str().unwrap());
        assert_eq!(query["error"], "invalid_scope", "{scope}");
        assert_eq!((query["state"].as_str(), query["iss"].as_str()), ("s1", idp.issuer()));
    }
    let response = http().get(authorize_url(&idp, &challenge, "openid mcp:tools")).send().await.unwrap();
    assert!(query_of(response.headers()[LOCATION].to_str().unwrap()).contains_key("code"));
    // Registration and client credentials are held to the same list.
    let response = http()
        .post(format!("{}/oauth2/register", idp.url()))
        .json(&json!({"redirect_uris": ["https://app.example/cb"], "scope": "openid god-mode"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    let metadata: Value = http()
        .get(format!("{}/.well-known/oauth-authorization-server", idp.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access", "mcp:tools"])
    );
}

#[tokio::test]
async fn pages_cannot_be_framed_and_consent_names_where_the_code_goes() {
    let idp = builder().start().await.unwrap();
    let (_, challenge) = pkce();
    let response = http().get(authorize_url(&idp, &challenge, "openid")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(headers["cache-control"], "no-store");
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = response.text().await.unwrap();
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).unwrap() + marker.len();
        page[start..].split('"').next().unwrap().to_owned()
    };
    let response = http()
        .post(format!("{}/oauth2/login", idp.url()))
        .header("cookie", cookie)
        .form(&[
            ("pending", hidden("pending")),
            ("csrf", hidden("csrf")),
            ("login", "user_ada".into()),
            ("password", "pw".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let consent = response.text().await.unwrap();
    assert!(consent.contains("sent back to <strong>127.0.0.1:8000</strong>"), "{consent}");
    for path in ["/", "/oauth2/authorize?client_id=nobody"] {
        let response = http().get(format!("{}{path}", idp.url())).send().await.unwrap();
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
    }
}

#[tokio::test]
async fn registration_has_an_hourly_ceiling_instead_of_filling_the_store() {
    let idp = builder().auto_approve(true).max_registrations_per_hour(3).start().await.unwrap();
    let register = || {
        let url = format!("{}/oauth2/register", idp.url());
        async move {
            http()
                .post(url)
                .json(
                    &json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
                )
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(register().await.status(), StatusCode::CREATED);
    }
    let refused = register().await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    // Bad metadata does not count against the ceiling, and the rest of the server keeps working.
    let idp2 = builder().auto_approve(true).max_registrations_per_hour(1).start().await.unwrap();
    for _ in 0..5 {
        let bad = http()
            .post(format!("{}/oauth2/register", idp2.url()))
            .json(&json!({"redirect_uris": ["javascript:alert(1)"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    }
    let good = http()
        .post(format!("{}/oauth2/register", idp2.url()))
        .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::CREATED);
    assert_eq!(tokens(&idp).await["token_type"], "Bearer");
}
