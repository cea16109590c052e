//! The file store on a file system that fills up or turns read-only under it: a small tmpfs mounted
//! for the test (the machine runs the tests as root, where `chmod` stops nothing, so a real file system
//! limit is needed). Writes fail with clear errors (`FileStoreError::DiskFull`, `ReadOnly`), failed
//! writes leave no temporary files behind, and every entry written before reads back intact.
//!
//! Where mounting is not permitted (no `CAP_SYS_ADMIN`), the tests say so on stderr and fall back: the
//! full disk becomes a file-size limit (`RLIMIT_FSIZE`, set by `ulimit -f` with `SIGXFSZ` ignored) on a
//! child process, which makes writes fail with `EFBIG`; the read-only directory becomes `chmod 500`,
//! which binds only a user without `CAP_DAC_OVERRIDE`. Where neither works, the test fails, unless
//! `MCP_AUTH_SKIP_PRIVILEGED_FAULTS=1` skips it on purpose (with a notice; never in CI).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::store::{KvStorage, StoreError};
use mcp_auth_store_file::{FileStore, FileStoreError};
use mcp_auth_tests::faults::{self, SmallFs, within};
use mcp_auth_tests::proxy::{self, SharedKeys};

const SKIP_VAR: &str = "MCP_AUTH_SKIP_PRIVILEGED_FAULTS";
const CHILD_VAR: &str = "MCP_AUTH_FAULTS_FSIZE_CHILD";
const COLLECTION: &str = "entries";
const ENTRIES: usize = 5;

fn value(i: usize) -> Vec<u8> {
    format!("entry {i}: ")
        .bytes()
        .chain(std::iter::repeat_n(b'0' + u8::try_from(i % 10).unwrap(), 1000))
        .collect()
}

/// A value larger than the small file system (and than the file-size limit of the fallback).
fn huge() -> Vec<u8> {
    vec![b'x'; 1024 * 1024]
}

async fn write_entries(store: &FileStore) {
    for i in 0..ENTRIES {
        store.put(COLLECTION, &format!("e{i}"), &value(i), None).await.expect("a write with room to spare");
    }
}

/// Every entry written by [`write_entries`] reads back byte for byte.
async fn assert_intact(store: &FileStore, when: &str) {
    for i in 0..ENTRIES {
        let read = store.get(COLLECTION, &format!("e{i}")).await.unwrap_or_else(|e| panic!("{when}: {e}"));
        assert_eq!(read.as_deref(), Some(&value(i)[..]), "{when}: entry e{i} changed");
    }
}

/// The file-store error inside `error`.
fn file_error(error: &StoreError) -> &FileStoreError {
    match error {
        StoreError::Backend { backend: "file", source } => source
            .downcast_ref::<FileStoreError>()
            .unwrap_or_else(|| panic!("not a file-store error: {error:?}")),
        other => panic!("not a file-store backend error: {other:?}"),
    }
}

fn assert_disk_full(error: &StoreError, what: &str) {
    assert!(matches!(file_error(error), FileStoreError::DiskFull { .. }), "{what}: {error:?}");
    let message = file_error(error).to_string();
    assert!(message.contains("no space left"), "{what}: a message that says what is wrong: {message}");
}

/// Refused as read-only: `ReadOnly` (naming the fix) on the read-only tmpfs, `Permission` on the chmod
/// fallback.
fn assert_read_only(error: &StoreError, what: &str, tmpfs: bool) {
    let error = file_error(error);
    if tmpfs {
        assert!(matches!(error, FileStoreError::ReadOnly { .. }), "{what}: {error:?}");
        assert!(error.to_string().contains("is read-only: remount it read-write"), "{what}: {error}");
    } else {
        assert!(matches!(error, FileStoreError::Permission { .. }), "{what}: {error:?}");
    }
}

/// No temporary files or tombstones are left in any collection directory under `root`.
fn assert_no_leftovers(root: &Path) {
    for collection in std::fs::read_dir(root).expect("the store directory").flatten() {
        if !collection.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(collection.path()).expect("a collection directory").flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".tmp-") && !name.starts_with(".tomb-"),
                "a failed write left {name} behind"
            );
        }
    }
}

/// The writes that must fail on a full disk, each leaving the entries as they were.
async fn fill_up(store: &FileStore) {
    let error = store.put(COLLECTION, "big", &huge(), None).await.expect_err("no room for a new entry");
    assert_disk_full(&error, "a new entry");
    let error = store.put(COLLECTION, "e0", &huge(), None).await.expect_err("no room to replace an entry");
    assert_disk_full(&error, "a replacement");
    let error = store.put_if_absent(COLLECTION, "big", &huge(), None).await.expect_err("no room");
    assert_disk_full(&error, "put_if_absent");
    assert_eq!(store.get(COLLECTION, "big").await.expect("a read"), None, "no torn entry");
    assert_intact(store, "after the failed writes").await;
    assert_no_leftovers(store.root());
    // The failed writes gave their room back: a small write fits again.
    store.put(COLLECTION, "small", b"fits", None).await.expect("a small write after the failures");
}

fn skip_or_fail(mechanism: &str, why: &str) {
    if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
        eprintln!("NOTICE: {SKIP_VAR}=1: {mechanism} not tested ({why})");
        return;
    }
    panic!(
        "{mechanism} cannot be tested here: {why}. Run as root with CAP_SYS_ADMIN (as CI does), or set \
         {SKIP_VAR}=1 to skip it on purpose (never in CI)"
    );
}

#[tokio::test]
async fn a_full_file_system_is_a_clear_disk_full_error_and_leaves_entries_intact() {
    match SmallFs::mount("256k") {
        Ok(fs) => {
            let store = within("open", FileStore::open(fs.path().join("store"))).await.expect("opens");
            within("write", write_entries(&store)).await;
            within("fill up", fill_up(&store)).await;
            // A fresh process (a new store on the same directory) reads the same entries.
            let reopened = within("reopen", FileStore::open(fs.path().join("store"))).await.expect("opens");
            within("read", assert_intact(&reopened, "after reopening")).await;
        }
        Err(why) => {
            eprintln!("NOTICE: no tmpfs ({why}); falling back to RLIMIT_FSIZE on a child process");
            full_disk_through_a_file_size_limit().await;
        }
    }
}

/// The fallback: the entries are written here, the failing writes run in a child process whose
/// file-size limit is 32 KiB, and the entries are read back here afterwards.
async fn full_disk_through_a_file_size_limit() {
    let dir = tempfile::tempdir().expect("a directory");
    let root = dir.path().join("store");
    let store = FileStore::open(&root).await.expect("opens");
    write_entries(&store).await;
    let exe = std::env::current_exe().expect("this test binary");
    let status = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 64 || exit 90; exec \"$0\" --exact fsize_child --ignored --nocapture",
        ])
        .arg(exe)
        .env(CHILD_VAR, &root)
        .status()
        .expect("sh runs");
    if status.code() == Some(90) {
        skip_or_fail("a full disk", "neither a tmpfs nor a file-size limit is available");
        return;
    }
    assert!(status.success(), "the child under the file-size limit failed: {status}");
    let reopened = FileStore::open(&root).await.expect("opens");
    assert_intact(&reopened, "after the child's failed writes").await;
}

/// The child of [`full_disk_through_a_file_size_limit`]; does nothing unless started by it.
#[tokio::test]
#[ignore = "the child process of the full-disk fallback, started by it under a file-size limit"]
async fn fsize_child() {
    let Some(root) = std::env::var_os(CHILD_VAR).map(PathBuf::from) else {
        panic!("run only as the child of the full-disk fallback ({CHILD_VAR} names the store)");
    };
    let store = FileStore::open(&root).await.expect("opens");
    fill_up(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_file_system_is_a_clear_read_only_error_and_leaves_entries_intact() {
    let fs = match SmallFs::mount("1m") {
        Ok(fs) => Some(fs),
        Err(why) => {
            eprintln!("NOTICE: no tmpfs ({why}); falling back to chmod 500 on the store directory");
            None
        }
    };
    let tmpfs = fs.is_some();
    let scratch = tempfile::tempdir().expect("a directory");
    let base = fs.as_ref().map_or_else(|| scratch.path().to_owned(), |fs| fs.path().to_owned());
    let root = base.join("store");
    let store = within("open", FileStore::open(&root)).await.expect("opens");
    within("write", write_entries(&store)).await;

    // A proxy over the store, its store-key secret written while it could be.
    let (listener, base_url) = proxy::listener().await;
    let upstream = proxy::upstream(&format!("{base_url}/auth/callback"), Duration::from_secs(3600)).await;
    let shared: Arc<dyn KvStorage> = Arc::new(store.clone());
    let instance =
        proxy::proxy_instance(listener, &base_url, &upstream.url, shared, &SharedKeys::random(), |p| p).await;
    within("registration", proxy::register(&instance.url, "http://127.0.0.1:7777/cb")).await;

    let read_only = match &fs {
        Some(fs) => fs.set_read_only(true).map(|()| true),
        None => chmod_read_only(&root),
    };
    match read_only {
        Ok(true) => {}
        Ok(false) => {
            return skip_or_fail("a read-only directory", "no tmpfs, and chmod does not bind this user");
        }
        Err(why) => panic!("cannot make the store read-only: {why}"),
    }

    let error = store.put(COLLECTION, "new", b"v", None).await.expect_err("no writes");
    assert_read_only(&error, "a new entry", tmpfs);
    let error = store.put(COLLECTION, "e0", b"replaced", None).await.expect_err("no writes");
    assert_read_only(&error, "a replacement", tmpfs);
    let error = store.take(COLLECTION, "e1").await.expect_err("no take");
    assert_read_only(&error, "take", tmpfs);
    let error = store.delete(COLLECTION, "e2").await.expect_err("no delete");
    assert_read_only(&error, "delete", tmpfs);
    within("read", assert_intact(&store, "read-only")).await;
    assert_no_leftovers(&root);
    let error = FileStore::open(&root).await.expect_err("a read-only store directory is refused at start-up");
    assert_read_only(&error, "open", tmpfs);

    // The proxy answers an OAuth server error that names no path or internals.
    let answer = within("registration", proxy::try_register(&instance.url, "http://127.0.0.1:7777/cb")).await;
    let status = answer.status().as_u16();
    let body = answer.text().await.expect("a body");
    assert_eq!(status, 500, "a read-only store is the operator's to fix: {body}");
    let root_text = root.display().to_string();
    faults::assert_no_internals("the registration answer", &body, &[&root_text, "Read-only", "ermission"]);
    let body: serde_json::Value = serde_json::from_str(&body).expect("an OAuth error body");
    assert_eq!(body["error"], "server_error");

    // Writable again: writes work, and nothing was lost.
    match &fs {
        Some(fs) => fs.set_read_only(false).expect("remount read-write"),
        None => set_modes(&root, 0o700).expect("chmod 700"),
    }
    store.put(COLLECTION, "new", b"v", None).await.expect("writes work again");
    within("read", assert_intact(&store, "writable again")).await;
    within("registration", proxy::register(&instance.url, "http://127.0.0.1:7777/cb")).await;
}

/// Sets `mode` on the store directory and its collection directories.
fn set_modes(root: &Path, mode: u32) -> Result<(), String> {
    let mut dirs = vec![root.to_owned()];
    let entries = std::fs::read_dir(root).map_err(|e| e.to_string())?;
    dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    // Collections first, so the root is still enterable while they change.
    for dir in dirs.iter().rev() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `chmod 500` on the store directory and its collections; `Ok(false)` when that does not stop this
/// user from writing (root with `CAP_DAC_OVERRIDE`).
fn chmod_read_only(root: &Path) -> Result<bool, String> {
    set_modes(root, 0o500)?;
    let probe = root.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(&probe);
        set_modes(root, 0o700)?;
        return Ok(false);
    }
    Ok(true)
}
