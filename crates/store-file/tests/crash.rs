//! Crash safety: a child process (this test binary, re-executed with `MCP_AUTH_FILE_CRASH_CHILD` set)
//! writes in a loop and is killed with SIGKILL 50 times at random moments. After every kill each entry must
//! read back as a complete value (its content is regenerated and compared byte for byte), and generations
//! never go backwards.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_auth_core::store::KvStorage;
use mcp_auth_core::testkit::pseudo_random_bytes;
use mcp_auth_store_file::FileStore;

const CHILD_VAR: &str = "MCP_AUTH_FILE_CRASH_CHILD";
const KEYS: u64 = 8;
const KILLS: usize = 50;

/// A value that proves its own completeness: a header naming key, generation and length, then a payload
/// derived from them (sizes vary from 1 byte to 192 KiB so kills land mid-write).
fn make_value(key: u64, generation: u64) -> Vec<u8> {
    let len = usize::try_from((generation * 7_919 + key * 104_729) % (192 * 1024) + 1).unwrap();
    let mut value = format!("k={key};g={generation};n={len};").into_bytes();
    value.extend(pseudo_random_bytes(len, key * 1_000_003 + generation));
    value
}

/// The generation of a complete value for `key`, or a description of what is wrong.
fn check_value(key: u64, value: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(&value[..value.len().min(64)]).into_owned();
    let mut fields = text.split(';');
    let field = |f: Option<&str>, name: &str| -> Result<u64, String> {
        f.and_then(|f| f.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("bad header {text:?}"))
    };
    let k = field(fields.next(), "k=")?;
    let generation = field(fields.next(), "g=")?;
    field(fields.next(), "n=")?;
    if k != key {
        return Err(format!("value of key {k} found under key {key}"));
    }
    if value != make_value(key, generation).as_slice() {
        return Err(format!(
            "key {key} generation {generation}: torn or changed value ({} bytes)",
            value.len()
        ));
    }
    Ok(generation)
}

async fn child_loop(dir: &Path) -> ! {
    let store = FileStore::builder(dir).sweep_interval(None).open().await.expect("child opens the store");
    let mut generations = Vec::new();
    for key in 0..KEYS {
        let current = match store.get("crash", &key.to_string()).await.expect("child reads") {
            Some(value) => check_value(key, &value).expect("child found a bad value"),
            None => 0,
        };
        generations.push(current);
    }
    loop {
        for key in 0..KEYS {
            let slot = usize::try_from(key).unwrap();
            generations[slot] += 1;
            store
                .put("crash", &key.to_string(), &make_value(key, generations[slot]), None)
                .await
                .expect("child writes");
        }
    }
}

/// In the child this is the writer loop; run normally it checks the value scheme itself.
#[test]
fn crash_writer_child() {
    if let Ok(dir) = std::env::var(CHILD_VAR) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(child_loop(Path::new(&dir)));
    }
    let value = make_value(3, 17);
    assert_eq!(check_value(3, &value), Ok(17));
    assert!(check_value(4, &value).is_err(), "a value under the wrong key is caught");
    for cut in [value.len() - 1, value.len() / 2, 10] {
        assert!(check_value(3, &value[..cut]).is_err(), "a value cut at {cut} is caught");
    }
    let mut flipped = value.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(check_value(3, &flipped).is_err(), "a changed byte is caught");
}

#[tokio::test]
async fn sigkilled_writers_never_leave_torn_values() {
    // Private to this user (mode 0700): the file store refuses a root open to others.
    let dir = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last_seen = vec![0u64; usize::try_from(KEYS).unwrap()];
    let mut progressed = 0;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_writer_child", "--test-threads", "1", "--nocapture"])
            .env(CHILD_VAR, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(30 + rand_below(170));
        tokio::time::sleep(delay).await;
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child exited by itself ({status}); it must be killed");

        let store = FileStore::builder(dir.path()).sweep_interval(None).open().await.unwrap();
        for key in 0..KEYS {
            let slot = usize::try_from(key).unwrap();
            let Some(value) = store.get("crash", &key.to_string()).await.unwrap_or_else(|err| {
                panic!(
                    "round {round}: key {key} unreadable after SIGKILL: {err} ({:?})",
                    std::error::Error::source(&err)
                )
            }) else {
                assert_eq!(last_seen[slot], 0, "round {round}: key {key} vanished");
                continue;
            };
            let generation = check_value(key, &value).unwrap_or_else(|err| panic!("round {round}: {err}"));
            assert!(
                generation >= last_seen[slot],
                "round {round}: key {key} went back from {} to {generation}",
                last_seen[slot]
            );
            if generation > last_seen[slot] {
                progressed += 1;
            }
            last_seen[slot] = generation;
        }
    }
    assert!(progressed >= KILLS / 2, "the children made too little progress to test anything ({progressed})");
    // Leftover temporary files of the killed writers are reaped once stale.
    let store = FileStore::builder(dir.path())
        .sweep_interval(None)
        .stale_temp_after(Duration::ZERO)
        .open()
        .await
        .unwrap();
    let report = store.sweep_now().await.unwrap();
    assert_eq!(report.corrupt, 0);
    let leftovers = count_temp_files(dir.path());
    assert_eq!(leftovers, 0, "temporary files survived the sweep");
    eprintln!("crash test: generations reached {last_seen:?}; sweep {report:?}");
}

fn count_temp_files(root: &Path) -> usize {
    let mut count = 0;
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            count += std::fs::read_dir(&dir)
                .unwrap()
                .filter(|f| {
                    let name = f.as_ref().unwrap().file_name().to_string_lossy().into_owned();
                    // Temporary files and tombstones start with a dot; the lock file is not a leftover.
                    name.starts_with('.') && name != ".lock"
                })
                .count();
        }
    }
    count
}

fn rand_below(n: u64) -> u64 {
    rand::random::<u64>() % n
}
