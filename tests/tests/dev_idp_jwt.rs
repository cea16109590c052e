//! Tokens from the dev IdP verify with `mcp-auth-jwt`'s `JwtVerifier` pointed at its JWKS, with issuer
//! and audience checks on; expiry and key rotation behave as a verifier expects.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::TokenVerifier as _;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::MemoryStore;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use mcp_auth_jwt::JwtVerifier;

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const REDIRECT: &str = "http://127.0.0.1:8000/auth/callback";

async fn start(clock: &ManualClock) -> DevIdpHandle {
    DevIdp::builder()
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .org_id("org_1")
                .roles(["admin"])
                .permissions(["posts:write"]),
        )
        .user(DevUser::new("user_bob", "bob@example.com").roles(["member"]))
        .client(DevClient::confidential("proxy", "proxy-secret", [REDIRECT]))
        .auto_approve(true)
        .clock(Arc::new(clock.clone()))
        .store(Arc::new(MemoryStore::builder().clock(Arc::new(clock.clone())).build()))
        .access_token_ttl(Duration::from_secs(300))
        .start()
        .await
        .unwrap()
}

fn verifier(idp: &DevIdpHandle, clock: &ManualClock, audience: &str) -> JwtVerifier {
    JwtVerifier::builder()
        .jwks_url(idp.jwks_url())
        .issuer(idp.issuer())
        .audience(audience)
        .clock(Arc::new(clock.clone()))
        .leeway(Duration::ZERO)
        .build()
        .unwrap()
}

#[tokio::test]
async fn minted_tokens_verify_with_issuer_and_audience_checks() {
    let clock = ManualClock::starting_now();
    let idp = start(&clock).await;
    let verifier = verifier(&idp, &clock, RESOURCE);
    let token = idp.issue_access_token("user_ada", RESOURCE, ["openid", "mcp:tools"]).unwrap();
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified.subject.as_deref(), Some("user_ada"));
    assert_eq!(verified.issuer.as_deref(), Some(idp.issuer()));
    assert_eq!(verified.audience, [RESOURCE]);
    assert_eq!(verified.client_id.as_deref(), Some(mcp_auth_dev_idp::TEST_CLIENT_ID));
    assert!(verified.has_scope("mcp:tools"));
    let user = verified.user().unwrap();
    assert!(user.has_role("admin"));
    assert!(user.has_permission("posts:write"));
    assert_eq!(user.organization_id.as_deref(), Some("org_1"));
    assert!(user.session_id.is_some());

    // Another audience, or another issuer, is refused.
    let other = idp.issue_access_token("user_ada", "http://127.0.0.1:9999/mcp", ["openid"]).unwrap();
    assert!(verifier.verify(&other).await.is_err());
    let wrong_issuer = JwtVerifier::builder()
        .jwks_url(idp.jwks_url())
        .issuer("https://someone-else.authkit.app")
        .audience(RESOURCE)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert!(wrong_issuer.verify(&token).await.is_err());

    // Expiry follows the shared clock.
    clock.advance(Duration::from_secs(301));
    assert!(verifier.verify(&token).await.is_err());
}

#[tokio::test]
async fn tokens_from_the_code_flow_verify() {
    let clock = ManualClock::starting_now();
    let idp = start(&clock).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let verifier_str = "v".repeat(64);
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier_str.as_bytes()))
    };
    let url = url::Url::parse_with_params(
        &format!("{}/oauth2/authorize", idp.url()),
        &[
            ("response_type", "code"),
            ("client_id", "proxy"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
            ("login_hint", "user_bob"),
        ],
    )
    .unwrap();
    let response = http.get(url).send().await.unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth2/token", idp.url()))
        .basic_auth("proxy", Some("proxy-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier_str),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verified =
        verifier(&idp, &clock, RESOURCE).verify(tokens["access_token"].as_str().unwrap()).await.unwrap();
    let user = verified.user().unwrap();
    assert_eq!(user.user_id, "user_bob");
    assert!(user.has_role("member") && !user.has_role("admin"));
    assert_eq!(verified.client_id.as_deref(), Some("proxy"));
}

#[tokio::test]
async fn verifier_follows_key_rotation_and_removal() {
    let clock = ManualClock::starting_now();
    let idp = start(&clock).await;
    let verifier = verifier(&idp, &clock, RESOURCE);
    let old_kid = idp.idp().current_key_id();
    let old = idp.issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    verifier.verify(&old).await.unwrap();

    // A new key signs; once the verifier's refresh cooldown has passed, an unknown kid makes it refetch.
    idp.rotate_signing_key().unwrap();
    clock.advance(Duration::from_secs(60));
    let new = idp.issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    verifier.verify(&new).await.unwrap();
    verifier.verify(&old).await.unwrap();

    // A fresh verifier after the old key's removal refuses the old token and accepts the new one.
    idp.remove_key(&old_kid).unwrap();
    let fresh = self::verifier(&idp, &clock, RESOURCE);
    assert!(fresh.verify(&old).await.is_err());
    fresh.verify(&new).await.unwrap();
}
