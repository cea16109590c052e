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
    let idp = DevIdp::builder()
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
        .build(&url)
        .expect("the upstream builds");
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
    let addr: SocketAddr = listener.local_addr().expect("address");
    let signing = SigningKey::from_hmac_secret(&keys.signing_secret.clone().into()).expect("signing key");
    let fernet = mcp_auth_fernet::FernetKey::new(&keys.fernet).expect("fernet key");
    let provider = WorkOSProvider::builder()
        .authkit_domain(upstream_url)
        .client_id(UPSTREAM_CLIENT_ID)
        .client_secret(UPSTREAM_CLIENT_SECRET.into())
        .base_url(base_url)
        .store(store)
        .configure(|proxy| {
            configure(
                proxy
                    .signing_key(signing)
                    .fernet_keys(vec![fernet])
                    .allowed_client_redirect_uris(["http://127.0.0.1:*", "http://localhost:*"])
                    .expect("patterns"),
            )
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
