//! `mcp-auth demo` and `mcp-auth dev-idp` run as the real binary, each as its own process with a deadline:
//! past it the process is killed and the test fails with everything it printed.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one demo run may take (a debug build on a loaded two-core machine included).
const DEADLINE: Duration = Duration::from_secs(120);

/// The binary, without the caller's `MCP_AUTH_*` variables (a developer's `MCP_AUTH_DEV_IDP_PORT` would
/// change what these tests start).
fn mcp_auth() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-auth"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MCP_AUTH_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn,rmcp=off").env("NO_COLOR", "1").stdin(Stdio::null());
    command
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `mcp-auth args...` to completion within [`DEADLINE`].
fn run(args: &[&str]) -> Output {
    let mut child = KillOnDrop(
        mcp_auth().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("mcp-auth starts"),
    );
    let reader = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = reader(Box::new(child.0.stdout.take().expect("stdout")));
    let stderr = reader(Box::new(child.0.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("waiting for mcp-auth") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.0.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "mcp-auth {args:?} ran past {DEADLINE:?}; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output { status, stdout, stderr }
}

/// Runs the demo in `mode`; it must exit 0 with every one of its `steps` printed as passed.
fn demo(mode: &str, steps: usize) {
    let output = run(&["demo", "--mode", mode]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo --mode {mode}: {}\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains(&format!("mcp-auth demo ({mode})")), "{stdout}");
    for step in 1..=steps {
        assert!(stdout.contains(&format!("[ok]   {step}. ")), "step {step} missing:\n{stdout}");
    }
    assert!(!stdout.contains("[FAIL]"), "{stdout}");
    assert!(stdout.contains(&format!("{steps} passed, 0 failed")), "{stdout}");
}

#[test]
fn demo_remote_runs_every_step() {
    demo("remote", 9);
}

#[test]
fn demo_proxy_runs_every_step() {
    demo("proxy", 7);
}

#[test]
fn demo_mode_defaults_to_remote_and_help_has_examples() {
    let output = run(&["demo", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    assert!(help.contains("[default: remote]"), "{help}");
    assert!(help.contains("- remote: ") && help.contains("- proxy: "), "{help}");
    assert!(help.contains("Examples:") && help.contains("mcp-auth demo --mode proxy"), "{help}");
}

#[test]
fn an_unknown_demo_mode_is_refused_with_the_choices() {
    let output = run(&["demo", "--mode", "sideways"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'sideways' for '--mode <MODE>'"), "{stderr}");
    assert!(stderr.contains("[possible values: remote, proxy]"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing ran: {}", String::from_utf8_lossy(&output.stdout));
}

#[tokio::test]
async fn dev_idp_starts_prints_its_issuer_and_answers_its_metadata() {
    let mut child = KillOnDrop(
        mcp_auth()
            .args(["dev-idp", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mcp-auth dev-idp starts"),
    );
    let (lines, printed) = mpsc::channel();
    let stdout = child.0.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut seen = Vec::new();
    let issuer = loop {
        let left = DEADLINE.saturating_sub(started.elapsed());
        match printed.recv_timeout(left) {
            Ok(line) => {
                if let Some(issuer) = line.strip_prefix("issuer:") {
                    break issuer.trim().to_owned();
                }
                seen.push(line);
            }
            Err(error) => panic!("no issuer line ({error}); printed:\n{}", seen.join("\n")),
        }
    };
    assert!(seen.iter().any(|line| line.contains("FOR DEVELOPMENT ONLY")), "{seen:?}");
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with(":0"), "{issuer}");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client");
    let metadata: serde_json::Value = http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("the metadata answers")
        .json()
        .await
        .expect("the metadata is JSON");
    assert_eq!(metadata["issuer"], issuer.as_str(), "{metadata}");
    assert_eq!(metadata["authorization_endpoint"], format!("{issuer}/oauth2/authorize"), "{metadata}");
    assert!(child.0.try_wait().expect("status").is_none(), "the dev IdP serves until stopped");
}
