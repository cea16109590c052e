//! The dev IdP's protocol over real loopback HTTP: flows, negative cases, hostile input.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::MemoryStore;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpBuilder, DevIdpError, DevIdpHandle, DevUser};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use url::Url;

const PROXY_REDIRECT: &str = "http://127.0.0.1:8000/auth/callback";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

fn users(builder: DevIdpBuilder) -> DevIdpBuilder {
    builder
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .name("Ada Lovelace")
                .names("Ada", "Lovelace")
                .org_id("org_1")
                .roles(["admin"])
                .permissions(["posts:write"])
                .password("ada-pw"),
        )
        .user(DevUser::new("user_bob", "bob@example.com").roles(["member"]).password("bob-pw"))
        .client(
            DevClient::confidential("proxy", "proxy-secret", [PROXY_REDIRECT])
                .name("The Proxy")
                .allow_client_credentials(),
        )
        .client(DevClient::public("cli", ["http://127.0.0.1/callback"]).native())
        .scope("jobs:run")
}

async fn start_auto() -> DevIdpHandle {
    users(DevIdp::builder()).auto_approve(true).start().await.unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}", "x".repeat(40));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// GET the authorize URL with redirects off; returns the status and the `Location` query (if any).
async fn authorize(
    idp: &DevIdpHandle,
    params: &[(&str, &str)],
) -> (StatusCode, Option<HashMap<String, String>>, String) {
    let url = Url::parse_with_params(&format!("{}/oauth2/authorize", idp.url()), params).unwrap();
    let response = http().get(url).send().await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    let query = location.map(|l| Url::parse(&l).unwrap().query_pairs().into_owned().collect());
    (status, query, body)
}

fn code_params<'a>(client_id: &'a str, redirect_uri: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-123"),
        ("scope", "openid profile email"),
        ("resource", RESOURCE),
        ("nonce", "n-1"),
    ]
}

async fn get_code(idp: &DevIdpHandle, client_id: &str, redirect_uri: &str, challenge: &str) -> String {
    let (status, query, body) = authorize(idp, &code_params(client_id, redirect_uri, challenge)).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    let query = query.unwrap();
    assert_eq!(query["state"], "st-123");
    assert_eq!(query["iss"], idp.issuer());
    query["code"].clone()
}

async fn token_request(
    idp: &DevIdpHandle,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = http().post(format!("{}/oauth2/token", idp.url())).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn exchange(idp: &DevIdpHandle, code: &str, verifier: &str) -> (StatusCode, Value) {
    token_request(
        idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", PROXY_REDIRECT),
            ("code_verifier", verifier),
        ],
        Some(("proxy", "proxy-secret")),
    )
    .await
}

async fn decode(idp: &DevIdpHandle, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = http().get(idp.jwks_url()).send().await.unwrap().json().await.unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("kid published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[idp.issuer()]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

async fn userinfo(idp: &DevIdpHandle, token: &str) -> (StatusCode, Value) {
    let response =
        http().get(format!("{}/oauth2/userinfo", idp.url())).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn metadata_is_authkit_shaped_and_identical_on_both_paths() {
    let idp = start_auto().await;
    let oauth: Value = http()
        .get(format!("{}/.well-known/oauth-authorization-server", idp.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oidc: Value = http()
        .get(format!("{}/.well-known/openid-configuration", idp.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oauth, oidc);
    let base = idp.url();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with('/'));
    assert_eq!(oauth["issuer"], base);
    assert_eq!(oauth["authorization_endpoint"], format!("{base}/oauth2/authorize"));
    assert_eq!(oauth["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(oauth["registration_endpoint"], format!("{base}/oauth2/register"));
    assert_eq!(oauth["jwks_uri"], format!("{base}/oauth2/jwks"));
    assert_eq!(oauth["userinfo_endpoint"], format!("{base}/oauth2/userinfo"));
    assert_eq!(oauth["revocation_endpoint"], format!("{base}/oauth2/revoke"));
    assert_eq!(oauth["introspection_endpoint"], format!("{base}/oauth2/introspection"));
    assert_eq!(oauth["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(oauth["authorization_response_iss_parameter_supported"], true);
    assert_eq!(oauth["client_id_metadata_document_supported"], false);
    assert_eq!(oauth["dev_only"], true);
    assert_eq!(oauth["response_types_supported"], json!(["code"]));
    let index = http().get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("FOR DEVELOPMENT ONLY"));
}

#[tokio::test]
async fn confidential_client_full_flow_with_resource_refresh_and_userinfo() {
    let idp = start_auto().await;
    let (verifier, challenge) = pkce();
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let (status, body) = exchange(&idp, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile email");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    let access = body["access_token"].as_str().unwrap();
    let claims = decode(&idp, access, RESOURCE).await;
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["sub"], "user_ada");
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], "proxy");
    assert_eq!(claims["scope"], "openid profile email");
    assert_eq!(claims["org_id"], "org_1");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["permissions"], json!(["posts:write"]));
    for claim in ["sid", "jti", "iat", "exp"] {
        assert!(claims.get(claim).is_some(), "{claim} missing");
    }
    let id_claims = decode(&idp, body["id_token"].as_str().unwrap(), "proxy").await;
    assert_eq!(id_claims["nonce"], "n-1");
    assert_eq!(id_claims["email"], "ada@example.com");
    assert_eq!(id_claims["sid"], claims["sid"]);

    let (status, info) = userinfo(&idp, access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["sub"], "user_ada");
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(info["family_name"], "Lovelace");
    assert_eq!(info["name"], "Ada Lovelace");
    // An ID token is not an access token.
    assert_eq!(userinfo(&idp, body["id_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);

    // client_secret_post works too, and refresh keeps the resource.
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = token_request(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "proxy"),
            ("client_secret", "proxy-secret"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], body["refresh_token"]);
    let claims2 = decode(&idp, refreshed["access_token"].as_str().unwrap(), RESOURCE).await;
    assert_eq!(claims2["sid"], claims["sid"]);
    assert_ne!(claims2["jti"], claims["jti"]);
}

#[tokio::test]
async fn dcr_native_client_uses_any_loopback_port_and_default_audience() {
    let idp =
        users(DevIdp::builder()).auto_approve(true).default_audience("urn:default").start().await.unwrap();
    let response = http()
        .post(format!("{}/oauth2/register", idp.url()))
        .json(&json!({
            "client_name": "rmcp-like",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "response_types": ["code"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let registered: Value = response.json().await.unwrap();
    assert!(registered.get("client_secret").is_none());
    assert_eq!(registered["application_type"], "native");
    let client_id = registered["client_id"].as_str().unwrap();

    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:51234/callback";
    let params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (status, query, body) = authorize(&idp, &params).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    let query = query.unwrap();
    assert_eq!(query["iss"], idp.issuer());
    assert!(!query.contains_key("state"));
    let (status, tokens) = token_request(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
            ("client_id", client_id),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens.get("id_token").is_none(), "no openid scope, no ID token");
    assert!(tokens.get("scope").is_none());
    let claims = decode(&idp, tokens["access_token"].as_str().unwrap(), "urn:default").await;
    assert_eq!(claims["client_id"], client_id);

    // Another port on the same loopback path still matches; another path does not.
    let mut other_port = params.clone();
    other_port[2] = ("redirect_uri", "http://127.0.0.1:9/callback");
    assert_eq!(authorize(&idp, &other_port).await.0, StatusCode::FOUND);
    let mut other_path = params.clone();
    other_path[2] = ("redirect_uri", "http://127.0.0.1:9/evil");
    let (status, location, page) = authorize(&idp, &other_path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(location.is_none() && page.contains("not registered"));
}

#[tokio::test]
async fn dcr_refuses_bad_metadata() {
    let idp = start_auto().await;
    let register = |body: Value| {
        let url = format!("{}/oauth2/register", idp.url());
        async move {
            let response = http().post(url).json(&body).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    for (body, error) in [
        (json!({"redirect_uris": ["http://evil.example.com/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://a.example/cb#frag"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["com.example.app:/cb"]}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (json!({"redirect_uris": "https://a.example/cb"}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "application_type": "tv"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (json!([1, 2]), "invalid_client_metadata"),
    ] {
        let (status, answer) = register(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"], error, "{body}: {answer}");
    }
    // A native app may use a private-use scheme; a confidential client gets a secret.
    let (status, answer) =
        register(json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native"})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["token_endpoint_auth_method"], "client_secret_basic");
    assert!(answer["client_secret"].as_str().unwrap().len() > 20);
    assert_eq!(answer["client_secret_expires_at"], 0);
}

#[tokio::test]
async fn a_self_registered_https_redirect_uri_gets_early_errors_on_a_page_not_a_redirect() {
    let idp = users(DevIdp::builder()).start().await.unwrap();
    let response = http()
        .post(format!("{}/oauth2/register", idp.url()))
        .json(&json!({
            "redirect_uris": ["https://evil.example/cb"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    for (extra, error) in
        [(("prompt", "none"), "login_required"), (("code_challenge_method", "plain"), "invalid_request")]
    {
        let mut params = code_params(client_id, "https://evil.example/cb", &challenge);
        params.retain(|(name, _)| *name != extra.0);
        params.push(extra);
        let (status, location, body) = authorize(&idp, &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}: {body}");
        assert!(location.is_none(), "{error}: never a redirect to an unvouched URI");
        assert!(body.contains(error), "{body}");
    }
}

#[tokio::test]
async fn authorize_errors_redirect_with_iss_or_stay_on_a_page() {
    let idp = start_auto().await;
    let (_, challenge) = pkce();
    let base = code_params("proxy", PROXY_REDIRECT, &challenge);
    let with = |changes: &[(&'static str, Option<&'static str>)]| {
        let mut params: Vec<(&str, &str)> = base.clone();
        for (key, value) in changes {
            params.retain(|(k, _)| k != key);
            if let Some(value) = value {
                params.push((key, value));
            }
        }
        params
    };
    for (changes, error) in [
        (vec![("code_challenge", None)], "invalid_request"),
        (vec![("code_challenge_method", Some("plain"))], "invalid_request"),
        (vec![("code_challenge_method", None)], "invalid_request"),
        (vec![("code_challenge", Some("short"))], "invalid_request"),
        (vec![("response_type", Some("token"))], "unsupported_response_type"),
        (vec![("response_type", None)], "invalid_request"),
        (vec![("scope", Some("a\"b"))], "invalid_scope"),
        (vec![("resource", Some("not a uri"))], "invalid_target"),
        (vec![("resource", Some("https://x.example/mcp#f"))], "invalid_target"),
        (vec![("login_hint", Some("nobody@example.com"))], "access_denied"),
    ] {
        let (status, query, body) = authorize(&idp, &with(&changes)).await;
        assert_eq!(status, StatusCode::FOUND, "{changes:?}: {body}");
        let query = query.unwrap();
        assert_eq!(query["error"], error, "{changes:?}");
        assert_eq!(query["state"], "st-123");
        assert_eq!(query["iss"], idp.issuer());
        assert!(!query.contains_key("code"));
    }
    // Unknown client, missing or unregistered redirect URI: an HTML page, never a redirect.
    for changes in [
        vec![("client_id", Some("nobody"))],
        vec![("client_id", None)],
        vec![("redirect_uri", Some("https://evil.example.com/cb"))],
        vec![("redirect_uri", None)],
    ] {
        let (status, location, body) = authorize(&idp, &with(&changes)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{changes:?}");
        assert!(location.is_none());
        assert!(body.contains("development only"), "{body}");
    }
    // Repeated resource parameters are invalid_target, other repeats invalid_request.
    let mut twice = base.clone();
    twice.push(("resource", "https://other.example/mcp"));
    assert_eq!(authorize(&idp, &twice).await.1.unwrap()["error"], "invalid_target");
    let mut twice = base.clone();
    twice.push(("state", "again"));
    assert_eq!(authorize(&idp, &twice).await.1.unwrap()["error"], "invalid_request");
}

#[tokio::test]
async fn login_hint_picks_the_user() {
    let idp = start_auto().await;
    let (verifier, challenge) = pkce();
    let mut params = code_params("proxy", PROXY_REDIRECT, &challenge);
    params.push(("login_hint", "bob@example.com"));
    let (_, query, _) = authorize(&idp, &params).await;
    let (_, body) = exchange(&idp, &query.unwrap()["code"], &verifier).await;
    let claims = decode(&idp, body["access_token"].as_str().unwrap(), RESOURCE).await;
    assert_eq!(claims["sub"], "user_bob");
    assert_eq!(claims["roles"], json!(["member"]));
    assert!(claims.get("org_id").is_none());
}

#[tokio::test]
async fn code_exchange_negative_cases() {
    let idp = start_auto().await;
    let (verifier, challenge) = pkce();

    // Wrong verifier.
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let (status, body) = exchange(&idp, &code, &format!("wrong-{}", "y".repeat(45))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // Missing verifier.
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let form =
        [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", PROXY_REDIRECT)];
    let (status, body) = token_request(&idp, &form, Some(("proxy", "proxy-secret"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // Wrong redirect URI.
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:8000/other"),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = token_request(&idp, &form, Some(("proxy", "proxy-secret"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // Wrong secret, unknown client: 401 invalid_client with a Basic challenge.
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", PROXY_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    for basic in [("proxy", "wrong-secret"), ("nobody", "proxy-secret")] {
        let response = http()
            .post(format!("{}/oauth2/token", idp.url()))
            .basic_auth(basic.0, Some(basic.1))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
    // Confidential client without its secret.
    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", "proxy"));
    let (status, body) = token_request(&idp, &no_secret, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // The code survived the failed client authentications: it still works once.
    let (status, first) = exchange(&idp, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{first}");

    // Reused code: refused, and the tokens it produced are revoked.
    let (status, body) = exchange(&idp, &code, &verifier).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(userinfo(&idp, first["access_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let (status, body) = token_request(&idp, &refresh, Some(("proxy", "proxy-secret"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // A code for one client cannot be redeemed by another.
    let (cli_verifier, cli_challenge) = pkce();
    let code = get_code(&idp, "cli", "http://127.0.0.1:7777/callback", &cli_challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:7777/callback"),
        ("code_verifier", cli_verifier.as_str()),
    ];
    let (status, body) = token_request(&idp, &form, Some(("proxy", "proxy-secret"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn codes_and_tokens_expire_on_the_injected_clock() {
    let clock = ManualClock::starting_now();
    let store = Arc::new(MemoryStore::builder().clock(Arc::new(clock.clone())).build());
    let idp = users(DevIdp::builder())
        .auto_approve(true)
        .clock(Arc::new(clock.clone()))
        .store(store)
        .code_ttl(Duration::from_secs(30))
        .access_token_ttl(Duration::from_secs(60))
        .refresh_token_ttl(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let (verifier, challenge) = pkce();
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    clock.advance(Duration::from_secs(31));
    let (status, body) = exchange(&idp, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "expired code"
    );

    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let (status, tokens) = exchange(&idp, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["expires_in"], 60);
    let access = tokens["access_token"].as_str().unwrap();
    let claims = decode(&idp, access, RESOURCE).await;
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 60);
    assert_eq!(userinfo(&idp, access).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(61));
    assert_eq!(userinfo(&idp, access).await.0, StatusCode::UNAUTHORIZED);
    clock.advance(Duration::from_secs(600));
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let (status, body) = token_request(&idp, &refresh, Some(("proxy", "proxy-secret"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "expired refresh"
    );
}

#[tokio::test]
async fn reused_refresh_token_revokes_the_whole_family() {
    let idp = start_auto().await;
    let (verifier, challenge) = pkce();
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let (_, first) = exchange(&idp, &code, &verifier).await;
    let refresh = |token: String| async {
        let form = [("grant_type", "refresh_token".to_owned()), ("refresh_token", token)];
        let response = http()
            .post(format!("{}/oauth2/token", idp.url()))
            .basic_auth("proxy", Some("proxy-secret"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json::<Value>().await.unwrap())
    };
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    // Narrowing the scope is allowed, widening is not (and does not burn the token).
    let form = [("grant_type", "refresh_token"), ("refresh_token", r2.as_str()), ("scope", "openid admin")];
    let (status, body) = token_request(&idp, &form, Some(("proxy", "proxy-secret"))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    let (status, third) = refresh(r2.clone()).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&idp, third["access_token"].as_str().unwrap()).await.0, StatusCode::OK);

    // Replaying r1 (already rotated): refused, and the family dies, newest token included.
    let (status, body) = refresh(r1).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, body) = refresh(r3).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo(&idp, third["access_token"].as_str().unwrap()).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_credentials_introspection_and_revocation() {
    let idp = start_auto().await;
    let form = [("grant_type", "client_credentials"), ("scope", "jobs:run"), ("resource", RESOURCE)];
    let (status, body) = token_request(&idp, &form, Some(("proxy", "proxy-secret"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    let m2m = body["access_token"].as_str().unwrap().to_owned();
    let claims = decode(&idp, &m2m, RESOURCE).await;
    assert_eq!(claims["sub"], "proxy");
    assert_eq!(claims["scope"], "jobs:run");
    // A public client may present itself as `Basic base64("cli:")`; it still cannot use client credentials.
    let (status, body) =
        token_request(&idp, &[("grant_type", "client_credentials")], Some(("cli", ""))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));
    // Public clients cannot use client credentials.
    let (status, body) =
        token_request(&idp, &[("grant_type", "client_credentials"), ("client_id", "cli")], None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));

    let introspect = |token: String, basic: (&'static str, &'static str)| {
        let url = format!("{}/oauth2/introspection", idp.url());
        async move {
            let response = http()
                .post(url)
                .basic_auth(basic.0, Some(basic.1))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, answer) = introspect(m2m.clone(), ("proxy", "proxy-secret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "proxy");
    assert_eq!(introspect("garbage".into(), ("proxy", "proxy-secret")).await.1, json!({"active": false}));
    assert_eq!(introspect(m2m.clone(), ("proxy", "bad")).await.0, StatusCode::UNAUTHORIZED);

    // Refresh tokens introspect for their own client, and revocation kills the family.
    let (verifier, challenge) = pkce();
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let (_, tokens) = exchange(&idp, &code, &verifier).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (_, answer) = introspect(refresh.clone(), ("proxy", "proxy-secret")).await;
    assert_eq!(
        (answer["active"].as_bool(), answer["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    let revoke = |token: String| {
        let url = format!("{}/oauth2/revoke", idp.url());
        async move {
            http()
                .post(url)
                .basic_auth("proxy", Some("proxy-secret"))
                .form(&[("token", token), ("token_type_hint", "refresh_token".into())])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke(refresh.clone()).await, StatusCode::OK);
    assert_eq!(introspect(refresh.clone(), ("proxy", "proxy-secret")).await.1["active"], false);
    assert_eq!(introspect(access.clone(), ("proxy", "proxy-secret")).await.1["active"], false);
    assert_eq!(revoke("never-issued".into()).await, StatusCode::OK);
    // Access tokens revoke by jti.
    assert_eq!(revoke(m2m.clone()).await, StatusCode::OK);
    assert_eq!(introspect(m2m, ("proxy", "proxy-secret")).await.1["active"], false);
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("{name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn login_and_consent_pages() {
    let idp = users(DevIdp::builder()).start().await.unwrap();
    let (verifier, challenge) = pkce();
    let url = Url::parse_with_params(
        &format!("{}/oauth2/authorize", idp.url()),
        &code_params("proxy", PROXY_REDIRECT, &challenge),
    )
    .unwrap();
    let response = http().get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = response.text().await.unwrap();
    assert!(page.contains("for development only") && page.contains("The Proxy"));
    let (pending, csrf) = (hidden(&page, "pending"), hidden(&page, "csrf"));
    let post = |path: &'static str, form: Vec<(&'static str, String)>, cookie: String| {
        let url = format!("{}{path}", idp.url());
        async move {
            let response = http().post(url).header("cookie", cookie).form(&form).send().await.unwrap();
            let status = response.status();
            let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
            (status, location, response.text().await.unwrap())
        }
    };
    let login = |password: &str, csrf: &str| {
        vec![
            ("pending", pending.clone()),
            ("csrf", csrf.to_owned()),
            ("login", "ada@example.com".to_owned()),
            ("password", password.to_owned()),
        ]
    };
    assert_eq!(
        post("/oauth2/login", login("wrong", &csrf), cookie.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post("/oauth2/login", login("ada-pw", "forged"), cookie.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post("/oauth2/login", login("ada-pw", &csrf), "dev_idp_csrf=other".into()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, consent) = post("/oauth2/login", login("ada-pw", &csrf), cookie.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(consent.contains("ada@example.com") && consent.contains("openid"));
    let decide = |decision: &str| {
        vec![("pending", pending.clone()), ("csrf", csrf.clone()), ("decision", decision.to_owned())]
    };
    let (status, location, _) = post("/oauth2/consent", decide("approve"), cookie.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let query: HashMap<String, String> =
        Url::parse(&location.unwrap()).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query["iss"], idp.issuer());
    assert_eq!(query["state"], "st-123");
    let (status, tokens) = exchange(&idp, &query["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // The pending authorization is single-use.
    assert_eq!(post("/oauth2/consent", decide("approve"), cookie).await.0, StatusCode::BAD_REQUEST);

    // Deny redirects with access_denied; prompt=none without auto-approve is login_required.
    let page = http().get(url.clone()).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = page.text().await.unwrap();
    let (pending, csrf) = (hidden(&page, "pending"), hidden(&page, "csrf"));
    let form = vec![
        ("pending", pending.clone()),
        ("csrf", csrf.clone()),
        ("login", "user_bob".into()),
        ("password", "bob-pw".into()),
    ];
    assert_eq!(post("/oauth2/login", form, cookie.clone()).await.0, StatusCode::OK);
    let form = vec![("pending", pending), ("csrf", csrf), ("decision", "deny".into())];
    let (status, location, _) = post("/oauth2/consent", form, cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().contains("error=access_denied"));
    let mut params = code_params("proxy", PROXY_REDIRECT, &challenge);
    params.push(("prompt", "none"));
    assert_eq!(authorize(&idp, &params).await.1.unwrap()["error"], "login_required");
}

#[tokio::test]
async fn key_rotation_publishes_both_keys_until_removal() {
    let idp = start_auto().await;
    let old_kid = idp.idp().current_key_id();
    let old_token = idp.issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    let new_kid = idp.rotate_signing_key().unwrap();
    let new_token = idp.issue_access_token("ada@example.com", RESOURCE, ["openid"]).unwrap();
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some(new_kid.as_str()));
    let jwks: JwkSet = http().get(idp.jwks_url()).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks.keys.len(), 2);
    decode(&idp, &old_token, RESOURCE).await;
    decode(&idp, &new_token, RESOURCE).await;
    assert!(matches!(idp.remove_key(&new_kid), Err(DevIdpError::CurrentKey(_))));
    idp.remove_key(&old_kid).unwrap();
    assert_eq!(idp.signing_key_ids(), [new_kid]);
    assert_eq!(userinfo(&idp, &old_token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(userinfo(&idp, &new_token).await.0, StatusCode::OK);
    assert!(matches!(idp.issue_access_token("nobody", RESOURCE, ["x"]), Err(DevIdpError::UnknownUser(_))));
}

#[tokio::test]
async fn hostile_input_gets_oauth_errors_never_500() {
    let idp = start_auto().await;
    let base = idp.url().to_owned();
    let huge = "a".repeat(200 * 1024);
    let client = http();
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            client.post(format!("{base}/oauth2/token")).header(CONTENT_TYPE, "application/json").body("{}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            client.post(format!("{base}/oauth2/token")).form(&[("grant_type", "password")]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            client.post(format!("{base}/oauth2/token")).form(&[("client_id", "proxy")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            client.post(format!("{base}/oauth2/token")).form(&[("grant_type", "authorization_code")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .form(&[("grant_type", "authorization_code"), ("grant_type", "refresh_token")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(huge.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .header("authorization", "Basic !!!not-base64")
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .header("authorization", "Bearer x")
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .basic_auth("proxy", Some("proxy-secret"))
                .form(&[("grant_type", "client_credentials"), ("client_secret", "proxy-secret")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            client.post(format!("{base}/oauth2/token")).basic_auth("proxy", Some("proxy-secret")).form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", PROXY_REDIRECT),
                ("code_verifier", &"v".repeat(50)),
            ]),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            client
                .post(format!("{base}/oauth2/token"))
                .basic_auth("proxy", Some("proxy-secret"))
                .form(&[("grant_type", "refresh_token")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (client.get(format!("{base}/oauth2/token")), StatusCode::METHOD_NOT_ALLOWED, "invalid_request"),
        (client.delete(format!("{base}/oauth2/register")), StatusCode::METHOD_NOT_ALLOWED, "invalid_request"),
        (
            client
                .post(format!("{base}/oauth2/register"))
                .header(CONTENT_TYPE, "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
        ),
        (
            client.post(format!("{base}/oauth2/register")).form(&[("a", "b")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            client
                .post(format!("{base}/oauth2/register"))
                .header(CONTENT_TYPE, "application/json")
                .body(format!("\"{huge}\"")),
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
        ),
        (
            client.post(format!("{base}/oauth2/revoke")).form(&[("token", "x")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            client
                .post(format!("{base}/oauth2/revoke"))
                .basic_auth("proxy", Some("proxy-secret"))
                .form(&[("nothing", "x")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            client
                .post(format!("{base}/oauth2/introspection"))
                .header(CONTENT_TYPE, "text/plain")
                .body("token=x"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (client.get(format!("{base}/oauth2/userinfo")), StatusCode::UNAUTHORIZED, "invalid_request"),
        (
            client.get(format!("{base}/oauth2/userinfo")).bearer_auth("not.a.jwt"),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            client.get(format!("{base}/oauth2/userinfo")).bearer_auth(&huge[..20_000]),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (client.post(format!("{base}/oauth2/login")).form(&[("pending", "x")]), StatusCode::BAD_REQUEST, ""),
        (
            client.post(format!("{base}/oauth2/consent")).form(&[("pending", "x"), ("csrf", "y")]),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (client.get(format!("{base}/oauth2/nowhere")), StatusCode::NOT_FOUND, "invalid_request"),
        (client.get(format!("{base}/oauth2/authorize?%%%=&&&client_id")), StatusCode::BAD_REQUEST, ""),
        (
            client.get(format!("{base}/oauth2/authorize?client_id={}", &huge[..20_000])),
            StatusCode::URI_TOO_LONG,
            "",
        ),
    ];
    for (index, (request, status, error)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "case {index}");
        let text = response.text().await.unwrap();
        if !error.is_empty() {
            let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("case {index}: {text}"));
            assert_eq!(body["error"], error, "case {index}: {body}");
            assert!(body["error_description"].is_string(), "case {index}");
        }
    }
}

#[tokio::test]
async fn builder_refuses_contradictions_and_non_loopback() {
    let err = DevIdp::builder().auto_approve(true).start().await.unwrap_err();
    assert!(err.to_string().contains("auto_approve"), "{err}");
    let err = DevIdp::builder().bind("0.0.0.0:0".parse().unwrap()).start().await.unwrap_err();
    assert!(matches!(err, DevIdpError::NonLoopback { .. }), "{err}");
    assert!(err.to_string().contains("insecure_allow_non_loopback"));
    let err = DevIdp::builder()
        .user(DevUser::new("a", "a@x"))
        .user(DevUser::new("a", "b@x"))
        .build("http://127.0.0.1:1")
        .unwrap_err();
    assert!(matches!(err, DevIdpError::InvalidConfig(_)));
    let err = DevIdp::builder()
        .client(DevClient::public("c", ["http://evil.example.com/cb"]))
        .build("http://127.0.0.1:1")
        .unwrap_err();
    assert!(err.to_string().contains("evil.example.com"));
    let err = DevIdp::builder()
        .user(DevUser::new("a", "a@x"))
        .default_user("zed")
        .build("http://127.0.0.1:1")
        .unwrap_err();
    assert!(err.to_string().contains("zed"));
    let config = mcp_auth_dev_idp::DevIdpConfig::from_toml_str("[server]\nbind = \"localhost:abc\"").unwrap();
    let err = DevIdp::builder().config(config).start().await.unwrap_err();
    assert!(err.to_string().contains("localhost:abc"), "{err}");
    let err = DevIdp::builder().code_ttl(Duration::ZERO).build("http://127.0.0.1:1").unwrap_err();
    assert!(err.to_string().contains("code_ttl"));
    // The router works without a socket, and the handle stops the server on shutdown.
    let idp = DevIdp::builder().build("http://127.0.0.1:9999/").unwrap();
    assert_eq!(idp.issuer(), "http://127.0.0.1:9999");
    let handle = start_auto().await;
    let url = handle.url().to_owned();
    handle.shutdown().await;
    assert!(http().get(format!("{url}/oauth2/jwks")).send().await.is_err());
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_have_one_winner() {
    let idp = start_auto().await;
    let (verifier, challenge) = pkce();
    let code = get_code(&idp, "proxy", PROXY_REDIRECT, &challenge).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = format!("{}/oauth2/token", idp.url());
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", PROXY_REDIRECT.to_owned()),
            ("code_verifier", verifier.clone()),
        ];
        tasks.spawn(async move {
            let response =
                http().post(url).basic_auth("proxy", Some("proxy-secret")).form(&form).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let results = tasks.join_all().await;
    let winners = results.iter().filter(|(status, _)| *status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{results:?}");
    assert!(
        results.iter().all(|(status, body)| *status == StatusCode::OK || body["error"] == "invalid_grant")
    );
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let builder = users(DevIdp::builder());
    let debug = format!("{builder:?}");
    assert!(!debug.contains("ada-pw") && !debug.contains("proxy-secret"), "{debug}");
    let idp = builder.auto_approve(true).start().await.unwrap();
    let debug = format!("{idp:?}");
    assert!(!debug.contains("ada-pw") && !debug.contains("proxy-secret"), "{debug}");
}

#[tokio::test]
async fn userinfo_refuses_forged_and_foreign_tokens() {
    let idp = start_auto().await;
    let other = start_auto().await;
    let kid = idp.idp().current_key_id();
    let claims = json!({
        "iss": idp.issuer(), "sub": "user_ada", "client_id": "proxy", "jti": "j",
        "iat": 1, "exp": 4_000_000_000u64
    });
    // HS256 "signed" with the published modulus: the classic algorithm-confusion forgery.
    let jwks: JwkSet = http().get(idp.jwks_url()).send().await.unwrap().json().await.unwrap();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwks.keys[0].algorithm else { panic!("RSA key") };
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some(kid.clone());
    let forged =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(rsa.n.as_bytes()))
            .unwrap();
    assert_eq!(userinfo(&idp, &forged).await.0, StatusCode::UNAUTHORIZED);
    // Unsigned.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"none\",\"kid\":\"{kid}\"}}")),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(userinfo(&idp, &unsigned).await.0, StatusCode::UNAUTHORIZED);
    // A real token from another dev IdP (other keys, other issuer).
    let foreign = other.issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    assert_eq!(userinfo(&idp, &foreign).await.0, StatusCode::UNAUTHORIZED);
    // The same token is fine where it was issued.
    assert_eq!(userinfo(&other, &foreign).await.0, StatusCode::OK);
}
