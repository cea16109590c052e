//! The WorkOS OAuth proxy as it runs in production: state in Redis, encrypted with Fernet keys from the
//! environment, two instances behind one address.
//!
//! Everything is configured through the facade, `mcp_auth::McpAuth::from_settings` (the settings of
//! `mcp_auth::from_env()`: the environment, `.env`, `mcp-auth.toml`), with `MCP_AUTH_PROVIDER=workos` and
//! `MCP_AUTH_STORE=redis`. The example builds two `McpAuth` instances from the same settings, each its
//! own axum server on a loopback port serving the examples' MCP server (`whoami`, `save_note`,
//! `admin_reset`) with `auth.protect(..)` at `auth.resource().path()`, and puts a small round-robin
//! reverse proxy (`examples/src/balancer.rs`) on the public address in front of them. Every request goes
//! to the next instance in turn: registration, consent, the upstream callback, the token request and each
//! MCP call may each land on either. That works because both instances share the Redis store (codes,
//! refresh tokens, registered clients, sign-ins in progress), the signing key (each verifies the other's
//! access tokens) and the Fernet keys (each reads what the other wrote).
//!
//! The variables it reads (every one is described in [docs/configuration.md](../docs/configuration.md)):
//!
//! | variable | here |
//! |---|---|
//! | `MCP_AUTH_PROVIDER` | `workos` (required by this example) |
//! | `MCP_AUTH_STORE` | `redis` (required: two instances cannot share a memory store) |
//! | `MCP_AUTH_REDIS_URL` | the Redis both instances share; default `redis://127.0.0.1:6379` |
//! | `MCP_AUTH_REDIS_PREFIX` | the key prefix of this deployment; default `mcp-auth` |
//! | `MCP_AUTH_FERNET_KEYS` | required: the keys the proxy encrypts everything it stores with, newest first |
//! | `MCP_AUTH_JWT_SIGNING_KEY` | required: the key both instances sign and verify access tokens with |
//! | `MCP_AUTH_AUTHKIT_DOMAIN` | your AuthKit domain, or the dev IdP's URL |
//! | `MCP_AUTH_WORKOS_CLIENT_ID`, `MCP_AUTH_WORKOS_CLIENT_SECRET` | the WorkOS client the proxy signs users in with |
//! | `MCP_AUTH_BASE_URL` | the public URL: the balancer's address here, your load balancer's `https` URL in production |
//! | `MCP_AUTH_LISTEN` | where the balancer listens; default `127.0.0.1:8000` (the instances take free loopback ports) |
//! | `MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS` | the redirect URIs MCP clients may register |
//!
//! and any other setting of the `workos` provider (`MCP_AUTH_REQUIRED_SCOPES`, `MCP_AUTH_REDIRECT_PATH`,
//! `MCP_AUTH_MCP_PATH`, `MCP_AUTH_JWT_SIGNING_KEY_ID`). Without the signing key or the Fernet keys each
//! instance would make ephemeral ones of its own and refuse the other's tokens and state, so the example
//! refuses to start without them. Make them with
//! `python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'` (a Fernet
//! key) and `openssl rand -base64 48` (a signing secret).
//!
//! # Trying it against the dev identity provider
//!
//! Redis on 127.0.0.1:6379 (`redis-server`, or `docker run --rm -p 6379:6379 redis:7`), and the dev IdP
//! as the AuthKit stand-in; its example configuration holds the confidential client the proxy uses
//! (`mcp-proxy` / `dev-proxy-secret`, redirect URI `http://127.0.0.1:8000/auth/callback`):
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --config crates/dev-idp/users.example.toml &
//! export MCP_AUTH_PROVIDER=workos MCP_AUTH_STORE=redis MCP_AUTH_REDIS_PREFIX=mcp-auth-try \
//!     MCP_AUTH_AUTHKIT_DOMAIN=http://127.0.0.1:9400 \
//!     MCP_AUTH_WORKOS_CLIENT_ID=mcp-proxy MCP_AUTH_WORKOS_CLIENT_SECRET=dev-proxy-secret \
//!     MCP_AUTH_BASE_URL=http://127.0.0.1:8000 \
//!     MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS='http://localhost:*,http://127.0.0.1:*' \
//!     MCP_AUTH_FERNET_KEYS="$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
//!     MCP_AUTH_JWT_SIGNING_KEY="$(openssl rand -base64 48)"
//! just example production
//! ```
//!
//! Then point an MCP client such as the MCP Inspector at `http://127.0.0.1:8000/mcp`. Restart the example
//! with the same keys and the clients stay registered and signed in: everything is in Redis.
//!
//! `just example production --self-check` needs only Redis (at `MCP_AUTH_REDIS_URL`, default
//! `redis://127.0.0.1:6379`; the check fails saying so when Redis does not answer). It generates the keys,
//! a fresh random `MCP_AUTH_REDIS_PREFIX` (so runs never collide), starts the dev IdP in-process as the
//! AuthKit stand-in, the two instances and the balancer on free loopback ports, and then, with the rmcp
//! client through the balancer: a sign-in (registration, consent, upstream sign-in, token), `whoami`
//! several times with both instances serving calls, a refresh served by the other instance than the
//! sign-in's token request, and a raw look at Redis: every value under the prefix must be a Fernet token,
//! with no user id, email, client name or token in clear. It deletes the prefix's keys at the end. One
//! line per check; the exit status is 0 only if all behaved.
//!
//! # What a real deployment changes
//!
//! - `MCP_AUTH_AUTHKIT_DOMAIN` is your AuthKit domain (`your-app.authkit.app`) and the WorkOS client id
//!   and secret are real ones, kept in a secret manager like the Fernet keys and the signing key; the
//!   callback URL the example prints is registered under *Redirects* in the WorkOS dashboard.
//! - `MCP_AUTH_BASE_URL` is the public `https` URL (`http` is accepted on loopback only), and TLS ends at a
//!   real load balancer (nginx, Caddy, a cloud load balancer) in place of `balancer.rs`, which has no TLS,
//!   no health checks and no retries. Each instance is then its own process or host, listening on a
//!   private address (`MCP_AUTH_LISTEN`), and the balancer must keep paths and the `Host` header, pass the
//!   MCP and OAuth headers both ways and not buffer SSE responses.
//! - The instances see the balancer's address as every client's, so the proxy's per-source ceilings on
//!   registrations and authorization requests are shared by all clients.
//! - MCP sessions: rmcp keeps a session (`Mcp-Session-Id`, for clients on protocol versions before
//!   2026-07-28) in the memory of the instance that created it, so the instances here serve without them
//!   (`legacy_session_mode` off): every request is answered on its own, by whichever instance gets it.
//!   Tools that push notifications or ask the client something mid-call need sessions: then give rmcp a
//!   session store, or route requests by their `Mcp-Session-Id` to the instance that created it.
//!
//! `docs/deployment.md` covers all of this (Redis, key rotation, reverse proxies, health checks, a
//! checklist); `docs/proxy.md` covers the proxy.

use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};
use axum::Router;
use mcp_auth::McpAuth;
use mcp_auth::config::Provider;
use mcp_auth::secrecy::ExposeSecret as _;
use mcp_auth::settings::Settings;
use mcp_auth_examples::balancer::{Balancer, Served};
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client::{self, McpSession};
use mcp_auth_examples::redis_raw::{self, RawRedis};
use mcp_auth_examples::run::{self, Mode};
use mcp_auth_examples::server::{self, WhoAmIServer};
use mcp_auth_examples::{dev_idp, keys};
use oauth2::TokenResponse as _;
use rmcp::transport::auth::AuthClient;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use tokio::task::JoinHandle;

/// How many instances run behind the balancer.
const INSTANCES: usize = 2;

/// One instance: an `McpAuth` built from the settings, serving on its own loopback port.
struct Instance {
    auth: McpAuth,
    address: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

/// The instances (serving until dropped) and the balancer in front of them (not yet serving: see
/// [`run::serve`] and [`run::spawn`]).
struct Deployment {
    instances: Vec<Instance>,
    balancer: std::sync::Arc<Balancer>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Refuses settings two instances cannot share a deployment with, naming the variable.
fn require_shared_state(settings: &Settings) -> anyhow::Result<()> {
    let value = |name: &str| settings.string(name).map(|value| value.trim().to_owned());
    if value("PROVIDER").as_deref() != Some("workos") {
        bail!("MCP_AUTH_PROVIDER must be `workos`: this example runs the OAuth proxy for WorkOS AuthKit");
    }
    if value("STORE").as_deref() != Some("redis") {
        bail!(
            "MCP_AUTH_STORE must be `redis`: the two instances share their state through Redis \
             (MCP_AUTH_REDIS_URL, default redis://127.0.0.1:6379)"
        );
    }
    if value("FERNET_KEYS").is_none() {
        bail!(
            "MCP_AUTH_FERNET_KEYS is not set: each instance would encrypt with an ephemeral key of its own and \
             could not read what the other wrote. Generate one with `python3 -c 'import base64, os; \
             print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
        );
    }
    if value("JWT_SIGNING_KEY").is_none() {
        bail!(
            "MCP_AUTH_JWT_SIGNING_KEY is not set: each instance would sign with an ephemeral key of its own and \
             refuse the other's access tokens. Generate one with `openssl rand -base64 48`"
        );
    }
    Ok(())
}

impl Deployment {
    /// Builds [`INSTANCES`] instances from `settings` with the facade, serves each on a free loopback port,
    /// and makes the balancer over them.
    async fn start(settings: &Settings) -> anyhow::Result<Self> {
        require_shared_state(settings)?;
        let mut instances = Vec::with_capacity(INSTANCES);
        for number in 1..=INSTANCES {
            let auth = McpAuth::from_settings(settings)
                .await
                .with_context(|| format!("building instance {number} from the settings"))?;
            let (listener, address, _) = run::loopback_listener().await?;
            let hosts = server::allowed_hosts(&url::Url::parse(auth.resource().origin())?, address);
            // No MCP sessions: a session lives in the memory of the instance that created it, and the
            // balancer sends each request to the next instance. Every request is served on its own.
            let config = StreamableHttpServerConfig::default()
                .with_allowed_hosts(hosts)
                .with_legacy_session_mode(false)
                .with_json_response(true);
            let service = server::mcp_service(|| WhoAmIServer, config);
            let app = auth.protect(Router::new().nest_service(auth.resource().path(), service));
            // The peer address feeds the proxy's per-source ceilings (here always the balancer's).
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            let task = tokio::spawn(async move { axum::serve(listener, service).await });
            instances.push(Instance { auth, address, task });
        }
        let balancer = Balancer::new(instances.iter().map(|instance| instance.address).collect())?;
        Ok(Self { instances, balancer })
    }

    /// The first instance's `McpAuth` (every instance has the same resource and endpoints).
    fn auth(&self) -> &McpAuth {
        &self.instances[0].auth
    }

    /// The instances' addresses, for messages.
    fn addresses(&self) -> String {
        let addresses: Vec<String> =
            self.instances.iter().map(|instance| instance.address.to_string()).collect();
        addresses.join(" and ")
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args()?;
    run::init_tracing(mode);
    if mode == Mode::SelfCheck {
        return self_check().await;
    }
    let settings = Settings::from_env()?;
    let deployment = Deployment::start(&settings).await?;
    let auth = deployment.auth();
    if let Provider::WorkOS(provider) = auth.provider() {
        println!("Register this redirect URI with your WorkOS client: {}", provider.proxy().callback_url());
    }
    println!("MCP endpoint: {} (instances on {})", auth.resource(), deployment.addresses());
    tracing::info!(
        mcp = %auth.resource(),
        listen = %auth.listen_addr(),
        instances = %deployment.addresses(),
        "two instances of the WorkOS OAuth proxy are serving behind the round-robin balancer"
    );
    run::serve(auth.listen_addr(), deployment.balancer.router()).await
}

const WHOAMI: &str = "whoami 6 times through the balancer: both instances serve calls";
const REFRESH: &str = "a refresh served by the other instance than the sign-in's token request";
const ENCRYPTED: &str = "what Redis holds under the prefix is encrypted";

/// Labels for the instances in the self-check's lines.
fn label(backend: usize) -> char {
    char::from(b'A' + u8::try_from(backend).unwrap_or(25).min(25))
}

/// What each request of `served` was and which instance served it: `POST /token on A`.
fn route(served: &[Served]) -> String {
    let steps: Vec<String> =
        served.iter().map(|s| format!("{} {} on {}", s.method, s.path, label(s.backend))).collect();
    steps.join(", ")
}

async fn self_check() -> anyhow::Result<()> {
    let mut checks = Checks::new();
    let redis_url = Settings::from_env()?
        .string("REDIS_URL")
        .unwrap_or_else(|| mcp_auth::store::redis::DEFAULT_URL.to_owned());
    let redis = checks
        .run("Redis answers at MCP_AUTH_REDIS_URL", async {
            let redis = RawRedis::connect(&redis_url).await.context(
                "the production self-check keeps its state in Redis: start one (`redis-server`, or `docker run \
                 --rm -p 6379:6379 redis:7`) or point MCP_AUTH_REDIS_URL at one",
            )?;
            let detail = format!("PING answered at {}", redis.endpoint());
            Ok((redis, detail))
        })
        .await;
    let Some(redis) = redis else { return checks.finish() };
    let prefix = format!("mcp-auth-production-check-{}", keys::random_hex(8)?);
    let outcome = run_checks(&mut checks, &redis, &redis_url, &prefix).await;
    if let Err(err) = &outcome {
        println!("[FAIL] the self-check stopped: {err:#}");
    }
    checks
        .run("the prefix's keys are deleted", async {
            let deleted = redis.delete_prefix(&prefix).await?;
            let left = redis.keys(&prefix).await?.len();
            ensure!(left == 0, "{left} keys are left under {prefix}");
            Ok(((), format!("{deleted} keys under {prefix} deleted")))
        })
        .await;
    outcome?;
    checks.finish()
}

/// The deployment, the sign-in and the checks; everything it started is stopped when it returns.
async fn run_checks(
    checks: &mut Checks,
    redis: &RawRedis,
    redis_url: &str,
    prefix: &str,
) -> anyhow::Result<()> {
    let (listener, address, base_url) = run::loopback_listener().await?;
    let idp = dev_idp::start_as_proxy_upstream(&format!("{base_url}/auth/callback")).await?;
    let (fernet_key, signing_secret) = (keys::fernet_key(), keys::signing_secret()?);
    let listen = address.to_string();
    let settings = Settings::from_pairs([
        ("MCP_AUTH_PROVIDER", "workos"),
        ("MCP_AUTH_STORE", "redis"),
        ("MCP_AUTH_REDIS_URL", redis_url),
        ("MCP_AUTH_REDIS_PREFIX", prefix),
        ("MCP_AUTH_FERNET_KEYS", fernet_key.expose_secret()),
        ("MCP_AUTH_JWT_SIGNING_KEY", signing_secret.expose_secret()),
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
        ("MCP_AUTH_WORKOS_CLIENT_ID", dev_idp::PROXY_CLIENT_ID),
        ("MCP_AUTH_WORKOS_CLIENT_SECRET", dev_idp::PROXY_CLIENT_SECRET),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
        ("MCP_AUTH_LISTEN", listen.as_str()),
        ("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://localhost:*,http://127.0.0.1:*"),
    ]);
    let deployment = Deployment::start(&settings).await?;
    let balancer = std::sync::Arc::clone(&deployment.balancer);
    let front = run::spawn(listener, balancer.router());
    let mcp_url = deployment.auth().resource().to_string();
    println!(
        "production self-check: dev IdP {}, balancer {base_url} over instances {}, Redis {} under {prefix}",
        idp.url(),
        deployment.addresses(),
        redis.endpoint()
    );

    checks
        .run("two instances built by McpAuth::from_settings: the workos provider over Redis", async {
            for instance in &deployment.instances {
                let auth = &instance.auth;
                ensure!(auth.provider().name() == "workos", "instance built {}", auth.provider().name());
                ensure!(auth.store_name() == "redis", "instance store is {}", auth.store_name());
                ensure!(auth.resource().as_str() == mcp_url, "instance resource {}", auth.resource());
            }
            ensure!(mcp_url == format!("{base_url}/mcp"), "the resource {mcp_url} is not the balancer's");
            let debug = format!("{:?} {settings:?}", deployment.auth());
            for (name, secret) in [
                ("the WorkOS client secret", dev_idp::PROXY_CLIENT_SECRET),
                ("the Fernet key", fernet_key.expose_secret()),
                ("the signing key", signing_secret.expose_secret()),
            ] {
                ensure!(!debug.contains(secret), "the Debug output of McpAuth or Settings shows {name}");
            }
            Ok((
                (),
                format!("both serve {mcp_url}, the balancer's address; their Debug output shows no secret"),
            ))
        })
        .await;
    checks
        .run("no token: 401 through the balancer, with a challenge naming the metadata", async {
            let challenge = client::challenge(&mcp_url).await?;
            Ok(((), challenge))
        })
        .await;

    let signed_in = checks
        .run("sign in through the balancer: registration, consent, upstream sign-in, token", async {
            let before = balancer.total();
            let (session, auth_client) = client::sign_in(&mcp_url, "ada@example.com").await?;
            let served = balancer.served_since(before);
            let oauth: Vec<Served> = served
                .into_iter()
                .filter(|s| {
                    ["/register", "/authorize", "/consent", "/auth/callback", "/token"]
                        .contains(&s.path.as_str())
                })
                .collect();
            let tokens: Vec<&Served> = oauth.iter().filter(|s| s.path == "/token").collect();
            let [token] = tokens.as_slice() else {
                bail!("expected one token request, saw: {}", route(&oauth))
            };
            ensure!(token.status.is_some_and(|status| status.is_success()), "the token request failed");
            let used: std::collections::BTreeSet<usize> = oauth.iter().map(|s| s.backend).collect();
            ensure!(used.len() == INSTANCES, "the sign-in stayed on one instance: {}", route(&oauth));
            Ok(((session, auth_client, token.backend), route(&oauth)))
        })
        .await;
    let Some((session, auth_client, token_backend)) = signed_in else {
        for name in [WHOAMI, REFRESH, ENCRYPTED] {
            checks.skip(name, "the sign-in failed");
        }
        drop(deployment);
        front.abort();
        idp.shutdown().await;
        return Ok(());
    };
    let first_tokens = tokens(&auth_client).await?;

    checks
        .run(WHOAMI, async {
            let before = balancer.total();
            for _ in 0..6 {
                whoami_is_ada(&session).await?;
            }
            let mut per_instance = [0_usize; INSTANCES];
            for served in balancer.served_since(before) {
                if served.path == "/mcp" && served.status.is_some_and(|s| s.is_success()) {
                    per_instance[served.backend] += 1;
                }
            }
            ensure!(
                per_instance.iter().all(|&count| count > 0),
                "MCP requests per instance: {per_instance:?}"
            );
            Ok(((), format!("user_ada each time; MCP requests per instance {per_instance:?}")))
        })
        .await;

    let refreshed = checks
        .run(REFRESH, async {
            let other = (token_backend + 1) % INSTANCES;
            // Steer the round-robin with liveness probes until the next request goes to the other instance.
            let probe = format!("{base_url}/.well-known/oauth-protected-resource");
            for _ in 0..INSTANCES {
                if balancer.next_backend() == other {
                    break;
                }
                reqwest::get(&probe).await?.error_for_status()?;
            }
            let before = balancer.total();
            auth_client.auth_manager.lock().await.refresh_token().await.context("refreshing")?;
            let served = balancer.served_since(before);
            let token_requests: Vec<&Served> = served.iter().filter(|s| s.path == "/token").collect();
            let [refresh] = token_requests.as_slice() else {
                bail!("expected one token request: {}", route(&served))
            };
            ensure!(
                refresh.status.is_some_and(|s| s.is_success()),
                "the refresh failed: {:?}",
                refresh.status
            );
            ensure!(refresh.backend != token_backend, "the refresh went to the sign-in's instance");
            let new_tokens = tokens(&auth_client).await?;
            ensure!(new_tokens.access != first_tokens.access, "the access token did not change");
            ensure!(new_tokens.refresh != first_tokens.refresh, "the refresh token did not rotate");
            whoami_is_ada(&session).await.context("whoami with the new access token")?;
            let detail = format!(
                "token on {} at sign-in, refresh on {}; whoami works with the new access token",
                label(token_backend),
                label(refresh.backend)
            );
            Ok((new_tokens, detail))
        })
        .await;

    checks
        .run(ENCRYPTED, async {
            let entries = redis.entries(prefix).await?;
            let mut cleartext = vec![
                ("user id", "user_ada".to_owned()),
                ("user's email", "ada@example.com".to_owned()),
                ("user's name", "Ada Lovelace".to_owned()),
                ("client name", client::CLIENT_NAME.to_owned()),
                ("upstream client secret", dev_idp::PROXY_CLIENT_SECRET.to_owned()),
            ];
            for tokens in [Some(&first_tokens), refreshed.as_ref()].into_iter().flatten() {
                cleartext.push(("access token", tokens.access.clone()));
                cleartext.push(("refresh token", tokens.refresh.clone()));
            }
            let cleartext: Vec<(&str, &str)> =
                cleartext.iter().map(|(label, text)| (*label, text.as_str())).collect();
            let (values, collections) = redis_raw::only_ciphertext(&entries, &cleartext)?;
            Ok((
                (),
                format!(
                    "{values} values in {collections} collections, every one a Fernet token; no user id, email, \
                     name, client name or token in clear"
                ),
            ))
        })
        .await;

    let _ = session.cancel().await;
    drop(deployment);
    front.abort();
    idp.shutdown().await;
    Ok(())
}

/// The client's tokens, to look for in Redis and to see the refresh rotate them.
struct Tokens {
    access: String,
    refresh: String,
}

async fn tokens(auth_client: &AuthClient<reqwest::Client>) -> anyhow::Result<Tokens> {
    let (_, response) = auth_client.auth_manager.lock().await.get_credentials().await?;
    let response = response.context("the client holds no tokens")?;
    let refresh = response.refresh_token().context("the proxy issued no refresh token")?;
    Ok(Tokens { access: response.access_token().secret().clone(), refresh: refresh.secret().clone() })
}

async fn whoami_is_ada(session: &McpSession) -> anyhow::Result<()> {
    let user = client::whoami(session).await?;
    ensure!(user["user_id"] == "user_ada", "whoami answered {user}");
    Ok(())
}
