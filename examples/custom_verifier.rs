//! Bring your own `TokenVerifier`: an rmcp MCP server whose tokens are checked by RFC 7662 token
//! introspection (`mcp_auth_examples::introspection::IntrospectionVerifier`, about 150 lines) instead of
//! a JWT signature, wired in with `RemoteAuthProvider::builder(Arc::new(verifier))`.
//!
//! The verifier POSTs each bearer token to the authorization server's introspection endpoint with this
//! server's client credentials and maps the answer (`active`, `sub`, `client_id`, `scope`, `exp`, `aud`,
//! `iss`, and the rest as claims) to an `AccessToken`. An inactive token is invalid (401 with a
//! `WWW-Authenticate` challenge); an endpoint that is down, slow (past the timeout) or failing is
//! "unavailable", which the bearer layer answers with 503, never with a 401 that would make clients throw
//! their tokens away. `RemoteAuthProvider` adds what every resource server checks: the token's audience
//! must be this server's MCP URL, and it publishes the RFC 9728 metadata naming the authorization server.
//!
//! Configured from the environment (or a `.env` file):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `MCP_AUTH_AUTHORIZATION_SERVER` | (required) | the issuer clients sign in with, e.g. the dev IdP's `http://127.0.0.1:9400` |
//! | `MCP_AUTH_INTROSPECTION_URL` | `<issuer>/oauth2/introspection` | the RFC 7662 endpoint (https, or http on loopback) |
//! | `MCP_AUTH_INTROSPECTION_CLIENT_ID` | (required) | the client this server introspects as |
//! | `MCP_AUTH_INTROSPECTION_CLIENT_SECRET` | (required) | its secret (sent with `client_secret_basic`, never logged) |
//! | `MCP_AUTH_INTROSPECTION_TIMEOUT` | `5` | seconds one introspection call may take |
//! | `MCP_AUTH_BASE_URL` | `http://<MCP_AUTH_LISTEN>` | this server's public URL |
//! | `MCP_AUTH_LISTEN` | `127.0.0.1:8000` | the address to listen on |
//!
//! The MCP endpoint is `/mcp`, with the `whoami` tool (and `save_note`, `admin_reset`). Try it against the
//! dev identity provider, whose example configuration has a confidential client that may introspect:
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --config crates/dev-idp/users.example.toml &
//! MCP_AUTH_AUTHORIZATION_SERVER=http://127.0.0.1:9400 \
//! MCP_AUTH_INTROSPECTION_CLIENT_ID=mcp-proxy MCP_AUTH_INTROSPECTION_CLIENT_SECRET=dev-proxy-secret \
//!     just example custom_verifier
//! ```
//!
//! then point the MCP Inspector at `http://127.0.0.1:8000/mcp`. `just example custom_verifier
//! --self-check` needs nothing running: it starts the dev IdP (as the authorization server and the
//! introspection endpoint) and this server on free loopback ports, signs in with the rmcp client, and
//! checks: a signed-in token reaches `whoami` as its subject; an unknown token, a token for another
//! resource and a revoked one are refused with 401 and a challenge; with the introspection endpoint
//! stopped, a valid token gets 503. One line per check; the exit status is 0 only if all behaved.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use axum::Router;
use mcp_auth_core::settings::Settings;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client;
use mcp_auth_examples::introspection::{DEFAULT_TIMEOUT, IntrospectionVerifier};
use mcp_auth_examples::run::{self, Mode};
use mcp_auth_examples::server::{WhoAmIServer, allowed_hosts, mount};
use mcp_auth_remote::RemoteAuthProvider;
use serde_json::Value;

/// The MCP server behind the introspection verifier, configured from `settings`, for a server
/// listening on `listen`.
fn app(settings: &Settings, listen: SocketAddr) -> anyhow::Result<(Router, RemoteAuthProvider)> {
    let issuer = settings.require_string("AUTHORIZATION_SERVER", "http://127.0.0.1:9400")?;
    let endpoint = match settings.url("INTROSPECTION_URL", "http://127.0.0.1:9400/oauth2/introspection")? {
        Some(url) => url,
        None => url::Url::parse(&format!("{}/oauth2/introspection", issuer.trim_end_matches('/')))
            .with_context(|| format!("MCP_AUTH_AUTHORIZATION_SERVER {issuer:?} is not a URL"))?,
    };
    let client_id = settings.require_string("INTROSPECTION_CLIENT_ID", "mcp-proxy")?;
    let client_secret = settings.require_secret("INTROSPECTION_CLIENT_SECRET", "dev-proxy-secret")?;
    let timeout = settings.seconds("INTROSPECTION_TIMEOUT", "5")?.unwrap_or(DEFAULT_TIMEOUT);
    let verifier = IntrospectionVerifier::new(endpoint, client_id, client_secret, timeout)
        .context("configuring the introspection verifier (MCP_AUTH_INTROSPECTION_*)")?;

    let base_url = settings.string("BASE_URL").unwrap_or_else(|| format!("http://{listen}"));
    let provider = RemoteAuthProvider::builder(Arc::new(verifier))
        .authorization_server(issuer)
        .base_url(&base_url)
        .scopes_supported(["openid", "profile", "email"])
        .resource_name("mcp-auth custom verifier example")
        .settings(settings)?
        .build()
        .context("configuring the resource server")?;
    let hosts = allowed_hosts(&url::Url::parse(provider.resource().origin())?, listen);
    let app = mount(
        || WhoAmIServer,
        provider.bearer_layer(),
        provider.metadata_router(),
        provider.resource().mcp_path(),
        hosts,
    );
    Ok((app, provider))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args()?;
    run::init_tracing(mode);
    if mode == Mode::SelfCheck {
        return self_check().await;
    }
    let settings = Settings::from_env()?;
    let listen = run::listen_address(&settings)?;
    let (app, provider) = app(&settings, listen)?;
    tracing::info!(
        mcp = %provider.resource(),
        metadata = %provider.resource().metadata_url(),
        "MCP server with an introspection verifier is listening"
    );
    run::serve(listen, app).await
}

/// The client this server introspects as, in the self-check.
const INTROSPECTOR: &str = "mcp-introspector";
/// Its secret: a development value for an in-process dev IdP on loopback.
const INTROSPECTOR_SECRET: &str = "self-check-introspection-secret";

async fn self_check() -> anyhow::Result<()> {
    let idp = DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").name("Ada Lovelace").org_id("org_analytical"))
        .client(DevClient::confidential(INTROSPECTOR, INTROSPECTOR_SECRET, Vec::<String>::new()))
        .auto_approve(true)
        .start()
        .await
        .context("starting the dev identity provider")?;
    let (listener, address, base_url) = run::loopback_listener().await?;
    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHORIZATION_SERVER", idp.url()),
        ("MCP_AUTH_INTROSPECTION_CLIENT_ID", INTROSPECTOR),
        ("MCP_AUTH_INTROSPECTION_CLIENT_SECRET", INTROSPECTOR_SECRET),
        ("MCP_AUTH_INTROSPECTION_TIMEOUT", "2"),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
    ]);
    let (app, provider) = app(&settings, address)?;
    let server = run::spawn(listener, app);
    let mcp_url = provider.resource().to_string();
    println!("custom_verifier self-check: dev IdP {}, MCP server {mcp_url}", idp.url());

    let mut checks = Checks::new();
    checks
        .run("no token: 401 with a challenge naming the metadata", async {
            let challenge = client::challenge(&mcp_url).await?;
            Ok(((), challenge))
        })
        .await;
    checks
        .run("the metadata names the dev IdP as the authorization server", async {
            let metadata: Value =
                reqwest::get(provider.resource().metadata_url()).await?.error_for_status()?.json().await?;
            ensure!(metadata["authorization_servers"][0] == idp.url(), "unexpected metadata {metadata}");
            Ok(((), format!("authorization_servers {}", metadata["authorization_servers"])))
        })
        .await;
    let signed_in = checks
        .run(
            "sign in as ada with the rmcp client; whoami answers her as introspection described her",
            async {
                let (session, auth) = client::sign_in(&mcp_url, "ada@example.com").await?;
                let user = client::whoami(&session).await?;
                ensure!(user["user_id"] == "user_ada", "whoami answered {user}");
                ensure!(user["organization_id"] == "org_analytical", "the org_id claim was lost: {user}");
                let token = auth.get_access_token().await?;
                let (client_id, _) = auth.auth_manager.lock().await.get_credentials().await?;
                session.cancel().await?;
                Ok(((token, client_id), format!("whoami: {user}")))
            },
        )
        .await;
    checks
        .run("an unknown token: the endpoint says inactive, 401 invalid_token", async {
            expect_refusal(&mcp_url, "a-token-nobody-issued", 401).await
        })
        .await;
    checks
        .run("an active token for another resource: 401 (audience)", async {
            let other = idp.issue_access_token("user_ada", "http://127.0.0.1:1/other-mcp", ["openid"])?;
            expect_refusal(&mcp_url, &other, 401).await
        })
        .await;
    match &signed_in {
        Some((token, client_id)) => {
            checks
                .run("ada's token after its revocation at the IdP: inactive, 401", async {
                    let revoked = reqwest::Client::new()
                        .post(format!("{}/oauth2/revoke", idp.url()))
                        .form(&[("token", token.as_str()), ("client_id", client_id.as_str())])
                        .send()
                        .await?;
                    ensure!(revoked.status().is_success(), "the revocation answered {}", revoked.status());
                    expect_refusal(&mcp_url, token, 401).await
                })
                .await;
        }
        None => checks.skip("ada's token after its revocation at the IdP", "the sign-in failed"),
    }
    let valid = idp.issue_access_token("user_ada", &mcp_url, ["openid"])?;
    checks
        .run("a valid token while the introspection endpoint answers: whoami works", async {
            let session = client::connect_with_token(&mcp_url, &valid).await?;
            let text = client::text_of(&client::call(&session, "whoami").await?).unwrap_or_default();
            session.cancel().await?;
            ensure!(text.contains("user_ada"), "whoami answered {text}");
            Ok(((), text))
        })
        .await;
    idp.shutdown().await;
    checks
        .run("the same token with the introspection endpoint stopped: 503, not 401", async {
            expect_refusal(&mcp_url, &valid, 503).await
        })
        .await;
    server.abort();
    checks.finish()
}

/// Connects with `token` and expects the server to refuse it with `status` (and, for 401, a challenge
/// saying `invalid_token`).
async fn expect_refusal(mcp_url: &str, token: &str, status: u16) -> anyhow::Result<((), String)> {
    let error = match client::connect_with_token(mcp_url, token).await {
        Ok(session) => {
            let _ = session.cancel().await;
            bail!("the server accepted the token");
        }
        Err(error) => error,
    };
    let Some((got, challenge)) = client::refusal(&error) else {
        bail!("the connection failed without an HTTP refusal: {error}");
    };
    ensure!(got == status, "answered {got}, expected {status}");
    if status == 401 {
        let challenge = challenge.context("a 401 without WWW-Authenticate")?;
        ensure!(challenge.contains("invalid_token"), "the challenge does not say invalid_token: {challenge}");
        return Ok(((), format!("{got}, WWW-Authenticate: {challenge}")));
    }
    Ok(((), format!("{got}")))
}
