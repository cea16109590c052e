//! The conformance suite against `FileStore`, Fernet over `FileStore`, and two instances sharing one
//! directory (as two processes would).

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::{KvStorage, StoreError};
use mcp_auth_core::testkit;
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_store_file::{FileStore, FileStoreError, FormatError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_passes_the_conformance_suite() {
    let dir = private_tempdir();
    let store: Arc<dyn KvStorage> = Arc::new(FileStore::open(dir.path()).await.unwrap());
    testkit::run_all(Arc::clone(&store)).await;
    testkit::list_keys_pages_respect_limit(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fernet_over_file_passes_the_conformance_suite() {
    let dir = private_tempdir();
    let store: Arc<dyn KvStorage> = Arc::new(
        FernetStore::new(FileStore::open(dir.path()).await.unwrap(), vec![FernetKey::generate()]).unwrap(),
    );
    testkit::run_all(Arc::clone(&store)).await;
    testkit::list_keys_pages_respect_limit(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_over_one_directory_share_state_and_race_atomically() {
    let dir = private_tempdir();
    let a: Arc<dyn KvStorage> = Arc::new(FileStore::open(dir.path()).await.unwrap());
    let b: Arc<dyn KvStorage> = Arc::new(FileStore::open(dir.path()).await.unwrap());
    testkit::instances_share_state(&a, &b).await;
    testkit::take_is_atomic_across(&[Arc::clone(&a), Arc::clone(&b)]).await;
    testkit::compare_and_swap_is_atomic_across(&[Arc::clone(&a), Arc::clone(&b)]).await;
    testkit::take_and_compare_and_swap_are_linearizable_across(&[Arc::clone(&a), Arc::clone(&b)]).await;
    testkit::put_if_absent_is_atomic_across(&[a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_if_absent_over_an_expired_entry_has_exactly_one_winner() {
    let dir = private_tempdir();
    let clock = ManualClock::starting_now();
    let store = FileStore::builder(dir.path()).clock(Arc::new(clock.clone())).open().await.unwrap();
    for round in 0..5 {
        store.put("c", "k", b"old", Some(Duration::from_secs(1))).await.unwrap();
        clock.advance(Duration::from_secs(2));
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.put_if_absent("c", "k", format!("{i}").as_bytes(), None).await.unwrap().then_some(i)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            winners.extend(task.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(store.get("c", "k").await.unwrap(), Some(winners[0].to_string().into_bytes()));
        assert!(store.delete("c", "k").await.unwrap());
    }
}

fn entry_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for file in std::fs::read_dir(&dir).unwrap() {
                let file = file.unwrap().path();
                // The collection's lock file is not an entry.
                if file.file_name().is_some_and(|name| name != ".lock") {
                    out.push(file);
                }
            }
        }
    }
    out
}

/// A temporary directory private to this user (mode 0700), as the store requires of an existing root
/// (`tempfile::tempdir()` follows the umask, typically giving 0755).
fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap()
}

#[tokio::test]
async fn corrupt_and_foreign_files_are_reported_and_skipped() {
    let dir = private_tempdir();
    let store = FileStore::builder(dir.path()).sweep_interval(None).open().await.unwrap();
    store.put("c", "good", b"fine", None).await.unwrap();
    store.put("c", "flipped", b"will be damaged", None).await.unwrap();
    store.put("c", "cut", b"will be truncated", None).await.unwrap();
    store.put("c", "foreign", b"will be replaced", None).await.unwrap();
    let files = entry_files(dir.path());
    assert_eq!(files.len(), 4);
    for file in &files {
        let mut bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.contains("will be damaged") {
            let at = bytes.len() - 20;
            bytes[at] ^= 0xff;
        } else if text.contains("will be truncated") {
            bytes.truncate(bytes.len() - 5);
        } else if text.contains("will be replaced") {
            bytes = b"{\"some\": \"other program's file\"}".to_vec();
        }
        std::fs::write(file, bytes).unwrap();
    }
    for (key, expected) in
        [("flipped", FormatError::Checksum), ("cut", FormatError::Length), ("foreign", FormatError::Foreign)]
    {
        let err = store.get("c", key).await.unwrap_err();
        let StoreError::Corrupt { backend: "file", key: k, source, .. } = &err else { panic!("{err:?}") };
        assert_eq!(k, key);
        match source.downcast_ref::<FileStoreError>() {
            Some(FileStoreError::Corrupt { reason, .. }) => assert_eq!(*reason, expected, "{key}"),
            other => panic!("{key}: {other:?}"),
        }
    }
    assert_eq!(
        testkit::list_all_keys(&store, "c", 1).await.unwrap(),
        vec!["good".to_owned()],
        "corrupt files are skipped"
    );
    assert_eq!(store.get("c", "good").await.unwrap().as_deref(), Some(&b"fine"[..]));
    let report = store.sweep_now().await.unwrap();
    assert_eq!(report.corrupt, 3);
    // delete clears a corrupt entry; put replaces one.
    assert!(store.delete("c", "cut").await.unwrap());
    store.put("c", "flipped", b"repaired", None).await.unwrap();
    assert_eq!(store.get("c", "flipped").await.unwrap().as_deref(), Some(&b"repaired"[..]));
    // A stray non-entry file in the root or a collection directory is ignored.
    std::fs::write(dir.path().join("README"), "hello").unwrap();
    assert_eq!(testkit::list_all_keys(&store, "c", 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn sweep_removes_expired_entries_and_stale_temp_files_in_bounded_batches() {
    let dir = private_tempdir();
    let clock = ManualClock::starting_now();
    let store = FileStore::builder(dir.path())
        .clock(Arc::new(clock.clone()))
        .sweep_interval(None)
        .sweep_batch(10)
        .stale_temp_after(Duration::from_secs(60))
        .open()
        .await
        .unwrap();
    for i in 0..25 {
        store.put("c", &format!("short{i}"), b"v", Some(Duration::from_secs(5))).await.unwrap();
    }
    store.put("c", "forever", b"v", None).await.unwrap();
    let collection_dir = entry_files(dir.path())[0].parent().unwrap().to_owned();
    // Leftovers of a crashed writer: an old temp file and tombstone, and a fresh temp file.
    for name in [".tmp-1-00000000000000aa", ".tomb-1-00000000000000bb", ".tmp-2-00000000000000cc"] {
        std::fs::write(collection_dir.join(name), b"partial").unwrap();
    }
    clock.advance(Duration::from_secs(61)); // entries expired, the leftovers are stale
    std::fs::write(collection_dir.join(".tmp-3-00000000000000dd"), b"in flight").unwrap();
    let fresh =
        std::fs::File::options().write(true).open(collection_dir.join(".tmp-3-00000000000000dd")).unwrap();
    fresh.set_modified(clock_now(&clock)).unwrap();

    let first = store.sweep_now().await.unwrap();
    assert_eq!(first.examined, 10, "a sweep examines at most sweep_batch files");
    let mut total_expired = first.expired_removed;
    let mut total_temp = first.temp_removed;
    for _ in 0..10 {
        let report = store.sweep_now().await.unwrap();
        total_expired += report.expired_removed;
        total_temp += report.temp_removed;
    }
    assert_eq!(total_expired, 25);
    assert_eq!(total_temp, 3, "the three stale leftovers, not the fresh temp file");
    let left: Vec<String> = entry_files(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&".tmp-3-00000000000000dd".to_owned()));
    assert_eq!(testkit::list_all_keys(&store, "c", 10).await.unwrap(), vec!["forever".to_owned()]);
}

fn clock_now(clock: &ManualClock) -> std::time::SystemTime {
    use mcp_auth_core::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn expired_entries_are_removed_when_read() {
    let dir = private_tempdir();
    let clock = ManualClock::starting_now();
    let store = FileStore::builder(dir.path())
        .clock(Arc::new(clock.clone()))
        .sweep_interval(None)
        .open()
        .await
        .unwrap();
    store.put("c", "k", b"v", Some(Duration::from_secs(1))).await.unwrap();
    assert_eq!(entry_files(dir.path()).len(), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.get("c", "k").await.unwrap(), None);
    assert!(entry_files(dir.path()).is_empty(), "the expired file is gone after the read");
}

#[tokio::test]
async fn background_sweep_runs_by_itself() {
    let dir = private_tempdir();
    let store =
        FileStore::builder(dir.path()).sweep_interval(Some(Duration::from_millis(100))).open().await.unwrap();
    for i in 0..5 {
        store.put("c", &format!("k{i}"), b"v", Some(Duration::from_millis(50))).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !entry_files(dir.path()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the background sweep never removed the entries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn files_are_private_and_opening_an_unusable_path_fails_clearly() {
    use std::os::unix::fs::PermissionsExt;
    let dir = private_tempdir();
    let root = dir.path().join("store");
    let store = FileStore::open(&root).await.unwrap();
    store.put("c", "k", b"secret", None).await.unwrap();
    assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o700);
    let file = &entry_files(&root)[0];
    assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);

    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let err = FileStore::open(not_a_dir.join("sub")).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { backend: "file", .. }), "{err:?}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("plain-file"), "the path is named: {source}");
}

/// Issue 11: an existing store directory was used whatever its permissions, so entries (often secrets)
/// sat in a directory other users could list, or that another user owned and could change. Opening now
/// refuses a root that is group or world accessible, or not owned by this process's user, naming the
/// path and the fix, unless `insecure_skip_root_permission_check()` says otherwise.
#[tokio::test]
async fn an_existing_root_open_to_others_or_owned_by_another_user_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = private_tempdir();
    let root = dir.path().join("shared-store");
    std::fs::create_dir(&root).unwrap();
    let chmod = |mode: u32| std::fs::set_permissions(&root, std::fs::Permissions::from_mode(mode)).unwrap();
    let refusal = |result: Result<FileStore, StoreError>| {
        let err = result.expect_err("must be refused");
        assert!(matches!(err, StoreError::Backend { backend: "file", .. }), "{err:?}");
        let source = std::error::Error::source(&err).unwrap();
        let text = source.to_string();
        assert!(text.contains(&format!("chmod 700 {}", root.display())), "the fix is named: {text}");
        assert!(text.contains("insecure_skip_root_permission_check"), "{text}");
        text
    };
    for mode in [0o755, 0o750, 0o705, 0o770, 0o701, 0o710, 0o740, 0o704, 0o777, 0o1777] {
        chmod(mode);
        let text = refusal(FileStore::open(&root).await);
        assert!(text.contains(&format!("{:04o}", mode & 0o7777)), "the mode is shown: {text}");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "{mode:o}: nothing written");
        assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o7777, mode, "left as it was");
    }
    chmod(0o755);
    let store = FileStore::builder(&root).insecure_skip_root_permission_check().open().await.unwrap();
    store.put("c", "k", b"v", None).await.unwrap();
    chmod(0o700);
    FileStore::open(&root).await.unwrap();

    // Owned by another user: only root can arrange that.
    if std::os::unix::fs::chown(&root, Some(65_534), Some(65_534)).is_ok() {
        let text = refusal(FileStore::open(&root).await);
        assert!(text.contains("uid 65534"), "{text}");
        FileStore::builder(&root).insecure_skip_root_permission_check().open().await.unwrap();
    } else {
        eprintln!("NOTICE: not root, so the check of the directory's owner is not exercised here");
    }
}

#[tokio::test]
async fn a_vanished_store_directory_is_unavailable_not_empty() {
    let dir = private_tempdir();
    let root = dir.path().join("store");
    let store = FileStore::builder(&root).sweep_interval(None).open().await.unwrap();
    store.put("c", "k", b"v", None).await.unwrap();
    std::fs::remove_dir_all(&root).unwrap(); // as if unmounted
    let unavailable = |result: Result<(), StoreError>| match result {
        Err(err @ StoreError::Unavailable { backend: "file", .. }) => {
            let source = std::error::Error::source(&err).unwrap().to_string();
            assert!(source.contains("is missing"), "{source}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    };
    unavailable(store.get("c", "k").await.map(drop));
    unavailable(store.put("c", "k", b"v", None).await);
    unavailable(store.put_if_absent("c", "k2", b"v", None).await.map(drop));
    unavailable(store.take("c", "k").await.map(drop));
    unavailable(store.delete("c", "k").await.map(drop));
    unavailable(store.list_keys("c", None, 10).await.map(drop));
    assert!(!root.exists(), "the store must not recreate its vanished directory");
    // Once the directory is back, the same store works again.
    std::fs::create_dir(&root).unwrap();
    store.put("c", "k", b"back", None).await.unwrap();
    assert_eq!(store.get("c", "k").await.unwrap().as_deref(), Some(&b"back"[..]));
}

/// `take` and `delete` wait for the collection lock, as a `compare_and_swap` holds it between checking an
/// entry and renaming its new value into place. The test holds the lock itself, swaps the entry's file
/// as a `compare_and_swap` would, and only then lets go: the take must return the swapped-in value (had it
/// not waited, it would have returned the old value and the swap would have landed on a taken entry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_and_delete_wait_for_the_collection_lock() {
    let dir = private_tempdir();
    let store = FileStore::builder(dir.path()).sweep_interval(None).open().await.unwrap();
    for op in ["take", "delete"] {
        // The bytes of the entry holding "swapped", to rename into place while holding the lock.
        store.put("c", "k", b"swapped", None).await.unwrap();
        let files = entry_files(dir.path());
        assert_eq!(files.len(), 1);
        let entry = files[0].clone();
        let swapped = std::fs::read(&entry).unwrap();
        store.put("c", "k", b"original", None).await.unwrap();

        let lock = std::fs::File::options().write(true).open(entry.parent().unwrap().join(".lock")).unwrap();
        lock.lock().unwrap();
        let racing = {
            let store = store.clone();
            tokio::spawn(async move {
                match op {
                    "take" => store.take("c", "k").await.unwrap(),
                    _ => store.delete("c", "k").await.unwrap().then(|| b"deleted".to_vec()),
                }
            })
        };
        // Not a speed check: with the lock held the call cannot finish however long this waits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!racing.is_finished(), "{op} did not wait for the collection lock");
        let temp = entry.with_extension("swap");
        std::fs::write(&temp, &swapped).unwrap();
        std::fs::rename(&temp, &entry).unwrap();
        drop(lock);
        let got = racing.await.unwrap();
        match op {
            "take" => assert_eq!(got.as_deref(), Some(&b"swapped"[..]), "take must see the swapped value"),
            _ => assert!(got.is_some(), "delete removes the swapped entry"),
        }
        assert_eq!(store.get("c", "k").await.unwrap(), None, "{op} left the entry behind");
    }
}
