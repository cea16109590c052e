//! [`JwtIssuer`]: signs access, refresh and OpenID Connect ID tokens with keys that rotate at run time,
//! and checks its own tokens.
//!
//! The keys are in `signing_key`, the token requests in `request`, the builder in `builder` and the
//! ID-token specifics in `id_token`.

mod builder;
mod id_token;
mod request;
mod signing_key;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Header};
use mcp_auth_core::AccessToken;
use mcp_auth_core::clock::{SharedClock, unix_seconds};
use secrecy::SecretString;
use serde_json::{Map, Value};

pub use self::builder::JwtIssuerBuilder;
use self::id_token::{ID_TOKEN_RESERVED, at_hash};
pub use self::request::{IdTokenRequest, IssuedToken, TokenRequest};
pub use self::signing_key::SigningKey;
use crate::error::JwtError;
use crate::keys::VerifyingKey;
use crate::shared::SharedKeys;
use crate::verifier::{CLAIMS_THE_VERIFIER_READS, JwtVerifier, JwtVerifierBuilder};

/// The HKDF-SHA256 salt used to derive an HMAC signing key from a configured secret.
pub const HKDF_SALT: &[u8] = b"mcp-auth-jwt/v1";
/// The HKDF-SHA256 `info` used to derive an HMAC signing key from a configured secret.
pub const HKDF_INFO: &[u8] = b"mcp-auth-jwt/v1 HS256 signing key";
/// The HKDF-SHA256 `info` used to derive the `kid` of such a key (so the `kid` reveals nothing).
const HKDF_KID_INFO: &[u8] = b"mcp-auth-jwt/v1 key id";
/// The environment variable [`SigningKey::from_settings`] reads.
pub const SIGNING_KEY_ENV: &str = "MCP_AUTH_JWT_SIGNING_KEY";

/// Claims [`TokenRequest::claim`] cannot set in access and refresh tokens: every claim the verifier
/// reads ([`CLAIMS_THE_VERIFIER_READS`]: `iss`, `aud`, `sub`, `client_id`, `azp`, `cid`, `scope`, `scp`,
/// `iat`, `nbf`, `exp`, `token_use`), so an extra claim can never widen scopes or name another client,
/// plus `jti`, which the issuer sets itself.
const RESERVED: [&[&str]; 2] = [CLAIMS_THE_VERIFIER_READS, &["jti"]];

struct IssuerInner {
    issuer: String,
    /// The `aud` of tokens whose request names none.
    audience: Option<String>,
    /// The signing keys, oldest first; the last one signs. Never empty.
    ring: RwLock<Vec<Arc<SigningKey>>>,
    /// The verifying halves of `ring`, followed by every verifier this issuer makes.
    shared: Arc<SharedKeys>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    clock: SharedClock,
    refresh_verifier: JwtVerifier,
    own_access_verifier: JwtVerifier,
}

/// Signs access tokens (`typ: at+jwt`, `token_use: access`), refresh tokens (`token_use: refresh`) and
/// OpenID Connect ID tokens (`token_use: id`), and checks its own tokens.
///
/// New tokens are signed with the active key; previous keys still verify and stay published until they
/// are removed, so rotating keys logs nobody out. The key set changes at run time
/// ([`rotate`](Self::rotate), [`remove_key`](Self::remove_key),
/// [`remove_previous_keys`](Self::remove_previous_keys)) on an issuer shared by clones across request
/// handlers, and signing, [`public_jwks`](Self::public_jwks) and every verifier made from this issuer see
/// the change at once.
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
            .field("keys", &*self.ring())
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// A builder; see [`JwtIssuerBuilder`].
    pub fn builder() -> JwtIssuerBuilder {
        JwtIssuerBuilder::default()
    }

    /// Signs an access token (`typ: at+jwt`, `token_use: access`). Its `aud` is the request's
    /// [`audience`](TokenRequest::audience), else the issuer's default, else absent.
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
        refuse_reserved(&request.claims, &RESERVED, "TokenRequest::claim")?;
        let mut claims = request.claims.clone();
        if let Some(audience) = request.audience.as_ref().or(inner.audience.as_ref()) {
            claims.insert("aud".into(), audience.clone().into());
        }
        claims.insert("sub".into(), request.subject.clone().into());
        if let Some(client_id) = &request.client_id {
            claims.insert("client_id".into(), client_id.clone().into());
        }
        if !request.scopes.is_empty() {
            claims.insert("scope".into(), request.scopes.join(" ").into());
        }
        claims.insert("token_use".into(), token_use.into());
        let typ = if token_use == "access" { "at+jwt" } else { "JWT" };
        self.sign_claims(claims, typ, request.ttl.unwrap_or(default_ttl), |_| Ok(None))
    }

    /// Signs an OpenID Connect ID token (OpenID Connect Core 1.0 §2): `iss`, `sub`, `aud` (the client
    /// id), `iat`, `exp` (the access-token lifetime unless the request overrides it), `auth_time`, `nonce`
    /// and `sid` when given, `at_hash` of the given access token (the left half of the hash matching the
    /// signing algorithm: SHA-256 for RS256/ES256/HS256, SHA-512 for EdDSA), a `jti`, the request's extra
    /// claims, and `token_use: id` with the header `typ: JWT`, so access-token verifiers refuse it.
    ///
    /// # Errors
    ///
    /// [`JwtError::Config`] when the request sets a reserved claim; [`JwtError::Signing`] if signing fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use mcp_auth_jwt::{IdTokenRequest, JwtIssuer, SigningKey, TokenRequest};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .signing_key(SigningKey::generate_rs256("k1")?)
    ///     .build()?;
    /// let access = issuer.sign_access(&TokenRequest::new("user_1").client_id("client_a"))?;
    /// let id = issuer.sign_id_token(
    ///     &IdTokenRequest::new("user_1", "client_a", SystemTime::now())
    ///         .nonce("n-0S6_WzA2Mj")
    ///         .access_token(access.expose())
    ///         .claim("email", "ada@example.com"),
    /// )?;
    /// // An ID token is not an access token, not even at the issuer's own endpoints.
    /// assert!(issuer.access_verifier().build()?.verify_jwt(id.expose()).await.is_err());
    /// assert!(issuer.verify_own_access_token(id.expose()).await.is_err());
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// # }).unwrap();
    /// ```
    pub fn sign_id_token(&self, request: &IdTokenRequest) -> Result<IssuedToken, JwtError> {
        refuse_reserved(&request.claims, &[ID_TOKEN_RESERVED], "IdTokenRequest::claim")?;
        let mut claims = request.claims.clone();
        claims.insert("sub".into(), request.subject.clone().into());
        claims.insert("aud".into(), request.client_id.clone().into());
        claims.insert("auth_time".into(), unix_seconds(request.auth_time).into());
        if let Some(nonce) = &request.nonce {
            claims.insert("nonce".into(), nonce.clone().into());
        }
        if let Some(sid) = &request.sid {
            claims.insert("sid".into(), sid.clone().into());
        }
        claims.insert("token_use".into(), "id".into());
        let access_token = request.access_token_value();
        self.sign_claims(claims, "JWT", request.ttl.unwrap_or(self.inner.access_ttl), |alg| {
            let Some(token) = access_token else { return Ok(None) };
            let hash =
                at_hash(alg, token).ok_or(JwtError::Crypto("no at_hash is defined for this algorithm"))?;
            Ok(Some(("at_hash", hash)))
        })
    }

    /// Adds `iss`, `iat`, `exp`, `jti` and the claim `extra` derives from the signing algorithm, then
    /// signs with the active key.
    fn sign_claims(
        &self,
        mut claims: Map<String, Value>,
        typ: &str,
        ttl: Duration,
        extra: impl FnOnce(Algorithm) -> Result<Option<(&'static str, String)>, JwtError>,
    ) -> Result<IssuedToken, JwtError> {
        let inner = &*self.inner;
        let now = inner.clock.unix_seconds();
        let exp = now.saturating_add(ttl.as_secs());
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| JwtError::Crypto("random generator failed"))?;
        let jti = URL_SAFE_NO_PAD.encode(jti);
        claims.insert("iss".into(), inner.issuer.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), jti.clone().into());

        let key = self.active_key();
        if let Some((name, value)) = extra(key.alg)? {
            claims.insert(name.into(), value.into());
        }
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(JwtError::Signing)?;
        Ok(IssuedToken {
            token: SecretString::from(token),
            jti,
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            kid: key.kid.clone(),
        })
    }

    /// A verifier builder for this issuer's access tokens: its keys (following every rotation and
    /// removal), issuer, default audience, clock and `typ: at+jwt` are set; add required scopes or a token
    /// cache, then `build()`.
    ///
    /// Without a default [`audience`](JwtIssuerBuilder::audience), `build()` refuses with
    /// [`JwtError::Config`] naming `audience` until you add `.audience(..)`: forgetting the audience is
    /// caught at start-up, never turned into "accept any audience" (only
    /// [`insecure_skip_audience`](JwtVerifierBuilder::insecure_skip_audience) does that, by name).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtError, JwtIssuer, SigningKey};
    ///
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .signing_key(SigningKey::generate_es256("k1")?)
    ///     .build()?;
    /// assert!(matches!(issuer.access_verifier().build(), Err(JwtError::Config { setting: "audience", .. })));
    /// let verifier = issuer.access_verifier().audience("https://mcp.example.com/mcp").build()?;
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn access_verifier(&self) -> JwtVerifierBuilder {
        let inner = &*self.inner;
        let builder = JwtVerifier::builder()
            .shared_keys(Arc::clone(&inner.shared))
            .issuer(inner.issuer.clone())
            .clock(Arc::clone(&inner.clock))
            .require_access_token_type();
        match &inner.audience {
            Some(audience) => builder.audience(audience.clone()),
            None => builder,
        }
    }

    /// Verifies a refresh token this issuer signed: signature by a current or previous key, `iss`, `exp`
    /// and `token_use: refresh` (access and ID tokens are refused with [`JwtError::WrongTokenUse`]). Not
    /// `aud`: a refresh token comes back to its issuer, which is not its audience.
    ///
    /// # Errors
    ///
    /// Any [`JwtError`] of [`JwtVerifier::verify_jwt`].
    pub async fn verify_refresh(&self, token: &str) -> Result<AccessToken, JwtError> {
        self.inner.refresh_verifier.verify_jwt(token).await
    }

    /// Checks an access token this issuer signed, as its own endpoints (userinfo, introspection,
    /// revocation) need: the signature with the current and previous keys (a rotation or removal counts
    /// from the next call on), `iss`, `exp`, `nbf` and `iat` with zero leeway on the issuer's own clock,
    /// the header `typ: at+jwt` and the claim `token_use: access`, so refresh and ID tokens are refused.
    /// Decoding is the same hardened path as [`JwtVerifier::verify_jwt`]: strict JSON, the algorithms of
    /// the issuer's keys only, never `none`.
    ///
    /// `aud` is deliberately not checked: the issuer is not the audience of its own access tokens (they
    /// name the resource they were issued for), and its endpoints accept a token for any of its resources.
    /// Revocation is not checked either: that is the caller's store to consult.
    ///
    /// # Errors
    ///
    /// Any [`JwtError`] of [`JwtVerifier::verify_jwt`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .signing_key(SigningKey::generate_es256("k1")?)
    ///     .build()?;
    /// let token = issuer.sign_access(&TokenRequest::new("user_1").audience("https://any.example/mcp"))?;
    /// let access = issuer.verify_own_access_token(token.expose()).await?;
    /// assert_eq!(access.subject.as_deref(), Some("user_1"));
    /// let refresh = issuer.sign_refresh(&TokenRequest::new("user_1"))?;
    /// assert!(issuer.verify_own_access_token(refresh.expose()).await.is_err());
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// # }).unwrap();
    /// ```
    pub async fn verify_own_access_token(&self, token: &str) -> Result<AccessToken, JwtError> {
        self.inner.own_access_verifier.verify_jwt(token).await
    }

    /// Makes `new_key` the active key: it signs every token from now on, and the previous active key
    /// keeps verifying and stays in [`public_jwks`](Self::public_jwks) until it is removed. Publish the
    /// new key (serve the JWKS) before relying on other services to accept its tokens.
    ///
    /// # Errors
    ///
    /// [`JwtError::DuplicateKeyId`] when a key with the same `kid` is already in the set (the set is then
    /// unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .signing_key(SigningKey::generate_es256("k1")?)
    ///     .build()?;
    /// let verifier = issuer.access_verifier().build()?; // built once, follows rotations
    /// let old = issuer.sign_access(&TokenRequest::new("u"))?;
    /// let handler_copy = issuer.clone();
    /// handler_copy.rotate(SigningKey::generate_rs256("k2")?)?;
    /// assert_eq!(issuer.active_kid(), "k2");
    /// assert_eq!(issuer.key_ids(), ["k1", "k2"]);
    /// let new = issuer.sign_access(&TokenRequest::new("u"))?;
    /// assert_eq!(new.kid, "k2");
    /// assert!(verifier.verify_jwt(old.expose()).await.is_ok());
    /// assert!(verifier.verify_jwt(new.expose()).await.is_ok());
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// # }).unwrap();
    /// ```
    pub fn rotate(&self, new_key: SigningKey) -> Result<(), JwtError> {
        let mut ring = self.ring_mut();
        if ring.iter().any(|key| key.kid == new_key.kid) {
            return Err(JwtError::DuplicateKeyId { kid: new_key.kid });
        }
        tracing::info!(kid = %new_key.kid, alg = ?new_key.alg, "signing key rotated in");
        ring.push(Arc::new(new_key));
        self.publish(&ring);
        Ok(())
    }

    /// Removes the previous key `kid`: its tokens stop verifying, here and in every verifier made from
    /// this issuer, and it leaves [`public_jwks`](Self::public_jwks).
    ///
    /// # Errors
    ///
    /// [`JwtError::ActiveKey`] for the key that signs new tokens ([`rotate`](Self::rotate) first);
    /// [`JwtError::NoSuchKey`] when the issuer holds no key `kid`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtError, JwtIssuer, SigningKey};
    ///
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .signing_key(SigningKey::generate_es256("k1")?)
    ///     .build()?;
    /// issuer.rotate(SigningKey::generate_es256("k2")?)?;
    /// assert!(matches!(issuer.remove_key("k2"), Err(JwtError::ActiveKey { .. })));
    /// assert!(matches!(issuer.remove_key("k9"), Err(JwtError::NoSuchKey { .. })));
    /// issuer.remove_key("k1")?;
    /// assert_eq!(issuer.key_ids(), ["k2"]);
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn remove_key(&self, kid: &str) -> Result<(), JwtError> {
        let mut ring = self.ring_mut();
        let index = ring
            .iter()
            .position(|key| key.kid == kid)
            .ok_or_else(|| JwtError::NoSuchKey { kid: kid.to_owned() })?;
        if index + 1 == ring.len() {
            return Err(JwtError::ActiveKey { kid: kid.to_owned() });
        }
        ring.remove(index);
        tracing::info!(kid, "signing key removed");
        self.publish(&ring);
        Ok(())
    }

    /// Removes every key but the active one; returns how many were removed.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtIssuer, SigningKey};
    ///
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .signing_key(SigningKey::generate_es256("k1")?)
    ///     .build()?;
    /// issuer.rotate(SigningKey::generate_es256("k2")?)?;
    /// issuer.rotate(SigningKey::generate_es256("k3")?)?;
    /// assert_eq!(issuer.remove_previous_keys(), 2);
    /// assert_eq!(issuer.key_ids(), ["k3"]);
    /// assert_eq!(issuer.remove_previous_keys(), 0);
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    pub fn remove_previous_keys(&self) -> usize {
        let mut ring = self.ring_mut();
        let previous = ring.len().saturating_sub(1);
        if previous > 0 {
            ring.drain(..previous);
            tracing::info!(removed = previous, "previous signing keys removed");
            self.publish(&ring);
        }
        previous
    }

    /// The `kid`s of every key, oldest first; the last one is the active key.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_jwt::{JwtIssuer, SigningKey};
    ///
    /// let issuer = JwtIssuer::builder()
    ///     .issuer("https://auth.example.com")
    ///     .signing_key(SigningKey::generate_ed25519("k1")?)
    ///     .build()?;
    /// assert_eq!(issuer.key_ids(), ["k1"]);
    /// # Ok::<(), mcp_auth_jwt::JwtError>(())
    /// ```
    #[must_use]
    pub fn key_ids(&self) -> Vec<String> {
        self.ring().iter().map(|key| key.kid.clone()).collect()
    }

    /// The public keys (the active key first, then the previous asymmetric keys, newest first) as a JWKS;
    /// empty for HMAC-only issuers. It follows every rotation and removal.
    #[must_use]
    pub fn public_jwks(&self) -> JwkSet {
        JwkSet { keys: self.ring().iter().rev().filter_map(|key| key.public.clone()).collect() }
    }

    /// [`public_jwks`](Self::public_jwks) as JSON, ready to serve at `/.well-known/jwks.json`.
    #[must_use]
    pub fn public_jwks_json(&self) -> Value {
        serde_json::to_value(self.public_jwks()).unwrap_or_else(|_| serde_json::json!({"keys": []}))
    }

    /// The `kid` new tokens are signed with.
    #[must_use]
    pub fn active_kid(&self) -> String {
        self.active_key().kid.clone()
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<SigningKey>>> {
        self.inner.ring.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn ring_mut(&self) -> RwLockWriteGuard<'_, Vec<Arc<SigningKey>>> {
        self.inner.ring.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn active_key(&self) -> Arc<SigningKey> {
        // The ring is never empty: built with a signing key, and the active key cannot be removed.
        let ring = self.ring();
        Arc::clone(&ring[ring.len() - 1])
    }

    /// Hands the verifying halves of `ring` to the verifiers; called with the ring's write lock held, so
    /// the two never disagree for longer than that lock is held.
    fn publish(&self, ring: &[Arc<SigningKey>]) {
        let (keys, algorithms) = published(ring);
        self.inner.shared.replace(keys, algorithms);
    }
}

/// The verifying keys of `ring` and the algorithms they sign with.
fn published(ring: &[Arc<SigningKey>]) -> (Vec<VerifyingKey>, Vec<Algorithm>) {
    let keys = ring.iter().map(|key| key.verifying.clone()).collect();
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for key in ring {
        if !algorithms.contains(&key.alg) {
            algorithms.push(key.alg);
        }
    }
    (keys, algorithms)
}

fn refuse_reserved(
    claims: &Map<String, Value>,
    reserved: &[&[&str]],
    setting: &'static str,
) -> Result<(), JwtError> {
    match claims.keys().find(|name| reserved.iter().any(|list| list.contains(&name.as_str()))) {
        Some(name) => Err(JwtError::config(setting, format!("{name:?} is set by the issuer"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(key: SigningKey) -> JwtIssuer {
        JwtIssuer::builder().issuer("i").audience("a").signing_key(key).build().unwrap()
    }

    #[test]
    fn debug_redacts_keys_and_tokens() {
        let secret = SecretString::from("correct horse battery staple, long enough");
        let issuer = issuer(SigningKey::from_hmac_secret(&secret).unwrap());
        issuer.rotate(SigningKey::generate_rs256("rsa").unwrap()).unwrap();
        let debug = format!("{issuer:?}");
        assert!(!debug.contains("correct horse") && !debug.contains("PRIVATE"), "{debug}");
        assert!(debug.contains("rsa") && debug.contains("REDACTED"), "{debug}");
        let token = issuer.sign_access(&TokenRequest::new("u")).unwrap();
        assert!(!format!("{token:?}").contains(token.expose()));
        let id = issuer
            .sign_id_token(&IdTokenRequest::new("u", "c", UNIX_EPOCH).access_token(token.expose()))
            .unwrap();
        assert!(!format!("{id:?}").contains(id.expose()));
    }

    #[test]
    fn reserved_claims_are_refused() {
        let issuer = issuer(SigningKey::generate_ed25519("k").unwrap());
        let err = issuer.sign_access(&TokenRequest::new("u").claim("exp", 1)).unwrap_err();
        assert!(matches!(err, JwtError::Config { .. }), "{err:?}");
        assert!(issuer.sign_access(&TokenRequest::new("u").claim("email", "a@b.c")).is_ok());
        for name in ["nonce", "at_hash", "aud", "auth_time", "token_use", "sid"] {
            let request = IdTokenRequest::new("u", "c", UNIX_EPOCH).claim(name, "x");
            let err = issuer.sign_id_token(&request).unwrap_err();
            assert!(
                matches!(err, JwtError::Config { setting: "IdTokenRequest::claim", .. }),
                "{name}: {err:?}"
            );
        }
    }

    /// Issue 11: `scp`, `azp` and `cid` were not reserved, so `.claim("scp", ..)` widened the scopes the
    /// verifier grants and `.claim("azp", ..)` / `.claim("cid", ..)` could name another client.
    #[tokio::test]
    async fn custom_claims_cannot_set_what_the_verifier_reads() {
        let issuer = issuer(SigningKey::generate_ed25519("k").unwrap());
        let widened = TokenRequest::new("u").scopes(["mcp:read"]).claim("scp", ["mcp:admin"]);
        if let Ok(token) = issuer.sign_access(&widened) {
            let access = issuer.access_verifier().build().unwrap().verify_jwt(token.expose()).await.unwrap();
            panic!("a custom scp claim was signed and granted {:?}", access.scopes);
        }
        let names = ["iss", "aud", "sub", "client_id", "azp", "cid", "scope", "scp", "iat", "nbf", "exp"];
        for name in names.into_iter().chain(["jti", "token_use"]) {
            for sign in [JwtIssuer::sign_access, JwtIssuer::sign_refresh] {
                let err = sign(&issuer, &TokenRequest::new("u").claim(name, "x")).unwrap_err();
                assert!(
                    matches!(&err, JwtError::Config { setting: "TokenRequest::claim", reason } if reason.contains(name)),
                    "{name}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn the_key_set_changes_only_as_asked() {
        let issuer = issuer(SigningKey::generate_es256("k1").unwrap());
        assert!(matches!(
            issuer.rotate(SigningKey::generate_ed25519("k1").unwrap()),
            Err(JwtError::DuplicateKeyId { kid }) if kid == "k1"
        ));
        assert_eq!(issuer.key_ids(), ["k1"]);
        assert_eq!(issuer.inner.shared.generation(), 1, "a refused rotation publishes nothing");
        issuer.rotate(SigningKey::generate_ed25519("k2").unwrap()).unwrap();
        assert_eq!(issuer.inner.shared.generation(), 2);
        assert!(issuer.inner.shared.allows(Algorithm::EdDSA) && issuer.inner.shared.allows(Algorithm::ES256));
        issuer.remove_key("k1").unwrap();
        assert!(!issuer.inner.shared.allows(Algorithm::ES256), "the allow-list follows the keys");
        assert_eq!(issuer.remove_previous_keys(), 0);
        assert_eq!(issuer.inner.shared.generation(), 3, "removing nothing publishes nothing");
    }
}
