//! The router without sockets (`oneshot`): a sweep of garbage over every endpoint and method, CORS, and
//! the binary's start-up.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt as _;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
use serde_json::Value;
use tower::ServiceExt as _;

const PATHS: [&str; 13] = [
    "/",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/oauth2/jwks",
    "/oauth2/authorize",
    "/oauth2/login",
    "/oauth2/consent",
    "/oauth2/token",
    "/oauth2/register",
    "/oauth2/userinfo",
    "/oauth2/revoke",
    "/oauth2/introspection",
    "/oauth2/unknown",
];

fn idp(auto_approve: bool) -> DevIdp {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").password("pw"))
        .client(DevClient::confidential("proxy", "secret", ["http://127.0.0.1:8000/cb"]))
        .client(DevClient::public("cli", ["http://127.0.0.1/cb"]).native())
        .auto_approve(auto_approve)
        .build("http://127.0.0.1:9400")
        .unwrap()
}

fn bodies() -> Vec<(Option<&'static str>, Vec<u8>)> {
    vec![
        (None, Vec::new()),
        (Some("application/x-www-form-urlencoded"), b"grant_type=authorization_code&code=%%%&&=".to_vec()),
        (Some("application/x-www-form-urlencoded"), b"token=a&token=b&client_id=cli".to_vec()),
        (Some("application/x-www-form-urlencoded"), vec![0xff, 0xfe, b'=', 0x00, b'&']),
        (Some("application/json"), b"{\"redirect_uris\": [null, 5, {}]}".to_vec()),
        (Some("application/json"), b"\xff\xfe not json".to_vec()),
        (Some("application/json"), b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]".to_vec()),
        (Some("text/plain"), b"grant_type=client_credentials".to_vec()),
        (Some("multipart/form-data; boundary=x"), b"--x\r\n\r\n--x--".to_vec()),
        (Some("application/x-www-form-urlencoded"), vec![b'a'; 100 * 1024]),
    ]
}

#[tokio::test]
async fn every_endpoint_survives_garbage_with_every_method() {
    for auto_approve in [true, false] {
        let router = idp(auto_approve).router();
        for path in PATHS {
            for method in
                [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD]
            {
                for (content_type, body) in bodies() {
                    for query in [
                        "",
                        "?client_id=cli&redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcb&response_type=code",
                        "?%zz=%00&&=&redirect_uri=%ff",
                    ] {
                        let mut request =
                            Request::builder().method(method.clone()).uri(format!("{path}{query}"));
                        if let Some(content_type) = content_type {
                            request = request.header(header::CONTENT_TYPE, content_type);
                        }
                        request = request.header(header::AUTHORIZATION, "Basic Y2xpOg==");
                        let response = router
                            .clone()
                            .oneshot(request.body(Body::from(body.clone())).unwrap())
                            .await
                            .unwrap();
                        let status = response.status();
                        assert!(
                            !status.is_server_error(),
                            "{method} {path}{query} ({content_type:?}, {} bytes): {status}",
                            body.len()
                        );
                        let json = response
                            .headers()
                            .get(header::CONTENT_TYPE)
                            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("application/json"));
                        let bytes = response.into_body().collect().await.unwrap().to_bytes();
                        if json && status.is_client_error() && method != Method::HEAD {
                            let value: Value = serde_json::from_slice(&bytes).unwrap();
                            assert!(value["error"].is_string(), "{method} {path}: {value}");
                        }
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn cors_preflight_allows_browser_clients_without_credentials() {
    let router = idp(true).router();
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/oauth2/register")
        .header(header::ORIGIN, "http://localhost:6274")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert!(response.status().is_success());
    // Loopback origins are allowed (echoed, since the default is no longer "any origin").
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:6274");
    assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
}

/// A child process that is killed (by its own handle) when the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_starts_prints_its_url_and_serves_metadata() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/users.example.toml");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_mcp-auth-dev-idp"))
            .args(["--config", config, "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("user_bob"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let printed = lines.join("\n");
    assert!(printed.contains("FOR DEVELOPMENT ONLY"), "{printed}");
    assert!(printed.contains("user_ada"), "{printed}");
    let issuer = lines.iter().find_map(|l| l.strip_prefix("issuer:")).unwrap().trim().to_owned();
    let metadata: Value = reqwest::get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], issuer);
    assert_eq!(metadata["dev_only"], true);
    assert!(metadata["scopes_supported"].as_array().unwrap().iter().any(|s| s == "mcp:tools"));

    let refused = Command::new(env!("CARGO_BIN_EXE_mcp-auth-dev-idp"))
        .args(["--bind", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("insecure-allow-non-loopback"));
}
