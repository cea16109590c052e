//! [`ClientRegistry`]: operator-configured clients plus dynamically registered ones in a
//! [`KvStorage`], with registrations that expire when unused and a registration rate ceiling shared by
//! every instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::StoreError;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::metrics::FlowEvent;
use mcp_auth_core::store::{JsonCollection, KvStorage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{OAuthError, record_flow};
use crate::metadata_document::ClientMetadataResolver;
use crate::registration::{RegistrationPolicy, registration_response};
use crate::secrets::random_token;

/// The longest client id looked up; longer ones are unknown without a store round trip.
pub const MAX_CLIENT_ID_LEN: usize = 256;
const WINDOW_SECS: u64 = 3600;
/// How often a registration counter update is retried when other instances win the race.
const COUNTER_ATTEMPTS: usize = 64;

/// A dynamically registered client as stored: the client and when its lifetime was last renewed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Registration {
    client: Client,
    renewed_at: u64,
}

/// A registration just made: the client and, for a confidential one, its secret, which exists only
/// here and in the answer (the store keeps a hash). `Debug` hides the secret.
pub struct NewRegistration {
    /// The registered client.
    pub client: Client,
    secret: Option<String>,
}

impl fmt::Debug for NewRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRegistration")
            .field("client", &self.client)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl NewRegistration {
    /// The RFC 7591 §3.2.1 answer body (send it with status 201 and [`no_store`](crate::no_store)).
    #[must_use]
    pub fn response_body(&self) -> Value {
        registration_response(&self.client, self.secret.as_deref())
    }
}

/// Looks clients up and registers new ones.
///
/// Configured clients come first and never expire. Dynamic ones live in the collection
/// `<namespace>_clients` for the policy's TTL, renewed (at most once per half TTL, to keep reads cheap)
/// whenever they are looked up. Registrations are counted per clock hour in
/// `<namespace>_registrations` with compare-and-swap, so the ceiling holds across instances.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::store::MemoryStore;
/// use mcp_auth_oauth_server::{Client, ClientRegistry, RegistrationPolicy};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let registry = ClientRegistry::new(Arc::new(MemoryStore::new()), "demo", RegistrationPolicy::default())
///     .with_client(Client::public("cli", ["http://127.0.0.1/cb"]).unwrap().native())
///     .unwrap();
/// let metadata = serde_json::json!({"redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none"});
/// let registered = registry.register(metadata.as_object().unwrap()).await.unwrap();
/// let id = registered.client.client_id.clone();
/// assert!(registry.get(&id).await.unwrap().is_some());
/// assert!(registry.get("cli").await.unwrap().is_some());
/// # });
/// ```
#[derive(Clone)]
pub struct ClientRegistry {
    configured: HashMap<String, Client>,
    clients: JsonCollection<Registration>,
    store: Arc<dyn KvStorage>,
    counters: String,
    policy: RegistrationPolicy,
    clock: SharedClock,
    documents: Option<Arc<dyn ClientMetadataResolver>>,
}

impl fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("configured", &self.configured.keys().collect::<Vec<_>>())
            .field("collection", &self.clients.name())
            .field("policy", &self.policy)
            .field("metadata_documents", &self.documents)
            .finish_non_exhaustive()
    }
}

/// Two configured clients share an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two configured clients have the id {0:?}")]
pub struct DuplicateClient(pub String);

impl ClientRegistry {
    /// A registry over `store`, with collections named after `namespace`, and the system clock.
    pub fn new(store: Arc<dyn KvStorage>, namespace: &str, policy: RegistrationPolicy) -> Self {
        Self {
            configured: HashMap::new(),
            clients: JsonCollection::new(Arc::clone(&store), format!("{namespace}_clients")),
            store,
            counters: format!("{namespace}_registrations"),
            policy,
            clock: mcp_auth_core::clock::system_clock(),
            documents: None,
        }
    }

    /// Resolves client ids that `resolver` handles (Client ID Metadata Document URLs) through it.
    #[must_use]
    pub fn with_metadata_documents(mut self, resolver: Arc<dyn ClientMetadataResolver>) -> Self {
        self.documents = Some(resolver);
        self
    }

    /// The metadata document resolver, if any.
    #[must_use]
    pub fn metadata_documents(&self) -> Option<&Arc<dyn ClientMetadataResolver>> {
        self.documents.as_ref()
    }

    /// Uses `clock` for registration times and expiry.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds an operator-configured client.
    ///
    /// # Errors
    ///
    /// [`DuplicateClient`] when a configured client already has this id.
    pub fn with_client(mut self, client: Client) -> Result<Self, DuplicateClient> {
        if self.configured.contains_key(&client.client_id) {
            return Err(DuplicateClient(client.client_id));
        }
        self.configured.insert(client.client_id.clone(), client);
        Ok(self)
    }

    /// The registration policy.
    pub fn policy(&self) -> &RegistrationPolicy {
        &self.policy
    }

    /// A client by id: configured first, then a metadata document's (when a resolver handles the id; a
    /// document that cannot be used is no client, logged), then registered (renewing its lifetime).
    ///
    /// # Errors
    ///
    /// The store's error; [`StoreError::Unavailable`] when a metadata document cannot be fetched now.
    pub async fn get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        if let Some(client) = self.configured.get(client_id) {
            return Ok(Some(client.clone()));
        }
        if let Some(documents) = self.documents.as_ref().filter(|d| d.handles(client_id)) {
            return match documents.resolve(client_id).await {
                Ok(client) => Ok(Some(client)),
                // A document host that is down is an outage (503), never an unknown client: clients
                // drop their credentials on `invalid_client`.
                Err(error) if error.is_unavailable() => {
                    tracing::warn!(client_id, %error, "client metadata document unavailable");
                    Err(StoreError::Unavailable { backend: "client metadata document", source: error.into() })
                }
                Err(error) => {
                    tracing::info!(client_id, %error, "client metadata document not usable");
                    Ok(None)
                }
            };
        }
        if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_LEN {
            return Ok(None);
        }
        let Some(mut registration) = self.clients.get(client_id).await? else { return Ok(None) };
        let now = self.clock.unix_seconds();
        let ttl = self.policy.ttl();
        if now.saturating_sub(registration.renewed_at) >= ttl.as_secs() / 2 {
            registration.renewed_at = now;
            self.clients.put(client_id, &registration, Some(ttl)).await?;
            tracing::debug!(client_id, "client registration renewed");
        }
        Ok(Some(registration.client))
    }

    /// Validates `metadata` with the policy, counts the registration against the hourly ceiling, and
    /// stores a new client with a fresh id (and secret, unless it asked for `none`).
    ///
    /// # Errors
    ///
    /// `invalid_client_metadata` / `invalid_redirect_uri` for bad metadata, 429 past the ceiling, and the
    /// store's errors as `temporarily_unavailable` / `server_error`.
    pub async fn register(&self, metadata: &Map<String, Value>) -> Result<NewRegistration, OAuthError> {
        let result = self.register_client(metadata).await;
        record_flow(FlowEvent::Registration, &result);
        result
    }

    async fn register_client(&self, metadata: &Map<String, Value>) -> Result<NewRegistration, OAuthError> {
        let mut client = self.policy.validate(metadata)?;
        self.count_registration().await?;
        let random = |bytes| {
            random_token(bytes).map_err(|error| {
                tracing::error!(%error, "no randomness for a client registration");
                OAuthError::server_error()
            })
        };
        client.client_id = format!("client_{}", random(16)?);
        let secret = if client.token_endpoint_auth_method == openidconnect::core::CoreClientAuthMethod::None {
            None
        } else {
            Some(format!("secret_{}", random(32)?))
        };
        let now = self.clock.unix_seconds();
        client.client_id_issued_at = now;
        client.set_secret(secret.as_deref());
        let registration = Registration { client: client.clone(), renewed_at: now };
        // A fresh 128-bit id never collides; put_if_absent makes sure of it.
        if !self.clients.put_if_absent(&client.client_id, &registration, Some(self.policy.ttl())).await? {
            tracing::error!("a fresh client id was already taken");
            return Err(OAuthError::server_error());
        }
        tracing::info!(
            client_id = %client.client_id,
            application_type = ?client.application_type,
            auth_method = %client.token_endpoint_auth_method.as_ref(),
            "client registered"
        );
        Ok(NewRegistration { client, secret })
    }

    /// Adds one to this hour's registration count, or refuses when the ceiling is reached.
    async fn count_registration(&self) -> Result<(), OAuthError> {
        let max = self.policy.max_per_hour();
        let now = self.clock.unix_seconds();
        let window = now - now % WINDOW_SECS;
        let key = window.to_string();
        for _ in 0..COUNTER_ATTEMPTS {
            let current = self.store.get(&self.counters, &key).await?;
            let count = match &current {
                None => 0,
                Some(bytes) => {
                    std::str::from_utf8(bytes).ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(u32::MAX)
                }
            };
            if count >= max {
                let retry_after = (window + WINDOW_SECS).saturating_sub(now).max(1);
                tracing::warn!(max, "client registration ceiling reached for this hour");
                return Err(OAuthError::invalid_client_metadata(
                    "too many clients registered this hour; try again later",
                )
                .too_many_requests(retry_after));
            }
            let next = (count + 1).to_string();
            let ttl = Some(Duration::from_secs(2 * WINDOW_SECS));
            if self
                .store
                .compare_and_swap(&self.counters, &key, current.as_deref(), next.as_bytes(), ttl)
                .await?
            {
                return Ok(());
            }
            yield_now().await;
        }
        tracing::warn!("registration counter kept losing races");
        Err(OAuthError::temporarily_unavailable(1))
    }
}

/// Lets other tasks run between compare-and-swap attempts, whatever the runtime.
async fn yield_now() {
    struct YieldOnce(bool);
    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            if self.0 {
                std::task::Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }
    YieldOnce(false).await;
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::clock::ManualClock;
    use mcp_auth_core::store::MemoryStore;
    use serde_json::json;

    use super::*;

    fn metadata() -> Map<String, Value> {
        let Value::Object(map) =
            json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"})
        else {
            unreachable!()
        };
        map
    }

    #[tokio::test]
    async fn unused_registrations_expire_and_every_use_renews_them() {
        let clock = ManualClock::at_unix(1_000_000);
        let store = Arc::new(MemoryStore::builder().clock(Arc::new(clock.clone())).build());
        let policy = RegistrationPolicy::default().client_ttl(Duration::from_secs(1000));
        let registry = ClientRegistry::new(store, "t", policy).with_clock(Arc::new(clock.clone()));
        let used = registry.register(&metadata()).await.unwrap().client.client_id;
        let unused = registry.register(&metadata()).await.unwrap().client.client_id;
        for _ in 0..5 {
            clock.advance(Duration::from_secs(600));
            assert!(registry.get(&used).await.unwrap().is_some(), "a client in use stays");
        }
        assert!(registry.get(&unused).await.unwrap().is_none(), "an unused one is gone after its TTL");
        clock.advance(Duration::from_secs(1001));
        assert!(registry.get(&used).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_hourly_ceiling_is_shared_and_resets_with_the_hour() {
        let clock = ManualClock::at_unix(3600 * 500 + 10);
        let store: Arc<dyn KvStorage> =
            Arc::new(MemoryStore::builder().clock(Arc::new(clock.clone())).build());
        let policy = RegistrationPolicy::default().max_registrations_per_hour(2);
        let a =
            ClientRegistry::new(Arc::clone(&store), "t", policy.clone()).with_clock(Arc::new(clock.clone()));
        let b = ClientRegistry::new(store, "t", policy).with_clock(Arc::new(clock.clone()));
        a.register(&metadata()).await.unwrap();
        b.register(&metadata()).await.unwrap();
        let refused = a.register(&metadata()).await.unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(b.register(&metadata()).await.is_err(), "the other instance sees the same count");
        clock.advance(Duration::from_secs(3600));
        assert!(b.register(&metadata()).await.is_ok(), "a new hour, a new count");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_registrations_never_pass_the_ceiling() {
        let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
        // A fixed clock, so the race never straddles the turn of an hour.
        let clock: SharedClock = Arc::new(ManualClock::at_unix(3600 * 700 + 5));
        let registry =
            ClientRegistry::new(store, "t", RegistrationPolicy::default().max_registrations_per_hour(10))
                .with_clock(clock);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let registry = registry.clone();
            tasks.spawn(async move { registry.register(&metadata()).await.is_ok() });
        }
        let accepted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
        assert_eq!(accepted, 10);
    }

    #[test]
    fn duplicates_and_debug() {
        let registry = ClientRegistry::new(Arc::new(MemoryStore::new()), "t", RegistrationPolicy::default())
            .with_client(Client::confidential("p", "hidden-secret", ["https://a.example/cb"]).unwrap())
            .unwrap();
        assert!(!format!("{registry:?}").contains("hidden-secret"));
        let again = registry.with_client(Client::public("p", ["https://a.example/cb"]).unwrap());
        assert_eq!(again.unwrap_err(), DuplicateClient("p".to_owned()));
        let new =
            NewRegistration { client: Client::dynamic("c".into(), Some("s3")), secret: Some("s3".into()) };
        assert!(!format!("{new:?}").contains("s3\""));
    }
}
