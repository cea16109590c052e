//! Times jsonwebtoken::decode (RS256, ES256, EdDSA, HS256) with whichever backend feature is enabled.
//! A stand-alone project (its own `[workspace]`) because the two backends cannot share one build:
//! `cargo run --release --features rc` and `cargo run --release --features aws` from this folder.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).unwrap()
}

fn main() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({"iss": "i", "aud": "a", "sub": "u", "exp": now + 86400, "iat": now, "scope": "a b c"});
    let cases: Vec<(&str, Algorithm, EncodingKey, DecodingKey)> = vec![
        ("RS256", Algorithm::RS256, EncodingKey::from_rsa_pem(&read("rsa1_private.pem")).unwrap(), DecodingKey::from_rsa_pem(&read("rsa1_public.pem")).unwrap()),
        ("ES256", Algorithm::ES256, EncodingKey::from_ec_pem(&read("ec256_private.pem")).unwrap(), DecodingKey::from_ec_pem(&read("ec256_public.pem")).unwrap()),
        ("EdDSA", Algorithm::EdDSA, EncodingKey::from_ed_pem(&read("ed25519_private.pem")).unwrap(), DecodingKey::from_ed_pem(&read("ed25519_public.pem")).unwrap()),
        ("HS256", Algorithm::HS256, EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"), DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef")),
    ];
    let backend = if cfg!(feature = "aws") { "aws_lc_rs" } else { "rust_crypto" };
    for (name, alg, enc, dec) in cases {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &enc).unwrap();
        let mut v = Validation::new(alg);
        v.set_issuer(&["i"]);
        v.set_audience(&["a"]);
        let mut best = f64::MAX;
        for _round in 0..5 {
            let n = 2000;
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(jsonwebtoken::decode::<Map<String, Value>>(std::hint::black_box(&token), &dec, &v).unwrap());
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
        }
        println!("{backend} {name} decode: {best:.1} us/op (best of 5 x 2000)");
    }
}
