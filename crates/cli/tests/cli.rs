//! `mcp-auth keygen`, `doctor` and `token` as real processes: an empty environment plus what each test
//! sets, in a temporary directory (so no stray `.env` or `mcp-auth.toml` is read), with bounded waits.
//!
//! The Redis tests use the server on 127.0.0.1:6379 with a random key prefix, and remove their keys.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mcp_auth::clock::ManualClock;
use mcp_auth::jwt::{Algorithm, SigningKey};
use mcp_auth::settings::Settings;
use mcp_auth::store::KvStorage;
use mcp_auth::store::fernet::{FernetKey, FernetStore};
use mcp_auth::store::redis::RedisStore;
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle, DevUser};
use tokio::io::AsyncWriteExt as _;

const BASE_URL: &str = "http://127.0.0.1:8000";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const REDIS_URL: &str = "redis://127.0.0.1:6379";

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Runs `mcp-auth args` in `dir` with exactly `env` (plus `--color never`), feeding `stdin`.
async fn mcp_auth(dir: &Path, env: &[(String, String)], args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth"));
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .arg("--color")
        .arg("never")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the mcp-auth binary starts");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // The process may stop reading early (a token that is too long): a broken pipe is fine.
        let _ = pipe.write_all(&bytes).await;
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("mcp-auth finishes within 60 s")
        .unwrap();
    let run = Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.all());
    run
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    env.retain(|(k, _)| k != name);
    env.push((name.to_owned(), value.to_owned()));
}

fn unset(env: &mut Vec<(String, String)>, name: &str) {
    env.retain(|(k, _)| k != name);
}

async fn idp() -> DevIdpHandle {
    DevIdp::builder().user(DevUser::new("user_ada", "ada@example.com")).port(0).start().await.unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn random_prefix() -> String {
    format!("mcp-auth-cli-test-{}-{:x}", std::process::id(), rand_u64())
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}

/// Writes one Fernet-encrypted value under `prefix`; returns the store to clean up with.
async fn store_one_value(prefix: &str, key: &FernetKey) -> FernetStore<RedisStore> {
    let redis =
        RedisStore::builder(REDIS_URL).prefix(prefix).connect().await.expect("Redis on 127.0.0.1:6379");
    let store = FernetStore::new(redis, vec![key.clone()]).unwrap();
    store.put("app", "greeting", b"hello", Some(Duration::from_secs(300))).await.unwrap();
    store
}

/// A good AuthKit configuration over Fernet-encrypted Redis.
fn good_env(idp: &DevIdpHandle, prefix: &str, key: &FernetKey) -> Vec<(String, String)> {
    vars(&[
        ("MCP_AUTH_PROVIDER", "authkit"),
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
        ("MCP_AUTH_BASE_URL", BASE_URL),
        ("MCP_AUTH_STORE", "redis"),
        ("MCP_AUTH_REDIS_URL", REDIS_URL),
        ("MCP_AUTH_REDIS_PREFIX", prefix),
        ("MCP_AUTH_FERNET_KEYS", key.expose_secret()),
    ])
}

#[tokio::test]
async fn keygen_output_loads_through_the_server_code() {
    let dir = tempfile::tempdir().unwrap();
    let run = mcp_auth(dir.path(), &[], &["keygen", "jwt"], None).await;
    assert_eq!(run.status, 0, "{}", run.all());
    let secret = run.stdout.trim_end();
    assert_eq!(secret.len(), 64, "{}", run.all());
    let settings = Settings::from_pairs([("MCP_AUTH_JWT_SIGNING_KEY", secret)]);
    assert_eq!(SigningKey::from_settings(&settings).unwrap().unwrap().algorithm(), Algorithm::HS256);

    for (alg, expected) in
        [("es256", Algorithm::ES256), ("eddsa", Algorithm::EdDSA), ("rs256", Algorithm::RS256)]
    {
        let bare = mcp_auth(dir.path(), &[], &["keygen", "jwt", "--alg", alg], None).await;
        assert_eq!(bare.status, 0, "{}", bare.all());
        let settings = Settings::from_pairs([("MCP_AUTH_JWT_SIGNING_KEY", bare.stdout.as_str())]);
        assert_eq!(SigningKey::from_settings(&settings).unwrap().unwrap().algorithm(), expected);

        let env = mcp_auth(dir.path(), &[], &["keygen", "jwt", "--alg", alg, "--env"], None).await;
        let fernet = mcp_auth(dir.path(), &[], &["keygen", "fernet", "--env"], None).await;
        assert_eq!((env.status, fernet.status), (0, 0), "{}{}", env.all(), fernet.all());
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join(".env"), format!("{}{}", env.stdout, fernet.stdout)).unwrap();
        let settings = Settings::from_env_in(work.path(), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(SigningKey::from_settings(&settings).unwrap().unwrap().algorithm(), expected);
        assert_eq!(FernetKey::from_settings(&settings).unwrap().len(), 1);
    }

    let fernet = mcp_auth(dir.path(), &[], &["keygen", "fernet"], None).await;
    assert_eq!(fernet.status, 0, "{}", fernet.all());
    assert_eq!(fernet.stdout.lines().count(), 1, "only the key on stdout: {}", fernet.all());
    FernetKey::new(fernet.stdout.trim_end()).unwrap();
    let quiet = mcp_auth(dir.path(), &[], &["keygen", "fernet", "--quiet"], None).await;
    assert!(quiet.stderr.is_empty(), "{}", quiet.all());
}

#[tokio::test]
async fn doctor_passes_every_line_of_a_good_configuration() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let key = FernetKey::generate();
    let prefix = random_prefix();
    let store = store_one_value(&prefix, &key).await;

    let run = mcp_auth(dir.path(), &good_env(&idp, &prefix, &key), &["doctor"], None).await;
    store.delete("app", "greeting").await.unwrap();
    assert_eq!(run.status, 0, "{}", run.all());
    assert!(!run.stdout.contains("FAIL") && !run.stdout.contains("warn"), "{}", run.all());
    for expected in [
        "metadata at",
        "JWKS: ",
        "Redis answers PING",
        "1 stored value(s) sampled under the Redis prefix",
        "server: the `authkit` provider builds over the `redis` store",
        "all passed",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.all());
    }
    assert!(!run.stdout.contains(key.expose_secret()), "the key is never printed");

    // Any JWT issuer: the dev IdP's RFC 8414 metadata and JWKS.
    let jwt = vars(&[
        ("MCP_AUTH_PROVIDER", "jwt"),
        ("MCP_AUTH_JWT_ISSUER", idp.url()),
        ("MCP_AUTH_BASE_URL", BASE_URL),
    ]);
    let run = mcp_auth(dir.path(), &jwt, &["doctor"], None).await;
    assert_eq!(run.status, 0, "{}", run.all());
    assert!(run.stdout.contains("ok    MCP_AUTH_JWT_ISSUER: metadata at"), "{}", run.all());
    assert!(
        run.stdout.contains("server: the `jwt` provider builds over the `memory` store"),
        "{}",
        run.all()
    );

    // The memory store, and an empty Redis prefix (a pass with a note).
    let mut memory = good_env(&idp, &prefix, &key);
    set(&mut memory, "MCP_AUTH_STORE", "memory");
    let run = mcp_auth(dir.path(), &memory, &["doctor"], None).await;
    assert_eq!(run.status, 0, "{}", run.all());
    assert!(run.stdout.contains("nothing stored to decrypt"), "{}", run.all());
    let empty = good_env(&idp, &random_prefix(), &key);
    let run = mcp_auth(dir.path(), &empty, &["doctor"], None).await;
    assert_eq!(run.status, 0, "{}", run.all());
    assert!(run.stdout.contains("nothing stored yet"), "{}", run.all());
}

#[tokio::test]
async fn doctor_fails_each_broken_value_naming_it_and_the_fix() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let key = FernetKey::generate();
    let prefix = random_prefix();
    let store = store_one_value(&prefix, &key).await;
    let good = good_env(&idp, &prefix, &key);
    let closed = closed_port();
    let other_key = FernetKey::generate();

    type Change = Box<dyn Fn(&mut Vec<(String, String)>)>;
    let cases: Vec<(&str, Change, &[&str])> = vec![
        (
            "missing provider",
            Box::new(|env| unset(env, "MCP_AUTH_PROVIDER")),
            &["FAIL  MCP_AUTH_PROVIDER: not set", "fix: set MCP_AUTH_PROVIDER=authkit"],
        ),
        (
            "bad provider",
            Box::new(|env| set(env, "MCP_AUTH_PROVIDER", "keycloak")),
            &[
                "FAIL  MCP_AUTH_PROVIDER: ",
                "expected one of authkit, workos, jwt",
                "fix: set MCP_AUTH_PROVIDER=",
            ],
        ),
        (
            "unreachable issuer",
            Box::new(move |env| set(env, "MCP_AUTH_AUTHKIT_DOMAIN", &format!("http://127.0.0.1:{closed}"))),
            &[
                "FAIL  MCP_AUTH_AUTHKIT_DOMAIN: cannot read the metadata",
                "fix: check MCP_AUTH_AUTHKIT_DOMAIN",
            ],
        ),
        (
            "malformed URL",
            Box::new(|env| set(env, "MCP_AUTH_BASE_URL", "mcp.example.com/no-scheme")),
            &["FAIL  MCP_AUTH_BASE_URL: ", "fix: set MCP_AUTH_BASE_URL=https://mcp.example.com"],
        ),
        (
            "bad Fernet key",
            Box::new(|env| set(env, "MCP_AUTH_FERNET_KEYS", "too-short-to-be-a-key")),
            &["FAIL  MCP_AUTH_FERNET_KEYS: ", "malformed", "fix: set MCP_AUTH_FERNET_KEYS to the output of"],
        ),
        (
            "Fernet key that does not decrypt the stored values",
            Box::new(move |env| set(env, "MCP_AUTH_FERNET_KEYS", other_key.expose_secret())),
            &["FAIL  MCP_AUTH_FERNET_KEYS: 1 of 1 stored value(s)", "do not decrypt", "fix: put the key"],
        ),
        (
            "Redis not answering",
            Box::new(move |env| {
                set(env, "MCP_AUTH_REDIS_URL", &format!("redis://:hunter2-password@127.0.0.1:{closed}"));
            }),
            &[
                "FAIL  MCP_AUTH_REDIS_URL: Redis does not answer",
                "fix: start Redis, or set MCP_AUTH_REDIS_URL=",
            ],
        ),
        (
            "redirect URL under the MCP endpoint",
            Box::new(|env| {
                set(env, "MCP_AUTH_PROVIDER", "workos");
                set(env, "MCP_AUTH_WORKOS_CLIENT_ID", "client_test");
                set(env, "MCP_AUTH_WORKOS_CLIENT_SECRET", "sk_test_secret_value");
                set(env, "MCP_AUTH_JWT_SIGNING_KEY", &"s".repeat(40));
                set(env, "MCP_AUTH_REDIRECT_PATH", "/mcp/callback");
            }),
            &[
                "FAIL  MCP_AUTH_REDIRECT_PATH: the redirect URL http://127.0.0.1:8000/mcp/callback",
                "fix: set MCP_AUTH_REDIRECT_PATH",
            ],
        ),
        (
            "workos without its client",
            Box::new(|env| set(env, "MCP_AUTH_PROVIDER", "workos")),
            &["FAIL  MCP_AUTH_WORKOS_CLIENT_ID: not set", "fix: set MCP_AUTH_WORKOS_CLIENT_ID=client_01H"],
        ),
    ];
    for (name, change, expected) in cases {
        let mut env = good.clone();
        change(&mut env);
        let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
        assert_eq!(run.status, 1, "{name}: {}", run.all());
        for text in expected {
            assert!(run.stdout.contains(text), "{name}: expected {text:?} in\n{}", run.all());
        }
        assert!(run.stdout.contains(" failed"), "{name}: {}", run.all());
        assert!(
            !run.all().contains("hunter2-password"),
            "{name}: the Redis password was printed: {}",
            run.all()
        );
        for (_, value) in &env {
            if value.len() >= 20 && (value.contains("sk_test") || value.len() == 44) {
                assert!(!run.stdout.contains(value.as_str()), "{name}: a secret was printed: {}", run.all());
            }
        }
    }

    // Where a value came from: the TOML file and .env are named.
    let mut env = good.clone();
    unset(&mut env, "MCP_AUTH_PROVIDER");
    std::fs::write(dir.path().join("mcp-auth.toml"), "provider = \"keycloak\"\n").unwrap();
    let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("FAIL  `provider` in "), "{}", run.all());
    assert!(run.stdout.contains("mcp-auth.toml"), "{}", run.all());
    std::fs::remove_file(dir.path().join("mcp-auth.toml")).unwrap();
    unset(&mut env, "MCP_AUTH_BASE_URL");
    std::fs::write(dir.path().join(".env"), "MCP_AUTH_PROVIDER=authkit\nMCP_AUTH_BASE_URL=ftp://x\n")
        .unwrap();
    let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("FAIL  MCP_AUTH_BASE_URL (in "), "{}", run.all());
    assert!(run.stdout.contains(".env)"), "{}", run.all());
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    std::fs::write(dir.path().join(".env"), "MCP_AUTH_BASE_URL='unterminated secret-value\n").unwrap();
    let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("FAIL  configuration files: cannot read"), "{}", run.all());
    assert!(!run.all().contains("secret-value"), "{}", run.all());
    std::fs::remove_file(dir.path().join(".env")).unwrap();

    store.delete("app", "greeting").await.unwrap();
}

#[tokio::test]
async fn token_decode_shows_the_claims_and_masks_the_signature() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let token = idp.idp().issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    let run = mcp_auth(dir.path(), &[], &["token", "decode", "-"], Some(token.clone().into_bytes())).await;
    assert_eq!(run.status, 0, "{}", run.all());
    for expected in
        ["NOT VERIFIED", "\"sub\": \"user_ada\"", RESOURCE, "signature: ", "[masked]", "expires: "]
    {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.all());
    }
    let signature = token.rsplit('.').next().unwrap();
    assert!(!run.stdout.contains(signature), "{}", run.all());

    let opaque = mcp_auth(dir.path(), &[], &["token", "decode", "opaque-token-1234"], None).await;
    assert_eq!(opaque.status, 1, "{}", opaque.all());
    assert!(opaque.stderr.contains("opaque token"), "{}", opaque.all());
}

#[tokio::test]
async fn token_verify_accepts_a_valid_token_and_names_each_refusal() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let env = vars(&[
        ("MCP_AUTH_PROVIDER", "authkit"),
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
        ("MCP_AUTH_BASE_URL", BASE_URL),
    ]);
    let verify = |token: String| {
        let env = env.clone();
        let dir = dir.path().to_owned();
        async move { mcp_auth(&dir, &env, &["token", "verify", "-"], Some(token.into_bytes())).await }
    };

    let good = idp.idp().issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    let run = verify(good).await;
    assert_eq!(run.status, 0, "{}", run.all());
    assert!(run.stdout.contains("accepted") && run.stdout.contains("subject: user_ada"), "{}", run.all());
    assert!(run.stdout.contains("expires: "), "{}", run.all());

    let elsewhere =
        idp.idp().issue_access_token("user_ada", "https://other.example.com/mcp", ["openid"]).unwrap();
    let run = verify(elsewhere).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("refused") && run.stdout.contains("audience"), "{}", run.all());

    let run = verify("garbage".to_owned()).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("refused (401 invalid_token)"), "{}", run.all());

    // An IdP whose clock is two hours behind issues tokens that have already expired.
    let past = SystemTime::now() - Duration::from_secs(2 * 3600);
    let old_idp = DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com"))
        .clock(Arc::new(ManualClock::new(past)))
        .access_token_ttl(Duration::from_secs(600))
        .port(0)
        .start()
        .await
        .unwrap();
    let expired = old_idp.idp().issue_access_token("user_ada", RESOURCE, ["openid"]).unwrap();
    let old_env = vars(&[
        ("MCP_AUTH_PROVIDER", "authkit"),
        ("MCP_AUTH_AUTHKIT_DOMAIN", old_idp.url()),
        ("MCP_AUTH_BASE_URL", BASE_URL),
    ]);
    let run = mcp_auth(dir.path(), &old_env, &["token", "verify", "-"], Some(expired.into_bytes())).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("expired"), "{}", run.all());
}

#[tokio::test]
async fn hostile_tokens_get_a_clear_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let huge = vec![b'a'; 1024 * 1024];
    let run = mcp_auth(dir.path(), &[], &["token", "decode", "-"], Some(huge)).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stderr.contains("longer than"), "{}", run.all());

    let run =
        mcp_auth(dir.path(), &[], &["token", "decode", "-"], Some(vec![b'e', b'y', 0xff, 0xfe, b'.'])).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stderr.contains("not UTF-8"), "{}", run.all());

    for (token, expected) in [
        ("eyJ!!.e30.AA", "header segment is not base64url"),
        ("e30.eyJzdWIi.AA", "payload (claims) segment is not JSON"),
        ("e30.e30.%%%", "signature segment is not base64url"),
        ("..", "header segment is not JSON"),
    ] {
        let run = mcp_auth(dir.path(), &[], &["token", "decode", token], None).await;
        assert_eq!(run.status, 1, "{token}: {}", run.all());
        assert!(run.stderr.contains(expected), "{token}: {}", run.all());
    }
    // verify without a configuration says what is missing, without panicking.
    let run = mcp_auth(dir.path(), &[], &["token", "verify", "abc.def.ghi"], None).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stderr.contains("MCP_AUTH_PROVIDER"), "{}", run.all());
}

#[tokio::test]
async fn doctor_decrypts_a_sample_of_the_file_store() {
    use std::os::unix::fs::PermissionsExt as _;

    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("state");
    std::fs::create_dir(&store_dir).unwrap();
    std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = FernetKey::generate();
    let files =
        mcp_auth::store::file::FileStore::builder(&store_dir).sweep_interval(None).open().await.unwrap();
    let store = FernetStore::new(files, vec![key.clone()]).unwrap();
    store.put("app", "one", b"1", None).await.unwrap();
    store.put("other", "two", b"2", Some(Duration::from_secs(300))).await.unwrap();

    let mut env = good_env(&idp, "unused", &key);
    set(&mut env, "MCP_AUTH_STORE", "file");
    set(&mut env, "MCP_AUTH_FILE_STORE_DIR", store_dir.to_str().unwrap());
    unset(&mut env, "MCP_AUTH_REDIS_PREFIX");
    unset(&mut env, "MCP_AUTH_REDIS_URL");
    let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
    assert_eq!(run.status, 0, "{}", run.all());
    assert!(run.stdout.contains("2 stored value(s) sampled in the file store decrypt"), "{}", run.all());

    set(&mut env, "MCP_AUTH_FERNET_KEYS", FernetKey::generate().expose_secret());
    let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("FAIL  MCP_AUTH_FERNET_KEYS: 2 of 2 stored value(s)"), "{}", run.all());

    unset(&mut env, "MCP_AUTH_FILE_STORE_DIR");
    let run = mcp_auth(dir.path(), &env, &["doctor"], None).await;
    assert_eq!(run.status, 1, "{}", run.all());
    assert!(run.stdout.contains("FAIL  MCP_AUTH_FILE_STORE_DIR"), "{}", run.all());
}

#[tokio::test]
async fn every_command_help_shows_examples() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["keygen", "--help"][..],
        &["keygen", "jwt", "--help"],
        &["keygen", "fernet", "--help"],
        &["doctor", "--help"],
        &["token", "--help"],
        &["token", "decode", "--help"],
        &["token", "verify", "--help"],
    ] {
        let run = mcp_auth(dir.path(), &[], args, None).await;
        assert_eq!(run.status, 0, "{args:?}: {}", run.all());
        assert!(run.stdout.contains("Examples:"), "{args:?}: {}", run.all());
    }
    let run = mcp_auth(dir.path(), &[], &["token", "decode", "--help"], None).await;
    assert!(run.stdout.contains("shell history"), "{}", run.all());
}
