//! Test helpers: the shared Redis (or a clear failure saying how to start one) and private
//! `redis-server` processes for fault tests.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_auth_core::store::KvStorage;
use mcp_auth_store_redis::RedisStore;

pub const SKIP_VAR: &str = "MCP_AUTH_SKIP_REDIS_TESTS";

pub fn shared_url() -> String {
    std::env::var("MCP_AUTH_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| mcp_auth_store_redis::DEFAULT_URL.to_owned())
}

/// Whether Redis tests are skipped on purpose (`MCP_AUTH_SKIP_REDIS_TESTS=1`, never in CI).
pub fn skipped() -> bool {
    let skip = std::env::var(SKIP_VAR).is_ok_and(|v| v == "1");
    if skip {
        eprintln!("NOTICE: {SKIP_VAR}=1: Redis test skipped");
    }
    skip
}

/// A unique prefix for one test.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("mcp-auth-test:{test}:{}:{nanos}", std::process::id())
}

/// A store over the shared Redis with a unique prefix, or a panic that says how to start Redis.
pub async fn shared_store(test: &str) -> RedisStore {
    let url = shared_url();
    match RedisStore::builder(&url).prefix(unique_prefix(test)).connect().await {
        Ok(store) => store,
        Err(err) => panic!(
            "no Redis answers at {url} ({err}: {:?}). Start one with `redis-server --port 6379 --save '' \
             --appendonly no --daemonize yes`, point MCP_AUTH_REDIS_URL at another, or set {SKIP_VAR}=1 \
             to skip these tests locally (never in CI)",
            std::error::Error::source(&err).map(ToString::to_string)
        ),
    }
}

/// Deletes every key under the store's prefix.
pub async fn cleanup(store: &RedisStore) {
    let client = redis::Client::open(shared_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{}:*", store.key_prefix().replace('*', "\\*"));
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: u64 = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// How many keys are under the store's prefix.
pub async fn count_keys(store: &RedisStore) -> usize {
    let client = redis::Client::open(shared_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}:*", store.key_prefix())).query_async(&mut conn).await.unwrap();
    keys.len()
}

/// A private `redis-server` on a free loopback port, without persistence; killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server (install it: apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "private redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn as_dyn(store: RedisStore) -> std::sync::Arc<dyn KvStorage> {
    std::sync::Arc::new(store)
}
