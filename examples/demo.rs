//! The one-command demo: the dev identity provider posing as WorkOS AuthKit, an rmcp MCP server protected
//! by `AuthKitProvider`, and the rmcp client SDK signing in and calling tools, all on loopback, with no
//! account and no network.
//!
//! `cargo run -p mcp-auth-examples --example demo` runs every step (sign-in, tool calls, a role refusal, a
//! per-tool scope challenge and the step-up that answers it, a refresh), prints each with its result and
//! timing, and exits 0 only if all of them behaved (`-- --self-check` does the same). `-- --serve` keeps the identity provider (port 9400)
//! and the MCP server (port 8000) running and prints how to connect the MCP Inspector.

use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle, DevUser};
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client;
use mcp_auth_examples::server::{NOTES_WRITE, allowed_hosts, authkit_app};
use mcp_auth_workos::AuthKitProvider;
use serde_json::Value;

async fn start_idp(serve: bool) -> anyhow::Result<DevIdpHandle> {
    let mut builder = DevIdp::builder()
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .name("Ada Lovelace")
                .org_id("org_analytical")
                .roles(["member"])
                .password("ada"),
        )
        .user(
            DevUser::new("user_grace", "grace@example.com")
                .name("Grace Hopper")
                .org_id("org_analytical")
                .roles(["admin"])
                .permissions(["demo:reset"])
                .password("grace"),
        )
        .scope(NOTES_WRITE)
        .default_user("user_ada");
    // Headless runs sign in without a form; with --serve a person signs in on the login page.
    builder = if serve { builder.port(9400) } else { builder.auto_approve(true) };
    builder.start().await.context("starting the dev identity provider")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,rmcp=off".into()),
        )
        .init();
    let mut serve = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--serve" => serve = true,
            // The default: the test suite runs every example with --self-check.
            "--self-check" => {}
            other => bail!("unknown argument {other:?}; usage: [--serve | --self-check]"),
        }
    }
    let idp = start_idp(serve).await?;
    let listen = SocketAddr::from(([127, 0, 0, 1], if serve { 8000 } else { 0 }));
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let base_url = format!("http://{address}");
    let provider = AuthKitProvider::builder()
        .authkit_domain(idp.url())
        .base_url(&base_url)
        .resource_name("mcp-auth demo")
        .build()?;
    let app = authkit_app(&provider, allowed_hosts(&url::Url::parse(&base_url)?, address));
    let server =
        tokio::spawn(async move { axum::serve(mcp_auth_core::serve::no_delay(listener), app).await });
    let mcp_url = format!("{base_url}/mcp");

    println!("mcp-auth demo: the dev identity provider (development only) poses as WorkOS AuthKit");
    println!("  identity provider  {}", idp.url());
    println!("  MCP server         {mcp_url}\n");

    if serve {
        println!("Both keep running until Ctrl-C. Connect the MCP Inspector:");
        println!("  npx @modelcontextprotocol/inspector");
        println!(
            "  transport: Streamable HTTP, URL: {mcp_url}, then \"Open Auth Settings\" -> \"Quick OAuth Flow\""
        );
        println!("  sign in as ada@example.com / ada (member) or grace@example.com / grace (admin)");
        tokio::signal::ctrl_c().await?;
        idp.shutdown().await;
        server.abort();
        return Ok(());
    }

    let mut steps = Checks::new();
    let challenge = steps
        .run("1. call the MCP server without a token", async {
            let challenge = client::challenge(&mcp_url).await?;
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
    let member = match challenge {
        Some(challenge) => {
            steps
                .run(
                    "3. sign in as ada (DCR, PKCE authorize, iss check, code exchange with resource)",
                    async {
                        let manager = client::authorize(&mcp_url, &challenge, "ada@example.com").await?;
                        let (session, auth) = client::connect(&mcp_url, manager).await?;
                        let token = auth.get_access_token().await?;
                        Ok((
                            (session, auth),
                            format!("connected with an access token of {} bytes", token.len()),
                        ))
                    },
                )
                .await
        }
        None => None,
    };
    if let Some((session, auth)) = &member {
        steps
            .run("4. call whoami", async {
                let result = client::call(session, "whoami").await?;
                let text = client::text_of(&result).unwrap_or_default();
                let user: Value = serde_json::from_str(&text)?;
                ensure!(user["user_id"] == "user_ada", "unexpected user {user}");
                Ok(((), text))
            })
            .await;
        steps
            .run("5. call admin_reset as a member (must be refused)", async {
                match client::call(session, "admin_reset").await {
                    Ok(result) => bail!("a member was allowed: {:?}", client::text_of(&result)),
                    Err(err) => Ok(((), format!("refused: {err:#}"))),
                }
            })
            .await;
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
        if let Some(challenge) = challenge {
            steps
                .run("7. step up: re-authorize with the union of scopes, then call save_note again", async {
                    let scopes = client::step_up(auth, &mcp_url, &challenge, "ada@example.com").await?;
                    let result = client::call(session, "save_note").await?;
                    let text = client::text_of(&result).unwrap_or_default();
                    Ok(((), format!("scopes now {}; {text}", scopes.join(" "))))
                })
                .await;
        }
        steps
            .run("8. refresh the access token, then call whoami with it", async {
                let before = auth.get_access_token().await?;
                auth.auth_manager.lock().await.refresh_token().await?;
                let after = auth.get_access_token().await?;
                ensure!(before != after, "the refresh returned the same token");
                let result = client::call(session, "whoami").await?;
                ensure!(
                    client::text_of(&result).unwrap_or_default().contains("user_ada"),
                    "whoami failed after refresh"
                );
                Ok(((), "new access token accepted".to_owned()))
            })
            .await;
    }
    steps
        .run("9. sign in as grace (admin) and call admin_reset", async {
            let challenge = client::challenge(&mcp_url).await?;
            let manager = client::authorize(&mcp_url, &challenge, "grace@example.com").await?;
            let (session, _) = client::connect(&mcp_url, manager).await?;
            let result = client::call(&session, "admin_reset").await?;
            let text = client::text_of(&result).unwrap_or_default();
            session.cancel().await?;
            Ok(((), text))
        })
        .await;
    if let Some((session, _)) = member {
        session.cancel().await?;
    }
    idp.shutdown().await;
    server.abort();
    steps.finish()
}
