//! The dev IdP's endpoints through its router (no sockets), each against a baseline measured in the same
//! run: minting one access token directly (claims plus one RS256 signature).
//!
//! Run: `cargo bench -p mcp-auth-dev-idp --bench flows -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

const REDIRECT: &str = "http://127.0.0.1:8000/cb";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

fn form(path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("proxy:proxy-secret")))
        .body(Body::from(body))
        .unwrap()
}

async fn json(router: &axum::Router, request: Request<Body>) -> Value {
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let idp = DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").roles(["admin"]).org_id("org_1"))
        .client(DevClient::confidential("proxy", "proxy-secret", [REDIRECT]).allow_client_credentials())
        .auto_approve(true)
        .build("http://127.0.0.1:9400")
        .unwrap();
    let router = idp.router();
    let verifier = "v".repeat(64);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id=proxy&redirect_uri={}&code_challenge={challenge}\
         &code_challenge_method=S256&scope=openid&resource={}&state=s",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>(),
    );

    let mut group = c.benchmark_group("dev_idp");
    group.bench_function("baseline: issue_access_token (claims + RS256 sign)", |b| {
        b.iter(|| black_box(idp.issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap()));
    });
    group.bench_function("client_credentials grant (router)", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(json(&router, form("/oauth2/token", "grant_type=client_credentials".into())).await)
        });
    });
    group.bench_function("code flow: authorize + code exchange with ID token (router)", |b| {
        b.to_async(&rt).iter(|| async {
            let response =
                router.clone().oneshot(Request::get(&authorize).body(Body::empty()).unwrap()).await.unwrap();
            let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
            let code = url::Url::parse(&location)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "code")
                .unwrap()
                .1
                .into_owned();
            let body = format!(
                "grant_type=authorization_code&code={code}&code_verifier={verifier}&redirect_uri={}",
                url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
            );
            black_box(json(&router, form("/oauth2/token", body)).await)
        });
    });
    let access = idp.issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    group.bench_function("userinfo (router: RS256 verify + revocation lookups)", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::get("/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap();
            black_box(json(&router, request).await)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
