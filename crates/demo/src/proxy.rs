//! The demo in proxy mode: the MCP server behind the OAuth proxy of `WorkOSProvider`, with the dev
//! identity provider as its upstream (standing in for AuthKit), and the rmcp client SDK signing in
//! through the proxy.
//!
//! The client registers with the proxy (DCR), approves on the proxy's consent page and signs in
//! upstream on the dev IdP's own sign-in and consent pages (with a password: the proxy does not pass
//! `login_hint` on, so the headless run signs in the way a person does). The proxy then issues its own
//! tokens for the MCP endpoint and keeps the dev IdP's, encrypted, in memory. A headless run
//! ([`run`] without [`serve`](DemoOptions::serve)) prints each step: the 401 challenge, discovery
//! naming the proxy as the authorization server, the sign-in, `whoami`, a role refusal, a refresh
//! through the proxy, and sign-in as an admin.

use std::net::SocketAddr;

use anyhow::{Context, ensure};
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle};
use mcp_auth_workos::WorkOSProvider;
use secrecy::SecretString;
use serde_json::Value;

use crate::checks::Checks;
use crate::dev_idp::{PROXY_CLIENT_ID, PROXY_CLIENT_SECRET};
use crate::server::{allowed_hosts, proxy_app};
use crate::{DemoOptions, IDP_PORT, client, dev_idp};

/// Where the dev IdP sends people back to the proxy.
const CALLBACK_PATH: &str = "/auth/callback";

/// The dev IdP with the demo's users and the proxy's confidential client, whose only redirect URI is
/// `callback_url`. It always shows its sign-in page, headless or not.
async fn start_idp(options: DemoOptions, callback_url: &str) -> anyhow::Result<DevIdpHandle> {
    dev_idp::with_demo_users(DevIdp::builder())
        .client(DevClient::confidential(PROXY_CLIENT_ID, PROXY_CLIENT_SECRET, [callback_url]))
        .port(if options.serve { IDP_PORT } else { 0 })
        .start()
        .await
        .context("starting the dev identity provider")
}

/// Runs the demo in proxy mode: every step, printed, or (with [`DemoOptions::serve`]) the identity
/// provider and the MCP server behind the proxy until Ctrl-C.
///
/// # Errors
///
/// A step that misbehaved, or a server that cannot start.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let (listener, address, base_url) = crate::listen(options).await?;
    let callback_url = format!("{base_url}{CALLBACK_PATH}");
    let idp = start_idp(options, &callback_url).await?;
    let provider = WorkOSProvider::builder()
        .authkit_domain(idp.url())
        .client_id(PROXY_CLIENT_ID)
        .client_secret(SecretString::from(PROXY_CLIENT_SECRET))
        .base_url(&base_url)
        .configure(|proxy| proxy.redirect_path(CALLBACK_PATH).resource_name("mcp-auth demo (proxy)"))
        .build()
        .await
        .context("configuring the WorkOS proxy")?;
    ensure!(provider.proxy().callback_url() == callback_url, "the proxy's callback is not {callback_url}");
    let app = proxy_app(&provider, allowed_hosts(&url::Url::parse(&base_url)?, address));
    // The peer address feeds the proxy's per-source registration ceiling.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });
    let mcp_url = provider.proxy().resource().to_string();

    println!("mcp-auth demo (proxy): the MCP server behind the WorkOS OAuth proxy, whose upstream is");
    println!("the dev identity provider (development only) posing as WorkOS AuthKit");
    println!("  identity provider  {} (the proxy's upstream)", idp.url());
    println!("  authorization      {} (the proxy)", provider.proxy().issuer());
    println!("  MCP server         {mcp_url}\n");

    if options.serve {
        let served = crate::serve_until_ctrl_c(
            &mcp_url,
            "your browser shows the proxy's consent page, then the dev IdP's sign-in page",
        )
        .await;
        idp.shutdown().await;
        server.abort();
        return served;
    }
    let outcome = steps(&provider, &base_url, &mcp_url).await;
    idp.shutdown().await;
    server.abort();
    outcome
}

async fn steps(provider: &WorkOSProvider, base_url: &str, mcp_url: &str) -> anyhow::Result<()> {
    let mut steps = Checks::new();
    steps
        .run("1. call the MCP server without a token", async {
            let challenge = client::challenge(mcp_url).await?;
            Ok(((), format!("401, WWW-Authenticate: {challenge}")))
        })
        .await;
    steps
        .run("2. discovery: the metadata names the proxy itself as the authorization server", async {
            let prm: Value = reqwest::get(provider.proxy().resource().metadata_url())
                .await?
                .error_for_status()?
                .json()
                .await?;
            let issuer = provider.proxy().issuer();
            ensure!(issuer.starts_with(base_url), "the proxy's issuer {issuer} is not at {base_url}");
            ensure!(prm["authorization_servers"][0] == issuer, "unexpected metadata {prm}");
            let asm: Value = reqwest::get(format!("{issuer}/.well-known/oauth-authorization-server"))
                .await?
                .error_for_status()?
                .json()
                .await?;
            ensure!(asm["issuer"] == issuer, "issuer mismatch in {asm}");
            Ok((
                (),
                format!(
                    "resource {} -> authorization server {issuer}, registration at {}",
                    prm["resource"], asm["registration_endpoint"]
                ),
            ))
        })
        .await;
    let member = steps
        .run(
            "3. sign in as ada through the proxy (register, the proxy's consent, sign-in and consent upstream)",
            async {
                let (session, auth) =
                    client::sign_in_with_password(mcp_url, "ada@example.com", SecretString::from("ada"))
                        .await?;
                let token = auth.get_access_token().await?;
                Ok(((session, auth), format!("connected with a proxy token of {} bytes", token.len())))
            },
        )
        .await;
    if let Some((session, auth)) = &member {
        crate::checks::member_steps(&mut steps, session).await;
        steps
            .run(
                "6. refresh the access token through the proxy, then call whoami with it",
                crate::refresh(session, auth),
            )
            .await;
    }
    steps
        .run("7. sign in as grace (admin) through the proxy and call admin_reset", async {
            let (session, _) =
                client::sign_in_with_password(mcp_url, "grace@example.com", SecretString::from("grace"))
                    .await?;
            let result = client::call(&session, "admin_reset").await?;
            let text = client::text_of(&result).unwrap_or_default();
            session.cancel().await?;
            ensure!(text.contains("user_grace"), "admin_reset answered {text}");
            Ok(((), text))
        })
        .await;
    if let Some((session, _)) = member {
        session.cancel().await?;
    }
    steps.finish()
}
