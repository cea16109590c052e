//! The shared cache: exchanged tokens in a [`KvStorage`] every server instance reads, only ever through
//! a [`FernetStore`], so no token is written unencrypted outside memory.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mcp_auth_core::clock::unix_seconds;
use mcp_auth_core::store::KvStorage;
use mcp_auth_fernet::FernetStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::CacheKey;
use super::token::ExchangedToken;
use super::types::TokenType;

/// The collection exchanged tokens are stored in.
pub const COLLECTION: &str = "mcp_auth_token_exchange";

/// A store of exchanged tokens shared by server instances, encrypted by construction: the only way to
/// make one is from a [`FernetStore`].
///
/// Keys are SHA-256 hashes of the client, user, organization, resource and scopes, so the backend learns
/// neither who nor what; values are Fernet tokens bound to their key, with a TTL that ends when the cached
/// token stops being handed out.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::store::MemoryStore;
/// use mcp_auth_fernet::{FernetKey, FernetStore};
/// use mcp_auth_remote::exchange::SharedTokenCache;
///
/// let encrypted = FernetStore::new(MemoryStore::new(), vec![FernetKey::generate()]).unwrap();
/// let shared = SharedTokenCache::new(encrypted);
/// assert!(format!("{shared:?}").contains("SharedTokenCache"));
/// ```
#[derive(Clone)]
pub struct SharedTokenCache {
    store: Arc<dyn KvStorage>,
}

impl fmt::Debug for SharedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTokenCache").field("store", &self.store).finish()
    }
}

/// The stored form of an [`ExchangedToken`]; only ever serialized into a Fernet-encrypted value.
#[derive(Serialize, Deserialize)]
struct Stored {
    token: String,
    audience: String,
    scopes: Vec<String>,
    expires_at: u64,
    issued_token_type: String,
    actor: Option<String>,
}

impl SharedTokenCache {
    /// A shared cache over `store`, which encrypts every value (Fernet) before its backend sees it.
    #[must_use]
    pub fn new<S: KvStorage>(store: FernetStore<S>) -> Self {
        Self { store: Arc::new(store) }
    }

    fn store_key(client_id: &str, key: &CacheKey) -> String {
        let digest = Sha256::digest(key.canonical(client_id).as_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The token stored for `key`, if any. A store failure or an unreadable value is logged and treated
    /// as a miss: the cache only ever saves an exchange.
    pub(super) async fn get(&self, client_id: &str, key: &CacheKey) -> Option<ExchangedToken> {
        let bytes = match self.store.get(COLLECTION, &Self::store_key(client_id, key)).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::warn!(%error, "shared token-exchange cache unreadable; exchanging instead");
                return None;
            }
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .inspect_err(
                |error| tracing::warn!(%error, "shared token-exchange cache holds a malformed entry"),
            )
            .ok()?;
        if stored.audience != key.resource {
            return None;
        }
        let expires_at = UNIX_EPOCH + Duration::from_secs(stored.expires_at);
        Some(
            ExchangedToken::new(stored.token, stored.audience, stored.scopes, expires_at)
                .with_details(TokenType::parse(&stored.issued_token_type), stored.actor),
        )
    }

    /// Stores `token` under `key` for `ttl`. Failures are logged, never returned.
    pub(super) async fn put(&self, client_id: &str, key: &CacheKey, token: &ExchangedToken, ttl: Duration) {
        let stored = Stored {
            token: token.expose_secret().to_owned(),
            audience: token.audience().to_owned(),
            scopes: token.scopes().to_vec(),
            expires_at: unix_seconds(token.expires_at()),
            issued_token_type: token.issued_token_type().as_str().to_owned(),
            actor: token.actor().map(str::to_owned),
        };
        let Ok(bytes) = serde_json::to_vec(&stored) else { return };
        if let Err(error) =
            self.store.put(COLLECTION, &Self::store_key(client_id, key), &bytes, Some(ttl)).await
        {
            tracing::warn!(%error, "cannot write the shared token-exchange cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::store::MemoryStore;
    use mcp_auth_fernet::FernetKey;

    use super::*;

    #[tokio::test]
    async fn tokens_round_trip_encrypted_under_hashed_keys() {
        let backend = Arc::new(MemoryStore::new());
        let shared = SharedTokenCache::new(
            FernetStore::new(Arc::clone(&backend), vec![FernetKey::generate()]).unwrap(),
        );
        let key = CacheKey {
            user: "user_ada".into(),
            organization: Some("org_1".into()),
            resource: "https://api.example.com".into(),
            scopes: vec!["orders:read".into()],
        };
        let exp = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let token =
            ExchangedToken::new("secret-token-value", "https://api.example.com", ["orders:read"], exp)
                .with_details(TokenType::AccessToken, Some("mcp".into()));
        shared.put("mcp", &key, &token, Duration::from_secs(60)).await;
        let back = shared.get("mcp", &key).await.unwrap();
        assert_eq!(
            (back.expose_secret(), back.expires_at(), back.actor()),
            ("secret-token-value", exp, Some("mcp"))
        );
        assert!(shared.get("other-client", &key).await.is_none(), "the client is part of the key");

        let page = backend.list_keys(COLLECTION, None, 10).await.unwrap();
        assert_eq!(page.keys.len(), 1);
        assert!(!page.keys[0].contains("user_ada") && page.keys[0].len() == 64, "{}", page.keys[0]);
        let raw = backend.get(COLLECTION, &page.keys[0]).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("secret-token-value"), "encrypted at rest");
    }
}
