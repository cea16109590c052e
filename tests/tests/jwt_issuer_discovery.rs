//! `JwtVerifier` reading its JWKS URL from the issuer's metadata, lazily: built while the issuer is down
//! (no network call), answering "unavailable" (503 at the bearer layer) until the issuer answers, then
//! verifying; the metadata must name the issuer exactly; OpenID Connect discovery when RFC 8414's
//! document is missing. The dev IdP is the issuer, over real loopback HTTP.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mcp_auth_core::{TokenVerifier, VerifyError};
use mcp_auth_dev_idp::{DevIdp, DevUser};
use mcp_auth_jwt::{JwtIssuer, JwtVerifier, SigningKey, TokenRequest};
use mcp_auth_tests::catcher::serve;
use serde_json::json;

const AUDIENCE: &str = "https://mcp.example.com/mcp";

fn verifier(issuer: &str) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(issuer)
        .audience(AUDIENCE)
        .jwks_from_issuer_metadata()
        .jwks_retry_after_failure(Duration::ZERO)
        .build()
        .expect("builds without contacting the issuer")
}

#[tokio::test]
async fn a_verifier_built_while_the_issuer_is_down_starts_verifying_once_it_answers() {
    // Reserve a port, then leave it closed: the issuer is down.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let issuer = format!("http://{address}");
    let verifier = verifier(&issuer);

    let down = verifier.verify("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln").await.unwrap_err();
    assert!(matches!(down, VerifyError::Unavailable { .. }), "503 while the issuer is down: {down:?}");

    let idp = DevIdp::builder()
        .user(DevUser::new("user_1", "one@example.com"))
        .bind(address)
        .start()
        .await
        .unwrap();
    assert_eq!(idp.issuer(), issuer);
    let token = idp.issue_access_token("user_1", AUDIENCE, ["mcp"]).unwrap();
    let verified = verifier.verify(&token).await.expect("verifies once the issuer answers");
    assert_eq!(verified.subject.as_deref(), Some("user_1"));
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_refused_and_openid_discovery_is_the_fallback() {
    // A real issuer, whose keys the stand-ins below point at.
    let idp = DevIdp::builder().user(DevUser::new("user_1", "one@example.com")).start().await.unwrap();
    let jwks_uri = idp.jwks_url();

    // RFC 8414 metadata that names another issuer: refused, its jwks_uri never used.
    let liar = {
        let jwks_uri = jwks_uri.clone();
        Router::new().route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let jwks_uri = jwks_uri.clone();
                async move { axum::Json(json!({"issuer": "https://evil.example", "jwks_uri": jwks_uri})) }
            }),
        )
    };
    let liar = format!("http://{}", serve(liar).await);
    let token = idp.issue_access_token("user_1", AUDIENCE, ["mcp"]).unwrap();
    let refused = verifier(&liar).verify(&token).await.unwrap_err();
    assert!(matches!(refused, VerifyError::Unavailable { .. }), "{refused:?}");

    // Only OpenID Connect discovery, under an issuer with a path: found and used.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/main", listener.local_addr().unwrap());
    let signer = JwtIssuer::builder()
        .issuer(&issuer)
        .audience(AUDIENCE)
        .signing_key(SigningKey::generate_rs256("k1").unwrap())
        .build()
        .unwrap();
    let (metadata, jwks) = (
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/protocol/certs")}),
        signer.public_jwks_json(),
    );
    let oidc = Router::new()
        .route(
            "/realms/main/.well-known/openid-configuration",
            get(move || async move { axum::Json(metadata) }),
        )
        .route("/realms/main/protocol/certs", get(move || async move { axum::Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, oidc).await });
    let token = signer.sign_access(&TokenRequest::new("user_2").scopes(["mcp"])).unwrap();
    let verified =
        verifier(&issuer).verify(token.expose()).await.expect("keys found through OpenID discovery");
    assert_eq!(verified.subject.as_deref(), Some("user_2"));
}
