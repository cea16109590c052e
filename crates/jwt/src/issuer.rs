//! [`JwtIssuer`]: signs the proxy's own access and refresh tokens, with rotating keys.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_core::AccessToken;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::settings::Settings;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::error::JwtError;
use crate::keys::{MIN_HMAC_BYTES, VerifyingKey};
use crate::verifier::{JwtVerifier, JwtVerifierBuilder};

/// The HKDF-SHA256 salt used to derive an HMAC signing key from a configured secret.
pub const HKDF_SALT: &[u8] = b"mcp-auth-jwt/v1";
/// The HKDF-SHA256 `info` used to derive an HMAC signing key from a configured secret.
pub const HKDF_INFO: &[u8] = b"mcp-auth-jwt/v1 HS256 signing key";
/// The HKDF-SHA256 `info` used to derive the `kid` of such a key (so the `kid` reveals nothing).
const HKDF_KID_INFO: &[u8] = b"mcp-auth-jwt/v1 key id";
/// The environment variable [`SigningKey::from_settings`] reads.
pub const SIGNING_KEY_ENV: &str = "MCP_AUTH_JWT_SIGNING_KEY";

/// Claims the issuer sets itself; [`TokenRequest::claim`] cannot override them.
const RESERVED: &[&str] =
    &["iss", "aud", "sub", "client_id", "scope", "iat", "nbf", "exp", "jti", "token_use"];

/// A key the issuer signs with: HMAC (derived from a secret), ES256, EdDSA or RS256.
///
/// `Debug` shows only the `kid` and algorithm, never key material.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    verifying: VerifyingKey,
    public: Option<Jwk>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    /// A new random ECDSA P-256 key (ES256).
    ///
    /// # Errors
    ///
    /// [`JwtError::Crypto`] if the crypto library fails.
    pub fn generate_es256(kid: impl Into<String>) -> Result<Self, JwtError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map_err(|_| JwtError::Crypto("cannot generate a P-256 key"))?;
        Self::asymmetric(kid.into(), Algorithm::ES256, EncodingKey::from_ec_der(pkcs8.as_ref()))
    }

    /// A new random Ed25519 key (EdDSA).
    ///
    /// # Errors
    ///
    /// [`JwtError::Crypto`] if the crypto library fails.
    pub fn generate_ed25519(kid: impl Into<String>) -> Result<Self, JwtError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| JwtError::Crypto("cannot generate an Ed25519 key"))?;
        Self::asymmetric(kid.into(), Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8.as_ref()))
    }

    /// A key from a PKCS#8 private key in PEM: EC P-256 (ES256), Ed25519 (EdDSA) or RSA of at least 2048
    /// bits (RS256).
    ///
    /// # Errors
    ///
    /// [`JwtError::InvalidKey`] when the PEM holds none of these.
    pub fn from_pem(kid: impl Into<String>, pem: &SecretString) -> Result<Self, JwtError> {
        let kid = kid.into();
        let bytes = pem.expose_secret().as_bytes();
        if let Ok(key) = EncodingKey::from_ec_pem(bytes) {
            return Self::asymmetric(kid, Algorithm::ES256, key).map_err(|_| {
                JwtError::invalid_key("EC private key is not on P-256 (ES256 is the supported EC algorithm)")
            });
        }
        if let Ok(key) = EncodingKey::from_ed_pem(bytes) {
            return Self::asymmetric(kid, Algorithm::EdDSA, key);
        }
        match EncodingKey::from_rsa_pem(bytes) {
            Ok(key) => Self::asymmetric(kid, Algorithm::RS256, key),
            Err(source) => Err(JwtError::InvalidKey {
                reason: "not a PKCS#8 EC P-256, Ed25519 or RSA private key in PEM".into(),
                source: Some(source),
            }),
        }
    }

    /// An HS256 key derived from `secret` (at least 32 bytes) with HKDF-SHA256, salt [`HKDF_SALT`] and
    /// info [`HKDF_INFO`]. The `kid` is derived too (`hs256-` and 16 hex digits), so the same secret gives
    /// the same `kid` on every instance.
    ///
    /// # Errors
    ///
    /// [`JwtError::InvalidKey`] when the secret is shorter than 32 bytes.
    pub fn from_hmac_secret(secret: &SecretString) -> Result<Self, JwtError> {
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < MIN_HMAC_BYTES {
            return Err(JwtError::invalid_key(format!(
                "the signing secret needs at least {MIN_HMAC_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            )));
        }
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let mut okm = [0u8; 32];
        hkdf.expand(HKDF_INFO, &mut okm).map_err(|_| JwtError::Crypto("HKDF expand failed"))?;
        let mut id = [0u8; 8];
        hkdf.expand(HKDF_KID_INFO, &mut id).map_err(|_| JwtError::Crypto("HKDF expand failed"))?;
        let kid = format!("hs256-{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let verifying = VerifyingKey::hmac(Some(kid.clone()), &okm)?;
        let encoding = EncodingKey::from_secret(&okm);
        okm.fill(0);
        Ok(Self { kid, alg: Algorithm::HS256, encoding, verifying, public: None })
    }

    /// The key in `MCP_AUTH_JWT_SIGNING_KEY`, if set: a PEM private key (see [`from_pem`](Self::from_pem),
    /// `kid` from `MCP_AUTH_JWT_SIGNING_KEY_ID`, default `key-1`) or else a secret for
    /// [`from_hmac_secret`](Self::from_hmac_secret).
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] naming the variable when its value is not a usable key (the value itself is
    /// never echoed).
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, JwtError> {
        let Some(secret) = settings.secret("JWT_SIGNING_KEY") else { return Ok(None) };
        let key = if secret.expose_secret().trim_start().starts_with("-----BEGIN") {
            let kid = settings.string("JWT_SIGNING_KEY_ID").unwrap_or_else(|| "key-1".to_owned());
            Self::from_pem(kid, &secret)
        } else {
            Self::from_hmac_secret(&secret)
        };
        key.map(Some).map_err(|err| JwtError::config(SIGNING_KEY_ENV, err.to_string()))
    }

    fn asymmetric(kid: String, alg: Algorithm, encoding: EncodingKey) -> Result<Self, JwtError> {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(|source| JwtError::InvalidKey {
            reason: "cannot derive the public key".into(),
            source: Some(source),
        })?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let verifying = VerifyingKey::from_jwk(&jwk, false).map_err(JwtError::invalid_key)?;
        Ok(Self { kid, alg, encoding, verifying, public: Some(jwk) })
    }

    /// The key id put in the `kid` header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK (`None` for HMAC keys, which have no public part).
    #[must_use]
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }
}

/// What to put in a token: subject, client, scopes, lifetime and extra claims.
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenRequest {
    subject: String,
    client_id: Option<String>,
    scopes: Vec<String>,
    ttl: Option<Duration>,
    claims: Map<String, Value>,
}

impl TokenRequest {
    /// A token for `subject` (`sub`).
    pub fn new(subject: impl Into<String>) -> Self {
        Self { subject: subject.into(), client_id: None, scopes: Vec::new(), ttl: None, claims: Map::new() }
    }

    /// Sets `client_id`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the granted scopes (`scope`, space-separated).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Overrides the issuer's default lifetime for this token.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Adds a claim (for example `email` or `org_id`). Reserved claims (`iss`, `aud`, `sub`, `exp`, ...)
    /// are refused when signing.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }
}

/// A signed token and what the issuer put in it. `Debug` never shows the token.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: SecretString,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: SystemTime,
    /// The `kid` of the key that signed it.
    pub kid: String,
}

impl IssuedToken {
    /// The compact JWT. Handle with care: never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.token.expose_secret()
    }
}

struct IssuerInner {
    issuer: String,
    audience: String,
    active: SigningKey,
    previous: Vec<SigningKey>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    clock: SharedClock,
    refresh_verifier: JwtVerifier,
}

/// Signs access tokens (`typ: at+jwt`, `token_use: access`) and refresh tokens (`token_use: refresh`).
///
/// New tokens are signed with the [`signing_key`](JwtIssuerBuilder::signing_key); keys added with
/// [`verification_key`](JwtIssuerBuilder::verification_key) (the previous signing keys) still verify
/// until their tokens expire, so rotating keys logs nobody out. [`public_jwks`](Self::public_jwks)
/// publishes the public keys for other services.
///
/// # Examples
///
/// ```
/// use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
/// use secrecy::SecretString;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let secret = SecretString::from("a long random secret of at least 32 bytes!!");
/// let issuer = JwtIssuer::builder()
///     .issuer("https://proxy.example.com")
///     .audience("https://proxy.example.com/mcp")
///     .signing_key(SigningKey::from_hmac_secret(&secret)?)
///     .build()?;
/// let refresh = issuer.sign_refresh(&TokenRequest::new("user_1").client_id("c"))?;
/// let verifier = issuer.access_verifier().build()?;
/// assert!(verifier.verify_jwt(refresh.expose()).await.is_err(), "a refresh token is no access token");
/// assert!(issuer.verify_refresh(refresh.expose()).await.is_ok());
/// # Ok::<(), mcp_auth_jwt::JwtError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct JwtIssuer {
    inner: Arc<IssuerInner>,
}

impl fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("active", &self.inner.active)
            .field("previous", &self.inner.previous)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// A builder; see [`JwtIssuerBuilder`].
    pub fn builder() -> JwtIssuerBuilder {
        JwtIssuerBuilder::default()
    }

    /// Signs an access token (`typ: at+jwt`, `token_use: access`).
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] when the request sets a reserved claim; [`JwtError::Signing`] if signing fails.
    pub fn sign_access(&self, request: &TokenRequest) -> Result<IssuedToken, JwtError> {
        self.sign(request, "access", self.inner.access_ttl)
    }

    /// Signs a refresh token (`token_use: refresh`), which access-token verifiers refuse.
    ///
    /// # Errors
    ///
    /// As [`sign_access`](Self::sign_access).
    pub fn sign_refresh(&self, request: &TokenRequest) -> Result<IssuedToken, JwtError> {
        self.sign(request, "refresh", self.inner.refresh_ttl)
    }

    fn sign(
        &self,
        request: &TokenRequest,
        token_use: &'static str,
        default_ttl: Duration,
    ) -> Result<IssuedToken, JwtError> {
        let inner = &*self.inner;
        if let Some(name) = request.claims.keys().find(|name| RESERVED.contains(&name.as_str())) {
            return Err(JwtError::config("TokenRequest::claim", format!("{name:?} is set by the issuer")));
        }
        let now = inner.clock.unix_seconds();
        let exp = now.saturating_add(request.ttl.unwrap_or(default_ttl).as_secs());
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| JwtError::Crypto("random generator failed"))?;
        let jti = URL_SAFE_NO_PAD.encode(jti);

        let mut claims = request.claims.clone();
        claims.insert("iss".into(), inner.issuer.clone().into());
        claims.insert("aud".into(), inner.audience.clone().into());
        claims.insert("sub".into(), request.subject.clone().into());
        if let Some(client_id) = &request.client_id {
            claims.insert("client_id".into(), client_id.clone().into());
        }
        if !request.scopes.is_empty() {
            claims.insert("scope".into(), request.scopes.join(" ").into());
        }
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), jti.clone().into());
        claims.insert("token_use".into(), token_use.into());

        let key = &inner.active;
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(if token_use == "access" { "at+jwt" } else { "JWT" }.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(JwtError::Signing)?;
        Ok(IssuedToken {
            token: SecretString::from(token),
            jti,
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            kid: key.kid.clone(),
        })
    }

    /// A verifier builder for this issuer's access tokens: its keys (current and previous), issuer,
    /// audience, clock and `typ: at+jwt` are set; add required scopes or a token cache, then `build()`.
    pub fn access_verifier(&self) -> JwtVerifierBuilder {
        let inner = &*self.inner;
        verifier_builder_for(&inner.active, &inner.previous, &inner.issuer, &inner.audience, &inner.clock)
            .require_access_token_type()
    }

    /// Verifies a refresh token this issuer signed (access tokens are refused with
    /// [`JwtError::WrongTokenUse`]).
    ///
    /// # Errors
    ///
    /// Any [`JwtError`] of [`JwtVerifier::verify_jwt`].
    pub async fn verify_refresh(&self, token: &str) -> Result<AccessToken, JwtError> {
        self.inner.refresh_verifier.verify_jwt(token).await
    }

    /// The public keys (current and previous asymmetric keys) as a JWKS; empty for HMAC-only issuers.
    #[must_use]
    pub fn public_jwks(&self) -> JwkSet {
        let inner = &*self.inner;
        JwkSet {
            keys: std::iter::once(&inner.active)
                .chain(&inner.previous)
                .filter_map(|k| k.public.clone())
                .collect(),
        }
    }

    /// [`public_jwks`](Self::public_jwks) as JSON, ready to serve at `/.well-known/jwks.json`.
    #[must_use]
    pub fn public_jwks_json(&self) -> Value {
        serde_json::to_value(self.public_jwks()).unwrap_or_else(|_| serde_json::json!({"keys": []}))
    }

    /// The `kid` new tokens are signed with.
    #[must_use]
    pub fn active_kid(&self) -> &str {
        &self.inner.active.kid
    }
}

/// Builds a [`JwtIssuer`].
#[derive(Debug, Default)]
#[must_use]
pub struct JwtIssuerBuilder {
    issuer: Option<String>,
    audience: Option<String>,
    active: Option<SigningKey>,
    previous: Vec<SigningKey>,
    access_ttl: Option<Duration>,
    refresh_ttl: Option<Duration>,
    clock: Option<SharedClock>,
}

impl JwtIssuerBuilder {
    /// The `iss` of every token (required).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` of every token (required): the protected MCP resource URL.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The key new tokens are signed with (required).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.active = Some(key);
        self
    }

    /// A previous signing key whose tokens still verify (add the old key here when rotating).
    pub fn verification_key(mut self, key: SigningKey) -> Self {
        self.previous.push(key);
        self
    }

    /// Lifetime of access tokens (default 1 hour).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = Some(ttl);
        self
    }

    /// Lifetime of refresh tokens (default 30 days).
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = Some(ttl);
        self
    }

    /// The clock for `iat`/`exp` and for the verifiers it makes.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks the settings and builds the issuer.
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] when the issuer, audience or signing key is missing, two keys share a `kid`,
    /// or a lifetime is under one second.
    pub fn build(self) -> Result<JwtIssuer, JwtError> {
        let issuer =
            self.issuer.ok_or_else(|| JwtError::config("issuer", "set .issuer(..) to this server's URL"))?;
        let audience = self
            .audience
            .ok_or_else(|| JwtError::config("audience", "set .audience(..) to the MCP resource URL"))?;
        let active = self.active.ok_or_else(|| {
            JwtError::config(
                "signing_key",
                format!("set .signing_key(..), e.g. SigningKey::generate_es256(..) or a secret in {SIGNING_KEY_ENV}"),
            )
        })?;
        let mut kids = vec![active.kid.as_str()];
        for key in &self.previous {
            if kids.contains(&key.kid.as_str()) {
                return Err(JwtError::config(
                    "verification_key",
                    format!("two keys share the kid {:?}", key.kid),
                ));
            }
            kids.push(&key.kid);
        }
        let access_ttl = self.access_ttl.unwrap_or(Duration::from_secs(3600));
        let refresh_ttl = self.refresh_ttl.unwrap_or(Duration::from_secs(30 * 24 * 3600));
        if access_ttl.as_secs() == 0 || refresh_ttl.as_secs() == 0 {
            return Err(JwtError::config(
                "access_ttl/refresh_ttl",
                "token lifetimes must be at least one second",
            ));
        }
        let clock = self.clock.unwrap_or_else(system_clock);
        let refresh_verifier = verifier_builder_for(&active, &self.previous, &issuer, &audience, &clock)
            .refresh_tokens()
            .build()?;
        Ok(JwtIssuer {
            inner: Arc::new(IssuerInner {
                issuer,
                audience,
                active,
                previous: self.previous,
                access_ttl,
                refresh_ttl,
                clock,
                refresh_verifier,
            }),
        })
    }
}

fn verifier_builder_for(
    active: &SigningKey,
    previous: &[SigningKey],
    issuer: &str,
    audience: &str,
    clock: &SharedClock,
) -> JwtVerifierBuilder {
    let keys: Vec<VerifyingKey> =
        std::iter::once(active).chain(previous).map(|k| k.verifying.clone()).collect();
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for key in std::iter::once(active).chain(previous) {
        if !algorithms.contains(&key.alg) {
            algorithms.push(key.alg);
        }
    }
    JwtVerifier::builder()
        .prebuilt_keys(keys)
        .algorithms(algorithms)
        .issuer(issuer)
        .audience(audience)
        .clock(Arc::clone(clock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_keys_and_secrets() {
        let secret = SecretString::from("correct horse battery staple, long enough");
        let key = SigningKey::from_hmac_secret(&secret).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains("correct horse"), "{debug}");
        assert!(debug.contains("REDACTED"));
        let issuer = JwtIssuer::builder().issuer("i").audience("a").signing_key(key).build().unwrap();
        assert!(!format!("{issuer:?}").contains("correct horse"));
        let token = issuer.sign_access(&TokenRequest::new("u")).unwrap();
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn hkdf_key_is_stable_and_kid_reveals_nothing() {
        let secret = SecretString::from("0123456789abcdef0123456789abcdef");
        let a = SigningKey::from_hmac_secret(&secret).unwrap();
        let b = SigningKey::from_hmac_secret(&secret).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert!(a.kid().starts_with("hs256-") && a.kid().len() == 22, "{}", a.kid());
        let other =
            SigningKey::from_hmac_secret(&SecretString::from("another secret of 32+ bytes......")).unwrap();
        assert_ne!(a.kid(), other.kid());
        assert!(a.public_jwk().is_none());
        assert!(matches!(
            SigningKey::from_hmac_secret(&SecretString::from("short")),
            Err(JwtError::InvalidKey { .. })
        ));
    }

    #[test]
    fn settings_pick_pem_or_secret() {
        assert!(
            SigningKey::from_settings(&Settings::from_pairs([("MCP_AUTH_OTHER", "x")])).unwrap().is_none()
        );
        let hmac = SigningKey::from_settings(&Settings::from_pairs([(SIGNING_KEY_ENV, "x".repeat(40))]))
            .unwrap()
            .unwrap();
        assert_eq!(hmac.algorithm(), Algorithm::HS256);
        let pem = include_str!("../tests/keys/ec256_private.pem");
        let ec = SigningKey::from_settings(&Settings::from_pairs([
            (SIGNING_KEY_ENV, pem),
            ("MCP_AUTH_JWT_SIGNING_KEY_ID", "ec-1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((ec.algorithm(), ec.kid()), (Algorithm::ES256, "ec-1"));
        let err =
            SigningKey::from_settings(&Settings::from_pairs([(SIGNING_KEY_ENV, "short-value")])).unwrap_err();
        assert!(err.to_string().starts_with(SIGNING_KEY_ENV), "{err}");
        assert!(!err.to_string().contains("short-value"), "{err}");
    }

    #[test]
    fn pem_keys_of_each_type_load() {
        for (file, alg) in [
            (include_str!("../tests/keys/ec256_private.pem"), Algorithm::ES256),
            (include_str!("../tests/keys/ed25519_private.pem"), Algorithm::EdDSA),
            (include_str!("../tests/keys/rsa1_private.pem"), Algorithm::RS256),
        ] {
            let key = SigningKey::from_pem("k", &SecretString::from(file)).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert!(key.public_jwk().is_some());
        }
        assert!(matches!(
            SigningKey::from_pem("k", &SecretString::from(include_str!("../tests/keys/ec384_private.pem"))),
            Err(JwtError::InvalidKey { .. })
        ));
    }

    #[test]
    fn reserved_claims_are_refused() {
        let issuer = JwtIssuer::builder()
            .issuer("i")
            .audience("a")
            .signing_key(SigningKey::generate_ed25519("k").unwrap())
            .build()
            .unwrap();
        let err = issuer.sign_access(&TokenRequest::new("u").claim("exp", 1)).unwrap_err();
        assert!(matches!(err, JwtError::Config { .. }), "{err:?}");
        assert!(issuer.sign_access(&TokenRequest::new("u").claim("email", "a@b.c")).is_ok());
    }
}
