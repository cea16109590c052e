//! [`JwtVerifierBuilder`]: the settings and the start-up checks that refuse missing, contradictory or
//! unsafe ones, naming the setting to change.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::scope::{ScopeCheck, ScopeHierarchy};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::Value;
use url::Url;

use super::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, Inner, JwtVerifier, Keys, TokenUse};
use crate::cache::TokenCache;
use crate::error::JwtError;
use crate::jwks::{JwksLocation, JwksPolicy, RemoteJwks};
use crate::keys::{KeyKind, KeySet, VerifyingKey, jwks_from_value};
use crate::shared::SharedKeys;

/// Redirects for the default JWKS client: at most 3, and never from `https` down to plain `http`.
fn jwks_redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from_https = attempt.previous().first().is_some_and(|url| url.scheme() == "https");
        if attempt.previous().len() > 3 {
            attempt.error("more than 3 redirects")
        } else if from_https && attempt.url().scheme() != "https" {
            attempt.error("redirect from https to plain http refused")
        } else {
            attempt.follow()
        }
    })
}

/// Where a [`JwtVerifier`] gets its keys.
enum Source {
    JwksUrl(String),
    FromIssuer,
    Jwks(Value),
    Pem(Vec<u8>),
    Hmac(SecretSlice<u8>),
    Shared(Arc<SharedKeys>),
}

impl Source {
    fn setting(&self) -> &'static str {
        match self {
            Self::JwksUrl(_) => "jwks_url",
            Self::FromIssuer => "jwks_from_issuer_metadata",
            Self::Jwks(_) => "jwks",
            Self::Pem(_) => "public_key_pem",
            Self::Hmac(_) => "hmac_secret",
            Self::Shared(_) => "issuer keys",
        }
    }
}

/// Builds a [`JwtVerifier`]. Methods take `self` by value; [`build`](Self::build) checks the settings.
///
/// Exactly one key source is required: [`jwks_url`](Self::jwks_url), [`jwks`](Self::jwks),
/// [`public_key_pem`](Self::public_key_pem) or [`hmac_secret`](Self::hmac_secret). An issuer and an
/// audience are required unless waived with [`insecure_skip_issuer`](Self::insecure_skip_issuer) /
/// [`insecure_skip_audience`](Self::insecure_skip_audience).
#[must_use]
pub struct JwtVerifierBuilder {
    sources: Vec<Source>,
    algorithms: Option<Vec<Algorithm>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    skip_issuer: bool,
    skip_audience: bool,
    allow_missing_exp: bool,
    allow_http_jwks: bool,
    required_scopes: Vec<String>,
    scope_check: ScopeCheck,
    required_typ: Option<String>,
    leeway: Duration,
    max_token_size: usize,
    token_use: TokenUse,
    cache: Option<(usize, Duration)>,
    clock: Option<SharedClock>,
    http_client: Option<reqwest::Client>,
    jwks_policy: JwksPolicy,
    kid: Option<String>,
}

impl Default for JwtVerifierBuilder {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            algorithms: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            skip_issuer: false,
            skip_audience: false,
            allow_missing_exp: false,
            allow_http_jwks: false,
            required_scopes: Vec::new(),
            scope_check: ScopeCheck::exact(),
            required_typ: None,
            leeway: DEFAULT_LEEWAY,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            token_use: TokenUse::Access,
            cache: None,
            clock: None,
            http_client: None,
            jwks_policy: JwksPolicy::default(),
            kid: None,
        }
    }
}

impl fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("sources", &self.sources.iter().map(Source::setting).collect::<Vec<_>>())
            .field("algorithms", &self.algorithms)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl JwtVerifierBuilder {
    /// Reads the JWKS URL from the issuer's metadata (RFC 8414's `/.well-known/oauth-authorization-server`,
    /// else OpenID Connect's `/.well-known/openid-configuration`) on first use, not at build, so a server
    /// starts while its issuer is down and answers 503 until the issuer is reachable. The metadata must
    /// name the issuer exactly, and its `jwks_uri` must be `https` (or `http` on loopback). Needs exactly
    /// one [`issuer`](Self::issuer).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::JwtVerifier;
    ///
    /// let verifier = JwtVerifier::builder()
    ///     .issuer("https://login.example.com/realms/main")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .jwks_from_issuer_metadata()
    ///     .build()?; // no network call yet
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn jwks_from_issuer_metadata(mut self) -> Self {
        self.sources.push(Source::FromIssuer);
        self
    }

    /// Fetches keys from this JWKS URL (cached; see the `jwks_*` methods). Must be `https`, or `http` on
    /// a loopback address.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.sources.push(Source::JwksUrl(url.into()));
        self
    }

    /// Uses this static JWKS document (`{"keys": [...]}`); unusable keys are skipped.
    pub fn jwks(mut self, jwks: Value) -> Self {
        self.sources.push(Source::Jwks(jwks));
        self
    }

    /// Uses this static [`JwkSet`](jsonwebtoken::jwk::JwkSet).
    pub fn jwk_set(self, set: &jsonwebtoken::jwk::JwkSet) -> Self {
        let value = serde_json::to_value(set).unwrap_or(Value::Null);
        self.jwks(value)
    }

    /// Uses one public key in PEM form (RSA, EC P-256/P-384 or Ed25519). Without
    /// [`algorithms`](Self::algorithms), the algorithm defaults to the key's natural one (RS256,
    /// ES256, ES384 or EdDSA).
    pub fn public_key_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.sources.push(Source::Pem(pem.as_ref().to_vec()));
        self
    }

    /// Uses a shared HMAC secret (at least 32 bytes). Without [`algorithms`](Self::algorithms) the
    /// algorithm defaults to HS256.
    pub fn hmac_secret(mut self, secret: SecretSlice<u8>) -> Self {
        self.sources.push(Source::Hmac(secret));
        self
    }

    /// The `kid` of the single key given by [`public_key_pem`](Self::public_key_pem) or
    /// [`hmac_secret`](Self::hmac_secret); tokens naming another `kid` are refused.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The accepted signature algorithms (default RS256 for key sets). `none` does not exist here.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Adds an accepted issuer; `iss` must equal one of them exactly (no trailing-slash tolerance).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Adds several accepted issuers.
    pub fn issuers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.issuers.extend(issuers.into_iter().map(Into::into));
        self
    }

    /// Adds an accepted audience, normally the MCP resource URL; `aud` (string or array) must contain one.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Accepts tokens from any issuer. Only for key sources that belong to a single issuer.
    pub fn insecure_skip_issuer(mut self) -> Self {
        self.skip_issuer = true;
        self
    }

    /// Accepts tokens for any audience: a token minted for another service then works here too.
    pub fn insecure_skip_audience(mut self) -> Self {
        self.skip_audience = true;
        self
    }

    /// Accepts tokens without `exp` (they never expire).
    pub fn insecure_allow_missing_exp(mut self) -> Self {
        self.allow_missing_exp = true;
        self
    }

    /// Allows a plain-`http` JWKS URL on a non-loopback host.
    pub fn insecure_allow_http_jwks(mut self) -> Self {
        self.allow_http_jwks = true;
        self
    }

    /// Scopes every token must carry (from `scope` or `scp`); a valid token without them gets
    /// [`JwtError::InsufficientScope`] (403).
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Judges the required scopes through `hierarchy`: a token with a broad scope (`mcp:admin`) meets a
    /// requirement of a narrower one it implies (`mcp:read`). Off by default: scopes match exactly. Give
    /// the bearer layer the same hierarchy, so per-operation checks agree.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::scope::ScopeImplications;
    /// use mcp_auth_jwt::JwtVerifier;
    ///
    /// let verifier = JwtVerifier::builder()
    ///     .jwks_url("https://your-app.authkit.app/oauth2/jwks")
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .required_scopes(["mcp:read"])
    ///     .scope_hierarchy(ScopeImplications::new().scope_implies("mcp:admin", ["mcp:read"]))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn scope_hierarchy(mut self, hierarchy: impl ScopeHierarchy + 'static) -> Self {
        self.scope_check = ScopeCheck::with_hierarchy(hierarchy);
        self
    }

    /// Requires the header `typ` (compared case-insensitively, `application/` prefix optional).
    pub fn require_type(mut self, typ: impl Into<String>) -> Self {
        self.required_typ = Some(typ.into());
        self
    }

    /// Requires `typ: at+jwt`, the RFC 9068 access-token type.
    pub fn require_access_token_type(self) -> Self {
        self.require_type("at+jwt")
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 30 s, at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The largest token accepted, in bytes (default 16 KiB); larger ones are refused before decoding.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Caches up to `max_entries` verified tokens for up to 5 minutes each, keyed by a keyed 128-bit
    /// fingerprint of the token ([`mcp_auth_core::fingerprint`]), never the raw token.
    pub fn token_cache(self, max_entries: usize) -> Self {
        self.token_cache_with_ttl(max_entries, Duration::from_secs(300))
    }

    /// Caches up to `max_entries` verified tokens, each until its `exp` or `max_ttl`, whichever is first.
    pub fn token_cache_with_ttl(mut self, max_entries: usize, max_ttl: Duration) -> Self {
        self.cache = Some((max_entries, max_ttl));
        self
    }

    /// The clock for claims, caches and JWKS freshness (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The HTTP client for the JWKS URL (default: a new `reqwest::Client`).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Freshness of the JWKS when the response has no `Cache-Control: max-age` (default 5 minutes).
    pub fn jwks_default_ttl(mut self, ttl: Duration) -> Self {
        self.jwks_policy.default_ttl = ttl;
        self
    }

    /// Bounds applied to the JWKS `max-age` (default 30 s to 24 h).
    pub fn jwks_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.jwks_policy.min_ttl = min;
        self.jwks_policy.max_ttl = max;
        self
    }

    /// The least time between two refreshes caused by unknown `kid`s (default 30 s), counted from the
    /// last such refresh; periodic refreshes do not use it up. Only a token whose `iss` (read before the
    /// signature is checked, for this decision only) is one of the accepted [`issuer`](Self::issuer)s
    /// causes such a refresh, so tokens of other issuers never delay a key your issuer just rotated in.
    /// A forged token can still claim your issuer, so the cooldown stays: random `kid`s cause at most one
    /// refresh per cooldown.
    pub fn jwks_refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_policy.cooldown = cooldown;
        self
    }

    /// How long past their freshness (`Cache-Control: max-age`, within
    /// [`jwks_ttl_bounds`](Self::jwks_ttl_bounds)) the last keys fetched from the JWKS URL are still used
    /// while every refresh fails (default 24 hours). After that, verification answers
    /// [`JwtError::KeySourceUnavailable`] (503 through [`TokenVerifier`](mcp_auth_core::TokenVerifier))
    /// until a refresh succeeds: keys the provider has withdrawn meanwhile are not trusted indefinitely.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth_jwt::JwtVerifier;
    ///
    /// let verifier = JwtVerifier::builder()
    ///     .jwks_url("https://your-app.authkit.app/oauth2/jwks")
    ///     .issuer("https://your-app.authkit.app")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .jwks_max_stale(Duration::from_secs(6 * 3600))
    ///     .build()?;
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn jwks_max_stale(mut self, max_stale: Duration) -> Self {
        self.jwks_policy.max_stale = max_stale;
        self
    }

    /// The least time between a failed JWKS fetch and the next attempt (default 5 s).
    pub fn jwks_retry_after_failure(mut self, wait: Duration) -> Self {
        self.jwks_policy.retry_after_failure = wait;
        self
    }

    /// The timeout of one JWKS fetch (default 10 s).
    pub fn jwks_timeout(mut self, timeout: Duration) -> Self {
        self.jwks_policy.timeout = timeout;
        self
    }

    /// Refresh tokens of [`JwtIssuer`](crate::JwtIssuer) instead of access tokens.
    pub(crate) fn refresh_tokens(mut self) -> Self {
        self.token_use = TokenUse::Refresh;
        self
    }

    /// The issuer's own access tokens, checked at its own endpoints: `token_use` must be `access`.
    pub(crate) fn own_access_tokens(mut self) -> Self {
        self.token_use = TokenUse::OwnAccess;
        self
    }

    /// Follows the key set of a [`JwtIssuer`](crate::JwtIssuer), rotations and removals included.
    pub(crate) fn shared_keys(mut self, keys: Arc<SharedKeys>) -> Self {
        self.sources.push(Source::Shared(keys));
        self
    }

    /// Checks the settings and builds the verifier.
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] naming the setting to change when there is no key source or more than one,
    /// the algorithm list is empty or contradicts the key source (an HMAC algorithm with a JWKS URL or a
    /// PEM public key), no issuer or audience is set and not explicitly skipped, the leeway is above 5
    /// minutes, or the JWKS URL is not `https`; [`JwtError::InvalidKey`] / [`JwtError::InvalidJwks`] when
    /// the given keys cannot be loaded.
    pub fn build(mut self) -> Result<JwtVerifier, JwtError> {
        let source = match self.sources.len() {
            0 => {
                return Err(JwtError::config(
                    "key source",
                    "no key source: call one of .jwks_url(..), .jwks(..), .public_key_pem(..), .hmac_secret(..)",
                ));
            }
            1 => self.sources.remove(0),
            _ => {
                let names: Vec<_> = self.sources.iter().map(Source::setting).collect();
                return Err(JwtError::config(
                    "key source",
                    format!("several key sources ({}): keep exactly one", names.join(", ")),
                ));
            }
        };
        let setting = source.setting();
        let keys = match source {
            Source::JwksUrl(_) | Source::FromIssuer => {
                self.check_algorithms(setting, Algorithm::RS256, |alg| {
                    alg.family() != jsonwebtoken::AlgorithmFamily::Hmac
                })?;
                let location = match source {
                    Source::JwksUrl(url) => JwksLocation::Fixed(self.check_jwks_url(&url)?),
                    _ => {
                        let [issuer] = self.issuers.as_slice() else {
                            return Err(JwtError::config(
                                "jwks_from_issuer_metadata",
                                "reading the JWKS URL from the issuer's metadata needs exactly one .issuer(..)",
                            ));
                        };
                        self.check_jwks_url(issuer).map_err(|_| {
                            JwtError::config(
                                "jwks_from_issuer_metadata",
                                "the issuer must be an https URL (or http on loopback) to read its metadata",
                            )
                        })?;
                        JwksLocation::FromIssuer {
                            issuer: issuer.clone(),
                            allow_http: self.allow_http_jwks,
                            found: std::sync::OnceLock::new(),
                        }
                    }
                };
                let client = match self.http_client.take() {
                    Some(client) => client,
                    None => reqwest::Client::builder().redirect(jwks_redirect_policy()).build().map_err(
                        |err| JwtError::config("http_client", format!("cannot build an HTTP client: {err}")),
                    )?,
                };
                let clock = self.clock.clone().unwrap_or_else(system_clock);
                Keys::Remote(Box::new(RemoteJwks::new(location, client, clock, self.jwks_policy.clone())))
            }
            Source::Jwks(doc) => {
                let keys = jwks_from_value(&doc, true)?;
                self.check_algorithms(setting, Algorithm::RS256, |alg| keys.iter().any(|k| k.fits(alg)))?;
                Keys::Static(Arc::new(KeySet { keys, generation: 0 }))
            }
            Source::Pem(pem) => {
                let key = VerifyingKey::from_pem(self.kid.clone(), &pem)?;
                let kind = key.kind;
                self.check_algorithms(setting, kind.default_algorithm(), |alg| kind.fits(alg))?;
                Keys::Static(Arc::new(KeySet { keys: vec![key], generation: 0 }))
            }
            Source::Hmac(secret) => {
                let key = VerifyingKey::hmac(self.kid.clone(), secret.expose_secret())?;
                let kind = key.kind;
                self.check_algorithms(setting, Algorithm::HS256, |alg| kind.fits(alg))?;
                if !matches!(kind, KeyKind::Hmac { .. }) {
                    return Err(JwtError::Crypto("HMAC key of the wrong kind"));
                }
                Keys::Static(Arc::new(KeySet { keys: vec![key], generation: 0 }))
            }
            Source::Shared(shared) => {
                // The allow-list follows the issuer's keys; an explicit one may only narrow it.
                if self.algorithms.as_ref().is_some_and(Vec::is_empty) {
                    return Err(JwtError::config("algorithms", "the allow-list is empty"));
                }
                Keys::Shared(shared)
            }
        };
        self.finish(keys)
    }

    fn check_algorithms(
        &mut self,
        source: &'static str,
        default: Algorithm,
        fits: impl Fn(Algorithm) -> bool,
    ) -> Result<(), JwtError> {
        let algorithms = self.algorithms.get_or_insert_with(|| vec![default]);
        if algorithms.is_empty() {
            return Err(JwtError::config(
                "algorithms",
                "the allow-list is empty: name the algorithms your issuer signs with, e.g. .algorithms([Algorithm::RS256])",
            ));
        }
        if let Some(bad) = algorithms.iter().find(|alg| !fits(**alg)) {
            return Err(JwtError::config(
                "algorithms",
                format!(
                    "{bad:?} cannot be used with the key source {source}: an HMAC algorithm needs .hmac_secret(..) (or an \
                     oct key in .jwks(..)), and a public key needs an RS/PS/ES/EdDSA algorithm of its type"
                ),
            ));
        }
        Ok(())
    }

    fn check_jwks_url(&self, url: &str) -> Result<Url, JwtError> {
        let parsed = Url::parse(url).map_err(|err| {
            JwtError::config("jwks_url", format!("not an absolute URL ({err}): use https://host/path"))
        })?;
        let loopback = mcp_auth_core::loopback::is_loopback_url(&parsed);
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if loopback || self.allow_http_jwks => Ok(parsed),
            "http" => Err(JwtError::config(
                "jwks_url",
                "plain http on a non-loopback host: use https, or .insecure_allow_http_jwks() for a trusted network",
            )),
            _ => Err(JwtError::config("jwks_url", "only https (or http on loopback) URLs are supported")),
        }
    }

    fn finish(self, keys: Keys) -> Result<JwtVerifier, JwtError> {
        let algorithms = match (self.algorithms, &keys) {
            (Some(algorithms), _) => algorithms,
            // Empty: the algorithms of the issuer's current keys, see `Inner::allows`.
            (None, Keys::Shared(_)) => Vec::new(),
            (None, Keys::Static(_) | Keys::Remote(_)) => vec![Algorithm::RS256],
        };
        if algorithms.is_empty() && !matches!(keys, Keys::Shared(_)) {
            return Err(JwtError::config("algorithms", "the allow-list is empty"));
        }
        match (self.issuers.is_empty(), self.skip_issuer) {
            (true, false) => {
                return Err(JwtError::config(
                    "issuer",
                    "no issuer: set .issuer(..) to the exact `iss` your provider puts in tokens (for AuthKit, \
                     https://<your-app>.authkit.app), or call .insecure_skip_issuer()",
                ));
            }
            (false, true) => {
                return Err(JwtError::config(
                    "issuer",
                    "both .issuer(..) and .insecure_skip_issuer(): keep one",
                ));
            }
            _ => {}
        }
        match (self.audiences.is_empty(), self.skip_audience) {
            (true, false) => {
                return Err(JwtError::config(
                    "audience",
                    "no audience: set .audience(..) to this MCP server's resource URL, or call .insecure_skip_audience()",
                ));
            }
            (false, true) => {
                return Err(JwtError::config(
                    "audience",
                    "both .audience(..) and .insecure_skip_audience(): keep one",
                ));
            }
            _ => {}
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(JwtError::config(
                "leeway",
                "more than 5 minutes of clock leeway: fix the clocks instead",
            ));
        }
        if self.max_token_size == 0 {
            return Err(JwtError::config("max_token_size", "must be above 0"));
        }
        if let Some((0, _)) = self.cache {
            return Err(JwtError::config(
                "token_cache",
                "a cache of 0 entries: leave .token_cache(..) out instead",
            ));
        }
        let inner = Inner {
            keys,
            algorithms,
            issuers: self.issuers,
            audiences: self.audiences,
            required_scopes: self.required_scopes,
            scope_check: self.scope_check,
            required_typ: self.required_typ,
            require_exp: !self.allow_missing_exp,
            leeway: self.leeway.as_secs(),
            max_token_size: self.max_token_size,
            token_use: self.token_use,
            cache: self.cache.map(|(entries, ttl)| TokenCache::new(entries, ttl)).transpose()?,
            clock: self.clock.unwrap_or_else(system_clock),
        };
        Ok(JwtVerifier { inner: Arc::new(inner) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(builder: JwtVerifierBuilder) -> String {
        builder
            .audience("https://mcp.example.com/mcp")
            .jwks_from_issuer_metadata()
            .build()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reading_the_jwks_url_from_metadata_needs_one_https_issuer() {
        assert!(error(JwtVerifier::builder()).contains("jwks_from_issuer_metadata"));
        let two = JwtVerifier::builder().issuers(["https://a.example.com", "https://b.example.com"]);
        assert!(error(two).contains("exactly one"));
        assert!(error(JwtVerifier::builder().issuer("http://idp.example.com")).contains("https"));
        let ok = JwtVerifier::builder()
            .issuer("http://127.0.0.1:9")
            .audience("https://mcp.example.com/mcp")
            .jwks_from_issuer_metadata()
            .build();
        assert!(ok.is_ok(), "loopback http, as for a local issuer");
        let two_sources = JwtVerifier::builder()
            .issuer("https://idp.example.com")
            .jwks_url("https://idp.example.com/jwks")
            .audience("https://mcp.example.com/mcp")
            .jwks_from_issuer_metadata()
            .build()
            .unwrap_err()
            .to_string();
        assert!(two_sources.contains("several key sources"), "{two_sources}");
    }
}
