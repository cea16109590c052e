//! A running OAuth proxy stack for the end-to-end tests: the dev identity provider as the upstream with
//! one fixed confidential client, and one or more `WorkOSProvider` instances (sharing keys and a store)
//! in front of the examples' rmcp server, all on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse as _;
use mcp_auth_core::store::KvStorage;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
use mcp_auth_examples::client::Browser;
use mcp_auth_examples::server;
use mcp_auth_jwt::SigningKey;
use mcp_auth_proxy::OAuthProxyBuilder;
use mcp_auth_workos::WorkOSProvider;
use tokio::net::TcpListener;

/// The proxy's client id at the upstream.
pub const UPSTREAM_CLIENT_ID: &str = "proxy_client";
/// Its secret.
pub const UPSTREAM_CLIENT_SECRET: &str = "proxy-client-secret";

/// The upstream: the dev IdP, counting the requests its token endpoint receives.
#[derive(Debug)]
pub struct Upstream {
    /// The identity provider.
    pub idp: DevIdp,
    /// Its URL.
    pub url: String,
    /// How many requests reached `/oauth2/token`.
    pub token_requests: Arc<AtomicUsize>,
    /// While set, `/oauth2/token` answers 503 with `Retry-After: 7` (an upstream outage).
    pub token_outage: Arc<AtomicBool>,
    /// While set, `/oauth2/token` answers 400 with this OAuth error code.
    pub token_error: Arc<std::sync::Mutex<Option<&'static str>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the upstream with users Ada (member, org `org_math`) and Grace (admin), signing Ada in
/// without pages, one confidential client whose redirect URI is `callback`, and upstream access tokens
/// that live `access_ttl`.
///
/// # Panics
///
/// When it cannot start (a test failure).
pub async fn upstream(callback: &str, access_ttl: Duration) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the upstream");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let idp = dev_idp(&url, callback, access_ttl);
    let token_requests = Arc::new(AtomicUsize::new(0));
    let token_outage = Arc::new(AtomicBool::new(false));
    let token_error = Arc::new(std::sync::Mutex::new(None));
    let (counter, outage, refusal) =
        (Arc::clone(&token_requests), Arc::clone(&token_outage), Arc::clone(&token_error));
    let router = idp.router().layer(middleware::from_fn(move |request: Request, next: Next| {
        let (counter, outage, refusal) = (Arc::clone(&counter), Arc::clone(&outage), Arc::clone(&refusal));
        async move {
            if request.uri().path() == "/oauth2/token" {
                counter.fetch_add(1, Ordering::SeqCst);
                if outage.load(Ordering::SeqCst) {
                    return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "7")], "down")
                        .into_response();
                }
                let refused: Option<&'static str> =
                    *refusal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(error) = refused {
                    let body = axum::Json(serde_json::json!({ "error": error }));
                    return (StatusCode::BAD_REQUEST, body).into_response();
                }
            }
            next.run(request).await
        }
    }));
    let task = tokio::spawn(async move {
        let _ = axum::serve(mcp_auth_core::serve::no_delay(listener), router).await;
    });
    Upstream { idp, url, token_requests, token_outage, token_error, task }
}

/// The dev IdP every proxy test signs in at, with `issuer` as its public URL: users Ada (member, org
/// `org_math`) and Grace (admin), Ada signed in without pages, one confidential client whose redirect
/// URI is `callback`, and upstream access tokens that live `access_ttl`.
///
/// # Panics
///
/// When it cannot be built (a test failure).
#[must_use]
pub fn dev_idp(issuer: &str, callback: &str, access_ttl: Duration) -> DevIdp {
    DevIdp::builder()
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .name("Ada Lovelace")
                .org_id("org_math")
                .roles(["member"]),
        )
        .user(DevUser::new("user_grace", "grace@example.com").name("Grace Hopper").roles(["admin"]))
        .client(DevClient::confidential(UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET, [callback]))
        .scope(server::NOTES_WRITE)
        .auto_approve(true)
        .default_user("user_ada")
        .access_token_ttl(access_ttl)
        .build(issuer)
        .expect("the upstream builds")
}

/// The keys every proxy instance of one deployment shares.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    /// The secret the HS256 signing key derives from.
    pub signing_secret: String,
    /// The Fernet key (URL-safe base64).
    pub fernet: String,
}

impl SharedKeys {
    /// Fresh random keys.
    #[must_use]
    pub fn random() -> Self {
        Self {
            signing_secret: mcp_auth_oauth_server::random_token(32).expect("randomness"),
            fernet: mcp_auth_fernet::FernetKey::generate().expose_secret().to_owned(),
        }
    }
}

/// One proxy instance serving the examples' MCP server.
#[derive(Debug)]
pub struct ProxyInstance {
    /// The provider.
    pub provider: WorkOSProvider,
    /// Where this instance listens (`http://127.0.0.1:port`).
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProxyInstance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ProxyInstance {
    /// Stops serving (a crash or a restart).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Starts a proxy instance on `listener` for the deployment at `base_url`, over `store`, with `keys`,
/// the upstream at `upstream_url`, and `configure` for anything else.
///
/// # Panics
///
/// When it cannot start (a test failure).
pub async fn proxy_instance(
    listener: TcpListener,
    base_url: &str,
    upstream_url: &str,
    store: Arc<dyn KvStorage>,
    keys: &SharedKeys,
    configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder,
) -> ProxyInstance {
    proxy_instance_with_http(listener, base_url, upstream_url, store, keys, None, configure).await
}

/// As [`proxy_instance`], with `http` (when given) as the HTTP client for every upstream call: the code
/// exchange, refresh and revocation, the upstream JWKS and userinfo.
///
/// # Panics
///
/// When it cannot start (a test failure).
pub async fn proxy_instance_with_http(
    listener: TcpListener,
    base_url: &str,
    upstream_url: &str,
    store: Arc<dyn KvStorage>,
    keys: &SharedKeys,
    http: Option<reqwest::Client>,
    configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder,
) -> ProxyInstance {
    start(listener, base_url, upstream_url, store, keys, http, true, configure).await
}

/// As [`proxy_instance`], without the loopback-only `allowed_client_redirect_uris` every other instance
/// gets: the default deployment, where any client may register any redirect URI the registration rules
/// accept (`https://evil.example/cb` included).
///
/// # Panics
///
/// When it cannot start (a test failure).
pub async fn proxy_instance_open_registration(
    listener: TcpListener,
    base_url: &str,
    upstream_url: &str,
    store: Arc<dyn KvStorage>,
    keys: &SharedKeys,
) -> ProxyInstance {
    start(listener, base_url, upstream_url, store, keys, None, false, |proxy| proxy).await
}

#[allow(clippy::too_many_arguments)]
async fn start(
    listener: TcpListener,
    base_url: &str,
    upstream_url: &str,
    store: Arc<dyn KvStorage>,
    keys: &SharedKeys,
    http: Option<reqwest::Client>,
    loopback_redirects_only: bool,
    configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder,
) -> ProxyInstance {
    let addr: SocketAddr = listener.local_addr().expect("address");
    let signing = SigningKey::from_hmac_secret(&keys.signing_secret.clone().into()).expect("signing key");
    let fernet = mcp_auth_fernet::FernetKey::new(&keys.fernet).expect("fernet key");
    let mut provider = WorkOSProvider::builder();
    if let Some(http) = http {
        provider = provider.http_client(http);
    }
    let provider = provider
        .authkit_domain(upstream_url)
        .client_id(UPSTREAM_CLIENT_ID)
        .client_secret(UPSTREAM_CLIENT_SECRET.into())
        .base_url(base_url)
        .store(store)
        .configure(|proxy| {
            let proxy = proxy.signing_key(signing).fernet_keys(vec![fernet]);
            let proxy = if loopback_redirects_only {
                proxy
                    .allowed_client_redirect_uris(["http://127.0.0.1:*", "http://localhost:*"])
                    .expect("patterns")
            } else {
                proxy
            };
            configure(proxy)
        })
        .build()
        .await
        .expect("the proxy builds");
    let base = url::Url::parse(base_url).expect("base URL");
    let mut hosts = server::allowed_hosts(&base, addr);
    hosts.push(addr.to_string());
    let app = server::proxy_app(&provider, hosts);
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(mcp_auth_core::serve::no_delay(listener), service).await;
    });
    ProxyInstance { provider, url: format!("http://{addr}"), task }
}

/// A listener on a free loopback port and its base URL.
///
/// # Panics
///
/// When no port can be bound.
pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    (listener, url)
}

/// The client's side of one authorization: a registered client, its PKCE pair.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The registered client id.
    pub client_id: String,
    /// Its redirect URI.
    pub redirect_uri: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// The PKCE challenge (S256).
    pub challenge: String,
}

impl Flow {
    /// A fresh PKCE pair for `client_id` redirecting to `redirect_uri`.
    #[must_use]
    pub fn new(client_id: String, redirect_uri: &str) -> Self {
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        Self {
            client_id,
            redirect_uri: redirect_uri.to_owned(),
            verifier: verifier.secret().clone(),
            challenge: challenge.as_str().to_owned(),
        }
    }

    /// The authorization request at `instance_url` (state `s1`, the MCP resource of `base_url`).
    ///
    /// # Panics
    ///
    /// When `instance_url` is not a URL.
    #[must_use]
    pub fn authorize_url(&self, instance_url: &str, base_url: &str) -> url::Url {
        let mut url = url::Url::parse(&format!("{instance_url}/authorize")).expect("the instance URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_challenge", &self.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "s1")
            .append_pair("resource", &format!("{base_url}/mcp"));
        url
    }
}

/// Registers a public client redirecting to `redirect_uri` and returns the HTTP answer.
///
/// # Panics
///
/// When no answer comes (a test failure).
pub async fn try_register(instance_url: &str, redirect_uri: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{instance_url}/register"))
        .json(&serde_json::json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "client_name": "Deploy Test",
        }))
        .send()
        .await
        .expect("the registration endpoint answers")
}

/// Registers a public client redirecting to `redirect_uri` and returns its id.
///
/// # Panics
///
/// When the registration fails (a test failure).
pub async fn register(instance_url: &str, redirect_uri: &str) -> String {
    let registered: serde_json::Value =
        try_register(instance_url, redirect_uri).await.json().await.expect("a JSON registration");
    registered["client_id"].as_str().expect("registered").to_owned()
}

/// Authorizes through `instance_url` (consent approved by a fresh browser) and returns the code. The
/// upstream calls back at the deployment's base URL.
///
/// # Panics
///
/// When the flow does not reach the client with a code, `state` and `iss` (a test failure).
pub async fn code(flow: &Flow, instance_url: &str, base_url: &str) -> String {
    let mut browser = Browser::new().expect("a browser");
    let callback = browser
        .follow(flow.authorize_url(instance_url, base_url), &flow.redirect_uri)
        .await
        .expect("the flow reaches the client");
    let callback = url::Url::parse(&callback).expect("the client redirect");
    let param = |name: &str| callback.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some("s1"));
    assert_eq!(param("iss").as_deref(), Some(base_url));
    param("code").expect("a code")
}

/// Posts `form` to the token endpoint of `instance_url`.
///
/// # Panics
///
/// When no answer comes (a test failure).
pub async fn token(instance_url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    token_with(&reqwest::Client::new(), instance_url, form).await
}

/// As [`token`], over `http` (a client kept across requests, so its connections are reused).
///
/// # Panics
///
/// When no answer comes (a test failure).
pub async fn token_with(
    http: &reqwest::Client,
    instance_url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(format!("{instance_url}/token")).form(form).send().await.expect("the token endpoint answers")
}

/// Exchanges `code` for the flow's client and returns the HTTP answer.
pub async fn try_exchange(flow: &Flow, instance_url: &str, code: &str) -> reqwest::Response {
    try_exchange_with(&reqwest::Client::new(), flow, instance_url, code).await
}

/// As [`try_exchange`], over `http`.
pub async fn try_exchange_with(
    http: &reqwest::Client,
    flow: &Flow,
    instance_url: &str,
    code: &str,
) -> reqwest::Response {
    token_with(
        http,
        instance_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &flow.client_id),
            ("code", code),
            ("redirect_uri", &flow.redirect_uri),
            ("code_verifier", &flow.verifier),
        ],
    )
    .await
}

/// Exchanges `code` and returns the token answer.
///
/// # Panics
///
/// When the exchange does not succeed (a test failure).
pub async fn exchange(flow: &Flow, instance_url: &str, code: &str) -> serde_json::Value {
    let response = try_exchange(flow, instance_url, code).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON token answer")
}

/// Refreshes `refresh_token` for `client_id` and returns the HTTP answer.
pub async fn refresh(client_id: &str, instance_url: &str, refresh_token: &str) -> reqwest::Response {
    refresh_with(&reqwest::Client::new(), client_id, instance_url, refresh_token).await
}

/// As [`refresh`], over `http`.
pub async fn refresh_with(
    http: &reqwest::Client,
    client_id: &str,
    instance_url: &str,
    refresh_token: &str,
) -> reqwest::Response {
    token_with(
        http,
        instance_url,
        &[("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh_token)],
    )
    .await
}

/// The status of an MCP `initialize` with `access_token` at `instance_url`.
pub async fn mcp_status(instance_url: &str, access_token: &str) -> u16 {
    crate::mcp::initialize(&format!("{instance_url}/mcp"), access_token).await.status().as_u16()
}
