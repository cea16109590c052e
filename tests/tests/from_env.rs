//! `mcp_auth::McpAuth::from_settings` (what `from_env()` runs): every provider over every store, Fernet
//! included, against real parts (the dev IdP as AuthKit and as a generic issuer, Redis on 127.0.0.1:6379, a
//! file store in a temporary directory), and every missing or malformed setting named in its error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mcp_auth::McpAuth;
use mcp_auth::clock::ManualClock;
use mcp_auth::config::{ConfigError, Provider};
use mcp_auth::settings::Settings;
use mcp_auth::store::KvStorage;
use mcp_auth::{TokenVerifier, VerifyError};
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle, DevUser};
use mcp_auth_jwt::{JwtIssuer, SigningKey, TokenRequest};
use mcp_auth_store_redis::RedisStore;
use mcp_auth_tests::catcher::serve;

const BASE_URL: &str = "http://127.0.0.1:8000";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const REDIS_URL: &str = "redis://127.0.0.1:6379";

async fn idp(clock: Arc<ManualClock>) -> DevIdpHandle {
    DevIdp::builder()
        .user(DevUser::new("user_1", "one@example.com"))
        .clock(clock)
        .access_token_ttl(Duration::from_secs(300))
        .start()
        .await
        .expect("the dev IdP starts")
}

fn fernet_key() -> String {
    mcp_auth_fernet::FernetKey::generate().expose_secret().to_owned()
}

/// The settings of `provider` against `idp` (AuthKit stand-in, or the generic issuer).
fn provider_settings(provider: &str, idp: &DevIdpHandle) -> Vec<(String, String)> {
    let mut pairs = vec![("PROVIDER", provider.to_owned()), ("BASE_URL", BASE_URL.to_owned())];
    match provider {
        "authkit" => pairs.push(("AUTHKIT_DOMAIN", idp.url().to_owned())),
        "workos" => pairs.extend([
            ("AUTHKIT_DOMAIN", idp.url().to_owned()),
            ("WORKOS_CLIENT_ID", "client_test".to_owned()),
            ("WORKOS_CLIENT_SECRET", "sk_test_secret".to_owned()),
            ("JWT_SIGNING_KEY", "a-signing-secret-of-at-least-thirty-two-bytes".to_owned()),
            ("FERNET_KEYS", fernet_key()),
        ]),
        _ => pairs.push(("JWT_ISSUER", idp.issuer().to_owned())),
    }
    pairs.into_iter().map(|(name, value)| (Settings::var_name(name), value)).collect()
}

#[tokio::test]
async fn every_provider_builds_over_every_store_and_serves_its_metadata() {
    let clock = Arc::new(ManualClock::starting_now());
    let idp = idp(clock).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The file store refuses a directory other users can read.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let prefix = format!("from-env-{}", mcp_auth_oauth_server::random_token(8).expect("randomness"));
    let fernet = fernet_key();
    let stores: [(&str, Vec<(&str, String)>); 5] = [
        ("memory", vec![]),
        ("memory", vec![("FERNET_KEYS", fernet.clone())]),
        ("file", vec![("STORE", "file".to_owned()), ("FILE_STORE_DIR", dir.path().display().to_string())]),
        (
            "redis",
            vec![
                ("STORE", "redis".to_owned()),
                ("REDIS_URL", REDIS_URL.to_owned()),
                ("REDIS_PREFIX", prefix.clone()),
            ],
        ),
        (
            "redis",
            vec![
                ("STORE", "redis".to_owned()),
                ("REDIS_URL", REDIS_URL.to_owned()),
                ("REDIS_PREFIX", prefix.clone()),
                ("FERNET_KEYS", fernet.clone()),
            ],
        ),
    ];
    for provider in ["authkit", "workos", "jwt"] {
        for (store_name, store_pairs) in &stores {
            let mut pairs = provider_settings(provider, &idp);
            pairs.retain(|(name, _)| {
                !store_pairs.iter().any(|(store_name, _)| Settings::var_name(store_name) == *name)
            });
            pairs.extend(store_pairs.iter().map(|(name, value)| (Settings::var_name(name), value.clone())));
            let encrypted = pairs.iter().any(|(name, _)| name == "MCP_AUTH_FERNET_KEYS");
            let case = format!("{provider} over {store_name}{}", if encrypted { " + fernet" } else { "" });
            let auth = McpAuth::from_settings(&Settings::from_pairs(pairs))
                .await
                .unwrap_or_else(|err| panic!("{case}: {err}"));

            assert_eq!(auth.provider().name(), provider, "{case}");
            assert_eq!(auth.store_name(), *store_name, "{case}");
            assert_eq!(auth.resource().as_str(), RESOURCE, "{case}");
            match (provider, auth.provider()) {
                ("authkit", Provider::AuthKit(_))
                | ("workos", Provider::WorkOS(_))
                | ("jwt", Provider::Jwt(_)) => {}
                (_, other) => panic!("{case}: built {other:?}"),
            }

            // The store round-trips, and with Fernet keys nothing reaches the backend in clear.
            let store = auth.store();
            let key = format!("{provider}-{}", auth.store_name());
            store
                .put("from_env", &key, b"user_1 and their note", Some(Duration::from_secs(60)))
                .await
                .expect("put");
            assert_eq!(
                store.get("from_env", &key).await.expect("get").as_deref(),
                Some(&b"user_1 and their note"[..]),
                "{case}"
            );
            if *store_name == "redis" {
                let raw =
                    RedisStore::builder(REDIS_URL).prefix(prefix.clone()).connect().await.expect("raw Redis");
                let stored =
                    raw.get("from_env", &key).await.expect("raw get").expect("stored under the prefix");
                let clear = String::from_utf8_lossy(&stored).contains("user_1");
                assert_eq!(clear, !encrypted, "{case}: stored in clear = {clear}");
                raw.delete("from_env", &key).await.expect("clean up");
            }

            // The routes to mount answer: the protected resource metadata names the authorization server.
            let address = serve(auth.router()).await;
            let metadata: serde_json::Value =
                reqwest::get(format!("http://{address}/.well-known/oauth-protected-resource/mcp"))
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .unwrap_or_else(|err| panic!("{case}: {err}"))
                    .json()
                    .await
                    .expect("JSON");
            assert_eq!(metadata["resource"], RESOURCE, "{case}");
            let expected_server = if provider == "workos" { BASE_URL } else { idp.issuer() };
            assert_eq!(metadata["authorization_servers"], serde_json::json!([expected_server]), "{case}");
        }
    }
}

#[tokio::test]
async fn the_jwt_provider_checks_audience_expiry_keys_and_algorithms() {
    let clock = Arc::new(ManualClock::starting_now());
    let idp = idp(Arc::clone(&clock)).await;
    let settings = |extra: &[(&str, &str)]| {
        let mut pairs = provider_settings("jwt", &idp);
        pairs.extend(extra.iter().map(|(name, value)| (Settings::var_name(name), (*value).to_owned())));
        Settings::from_pairs(pairs)
    };
    let auth = McpAuth::from_settings(&settings(&[])).await.expect("builds");
    let verifier = auth.verifier();

    let valid = idp.issue_access_token("user_1", RESOURCE, ["mcp"]).expect("token");
    assert_eq!(verifier.verify(&valid).await.expect("a valid token").subject.as_deref(), Some("user_1"));

    let other_audience =
        idp.issue_access_token("user_1", "https://other.example.com/mcp", ["mcp"]).expect("token");
    assert!(matches!(verifier.verify(&other_audience).await, Err(VerifyError::Invalid { .. })));

    clock.set(SystemTime::now() - Duration::from_secs(7200));
    let expired = idp.issue_access_token("user_1", RESOURCE, ["mcp"]).expect("token");
    clock.set(SystemTime::now());
    assert!(matches!(verifier.verify(&expired).await, Err(VerifyError::Invalid { .. })));

    let kid = idp.signing_key_ids().into_iter().next().expect("a key");
    let untrusted = JwtIssuer::builder()
        .issuer(idp.issuer())
        .audience(RESOURCE)
        .signing_key(SigningKey::generate_rs256(&kid).expect("key"))
        .build()
        .expect("signer")
        .sign_access(&TokenRequest::new("user_1").scopes(["mcp"]))
        .expect("token");
    assert!(matches!(verifier.verify(untrusted.expose()).await, Err(VerifyError::Invalid { .. })));

    // An API identifier as the audience (Auth0, Entra): tokens for it pass, tokens for the resource URL do not.
    let api = McpAuth::from_settings(&settings(&[("JWT_AUDIENCE", "https://api.example.com")]))
        .await
        .expect("builds");
    let for_api = idp.issue_access_token("user_1", "https://api.example.com", ["mcp"]).expect("token");
    assert!(api.verifier().verify(&for_api).await.is_ok());
    assert!(api.verifier().verify(&valid).await.is_err());

    // An explicit JWKS URL is used as given; an algorithm list without RS256 refuses the dev IdP's tokens.
    let explicit =
        McpAuth::from_settings(&settings(&[("JWT_JWKS_URI", &idp.jwks_url())])).await.expect("builds");
    assert!(explicit.verifier().verify(&valid).await.is_ok());
    let es_only = McpAuth::from_settings(&settings(&[("JWT_ALGORITHMS", "ES256")])).await.expect("builds");
    assert!(es_only.verifier().verify(&valid).await.is_err());

    // Required scopes are enforced.
    let scoped =
        McpAuth::from_settings(&settings(&[("REQUIRED_SCOPES", "mcp admin")])).await.expect("builds");
    assert!(matches!(scoped.verifier().verify(&valid).await, Err(VerifyError::InsufficientScope { .. })));
}

#[tokio::test]
async fn the_jwt_provider_takes_a_static_public_key_and_the_proxy_a_previous_signing_key() {
    let private = secrecy::SecretString::from(include_str!("../../crates/jwt/tests/keys/ec256_private.pem"));
    let public = include_str!("../../crates/jwt/tests/keys/ec256_public.pem");
    let issuer = "https://login.example.com";
    let pairs = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("PROVIDER", "jwt"), ("BASE_URL", BASE_URL), ("JWT_ISSUER", issuer)];
        pairs.extend_from_slice(extra);
        Settings::from_pairs(
            pairs.into_iter().map(|(name, value)| (Settings::var_name(name), value.to_owned())),
        )
    };
    let auth =
        McpAuth::from_settings(&pairs(&[("JWT_PUBLIC_KEY", public)])).await.expect("builds from a PEM key");
    let signer = JwtIssuer::builder()
        .issuer(issuer)
        .audience(RESOURCE)
        .signing_key(SigningKey::from_pem("k", &private).expect("the test key"))
        .build()
        .expect("signer");
    let token = signer.sign_access(&TokenRequest::new("user_1").scopes(["mcp"])).expect("token");
    let verified = auth.verifier().verify(token.expose()).await.expect("verified with the static key");
    assert_eq!(verified.subject.as_deref(), Some("user_1"));

    let both = McpAuth::from_settings(&pairs(&[
        ("JWT_PUBLIC_KEY", public),
        ("JWT_JWKS_URI", "https://login.example.com/jwks"),
    ]))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        both.contains("MCP_AUTH_JWT_PUBLIC_KEY is invalid: set either a public key or MCP_AUTH_JWT_JWKS_URI"),
        "{both}"
    );
    let garbage =
        McpAuth::from_settings(&pairs(&[("JWT_PUBLIC_KEY", "not a key")])).await.unwrap_err().to_string();
    assert!(garbage.contains("MCP_AUTH_JWT_PUBLIC_KEY is invalid: not a PEM public key"), "{garbage}");

    // The proxy reads the previous signing key; a malformed one is named.
    let clock = Arc::new(ManualClock::starting_now());
    let idp = idp(clock).await;
    let mut workos = provider_settings("workos", &idp);
    workos.push((Settings::var_name("JWT_PREVIOUS_SIGNING_KEY"), "too-short".to_owned()));
    let err = McpAuth::from_settings(&Settings::from_pairs(workos)).await.unwrap_err().to_string();
    assert!(err.contains("MCP_AUTH_JWT_PREVIOUS_SIGNING_KEY"), "{err}");
    assert!(!err.contains("too-short"), "{err}");
}

async fn error_of(pairs: &[(&str, &str)]) -> String {
    let pairs: Vec<(String, String)> =
        pairs.iter().map(|(name, value)| (Settings::var_name(name), (*value).to_owned())).collect();
    match McpAuth::from_settings(&Settings::from_pairs(pairs)).await {
        Ok(auth) => panic!("built {:?}", auth.provider().name()),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn each_missing_variable_is_named() {
    let jwt = [("PROVIDER", "jwt"), ("BASE_URL", BASE_URL), ("JWT_ISSUER", "https://login.example.com")];
    let authkit =
        [("PROVIDER", "authkit"), ("BASE_URL", BASE_URL), ("AUTHKIT_DOMAIN", "your-app.authkit.app")];
    let workos = [
        ("PROVIDER", "workos"),
        ("BASE_URL", BASE_URL),
        ("AUTHKIT_DOMAIN", "your-app.authkit.app"),
        ("WORKOS_CLIENT_ID", "client_1"),
        ("WORKOS_CLIENT_SECRET", "sk_test_1"),
    ];
    let file = [
        ("PROVIDER", "jwt"),
        ("BASE_URL", BASE_URL),
        ("JWT_ISSUER", "https://login.example.com"),
        ("STORE", "file"),
    ];
    let without = |pairs: &[(&'static str, &'static str)], name: &str| -> Vec<(&'static str, &'static str)> {
        pairs.iter().copied().filter(|(n, _)| *n != name).collect()
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (without(&jwt, "PROVIDER"), "MCP_AUTH_PROVIDER"),
        (without(&jwt, "BASE_URL"), "MCP_AUTH_BASE_URL"),
        (without(&jwt, "JWT_ISSUER"), "MCP_AUTH_JWT_ISSUER"),
        (without(&authkit, "AUTHKIT_DOMAIN"), "MCP_AUTH_AUTHKIT_DOMAIN"),
        (without(&workos, "AUTHKIT_DOMAIN"), "MCP_AUTH_AUTHKIT_DOMAIN"),
        (without(&workos, "WORKOS_CLIENT_ID"), "MCP_AUTH_WORKOS_CLIENT_ID"),
        (without(&workos, "WORKOS_CLIENT_SECRET"), "MCP_AUTH_WORKOS_CLIENT_SECRET"),
        (file.to_vec(), "MCP_AUTH_FILE_STORE_DIR"),
    ];
    for (pairs, variable) in cases {
        let err = error_of(&pairs).await;
        assert!(
            err.starts_with(&format!("{variable} is not set (example: {variable}=")),
            "{variable}: {err}"
        );
    }
}

#[tokio::test]
async fn each_malformed_variable_is_named_without_its_value() {
    let base = [("PROVIDER", "jwt"), ("BASE_URL", BASE_URL), ("JWT_ISSUER", "https://login.example.com")];
    let cases: [(&str, &str, &str); 14] = [
        ("PROVIDER", "keycloak", "expected one of authkit, workos, jwt"),
        ("STORE", "postgres", "expected one of memory, file, redis"),
        ("BASE_URL", "ftp://mcp.example.com", "the scheme must be http or https"),
        ("MCP_PATH", "mcp", "a path must start with /"),
        ("REQUIRED_SCOPES", "[1]", "MCP_AUTH_REQUIRED_SCOPES is invalid"),
        ("JWT_ISSUER", "issuer-without-scheme", "MCP_AUTH_JWT_ISSUER is invalid"),
        ("JWT_JWKS_URI", "not a url", "MCP_AUTH_JWT_JWKS_URI is invalid"),
        ("JWT_ALGORITHMS", "RS999", "entry 1 is not a JWS algorithm"),
        ("JWT_ALGORITHMS", "RS256, HS256", "HMAC algorithms need a shared secret"),
        ("JWT_ALGORITHMS", ",", "the list is empty"),
        ("LISTEN", "everywhere", "MCP_AUTH_LISTEN is invalid"),
        ("FERNET_KEYS", "not-a-fernet-key", "MCP_AUTH_FERNET_KEYS"),
        ("ALLOWED_CLIENT_REDIRECT_URIS", " , ", "the list is empty"),
        ("DEV_IDP_PORT", "70000", "MCP_AUTH_DEV_IDP_PORT is invalid"),
    ];
    for (name, value, expected) in cases {
        let mut pairs: Vec<(&str, &str)> = base.iter().copied().filter(|(n, _)| *n != name).collect();
        pairs.push((name, value));
        let err = error_of(&pairs).await;
        assert!(err.contains(expected), "{name}={value}: {err}");
        assert!(err.contains(&Settings::var_name(name)), "{name}={value} names the variable: {err}");
        if value.len() > 3 {
            assert!(!err.contains(value), "{name}: the value is not echoed: {err}");
        }
    }

    // A store that cannot be opened names the store, and never the password in its URL.
    let err = error_of(&[
        ("PROVIDER", "jwt"),
        ("BASE_URL", BASE_URL),
        ("JWT_ISSUER", "https://login.example.com"),
        ("STORE", "redis"),
        ("REDIS_URL", "redis://:hunter2-password@127.0.0.1:1"),
    ])
    .await;
    assert!(err.starts_with("cannot open the `redis` store (MCP_AUTH_STORE)"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // A provider's own refusal comes through, naming what to change.
    let err = error_of(&[
        ("PROVIDER", "workos"),
        ("BASE_URL", BASE_URL),
        ("AUTHKIT_DOMAIN", "your-app.authkit.app"),
        ("WORKOS_CLIENT_ID", "client_1"),
        ("WORKOS_CLIENT_SECRET", "sk_test_1"),
        ("JWT_SIGNING_KEY", "short-secret-xyz"),
    ])
    .await;
    assert!(err.contains("MCP_AUTH_JWT_SIGNING_KEY"), "{err}");
    assert!(!err.contains("short-secret-xyz"), "{err}");

    // The proxy over a store that outlives the process needs keys that do too.
    let lasting = [
        ("PROVIDER", "workos"),
        ("BASE_URL", BASE_URL),
        ("AUTHKIT_DOMAIN", "your-app.authkit.app"),
        ("WORKOS_CLIENT_ID", "client_1"),
        ("WORKOS_CLIENT_SECRET", "sk_test_1"),
        ("STORE", "redis"),
    ];
    let err = error_of(&lasting).await;
    assert!(
        err.starts_with(
            "MCP_AUTH_FERNET_KEYS: MCP_AUTH_PROVIDER=workos keeps its state in the `redis` store"
        ),
        "{err}"
    );
    let fernet = fernet_key();
    let mut with_fernet = lasting.to_vec();
    with_fernet.push(("FERNET_KEYS", &fernet));
    let err = error_of(&with_fernet).await;
    assert!(err.starts_with("MCP_AUTH_JWT_SIGNING_KEY: MCP_AUTH_PROVIDER=workos keeps its state"), "{err}");

    // The issuer and the JWKS URL: https (http on loopback only), no query or fragment, named.
    for (name, value, expected) in [
        ("JWT_ISSUER", "http://login.example.com", "plain http is allowed on loopback only"),
        ("JWT_JWKS_URI", "http://keys.example.com/jwks", "plain http is allowed on loopback only"),
        ("JWT_ISSUER", "https://login.example.com/?tenant=1", "a query or fragment is not allowed"),
    ] {
        let mut pairs: Vec<(&str, &str)> = base.iter().copied().filter(|(n, _)| *n != name).collect();
        pairs.push((name, value));
        let err = error_of(&pairs).await;
        assert!(err.starts_with(&format!("{} is invalid: {expected}", Settings::var_name(name))), "{err}");
    }
}

#[tokio::test]
async fn the_toml_file_and_env_file_configure_the_provider_under_the_environment() {
    let clock = Arc::new(ManualClock::starting_now());
    let idp = idp(clock).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("mcp-auth.toml"),
        format!("provider = \"jwt\"\nbase_url = \"https://toml.example.com\"\n\n[jwt]\nissuer = \"{}\"\nalgorithms = [\"RS256\", \"ES256\"]\n", idp.issuer()),
    )
    .expect("write");
    std::fs::write(dir.path().join(".env"), "MCP_AUTH_MCP_PATH=/tools/mcp\n").expect("write");
    let settings = Settings::from_env_in(dir.path(), [("MCP_AUTH_BASE_URL", BASE_URL)]).expect("settings");
    let auth = McpAuth::from_settings(&settings).await.expect("builds from the three layers");
    assert_eq!(auth.resource().as_str(), format!("{BASE_URL}/tools/mcp"));
    let token = idp.issue_access_token("user_1", auth.resource().as_str(), ["mcp"]).expect("token");
    assert!(auth.verifier().verify(&token).await.is_ok());

    // A malformed value in the file names the key and the file; an unknown key names its nearest neighbour.
    let toml = dir.path().join("mcp-auth.toml");
    std::fs::write(
        &toml,
        "provider = \"jwt\"\nbase_url = \"https://toml.example.com\"\n[jwt]\nissuer = \"ftp://nope\"\n",
    )
    .expect("write");
    let settings = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).expect("settings");
    let err = McpAuth::from_settings(&settings).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("`jwt_issuer` in {} is invalid", toml.display())), "{err}");
    assert!(err.contains("(example: jwt_issuer = \"https://login.example.com/realms/main\")"), "{err}");

    std::fs::write(
        &toml,
        "provider = \"jwt\"\nbase_url = \"https://toml.example.com\"\njwt_isuer = \"https://x\"\n",
    )
    .expect("write");
    let settings = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).expect("settings");
    let err = McpAuth::from_settings(&settings).await.unwrap_err();
    assert!(matches!(err, ConfigError::Settings(_)), "{err:?}");
    assert!(err.to_string().contains("unknown key `jwt_isuer` (did you mean `jwt_issuer`?)"), "{err}");

    std::fs::write(&toml, "config = \"other.toml\"\n").expect("write");
    let settings = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).expect("settings");
    let err = McpAuth::from_settings(&settings).await.unwrap_err().to_string();
    assert!(err.contains("key `config`: set MCP_AUTH_CONFIG in the environment instead"), "{err}");
}
