//! Verification and signing throughput, each against a baseline measured in the same run: raw
//! `jsonwebtoken::decode` / `jsonwebtoken::encode` with the same key, token and issuer/audience checks.
//!
//! Run: `cargo bench -p mcp-auth-jwt --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_auth_jwt::{JwtIssuer, JwtVerifier, SigningKey, TokenRequest};
use secrecy::{SecretSlice, SecretString};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "https://mcp.example.com/mcp";
const HMAC_SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!!";

struct Case {
    name: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwks: Value,
    hmac: bool,
}

fn case(name: &'static str, alg: Algorithm, private: &str, public: &str) -> Case {
    let (encoding, pem_decoding) = match alg {
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
        ),
        _ => (
            EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_ed_pem(public.as_bytes()).unwrap(),
        ),
    };
    let mut jwk = Jwk::from_decoding_key(&pem_decoding, Some(alg)).unwrap();
    jwk.common.key_id = Some("k1".into());
    // The baseline decodes with the key exactly as a JWKS delivers it, like the verifier does.
    let decoding = DecodingKey::from_jwk(&jwk).unwrap();
    Case { name, alg, encoding, decoding, jwks: json!({ "keys": [jwk] }), hmac: false }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "RS256",
            Algorithm::RS256,
            include_str!("../tests/keys/rsa1_private.pem"),
            include_str!("../tests/keys/rsa1_public.pem"),
        ),
        case(
            "ES256",
            Algorithm::ES256,
            include_str!("../tests/keys/ec256_private.pem"),
            include_str!("../tests/keys/ec256_public.pem"),
        ),
        case(
            "EdDSA",
            Algorithm::EdDSA,
            include_str!("../tests/keys/ed25519_private.pem"),
            include_str!("../tests/keys/ed25519_public.pem"),
        ),
        Case {
            name: "HS256",
            alg: Algorithm::HS256,
            encoding: EncodingKey::from_secret(HMAC_SECRET),
            decoding: DecodingKey::from_secret(HMAC_SECRET),
            jwks: Value::Null,
            hmac: true,
        },
    ]
}

fn claims() -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user_01HXYZ", "client_id": "client_01HABC",
        "scope": "openid profile email mcp:read mcp:write", "iat": now, "exp": now + 86_400,
        "email": "ada@example.com", "org_id": "org_01H", "sid": "session_01H", "jti": "b2d1f0c8"
    })
}

fn verifier(case: &Case, cache: bool) -> JwtVerifier {
    let builder = JwtVerifier::builder().algorithms([case.alg]).issuer(ISSUER).audience(AUDIENCE);
    let builder = if case.hmac {
        builder.hmac_secret(SecretSlice::from(HMAC_SECRET.to_vec())).key_id("k1")
    } else {
        builder.jwks(case.jwks.clone())
    };
    let builder = if cache { builder.token_cache(10_000) } else { builder };
    builder.build().unwrap()
}

/// Runs `future` to completion: polled once in place (a verification that needs no I/O is ready at once,
/// as it is when awaited inside a request task), else handed to the runtime. This keeps the runtime's
/// `block_on` set-up out of the measurement.
fn run<F: std::future::Future>(rt: &tokio::runtime::Runtime, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => rt.block_on(future),
    }
}

fn bench_verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for case in cases() {
        let mut header = Header::new(case.alg);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(&header, &claims(), &case.encoding).unwrap();
        let mut validation = Validation::new(case.alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);

        let mut group = c.benchmark_group(format!("verify/{}", case.name));
        // One token per iteration, so criterion also prints verifications per second.
        group.throughput(Throughput::Elements(1));
        group.bench_function("baseline_jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Map<String, Value>>(black_box(&token), &case.decoding, &validation)
                    .unwrap()
            });
        });
        let uncached = verifier(&case, false);
        group.bench_function("verify_jwt_no_cache", |b| {
            b.iter(|| run(&rt, uncached.verify_jwt(black_box(&token))).unwrap());
        });
        // The floor of a cache hit: the token's keyed fingerprint, which every hit must compute.
        let fingerprinter = mcp_auth_core::fingerprint::TokenFingerprinter::new().unwrap();
        group.bench_function("floor_fingerprint_of_token", |b| {
            b.iter(|| fingerprinter.fingerprint(black_box(&token)));
        });
        // For comparison: SHA-256 of the token, the cache key before the keyed fingerprint.
        group.bench_function("sha256_of_token", |b| {
            b.iter(|| <sha2::Sha256 as sha2::Digest>::digest(black_box(token.as_bytes())));
        });
        let cached = verifier(&case, true);
        rt.block_on(cached.verify_jwt(&token)).unwrap();
        group.bench_function("verify_jwt_cache_hit", |b| {
            b.iter(|| run(&rt, cached.verify_jwt(black_box(&token))).unwrap());
        });
        group.finish();
    }
}

fn bench_sign(c: &mut Criterion) {
    let keys: Vec<(&str, SigningKey, EncodingKey, Algorithm)> = vec![
        (
            "ES256",
            SigningKey::from_pem("k1", &SecretString::from(include_str!("../tests/keys/ec256_private.pem")))
                .unwrap(),
            EncodingKey::from_ec_pem(include_bytes!("../tests/keys/ec256_private.pem")).unwrap(),
            Algorithm::ES256,
        ),
        (
            "EdDSA",
            SigningKey::from_pem(
                "k1",
                &SecretString::from(include_str!("../tests/keys/ed25519_private.pem")),
            )
            .unwrap(),
            EncodingKey::from_ed_pem(include_bytes!("../tests/keys/ed25519_private.pem")).unwrap(),
            Algorithm::EdDSA,
        ),
        (
            "HS256",
            SigningKey::from_hmac_secret(&SecretString::from(
                String::from_utf8(HMAC_SECRET.to_vec()).unwrap(),
            ))
            .unwrap(),
            EncodingKey::from_secret(HMAC_SECRET),
            Algorithm::HS256,
        ),
    ];
    for (name, key, raw, alg) in keys {
        let issuer = JwtIssuer::builder().issuer(ISSUER).audience(AUDIENCE).signing_key(key).build().unwrap();
        let request =
            TokenRequest::new("user_01HXYZ").client_id("client_01HABC").scopes(["mcp:read", "mcp:write"]);
        let mut header = Header::new(alg);
        header.kid = Some("k1".into());
        let claims = claims();
        let mut group = c.benchmark_group(format!("sign/{name}"));
        group.bench_function("baseline_jsonwebtoken_encode", |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &raw).unwrap());
        });
        group.bench_function("jwt_issuer_sign_access", |b| {
            b.iter(|| issuer.sign_access(black_box(&request)).unwrap());
        });
        group.finish();
    }
}

criterion_group!(benches, bench_verify, bench_sign);
criterion_main!(benches);
