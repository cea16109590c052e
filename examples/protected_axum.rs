//! The smallest protected server: an axum endpoint behind `BearerAuthLayer` with a static test verifier.
//!
//! Run it with `cargo run -p mcp-auth-examples --example protected_axum`. It starts the server on
//! loopback, calls it the way a client would (no token, a wrong token, a token without the scope, a good
//! token, an admin-only route), prints each step with its result and timing, and exits 0 only when every
//! answer was the expected one (`--self-check` does the same). With `--serve` it keeps serving on `MCP_AUTH_LISTEN` (default
//! `127.0.0.1:8000`) and prints `curl` commands to try.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use axum::Router;
use axum::routing::get;
use mcp_auth_core::{AccessToken, AuthUser, BearerAuthLayer, RequireAuthLayer, StaticTokenVerifier};
use serde_json::json;

const MEMBER_TOKEN: &str = "demo-member-token";
const ADMIN_TOKEN: &str = "demo-admin-token";
const NARROW_TOKEN: &str = "demo-token-without-scope";

fn claims(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn app(base_url: &str) -> Router {
    let verifier = StaticTokenVerifier::new()
        .with_token(
            MEMBER_TOKEN,
            AccessToken::new(MEMBER_TOKEN).with_subject("user_ada").with_scopes(["mcp:tools"]).with_claims(
                claims(json!({"email": "ada@example.com", "name": "Ada Lovelace", "roles": ["member"]})),
            ),
        )
        .with_token(
            ADMIN_TOKEN,
            AccessToken::new(ADMIN_TOKEN)
                .with_subject("user_grace")
                .with_scopes(["mcp:tools"])
                .with_claims(claims(json!({"email": "grace@example.com", "role": "admin"}))),
        )
        .with_token(NARROW_TOKEN, AccessToken::new(NARROW_TOKEN).with_subject("user_tim"));
    Router::new()
        .route("/whoami", get(|user: AuthUser| async move { axum::Json(user) }))
        .route("/admin", get(|| async { "welcome, admin" }).layer(RequireAuthLayer::role("admin")))
        .layer(
            BearerAuthLayer::new(Arc::new(verifier))
                .resource_metadata_url(format!("{base_url}/.well-known/oauth-protected-resource"))
                .required_scopes(["mcp:tools"]),
        )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
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
    let listen: SocketAddr = if serve {
        std::env::var("MCP_AUTH_LISTEN")
            .unwrap_or_else(|_| "127.0.0.1:8000".to_owned())
            .parse()
            .context("MCP_AUTH_LISTEN must be an address such as 127.0.0.1:8000")?
    } else {
        SocketAddr::from(([127, 0, 0, 1], 0))
    };
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let server =
        tokio::spawn(axum::serve(mcp_auth_core::serve::no_delay(listener), app(&base_url)).into_future());

    if serve {
        println!("Protected server on {base_url} (development tokens, never use in production)");
        println!("  curl -i {base_url}/whoami");
        println!("  curl -i -H 'Authorization: Bearer {MEMBER_TOKEN}' {base_url}/whoami");
        println!("  curl -i -H 'Authorization: Bearer {ADMIN_TOKEN}' {base_url}/admin");
        server.await??;
        return Ok(());
    }

    let client = reqwest::Client::new();
    let steps: [(&str, &str, Option<&str>, u16); 6] = [
        ("no token", "/whoami", None, 401),
        ("unknown token", "/whoami", Some("not-a-real-token"), 401),
        ("token without the mcp:tools scope", "/whoami", Some(NARROW_TOKEN), 403),
        ("member token", "/whoami", Some(MEMBER_TOKEN), 200),
        ("member on the admin route", "/admin", Some(MEMBER_TOKEN), 403),
        ("admin on the admin route", "/admin", Some(ADMIN_TOKEN), 200),
    ];
    let mut failures = 0;
    for (name, path, token, expected) in steps {
        let started = Instant::now();
        let mut request = client.get(format!("{base_url}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response =
            request.send().await.with_context(|| format!("step '{name}' could not reach the server"))?;
        let status = response.status().as_u16();
        let challenge =
            response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let ok = status == expected;
        failures += usize::from(!ok);
        println!(
            "[{}] {name}: {status} (expected {expected}) in {:.1} ms",
            if ok { "ok" } else { "FAIL" },
            started.elapsed().as_secs_f64() * 1000.0
        );
        if let Some(challenge) = challenge {
            println!("      WWW-Authenticate: {challenge}");
        }
        println!("      body: {body}");
    }
    server.abort();
    if failures > 0 {
        bail!("{failures} step(s) did not answer as expected");
    }
    println!("All steps answered as expected.");
    Ok(())
}
