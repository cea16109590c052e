//! Attacks on the OAuth proxy, each against a real proxy on loopback (the dev identity provider as the
//! upstream) and each asserting the exact refusal: the status, and the OAuth error code or the page.
//!
//! The flows are driven by hand (registration, `/authorize`, consent, the upstream, the callback, the
//! token endpoint) with `reqwest` and the examples' no-JavaScript [`Browser`], so every step an attacker
//! could alter is reachable.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mcp_auth_core::store::MemoryStore;
use mcp_auth_examples::client::Browser;
use mcp_auth_proxy::OAuthProxyBuilder;
use mcp_auth_tests::proxy::{self, ProxyInstance, SharedKeys, Upstream};
use oauth2::PkceCodeChallenge;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use url::Url;

/// The redirect URI the attacked client registers. Nothing listens there: every flow stops at the
/// redirect to it.
const CLIENT_REDIRECT: &str = "http://127.0.0.1:9/cb";
/// Every request gives up after this: a refusal must come quickly, never as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

struct World {
    upstream: Upstream,
    _instance: ProxyInstance,
    base_url: String,
    http: reqwest::Client,
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn mcp_url(&self) -> String {
        self.url("/mcp")
    }

    fn callback_prefix(&self) -> String {
        self.url("/auth/callback")
    }

    fn upstream_code_exchanges(&self) -> usize {
        self.upstream.token_requests.load(Ordering::SeqCst)
    }
}

async fn world_with(configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder) -> World {
    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let instance = proxy::proxy_instance(
        listener,
        &base_url,
        &upstream.url,
        Arc::new(MemoryStore::new()),
        &SharedKeys::random(),
        configure,
    )
    .await;
    World { upstream, _instance: instance, base_url, http: http() }
}

async fn world() -> World {
    world_with(|proxy| proxy).await
}

/// An HTTP client that follows no redirect and gives up after [`REQUEST_TIMEOUT`].
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------------
// Answers

/// Asserts an OAuth error answer (RFC 6749 §5.2 shape) and returns its body.
async fn assert_oauth_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let got = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "expected {status} {code}, got {got}: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a JSON error body ({e}): {text}"));
    assert_eq!(body["error"], code, "{text}");
    assert!(headers.get(header::LOCATION).is_none(), "an error answer redirects nowhere");
    body
}

/// Asserts an HTML error page with `status` whose text contains `says`, and no redirect.
async fn assert_page(response: reqwest::Response, status: StatusCode, says: &str) {
    let got = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "expected a {status} page, got {got}: {text}");
    assert!(headers.get(header::LOCATION).is_none(), "a refusal page never redirects: {headers:?}");
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "a page, not {content_type:?}");
    assert!(text.contains(says), "the page should say {says:?}: {text}");
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("a redirect, got {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A query parameter of `url`.
fn query(url: &str, name: &str) -> Option<String> {
    Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// `url` with parameter `name` set to `value` (the others kept in order).
fn with_query(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> =
        url.query_pairs()
            .map(|(k, v)| {
                if k == name { (k.into_owned(), value.to_owned()) } else { (k.into_owned(), v.into_owned()) }
            })
            .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

// ---------------------------------------------------------------------------------------------------
// Clients, codes and tokens

struct Client {
    id: String,
    redirect_uri: String,
}

async fn register_raw(world: &World, metadata: &Value) -> reqwest::Response {
    world.http.post(world.url("/register")).json(metadata).send().await.unwrap()
}

fn metadata(redirect_uri: &str) -> Value {
    json!({
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "attack test client",
    })
}

/// Registers a public client with `redirect_uri`.
async fn register_with(world: &World, redirect_uri: &str) -> Client {
    let response = register_raw(world, &metadata(redirect_uri)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    Client { id: body["client_id"].as_str().unwrap().to_owned(), redirect_uri: redirect_uri.to_owned() }
}

async fn register(world: &World) -> Client {
    register_with(world, CLIENT_REDIRECT).await
}

/// A PKCE pair: (challenge, verifier).
fn pkce() -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().clone())
}

/// The authorization URL of a well-formed request, with `extra` parameters replacing or adding to it
/// (an empty value removes a parameter).
fn authorize_url(world: &World, client: &Client, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, String)> = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.id.clone()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("code_challenge", challenge.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("state", "client-state-1".to_owned()),
        ("resource", world.mcp_url()),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, (*value).to_owned()));
        }
    }
    let mut url = Url::parse(&world.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

/// Runs the whole flow in a fresh browser: the code the client receives, with its PKCE verifier.
async fn code_for(world: &World, client: &Client) -> (String, String) {
    let (challenge, verifier) = pkce();
    let url = Url::parse(&authorize_url(world, client, &challenge, &[])).unwrap();
    let callback = Browser::new().unwrap().follow(url, &client.redirect_uri).await.unwrap();
    assert_eq!(query(&callback, "state").as_deref(), Some("client-state-1"));
    assert_eq!(query(&callback, "iss").as_deref(), Some(world.base_url.as_str()));
    (query(&callback, "code").expect("a code"), verifier)
}

async fn token_request(world: &World, form: &[(&str, &str)]) -> reqwest::Response {
    world.http.post(world.url("/token")).form(form).send().await.unwrap()
}

async fn redeem(world: &World, client: &Client, code: &str, verifier: &str) -> reqwest::Response {
    token_request(
        world,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
            ("client_id", &client.id),
            ("resource", &world.mcp_url()),
        ],
    )
    .await
}

async fn refresh(world: &World, client: &Client, refresh_token: &str) -> reqwest::Response {
    token_request(
        world,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", &client.id)],
    )
    .await
}

struct Tokens {
    access: String,
    refresh: String,
}

impl Tokens {
    fn of(body: &Value) -> Self {
        Self {
            access: body["access_token"].as_str().expect("an access token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("a refresh token").to_owned(),
        }
    }
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A client's tokens after the whole flow.
async fn tokens_for(world: &World, client: &Client) -> Tokens {
    let (code, verifier) = code_for(world, client).await;
    Tokens::of(&ok_json(redeem(world, client, &code, &verifier).await).await)
}

/// The status of an MCP `initialize` sent with `token`.
async fn mcp_status(world: &World, token: &str) -> StatusCode {
    mcp_auth_tests::mcp::initialize(&world.mcp_url(), token).await.status()
}

// ---------------------------------------------------------------------------------------------------
// Consent, by hand

/// A consent page as a browser saw it.
struct ConsentPage {
    url: Url,
    headers: HeaderMap,
    transaction: String,
    csrf: String,
}

fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field: {html}")) + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// Opens `authorize_url` in `browser` and follows it to the consent page.
async fn open_consent(world: &World, browser: &mut Browser, authorize_url: &str) -> ConsentPage {
    let url = Url::parse(authorize_url).unwrap();
    let response = browser.send(world.http.get(url.clone()), &url).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "to the consent page");
    let url = url.join(&location(&response)).unwrap();
    assert!(url.as_str().starts_with(&world.url("/consent?transaction=")), "{url}");
    let response = browser.send(world.http.get(url.clone()), &url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let html = response.text().await.unwrap();
    let transaction = hidden_field(&html, "transaction");
    let csrf = hidden_field(&html, "csrf");
    ConsentPage { url, headers, transaction, csrf }
}

/// Posts the consent form with `fields` from `browser` (or from no browser: no cookies), with `origin`.
async fn post_consent(
    world: &World,
    browser: Option<&mut Browser>,
    fields: &[(&str, &str)],
    origin: &str,
) -> reqwest::Response {
    let action = Url::parse(&world.url("/consent")).unwrap();
    let request = world.http.post(action.clone()).header(header::ORIGIN, origin).form(fields);
    match browser {
        Some(browser) => browser.send(request, &action).await.unwrap(),
        None => request.send().await.unwrap(),
    }
}

fn own_origin(world: &World) -> String {
    Url::parse(&world.base_url).unwrap().origin().ascii_serialization()
}

// ===================================================================================================
// Authorization codes

#[tokio::test]
async fn code_replay_is_refused_and_revokes_the_tokens_of_the_first_redemption() {
    let world = world().await;
    let client = register(&world).await;
    let (code, verifier) = code_for(&world, &client).await;
    let tokens = Tokens::of(&ok_json(redeem(&world, &client, &code, &verifier).await).await);
    assert_eq!(
        mcp_status(&world, &tokens.access).await,
        StatusCode::OK,
        "the first redemption's token works"
    );

    assert_oauth_error(
        redeem(&world, &client, &code, &verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    assert_eq!(
        mcp_status(&world, &tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "the access token of the first redemption is revoked at once"
    );
    assert_oauth_error(
        refresh(&world, &client, &tokens.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn code_replay_revokes_a_token_never_used_before() {
    // The same attack as above without a prior use of the access token (no cached answer to go stale).
    let world = world().await;
    let client = register(&world).await;
    let (code, verifier) = code_for(&world, &client).await;
    let tokens = Tokens::of(&ok_json(redeem(&world, &client, &code, &verifier).await).await);
    assert_oauth_error(
        redeem(&world, &client, &code, &verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(mcp_status(&world, &tokens.access).await, StatusCode::UNAUTHORIZED);
    assert_oauth_error(
        refresh(&world, &client, &tokens.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_invalid_grant() {
    let world = world().await;
    let client = register(&world).await;
    let thief = register(&world).await;
    let (code, verifier) = code_for(&world, &client).await;
    assert_oauth_error(
        redeem(&world, &thief, &code, &verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn authorize_without_pkce_redirects_invalid_request() {
    let world = world().await;
    let client = register(&world).await;
    let url =
        authorize_url(&world, &client, "unused", &[("code_challenge", ""), ("code_challenge_method", "")]);
    let response = world.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = location(&response);
    assert!(location.starts_with(CLIENT_REDIRECT), "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&location, "state").as_deref(), Some("client-state-1"));
    assert_eq!(query(&location, "iss").as_deref(), Some(world.base_url.as_str()));
    assert_eq!(query(&location, "code"), None);
}

#[tokio::test]
async fn authorize_with_plain_pkce_redirects_invalid_request() {
    let world = world().await;
    let client = register(&world).await;
    let (_, verifier) = pkce();
    // With `plain` the challenge is the verifier itself.
    let url = authorize_url(&world, &client, &verifier, &[("code_challenge_method", "plain")]);
    let response = world.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = location(&response);
    assert!(location.starts_with(CLIENT_REDIRECT), "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&location, "code"), None);
}

#[tokio::test]
async fn a_wrong_pkce_verifier_at_the_token_endpoint_is_invalid_grant() {
    let world = world().await;
    let client = register(&world).await;
    let (code, _) = code_for(&world, &client).await;
    let (_, other_verifier) = pkce();
    assert_oauth_error(
        redeem(&world, &client, &code, &other_verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Without any verifier too.
    let (code, _) = code_for(&world, &client).await;
    let response = token_request(
        &world,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("client_id", &client.id),
        ],
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_changed_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let world = world().await;
    let client = register(&world).await;
    let (code, verifier) = code_for(&world, &client).await;
    let response = token_request(
        &world,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", &verifier),
            ("client_id", &client.id),
        ],
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

// ===================================================================================================
// Redirect URIs

#[tokio::test]
async fn an_unregistered_redirect_uri_at_authorize_gets_a_page_and_no_redirect() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    for evil in ["https://evil.example/cb", "http://127.0.0.1:9/elsewhere"] {
        let url = authorize_url(&world, &client, &challenge, &[("redirect_uri", evil)]);
        let response = world.http.get(url).send().await.unwrap();
        assert_page(response, StatusCode::BAD_REQUEST, "is not registered for this client").await;
    }
}

#[tokio::test]
async fn registration_refuses_open_redirect_tricks() {
    let world = world().await;
    for trick in [
        "http://127.0.0.1:1@evil.example/cb",
        "http://127.0.0.1:9/cb/../x",
        "http://127.0.0.1:9/cb/%2e%2e/x",
        "http://127.0.0.1:9/cb/%2E%2E/x",
        "http://127.0.0.1:9/cb/./x",
        "http://127.0.0.1:9\\@evil.example/cb",
        "http://127.0.0.1:9/cb\\..\\x",
        "http:\\\\evil.example\\cb",
        "javascript:alert(1)",
        "javascript://127.0.0.1:9/%0aalert(1)",
        "https://evil.example/cb",
    ] {
        let response = register_raw(&world, &metadata(trick)).await;
        let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_redirect_uri").await;
        assert!(body.get("client_id").is_none(), "{trick}: {body}");
    }
}

#[tokio::test]
async fn registration_refuses_an_upper_case_scheme() {
    let world = world().await;
    let response = register_raw(&world, &metadata("HTTP://127.0.0.1:9/cb")).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_redirect_uri").await;
}

#[tokio::test]
async fn a_registered_redirect_uri_with_another_path_or_host_is_refused_without_redirect() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    for changed in [
        "http://127.0.0.1:9/cb/x",
        "http://127.0.0.1:9/cb/",
        "http://127.0.0.1:9/CB",
        "http://127.0.0.1:9/cb?next=https://evil.example",
        "http://localhost:9/cb",
        "http://127.0.0.2:9/cb",
        "https://127.0.0.1:9/cb",
        "http://127.0.0.1:9@evil.example/cb",
        "http://127.0.0.1:9/x/../cb",
        "http://127.0.0.1:9/cb#frag",
    ] {
        let url = authorize_url(&world, &client, &challenge, &[("redirect_uri", changed)]);
        let response = world.http.get(url).send().await.unwrap();
        assert_page(response, StatusCode::BAD_REQUEST, "is not registered for this client").await;
    }
}

// ===================================================================================================
// Error redirects before any page (RFC 9700 §4.11.2): only to redirect URIs the proxy can vouch for

/// A proxy with no `allowed_client_redirect_uris` (the default): anyone may register any https URI.
async fn open_world() -> World {
    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let instance = proxy::proxy_instance_open_registration(
        listener,
        &base_url,
        &upstream.url,
        Arc::new(MemoryStore::new()),
        &SharedKeys::random(),
    )
    .await;
    World { upstream, _instance: instance, base_url, http: http() }
}

/// The requests whose errors are found before any page: (extra parameters, error code).
const EARLY_ERRORS: [(&[(&str, &str)], &str); 4] = [
    (&[("prompt", "none")], "login_required"),
    (&[("scope", "a\"b")], "invalid_scope"),
    (&[("code_challenge_method", "plain")], "invalid_request"),
    (&[("code_challenge", ""), ("code_challenge_method", "")], "invalid_request"),
];

#[tokio::test]
async fn a_self_registered_client_cannot_use_authorize_errors_as_an_open_redirector() {
    let world = open_world().await;
    let evil = register_with(&world, "https://evil.example/cb").await;
    let (challenge, _) = pkce();
    for (extra, error) in EARLY_ERRORS {
        let url = authorize_url(&world, &evil, &challenge, extra);
        let response = world.http.get(url).send().await.unwrap();
        let text = format!("({error})");
        assert_page(response, StatusCode::BAD_REQUEST, &text).await;
    }
    // The page names the error and the host, and offers no way there.
    let url = authorize_url(&world, &evil, &challenge, &[("prompt", "none")]);
    let page = world.http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("evil.example"), "{page}");
    assert!(!page.contains("href"), "no link to the unvouched address: {page}");
    // A good request still goes to the consent page on the proxy (the person decides there).
    let url = authorize_url(&world, &evil, &challenge, &[]);
    let response = world.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = location(&response);
    assert!(location.starts_with(&world.url("/consent?transaction=")), "{location}");
}

#[tokio::test]
async fn a_loopback_redirect_uri_still_gets_error_redirects_without_an_allow_list() {
    let world = open_world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    for (extra, error) in EARLY_ERRORS {
        let url = authorize_url(&world, &client, &challenge, extra);
        let response = world.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{error}");
        let location = location(&response);
        assert!(location.starts_with(CLIENT_REDIRECT), "{location}");
        assert_eq!(query(&location, "error").as_deref(), Some(error));
        assert_eq!(query(&location, "state").as_deref(), Some("client-state-1"));
        assert_eq!(query(&location, "iss").as_deref(), Some(world.base_url.as_str()));
    }
}

#[tokio::test]
async fn an_allow_listed_redirect_uri_gets_error_redirects() {
    let world = world_with(|proxy| {
        proxy.allowed_client_redirect_uris(["https://app.good.example/**"]).expect("pattern")
    })
    .await;
    let client = register_with(&world, "https://app.good.example/cb").await;
    let (challenge, _) = pkce();
    let url = authorize_url(&world, &client, &challenge, &[("prompt", "none")]);
    let response = world.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = location(&response);
    assert!(location.starts_with("https://app.good.example/cb?"), "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("login_required"));
}

// ===================================================================================================
// The upstream callback

#[tokio::test]
async fn a_tampered_state_is_refused_and_a_replayed_callback_too() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    let mut browser = Browser::new().unwrap();
    let url = Url::parse(&authorize_url(&world, &client, &challenge, &[])).unwrap();
    let callback = browser.follow(url, &world.callback_prefix()).await.unwrap();
    let state = query(&callback, "state").unwrap();
    assert!(query(&callback, "code").is_some());

    // Tampered: another (unknown) transaction id, in the browser that holds the real binding cookie.
    let mut tampered_state = state.clone();
    let last = tampered_state.pop().unwrap();
    tampered_state.push(if last == 'A' { 'B' } else { 'A' });
    for state in [tampered_state.as_str(), &format!("{state}x"), "x"] {
        let tampered = Url::parse(&with_query(&callback, "state", state)).unwrap();
        let response = browser.send(world.http.get(tampered.clone()), &tampered).await.unwrap();
        assert_page(response, StatusCode::BAD_REQUEST, "unknown, expired or already finished").await;
    }
    let tampered = Url::parse(&with_query(&callback, "state", "")).unwrap();
    let response = browser.send(world.http.get(tampered.clone()), &tampered).await.unwrap();
    assert_page(response, StatusCode::BAD_REQUEST, "no state").await;
    assert_eq!(world.upstream_code_exchanges(), 0, "no tampered callback reached the upstream");

    // The genuine callback still finishes, once.
    let genuine = Url::parse(&callback).unwrap();
    let response = browser.send(world.http.get(genuine.clone()), &genuine).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with(CLIENT_REDIRECT));
    assert_eq!(world.upstream_code_exchanges(), 1);

    // Replayed: the same callback URL again.
    let response = browser.send(world.http.get(genuine.clone()), &genuine).await.unwrap();
    assert_page(response, StatusCode::BAD_REQUEST, "unknown, expired or already finished").await;
    assert_eq!(world.upstream_code_exchanges(), 1, "the replay did not reach the upstream");
}

#[tokio::test]
async fn a_victim_finishing_an_attackers_flow_gets_403_and_no_code_reaches_the_client() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();

    // The attacker starts a flow and approves it in their own browser...
    let mut attacker = Browser::new().unwrap();
    let consent = open_consent(&world, &mut attacker, &authorize_url(&world, &client, &challenge, &[])).await;
    let fields =
        [("transaction", consent.transaction.as_str()), ("csrf", &consent.csrf), ("decision", "approve")];
    let response = post_consent(&world, Some(&mut attacker), &fields, &own_origin(&world)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let upstream_url = location(&response);
    assert!(upstream_url.starts_with(&world.upstream.url), "{upstream_url}");

    // ...and lures the victim to the upstream URL: the victim signs in upstream (as themselves) and
    // lands on the proxy's callback without the transaction's binding cookie.
    let mut victim = Browser::new().unwrap();
    let callback = victim.follow(Url::parse(&upstream_url).unwrap(), &world.callback_prefix()).await.unwrap();
    assert!(query(&callback, "code").is_some(), "the upstream did send its code to the callback");
    let callback = Url::parse(&callback).unwrap();
    let response = victim.send(world.http.get(callback.clone()), &callback).await.unwrap();
    assert_page(response, StatusCode::FORBIDDEN, "started in another browser").await;
    assert_eq!(world.upstream_code_exchanges(), 0, "the victim's upstream code was never exchanged");
}

// ===================================================================================================
// Consent

#[tokio::test]
async fn consent_posts_without_this_browsers_csrf_token_or_cookie_are_403() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    let mut browser = Browser::new().unwrap();
    let consent = open_consent(&world, &mut browser, &authorize_url(&world, &client, &challenge, &[])).await;
    let origin = own_origin(&world);
    let tx = consent.transaction.as_str();

    // A wrong token, in the right browser.
    let wrong = format!("{}x", &consent.csrf[..consent.csrf.len() - 1]);
    let response = post_consent(
        &world,
        Some(&mut browser),
        &[("transaction", tx), ("csrf", &wrong), ("decision", "approve")],
        &origin,
    )
    .await;
    assert_page(response, StatusCode::FORBIDDEN, "not shown to this browser").await;

    // The right token, without the browser cookie (a forged cross-site form cannot send it: SameSite):
    // the transaction belongs to the browser that started it.
    let fields = [("transaction", tx), ("csrf", consent.csrf.as_str()), ("decision", "approve")];
    let response = post_consent(&world, None, &fields, &origin).await;
    assert_page(response, StatusCode::FORBIDDEN, "started in another browser").await;

    // The right token with another browser's cookie.
    let mut other = Browser::new().unwrap();
    let _ = open_consent(&world, &mut other, &authorize_url(&world, &client, &challenge, &[])).await;
    let response = post_consent(&world, Some(&mut other), &fields, &origin).await;
    assert_page(response, StatusCode::FORBIDDEN, "started in another browser").await;

    // The same form from the right browser passes: the refusals were the CSRF check's.
    let response = post_consent(&world, Some(&mut browser), &fields, &origin).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_consent_post_without_a_csrf_token_is_403() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    let mut browser = Browser::new().unwrap();
    let consent = open_consent(&world, &mut browser, &authorize_url(&world, &client, &challenge, &[])).await;
    let response = post_consent(
        &world,
        Some(&mut browser),
        &[("transaction", consent.transaction.as_str()), ("decision", "approve")],
        &own_origin(&world),
    )
    .await;
    assert_page(response, StatusCode::FORBIDDEN, "not shown to this browser").await;
}

#[tokio::test]
async fn a_cross_origin_consent_post_is_403_even_with_the_right_token_and_cookie() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    let mut browser = Browser::new().unwrap();
    let consent = open_consent(&world, &mut browser, &authorize_url(&world, &client, &challenge, &[])).await;
    let fields =
        [("transaction", consent.transaction.as_str()), ("csrf", &consent.csrf), ("decision", "approve")];
    for origin in ["https://evil.example", "null"] {
        let response = post_consent(&world, Some(&mut browser), &fields, origin).await;
        assert_oauth_error(response, StatusCode::FORBIDDEN, "invalid_request").await;
    }
}

#[tokio::test]
async fn the_consent_page_cannot_be_framed() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    let mut browser = Browser::new().unwrap();
    let consent = open_consent(&world, &mut browser, &authorize_url(&world, &client, &challenge, &[])).await;
    assert_eq!(consent.headers[header::X_FRAME_OPTIONS], "DENY", "{}", consent.url);
    let csp = consent.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.split(';').any(|d| d.trim() == "frame-ancestors 'none'"), "{csp}");
    assert_eq!(consent.headers[header::CACHE_CONTROL], "no-store");
    // The browser cookie that binds the authorization to this browser comes with /authorize's answer.
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let started = no_redirects.get(authorize_url(&world, &client, &challenge, &[])).send().await.unwrap();
    let cookie = started.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("mcp_auth_browser="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
}

// ===================================================================================================
// Refresh tokens

/// Sleeps past a 1 s grace window whatever the phase of the store's whole-second clock (rotation time
/// and now are both kept in whole seconds, so 1 s may look like 0 s or 1 s, 2.1 s always like 2 s).
async fn past_the_grace_window() {
    tokio::time::sleep(Duration::from_millis(2100)).await;
}

/// Sleeps until just after the next wall-clock second starts.
async fn just_after_a_second_boundary() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - now.subsec_millis()) + 20)).await;
}

#[tokio::test]
async fn refresh_reuse_after_the_grace_window_revokes_the_family() {
    let world = world_with(|proxy| proxy.refresh_grace(Duration::from_secs(1))).await;
    let client = register(&world).await;
    let first = tokens_for(&world, &client).await;
    let second = Tokens::of(&ok_json(refresh(&world, &client, &first.refresh).await).await);
    assert_ne!(first.refresh, second.refresh, "rotated");
    assert_eq!(mcp_status(&world, &second.access).await, StatusCode::OK);

    past_the_grace_window().await;
    assert_oauth_error(
        refresh(&world, &client, &first.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        refresh(&world, &client, &second.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn refresh_reuse_after_the_grace_window_ends_the_families_access_tokens() {
    let world = world_with(|proxy| proxy.refresh_grace(Duration::from_secs(1))).await;
    let client = register(&world).await;
    let first = tokens_for(&world, &client).await;
    let second = Tokens::of(&ok_json(refresh(&world, &client, &first.refresh).await).await);
    past_the_grace_window().await;
    assert_eq!(mcp_status(&world, &second.access).await, StatusCode::OK);
    assert_oauth_error(
        refresh(&world, &client, &first.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(mcp_status(&world, &second.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_reuse_1_4_s_after_a_rotation_with_a_1_s_grace_window_is_refused() {
    let world = world_with(|proxy| proxy.refresh_grace(Duration::from_secs(1))).await;
    let client = register(&world).await;
    let first = tokens_for(&world, &client).await;
    just_after_a_second_boundary().await;
    let rotated = tokio::time::Instant::now();
    ok_json(refresh(&world, &client, &first.refresh).await).await;
    tokio::time::sleep_until(rotated + Duration::from_millis(1400)).await;
    assert_oauth_error(
        refresh(&world, &client, &first.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_refresh_retried_within_the_grace_window_gets_the_same_pair() {
    let world = world().await;
    let client = register(&world).await;
    let first = tokens_for(&world, &client).await;
    let rotated = ok_json(refresh(&world, &client, &first.refresh).await).await;
    let retried = ok_json(refresh(&world, &client, &first.refresh).await).await;
    assert_eq!(retried["access_token"], rotated["access_token"]);
    assert_eq!(retried["refresh_token"], rotated["refresh_token"]);
    let second = Tokens::of(&rotated);
    assert_eq!(mcp_status(&world, &second.access).await, StatusCode::OK, "the family lives on");
    ok_json(refresh(&world, &client, &second.refresh).await).await;
}

// ===================================================================================================
// The MCP endpoint

#[tokio::test]
async fn a_refresh_token_is_not_a_bearer_token() {
    let world = world().await;
    let client = register(&world).await;
    let tokens = tokens_for(&world, &client).await;
    assert_eq!(mcp_status(&world, &tokens.refresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(mcp_status(&world, &tokens.access).await, StatusCode::OK);
}

#[tokio::test]
async fn the_upstreams_own_access_token_is_refused_on_the_mcp_endpoint() {
    let world = world().await;
    for audience in [world.mcp_url(), String::new(), world.base_url.clone()] {
        let token = world.upstream.idp.issue_access_token("user_ada", &audience, ["openid"]).unwrap();
        assert_eq!(mcp_status(&world, &token).await, StatusCode::UNAUTHORIZED, "audience {audience:?}");
    }
}

// ===================================================================================================
// Revocation

#[tokio::test]
async fn revoking_another_clients_token_is_unauthorized_client_and_the_token_lives_on() {
    let world = world().await;
    let victim = register(&world).await;
    let attacker = register(&world).await;
    let tokens = tokens_for(&world, &victim).await;
    for token in [&tokens.refresh, &tokens.access] {
        let response = world
            .http
            .post(world.url("/revoke"))
            .form(&[("token", token.as_str()), ("client_id", &attacker.id)])
            .send()
            .await
            .unwrap();
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    }
    assert_eq!(mcp_status(&world, &tokens.access).await, StatusCode::OK);
    ok_json(refresh(&world, &victim, &tokens.refresh).await).await;
}

// ===================================================================================================
// Hostile bodies and queries

fn big(bytes: usize) -> String {
    "a".repeat(bytes)
}

#[tokio::test]
async fn register_refuses_oversized_and_malformed_bodies() {
    let world = world().await;
    let url = world.url("/register");
    let huge = json!({"redirect_uris": [CLIENT_REDIRECT], "client_name": big(1024 * 1024)}).to_string();
    let cases: [(&str, String, StatusCode, &str); 5] = [
        ("application/json", huge, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
        (
            "application/json",
            "this is not JSON".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
        ),
        (
            "application/json",
            format!("[{}]", metadata(CLIENT_REDIRECT)),
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
        ),
        (
            "application/json",
            "{\"redirect_uris\": [".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
        ),
        ("text/plain", metadata(CLIENT_REDIRECT).to_string(), StatusCode::BAD_REQUEST, "invalid_request"),
    ];
    for (content_type, body, status, code) in cases {
        let response =
            world.http.post(&url).header(header::CONTENT_TYPE, content_type).body(body).send().await.unwrap();
        assert_oauth_error(response, status, code).await;
    }
}

#[tokio::test]
async fn token_and_revoke_refuse_oversized_and_malformed_bodies() {
    let world = world().await;
    let client = register(&world).await;
    for path in ["/token", "/revoke"] {
        let url = world.url(path);
        let form = "application/x-www-form-urlencoded";
        let huge = format!(
            "grant_type=authorization_code&client_id={}&token=x&code={}",
            client.id,
            big(1024 * 1024)
        );
        let repeated = format!(
            "grant_type=refresh_token&client_id={0}&client_id={0}&token=x&refresh_token=x",
            client.id
        );
        let json = json!({"grant_type": "refresh_token", "client_id": client.id, "token": "x"}).to_string();
        let cases: [(&str, String, StatusCode); 5] = [
            (form, huge, StatusCode::PAYLOAD_TOO_LARGE),
            ("application/json", json, StatusCode::BAD_REQUEST),
            (
                "text/plain",
                format!("grant_type=refresh_token&client_id={}&token=x", client.id),
                StatusCode::BAD_REQUEST,
            ),
            (form, repeated, StatusCode::BAD_REQUEST),
            (form, "%%%\u{0}&&==&=%zz".to_owned(), StatusCode::BAD_REQUEST),
        ];
        for (content_type, body, status) in cases {
            let response = world
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_oauth_error(response, status, "invalid_request").await;
        }
    }
}

#[tokio::test]
async fn consent_post_refuses_garbage() {
    let world = world().await;
    let url = world.url("/consent");
    let form = "application/x-www-form-urlencoded";
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (form, b"\xff\xfe=%zz&%%%&decision=%G0".to_vec(), "The form is incomplete."),
        (form, b"\xff\xfe%%%&&==&=%zz".to_vec(), "The form could not be read."),
        (form, b"transaction=nope&csrf=nope&decision=approve".to_vec(), "expired or was already finished"),
        (form, format!("transaction={}", big(1024 * 1024)).into_bytes(), "The form could not be read."),
        ("application/json", b"{\"transaction\": \"x\"}".to_vec(), "The form could not be read."),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--".to_vec(), "The form could not be read."),
    ];
    for (content_type, body, says) in cases {
        let response =
            world.http.post(&url).header(header::CONTENT_TYPE, content_type).body(body).send().await.unwrap();
        assert_page(response, StatusCode::BAD_REQUEST, says).await;
    }
}

#[tokio::test]
async fn authorize_and_callback_refuse_huge_and_undecodable_queries() {
    let world = world().await;
    let client = register(&world).await;
    let (challenge, _) = pkce();
    let long = authorize_url(&world, &client, &challenge, &[("state", &big(20 * 1024))]);
    let response = world.http.get(long).send().await.unwrap();
    assert_page(response, StatusCode::URI_TOO_LONG, "too long").await;
    for query in ["client_id=%zz&redirect_uri=%", "client_id=%ff%fe&redirect_uri=%G0%", "%%%&&=="] {
        let response = world.http.get(format!("{}?{query}", world.url("/authorize"))).send().await.unwrap();
        assert_page(response, StatusCode::BAD_REQUEST, "").await;
    }

    let callback = world.callback_prefix();
    let response =
        world.http.get(format!("{callback}?code=x&state={}", big(20 * 1024))).send().await.unwrap();
    assert_page(response, StatusCode::BAD_REQUEST, "unknown, expired or already finished").await;
    for query in ["code=%zz&state=%zz%", "code=x&state=%ff%fe", "%%%&&=="] {
        let response = world.http.get(format!("{callback}?{query}")).send().await.unwrap();
        assert_page(response, StatusCode::BAD_REQUEST, "").await;
    }
    assert_eq!(world.upstream_code_exchanges(), 0);
}

// ===================================================================================================
// Registration ceiling

#[tokio::test]
async fn the_fourth_registration_from_one_source_is_429_with_retry_after() {
    let world = world_with(|proxy| proxy.registrations_per_source(3, Duration::from_secs(600))).await;
    for _ in 0..3 {
        register(&world).await;
    }
    let response = register_raw(&world, &metadata(CLIENT_REDIRECT)).await;
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After in seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let body = assert_oauth_error(response, StatusCode::TOO_MANY_REQUESTS, "invalid_client_metadata").await;
    assert!(body.get("client_id").is_none());
}
