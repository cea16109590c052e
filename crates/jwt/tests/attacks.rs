//! The attack suite: every hostile token is refused with the precise `JwtError` variant.

mod common;

use std::sync::Arc;

use common::*;
use mcp_auth_core::TokenVerifier;
use mcp_auth_jwt::{Algorithm, JwtError, JwtIssuer, JwtVerifier, Part, SigningKey, TokenRequest};
use serde_json::json;

fn verifier() -> JwtVerifier {
    JwtVerifier::builder()
        .jwks(jwks(&[&rsa1(), &ec256()]))
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .required_scopes(["mcp:read"])
        .clock(Arc::new(clock()))
        .build()
        .unwrap()
}

async fn refuse(token: &str) -> JwtError {
    let verifier = verifier();
    // The TokenVerifier view must agree: refused, 401 unless it is a scope problem.
    let public = verifier.verify(token).await.expect_err("must be refused");
    let err = verifier.verify_jwt(token).await.expect_err("must be refused");
    let expected_status = if matches!(err, JwtError::InsufficientScope { .. }) { 403 } else { 401 };
    assert_eq!(public.status_code(), expected_status, "{err:?}");
    err
}

fn good() -> String {
    token(&rsa1(), &claims())
}

#[tokio::test]
async fn baseline_token_is_accepted() {
    verifier().verify_jwt(&good()).await.unwrap();
}

#[tokio::test]
async fn alg_none_is_refused() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT"});
        let t = format!("{}.{}.", b64(header.to_string()), b64(claims().to_string()));
        assert!(matches!(refuse(&t).await, JwtError::AlgNone), "{alg}");
        // Even with a signature segment attached.
        let t = format!("{}.{}.{}", b64(header.to_string()), b64(claims().to_string()), b64("sig"));
        assert!(matches!(refuse(&t).await, JwtError::AlgNone), "{alg}");
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_as_secret_is_refused() {
    let key = rsa1();
    let secret = jsonwebtoken::EncodingKey::from_secret(key.public_pem.as_bytes());
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": key.kid});
    let forged = sign_raw(&header.to_string(), &claims().to_string(), Algorithm::HS256, &secret);
    // Not in the allow-list.
    assert!(matches!(refuse(&forged).await, JwtError::AlgorithmNotAllowed { alg } if alg == "HS256"));
    // Even when HS256 is allowed (for some oct key), an RSA key is never used as an HMAC secret.
    let permissive = JwtVerifier::builder()
        .jwks(json!({"keys": [serde_json::to_value(&key.jwk).unwrap(),
            {"kty": "oct", "kid": "sym", "k": b64([9u8; 32])}]}))
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    assert!(matches!(
        permissive.verify_jwt(&forged).await,
        Err(JwtError::KeyMismatch { kid: Some(kid), .. }) if kid == "rsa-1"
    ));
    // And the DER form of the key as secret, without kid: the set has two keys, so no guessing.
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let forged = sign_raw(&header.to_string(), &claims().to_string(), Algorithm::HS256, &secret);
    assert!(matches!(permissive.verify_jwt(&forged).await, Err(JwtError::MissingKid { candidates: 2 })));
}

#[tokio::test]
async fn kid_not_in_the_set_is_refused() {
    let t = token_with_header(&rsa1(), &json!({"alg": "RS256", "kid": "who-knows"}), &claims());
    assert!(matches!(refuse(&t).await, JwtError::UnknownKid { kid } if kid == "who-knows"));
}

#[tokio::test]
async fn kid_pointing_to_a_key_of_the_wrong_type_is_refused() {
    // Signed with the EC key, but the header points at the RSA key.
    let t = token_with_header(&ec256(), &json!({"alg": "ES256", "kid": "rsa-1"}), &claims());
    assert!(
        matches!(refuse(&t).await, JwtError::KeyMismatch { kid: Some(kid), alg } if kid == "rsa-1" && alg == "ES256")
    );
}

#[tokio::test]
async fn token_without_kid_needs_a_single_key() {
    let t = token_with_header(&rsa1(), &json!({"alg": "RS256"}), &claims());
    assert!(matches!(refuse(&t).await, JwtError::MissingKid { candidates: 2 }));
}

#[tokio::test]
async fn expired_token_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"exp": NOW - 31})));
    assert!(matches!(refuse(&t).await, JwtError::Expired { exp, now } if exp == NOW - 31 && now == NOW));
}

#[tokio::test]
async fn expired_tokens_are_refused_before_any_signature_check() {
    // Signed by a key the verifier does not know, or not signed at all: the expiry alone refuses them, so
    // a flood of expired tokens costs no signature checks (and trusting nothing, since it only refuses).
    let forged = token(&rsa2(), &claims_with(json!({"exp": NOW - 31})));
    assert!(matches!(refuse(&forged).await, JwtError::Expired { .. }));
    let valid = token(&rsa1(), &claims_with(json!({"exp": NOW - 31})));
    let mut unsigned = valid.rsplit_once('.').map(|(head, _)| head.to_owned()).unwrap_or_default();
    unsigned.push_str(".AAAA");
    assert!(matches!(refuse(&unsigned).await, JwtError::Expired { .. }));
    // Not expired and badly signed: the signature is what refuses it.
    let live_forged = token(&rsa2(), &claims());
    assert!(!matches!(refuse(&live_forged).await, JwtError::Expired { .. }));
}

/// Found by fuzzing (issue 16): a correctly signed token whose `exp` is past what `SystemTime` can hold
/// panicked the verifier instead of being refused.
#[tokio::test]
async fn dates_after_the_year_9999_are_refused_not_a_panic() {
    for exp in
        [json!(17_888_888_887_888_888_800_u64), json!(u64::MAX), json!(1.7e19), json!(253_402_300_800_u64)]
    {
        let t = token(&rsa1(), &claims_with(json!({ "exp": exp })));
        assert!(matches!(refuse(&t).await, JwtError::InvalidClaim { claim: "exp", .. }), "{exp}");
    }
    for claim in ["nbf", "iat"] {
        let t = token(&rsa1(), &claims_with(json!({ claim: u64::MAX })));
        assert!(matches!(refuse(&t).await, JwtError::InvalidClaim { .. }), "{claim}");
    }
    // The last second of 9999 is still a date.
    let t = token(&rsa1(), &claims_with(json!({"exp": 253_402_300_799_u64})));
    assert!(verifier().verify_jwt(&t).await.is_ok());
}

#[tokio::test]
async fn missing_exp_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"exp": null})));
    assert!(matches!(refuse(&t).await, JwtError::MissingClaim("exp")));
}

#[tokio::test]
async fn malformed_exp_is_refused() {
    for exp in [json!("1800000600"), json!(-5), json!(true)] {
        let t = token(&rsa1(), &claims_with(json!({ "exp": exp })));
        assert!(matches!(refuse(&t).await, JwtError::InvalidClaim { claim: "exp", .. }), "{exp}");
    }
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"nbf": NOW + 120})));
    assert!(matches!(refuse(&t).await, JwtError::NotYetValid { nbf, .. } if nbf == NOW + 120));
}

#[tokio::test]
async fn iat_far_in_the_future_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"iat": NOW + 3600, "exp": NOW + 7200})));
    assert!(matches!(refuse(&t).await, JwtError::IssuedInFuture { iat, .. } if iat == NOW + 3600));
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"iss": "https://evil.example.com"})));
    assert!(
        matches!(refuse(&t).await, JwtError::WrongIssuer { found } if found == "https://evil.example.com")
    );
    let t = token(&rsa1(), &claims_with(json!({"iss": null})));
    assert!(matches!(refuse(&t).await, JwtError::MissingClaim("iss")));
}

#[tokio::test]
async fn issuer_with_a_trailing_slash_difference_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"iss": format!("{ISSUER}/")})));
    assert!(matches!(refuse(&t).await, JwtError::WrongIssuer { .. }));
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"aud": "https://other-service.example.com"})));
    assert!(
        matches!(refuse(&t).await, JwtError::WrongAudience { found } if found == ["https://other-service.example.com"])
    );
    let t = token(&rsa1(), &claims_with(json!({"aud": null})));
    assert!(matches!(refuse(&t).await, JwtError::MissingClaim("aud")));
}

#[tokio::test]
async fn audience_array_without_ours_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"aud": ["urn:a", format!("{AUDIENCE}/"), "urn:b"]})));
    assert!(matches!(refuse(&t).await, JwtError::WrongAudience { found } if found.len() == 3));
    let t = token(&rsa1(), &claims_with(json!({"aud": [AUDIENCE, 7]})));
    assert!(matches!(refuse(&t).await, JwtError::InvalidClaim { claim: "aud", .. }));
}

#[tokio::test]
async fn refresh_token_used_as_access_token_is_refused() {
    let t = token(&rsa1(), &claims_with(json!({"token_use": "refresh"})));
    assert!(
        matches!(refuse(&t).await, JwtError::WrongTokenUse { expected: "access", found: Some(f) } if f == "refresh")
    );
    let t = token(&rsa1(), &claims_with(json!({"token_use": "id"})));
    assert!(matches!(refuse(&t).await, JwtError::WrongTokenUse { .. }));

    // The issuer's own tokens, both directions.
    let issuer = JwtIssuer::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .signing_key(SigningKey::generate_es256("proxy-1").unwrap())
        .build()
        .unwrap();
    let request = TokenRequest::new("user_1").scopes(["mcp:read"]);
    let refresh = issuer.sign_refresh(&request).unwrap();
    let access = issuer.sign_access(&request).unwrap();
    let typed = issuer.access_verifier().build().unwrap();
    assert!(matches!(typed.verify_jwt(refresh.expose()).await, Err(JwtError::WrongType { .. })));
    let untyped = JwtVerifier::builder()
        .jwk_set(&issuer.public_jwks())
        .algorithms([Algorithm::ES256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert!(matches!(untyped.verify_jwt(refresh.expose()).await, Err(JwtError::WrongTokenUse { .. })));
    untyped.verify_jwt(access.expose()).await.unwrap();
    assert!(matches!(
        issuer.verify_refresh(access.expose()).await,
        Err(JwtError::WrongTokenUse { expected: "refresh", .. })
    ));
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let t = good();
    let mut parts: Vec<&str> = t.split('.').collect();
    let forged = b64(claims_with(json!({"sub": "admin"})).to_string());
    parts[1] = &forged;
    assert!(matches!(refuse(&parts.join(".")).await, JwtError::InvalidSignature(_)));
}

#[tokio::test]
async fn tampered_header_is_refused() {
    let t = good();
    let mut parts: Vec<&str> = t.split('.').collect();
    let forged = b64(json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}).to_string());
    parts[0] = &forged;
    assert!(matches!(refuse(&parts.join(".")).await, JwtError::InvalidSignature(_)));
}

#[tokio::test]
async fn truncated_signature_is_refused() {
    let t = good();
    // An RS256 signature is 342 base64url characters; 340 still decode cleanly (255 bytes).
    assert_eq!(t.len() - t.rfind('.').unwrap() - 1, 342);
    assert!(matches!(refuse(&t[..t.len() - 2]).await, JwtError::InvalidSignature(_)));
    // A length no base64 can have.
    assert!(matches!(refuse(&t[..t.len() - 1]).await, JwtError::Base64 { part: Part::Signature, .. }));
    // No signature at all.
    let unsigned = &t[..=t.rfind('.').unwrap()];
    assert!(matches!(refuse(unsigned).await, JwtError::InvalidSignature(_)));
}

#[tokio::test]
async fn extra_segments_are_refused() {
    let t = good();
    assert!(matches!(refuse(&format!("{t}.extra")).await, JwtError::SegmentCount { found: 4 }));
    assert!(matches!(refuse(&format!("{t}.a.b")).await, JwtError::SegmentCount { found: 5 }));
    assert!(matches!(refuse("onlyone").await, JwtError::SegmentCount { found: 1 }));
    assert!(matches!(refuse("").await, JwtError::SegmentCount { found: 1 }));
}

#[tokio::test]
async fn invalid_base64url_is_refused() {
    let t = good();
    let (header, rest) = t.split_once('.').unwrap();
    // Standard-alphabet characters, padding, whitespace.
    for bad in [format!("{header}+/"), format!("{header}=="), format!(" {header}")] {
        let forged = format!("{bad}.{rest}");
        assert!(matches!(refuse(&forged).await, JwtError::Base64 { part: Part::Header, .. }), "{bad}");
    }
    let (message, _) = t.rsplit_once('.').unwrap();
    let forged = format!("{message}.sig*nature");
    assert!(matches!(refuse(&forged).await, JwtError::Base64 { part: Part::Signature, .. }));
}

#[tokio::test]
async fn non_json_header_is_refused() {
    let t = good();
    let rest = t.split_once('.').unwrap().1;
    for header in ["not json", "[\"alg\",\"RS256\"]", "{\"alg\":\"RS256\"", ""] {
        let forged = format!("{}.{rest}", b64(header));
        assert!(matches!(refuse(&forged).await, JwtError::Json { part: Part::Header, .. }), "{header}");
    }
    // JSON, but not a JOSE header.
    let forged = format!("{}.{rest}", b64(r#"{"typ":"JWT"}"#));
    assert!(matches!(refuse(&forged).await, JwtError::InvalidHeader(_)));
    let forged = format!("{}.{rest}", b64(r#"{"alg":256}"#));
    assert!(matches!(refuse(&forged).await, JwtError::InvalidHeader(_)));
}

#[tokio::test]
async fn json_with_duplicate_keys_is_refused() {
    let key = rsa1();
    // Payload: the second `sub` would win in serde_json.
    let payload = claims().to_string().replacen('{', r#"{"sub":"admin","#, 1);
    let t = sign_raw(&header_for(&key).to_string(), &payload, key.alg, &key.encoding);
    assert!(
        matches!(refuse(&t).await, JwtError::DuplicateKey { part: Part::Payload, name } if name == "sub")
    );
    // Header: two `alg`s.
    let header = r#"{"alg":"RS256","kid":"rsa-1","alg":"HS256"}"#;
    let t = sign_raw(header, &claims().to_string(), key.alg, &key.encoding);
    assert!(matches!(refuse(&t).await, JwtError::DuplicateKey { part: Part::Header, name } if name == "alg"));
    // Nested duplicates too.
    let payload = claims_with(json!({"ext": {"role": "user"}}))
        .to_string()
        .replace(r#""role":"user""#, r#""role":"user","role":"admin""#);
    let t = sign_raw(&header_for(&key).to_string(), &payload, key.alg, &key.encoding);
    assert!(
        matches!(refuse(&t).await, JwtError::DuplicateKey { part: Part::Payload, name } if name == "role")
    );
}

#[tokio::test]
async fn oversized_token_is_refused() {
    let big = claims_with(json!({"padding": "x".repeat(20 * 1024)}));
    let t = token(&rsa1(), &big);
    assert!(matches!(refuse(&t).await, JwtError::TooLarge { max: 16384, .. }));
    // Refused before decoding: garbage of that size gives the same answer.
    assert!(matches!(refuse(&"!".repeat(17_000)).await, JwtError::TooLarge { .. }));
}

#[tokio::test]
async fn crit_header_with_an_unknown_extension_is_refused() {
    let header = json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp-ext"], "exp-ext": 1});
    let t = token_with_header(&rsa1(), &header, &claims());
    assert!(matches!(refuse(&t).await, JwtError::UnsupportedCritical { names } if names == ["exp-ext"]));
    let header = json!({"alg": "RS256", "kid": "rsa-1", "crit": "b64"});
    let t = token_with_header(&rsa1(), &header, &claims());
    assert!(matches!(refuse(&t).await, JwtError::UnsupportedCritical { .. }));
}

#[tokio::test]
async fn missing_scopes_are_refused_with_403() {
    let t = token(&rsa1(), &claims_with(json!({"scope": "mcp:write"})));
    assert!(
        matches!(refuse(&t).await, JwtError::InsufficientScope { missing, .. } if missing == ["mcp:read"])
    );
    let t = token(&rsa1(), &claims_with(json!({"scope": null})));
    assert!(matches!(refuse(&t).await, JwtError::InsufficientScope { .. }));
    let t = token(&rsa1(), &claims_with(json!({"scope": 42})));
    assert!(matches!(refuse(&t).await, JwtError::InvalidClaim { claim: "scope", .. }));
}

/// Issue 11: scope checks were exact; with a hierarchy a broad scope meets the narrower requirement, and
/// without one it still does not.
#[tokio::test]
async fn scope_hierarchy_hook_lets_a_broad_scope_meet_the_required_one() {
    let t = token(&rsa1(), &claims_with(json!({"scope": "mcp:admin"})));
    assert!(matches!(refuse(&t).await, JwtError::InsufficientScope { .. }), "exact by default");
    let verifier = JwtVerifier::builder()
        .jwks(jwks(&[&rsa1()]))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .required_scopes(["mcp:read"])
        .scope_hierarchy(
            mcp_auth_core::scope::ScopeImplications::new().scope_implies("mcp:admin", ["mcp:read"]),
        )
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let access = verifier.verify_jwt(&t).await.expect("mcp:admin implies mcp:read");
    assert_eq!(access.scopes, ["mcp:admin"], "the granted scopes are reported as they are");
    let narrow = token(&rsa1(), &claims_with(json!({"scope": "mcp:write"})));
    assert!(matches!(verifier.verify_jwt(&narrow).await, Err(JwtError::InsufficientScope { .. })));
}

#[tokio::test]
async fn algorithm_outside_the_allow_list_is_refused() {
    let t = token(&ed25519(), &claims());
    assert!(matches!(refuse(&t).await, JwtError::AlgorithmNotAllowed { alg } if alg == "EdDSA"));
    let t = token_with_header(&rsa1(), &json!({"alg": "RS1024", "kid": "rsa-1"}), &claims());
    assert!(matches!(refuse(&t).await, JwtError::AlgorithmNotAllowed { .. }));
}

#[tokio::test]
async fn wrong_typ_is_refused_when_required() {
    let verifier = JwtVerifier::builder()
        .jwks(jwks(&[&rsa1()]))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_access_token_type()
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let t = token(&rsa1(), &claims());
    assert!(
        matches!(verifier.verify_jwt(&t).await, Err(JwtError::WrongType { found: Some(f), .. }) if f == "JWT")
    );
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let t = token_with_header(&rsa1(), &json!({"alg": "RS256", "kid": "rsa-1", "typ": typ}), &claims());
        verifier.verify_jwt(&t).await.unwrap_or_else(|e| panic!("{typ}: {e:?}"));
    }
}

#[tokio::test]
async fn hostile_input_never_panics() {
    let verifier = verifier();
    let good = good();
    let mut rng_state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    let alphabet: Vec<char> = "ABCxyz019-_.=+/{}\"\\ \u{e9}\u{1F600}\0".chars().collect();
    for round in 0..3_000 {
        let candidate: String = if round % 2 == 0 {
            let len = (next() % 200) as usize;
            (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        } else {
            // Flip one character of a valid token.
            let mut chars: Vec<char> = good.chars().collect();
            let i = (next() % chars.len() as u64) as usize;
            chars[i] = alphabet[(next() % alphabet.len() as u64) as usize];
            chars.into_iter().collect()
        };
        if candidate == good {
            continue;
        }
        assert!(verifier.verify_jwt(&candidate).await.is_err(), "{candidate}");
    }
}

/// Issue 11: the `alg` header was printed raw in `AlgorithmNotAllowed`, whose message goes to the logs, so
/// a token could write new log lines or terminal escapes there. Every value the token controls (`alg`,
/// `kid`, `typ`, `crit`, member names, claims) is shown quoted, escaped and cut short.
#[tokio::test]
async fn the_alg_header_is_escaped_in_errors_shown_in_logs() {
    let hostile = "RS256\n2031-01-01T00:00:00Z  INFO admin login ok\u{1b}[2K\u{202e}\r";
    let long = format!("{hostile}{}", "A".repeat(4_000));
    let require_typ = JwtVerifier::builder()
        .jwks(jwks(&[&rsa1()]))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_access_token_type()
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    let key = rsa1();
    let signed = |header: serde_json::Value, claims: &serde_json::Value| {
        sign_raw(&header.to_string(), &claims.to_string(), Algorithm::RS256, &key.encoding)
    };
    let errors = [
        refuse(&signed(json!({"alg": hostile, "kid": "rsa-1"}), &claims())).await,
        refuse(&signed(json!({"alg": long, "kid": "rsa-1"}), &claims())).await,
        refuse(&signed(json!({"alg": "RS256", "kid": hostile}), &claims())).await,
        refuse(&signed(json!({"alg": "ES256", "kid": long}), &claims())).await,
        refuse(&signed(json!({"alg": "RS256", "kid": "rsa-1", "crit": [hostile]}), &claims())).await,
        refuse(&signed(json!({"alg": "RS256", "kid": "rsa-1"}), &claims_with(json!({"iss": long})))).await,
        refuse(&signed(json!({"alg": "RS256", "kid": "rsa-1"}), &claims_with(json!({"aud": [hostile]}))))
            .await,
        refuse(&signed(json!({"alg": "RS256", "kid": "rsa-1"}), &claims_with(json!({"token_use": hostile}))))
            .await,
        require_typ
            .verify_jwt(&signed(json!({"alg": "RS256", "kid": "rsa-1", "typ": hostile}), &claims()))
            .await
            .unwrap_err(),
    ];
    let name = serde_json::to_string(hostile).unwrap();
    let raw_header = format!(r#"{{"alg":"RS256",{name}:1,{name}:2}}"#);
    let duplicate = refuse(&format!("{}.{}.{}", b64(&raw_header), b64(claims().to_string()), b64("s"))).await;
    for err in errors.iter().chain([&duplicate]) {
        let shown = err.to_string();
        assert!(!shown.chars().any(|c| c.is_control() || c == '\u{202e}'), "{err:?} shows {shown:?}");
        assert!(shown.contains(r"\n") || shown.contains("AAA"), "the value is shown, escaped: {shown}");
        assert!(shown.len() < 300, "a long value is cut short: {} bytes: {shown}", shown.len());
    }
    // The fields keep the value as the token sent it, for programs.
    assert!(matches!(&errors[0], JwtError::AlgorithmNotAllowed { alg } if alg == hostile));
}
