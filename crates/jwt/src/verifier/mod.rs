//! [`JwtVerifier`]: the verification path (size, shape, header, key choice, signature, claims, cache).
//!
//! The builder and its start-up checks are in `builder`, the header policy in `header`, the claim checks
//! in `claims`.

mod builder;
mod claims;
mod header;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use mcp_auth_core::clock::{SharedClock, unix_seconds};
use mcp_auth_core::metrics::{self, CacheResult};
use mcp_auth_core::scope::ScopeCheck;
use mcp_auth_core::{AccessToken, TokenVerifier, VerifyError};

use crate::cache::TokenCache;
use crate::error::{JwtError, Part};
use crate::jwks::RemoteJwks;
use crate::keys::{KeySet, VerifyingKey};
use crate::shared::SharedKeys;
use crate::strict;

pub use self::builder::JwtVerifierBuilder;
pub(crate) use self::claims::CLAIMS_THE_VERIFIER_READS;
use self::header::Header;

/// The default largest token accepted: 16 KiB.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 16 * 1024;
/// The default clock leeway for `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Which kind of token a verifier accepts, judged by the `token_use` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenUse {
    /// Access tokens: `token_use` absent or `access`.
    Access,
    /// Refresh tokens of [`JwtIssuer`](crate::JwtIssuer): `token_use` must be `refresh`.
    Refresh,
    /// The issuer's own access tokens, checked at its own endpoints: `token_use` must be `access`.
    OwnAccess,
}

#[derive(Debug)]
enum Keys {
    Static(Arc<KeySet>),
    Remote(Box<RemoteJwks>),
    /// The keys of a [`JwtIssuer`](crate::JwtIssuer), replaced when it rotates or removes a key.
    Shared(Arc<SharedKeys>),
}

impl Keys {
    async fn current(&self) -> Result<Arc<KeySet>, JwtError> {
        match self {
            Self::Static(keys) => Ok(Arc::clone(keys)),
            Self::Remote(remote) => remote.keys().await,
            Self::Shared(shared) => Ok(shared.keys()),
        }
    }

    /// The generation of the current keys if they are fresh; a cached token is only trusted then, so
    /// a due key refresh (which may remove keys) is never skipped by cache hits.
    fn fresh_generation(&self, now: SystemTime) -> Option<u64> {
        match self {
            Self::Static(keys) => Some(keys.generation),
            Self::Remote(remote) => remote.fresh_generation(now),
            Self::Shared(shared) => Some(shared.generation()),
        }
    }
}

struct Inner {
    keys: Keys,
    /// The allow-list. For [`Keys::Shared`] the algorithms of the current keys are the allow-list, and
    /// this one, when not empty, narrows it further.
    algorithms: Vec<Algorithm>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    required_scopes: Vec<String>,
    scope_check: ScopeCheck,
    required_typ: Option<String>,
    require_exp: bool,
    leeway: u64,
    max_token_size: usize,
    token_use: TokenUse,
    cache: Option<TokenCache>,
    clock: SharedClock,
}

impl Inner {
    /// Whether the not yet verified `payload` names an accepted issuer (or any issuer is accepted). Only
    /// decides whether an unknown `kid` may cause a JWKS refresh: a token of another issuer would be
    /// refused anyway, so its `kid` is not worth a fetch.
    fn claims_an_accepted_issuer(&self, payload: &str) -> bool {
        if self.issuers.is_empty() {
            return true;
        }
        strict::decode_object(payload, Part::Payload).is_ok_and(|claims| {
            claims
                .get("iss")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|iss| self.issuers.iter().any(|i| i == iss))
        })
    }

    /// Whether a token signed with `alg` may be checked at all.
    fn allows(&self, alg: Algorithm) -> bool {
        match &self.keys {
            Keys::Shared(shared) => {
                shared.allows(alg) && (self.algorithms.is_empty() || self.algorithms.contains(&alg))
            }
            Keys::Static(_) | Keys::Remote(_) => self.algorithms.contains(&alg),
        }
    }
}

/// Verifies JWT access tokens: signature (JWKS URL, static JWKS, PEM public key or HMAC secret), header
/// policy, and claims; implements [`TokenVerifier`].
///
/// Cheap to clone (an `Arc` inside); one instance should serve the whole process so its key and token
/// caches are shared.
///
/// # Examples
///
/// ```no_run
/// use mcp_auth_jwt::JwtVerifier;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = JwtVerifier::builder()
///     .jwks_url("https://your-app.authkit.app/oauth2/jwks")
///     .issuer("https://your-app.authkit.app")
///     .audience("https://mcp.example.com/mcp")
///     .required_scopes(["mcp:tools"])
///     .token_cache(10_000)
///     .build()?;
/// let token = verifier.verify_jwt("eyJ...").await?;
/// println!("hello {:?}", token.subject);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("JwtVerifier")
            .field("keys", &inner.keys)
            .field("algorithms", &inner.algorithms)
            .field("issuers", &inner.issuers)
            .field("audiences", &inner.audiences)
            .field("required_scopes", &inner.required_scopes)
            .field("required_typ", &inner.required_typ)
            .field("leeway", &inner.leeway)
            .field("cache", &inner.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A builder; see [`JwtVerifierBuilder`].
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder::default()
    }

    /// Verifies `token` and returns what it says, or the precise reason it is refused.
    ///
    /// # Errors
    ///
    /// A [`JwtError`] variant per failure: shape and decoding ([`JwtError::TooLarge`],
    /// [`JwtError::SegmentCount`], [`JwtError::Base64`], [`JwtError::DuplicateKey`], ...), header policy
    /// ([`JwtError::AlgNone`], [`JwtError::AlgorithmNotAllowed`], [`JwtError::UnsupportedCritical`]), keys
    /// ([`JwtError::UnknownKid`], [`JwtError::KeyMismatch`], [`JwtError::InvalidSignature`],
    /// [`JwtError::KeySourceUnavailable`]), claims ([`JwtError::Expired`], [`JwtError::WrongIssuer`],
    /// [`JwtError::WrongAudience`], [`JwtError::InsufficientScope`], ...).
    pub async fn verify_jwt(&self, token: &str) -> Result<AccessToken, JwtError> {
        if let Some(answer) = self.verify_cached(token) {
            return answer;
        }
        let inner = &*self.inner;
        // One clock read serves the key freshness, the claims and the cache entry.
        let time = inner.clock.now();
        let hash = inner.cache.as_ref().map(|cache| (cache, cache.fingerprint(token)));
        if hash.is_some() {
            metrics::record_cache(metrics::TokenCache::Jwt, CacheResult::Miss);
        }

        let now = unix_seconds(time);
        let segments = strict::split(token)?;
        let header = Header::read(&segments.header, inner)?;
        // Read early for the expiry check; an unreadable payload is reported after the key checks, as before.
        let early_claims = strict::decode_object(segments.payload, Part::Payload).ok();
        if let Some(expired) =
            early_claims.as_ref().and_then(|claims| inner.expired_before_signature(claims, now))
        {
            return Err(expired);
        }
        // Fetches completed before this request, so a fetch made meanwhile is not repeated for its kid.
        let fetches_before = match &inner.keys {
            Keys::Remote(remote) => remote.fetches(),
            Keys::Static(_) | Keys::Shared(_) => 0,
        };
        let keys = inner.keys.current().await?;
        // Keys that were due and came back the same keep their generation, and with it the tokens verified
        // under them: the cached token is the answer, not a new verification. Besides the signature check
        // saved, the token keeps its one shared info, which wrappers further out (AuthKit's profile memo)
        // key on; a fresh copy at every refresh left them an entry each time.
        if let Some((cache, hash)) = &hash
            && let Some(hit) = cache.get(hash, token, time, keys.generation)
        {
            return Ok(hit);
        }
        let keys = match (keys.select(header.kid, header.alg), &inner.keys) {
            (Err(JwtError::UnknownKid { .. }), Keys::Remote(remote)) => match header.kid {
                Some(kid) if inner.claims_an_accepted_issuer(segments.payload) => remote
                    .refresh_for_kid(kid, fetches_before)
                    .await?
                    .ok_or_else(|| JwtError::UnknownKid { kid: kid.to_owned() })?,
                Some(kid) => {
                    tracing::debug!("unknown kid in a token that names no accepted issuer: no JWKS refresh");
                    return Err(JwtError::UnknownKid { kid: kid.to_owned() });
                }
                None => keys,
            },
            (Err(err), _) => return Err(err),
            (Ok(_), _) => keys,
        };
        let key = keys.select(header.kid, header.alg)?;
        verify_signature(segments.signature, segments.message, key, header.alg)?;

        let claims = match early_claims {
            Some(claims) => claims,
            None => strict::decode_object(segments.payload, Part::Payload)?,
        };
        let (access, exp) = inner.check_claims(token, claims, now)?;
        if let Some((cache, hash)) = hash {
            cache.insert(hash, &access, exp, time, keys.generation);
        }
        Ok(access)
    }

    /// The scopes every token must carry.
    #[must_use]
    pub fn required_scopes(&self) -> &[String] {
        &self.inner.required_scopes
    }

    /// The answer [`verify_jwt`](Self::verify_jwt) can give without waiting: a token over the size limit
    /// is refused, and a token in the verified-token cache (under fresh keys) is accepted; `None` for
    /// anything else. Counts the cache hits; `verify_jwt` counts the misses.
    fn verify_cached(&self, token: &str) -> Option<Result<AccessToken, JwtError>> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_size {
            return Some(Err(JwtError::TooLarge { len: token.len(), max: inner.max_token_size }));
        }
        let cache = inner.cache.as_ref()?;
        let time = inner.clock.now();
        // Stale keys count as a miss: `verify_jwt` refreshes them, then looks again.
        let generation = inner.keys.fresh_generation(time)?;
        let hit = cache.get(&cache.fingerprint(token), token, time, generation)?;
        metrics::record_cache(metrics::TokenCache::Jwt, CacheResult::Hit);
        Some(Ok(hit))
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        self.verify_jwt(token).await.map_err(refused)
    }

    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        self.verify_cached(token).map(|answer| answer.map_err(refused))
    }

    fn required_scopes(&self) -> &[String] {
        &self.inner.required_scopes
    }
}

/// A refusal as the [`TokenVerifier`] trait reports it, logged once.
fn refused(err: JwtError) -> VerifyError {
    tracing::debug!(error = %err, "JWT refused");
    VerifyError::from(err)
}

fn verify_signature(
    signature: &str,
    message: &str,
    key: &VerifyingKey,
    alg: Algorithm,
) -> Result<(), JwtError> {
    use base64::Engine as _;
    use jsonwebtoken::errors::ErrorKind;
    if let Some(prepared) = key.prepared(alg) {
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|source| JwtError::Base64 { part: Part::Signature, source })?;
        return if prepared.verify(message.as_bytes(), &signature) {
            Ok(())
        } else {
            Err(JwtError::InvalidSignature(None))
        };
    }
    match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(JwtError::InvalidSignature(None)),
        Err(err) => match err.kind() {
            ErrorKind::Base64(source) => {
                Err(JwtError::Base64 { part: Part::Signature, source: source.clone() })
            }
            _ => Err(JwtError::InvalidSignature(Some(err))),
        },
    }
}

/// The integration tests' helpers (test keys, a JWKS server on 127.0.0.1), for the tests below that
/// look inside the verifier.
#[cfg(test)]
#[path = "../../tests/common/mod.rs"]
mod test_common;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcp_auth_core::clock::Clock as _;
    use serde_json::json;

    use super::test_common::*;
    use super::*;

    /// Issue 11: every JWKS fetch made a new key-set generation, even when the keys were the same, and
    /// so flushed the verified-token cache every few minutes. The generation now changes only when the
    /// usable keys do.
    #[tokio::test]
    async fn an_identical_key_set_keeps_the_generation_and_the_verified_token_cache() {
        let server = JwksServer::start(jwks(&[&rsa1(), &rsa2()])).await;
        server.set_cache_control("max-age=60");
        let clock = clock();
        let verifier = JwtVerifier::builder()
            .jwks_url(server.url())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .token_cache(100)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let claims = |sub: &str| claims_with(json!({"sub": sub, "exp": NOW + 3_600}));
        let cached = token(&rsa1(), &claims("cached"));
        verifier.verify_jwt(&cached).await.unwrap();
        let inner = &*verifier.inner;
        let cache = inner.cache.as_ref().unwrap();
        let hash = cache.fingerprint(&cached);
        let first = inner.keys.fresh_generation(clock.now()).unwrap();

        // The same keys, in another order and next to a key this verifier cannot use.
        let mut same = jwks(&[&rsa2(), &rsa1()]);
        same["keys"].as_array_mut().unwrap().push(json!({"kty": "oct", "kid": "sym", "k": b64([1u8; 32])}));
        server.set_jwks(same);
        for round in 1..=3 {
            clock.advance(std::time::Duration::from_secs(61));
            // Another token's verification makes the refresh.
            verifier.verify_jwt(&token(&rsa2(), &claims(&format!("other-{round}")))).await.unwrap();
            assert_eq!(server.hits(), 1 + round);
            let now = clock.now();
            assert_eq!(inner.keys.fresh_generation(now), Some(first), "round {round}: same keys");
            assert!(cache.get(&hash, &cached, now, first).is_some(), "round {round}: still cached");
        }

        // A key removed: a new generation, and the cached tokens go.
        server.set_jwks(jwks(&[&rsa2()]));
        clock.advance(std::time::Duration::from_secs(61));
        verifier.verify_jwt(&token(&rsa2(), &claims("other"))).await.unwrap();
        let now = clock.now();
        let second = inner.keys.fresh_generation(now).unwrap();
        assert_ne!(second, first);
        assert!(cache.get(&hash, &cached, now, second).is_none());
        assert!(matches!(verifier.verify_jwt(&cached).await, Err(JwtError::UnknownKid { .. })));
    }

    /// `verify_now` answers only from the verified-token cache, with what `verify` returned, and stops
    /// answering when the entry or the keys go stale; a token over the size limit is refused at once.
    #[tokio::test]
    async fn verify_now_answers_from_the_cache_alone_and_agrees_with_verify() {
        let server = JwksServer::start(jwks(&[&rsa1()])).await;
        server.set_cache_control("max-age=600");
        let clock = clock();
        let builder = || {
            JwtVerifier::builder()
                .jwks_url(server.url())
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .max_token_size(4_096)
                .clock(Arc::new(clock.clone()))
        };
        let verifier = builder().token_cache(100).build().unwrap();
        let jwt = token(&rsa1(), &claims_with(json!({"sub": "u1", "exp": NOW + 300})));
        assert!(verifier.verify_now(&jwt).is_none(), "nothing verified yet");
        let verified = verifier.verify(&jwt).await.unwrap();
        let now = verifier.verify_now(&jwt).expect("a cache hit").unwrap();
        assert!(Arc::ptr_eq(verified.info(), now.info()), "the very info verify returned");
        assert_eq!(now.expose_token(), jwt);
        assert!(verifier.verify_now(&token(&rsa1(), &claims())).is_none(), "another token is not cached");

        let huge = "a".repeat(5_000);
        assert!(matches!(verifier.verify_now(&huge), Some(Err(VerifyError::Invalid { .. }))));

        // The cache keeps an entry until `exp`; `verify` allows its clock-skew leeway past it.
        clock.advance(Duration::from_secs(301));
        assert!(verifier.verify_now(&jwt).is_none(), "entries are not answered past exp");
        clock.advance(Duration::from_secs(120));
        assert!(matches!(verifier.verify(&jwt).await, Err(VerifyError::Invalid { .. })));

        let uncached = builder().build().unwrap();
        let fresh = token(&rsa1(), &claims_with(json!({"sub": "u2", "exp": NOW + 3_600})));
        uncached.verify(&fresh).await.unwrap();
        assert!(uncached.verify_now(&fresh).is_none(), "no cache, nothing at once");
    }
}
