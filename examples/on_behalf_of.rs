//! A tool that calls another API as the signed-in user, by token exchange (RFC 8693), never by passing
//! the MCP access token on.
//!
//! Everything runs offline on loopback: the dev IdP poses as AuthKit (with WorkOS Connect's
//! token-exchange grant), an "orders API" accepts only tokens whose audience is its own URL (checked by
//! `JwtVerifier`), and an rmcp server behind `AuthKitProvider` has one tool, `list_orders`, which calls
//!
//! ```text
//! let token = caller.exchange_for(&orders_api_url, ["orders:read"]).await?;
//! ```
//!
//! and sends that token (audience: the orders API; `sub`: the user; `act.sub`: this MCP server) to the
//! API.
//!
//! ```sh
//! cargo run -p mcp-auth-examples --example on_behalf_of               # serve on MCP_AUTH_LISTEN (127.0.0.1:8000)
//! cargo run -p mcp-auth-examples --example on_behalf_of -- --self-check
//! ```
//!
//! The self-check signs in with the rmcp client, calls `list_orders`, and checks what the orders API
//! received: a token for itself, about the user, with this server as the actor, and never the MCP token.

use anyhow::{Context as _, ensure};
use mcp_auth_core::settings::Settings;
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client;
use mcp_auth_examples::on_behalf_of::{self, MCP_SERVER_CLIENT_ID};
use mcp_auth_examples::run::{self, Mode};
use serde_json::Value;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args()?;
    run::init_tracing(mode);
    if mode == Mode::SelfCheck {
        return self_check().await;
    }
    let listen = run::listen_address(&Settings::from_env()?)?;
    let stack = on_behalf_of::start(Some(listen), true).await?;
    tracing::info!(
        mcp = %stack.mcp_url,
        dev_idp = stack.idp.url(),
        orders_api = %stack.api_url,
        "MCP server listening: sign in (auto-approved as ada@example.com) and call list_orders"
    );
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}

async fn self_check() -> anyhow::Result<()> {
    let stack = on_behalf_of::start(None, true).await?;
    println!("on_behalf_of self-check: MCP server {}, orders API {}", stack.mcp_url, stack.api_url);
    let mut checks = Checks::new();
    checks
        .run("sign in as ada and call list_orders: the orders API answers for ada", async {
            let (session, auth) = client::sign_in(&stack.mcp_url, "ada@example.com").await?;
            let text = client::text_of(&client::call(&session, "list_orders").await?).unwrap_or_default();
            let mcp_token = auth.get_access_token().await?;
            session.cancel().await?;
            let answer: Value =
                serde_json::from_str(&text).with_context(|| format!("list_orders said {text}"))?;
            ensure!(answer["user"] == "user_ada", "the API saw {answer}");
            ensure!(answer["actor"] == MCP_SERVER_CLIENT_ID, "the API saw the actor {}", answer["actor"]);
            ensure!(!stack.seen.was_presented(&mcp_token), "the orders API received the MCP access token");
            Ok(((), format!("user {} via {}", answer["user"], answer["actor"])))
        })
        .await;
    checks
        .run("the orders API refuses the MCP token presented directly", async {
            let (session, auth) = client::sign_in(&stack.mcp_url, "ada@example.com").await?;
            let mcp_token = auth.get_access_token().await?;
            session.cancel().await?;
            let status = reqwest::Client::new()
                .get(format!("{}/orders", stack.api_url))
                .bearer_auth(&mcp_token)
                .send()
                .await?
                .status();
            ensure!(status == reqwest::StatusCode::UNAUTHORIZED, "the API answered {status}");
            Ok(((), status.to_string()))
        })
        .await;
    checks.finish()
}
