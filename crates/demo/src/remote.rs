//! The demo in remote mode: the dev identity provider posing as WorkOS AuthKit, the MCP server protected
//! by `AuthKitProvider`, and the rmcp client SDK signing in at the identity provider directly.
//!
//! A headless run ([`run`] without [`serve`](DemoOptions::serve)) prints each step with its result and
//! timing: the 401 challenge, discovery, sign-in (registration, PKCE, `iss` check, code exchange with
//! `resource`), tool calls, a role refusal, a per-tool scope challenge and the step-up that answers it, a
//! refresh, and sign-in as an admin.

use anyhow::{Context, bail, ensure};
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle};
use mcp_auth_workos::AuthKitProvider;
use serde_json::Value;

use crate::checks::Checks;
use crate::server::{allowed_hosts, authkit_app};
use crate::{DemoOptions, IDP_PORT, client, dev_idp};

async fn start_idp(options: DemoOptions) -> anyhow::Result<DevIdpHandle> {
    let builder = dev_idp::with_demo_users(DevIdp::builder());
    // Headless runs sign in without a form; when serving, a person signs in on the login page.
    let builder = if options.serve { builder.port(IDP_PORT) } else { builder.port(0).auto_approve(true) };
    builder.start().await.context("starting the dev identity provider")
}

/// Runs the demo in remote mode: every step, printed, or (with [`DemoOptions::serve`]) the identity
/// provider and the MCP server until Ctrl-C.
///
/// # Errors
///
/// A step that misbehaved, or a server that cannot start.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let idp = start_idp(options).await?;
    let (listener, address, base_url) = crate::listen(options).await?;
    let provider = AuthKitProvider::builder()
        .authkit_domain(idp.url())
        .base_url(&base_url)
        .resource_name("mcp-auth demo")
        .build()?;
    let app = authkit_app(&provider, allowed_hosts(&url::Url::parse(&base_url)?, address));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mcp_url = format!("{base_url}/mcp");

    println!("mcp-auth demo (remote): the dev identity provider (development only) poses as WorkOS AuthKit");
    println!("  identity provider  {}", idp.url());
    println!("  MCP server         {mcp_url}\n");

    if options.serve {
        let served =
            crate::serve_until_ctrl_c(&mcp_url, "the dev IdP's sign-in page opens in your browser").await;
        idp.shutdown().await;
        server.abort();
        return served;
    }
    let outcome = steps(&provider, &mcp_url).await;
    idp.shutdown().await;
    server.abort();
    outcome
}

async fn steps(provider: &AuthKitProvider, mcp_url: &str) -> anyhow::Result<()> {
    let mut steps = Checks::new();
    let challenge = steps
        .run("1. call the MCP server without a token", async {
            let challenge = client::challenge(mcp_url).await?;
            Ok((challenge.clone(), format!("401, WWW-Authenticate: {challenge}")))
        })
        .await;
    steps
        .run("2. discovery: protected resource and authorization server metadata", async {
            let prm: Value =
                reqwest::get(provider.resource().metadata_url()).await?.error_for_status()?.json().await?;
            let issuer = prm["authorization_servers"][0].as_str().unwrap_or_default().to_owned();
            let asm: Value = reqwest::get(format!("{issuer}/.well-known/oauth-authorization-server"))
                .await?
                .error_for_status()?
                .json()
                .await?;
            ensure!(asm["issuer"] == issuer, "issuer mismatch");
            Ok((
                (),
                format!(
                    "resource {} -> authorization server {issuer}, registration at {}",
                    prm["resource"], asm["registration_endpoint"]
                ),
            ))
        })
        .await;
    let step = "3. sign in as ada (DCR, PKCE authorize, iss check, code exchange with resource)";
    let member = match challenge {
        Some(challenge) => {
            steps
                .run(step, async {
                    let manager = client::authorize(mcp_url, &challenge, "ada@example.com").await?;
                    let (session, auth) = client::connect(mcp_url, manager).await?;
                    let token = auth.get_access_token().await?;
                    Ok(((session, auth), format!("connected with an access token of {} bytes", token.len())))
                })
                .await
        }
        None => {
            steps.skip(step, "the server gave no challenge");
            None
        }
    };
    if let Some((session, auth)) = &member {
        crate::checks::member_steps(&mut steps, session).await;
        let challenge = steps
            .run("6. call save_note, which needs notes:write (must be challenged)", async {
                match client::try_call(session, "save_note").await {
                    Ok(result) => bail!("allowed without the scope: {:?}", client::text_of(&result)),
                    Err(err) => {
                        let challenge = client::insufficient_scope_challenge(&err)
                            .with_context(|| format!("refused without a step-up challenge: {err:#}"))?;
                        Ok((challenge.clone(), format!("403, WWW-Authenticate: {challenge}")))
                    }
                }
            })
            .await;
        let step = "7. step up: re-authorize with the union of scopes, then call save_note again";
        match challenge {
            Some(challenge) => {
                steps
                    .run(step, async {
                        let scopes = client::step_up(auth, mcp_url, &challenge, "ada@example.com").await?;
                        let result = client::call(session, "save_note").await?;
                        let text = client::text_of(&result).unwrap_or_default();
                        Ok(((), format!("scopes now {}; {text}", scopes.join(" "))))
                    })
                    .await;
            }
            None => steps.skip(step, "there was no step-up challenge"),
        }
        steps
            .run("8. refresh the access token, then call whoami with it", crate::refresh(session, auth))
            .await;
    }
    steps
        .run("9. sign in as grace (admin) and call admin_reset", async {
            let (session, _) = client::sign_in(mcp_url, "grace@example.com").await?;
            let result = client::call(&session, "admin_reset").await?;
            let text = client::text_of(&result).unwrap_or_default();
            session.cancel().await?;
            Ok(((), text))
        })
        .await;
    if let Some((session, _)) = member {
        session.cancel().await?;
    }
    steps.finish()
}
