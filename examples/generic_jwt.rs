//! Any authorization server that issues JWTs (Auth0, Keycloak, Entra ID, Okta, your company's own): an rmcp
//! MCP server with a `whoami` tool at `/mcp`, configured only from the environment through
//! `mcp_auth::from_env()`. Nothing in this file names an issuer, a key or a URL.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `MCP_AUTH_PROVIDER` | (required) | `jwt` |
//! | `MCP_AUTH_JWT_ISSUER` | (required) | the issuer, exactly as in the tokens' `iss` |
//! | `MCP_AUTH_BASE_URL` | (required) | this server's public URL |
//! | `MCP_AUTH_JWT_JWKS_URI` | read from the issuer's metadata | where the signing keys are |
//! | `MCP_AUTH_JWT_AUDIENCE` | the resource URL (`<base URL>/mcp`) | the audience tokens must carry |
//! | `MCP_AUTH_JWT_ALGORITHMS` | `RS256` | accepted signature algorithms |
//! | `MCP_AUTH_LISTEN` | `127.0.0.1:8000` | the address to listen on |
//!
//! They can also come from `.env` or `mcp-auth.toml`; `docs/configuration.md` lists every setting. Without
//! `MCP_AUTH_JWT_JWKS_URI` the keys are found through the issuer's RFC 8414 or OpenID metadata at the first
//! request, so the server starts while the issuer is down and answers 503 until it is reachable.
//!
//! Try it with the dev IdP standing in for any issuer:
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --port 9400 --auto-approve &
//! MCP_AUTH_PROVIDER=jwt MCP_AUTH_JWT_ISSUER=http://127.0.0.1:9400 MCP_AUTH_BASE_URL=http://127.0.0.1:8000 \
//!     just example generic_jwt
//! ```
//!
//! then connect the MCP Inspector to `http://127.0.0.1:8000/mcp`. `just example generic_jwt --self-check`
//! needs nothing running: it builds the server from settings naming an issuer that is not up yet, starts
//! the server (503 while the issuer is down), then starts the dev IdP as the issuer and checks that a valid
//! token is accepted and that tokens for another audience, expired tokens and tokens signed by an
//! untrusted key are refused with 401. One line per check; the exit status is 0 only if all behaved.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, ensure};
use axum::Router;
use mcp_auth::McpAuth;
use mcp_auth::clock::ManualClock;
use mcp_auth::settings::Settings;
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle, DevUser};
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client;
use mcp_auth_examples::run::{self, Mode};
use mcp_auth_examples::server::{WhoAmIServer, allowed_hosts, mount};
use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};

/// How long the server may keep answering 503 once the issuer is up: the verifier waits 5 s after a failed
/// key fetch before trying again.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args()?;
    run::init_tracing(mode);
    match mode {
        Mode::Serve => {
            let auth = McpAuth::from_env().await.context("configuring mcp-auth from the environment")?;
            let app = app(&auth, auth.listen_addr())?;
            println!("MCP server at {} (authorization server: {})", auth.resource(), issuer_of(&auth));
            run::serve(auth.listen_addr(), app).await
        }
        Mode::SelfCheck => self_check().await,
    }
}

/// The `whoami` server at the resource's path behind `auth`, with its discovery routes.
fn app(auth: &McpAuth, listen: SocketAddr) -> anyhow::Result<Router> {
    let hosts = allowed_hosts(&url::Url::parse(auth.resource().origin())?, listen);
    Ok(mount(|| WhoAmIServer, auth.bearer_layer(), auth.router(), auth.resource().path(), hosts))
}

fn issuer_of(auth: &McpAuth) -> String {
    match auth.provider() {
        mcp_auth::config::Provider::Jwt(provider) => provider.metadata().authorization_servers.join(", "),
        other => other.name().to_owned(),
    }
}

async fn self_check() -> anyhow::Result<()> {
    let mut checks = Checks::new();
    // The issuer's address, reserved and left closed: the issuer is down when the server starts.
    let issuer_address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let issuer = format!("http://{issuer_address}");
    let (listener, address, base_url) = run::loopback_listener().await?;
    let settings = Settings::from_pairs([
        ("MCP_AUTH_PROVIDER", "jwt"),
        ("MCP_AUTH_JWT_ISSUER", issuer.as_str()),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
        ("MCP_AUTH_LISTEN", &address.to_string()),
    ]);
    let auth = McpAuth::from_settings(&settings).await.context("the settings build the jwt provider")?;
    let resource = auth.resource().as_str().to_owned();
    let server = run::spawn(listener, app(&auth, address)?);
    let mcp_url = format!("{base_url}/mcp");

    checks
        .run("the metadata names the issuer as the authorization server", async {
            let url = format!("{base_url}/.well-known/oauth-protected-resource/mcp");
            let metadata: serde_json::Value = reqwest::get(&url).await?.error_for_status()?.json().await?;
            ensure!(metadata["authorization_servers"] == serde_json::json!([issuer]), "{metadata}");
            ensure!(metadata["resource"] == resource.as_str(), "{metadata}");
            Ok(((), format!("{url} -> {issuer}")))
        })
        .await;
    checks
        .run("built and serving while the issuer is down: 503, not 401", async {
            let status = refused_with(&mcp_url, &untrusted_token(&issuer, &resource, "k1")?).await?;
            ensure!(status == 503, "answered {status}");
            Ok(((), "503 until the issuer answers".to_owned()))
        })
        .await;

    let clock = Arc::new(ManualClock::starting_now());
    let idp = start_issuer(issuer_address, Arc::clone(&clock)).await?;
    let accepted = checks
        .run("the issuer is up: a valid token is accepted (after the failed fetch's 5 s back-off)", async {
            let token = idp.issue_access_token("user_ada", &resource, ["mcp"])?;
            let started = std::time::Instant::now();
            let session = loop {
                match client::connect_with_token(&mcp_url, &token).await {
                    Ok(session) => break session,
                    Err(err) if client::refusal(&err).is_some_and(|(status, _)| status == 503) => {
                        ensure!(
                            started.elapsed() < RECOVERY_DEADLINE,
                            "still 503 after {RECOVERY_DEADLINE:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(err) => anyhow::bail!("refused: {err}"),
                }
            };
            let answer = client::call(&session, "whoami").await?;
            let text = client::text_of(&answer).unwrap_or_default();
            ensure!(text.contains("user_ada"), "whoami answered {text}");
            Ok((
                (),
                format!(
                    "accepted {:.1} s after the issuer came up; whoami -> {text}",
                    started.elapsed().as_secs_f64()
                ),
            ))
        })
        .await;
    if accepted.is_none() {
        checks.skip("the refusals", "a valid token was not accepted");
    } else {
        checks
            .run("a token for another audience is refused with 401", async {
                let token = idp.issue_access_token("user_ada", "https://other.example.com/mcp", ["mcp"])?;
                let status = refused_with(&mcp_url, &token).await?;
                ensure!(status == 401, "answered {status}");
                Ok(((), "audience https://other.example.com/mcp -> 401".to_owned()))
            })
            .await;
        checks
            .run("an expired token is refused with 401", async {
                clock.set(SystemTime::now() - Duration::from_secs(2 * 3600));
                let token = idp.issue_access_token("user_ada", &resource, ["mcp"]);
                clock.set(SystemTime::now());
                let status = refused_with(&mcp_url, &token?).await?;
                ensure!(status == 401, "answered {status}");
                Ok(((), "issued two hours ago, for five minutes -> 401".to_owned()))
            })
            .await;
        checks
            .run("a token signed by a key the issuer never published is refused with 401", async {
                let kid = idp.signing_key_ids().into_iter().next().context("the issuer has a key")?;
                let status = refused_with(&mcp_url, &untrusted_token(&issuer, &resource, &kid)?).await?;
                ensure!(status == 401, "answered {status}");
                Ok(((), "right issuer, audience and kid, wrong key -> 401".to_owned()))
            })
            .await;
    }
    idp.shutdown().await;
    server.abort();
    checks.finish()
}

/// The dev IdP as the issuer, on the address the server was configured with, its tokens living five
/// minutes by `clock`.
async fn start_issuer(address: SocketAddr, clock: Arc<ManualClock>) -> anyhow::Result<DevIdpHandle> {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com"))
        .bind(address)
        .clock(clock)
        .access_token_ttl(Duration::from_secs(300))
        .start()
        .await
        .context("starting the dev IdP as the issuer")
}

/// The HTTP status the MCP endpoint answered `token` with, when it refused it.
async fn refused_with(mcp_url: &str, token: &str) -> anyhow::Result<u16> {
    match client::connect_with_token(mcp_url, token).await {
        Ok(_) => anyhow::bail!("the token was accepted"),
        Err(err) => client::refusal(&err)
            .map(|(status, _)| status)
            .with_context(|| format!("not an HTTP refusal: {err}")),
    }
}

/// Tokens with the issuer's name, the right audience and a chosen key id, signed by a key of their own
/// that the issuer never published.
fn untrusted_token(issuer: &str, audience: &str, kid: &str) -> anyhow::Result<String> {
    let signer = JwtIssuer::builder()
        .issuer(issuer)
        .audience(audience)
        .access_ttl(Duration::from_secs(300))
        .signing_key(SigningKey::generate_rs256(kid)?)
        .build()?;
    Ok(signer.sign_access(&TokenRequest::new("user_ada").scopes(["mcp"]))?.expose().to_owned())
}
