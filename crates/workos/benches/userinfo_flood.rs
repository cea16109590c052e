//! A load run: a flood of random bearer tokens against `WorkOSTokenVerifier`, over a loopback stand-in
//! for WorkOS that counts userinfo calls, while legitimate users keep verifying.
//!
//! `cargo bench -p mcp-auth-workos --bench userinfo_flood` (optionally `-- <seconds> <workers>`,
//! default 10 and 64). For each configuration it starts a fresh stand-in, verifies 100 legitimate
//! users once (their answers are then cached), and for the given time runs `<workers>` tasks sending
//! made-up tokens, each used once, and 4 tasks verifying the legitimate users, on the real clock. It
//! prints the random tokens sent, how they were answered, the userinfo calls they caused against the
//! rate limit's bound (burst + rate x seconds, an upper bound: the warm-up's lookups drew on the same
//! bucket), the legitimate verifications and how many of them needed an upstream call, and the
//! throughput (verifications a second, random and legitimate together).
//!
//! - `defaults`: the verifier as built by default (50 lookups/s, bursts of 100, 32 in flight);
//! - `unguarded`: the limits set out of reach, the behaviour before they existed (one userinfo call
//!   per random token), as the baseline measured in the same run.
//!
//! Run by `cargo test --benches` (no `--bench` argument) or with `-- --test`, it does a one-second smoke
//! run instead.
//! Figures are recorded in `docs/benchmarks.md`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcp_auth_core::TokenVerifier;
use mcp_auth_workos::{WorkOSTokenVerifier, WorkOSTokenVerifierBuilder};
use serde_json::json;
use support::StandIn;

const LEGIT_USERS: usize = 100;
const LEGIT_WORKERS: usize = 4;

#[derive(Default)]
struct Counts {
    random_sent: AtomicUsize,
    refused: AtomicUsize,
    unavailable: AtomicUsize,
    legit_ok: AtomicUsize,
    legit_failed: AtomicUsize,
}

struct Run {
    name: &'static str,
    /// (per second, burst), for the printed bound.
    rate: Option<(u32, u32)>,
    configure: fn(WorkOSTokenVerifierBuilder) -> WorkOSTokenVerifierBuilder,
}

async fn run(config: &Run, seconds: u64, workers: usize) {
    let standin = StandIn::start().await;
    for i in 0..LEGIT_USERS {
        standin.user(&format!("legit-{i}"), json!({"sub": format!("user_{i}")}));
    }
    let verifier = (config.configure)(WorkOSTokenVerifier::builder().authkit_domain(&standin.base))
        .build()
        .expect("the verifier builds");
    for i in 0..LEGIT_USERS {
        verifier.verify(&format!("legit-{i}")).await.expect("a legitimate user verifies");
    }
    let (warm_calls, warm_known) = (standin.userinfo_calls(), standin.known_calls());

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (verifier, counts, stop) = (verifier.clone(), Arc::clone(&counts), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let token = format!("flood-{worker}-{n}-{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                counts.random_sent.fetch_add(1, Ordering::Relaxed);
                match verifier.verify(&token).await {
                    Ok(_) => panic!("a made-up token was accepted"),
                    Err(err) if err.is_unavailable() => counts.unavailable.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counts.refused.fetch_add(1, Ordering::Relaxed),
                };
                // A refusal from the guards completes without waiting: take turns with the other tasks.
                tokio::task::yield_now().await;
            }
        }));
    }
    for worker in 0..LEGIT_WORKERS {
        let (verifier, counts, stop) = (verifier.clone(), Arc::clone(&counts), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += LEGIT_WORKERS;
                match verifier.verify(&format!("legit-{}", n % LEGIT_USERS)).await {
                    Ok(_) => counts.legit_ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counts.legit_failed.fetch_add(1, Ordering::Relaxed),
                };
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a load task panicked");
    }
    let elapsed = started.elapsed().as_secs_f64();

    let random_sent = counts.random_sent.load(Ordering::Relaxed);
    let random_calls = standin.userinfo_calls() - warm_calls - (standin.known_calls() - warm_known);
    let legit_ok = counts.legit_ok.load(Ordering::Relaxed);
    let legit_upstream = standin.known_calls() - warm_known;
    let bound = config.rate.map_or_else(
        || "none".to_owned(),
        |(rate, burst)| format!("{:.0}", f64::from(burst) + f64::from(rate) * elapsed),
    );
    println!(
        "{:<10} {:>12} {:>9} {:>9} {:>15} {:>7} {:>12} {:>9} {:>9} {:>15} {:>11.0}",
        config.name,
        random_sent,
        counts.refused.load(Ordering::Relaxed),
        counts.unavailable.load(Ordering::Relaxed),
        random_calls,
        bound,
        legit_ok,
        counts.legit_failed.load(Ordering::Relaxed),
        legit_upstream,
        legit_ok - legit_upstream.min(legit_ok),
        (random_sent + legit_ok) as f64 / elapsed,
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and `cargo bench -- --test` asks
    // for a smoke run, as criterion's benches take it.
    let full = args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test");
    let mut numbers = args.iter().filter_map(|arg| arg.parse::<u64>().ok());
    let seconds = numbers.next().unwrap_or(if full { 10 } else { 1 });
    let workers = numbers.next().map_or(if full { 64 } else { 8 }, |n| usize::try_from(n).unwrap_or(64));

    println!(
        "userinfo flood: {seconds} s per configuration, {workers} tasks sending random tokens, {LEGIT_WORKERS} \
         tasks verifying {LEGIT_USERS} cached users, {} cores, stand-in on loopback in the same process",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "{:<10} {:>12} {:>9} {:>9} {:>15} {:>7} {:>12} {:>9} {:>9} {:>15} {:>11}",
        "config",
        "random sent",
        "401",
        "503",
        "upstream calls",
        "bound",
        "legit ok",
        "refused",
        "upstream",
        "from cache",
        "verify/s"
    );
    let runs = [
        Run { name: "defaults", rate: Some((50, 100)), configure: |builder| builder },
        Run {
            name: "unguarded",
            rate: None,
            configure: |builder| {
                builder.lookup_rate_limit(u32::MAX, u32::MAX).max_concurrent_lookups(1 << 20)
            },
        },
    ];
    for config in &runs {
        run(config, seconds, workers).await;
    }
}
