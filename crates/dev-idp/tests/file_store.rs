//! The dev IdP on the file store: state survives a restart, and no raw code or token is ever a key or
//! written to disk.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::KvStorage;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use mcp_auth_store_file::FileStore;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const REDIRECT: &str = "http://127.0.0.1:8000/auth/callback";

async fn start(store: Arc<dyn KvStorage>) -> DevIdpHandle {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com"))
        .client(DevClient::confidential("proxy", "proxy-secret", [REDIRECT]))
        .auto_approve(true)
        .store(store)
        .start()
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn token(idp: &DevIdpHandle, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/oauth2/token", idp.url()))
        .basic_auth("proxy", Some("proxy-secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            files_contain(&path, needle)
        } else {
            path.to_string_lossy().contains(needle)
                || std::fs::read(&path).is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
        }
    })
}

#[tokio::test]
async fn state_lives_in_the_file_store_under_hashes_and_survives_a_restart() {
    // Private to this user (mode 0700): the file store refuses a root open to others.
    let dir = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let store: Arc<dyn KvStorage> = Arc::new(FileStore::open(dir.path()).await.unwrap());
    let idp = start(Arc::clone(&store)).await;

    let verifier = "q".repeat(60);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = url::Url::parse_with_params(
        &format!("{}/oauth2/authorize", idp.url()),
        &[
            ("response_type", "code"),
            ("client_id", "proxy"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
        ],
    )
    .unwrap();
    let response = http().get(url).send().await.unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    assert!(!files_contain(dir.path(), &code), "the raw code is on disk");

    let (status, tokens) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(!files_contain(dir.path(), &refresh), "the raw refresh token is on disk");
    assert!(!files_contain(dir.path(), &code), "the raw code is on disk");
    let page = store.list_keys("dev_idp_refresh_tokens", None, 100).await.unwrap();
    assert_eq!(page.next, None, "one page holds every key");
    let keys = page.keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].len(), 64, "refresh tokens are keyed by their HMAC-SHA256 in hex");
    assert!(keys[0].bytes().all(|b| b.is_ascii_hexdigit()));

    // A new process on the same store honours the refresh token (signing keys are per process).
    idp.shutdown().await;
    let store: Arc<dyn KvStorage> = Arc::new(FileStore::open(dir.path()).await.unwrap());
    let idp = start(store).await;
    let (status, rotated) =
        token(&idp, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    // Reuse detection works across the restart too.
    let (status, body) = token(&idp, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let newest = rotated["refresh_token"].as_str().unwrap();
    let (status, _) = token(&idp, &[("grant_type", "refresh_token"), ("refresh_token", newest)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
