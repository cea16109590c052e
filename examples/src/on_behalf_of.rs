//! Calling another API as the signed-in user, offline: the dev IdP (posing as AuthKit, with the token
//! exchange grant), a small "orders API" that accepts only tokens meant for it, and an rmcp server whose
//! `list_orders` tool exchanges the caller's token for one to the orders API
//! ([`Caller::exchange_for`]). Shared by the `on_behalf_of` example and the end-to-end tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::serve::Listener as _;
use axum::{Extension, Json, Router};
use mcp_auth_core::{AccessToken, BearerAuthLayer};
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use mcp_auth_jwt::{Algorithm, JwtVerifier};
use mcp_auth_remote::rmcp::Caller;
use mcp_auth_workos::AuthKitProvider;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::server::{allowed_hosts, mount};

/// The scope the orders API's tokens carry.
pub const ORDERS_READ: &str = "orders:read";

/// The MCP server's own client at the authorization server: the actor of every exchanged token.
pub const MCP_SERVER_CLIENT_ID: &str = "mcp-orders-server";

/// Its secret (a development value: the dev IdP runs on loopback only).
pub const MCP_SERVER_CLIENT_SECRET: &str = "dev-only-mcp-orders-secret";

/// What the orders API was sent: every bearer token presented (accepted or not), and the verified
/// tokens it served. `Debug` shows counts, never tokens.
#[derive(Default)]
pub struct Seen {
    presented: Mutex<Vec<SecretString>>,
    accepted: Mutex<Vec<AccessToken>>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seen")
            .field("presented", &lock(&self.presented).len())
            .field("accepted", &lock(&self.accepted).len())
            .finish()
    }
}

impl Seen {
    /// Whether `token` was ever presented to the API.
    #[must_use]
    pub fn was_presented(&self, token: &str) -> bool {
        lock(&self.presented).iter().any(|seen| seen.expose_secret() == token)
    }

    /// How many requests carried a bearer token.
    #[must_use]
    pub fn presented(&self) -> usize {
        lock(&self.presented).len()
    }

    /// The verified tokens the API served, oldest first.
    #[must_use]
    pub fn accepted(&self) -> Vec<AccessToken> {
        lock(&self.accepted).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The orders API at `own_url`: `GET /orders` behind a bearer layer whose [`JwtVerifier`] takes only
/// tokens of `issuer` whose audience is `own_url`, answering with the user, the actor and their orders.
///
/// # Errors
///
/// When the verifier cannot be built from `issuer`.
pub fn orders_api(issuer: &str, own_url: &str, seen: Arc<Seen>) -> anyhow::Result<Router> {
    let verifier = JwtVerifier::builder()
        .jwks_url(format!("{issuer}/oauth2/jwks"))
        .issuer(issuer)
        .audience(own_url)
        .algorithms([Algorithm::RS256])
        .build()
        .context("building the orders API's verifier")?;
    Ok(Router::new()
        .route("/orders", get(orders))
        .layer(BearerAuthLayer::new(Arc::new(verifier)).required_scopes([ORDERS_READ]))
        .layer(middleware::from_fn_with_state(Arc::clone(&seen), record_presented))
        .with_state(seen))
}

async fn record_presented(State(seen): State<Arc<Seen>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if let Some(token) = presented {
        lock(&seen.presented).push(SecretString::from(token.to_owned()));
    }
    next.run(request).await
}

async fn orders(State(seen): State<Arc<Seen>>, Extension(token): Extension<AccessToken>) -> Json<Value> {
    let user = token.subject.clone().unwrap_or_default();
    let actor = token.claim("act").and_then(|act| act.get("sub")).cloned().unwrap_or(Value::Null);
    lock(&seen.accepted).push(token);
    Json(json!({
        "user": user,
        "actor": actor,
        "orders": [{"id": "ord_1", "item": "Difference engine, part 1"}],
    }))
}

/// The MCP tools: `list_orders` calls the orders API as the signed-in user.
#[derive(Debug, Clone)]
pub struct OrdersTools {
    api_url: String,
    http: reqwest::Client,
}

impl OrdersTools {
    /// Tools calling the orders API at `api_url`.
    #[must_use]
    pub fn new(api_url: impl Into<String>) -> Self {
        Self { api_url: api_url.into(), http: reqwest::Client::new() }
    }
}

#[tool_router]
impl OrdersTools {
    /// The caller's orders, fetched from the orders API with a token exchanged for it.
    #[tool(description = "List my orders (calls the orders API as me).")]
    async fn list_orders(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        // Never `caller.access_token()`: its audience is this MCP server, not the orders API.
        let token = caller.exchange_for(&self.api_url, [ORDERS_READ]).await?;
        let response = self
            .http
            .get(format!("{}/orders", self.api_url))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|err| {
                ErrorData::internal_error(format!("the orders API is unreachable: {err}"), None)
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ErrorData::internal_error(format!("the orders API answered {status}"), None));
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(body)]))
    }
}

#[tool_handler]
impl ServerHandler for OrdersTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-auth-orders", env!("CARGO_PKG_VERSION")))
            .with_instructions("Call list_orders to see your orders from the orders API.")
    }
}

/// Everything running on loopback: the dev IdP, the orders API and the MCP server. Dropping it stops
/// the API and the MCP server (shut the IdP down with [`DevIdpHandle::shutdown`]).
#[derive(Debug)]
pub struct Stack {
    /// The dev IdP (AuthKit's protocol, with token exchange).
    pub idp: DevIdpHandle,
    /// The MCP endpoint.
    pub mcp_url: String,
    /// The orders API's URL: its tokens' audience.
    pub api_url: String,
    /// What the orders API was sent.
    pub seen: Arc<Seen>,
    /// The MCP server's provider (its token exchanger included).
    pub provider: AuthKitProvider,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The dev IdP of the stack: Ada (organization `org_math`) and Grace, the `orders:read` scope, and the MCP
/// server's client, allowed to exchange tokens when `allow_exchange`.
///
/// # Errors
///
/// When the IdP cannot start.
pub async fn start_idp(allow_exchange: bool) -> anyhow::Result<DevIdpHandle> {
    let client =
        DevClient::confidential(MCP_SERVER_CLIENT_ID, MCP_SERVER_CLIENT_SECRET, Vec::<String>::new())
            .name("Orders MCP server");
    let client = if allow_exchange { client.allow_token_exchange() } else { client };
    Ok(DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").name("Ada Lovelace").org_id("org_math"))
        .user(DevUser::new("user_grace", "grace@example.com").name("Grace Hopper"))
        .client(client)
        .scope(ORDERS_READ)
        .auto_approve(true)
        .default_user("user_ada")
        .start()
        .await?)
}

/// Starts the whole stack; the MCP server listens on `mcp_listen` (a free loopback port when `None`).
/// With `allow_exchange` false, the IdP refuses the MCP server's exchanges (`unauthorized_client`).
///
/// # Errors
///
/// When a port cannot be bound or a part cannot be configured.
pub async fn start(mcp_listen: Option<SocketAddr>, allow_exchange: bool) -> anyhow::Result<Stack> {
    let idp = start_idp(allow_exchange).await?;
    let seen = Arc::new(Seen::default());
    let (api_listener, _, api_url) = crate::run::loopback_listener().await?;
    let api = orders_api(idp.url(), &api_url, Arc::clone(&seen))?;
    let api_task = crate::run::spawn(api_listener, api);

    let mcp_listener = match mcp_listen {
        Some(address) => {
            mcp_auth_core::serve::bind(address).await.with_context(|| format!("binding {address}"))?
        }
        None => crate::run::loopback_listener().await?.0,
    };
    let address = mcp_listener.local_addr()?;
    let base_url = format!("http://{address}");
    let provider = AuthKitProvider::builder()
        .authkit_domain(idp.url())
        .base_url(&base_url)
        .resource_name("mcp-auth orders example")
        .token_exchange(MCP_SERVER_CLIENT_ID, MCP_SERVER_CLIENT_SECRET)
        .build()
        .context("configuring AuthKit with token exchange")?;
    let exchanger = Arc::clone(provider.token_exchanger().context("token exchange is configured")?);
    let hosts = allowed_hosts(&url::Url::parse(&base_url)?, address);
    let tools_api_url = api_url.clone();
    let app = mount(
        move || OrdersTools::new(tools_api_url.clone()),
        provider.bearer_layer(),
        provider.router(),
        provider.resource().path(),
        hosts,
    )
    .layer(Extension(exchanger));
    let mcp_task = crate::run::spawn(mcp_listener, app);
    Ok(Stack {
        mcp_url: provider.resource().to_string(),
        idp,
        api_url,
        seen,
        provider,
        tasks: vec![api_task, mcp_task],
    })
}
