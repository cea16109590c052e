//! An HTTP load run on loopback: what AuthKit remote auth costs per request.
//!
//! It starts the dev identity provider, one axum server with three routes, and a load generator in the
//! same process, then sends the same number of requests (bounded in count and time) to each route:
//!
//! - `/open`: no authentication (the baseline, measured in the same run);
//! - `/cached`: behind `AuthKitProvider` with its defaults (verified-token cache on);
//! - `/uncached`: behind an `AuthKitProvider` whose token cache is off (an RS256 check per request).
//!
//! Run it with `cargo run --release -p mcp-auth-examples --example load_remote` (optionally
//! `-- <requests> <concurrency>`, default 20000 and 32). It prints requests per second and each route's
//! throughput as a ratio of the baseline. Figures are recorded in `docs/benchmarks.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use axum::Router;
use axum::routing::get;
use mcp_auth_core::AuthUser;
use mcp_auth_dev_idp::{DevIdp, DevUser};
use mcp_auth_workos::AuthKitProvider;

const TIME_LIMIT: Duration = Duration::from_secs(60);

async fn load(url: &str, token: &str, requests: usize, concurrency: usize) -> anyhow::Result<(f64, usize)> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, next, failures) = (client.clone(), Arc::clone(&next), Arc::clone(&failures));
        let (url, token) = (url.to_owned(), token.to_owned());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests && started.elapsed() < TIME_LIMIT {
                let ok = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success());
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let done = next.load(Ordering::Relaxed).min(requests);
    Ok((done as f64 / started.elapsed().as_secs_f64(), failures.load(Ordering::Relaxed)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize =
        args.next().map(|a| a.parse()).transpose().context("requests must be a number")?.unwrap_or(20_000);
    let concurrency: usize =
        args.next().map(|a| a.parse()).transpose().context("concurrency must be a number")?.unwrap_or(32);

    let idp = DevIdp::builder()
        .user(DevUser::new("user_load", "load@example.com").roles(["member"]))
        .start()
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let cached = AuthKitProvider::builder()
        .authkit_domain(idp.url())
        .base_url(&base_url)
        .mcp_path("/cached")
        .build()?;
    let uncached = AuthKitProvider::builder()
        .authkit_domain(idp.url())
        .base_url(&base_url)
        .mcp_path("/cached")
        .token_cache(0)
        .build()?;
    let whoami = get(|user: AuthUser| async move { user.user_id });
    let app = Router::new()
        .route("/open", get(|| async { "user_load" }))
        .merge(Router::new().route("/cached", whoami.clone()).layer(cached.bearer_layer()))
        .merge(Router::new().route("/uncached", whoami).layer(uncached.bearer_layer()));
    let server =
        tokio::spawn(async move { axum::serve(mcp_auth_core::serve::no_delay(listener), app).await });
    // Both providers expect the same audience (the /cached resource URL), so one token serves all routes.
    let token = idp.issue_access_token("user_load", cached.resource().as_str(), ["openid"])?;

    println!(
        "load run: {requests} requests per route, {concurrency} concurrent, on loopback, {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let mut baseline = None;
    for route in ["open", "cached", "uncached"] {
        let url = format!("{base_url}/{route}");
        // Warm up: connections, JWKS fetch, userinfo profile cache.
        load(&url, &token, 500, concurrency).await?;
        let (rate, failures) = load(&url, &token, requests, concurrency).await?;
        ensure!(failures == 0, "{failures} requests to /{route} failed");
        let base = *baseline.get_or_insert(rate);
        println!("/{route:<9} {rate:>10.0} req/s   {:.2} of baseline", rate / base);
    }
    server.abort();
    idp.shutdown().await;
    Ok(())
}
