//! Benchmark scenario F (`docs/benchmarks.md`): the OAuth proxy's token endpoint, authorization-code
//! exchanges and refreshes per second, with the memory store and with Redis.
//!
//! An authorization code is single-use, so a load tool such as wrk cannot replay one request; this driver
//! prepares the codes first and then redeems each once. For each store — memory, then Redis at
//! `--redis-url` under a fresh random key prefix (whose keys are deleted at the end) — it starts the dev
//! IdP as the upstream and a `WorkOSProvider` in front of it on loopback (ES256 access tokens, everything
//! stored Fernet-encrypted, as in production), then:
//!
//! 1. prepares N codes, each through a real sign-in (`/authorize` with PKCE, the dev IdP, the proxy's
//!    callback, the code at the client's redirect) for one registered client; not measured. A code lives
//!    60 s, so this goes in batches of 250, each redeemed (step 2) before the next is prepared. A proxy
//!    instance takes at most 600 authorization requests per source address in 10 minutes, so the
//!    sign-ins are spread over enough instances of the same deployment (same base URL, keys and store);
//!    every code is redeemed at the first instance;
//! 2. redeems every code once at `/token` from C concurrent HTTP/1.1 keep-alive clients (exchanges/s over
//!    the redemption time only, p50/p99);
//! 3. refreshes each resulting refresh token once (rotation), the same way (refreshes/s, p50/p99).
//!
//! Each round also measures two baselines with C clients and N requests: `GET` of the proxy's
//! authorization-server metadata (the HTTP floor: routing, no crypto, no store) and the dev IdP's own
//! `client_credentials` grant (one RS256 signature, no store). Memory and Redis run interleaved over R
//! rounds; the table gives medians and ratios, since only ratios measured in one run compare across
//! machines. The servers run in this process, so there is no separate server CPU figure: the `cpu µs/op`
//! column is the whole process's CPU time (driver and servers) per request.
//!
//! It asserts nothing about timing: it exits non-zero only when a sign-in, an exchange or a refresh does
//! not succeed (or Redis does not answer). No token is ever printed.
//!
//! ```text
//! just bench-token                       # N=2000, C=32, R=3, release build
//! cargo run --release -p mcp-auth-tests --example bench_token -- --n 1000 --rounds 3 --concurrency 32
//! cargo run -p mcp-auth-tests --example bench_token -- --smoke   # N=20, C=4, one round: the driver works
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_dev_idp::{DevClient, DevIdp};
use mcp_auth_examples::redis_raw::RawRedis;
use mcp_auth_jwt::SigningKey;
use mcp_auth_store_redis::RedisStore;
use mcp_auth_tests::proxy::{self, Flow, SharedKeys};
use tokio::task::JoinSet;

/// The client's redirect URI: the sign-in stops when it gets there, so nothing needs to listen.
const CLIENT_REDIRECT: &str = "http://127.0.0.1:7777/cb";
/// How many sign-ins run at once while preparing codes.
const PREPARE_CONCURRENCY: usize = 8;
/// Codes prepared, then redeemed, at a time: well under the 60 s a code lives even on a busy machine.
const BATCH: usize = 250;
/// Sign-ins prepared through one proxy instance: under its ceiling of authorization requests per
/// source address (600 per 10 minutes).
const SIGN_INS_PER_INSTANCE: usize = 500;
/// The dev IdP client the `client_credentials` baseline uses.
const BASELINE_CLIENT_ID: &str = "bench_cc";
/// Its secret (a fixed test value for a dev IdP that lives only in this process).
const BASELINE_CLIENT_SECRET: &str = "bench-cc-secret";

#[derive(Debug, Clone)]
struct Args {
    n: usize,
    concurrency: usize,
    rounds: usize,
    redis_url: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut parsed =
        Args { n: 2000, concurrency: 32, rounds: 3, redis_url: "redis://127.0.0.1:6379".to_owned() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--smoke" => {
                parsed.n = 20;
                parsed.concurrency = 4;
                parsed.rounds = 1;
            }
            "--n" => parsed.n = value("--n")?.parse().context("--n")?,
            "--concurrency" => {
                parsed.concurrency = value("--concurrency")?.parse().context("--concurrency")?;
            }
            "--rounds" => parsed.rounds = value("--rounds")?.parse().context("--rounds")?,
            "--redis-url" => parsed.redis_url = value("--redis-url")?,
            other => {
                bail!("unknown argument {other:?} (see the doc comment of tests/examples/bench_token.rs)")
            }
        }
    }
    ensure!(
        parsed.n > 0 && parsed.concurrency > 0 && parsed.rounds > 0,
        "--n, --concurrency and --rounds must be positive"
    );
    Ok(parsed)
}

/// One measured batch: N requests over C connections.
#[derive(Debug, Clone, Copy)]
struct Measure {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_op: f64,
}

/// This process's user + system CPU time (from `/proc/self/stat`, in USER_HZ = 100 ticks per second).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// A client with one keep-alive HTTP/1.1 connection to each host.
fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1).timeout(Duration::from_secs(30)).build()?)
}

/// What one batch of requests took.
#[derive(Debug, Default)]
struct Sample {
    ops: usize,
    elapsed: Duration,
    cpu: Option<Duration>,
    latencies: Vec<Duration>,
}

impl Sample {
    /// Adds another batch of the same kind.
    fn extend(&mut self, other: Self) {
        self.cpu = if self.ops == 0 { other.cpu } else { self.cpu.zip(other.cpu).map(|(a, b)| a + b) };
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    /// The rate over the measured time, the latency percentiles and the CPU per request.
    fn measure(mut self) -> Measure {
        self.latencies.sort_unstable();
        let latencies = &self.latencies;
        let at = |fraction: f64| {
            let index = ((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1);
            latencies[index].as_secs_f64() * 1e3
        };
        Measure {
            per_second: self.ops as f64 / self.elapsed.as_secs_f64(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            cpu_us_per_op: self.cpu.map_or(f64::NAN, |cpu| cpu.as_secs_f64() * 1e6 / self.ops as f64),
        }
    }
}

/// Runs `op` once for each item from one worker per client in `clients` (each client keeps one
/// connection), and returns what it took and the results (in completion order).
async fn drive<I, T, F, Fut>(
    clients: &[reqwest::Client],
    items: Vec<I>,
    op: F,
) -> anyhow::Result<(Sample, Vec<T>)>
where
    I: Clone + Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(reqwest::Client, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let total = items.len();
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let op = Arc::new(op);
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for http in clients.iter().take(total) {
        let (http, items, next, op) = (http.clone(), Arc::clone(&items), Arc::clone(&next), Arc::clone(&op));
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut outputs = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                let item = item.clone();
                let sent = Instant::now();
                outputs.push(op(http.clone(), item).await?);
                latencies.push(sent.elapsed());
            }
            anyhow::Ok((latencies, outputs))
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut outputs = Vec::with_capacity(total);
    while let Some(joined) = workers.join_next().await {
        let (mut worker_latencies, mut worker_outputs) = joined.context("a worker panicked")??;
        latencies.append(&mut worker_latencies);
        outputs.append(&mut worker_outputs);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(process_cpu()).map(|(before, after)| after.saturating_sub(before));
    Ok((Sample { ops: total, elapsed, cpu, latencies }, outputs))
}

/// Fails with the status and the OAuth error (never a token) unless `response` is 200 with JSON.
async fn ok_json(what: &str, response: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = response.status();
    let body: serde_json::Value = response.json().await.with_context(|| format!("{what}: no JSON answer"))?;
    if status != 200 {
        bail!("{what} answered {status}: error {:?}", body.get("error"));
    }
    Ok(body)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Memory,
    Redis,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
        }
    }
}

/// One store's figures in one round.
#[derive(Debug, Clone, Copy)]
struct StoreRound {
    plain: Measure,
    exchange: Measure,
    refresh: Measure,
}

/// Prepares the codes, redeems them and refreshes the results, on a fresh upstream and proxy over
/// `store`.
async fn run_store(args: &Args, store: Arc<dyn KvStorage>) -> anyhow::Result<StoreRound> {
    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let keys = SharedKeys::random();
    let signing = SigningKey::generate_es256("bench").context("an ES256 key")?;
    let instance =
        proxy::proxy_instance(listener, &base_url, &upstream.url, Arc::clone(&store), &keys, |proxy| {
            proxy.signing_key(signing)
        })
        .await;
    let url = instance.url.clone();
    let flow = Arc::new(Flow::new(proxy::register(&url, CLIENT_REDIRECT).await, CLIENT_REDIRECT));
    // Each instance takes a bounded number of authorization requests per source address, so the sign-ins
    // are spread over instances of the same deployment (same base URL, keys and store); the codes are
    // redeemed at the first one, where the upstream calls back.
    let mut instances = vec![instance];
    while instances.len() < args.n.div_ceil(SIGN_INS_PER_INSTANCE) {
        let (extra, _) = proxy::listener().await;
        let signing = SigningKey::generate_es256("bench").context("an ES256 key")?;
        let extra =
            proxy::proxy_instance(extra, &base_url, &upstream.url, Arc::clone(&store), &keys, |proxy| {
                proxy.signing_key(signing)
            })
            .await;
        instances.push(extra);
    }
    let sign_in_urls: Arc<Vec<String>> = Arc::new(instances.iter().map(|i| i.url.clone()).collect());

    let clients = (0..args.concurrency).map(|_| http_client()).collect::<anyhow::Result<Vec<_>>>()?;

    // The HTTP floor on the same server: the authorization-server metadata.
    let metadata = format!("{url}/.well-known/oauth-authorization-server");
    let (plain, _) = drive(&clients, vec![metadata; args.n], |http, metadata| async move {
        ok_json("the metadata", http.get(metadata).send().await?).await.map(drop)
    })
    .await?;

    // 1 and 2, batch by batch so that no code outlives its 60 s while the others are prepared: the codes,
    // each through a sign-in (not measured), then every code redeemed once (measured).
    let mut exchange = Sample::default();
    let mut refresh_tokens = Vec::with_capacity(args.n);
    let mut preparation = Duration::ZERO;
    let mut done = 0;
    while done < args.n {
        let batch = BATCH.min(args.n - done);
        let prepared = Instant::now();
        let mut preparing = JoinSet::new();
        for worker in 0..PREPARE_CONCURRENCY {
            let count = batch / PREPARE_CONCURRENCY + usize::from(worker < batch % PREPARE_CONCURRENCY);
            let (flow, urls, base_url) = (Arc::clone(&flow), Arc::clone(&sign_in_urls), base_url.clone());
            preparing.spawn(async move {
                let mut codes = Vec::with_capacity(count);
                for i in 0..count {
                    let instance_url = &urls[(done + worker + i * PREPARE_CONCURRENCY) % urls.len()];
                    codes.push(proxy::code(&flow, instance_url, &base_url).await);
                }
                codes
            });
        }
        let mut codes = Vec::with_capacity(batch);
        while let Some(joined) = preparing.join_next().await {
            codes.extend(joined.context("a sign-in failed")?);
        }
        preparation += prepared.elapsed();
        let (flow_x, url_x) = (Arc::clone(&flow), url.clone());
        let (sample, tokens) = drive(&clients, codes, move |http, code: String| {
            let (flow, url) = (Arc::clone(&flow_x), url_x.clone());
            async move {
                let body =
                    ok_json("an exchange", proxy::try_exchange_with(&http, &flow, &url, &code).await).await?;
                body["refresh_token"]
                    .as_str()
                    .map(str::to_owned)
                    .context("an exchange answered without a refresh token")
            }
        })
        .await?;
        exchange.extend(sample);
        refresh_tokens.extend(tokens);
        done += batch;
    }
    eprintln!("    {done} codes prepared in {:.1} s", preparation.as_secs_f64());

    // 3. Every refresh token refreshed once.
    let (client_id, url_r) = (flow.client_id.clone(), url.clone());
    let (refresh, _) = drive(&clients, refresh_tokens, move |http, refresh_token: String| {
        let (client_id, url) = (client_id.clone(), url_r.clone());
        async move {
            let body =
                ok_json("a refresh", proxy::refresh_with(&http, &client_id, &url, &refresh_token).await)
                    .await?;
            ensure!(
                body["access_token"].is_string() && body["refresh_token"].is_string(),
                "a refresh answered without new tokens"
            );
            Ok(())
        }
    })
    .await?;
    let (plain, exchange, refresh) = (plain.measure(), exchange.measure(), refresh.measure());
    Ok(StoreRound { plain, exchange, refresh })
}

/// The dev IdP's `client_credentials` grant: one RS256 signature per request, no store.
async fn client_credentials(args: &Args, idp_url: &str) -> anyhow::Result<Measure> {
    let token_url = format!("{idp_url}/oauth2/token");
    let clients = (0..args.concurrency).map(|_| http_client()).collect::<anyhow::Result<Vec<_>>>()?;
    let (sample, _) = drive(&clients, vec![token_url; args.n], |http, token_url| async move {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", BASELINE_CLIENT_ID),
            ("client_secret", BASELINE_CLIENT_SECRET),
        ];
        ok_json("the client_credentials grant", http.post(token_url).form(&form).send().await?)
            .await
            .map(drop)
    })
    .await?;
    Ok(sample.measure())
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The medians of one column over the rounds.
fn medians(measures: &[Measure]) -> Measure {
    Measure {
        per_second: median(measures.iter().map(|m| m.per_second)),
        p50_ms: median(measures.iter().map(|m| m.p50_ms)),
        p99_ms: median(measures.iter().map(|m| m.p99_ms)),
        cpu_us_per_op: median(measures.iter().map(|m| m.cpu_us_per_op)),
    }
}

fn row(name: &str, measure: Measure, baseline: f64) {
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} |",
        measure.per_second,
        measure.p50_ms,
        measure.p99_ms,
        measure.cpu_us_per_op,
        measure.per_second / baseline
    );
}

async fn run(args: &Args, redis: &RawRedis, prefix_base: &str) -> anyhow::Result<()> {
    let mut baseline_client =
        DevClient::confidential(BASELINE_CLIENT_ID, BASELINE_CLIENT_SECRET, [CLIENT_REDIRECT]);
    baseline_client.client_credentials = true;
    let idp =
        DevIdp::builder().client(baseline_client).start().await.context("the baseline dev IdP starts")?;

    let (mut plain, mut credentials) = (Vec::new(), Vec::new());
    let (mut exchanges, mut refreshes) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for round in 0..args.rounds {
        eprintln!("round {}/{}", round + 1, args.rounds);
        let measure = client_credentials(args, idp.url()).await?;
        eprintln!("  dev IdP client_credentials: {:.0}/s", measure.per_second);
        credentials.push(measure);
        for (slot, kind) in [StoreKind::Memory, StoreKind::Redis].into_iter().enumerate() {
            eprintln!("  {}:", kind.name());
            let store: Arc<dyn KvStorage> = match kind {
                StoreKind::Memory => Arc::new(MemoryStore::new()),
                StoreKind::Redis => Arc::new(
                    RedisStore::builder(args.redis_url.clone())
                        .prefix(format!("{prefix_base}-r{round}"))
                        .connect()
                        .await
                        .context("Redis answers")?,
                ),
            };
            let figures = run_store(args, store).await?;
            eprintln!(
                "    plain {:.0}/s, exchanges {:.0}/s (p99 {:.1} ms), refreshes {:.0}/s (p99 {:.1} ms)",
                figures.plain.per_second,
                figures.exchange.per_second,
                figures.exchange.p99_ms,
                figures.refresh.per_second,
                figures.refresh.p99_ms
            );
            plain.push(figures.plain);
            exchanges[slot].push(figures.exchange);
            refreshes[slot].push(figures.refresh);
            if kind == StoreKind::Redis {
                let deleted = redis.delete_prefix(&format!("{prefix_base}-r{round}")).await?;
                eprintln!("    {deleted} Redis keys deleted");
            }
        }
    }

    let plain = medians(&plain);
    let credentials = medians(&credentials);
    println!(
        "\nN={} codes per store and round, C={} connections, {} round(s); medians; servers in-process, so \
         `cpu µs/op` is the whole process (driver + servers) per request",
        args.n, args.concurrency, args.rounds
    );
    println!("\n| request | req/s | p50 ms | p99 ms | cpu µs/op | × plain route |");
    println!("|---|---:|---:|---:|---:|---:|");
    row("plain route (proxy metadata GET)", plain, plain.per_second);
    row("dev IdP client_credentials (RS256)", credentials, plain.per_second);
    let [memory_exchange, redis_exchange] = [medians(&exchanges[0]), medians(&exchanges[1])];
    let [memory_refresh, redis_refresh] = [medians(&refreshes[0]), medians(&refreshes[1])];
    row("code exchange, memory", memory_exchange, plain.per_second);
    row("code exchange, Redis", redis_exchange, plain.per_second);
    row("refresh, memory", memory_refresh, plain.per_second);
    row("refresh, Redis", redis_refresh, plain.per_second);
    println!(
        "\nRedis/memory: exchanges {:.2}, refreshes {:.2}; exchange/client_credentials: memory {:.2}, Redis {:.2}",
        redis_exchange.per_second / memory_exchange.per_second,
        redis_refresh.per_second / memory_refresh.per_second,
        memory_exchange.per_second / credentials.per_second,
        redis_exchange.per_second / credentials.per_second,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let redis = RawRedis::connect(&args.redis_url)
        .await
        .context("scenario F needs Redis (`redis-server`, or point --redis-url at one)")?;
    let prefix_base = format!("mcp-auth-bench-token-{}", mcp_auth_examples::keys::random_hex(6)?);
    let outcome = run(&args, &redis, &prefix_base).await;
    // Whatever happened, leave nothing behind under this run's prefixes.
    for round in 0..args.rounds {
        redis.delete_prefix(&format!("{prefix_base}-r{round}")).await?;
    }
    outcome
}
