//! Shared helpers: test keys (generated with openssl into `tests/keys/`), raw token minting, and a JWKS
//! server on 127.0.0.1 that counts its requests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use mcp_auth_core::clock::ManualClock;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://mcp.example.com/mcp";
pub const NOW: u64 = 1_800_000_000;

pub fn clock() -> ManualClock {
    ManualClock::at_unix(NOW)
}

/// A test key pair: private key for signing, public JWK for verifying.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub public_pem: &'static str,
    pub jwk: Jwk,
}

fn key(kid: &str, alg: Algorithm, private: &'static str, public: &'static str) -> TestKey {
    let (encoding, decoding) = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::RS384 | Algorithm::RS512 => (
            EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        ),
        Algorithm::ES256 | Algorithm::ES384 => (
            EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
        ),
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_ed_pem(public.as_bytes()).unwrap(),
        ),
        other => panic!("no test key for {other:?}"),
    };
    let mut jwk = Jwk::from_decoding_key(&decoding, Some(alg)).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    TestKey { kid: kid.to_owned(), alg, encoding, public_pem: public, jwk }
}

pub fn rsa1() -> TestKey {
    key(
        "rsa-1",
        Algorithm::RS256,
        include_str!("../keys/rsa1_private.pem"),
        include_str!("../keys/rsa1_public.pem"),
    )
}

pub fn rsa2() -> TestKey {
    key(
        "rsa-2",
        Algorithm::RS256,
        include_str!("../keys/rsa2_private.pem"),
        include_str!("../keys/rsa2_public.pem"),
    )
}

pub fn ec256() -> TestKey {
    key(
        "ec-1",
        Algorithm::ES256,
        include_str!("../keys/ec256_private.pem"),
        include_str!("../keys/ec256_public.pem"),
    )
}

pub fn ec384() -> TestKey {
    key(
        "ec-384",
        Algorithm::ES384,
        include_str!("../keys/ec384_private.pem"),
        include_str!("../keys/ec384_public.pem"),
    )
}

pub fn ed25519() -> TestKey {
    key(
        "ed-1",
        Algorithm::EdDSA,
        include_str!("../keys/ed25519_private.pem"),
        include_str!("../keys/ed25519_public.pem"),
    )
}

pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| serde_json::to_value(&k.jwk).unwrap()).collect::<Vec<_>>() })
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header_json.payload_json` exactly as written (so tests can craft duplicate keys and the like).
pub fn sign_raw(header_json: &str, payload_json: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let message = format!("{}.{}", b64(header_json), b64(payload_json));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// Standard valid claims at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user_1", "client_id": "client_1",
        "scope": "mcp:read mcp:write", "iat": NOW - 10, "exp": NOW + 600, "email": "ada@example.com"
    })
}

/// Claims with `changes` merged in (`null` removes a claim).
pub fn claims_with(changes: Value) -> Value {
    let mut base = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

pub fn header_for(key: &TestKey) -> Value {
    json!({"alg": format!("{:?}", key.alg), "typ": "JWT", "kid": key.kid})
}

pub fn token(key: &TestKey, claims: &Value) -> String {
    sign_raw(&header_for(key).to_string(), &claims.to_string(), key.alg, &key.encoding)
}

pub fn token_with_header(key: &TestKey, header: &Value, claims: &Value) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), key.alg, &key.encoding)
}

/// What the JWKS server answers.
pub struct ServerState {
    pub jwks: Value,
    pub status: StatusCode,
    pub cache_control: Option<String>,
}

/// A JWKS endpoint on 127.0.0.1 that counts its requests.
#[derive(Clone)]
pub struct JwksServer {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub state: Arc<Mutex<ServerState>>,
}

impl JwksServer {
    pub async fn start(jwks: Value) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(Mutex::new(ServerState { jwks, status: StatusCode::OK, cache_control: None }));
        let app =
            Router::new().route("/jwks", get(serve_jwks)).with_state((Arc::clone(&hits), Arc::clone(&state)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, hits, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set_jwks(&self, jwks: Value) {
        self.state.lock().unwrap().jwks = jwks;
    }

    pub fn set_status(&self, status: StatusCode) {
        self.state.lock().unwrap().status = status;
    }

    pub fn set_cache_control(&self, value: &str) {
        self.state.lock().unwrap().cache_control = Some(value.to_owned());
    }
}

async fn serve_jwks(
    State((hits, state)): State<(Arc<AtomicUsize>, Arc<Mutex<ServerState>>)>,
) -> (StatusCode, HeaderMap, String) {
    hits.fetch_add(1, Ordering::SeqCst);
    // A little latency so concurrent requests really overlap.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let state = state.lock().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(cc) = &state.cache_control {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
    }
    (state.status, headers, state.jwks.to_string())
}

/// A loopback URL where nothing listens.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/jwks")
}
