//! [`TokenExchanger`]: trades the verified caller's access token for one to another API (RFC 8693), with
//! the cache and the single flight in front of the authorization server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::AccessToken;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::flight::SingleFlight;
use mcp_auth_core::scope::is_scope_token;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::Instrument as _;
use url::Url;

use super::cache::{CacheKey, MemoryCache};
use super::check::{Expected, check};
use super::error::ExchangeError;
use super::shared::SharedTokenCache;
use super::token::ExchangedToken;
use super::types::{Target, TokenType};
use super::upstream::{self, ClientAuth, Endpoint, Request};

/// The default number of exchanged tokens kept in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The default margin before expiry at which a cached token is exchanged again.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// Exchanges the verified caller's access token for an access token to another API, as the same user,
/// through the authorization server's RFC 8693 token-exchange grant, never by passing the MCP token on.
///
/// This server authenticates with its own client credentials; the new token's `aud` is the API, its
/// `sub` the user, and its `act.sub` this server's client, all checked before use. Tokens are cached per
/// user, organization, resource and scopes until [`refresh_before`](TokenExchangerBuilder::refresh_before)
/// their expiry; concurrent requests for the same key make one call. Clones share the cache.
///
/// In rmcp tools, call it through the caller: put an `Arc<TokenExchanger>` into the request extensions
/// (`AuthKitProvider` does) and use [`Caller::exchange_for`](crate::rmcp::Caller::exchange_for).
///
/// # Examples
///
/// ```no_run
/// use mcp_auth_core::AccessToken;
/// use mcp_auth_remote::exchange::TokenExchanger;
///
/// # async fn run(caller_token: &AccessToken) -> Result<(), Box<dyn std::error::Error>> {
/// let exchanger = TokenExchanger::builder("client_01MCPSERVER", "sk_client_secret")
///     .token_endpoint("https://your-app.authkit.app/oauth2/token")
///     .build()?;
/// let token = exchanger.exchange(caller_token, "https://api.example.com", &["orders:read"]).await?;
/// let orders = reqwest::Client::new()
///     .get("https://api.example.com/orders")
///     .bearer_auth(token.expose_secret())
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenExchanger {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    client_id: String,
    client_secret: SecretString,
    client_auth: ClientAuth,
    target: Target,
    token_type: TokenType,
    http: reqwest::Client,
    clock: SharedClock,
    cache: MemoryCache,
    shared: Option<SharedTokenCache>,
    flight: SingleFlight<CacheKey, Result<ExchangedToken, ExchangeError>>,
}

impl fmt::Debug for TokenExchanger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchanger")
            .field("endpoint", &self.inner.endpoint)
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &"[redacted]")
            .field("target", &self.inner.target)
            .field("cached", &self.inner.cache.len())
            .field("shared", &self.inner.shared)
            .finish_non_exhaustive()
    }
}

impl TokenExchanger {
    /// Starts building an exchanger for this server's client (`client_id`, `client_secret`), which the
    /// authorization server must allow to use the token-exchange grant.
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> TokenExchangerBuilder {
        TokenExchangerBuilder {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            endpoint: None,
            client_auth: ClientAuth::Post,
            target: Target::Resource,
            token_type: TokenType::AccessToken,
            http: None,
            clock: system_clock(),
            capacity: DEFAULT_CACHE_CAPACITY,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            shared: None,
        }
    }

    /// This server's client id: the `act.sub` of every token it obtains.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// An access token to `resource` (the API's URL, its audience) with `scopes`, for the user `subject`
    /// is about: from the cache, else from the authorization server.
    ///
    /// # Errors
    ///
    /// [`ExchangeError`]: a bad `resource` or scope, or a subject token without a user (nothing sent);
    /// `invalid_grant`, `unauthorized_client` or another refusal; an outage (retryable); an answer that
    /// fails the checks.
    pub async fn exchange<S: AsRef<str>>(
        &self,
        subject: &AccessToken,
        resource: &str,
        scopes: &[S],
    ) -> Result<ExchangedToken, ExchangeError> {
        let key = self.key(subject, resource, scopes)?;
        let span = tracing::info_span!("token_exchange", user = %key.user, resource = %key.resource);
        async {
            let inner = &self.inner;
            if let Some(token) = inner.cache.get(&key, inner.clock.now()) {
                tracing::debug!("served from the cache");
                return Ok(token);
            }
            inner.flight.run(key.clone(), || self.fill(subject, key)).await
        }
        .instrument(span)
        .await
    }

    /// The cache key, after the checks that need no network.
    fn key<S: AsRef<str>>(
        &self,
        subject: &AccessToken,
        resource: &str,
        scopes: &[S],
    ) -> Result<CacheKey, ExchangeError> {
        let resource = resource.trim();
        if self.inner.target == Target::Resource {
            let url = Url::parse(resource).map_err(|err| {
                ExchangeError::invalid_request(format!(
                    "the resource {resource:?} is not an absolute URL: {err}"
                ))
            })?;
            if url.fragment().is_some() {
                return Err(ExchangeError::invalid_request(format!(
                    "the resource {resource:?} has a fragment"
                )));
            }
        } else if resource.is_empty() {
            return Err(ExchangeError::invalid_request("the audience is empty"));
        }
        let mut sorted = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let scope = scope.as_ref();
            if !is_scope_token(scope) {
                return Err(ExchangeError::invalid_request(format!("{scope:?} is not a valid scope")));
            }
            sorted.push(scope.to_owned());
        }
        sorted.sort();
        sorted.dedup();
        let user = subject
            .subject
            .clone()
            .or_else(|| subject.claim("sub").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| ExchangeError::invalid_request("the caller's token names no user"))?;
        let organization = ["org_id", "organization_id"]
            .into_iter()
            .find_map(|name| subject.claim(name).and_then(Value::as_str))
            .map(str::to_owned);
        Ok(CacheKey { user, organization, resource: resource.to_owned(), scopes: sorted })
    }

    /// One run for `key`: the memory cache again (a run that just ended may have filled it), the shared
    /// cache, then the authorization server; whatever is found is cached.
    async fn fill(&self, subject: &AccessToken, key: CacheKey) -> Result<ExchangedToken, ExchangeError> {
        let inner = &self.inner;
        if let Some(token) = inner.cache.get(&key, inner.clock.now()) {
            return Ok(token);
        }
        if let Some(shared) = &inner.shared
            && let Some(token) = shared.get(&inner.client_id, &key).await
            && inner.cache.is_fresh(&token, inner.clock.now())
        {
            tracing::debug!("served from the shared cache");
            inner.cache.put(key, token.clone(), inner.clock.now());
            return Ok(token);
        }
        let token = self.call(subject, &key).await?;
        let now = inner.clock.now();
        if let Some(shared) = &inner.shared
            && let Some(ttl) = inner.cache.use_for(&token, now)
        {
            shared.put(&inner.client_id, &key, &token, ttl).await;
        }
        inner.cache.put(key, token.clone(), now);
        Ok(token)
    }

    async fn call(&self, subject: &AccessToken, key: &CacheKey) -> Result<ExchangedToken, ExchangeError> {
        let inner = &self.inner;
        let endpoint = inner.endpoint.url(&inner.http).await?;
        let request = Request {
            subject_token: &subject.token,
            target: inner.target,
            resource: &key.resource,
            scopes: &key.scopes,
            token_type: &inner.token_type,
        };
        let answer = upstream::send(
            &inner.http,
            endpoint,
            &inner.client_id,
            &inner.client_secret,
            inner.client_auth,
            &request,
        )
        .instrument(tracing::info_span!("token_endpoint", url = %endpoint))
        .await
        .inspect_err(|error| tracing::warn!(%error, "token exchange failed"))?;
        let expected = Expected {
            audience: &key.resource,
            actor: &inner.client_id,
            subject: &key.user,
            scopes: &key.scopes,
            token_type: &inner.token_type,
        };
        let token = check(answer, &expected, inner.clock.now())
            .inspect_err(|error| tracing::warn!(%error, "exchanged token refused"))?;
        tracing::info!("token exchanged");
        Ok(token)
    }
}

/// Builds a [`TokenExchanger`]. Configuration is a plain value: clone it freely.
#[must_use]
#[derive(Clone)]
pub struct TokenExchangerBuilder {
    client_id: String,
    client_secret: SecretString,
    endpoint: Option<EndpointSetting>,
    client_auth: ClientAuth,
    target: Target,
    token_type: TokenType,
    http: Option<reqwest::Client>,
    clock: SharedClock,
    capacity: usize,
    refresh_before: Duration,
    shared: Option<SharedTokenCache>,
}

#[derive(Debug, Clone)]
enum EndpointSetting {
    Fixed(String),
    Discover(String),
}

impl fmt::Debug for TokenExchangerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchangerBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("endpoint", &self.endpoint)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl TokenExchangerBuilder {
    /// The token endpoint's URL (https, or http on a loopback host).
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(EndpointSetting::Fixed(url.into()));
        self
    }

    /// Reads the token endpoint from `issuer`'s RFC 8414 metadata
    /// (`{issuer}/.well-known/oauth-authorization-server`) on first use, checking that it names `issuer`.
    pub fn discover_from_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.endpoint = Some(EndpointSetting::Discover(issuer.into()));
        self
    }

    /// Authenticates with HTTP Basic (`client_secret_basic`) instead of the form (`client_secret_post`,
    /// the default, as AuthKit documents).
    pub fn client_secret_basic(mut self) -> Self {
        self.client_auth = ClientAuth::Basic;
        self
    }

    /// Names the target with the `audience` parameter (a logical name) instead of `resource` (a URL,
    /// the default).
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// The token type to ask for (default: an access token).
    pub fn requested_token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// The HTTP client (default: 5 s to connect, 10 s in all, no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock for expiry and the cache.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How many tokens to keep in memory (default [`DEFAULT_CACHE_CAPACITY`]; 0 keeps none).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// How long before its expiry a cached token is exchanged again (default [`DEFAULT_REFRESH_BEFORE`]),
    /// so a tool never receives a token about to expire on the way to the API.
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// Also keeps tokens in `cache`, shared by every instance using the same store (encrypted: see
    /// [`SharedTokenCache`]).
    pub fn shared_cache(mut self, cache: SharedTokenCache) -> Self {
        self.shared = Some(cache);
        self
    }

    /// Builds the exchanger.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::InvalidRequest`] naming the setting: no token endpoint (or issuer), one that is
    /// not https (http only on loopback hosts), an empty client id or secret; or the HTTP client failing.
    pub fn build(self) -> Result<TokenExchanger, ExchangeError> {
        use secrecy::ExposeSecret as _;
        if self.client_id.trim().is_empty() || self.client_secret.expose_secret().is_empty() {
            return Err(ExchangeError::invalid_request(
                "token exchange needs this server's client id and client secret (both non-empty)",
            ));
        }
        let parse = |what: &str, raw: &str| {
            let url = Url::parse(raw.trim()).map_err(|err| {
                ExchangeError::invalid_request(format!("the {what} {raw:?} is not a URL: {err}"))
            })?;
            upstream::check_endpoint_url(&url)
                .map_err(|why| ExchangeError::invalid_request(format!("the {what} {why}")))?;
            Ok::<_, ExchangeError>(url)
        };
        let endpoint = match self.endpoint {
            Some(EndpointSetting::Fixed(raw)) => Endpoint::Fixed(parse("token endpoint", &raw)?),
            Some(EndpointSetting::Discover(issuer)) => {
                let issuer = issuer.trim().to_owned();
                let base = parse("issuer", &issuer)?;
                let metadata_url = Url::parse(&format!(
                    "{}/.well-known/oauth-authorization-server{}",
                    base.origin().ascii_serialization(),
                    base.path().trim_end_matches('/')
                ))
                .map_err(|err| ExchangeError::invalid_request(format!("the issuer {issuer:?}: {err}")))?;
                Endpoint::Discovered { issuer, metadata_url, token_endpoint: OnceCell::new() }
            }
            None => {
                return Err(ExchangeError::invalid_request(
                    "no token endpoint: call .token_endpoint(url) or .discover_from_issuer(issuer)",
                ));
            }
        };
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|err| ExchangeError::unavailable("cannot build the HTTP client", err))?,
        };
        Ok(TokenExchanger {
            inner: Arc::new(Inner {
                endpoint,
                client_id: self.client_id,
                client_secret: self.client_secret,
                client_auth: self.client_auth,
                target: self.target,
                token_type: self.token_type,
                http,
                clock: self.clock,
                cache: MemoryCache::new(self.capacity, self.refresh_before),
                shared: self.shared,
                flight: SingleFlight::new(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchanger() -> TokenExchanger {
        TokenExchanger::builder("mcp", "secret")
            .token_endpoint("http://127.0.0.1:9/oauth2/token")
            .build()
            .unwrap()
    }

    #[test]
    fn debug_redacts_the_client_secret() {
        let builder =
            TokenExchanger::builder("mcp", "sk-very-secret").token_endpoint("https://as.example.com/token");
        assert!(!format!("{builder:?}").contains("very-secret"));
        assert!(!format!("{:?}", builder.build().unwrap()).contains("very-secret"));
    }

    #[test]
    fn build_names_what_is_missing_or_unsafe() {
        let err = TokenExchanger::builder("mcp", "s").build().unwrap_err().to_string();
        assert!(err.contains("token_endpoint"), "{err}");
        let err = TokenExchanger::builder("mcp", "s")
            .token_endpoint("http://as.example.com/t")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        let err =
            TokenExchanger::builder("", "s").token_endpoint("https://as.example.com/t").build().unwrap_err();
        assert!(err.to_string().contains("client id"), "{err}");
        assert!(TokenExchanger::builder("mcp", "s").discover_from_issuer("not a url").build().is_err());
    }

    #[tokio::test]
    async fn bad_input_is_refused_before_anything_is_sent() {
        let exchanger = exchanger();
        let subject = AccessToken::new("t").with_subject("user_ada");
        for (resource, scopes, what) in [
            ("orders", vec!["a"], "absolute URL"),
            ("https://api.example.com/#x", vec!["a"], "fragment"),
            ("https://api.example.com", vec!["two words"], "valid scope"),
            ("https://api.example.com", vec![""], "valid scope"),
        ] {
            let err = exchanger.exchange(&subject, resource, &scopes).await.unwrap_err();
            assert!(
                matches!(err, ExchangeError::InvalidRequest { .. }) && err.to_string().contains(what),
                "{err}"
            );
        }
        let nobody = AccessToken::new("t");
        let err = exchanger.exchange(&nobody, "https://api.example.com", &["a"]).await.unwrap_err();
        assert!(err.to_string().contains("names no user"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_retryable_outage() {
        let subject = AccessToken::new("t").with_subject("user_ada");
        let err = exchanger().exchange(&subject, "https://api.example.com", &["a"]).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
    }

    #[test]
    fn keys_sort_and_deduplicate_scopes() {
        let subject = AccessToken::new("t")
            .with_subject("u")
            .with_claims(serde_json::json!({"org_id": "org_1"}).as_object().unwrap().clone());
        let a = exchanger().key(&subject, "https://api.example.com", &["b", "a", "b"]).unwrap();
        let b = exchanger().key(&subject, "https://api.example.com", &["a", "b"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.organization.as_deref(), Some("org_1"));
    }
}
