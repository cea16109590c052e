//! What a deployment left in Redis, read raw with the redis crate rather than through the store: the
//! `production` self-check uses it to see that every value under its key prefix is Fernet ciphertext, with
//! no user id, client name or token in clear, and to delete the prefix's keys at the end.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use redis::aio::MultiplexedConnection;

/// How long connecting and each command may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A raw connection to Redis.
#[derive(Clone)]
pub struct RawRedis {
    connection: MultiplexedConnection,
    endpoint: String,
}

impl std::fmt::Debug for RawRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRedis").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// One Redis key and, when it holds a string, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The Redis key.
    pub key: String,
    /// Its value, or `None` when the key is not a string (or expired between the scan and the read).
    pub value: Option<Vec<u8>>,
}

/// `url` without credentials or path, for messages: `redis://host:port`.
#[must_use]
pub fn endpoint(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or("?"),
            parsed.port().unwrap_or(6379)
        ),
        Err(_) => "(an unparsable Redis URL)".to_owned(),
    }
}

impl RawRedis {
    /// Connects to `url` and sends `PING`.
    ///
    /// # Errors
    ///
    /// A malformed URL, or a Redis that does not answer within 5 s; the message says which endpoint
    /// (never the password).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let endpoint = endpoint(url);
        let client = redis::Client::open(url)
            .context("MCP_AUTH_REDIS_URL is not a valid redis:// or rediss:// URL")?;
        let answer = async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut connection).await?;
            Ok::<_, redis::RedisError>(connection)
        };
        let connection = match tokio::time::timeout(TIMEOUT, answer).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(err)) => bail!("Redis does not answer at {endpoint} (MCP_AUTH_REDIS_URL): {err}"),
            Err(_) => bail!("Redis does not answer at {endpoint} (MCP_AUTH_REDIS_URL) within {TIMEOUT:?}"),
        };
        Ok(Self { connection, endpoint })
    }

    /// The endpoint, without credentials.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every key under `prefix` (as the store writes it: `<prefix>:<collection>:<key>`).
    ///
    /// # Errors
    ///
    /// A prefix the store would escape (with `%` or `:`), or a failed `SCAN`.
    pub async fn keys(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        ensure!(
            !prefix.is_empty() && !prefix.contains([':', '%']),
            "the prefix must be non-empty, without `:` or `%`"
        );
        let pattern = format!("{}:*", glob_escape(prefix));
        let mut connection = self.connection.clone();
        let mut keys = Vec::new();
        let mut cursor = 0_u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(500);
            let page = scan.query_async::<(u64, Vec<String>)>(&mut connection);
            let (next, page) = tokio::time::timeout(TIMEOUT, page).await.context("SCAN timed out")??;
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Every key under `prefix` with its `PTTL` in milliseconds (`-1`: no TTL; `-2`: gone since the scan).
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys), or a failed `PTTL`.
    pub async fn ttls(&self, prefix: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let keys = self.keys(prefix).await?;
        let mut connection = self.connection.clone();
        let mut ttls = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("PTTL").arg(key);
            }
            let answers = tokio::time::timeout(TIMEOUT, pipe.query_async::<Vec<i64>>(&mut connection))
                .await
                .context("PTTL timed out")??;
            ttls.extend(chunk.iter().cloned().zip(answers));
        }
        Ok(ttls)
    }

    /// Every key under `prefix` with its value.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys), or a failed `TYPE` or `GET`.
    pub async fn entries(&self, prefix: &str) -> anyhow::Result<Vec<RawEntry>> {
        let mut connection = self.connection.clone();
        let mut entries = Vec::new();
        for key in self.keys(prefix).await? {
            let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut connection).await?;
            let value = if kind == "string" {
                redis::cmd("GET").arg(&key).query_async::<Option<Vec<u8>>>(&mut connection).await?
            } else {
                None
            };
            entries.push(RawEntry { key, value });
        }
        Ok(entries)
    }

    /// Deletes every key under `prefix`; returns how many there were.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys), or a failed `DEL`.
    pub async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<usize> {
        let keys = self.keys(prefix).await?;
        let mut connection = self.connection.clone();
        for chunk in keys.chunks(500) {
            redis::cmd("DEL").arg(chunk).query_async::<usize>(&mut connection).await?;
        }
        Ok(keys.len())
    }
}

/// Escapes what `SCAN MATCH` reads as glob syntax.
fn glob_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for ch in literal.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Whether `value` is a Fernet token: URL-safe base64 of the version byte `0x80`, an 8-byte timestamp, a
/// 16-byte IV, whole AES blocks of ciphertext and a 32-byte HMAC.
#[must_use]
pub fn is_fernet_token(value: &[u8]) -> bool {
    let Ok(bytes) = URL_SAFE.decode(value) else { return false };
    bytes.len() >= 1 + 8 + 16 + 16 + 32 && bytes[0] == 0x80 && (bytes.len() - 57) % 16 == 0
}

/// Checks that `entries` are ciphertext only: at least one entry, every one a string holding a Fernet
/// token, and no key or value containing any of the `cleartext` texts (each given with a label for the
/// message, which never repeats the text). Returns how many entries there were in how many collections.
///
/// # Errors
///
/// The first entry that breaks a rule, by its key.
pub fn only_ciphertext(entries: &[RawEntry], cleartext: &[(&str, &str)]) -> anyhow::Result<(usize, usize)> {
    ensure!(!entries.is_empty(), "nothing is stored under the prefix: the check would prove nothing");
    for entry in entries {
        for (label, text) in cleartext.iter().filter(|(_, text)| !text.is_empty()) {
            ensure!(!entry.key.contains(text), "the key {} contains the {label} in clear", entry.key);
            if let Some(value) = &entry.value {
                ensure!(
                    !contains(value, text.as_bytes()),
                    "the value under {} contains the {label} in clear",
                    entry.key
                );
            }
        }
        match &entry.value {
            None => bail!("{} is not a string value", entry.key),
            Some(value) => {
                ensure!(is_fernet_token(value), "the value under {} is not a Fernet token", entry.key);
            }
        }
    }
    let mut collections: Vec<&str> = entries.iter().filter_map(|entry| entry.key.split(':').nth(1)).collect();
    collections.sort_unstable();
    collections.dedup();
    Ok((entries.len(), collections.len()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcp_auth::secrecy::ExposeSecret as _;
    use mcp_auth::store::fernet::{FernetKey, FernetStore};
    use mcp_auth::store::{KvStorage as _, MemoryStore};

    use super::*;

    /// `plain` as the proxy's store wrapper writes it: through a `FernetStore`, read back raw.
    fn fernet_value(plain: &[u8]) -> Vec<u8> {
        let key = FernetKey::new(crate::keys::fernet_key().expose_secret()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let inner = Arc::new(MemoryStore::new());
            let store = FernetStore::new(Arc::clone(&inner), vec![key]).unwrap();
            store.put("grants", "k", plain, None).await.unwrap();
            inner.get("grants", "k").await.unwrap().unwrap()
        })
    }

    fn entry(key: &str, value: Option<Vec<u8>>) -> RawEntry {
        RawEntry { key: key.to_owned(), value }
    }

    #[test]
    fn ciphertext_passes_and_every_kind_of_leak_fails() {
        let secret = [("user id", "user_ada"), ("access token", "tok-123")];
        let good = [
            entry("p:grants:aa", Some(fernet_value(br#"{"user":"user_ada"}"#))),
            entry("p:clients:bb", Some(fernet_value(b"x"))),
        ];
        assert_eq!(only_ciphertext(&good, &secret).unwrap(), (2, 2));

        let cases = [
            (vec![], "nothing is stored"),
            (vec![entry("p:grants:aa", Some(br#"{"user":"user_ada"}"#.to_vec()))], "contains the user id"),
            (
                vec![entry("p:grants:tok-123", Some(fernet_value(b"x")))],
                "key p:grants:tok-123 contains the access",
            ),
            (vec![entry("p:grants:aa", Some(b"plain text".to_vec()))], "is not a Fernet token"),
            (vec![entry("p:grants:aa", None)], "is not a string value"),
        ];
        for (entries, expected) in cases {
            let err = only_ciphertext(&entries, &secret).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(!err.contains("user_ada"), "the message never repeats a secret: {err}");
        }
    }

    #[test]
    fn fernet_tokens_are_recognised_by_their_structure() {
        assert!(is_fernet_token(&fernet_value(b"hello")));
        assert!(!is_fernet_token(b"gAAAAA"));
        assert!(!is_fernet_token(URL_SAFE.encode([0x81; 89]).as_bytes()));
        assert!(!is_fernet_token(b"{\"json\":true}"));
    }

    #[test]
    fn endpoints_never_show_credentials() {
        assert_eq!(endpoint("redis://:hunter2@redis.internal:6380/0"), "redis://redis.internal:6380");
        assert_eq!(endpoint("redis://127.0.0.1"), "redis://127.0.0.1:6379");
        assert!(!endpoint("not a url hunter2").contains("hunter2"));
        assert_eq!(glob_escape("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}
