//! Client ID Metadata Documents (MCP authorization specification 2026-07-28, "Client ID Metadata
//! Documents"; draft-ietf-oauth-client-id-metadata-document): a client whose `client_id` is an https URL
//! is described by the JSON document served there. [`MetadataDocuments`] fetches such documents safely
//! from a server's point of view, validates them with the same rules as dynamic registration, and caches
//! the clients they describe.
//!
//! The parts, in the order a lookup meets them:
//!
//! 1. `client_id`: is the client id a metadata document URL ([`ClientMetadataResolver::handles`]), and one
//!    this server may fetch (no IP literal outside public unicast; the operator's host allow-list)?
//! 2. `cache`: a client the document described is kept for as long as the document's `Cache-Control`
//!    allows, within bounds; a failure for a short while; concurrent lookups of one URL share one fetch.
//! 3. `fetch` and `address`: the fetch itself, through a DNS resolver that refuses non-public addresses,
//!    with no proxy, no redirects, timeouts and a size limit.
//! 4. `document`: the document's rules (its `client_id` is its URL, no secrets, a public client), then
//!    [`RegistrationPolicy::validate`].

mod address;
mod cache;
mod client_id;
mod document;
mod fetch;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::async_trait;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_oauth_server::{
    Client, ClientMetadataResolver, ClientOrigin, MetadataDocumentError, RegistrationPolicy,
};
use tokio::sync::Semaphore;

use self::cache::{Cache, Flight, Landing, Lookup, Outcome};
use self::client_id::{ClientIdUrl, HostAllowList, UrlRefusal, display_host, shown};
use self::fetch::{FetchSettings, Fetcher};

/// Why [`MetadataDocumentsBuilder::build`] refused its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataDocumentsConfigError {
    /// A setting is out of range or contradicts another one.
    #[error("metadata documents: {setting} {message}")]
    Invalid {
        /// The builder method whose value is refused.
        setting: &'static str,
        /// What is wrong and what to do instead.
        message: String,
    },
    /// The HTTP client could not be built (the TLS backend failed to start).
    #[error("metadata documents: the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),
}

impl MetadataDocumentsConfigError {
    fn invalid(setting: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { setting, message: message.into() }
    }
}

/// Settings for [`MetadataDocuments`]; start with [`MetadataDocuments::builder`]. A plain value: clone
/// it to build several resolvers.
#[derive(Debug, Clone)]
#[must_use]
pub struct MetadataDocumentsBuilder {
    policy: RegistrationPolicy,
    allowed_hosts: Option<Vec<String>>,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    max_document_bytes: usize,
    min_cache_ttl: Duration,
    max_cache_ttl: Duration,
    max_cached_clients: usize,
    failure_ttl: Duration,
    max_cached_failures: usize,
    max_concurrent_fetches: usize,
    clock: SharedClock,
    allow_loopback_http: bool,
}

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl MetadataDocumentsBuilder {
    fn new(policy: RegistrationPolicy) -> Self {
        Self {
            policy,
            allowed_hosts: None,
            timeout: Duration::from_secs(5),
            connect_timeout: None,
            max_document_bytes: 5 * 1024,
            min_cache_ttl: Duration::from_secs(60),
            max_cache_ttl: Duration::from_secs(24 * 3600),
            max_cached_clients: 1000,
            failure_ttl: Duration::from_secs(30),
            max_cached_failures: 256,
            max_concurrent_fetches: 32,
            clock: system_clock(),
            allow_loopback_http: false,
        }
    }

    /// Only documents on these hosts are used (the MCP specification's "Trust Policies"): exact hosts
    /// (`claude.ai`, as the URL standard writes them: lower case, ASCII) and `*.` wildcards over a domain
    /// of at least two labels (`*.example.com` admits `a.example.com` and `a.b.example.com`, never
    /// `example.com` itself). A client id on any other host is refused before anything is fetched, so
    /// its host is never contacted. Unset (the default), any host may publish documents.
    pub fn allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_hosts = Some(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// The longest a fetch may take, from connecting to the last byte of the body (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting may take (default 3 s, or the [`timeout`](Self::timeout) when shorter).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The largest document accepted, in bytes (default 5,120: the draft's guidance of 5 kilobytes).
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// The shortest time a client is kept (default 60 s): also the time for a document served without
    /// `Cache-Control: max-age`, or with `no-store` or `no-cache`, so no document is fetched more often.
    pub fn min_cache_ttl(mut self, ttl: Duration) -> Self {
        self.min_cache_ttl = ttl;
        self
    }

    /// The longest time a client is kept, whatever its document's `max-age` (default 24 h).
    pub fn max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.max_cache_ttl = ttl;
        self
    }

    /// How many clients are cached (default 1,000); past it the oldest cached is dropped.
    pub fn max_cached_clients(mut self, count: usize) -> Self {
        self.max_cached_clients = count;
        self
    }

    /// How long a failure is remembered (default 30 s): until then, the same client id gets the same
    /// answer without a fetch, so a flood of bad client ids is not a flood of fetches.
    pub fn failure_ttl(mut self, ttl: Duration) -> Self {
        self.failure_ttl = ttl;
        self
    }

    /// How many failures are remembered (default 256); past it the oldest is dropped.
    pub fn max_cached_failures(mut self, count: usize) -> Self {
        self.max_cached_failures = count;
        self
    }

    /// How many documents may be fetched at once (default 32). A lookup that would start one more is
    /// answered "unavailable, try again shortly" instead of waiting.
    pub fn max_concurrent_fetches(mut self, count: usize) -> Self {
        self.max_concurrent_fetches = count;
        self
    }

    /// The clock cache lifetimes are measured with (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// **For local development only.** Accepts `http://` client ids on a loopback host
    /// (`127.0.0.0/8`, `::1`, `localhost`), and lets documents be fetched from loopback addresses, so a
    /// client under development can serve its document from the same machine. Every other address
    /// stays refused. Never turn this on where the proxy is reachable by others: anyone could then make
    /// it fetch from services listening on its own loopback interface.
    pub fn insecure_allow_loopback_http(mut self) -> Self {
        self.allow_loopback_http = true;
        self
    }

    /// Builds the resolver.
    ///
    /// # Errors
    ///
    /// [`MetadataDocumentsConfigError::Invalid`] naming the setting: a zero `timeout`,
    /// `max_document_bytes`, `failure_ttl` or `max_concurrent_fetches`; a `connect_timeout` that is zero
    /// or longer than the `timeout`; a `min_cache_ttl` longer than the `max_cache_ttl`; an
    /// `allowed_hosts` entry that is not a host or a wildcard over a domain, or an empty list.
    /// [`MetadataDocumentsConfigError::HttpClient`] when the HTTP client cannot be built.
    pub fn build(self) -> Result<MetadataDocuments, MetadataDocumentsConfigError> {
        use MetadataDocumentsConfigError as E;
        if self.timeout.is_zero() {
            return Err(E::invalid("timeout", "must be longer than zero"));
        }
        let connect_timeout = match self.connect_timeout {
            None => DEFAULT_CONNECT_TIMEOUT.min(self.timeout),
            Some(connect) if connect.is_zero() => {
                return Err(E::invalid("connect_timeout", "must be longer than zero"));
            }
            Some(connect) if connect > self.timeout => {
                return Err(E::invalid(
                    "connect_timeout",
                    format!("({connect:?}) is longer than the timeout ({:?}), which bounds it", self.timeout),
                ));
            }
            Some(connect) => connect,
        };
        if self.max_document_bytes == 0 {
            return Err(E::invalid("max_document_bytes", "must be more than zero"));
        }
        if self.min_cache_ttl > self.max_cache_ttl {
            return Err(E::invalid(
                "min_cache_ttl",
                format!("({:?}) is longer than max_cache_ttl ({:?})", self.min_cache_ttl, self.max_cache_ttl),
            ));
        }
        if self.failure_ttl.is_zero() {
            return Err(E::invalid(
                "failure_ttl",
                "must be longer than zero, so a flood of bad client ids is not a flood of fetches",
            ));
        }
        if self.max_concurrent_fetches == 0 || self.max_concurrent_fetches > Semaphore::MAX_PERMITS {
            return Err(E::invalid(
                "max_concurrent_fetches",
                format!("must be between 1 and {}", Semaphore::MAX_PERMITS),
            ));
        }
        let allowed_hosts = match &self.allowed_hosts {
            None => None,
            Some(hosts) => {
                Some(HostAllowList::parse(hosts).map_err(|error| E::invalid("allowed_hosts", error))?)
            }
        };
        let fetcher = Fetcher::new(FetchSettings {
            timeout: self.timeout,
            connect_timeout,
            max_bytes: self.max_document_bytes,
            allow_loopback: self.allow_loopback_http,
        })
        .map_err(E::HttpClient)?;
        if self.allow_loopback_http {
            tracing::warn!(
                "client metadata documents: insecure_allow_loopback_http is on; documents may be fetched from \
                 this machine's loopback addresses (for local development only)"
            );
        }
        Ok(MetadataDocuments {
            inner: Arc::new(Inner {
                cache: Cache::new(self.max_cached_clients, self.max_cached_failures),
                fetch_slots: Semaphore::new(self.max_concurrent_fetches),
                fetcher,
                allowed_hosts,
                settings: self,
            }),
        })
    }
}

/// Resolves client ids that are Client ID Metadata Document URLs into clients: the
/// [`ClientMetadataResolver`] of the OAuth proxy. Give it to the client registry with
/// [`ClientRegistry::with_metadata_documents`](mcp_auth_oauth_server::ClientRegistry::with_metadata_documents).
///
/// A client id is a metadata document URL when it is an `https` URL with a path (not only `/`), no
/// fragment, no user information, no dot segments, in the URL standard's normal form, and at most 2 KiB
/// long. Its document is then fetched, with these defences (draft-ietf-oauth-client-id-metadata-document,
/// security considerations; MCP "Authorization Server Abuse Protection"):
///
/// - **No request to an inside address.** An IP-literal host outside public unicast is refused before
///   any connection; host names are resolved by a resolver that refuses the whole answer when any
///   address is private, loopback, link-local, unique-local, carrier-grade NAT, multicast, unspecified,
///   broadcast, documentation or otherwise reserved (IPv4-mapped IPv6 forms included), and the
///   addresses it checked are the ones connected to. No proxy is used.
/// - **No redirects**: a 3xx answer is refused. **Timeouts**: 5 s in all, 3 s to connect.
///   **Size**: at most 5,120 bytes, refused as soon as more arrive. **Type**: `application/json` or a
///   `+json` type.
/// - **Trust policy**: with [`allowed_hosts`](MetadataDocumentsBuilder::allowed_hosts), documents on
///   other hosts are refused before any request.
/// - **The document** must be a JSON object whose `client_id` is the URL exactly, with a `client_name`,
///   no `client_secret` or `client_secret_expires_at`, and no `token_endpoint_auth_method` but `none`;
///   then every rule of [`RegistrationPolicy::validate`] applies (redirect URIs by `application_type`,
///   the operator's redirect allow-list, limits).
/// - **Caching**: a client is kept for the document's `Cache-Control: max-age` within 60 s and 24 h (a
///   document with `no-store`, `no-cache` or no `max-age` is kept 60 s), in at most 1,000 entries;
///   failures are kept 30 s in at most 256; concurrent lookups of one URL share one fetch, and at most
///   32 fetches run at once. Nothing grows without bound, whatever the client ids.
///
/// Errors are [`MetadataDocumentError`]s whose message is safe to show to the person signing in: it
/// names the URL and its problem, never an internal address. Timeouts, 5xx answers, 408, 429 and
/// connection failures are [unavailable](MetadataDocumentError::is_unavailable); the rest are refusals.
///
/// The HTTP client is built here, not injected: its resolver, proxy and redirect settings are the
/// defence. Cloning is cheap and clones share the cache.
///
/// # Examples
///
/// A document served on this machine, with the development allowance:
///
/// ```
/// use axum::{Json, Router, routing::get, serve::Listener as _};
/// use mcp_auth_oauth_server::{ClientMetadataResolver, ClientOrigin, RegistrationPolicy};
/// use mcp_auth_proxy::MetadataDocuments;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let listener = mcp_auth_core::serve::bind("127.0.0.1:0").await.unwrap();
/// let client_id = format!("http://{}/client.json", listener.local_addr().unwrap());
/// let document = serde_json::json!({
///     "client_id": client_id,
///     "client_name": "Example CLI",
///     "redirect_uris": ["http://127.0.0.1/callback"],
///     "token_endpoint_auth_method": "none",
/// });
/// let app = Router::new().route("/client.json", get(move || async move { Json(document) }));
/// tokio::spawn(async move { axum::serve(listener, app).await });
///
/// let documents = MetadataDocuments::builder(RegistrationPolicy::default())
///     .insecure_allow_loopback_http()
///     .build()
///     .unwrap();
/// assert!(documents.handles(&client_id));
/// let client = documents.resolve(&client_id).await.unwrap();
/// assert_eq!(client.origin, ClientOrigin::MetadataDocument);
/// assert_eq!(client.client_name.as_deref(), Some("Example CLI"));
/// assert!(MetadataDocuments::verified_host(&client).unwrap().starts_with("127.0.0.1:"));
/// # });
/// ```
#[derive(Clone)]
pub struct MetadataDocuments {
    inner: Arc<Inner>,
}

struct Inner {
    settings: MetadataDocumentsBuilder,
    allowed_hosts: Option<HostAllowList>,
    fetcher: Fetcher,
    cache: Cache,
    fetch_slots: Semaphore,
}

impl fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("MetadataDocuments")
            .field("allowed_hosts", &settings.allowed_hosts)
            .field("timeout", &settings.timeout)
            .field("max_document_bytes", &settings.max_document_bytes)
            .field("cache_ttl", &(settings.min_cache_ttl..=settings.max_cache_ttl))
            .field("insecure_allow_loopback_http", &settings.allow_loopback_http)
            .finish_non_exhaustive()
    }
}

impl MetadataDocuments {
    /// Settings for a resolver whose documents are validated with `policy` (give it the proxy's
    /// registration policy, with its redirect URI allow-list and supported scopes).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth_oauth_server::{ClientMetadataResolver, RegistrationPolicy};
    /// use mcp_auth_proxy::MetadataDocuments;
    ///
    /// let documents = MetadataDocuments::builder(RegistrationPolicy::default())
    ///     .allowed_hosts(["*.example.com", "claude.ai"])
    ///     .timeout(Duration::from_secs(3))
    ///     .build()
    ///     .unwrap();
    /// assert!(documents.handles("https://app.example.com/oauth/client.json"));
    /// assert!(documents.handles("https://elsewhere.example.org/client.json"), "refused when resolved");
    /// assert!(!documents.handles("client_5f0c"), "a registered client's id");
    /// assert!(!documents.handles("http://app.example.com/client.json"), "https only");
    /// assert!(!documents.handles("https://app.example.com/"), "no document path");
    /// assert!(!documents.handles("https://app.example.com/a/../client.json"), "dot segments");
    ///
    /// let contradictory = MetadataDocuments::builder(RegistrationPolicy::default())
    ///     .min_cache_ttl(Duration::from_secs(600))
    ///     .max_cache_ttl(Duration::from_secs(60))
    ///     .build();
    /// assert!(contradictory.unwrap_err().to_string().contains("min_cache_ttl"));
    /// ```
    pub fn builder(policy: RegistrationPolicy) -> MetadataDocumentsBuilder {
        MetadataDocumentsBuilder::new(policy)
    }

    /// The host that vouches for a client described by a metadata document: its client id's host, with
    /// the port when there is one. This is the domain a consent page shows ("app.example.com says it is
    /// Example CLI"): whoever controls it wrote the client's name and redirect URIs. `None` for any
    /// other client.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_oauth_server::{Client, RegistrationPolicy};
    /// use mcp_auth_proxy::MetadataDocuments;
    ///
    /// let url = "https://app.example.com/oauth/client.json";
    /// let document = serde_json::json!({"client_id": url, "redirect_uris": ["http://127.0.0.1/cb"]});
    /// let validated = RegistrationPolicy::default().validate(document.as_object().unwrap()).unwrap();
    /// let client = Client::from_metadata_document(url, validated);
    /// assert_eq!(MetadataDocuments::verified_host(&client).as_deref(), Some("app.example.com"));
    ///
    /// let configured = Client::public("https://app.example.com/oauth/client.json", ["http://127.0.0.1/cb"]).unwrap();
    /// assert_eq!(MetadataDocuments::verified_host(&configured), None);
    /// ```
    #[must_use]
    pub fn verified_host(client: &Client) -> Option<String> {
        if client.origin != ClientOrigin::MetadataDocument {
            return None;
        }
        display_host(&client.client_id)
    }

    /// Checks a metadata document already in hand, as [`resolve`](ClientMetadataResolver::resolve) checks
    /// the one it fetches from `client_id`: the client id's URL rules and the host allow-list, then the
    /// document's rules and this resolver's [`RegistrationPolicy`]. Nothing is fetched or cached. For
    /// tooling that vets a document before publishing it, and for the fuzz targets.
    ///
    /// # Errors
    ///
    /// [`MetadataDocumentError`] (always a refusal) naming the URL's or the document's problem.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_oauth_server::RegistrationPolicy;
    /// use mcp_auth_proxy::MetadataDocuments;
    ///
    /// let documents = MetadataDocuments::builder(RegistrationPolicy::default()).build().unwrap();
    /// let url = "https://app.example.com/client.json";
    /// let body = format!(r#"{{"client_id":"{url}","client_name":"App","redirect_uris":["http://127.0.0.1/cb"]}}"#);
    /// assert_eq!(documents.validate_document(url, body.as_bytes()).unwrap().client_id, url);
    /// assert!(documents.validate_document(url, br#"{"client_id":"https://other.example/c.json"}"#).is_err());
    /// ```
    pub fn validate_document(
        &self,
        client_id: &str,
        document: &[u8],
    ) -> Result<Client, MetadataDocumentError> {
        let url = self.inner.checked_url(client_id)?;
        document::validate(url.url().as_str(), document, &self.inner.settings.policy)
    }
}

impl Inner {
    /// The client id as a metadata document URL this server may fetch: the URL rules, then the operator's
    /// host allow-list.
    fn checked_url(&self, client_id: &str) -> Result<ClientIdUrl, MetadataDocumentError> {
        let url = ClientIdUrl::parse(client_id, self.settings.allow_loopback_http).map_err(|refusal| {
            MetadataDocumentError::refused(format!("the client_id {} {}", shown(client_id), refusal.reason()))
        })?;
        if let Some(allowed) = &self.allowed_hosts
            && !allowed.permits(url.host())
        {
            return Err(MetadataDocumentError::refused(format!(
                "the client metadata document at {} is on the host {}, which this server does not trust to \
                 describe clients",
                shown(client_id),
                url.host()
            )));
        }
        Ok(url)
    }

    /// How long a client is kept, from the freshness its document's `Cache-Control` grants.
    fn client_ttl(&self, max_age: Option<Duration>) -> Duration {
        let settings = &self.settings;
        max_age.unwrap_or(settings.min_cache_ttl).clamp(settings.min_cache_ttl, settings.max_cache_ttl)
    }

    /// The fetch behind a flight: fetches and validates the document, and caches the outcome. The
    /// flight leaves the map when this ends or is dropped.
    async fn fly(&self, url: &ClientIdUrl, flight: &Flight) -> Outcome {
        let key = url.url().as_str();
        let _landing = Landing { cache: &self.cache, key, flight };
        // A lookup taking over from a cancelled one may find the work already done.
        if let Some(outcome) = self.cache.cached(key, self.settings.clock.now()) {
            return outcome;
        }
        let Ok(_slot) = self.fetch_slots.try_acquire() else {
            tracing::warn!(
                client_id = %shown(key),
                max = self.settings.max_concurrent_fetches,
                "too many client metadata documents are being fetched at once"
            );
            return Err(MetadataDocumentError::unavailable(
                "too many client metadata documents are being fetched at once; try again shortly",
            ));
        };
        let result = match self.fetcher.fetch(url.url()).await {
            Ok(fetched) => document::validate(key, &fetched.body, &self.settings.policy)
                .map(|client| (client, self.client_ttl(fetched.max_age))),
            Err(error) => Err(error),
        };
        let now = self.settings.clock.now();
        let failure_expires_at = now.checked_add(self.settings.failure_ttl);
        match result {
            Ok((client, ttl)) => {
                tracing::info!(client_id = %shown(key), ttl_secs = ttl.as_secs(), "client metadata document accepted");
                let outcome = Ok(client);
                self.cache.store(key, &outcome, now.checked_add(ttl), failure_expires_at);
                outcome
            }
            Err(error) => {
                tracing::info!(
                    client_id = %shown(key),
                    unavailable = error.is_unavailable(),
                    %error,
                    "client metadata document not usable"
                );
                let outcome = Err(error);
                self.cache.store(key, &outcome, None, failure_expires_at);
                outcome
            }
        }
    }
}

#[async_trait]
impl ClientMetadataResolver for MetadataDocuments {
    /// Whether `client_id` is a metadata document URL (see [`MetadataDocuments`]). An IP-literal URL
    /// this server does not fetch from is one too, so that [`resolve`](Self::resolve) can say why it
    /// is refused.
    fn handles(&self, client_id: &str) -> bool {
        !matches!(
            ClientIdUrl::parse(client_id, self.inner.settings.allow_loopback_http),
            Err(UrlRefusal::Shape(_))
        )
    }

    /// The client the document at `client_id` describes: from the cache, from a fetch already in flight
    /// for the same URL, or fetched now.
    ///
    /// # Errors
    ///
    /// [`MetadataDocumentError`], refused or unavailable, with a message naming the URL's problem.
    async fn resolve(&self, client_id: &str) -> Result<Client, MetadataDocumentError> {
        let inner = &*self.inner;
        let url = inner.checked_url(client_id)?;
        let flight = match inner.cache.lookup(client_id, inner.settings.clock.now()) {
            Lookup::Cached(outcome) => return *outcome,
            Lookup::Fly(flight) => flight,
        };
        flight.get_or_init(|| inner.fly(&url, &flight)).await.clone()
    }
}
