//! Runs each example's `--self-check` as its own process and requires exit status 0.
//!
//! `cargo test` builds a package's examples before running its tests, so each binary is found next to
//! this test's: `target/<profile>/deps/run_examples-<hash>` → `target/<profile>/examples/<name>`. Each
//! run has a deadline: past it the example is killed and the test fails with everything it printed.
//!
//! To add an example: give it a `--self-check` that exits non-zero unless every check behaved, and add a
//! `#[test]` below that calls [`run_example`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one self-check may take (debug builds on a loaded two-core machine included).
const DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn demo() {
    run_example("demo", &["--self-check"], &[]);
}

#[test]
fn demo_proxy() {
    run_example("demo", &["--self-check", "--mode", "proxy"], &[]);
}

#[test]
fn protected_axum() {
    run_example("protected_axum", &["--self-check"], &[]);
}

#[test]
fn authkit_remote() {
    run_example("authkit_remote", &["--self-check"], &[]);
}

#[test]
fn workos_proxy() {
    run_example("workos_proxy", &["--self-check"], &[]);
}

#[test]
fn custom_verifier() {
    run_example("custom_verifier", &["--self-check"], &[]);
}

#[test]
fn roles_and_permissions() {
    run_example("roles_and_permissions", &["--self-check"], &[]);
}

#[test]
fn multi_tenant() {
    run_example("multi_tenant", &["--self-check"], &[]);
}

/// Needs Redis at `MCP_AUTH_REDIS_URL` (default 127.0.0.1:6379, as `.ci/run` provides).
#[test]
fn production() {
    run_example("production", &["--self-check"], &[]);
}

#[test]
fn generic_jwt() {
    run_example("generic_jwt", &["--self-check"], &[]);
}

/// The load run, tiny: every route answers 200 to every request (it exits non-zero on any failure).
#[test]
fn load_remote() {
    run_example("load_remote", &["300", "4"], &[]);
}

/// `generic_jwt` as documented: configured only by `MCP_AUTH_*` variables in its environment, serving until
/// stopped, with the dev IdP standing in for any issuer.
#[tokio::test]
async fn generic_jwt_serves_from_the_environment_alone() {
    let idp = mcp_auth_dev_idp::DevIdp::builder()
        .user(mcp_auth_dev_idp::DevUser::new("user_env", "env@example.com"))
        .start()
        .await
        .expect("the dev IdP starts");
    let listen =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let base_url = format!("http://{listen}");
    let mut command = Command::new(example_binary("generic_jwt"));
    for (key, _) in std::env::vars() {
        if key.starts_with("MCP_AUTH_") {
            command.env_remove(key);
        }
    }
    // Its own working directory, so a developer's .env or mcp-auth.toml is not read; its log kept to show.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log_path = dir.path().join("generic_jwt.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = command
        .current_dir(dir.path())
        .env("RUST_LOG", "warn,rmcp=off")
        .env("MCP_AUTH_PROVIDER", "jwt")
        .env("MCP_AUTH_JWT_ISSUER", idp.issuer())
        .env("MCP_AUTH_BASE_URL", &base_url)
        .env("MCP_AUTH_LISTEN", listen.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("generic_jwt starts");
    let mut server = KillOnDrop(child);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let http = reqwest::Client::new();
    let mcp_url = format!("{base_url}/mcp");
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    });
    let post = |token: Option<String>| {
        let mut request =
            http.post(&mcp_url).header("accept", "application/json, text/event-stream").json(&initialize);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // Wait for it to listen (a debug build on a busy machine can take a moment).
    let started = Instant::now();
    let unauthenticated = loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("generic_jwt exited ({status}) before answering:\n{}", log());
        }
        match post(None).await {
            Ok(response) => break response,
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("generic_jwt never answered on {listen}: {err}\n{}", log()),
        }
    };
    assert_eq!(unauthenticated.status(), 401);
    let challenge = unauthenticated.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(
        challenge
            .contains(&format!("resource_metadata=\"{base_url}/.well-known/oauth-protected-resource/mcp\"")),
        "{challenge}"
    );
    let metadata: serde_json::Value = http
        .get(format!("{base_url}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("metadata")
        .json()
        .await
        .expect("JSON metadata");
    assert_eq!(metadata["authorization_servers"], serde_json::json!([idp.issuer()]));

    let token = idp.issue_access_token("user_env", &format!("{base_url}/mcp"), ["mcp"]).expect("a token");
    let accepted = post(Some(token)).await.expect("answers");
    assert_eq!(accepted.status(), 200, "{:?}", accepted.text().await);
    let wrong_audience =
        idp.issue_access_token("user_env", "https://other.example.com/mcp", ["mcp"]).expect("a token");
    assert_eq!(post(Some(wrong_audience)).await.expect("answers").status(), 401);
}

/// Kills the child process when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of example `name`, built by `cargo test` next to this test binary.
fn example_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's own path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps", test_binary.display()));
    profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs example `name` with `args` and `envs` (on top of this process's environment, without its
/// `MCP_AUTH_*` variables, and with `RUST_LOG=warn,rmcp=off` unless `envs` sets it), and panics unless it exits
/// with status 0 before [`DEADLINE`]; the panic shows what the example printed.
fn run_example(name: &str, args: &[&str], envs: &[(&str, &str)]) {
    let binary = example_binary(name);
    assert!(
        binary.is_file(),
        "{} does not exist: run this test through `cargo test -p mcp-auth-examples`, which builds the examples \
         first (`--test run_examples` alone does not)",
        binary.display()
    );
    let mut command = Command::new(&binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("MCP_AUTH_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn,rmcp=off").envs(envs.iter().copied()).args(args);
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_until(&mut child, started + DEADLINE);
    let elapsed = started.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let command_line = format!("{name} {}", args.join(" "));
    match status {
        Some(status) if status.success() => {
            println!("{command_line}: exit 0 in {:.1} s\n{stdout}", elapsed.as_secs_f64());
        }
        Some(status) => panic!(
            "{command_line} failed ({status}) after {:.1} s\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            elapsed.as_secs_f64()
        ),
        None => panic!(
            "{command_line} did not finish within {} s and was killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            DEADLINE.as_secs()
        ),
    }
}

/// Reads a child's pipe to the end on its own thread, so a chatty child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// The child's exit status, or `None` after killing it at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
