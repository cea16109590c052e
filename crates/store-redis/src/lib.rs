//! A Redis backend for the mcp-auth [`KvStorage`]: state shared by every server instance that points at the
//! same Redis, with automatic reconnects and bounded waits.
//!
//! - Entries live under `<prefix>:<collection>:<key>` (prefix `mcp-auth` by default). In the prefix part
//!   `%` and `:` are percent-encoded, in the collection part `%`, `:`, `{` and `}`; the key part is stored
//!   as given. Neither of the first two parts then holds a `:`, so no two (prefix, collection, key)
//!   triples share a Redis key: collections `("a:b", "c")` and `("a", "b:c")` stay apart, and so do two
//!   deployments with prefixes `a:b` and `a` (`a%3Ab:c:k` and `a:b:c:k`). A prefix without `%` or `:`
//!   appears as it is; [`RedisStore::key_prefix`] gives the escaped form.
//! - TTLs are Redis expirations (`SET .. PX`), so Redis removes expired entries itself.
//! - `put_if_absent` is `SET .. NX`, `take` is `GETDEL` (Redis 6.2 or later): atomic across every
//!   process, which is what one-time authorization codes need.
//! - `compare_and_swap` is one Lua script (`GET`, compare, `SET .. PX`) run with `EVALSHA`, falling back
//!   to loading it on `NOSCRIPT`: atomic on the server, on one key (so one slot in a cluster).
//! - `remaining_ttl` is `PTTL` (`-2`: no entry, `-1`: no TTL).
//! - `list_keys` is one `SCAN MATCH` per page, with the prefix and collection glob-escaped and the `SCAN`
//!   cursor in the page's cursor; `limit` is the `SCAN COUNT` hint, so a page may hold a few more keys
//!   (or none) and a key may come twice in a walk.
//! - Every call is bounded: connect and response timeouts in the connection, plus an overall operation
//!   timeout. While Redis is unreachable every call fails fast with [`StoreError::Unavailable`]
//!   (`backend: "redis"`, which HTTP layers answer with 503), and the store reconnects by itself once
//!   Redis is back; there is nothing to rebuild.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tls` | no | `rediss://` URLs (rustls with aws-lc-rs, the platform's root certificates) |
//! | `cluster` | no | Redis Cluster through `RedisStoreBuilder::cluster` |
//!
//! # Configuration
//!
//! [`RedisStore::from_settings`] reads `MCP_AUTH_REDIS_URL` (default `redis://127.0.0.1:6379`) and
//! `MCP_AUTH_REDIS_PREFIX` (default `mcp-auth`).
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use mcp_auth_core::store::KvStorage;
//! use mcp_auth_store_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), mcp_auth_core::StoreError> {
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .prefix("my-app")
//!     .response_timeout(Duration::from_millis(500))
//!     .connect()
//!     .await?;
//! store.put("codes", "abc", b"payload", Some(Duration::from_secs(60))).await?;
//! assert_eq!(store.take("codes", "abc").await?.as_deref(), Some(&b"payload"[..]));
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::store::{Expiry, KeyPage, KvStorage, StoreError, validate_key};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, Script, ScriptInvocation, ServerErrorKind};

/// The backend name in this crate's [`StoreError`]s.
pub const BACKEND: &str = "redis";
/// The URL used when none is configured.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "mcp-auth";

/// A TTL beyond this many milliseconds (about 31,000 years) is stored without expiry, like the memory
/// store does with TTLs it cannot represent.
const MAX_TTL_MS: u128 = 1_000_000_000_000_000;

/// The largest `SCAN COUNT` one `list_keys` page asks for, so a huge `limit` cannot stall Redis.
const MAX_SCAN_COUNT: usize = 10_000;
/// Redis cursors are this prefix and the `SCAN` cursor.
const CURSOR_PREFIX: &str = "r1:";

/// A configuration the store refuses to start with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL does not parse as a Redis URL.
    #[error("MCP_AUTH_REDIS_URL / the Redis URL is not a valid redis:// or rediss:// URL")]
    InvalidUrl(#[source] RedisError),
    /// A `rediss://` URL was given but the crate was built without TLS.
    #[error("a rediss:// URL needs the `tls` feature of mcp-auth-store-redis; enable it or use redis://")]
    TlsNotEnabled,
    /// The key prefix is unusable.
    #[error("MCP_AUTH_REDIS_PREFIX / the Redis key prefix is invalid: {reason}")]
    InvalidPrefix {
        /// What is wrong and what to change.
        reason: &'static str,
    },
    /// Reading the settings failed.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// The overall operation timeout expired: Redis did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("Redis did not answer within {0:?}")]
pub struct OperationTimedOut(pub Duration);

/// Redis answered with something this store does not expect (a changed protocol, or a foreign key
/// under the prefix).
#[derive(Debug, thiserror::Error)]
#[error("Redis answered {command} with {reply}, which this store does not expect")]
#[non_exhaustive]
pub struct UnexpectedReply {
    /// The command sent.
    pub command: &'static str,
    /// What came back.
    pub reply: String,
}

fn config_error(err: RedisConfigError) -> StoreError {
    StoreError::Backend { backend: BACKEND, source: Box::new(err) }
}

/// Whether a Redis error means "cannot reach Redis now" (retry later, HTTP 503) rather than a bug or a
/// misconfiguration.
fn is_unreachable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::Io
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                )
        )
}

fn map_error(err: RedisError) -> StoreError {
    if is_unreachable(&err) {
        StoreError::Unavailable { backend: BACKEND, source: Box::new(err) }
    } else {
        StoreError::Backend { backend: BACKEND, source: Box::new(err) }
    }
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// How prefix, collection and key map to Redis keys: `<prefix>:<collection>:<key>`, with `%` and `:`
/// percent-encoded in the prefix, and `%`, `:`, `{` and `}` in the collection. Neither part then holds a
/// `:`, so the first two colons split any Redis key back into its prefix, collection and key, and two
/// different (prefix, collection, key) triples never share a Redis key or a `SCAN` pattern.
#[derive(Debug, Clone)]
struct Layout {
    /// The prefix as configured (not escaped).
    prefix: String,
    /// In cluster mode the collection is a hash tag, so a collection's keys share one slot and one
    /// `SCAN` on that slot's node lists them.
    hash_tag: bool,
}

impl Layout {
    /// The prefix as it begins every Redis key: `%` and `:` percent-encoded. Prefixes without them (the
    /// default `mcp-auth` included) are unchanged.
    fn prefix_part(&self) -> String {
        let mut out = String::with_capacity(self.prefix.len());
        for ch in self.prefix.chars() {
            match ch {
                '%' => out.push_str("%25"),
                ':' => out.push_str("%3A"),
                other => out.push(other),
            }
        }
        out
    }

    fn collection_part(&self, collection: &str) -> String {
        let mut out = String::with_capacity(collection.len() + 2);
        if self.hash_tag {
            out.push('{');
        }
        for ch in collection.chars() {
            match ch {
                '%' => out.push_str("%25"),
                ':' => out.push_str("%3A"),
                '{' => out.push_str("%7B"),
                '}' => out.push_str("%7D"),
                other => out.push(other),
            }
        }
        if self.hash_tag {
            out.push('}');
        }
        out
    }

    fn collection_prefix(&self, collection: &str) -> String {
        format!("{}:{}:", self.prefix_part(), self.collection_part(collection))
    }

    fn key(&self, collection: &str, key: &str) -> String {
        let mut out = self.collection_prefix(collection);
        out.push_str(key);
        out
    }

    fn scan_pattern(&self, collection: &str) -> String {
        let mut pattern = glob_escape(&self.collection_prefix(collection));
        pattern.push('*');
        pattern
    }
}

/// Escapes the characters `SCAN MATCH` treats as glob syntax.
fn glob_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() + 8);
    for ch in literal.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A [`KvStorage`] in Redis. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    layout: Layout,
    operation_timeout: Duration,
    endpoint: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.connection {
            Connection::Single(_) => "single",
            #[cfg(feature = "cluster")]
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("endpoint", &self.endpoint)
            .field("mode", &mode)
            .field("prefix", &self.layout.prefix)
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisStore`]: URL, prefix and timeouts.
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    operation_timeout: Option<Duration>,
    reconnect_attempts: usize,
    #[cfg(feature = "tls")]
    tls_root_cert: Option<Vec<u8>>,
    #[cfg(feature = "cluster")]
    cluster_nodes: Option<Vec<String>>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("reconnect_attempts", &self.reconnect_attempts)
            .finish_non_exhaustive()
    }
}

/// The URL with any `user:password@` part replaced, for logs and `Debug`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}[credentials redacted]{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl RedisStoreBuilder {
    /// The key prefix (default `mcp-auth`): keys are `<prefix>:<collection>:<key>`. Give each deployment
    /// sharing a Redis its own prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one connection attempt may take (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long Redis may take to answer one command (default 2 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The most one store call may take in all, reconnect included (default: the connect timeout
    /// plus the response timeout). Past it the call fails with [`StoreError::Unavailable`].
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// How many times a broken connection is retried within one reconnect (default 1). Calls made while
    /// Redis is down fail fast either way; each later call starts a new reconnect.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// Trusts this PEM root certificate (a private CA) for `rediss://` instead of the platform's roots.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_cert = Some(pem.into());
        self
    }

    /// Connects to a Redis Cluster through these seed nodes instead of the single URL. Each collection is
    /// a hash tag (`<prefix>:{<collection>}:<key>`), so a collection's keys live on one node and
    /// `list_keys` scans just that node; the prefix must then contain no `{` or `}`.
    #[cfg(feature = "cluster")]
    pub fn cluster(mut self, nodes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.cluster_nodes = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    fn check(&self, url: &str) -> Result<redis::ConnectionInfo, StoreError> {
        if self.prefix.is_empty() {
            return Err(config_error(RedisConfigError::InvalidPrefix {
                reason: "it must not be empty (the default is mcp-auth)",
            }));
        }
        if url.starts_with("rediss:") && !cfg!(feature = "tls") {
            return Err(config_error(RedisConfigError::TlsNotEnabled));
        }
        #[cfg(feature = "tls")]
        if url.starts_with("rediss:") {
            // rustls needs a process-wide crypto provider when the build enables more than one; install
            // aws-lc-rs unless the application already chose one.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(|err| config_error(RedisConfigError::InvalidUrl(err)))?;
        Ok(info)
    }

    /// Connects and checks the connection with a `PING`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with a [`RedisConfigError`] for a bad URL or prefix;
    /// [`StoreError::Unavailable`] when Redis cannot be reached.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let operation_timeout =
            self.operation_timeout.unwrap_or(self.connect_timeout + self.response_timeout);
        #[cfg(feature = "cluster")]
        if let Some(nodes) = &self.cluster_nodes {
            if self.prefix.contains(['{', '}']) {
                return Err(config_error(RedisConfigError::InvalidPrefix {
                    reason: "in cluster mode it must not contain { or }, which Redis reads as a hash tag",
                }));
            }
            let infos = nodes.iter().map(|node| self.check(node)).collect::<Result<Vec<_>, _>>()?;
            let client = redis::cluster::ClusterClient::builder(infos)
                .connection_timeout(self.connect_timeout)
                .response_timeout(self.response_timeout)
                .retries(u32::try_from(self.reconnect_attempts).unwrap_or(u32::MAX))
                .build()
                .map_err(|err| config_error(RedisConfigError::InvalidUrl(err)))?;
            let connect = client.get_async_connection();
            let connection = tokio::time::timeout(operation_timeout, connect)
                .await
                .map_err(|_| unavailable_timeout(operation_timeout))?
                .map_err(map_error)?;
            let store = RedisStore {
                connection: Connection::Cluster(connection),
                layout: Layout { prefix: self.prefix, hash_tag: true },
                operation_timeout,
                endpoint: format!("cluster of {} seed nodes", nodes.len()),
            };
            store.ping().await?;
            return Ok(store);
        }
        let info = self.check(&self.url)?;
        let endpoint = info.addr().to_string();
        #[cfg(feature = "tls")]
        let client = match &self.tls_root_cert {
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) },
            ),
            None => redis::Client::open(info),
        };
        #[cfg(not(feature = "tls"))]
        let client = redis::Client::open(info);
        let client = client.map_err(|err| config_error(RedisConfigError::InvalidUrl(err)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.reconnect_attempts)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(map_error)?;
        let store = RedisStore {
            connection: Connection::Single(manager),
            layout: Layout { prefix: self.prefix, hash_tag: false },
            operation_timeout,
            endpoint,
        };
        store.ping().await?;
        Ok(store)
    }
}

fn unavailable_timeout(timeout: Duration) -> StoreError {
    StoreError::Unavailable { backend: BACKEND, source: Box::new(OperationTimedOut(timeout)) }
}

impl RedisStore {
    /// Connects to `url` with the default prefix and timeouts.
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// A builder for `url` (`redis://[user:password@]host:port[/db]`, or `rediss://` with the `tls`
    /// feature).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            operation_timeout: None,
            reconnect_attempts: 1,
            #[cfg(feature = "tls")]
            tls_root_cert: None,
            #[cfg(feature = "cluster")]
            cluster_nodes: None,
        }
    }

    /// A builder from `MCP_AUTH_REDIS_URL` (default `redis://127.0.0.1:6379`) and `MCP_AUTH_REDIS_PREFIX`
    /// (default `mcp-auth`).
    ///
    /// ```
    /// use mcp_auth_core::settings::Settings;
    /// use mcp_auth_store_redis::RedisStore;
    ///
    /// let settings = Settings::from_pairs([("MCP_AUTH_REDIS_PREFIX", "tenant-a")]);
    /// let builder = RedisStore::from_settings(&settings);
    /// assert!(format!("{builder:?}").contains("tenant-a"));
    /// ```
    pub fn from_settings(settings: &Settings) -> RedisStoreBuilder {
        let builder = Self::builder(settings.string("REDIS_URL").unwrap_or_else(|| DEFAULT_URL.to_owned()));
        match settings.string("REDIS_PREFIX") {
            Some(prefix) => builder.prefix(prefix),
            None => builder,
        }
    }

    /// The key prefix, as configured.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.layout.prefix
    }

    /// The prefix as it begins every Redis key of this store, for operators and scripts: the configured
    /// prefix with `%` and `:` percent-encoded (`tenant:a` becomes `tenant%3Aa`; `mcp-auth` stays as it
    /// is). Every key is `<key_prefix>:<collection>:<key>`, so `SCAN MATCH <key_prefix>:*` finds this
    /// store's keys and no other's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mcp_auth_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), mcp_auth_core::StoreError> {
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").prefix("tenant:a").connect().await?;
    /// assert_eq!(store.key_prefix(), "tenant%3Aa");
    /// assert_eq!(store.redis_key("codes", "abc"), "tenant%3Aa:codes:abc");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn key_prefix(&self) -> String {
        self.layout.prefix_part()
    }

    /// The Redis key that holds `key` of `collection`, for operators inspecting Redis.
    #[must_use]
    pub fn redis_key(&self, collection: &str, key: &str) -> String {
        self.layout.key(collection, key)
    }

    /// Sends `PING`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when Redis cannot be reached.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(drop)
    }

    /// Up to `limit` of this store's entries as they are in Redis, any collection: each Redis key (see
    /// [`key_prefix`](Self::key_prefix)) with its raw value, for health checks such as `mcp-auth doctor`
    /// trying the configured Fernet keys on what is stored. The walk is bounded (at most 64 `SCAN` calls),
    /// so on a large database the sample may hold fewer entries than exist; keys that vanish between the
    /// `SCAN` and the `GET` are left out. In cluster mode it samples the node the `SCAN` reaches.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when Redis cannot be reached.
    pub async fn sample_values(&self, limit: usize) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        const MAX_SCANS: usize = 64;
        let mut pattern = glob_escape(&format!("{}:", self.layout.prefix_part()));
        pattern.push('*');
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        for _ in 0..MAX_SCANS {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000);
            let (next, page): (u64, Vec<Vec<u8>>) = self.query(&cmd).await?;
            for raw in page {
                if let Ok(key) = String::from_utf8(raw)
                    && !keys.contains(&key)
                    && keys.len() < limit
                {
                    keys.push(key);
                }
            }
            cursor = next;
            if cursor == 0 || keys.len() >= limit {
                break;
            }
        }
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let value: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&key)).await?;
            if let Some(value) = value {
                entries.push((key, value));
            }
        }
        Ok(entries)
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let call = async move {
            match &mut connection {
                Connection::Single(manager) => cmd.query_async::<T>(manager).await,
                #[cfg(feature = "cluster")]
                Connection::Cluster(cluster) => cmd.query_async::<T>(cluster).await,
            }
        };
        match tokio::time::timeout(self.operation_timeout, call).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(unavailable_timeout(self.operation_timeout)),
        }
    }

    async fn scan_page(
        &self,
        collection: &str,
        pattern: &str,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count);
        #[cfg(feature = "cluster")]
        if let Connection::Cluster(cluster) = &self.connection {
            use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
            let slot_key = self.layout.collection_prefix(collection);
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
                slot_key.as_bytes(),
                SlotAddr::Master,
            )));
            let mut cluster = cluster.clone();
            let call = async move { cluster.route_command(cmd, route).await };
            let value = tokio::time::timeout(self.operation_timeout, call)
                .await
                .map_err(|_| unavailable_timeout(self.operation_timeout))?
                .map_err(map_error)?;
            return redis::from_redis_value(value)
                .map_err(|err| StoreError::Backend { backend: BACKEND, source: Box::new(err) });
        }
        let _ = collection;
        self.query(&cmd).await
    }

    fn set_cmd(&self, collection: &str, key: &str, value: &[u8], ttl: Option<Duration>, nx: bool) -> Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.layout.key(collection, key)).arg(value);
        if let Some(ms) = px_millis(ttl) {
            cmd.arg("PX").arg(ms);
        }
        if nx {
            cmd.arg("NX");
        }
        cmd
    }

    async fn invoke<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let call = async move {
            match &mut connection {
                Connection::Single(manager) => invocation.invoke_async::<T>(manager).await,
                #[cfg(feature = "cluster")]
                Connection::Cluster(cluster) => invocation.invoke_async::<T>(cluster).await,
            }
        };
        match tokio::time::timeout(self.operation_timeout, call).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(unavailable_timeout(self.operation_timeout)),
        }
    }
}

/// The `PX` argument for `ttl`: `None` for no TTL or one too large to matter ([`MAX_TTL_MS`]); a
/// sub-millisecond TTL still expires, as 1 ms, since Redis refuses `PX 0`.
fn px_millis(ttl: Option<Duration>) -> Option<u64> {
    let ms = ttl?.as_millis();
    (ms <= MAX_TTL_MS).then(|| u64::try_from(ms.max(1)).unwrap_or(u64::MAX))
}

/// `compare_and_swap` in one step on the server. `KEYS[1]`: the entry. `ARGV`: `1` when a value is
/// expected (then `ARGV[2]` is it) or `0` for "no entry", the new value, and the `PX` milliseconds or an
/// empty string for no TTL. Redis runs a script atomically and, inside it, treats an expired key as
/// missing; the one key keeps it on one slot in a cluster. `SET` without `PX` clears an old TTL, as
/// `put` does.
const CAS_LUA: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
";

/// The script, hashed once; `redis::Script` sends `EVALSHA` and loads the script when Redis answers
/// `NOSCRIPT` (a restarted or new node).
static CAS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CAS_LUA));

#[async_trait]
impl KvStorage for RedisStore {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(collection, key)?;
        self.query(redis::cmd("GET").arg(self.layout.key(collection, key))).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        validate_key(collection, key)?;
        self.query::<()>(&self.set_cmd(collection, key, value, ttl, false)).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        validate_key(collection, key)?;
        let reply: Option<String> = self.query(&self.set_cmd(collection, key, value, ttl, true)).await?;
        Ok(reply.is_some())
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        validate_key(collection, key)?;
        let px = px_millis(ttl).map(|ms| ms.to_string()).unwrap_or_default();
        let mut invocation = CAS_SCRIPT.key(self.layout.key(collection, key));
        invocation
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(new)
            .arg(px);
        let swapped: i64 = self.invoke(&invocation).await?;
        Ok(swapped == 1)
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        validate_key(collection, key)?;
        let removed: u64 = self.query(redis::cmd("DEL").arg(self.layout.key(collection, key))).await?;
        Ok(removed > 0)
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(collection, key)?;
        self.query(redis::cmd("GETDEL").arg(self.layout.key(collection, key))).await
    }

    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        validate_key(collection, key)?;
        let ms: i64 = self.query(redis::cmd("PTTL").arg(self.layout.key(collection, key))).await?;
        match ms {
            -2 => Ok(None),
            -1 => Ok(Some(Expiry::Never)),
            ms => match u64::try_from(ms) {
                Ok(ms) => Ok(Some(Expiry::In(Duration::from_millis(ms)))),
                Err(_) => Err(StoreError::Backend {
                    backend: BACKEND,
                    source: Box::new(UnexpectedReply { command: "PTTL", reply: ms.to_string() }),
                }),
            },
        }
    }

    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        validate_key(collection, "-")?;
        let scan_cursor = cursor.map_or(Ok(0), decode_cursor)?;
        let prefix = self.layout.collection_prefix(collection);
        let pattern = self.layout.scan_pattern(collection);
        let count = limit.clamp(1, MAX_SCAN_COUNT);
        let (next, page) = self.scan_page(collection, &pattern, scan_cursor, count).await?;
        let mut keys: Vec<String> = Vec::with_capacity(page.len());
        // One reply can repeat a key while Redis rehashes; repeats across pages are left to the caller.
        let mut seen = HashSet::with_capacity(page.len());
        for raw in page {
            // Every key this store writes is UTF-8; anything else under the prefix is foreign.
            match String::from_utf8(raw) {
                Ok(full) => {
                    if let Some(key) = full.strip_prefix(&prefix)
                        && seen.insert(key.to_owned())
                    {
                        keys.push(key.to_owned());
                    }
                }
                Err(_) => tracing::warn!(collection, "skipped a non-UTF-8 Redis key under the prefix"),
            }
        }
        Ok(KeyPage { keys, next: (next != 0).then(|| format!("{CURSOR_PREFIX}{next}")) })
    }
}

/// The `SCAN` cursor a `list_keys` cursor continues from. `SCAN` cursor 0 starts a walk, so it is never
/// handed out and refused here.
fn decode_cursor(cursor: &str) -> Result<u64, StoreError> {
    match cursor.strip_prefix(CURSOR_PREFIX).and_then(|n| n.parse::<u64>().ok()) {
        Some(n) if n != 0 => Ok(n),
        _ => Err(StoreError::InvalidCursor {
            reason: "not a cursor of the Redis store (start a listing with no cursor)".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_carry_a_scan_cursor_and_nothing_else() {
        assert_eq!(decode_cursor("r1:1234").unwrap(), 1234);
        for bad in ["", "1234", "r1:", "r1:0", "r1:-1", "r1:1x", "m1:key", "r1:18446744073709551616"] {
            assert!(matches!(decode_cursor(bad), Err(StoreError::InvalidCursor { .. })), "{bad:?}");
        }
    }

    /// Issue 11: the prefix was not escaped, so prefix `a:b` with collection `c` and prefix `a` with
    /// collection `b` shared Redis keys (and `SCAN`s).
    #[test]
    fn redis_prefixes_cannot_collide_between_deployments() {
        let layout = |prefix: &str| Layout { prefix: prefix.to_owned(), hash_tag: false };
        assert_ne!(layout("a:b").key("c", "k"), layout("a").key("b", "c:k"));
        assert_ne!(layout("a%3Ab").key("c", "k"), layout("a:b").key("c", "k"));
        assert_eq!(layout("a:b").key("c", "k"), "a%3Ab:c:k");
        assert_eq!(layout("100%").key("c", "k"), "100%25:c:k");
        assert_eq!(layout("mcp-auth").key("c", "k"), "mcp-auth:c:k", "ordinary prefixes are unchanged");
        assert_eq!(layout("a").scan_pattern("b"), "a:b:*", "does not match a%3Ab:c:k");
    }

    #[test]
    fn layout_escapes_collections_and_globs() {
        let layout = Layout { prefix: "p*".to_owned(), hash_tag: false };
        assert_eq!(layout.key("a:b", "c"), "p*:a%3Ab:c");
        assert_ne!(layout.key("a:b", "c"), layout.key("a", "b:c"));
        assert_eq!(layout.key("100%", "k"), "p*:100%25:k");
        assert_eq!(layout.scan_pattern("[x]?"), "p\\*:\\[x\\]\\?:*");
        let cluster = Layout { prefix: "p".to_owned(), hash_tag: true };
        assert_eq!(cluster.key("{a}", "k"), "p:{%7Ba%7D}:k");
    }

    #[tokio::test]
    async fn bad_configuration_is_refused_with_a_clear_error() {
        let err = RedisStore::connect("not a url").await.unwrap_err();
        assert!(matches!(err, StoreError::Backend { backend: "redis", .. }), "{err:?}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("not a valid redis"), "{source}");
        let err = RedisStore::builder(DEFAULT_URL).prefix("").connect().await.unwrap_err();
        assert!(std::error::Error::source(&err).unwrap().to_string().contains("must not be empty"));
        #[cfg(not(feature = "tls"))]
        {
            let err = RedisStore::connect("rediss://127.0.0.1:6379").await.unwrap_err();
            assert!(std::error::Error::source(&err).unwrap().to_string().contains("`tls` feature"));
        }
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        let builder = RedisStore::builder("redis://user:hunter2@redis.internal:6379/0");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("user:"), "{shown}");
        assert!(shown.contains("redis.internal:6379"), "{shown}");
    }

    #[test]
    fn settings_give_url_and_prefix() {
        let builder = RedisStore::from_settings(&Settings::from_pairs([
            ("MCP_AUTH_REDIS_URL", "redis://10.0.0.5:6380/2"),
            ("MCP_AUTH_REDIS_PREFIX", "tenant"),
        ]));
        assert_eq!(builder.url, "redis://10.0.0.5:6380/2");
        assert_eq!(builder.prefix, "tenant");
        let builder = RedisStore::from_settings(&Settings::from_pairs([("X", "y")]));
        assert_eq!((builder.url.as_str(), builder.prefix.as_str()), (DEFAULT_URL, DEFAULT_PREFIX));
    }
}
