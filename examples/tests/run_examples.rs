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
