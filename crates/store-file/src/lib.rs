//! A file-system backend for the mcp-auth [`KvStorage`]: one directory per collection, one file per entry,
//! crash-safe, and atomic across every process that shares the directory.
//!
//! - **Layout.** `<root>/c-<hash of collection>/<hash of key>.kv` (SHA-256, hex), so any key or
//!   collection name is a safe file name (`..`, `/`, NUL-free oddities, 1 KiB names). Each file holds a
//!   small versioned header (format version, expiry), the original key (so [`KvStorage::keys`] works), the
//!   value, and a checksum.
//! - **Atomic, durable writes.** A write goes to a temporary file in the same directory, is `fsync`ed,
//!   renamed over the entry, and the directory is `fsync`ed. A crash at any moment leaves the old or the
//!   new value, never a torn one.
//! - **Cross-process atomicity.** `take` renames the entry to a unique tombstone name (of concurrent
//!   renames exactly one succeeds), then reads and deletes it. `put_if_absent` hard-links its fully
//!   written temporary file to the entry name, which fails if the name exists; an expired entry in the way
//!   is first moved aside by the same rename, checked by inode so a fresh entry is never removed.
//! - **Bounded growth.** Expired entries are removed when read and by a background sweep that examines
//!   at most [`FileStoreBuilder::sweep_batch`] files per run; leftover temporary files and tombstones
//!   from crashed processes are reaped once older than [`FileStoreBuilder::stale_temp_after`].
//! - **Clear failures.** Permission problems, a full disk and corrupt or foreign files are distinct
//!   [`FileStoreError`]s inside [`StoreError`]; a corrupt file is reported and skipped by `keys` and the
//!   sweep, never a panic. All file I/O runs in `tokio::task::spawn_blocking`.
//!
//! Directories are created `0700` and files `0600`: values are often secrets, so wrap the store in
//! `mcp_auth_fernet::FernetStore` when the disk is not trusted. Unix only (it relies on `rename`,
//! `link` and inode numbers); the directory must be on a local file system with POSIX semantics (not
//! NFS).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use mcp_auth_core::store::KvStorage;
//! use mcp_auth_store_file::FileStore;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("mcp-auth-doc-{}", std::process::id()));
//! let store = FileStore::open(&dir).await.unwrap();
//! store.put("codes", "abc", b"payload", Some(Duration::from_secs(60))).await.unwrap();
//! assert_eq!(store.take("codes", "abc").await.unwrap().as_deref(), Some(&b"payload"[..]));
//! assert_eq!(store.take("codes", "abc").await.unwrap(), None);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```

#[cfg(not(unix))]
compile_error!("mcp-auth-store-file supports Unix only: it relies on rename, link and inode numbers");

mod format;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use mcp_auth_core::clock::{SharedClock, system_clock};
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::store::{KvStorage, StoreError, validate_key};
use sha2::{Digest, Sha256};

pub use self::format::FormatError;

/// The backend name in this crate's [`StoreError`]s.
pub const BACKEND: &str = "file";

const ENTRY_SUFFIX: &str = ".kv";
const TEMP_PREFIX: &str = ".tmp-";
const TOMB_PREFIX: &str = ".tomb-";
/// The collection's write lock: an advisory `flock` every process takes to create or replace an entry, or
/// to remove an expired one. Reads, `take` and `delete` never wait for it.
const LOCK_NAME: &str = ".lock";
const COLLECTION_PREFIX: &str = "c-";

/// What went wrong in the file store; the source of [`StoreError::Backend`], [`StoreError::Unavailable`]
/// and [`StoreError::Corrupt`] errors raised here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileStoreError {
    /// The process may not read or write the store's files.
    #[error(
        "permission denied on {}: the store directory must be readable and writable by this process's user",
        path.display()
    )]
    Permission {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The disk (or quota) is full.
    #[error("no space left for {}: free disk space or move the store directory", path.display())]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The store directory is gone (unmounted or deleted).
    #[error("the store directory {} is missing", path.display())]
    Missing {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Any other I/O failure.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An entry file is corrupt, foreign, or of a newer format.
    #[error("{} is not a readable entry", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        reason: FormatError,
    },
    /// An entry file holds a different key than its name says (copied or foreign file).
    #[error("{} holds an entry for another key", path.display())]
    KeyMismatch {
        /// The file.
        path: PathBuf,
    },
    /// `put_if_absent` kept losing races against concurrent writers and expiries.
    #[error("put_if_absent gave up after repeated contention on {}", path.display())]
    Contention {
        /// The entry file.
        path: PathBuf,
    },
    /// The blocking I/O task failed.
    #[error("the file-store I/O task failed")]
    Task(#[source] tokio::task::JoinError),
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> StoreError {
    let path = path.to_owned();
    match source.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => StoreError::Backend {
            backend: BACKEND,
            source: Box::new(FileStoreError::Permission { path, source }),
        },
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            StoreError::Backend {
                backend: BACKEND,
                source: Box::new(FileStoreError::DiskFull { path, source }),
            }
        }
        _ => StoreError::Backend {
            backend: BACKEND,
            source: Box::new(FileStoreError::Io { op, path, source }),
        },
    }
}

fn corrupt(collection: &str, key: &str, error: FileStoreError) -> StoreError {
    StoreError::Corrupt {
        backend: BACKEND,
        collection: collection.to_owned(),
        key: key.to_owned(),
        source: Box::new(error),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Files looked at.
    pub examined: usize,
    /// Expired entries removed.
    pub expired_removed: usize,
    /// Stale temporary files and tombstones removed.
    pub temp_removed: usize,
    /// Corrupt or foreign files found (left in place and logged).
    pub corrupt: usize,
}

struct Inner {
    root: PathBuf,
    clock: SharedClock,
    stale_temp_after: Duration,
    sweep_batch: usize,
}

/// A [`KvStorage`] in a directory. Cheap to clone: clones share the same settings.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("root", &self.inner.root)
            .field("stale_temp_after", &self.inner.stale_temp_after)
            .field("sweep_batch", &self.inner.sweep_batch)
            .finish_non_exhaustive()
    }
}

/// Builds a [`FileStore`].
#[derive(Debug)]
#[must_use]
pub struct FileStoreBuilder {
    root: PathBuf,
    clock: SharedClock,
    sweep_interval: Option<Duration>,
    sweep_batch: usize,
    stale_temp_after: Duration,
}

impl FileStoreBuilder {
    /// How often the background sweep runs (default 60 s); `None` turns it off (reads still honour TTLs
    /// and remove expired entries they meet).
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The most files one sweep examines (default 10,000), so a sweep's cost is bounded; later sweeps
    /// start elsewhere and cover the rest.
    pub fn sweep_batch(mut self, files: usize) -> Self {
        self.sweep_batch = files.max(1);
        self
    }

    /// How old a temporary file or tombstone must be before the sweep reaps it as left over from a
    /// crashed process (default 15 minutes; writers hold them for milliseconds).
    pub fn stale_temp_after(mut self, age: Duration) -> Self {
        self.stale_temp_after = age;
        self
    }

    /// The clock used for TTLs (default the system clock). Processes sharing a directory should agree on
    /// the time.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Creates the directory if needed (mode `0700`), checks that it is writable, and starts the
    /// background sweep when called inside a tokio runtime (it ends when the last clone is dropped).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with a [`FileStoreError`] when the directory cannot be created or written.
    pub async fn open(self) -> Result<FileStore, StoreError> {
        let root = self.root.clone();
        blocking(move || {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&root)
                .map_err(|e| io_error("create", &root, e))?;
            // Probe: create, sync and remove a temporary file, so permission problems show up now.
            let probe = temp_name(&root, TEMP_PREFIX);
            let file = create_exclusive(&probe).map_err(|e| io_error("write in", &root, e))?;
            drop(file);
            fs::remove_file(&probe).map_err(|e| io_error("remove", &probe, e))?;
            Ok(())
        })
        .await?;
        let inner = Arc::new(Inner {
            root: self.root,
            clock: self.clock,
            stale_temp_after: self.stale_temp_after,
            sweep_batch: self.sweep_batch,
        });
        if let (Some(interval), Ok(runtime)) = (self.sweep_interval, tokio::runtime::Handle::try_current()) {
            runtime.spawn(sweep_forever(Arc::downgrade(&inner), interval.max(Duration::from_millis(10))));
        }
        Ok(FileStore { inner })
    }
}

async fn sweep_forever(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        match blocking(move || Ok(inner.sweep())).await {
            Ok(report) if report.expired_removed + report.temp_removed + report.corrupt > 0 => {
                tracing::debug!(?report, "file store sweep");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "file store sweep failed"),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|err| StoreError::Backend {
        backend: BACKEND,
        source: Box::new(FileStoreError::Task(err)),
    })?
}

fn temp_name(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}{}-{:016x}", std::process::id(), rand::random::<u64>()))
}

fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a file with its inode; `None` when it does not exist.
fn read_with_inode(path: &Path) -> io::Result<Option<(Vec<u8>, u64)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let inode = file.metadata()?.ino();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some((bytes, inode)))
}

impl Inner {
    fn now_ms(&self) -> u64 {
        millis_since_epoch(self.clock.now())
    }

    fn expiry(&self, ttl: Option<Duration>) -> Option<u64> {
        // A TTL too large to represent is as good as none; a zero TTL is already expired.
        let ttl = ttl?;
        let ms = u64::try_from(ttl.as_millis()).ok()?;
        self.now_ms().checked_add(ms.max(1)).filter(|at| *at < u64::MAX / 2)
    }

    fn collection_dir(&self, collection: &str) -> PathBuf {
        self.root.join(format!("{COLLECTION_PREFIX}{}", &hex(&Sha256::digest(collection.as_bytes()))[..32]))
    }

    fn entry_path(dir: &Path, key: &str) -> PathBuf {
        dir.join(format!("{}{ENTRY_SUFFIX}", hex(&Sha256::digest(key.as_bytes()))))
    }

    /// Writes a complete, synced temporary file in `dir` (creating `dir` if a sweep removed it).
    fn write_temp(&self, dir: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        for attempt in 0..3 {
            let temp = temp_name(dir, TEMP_PREFIX);
            match create_exclusive(&temp) {
                Ok(mut file) => {
                    let written = file.write_all(bytes).and_then(|()| file.sync_all());
                    if let Err(err) = written {
                        let _ = fs::remove_file(&temp);
                        return Err(io_error("write", &temp, err));
                    }
                    return Ok(temp);
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound && attempt < 2 => {
                    // Not recursive: if the store directory itself is gone (unmounted, deleted), fail as
                    // unavailable rather than quietly writing somewhere else.
                    match fs::DirBuilder::new().mode(0o700).create(dir) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(self.root_error("create", dir, e)),
                    }
                    sync_dir(&self.root).map_err(|e| self.root_error("sync", &self.root, e))?;
                }
                Err(err) => return Err(self.root_error("create", &temp, err)),
            }
        }
        Err(io_error("create", dir, io::Error::from(io::ErrorKind::NotFound)))
    }

    /// A missing entry is only "missing" while the store directory exists; without it the store is
    /// unavailable (unmounted or deleted).
    fn check_root(&self) -> Result<(), StoreError> {
        match fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(self.root_error("open", &self.root, io::Error::from(io::ErrorKind::NotADirectory))),
            Err(err) => Err(self.root_error("open", &self.root, err)),
        }
    }

    /// Like [`io_error`], but a missing root directory means the store is unavailable.
    fn root_error(&self, op: &'static str, path: &Path, err: io::Error) -> StoreError {
        if err.kind() == io::ErrorKind::NotFound && !self.root.exists() {
            return StoreError::Unavailable {
                backend: BACKEND,
                source: Box::new(FileStoreError::Missing { path: self.root.clone(), source: err }),
            };
        }
        io_error(op, path, err)
    }

    /// Removes the entry at `path` only if it is still the file with `inode` (an expired entry someone
    /// read). Under the collection lock nothing can create or replace an entry meanwhile, so a newer entry
    /// is never removed; an unlocked `take` or `delete` racing with us only removes the same file first.
    fn remove_if_same(dir: &Path, path: &Path, inode: u64) -> io::Result<()> {
        let _lock = match lock_collection(dir) {
            Ok(lock) => lock,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.ino() == inode => match fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            },
            Ok(_) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn decode_for(path: &Path, key: &str, bytes: &[u8]) -> Result<format::Entry, FileStoreError> {
        let entry = format::decode(bytes)
            .map_err(|reason| FileStoreError::Corrupt { path: path.to_owned(), reason })?;
        if entry.key != key {
            return Err(FileStoreError::KeyMismatch { path: path.to_owned() });
        }
        Ok(entry)
    }

    fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let dir = self.collection_dir(collection);
        let path = Self::entry_path(&dir, key);
        let Some((bytes, inode)) = read_with_inode(&path).map_err(|e| self.root_error("read", &path, e))?
        else {
            self.check_root()?;
            return Ok(None);
        };
        let entry = Self::decode_for(&path, key, &bytes).map_err(|e| corrupt(collection, key, e))?;
        if entry.is_live(self.now_ms()) {
            return Ok(Some(entry.value));
        }
        if let Err(err) = Self::remove_if_same(&dir, &path, inode) {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove an expired entry");
        }
        Ok(None)
    }

    fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let dir = self.collection_dir(collection);
        let path = Self::entry_path(&dir, key);
        let temp = self.write_temp(&dir, &format::encode(key, value, self.expiry(ttl)))?;
        let renamed = lock_collection(&dir)
            .map_err(|e| self.root_error("lock", &dir, e))
            .and_then(|_lock| fs::rename(&temp, &path).map_err(|e| self.root_error("rename into", &path, e)));
        if let Err(err) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(err);
        }
        sync_dir(&dir).map_err(|e| io_error("sync", &dir, e))
    }

    fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let dir = self.collection_dir(collection);
        let path = Self::entry_path(&dir, key);
        let temp = self.write_temp(&dir, &format::encode(key, value, self.expiry(ttl)))?;
        let outcome = self.link_if_absent(collection, key, &dir, &path, &temp);
        let _ = fs::remove_file(&temp);
        if matches!(outcome, Ok(true)) {
            sync_dir(&dir).map_err(|e| io_error("sync", &dir, e))?;
        }
        outcome
    }

    fn link_if_absent(
        &self,
        collection: &str,
        key: &str,
        dir: &Path,
        path: &Path,
        temp: &Path,
    ) -> Result<bool, StoreError> {
        // Under the collection lock no other writer creates or replaces an entry, so "absent or
        // expired, then ours" is one step; only unlocked `take`/`delete` can remove the entry meanwhile.
        let _lock = lock_collection(dir).map_err(|e| self.root_error("lock", dir, e))?;
        for _ in 0..64 {
            match fs::hard_link(temp, path) {
                Ok(()) => return Ok(true),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(io_error("link", path, err)),
            }
            let Some((bytes, _)) = read_with_inode(path).map_err(|e| io_error("read", path, e))? else {
                continue; // Taken or deleted meanwhile: try again.
            };
            let entry = Self::decode_for(path, key, &bytes).map_err(|e| corrupt(collection, key, e))?;
            if entry.is_live(self.now_ms()) {
                return Ok(false);
            }
            // Expired: replace it atomically.
            fs::rename(temp, path).map_err(|e| io_error("rename into", path, e))?;
            return Ok(true);
        }
        Err(StoreError::Backend {
            backend: BACKEND,
            source: Box::new(FileStoreError::Contention { path: path.to_owned() }),
        })
    }

    /// Atomically removes the entry and returns what it held (`None` when there was none).
    fn take_entry(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<Result<format::Entry, FileStoreError>>, StoreError> {
        let dir = self.collection_dir(collection);
        let path = Self::entry_path(&dir, key);
        let tomb = temp_name(&dir, TOMB_PREFIX);
        match fs::rename(&path, &tomb) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.check_root()?;
                return Ok(None);
            }
            Err(err) => return Err(self.root_error("rename", &path, err)),
        }
        // Make the removal durable before handing out the value: a taken code must not come back.
        sync_dir(&dir).map_err(|e| io_error("sync", &dir, e))?;
        let bytes = fs::read(&tomb).map_err(|e| io_error("read", &tomb, e));
        let _ = fs::remove_file(&tomb);
        Ok(Some(Self::decode_for(&path, key, &bytes?)))
    }

    fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.take_entry(collection, key)? {
            None => Ok(None),
            Some(Ok(entry)) => Ok(entry.is_live(self.now_ms()).then_some(entry.value)),
            Some(Err(err)) => Err(corrupt(collection, key, err)),
        }
    }

    fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        match self.take_entry(collection, key)? {
            None => Ok(false),
            Some(Ok(entry)) => Ok(entry.is_live(self.now_ms())),
            // A corrupt file is gone now, which is what delete asked for.
            Some(Err(err)) => {
                tracing::warn!(error = %err, "deleted a corrupt entry");
                Ok(true)
            }
        }
    }

    fn keys(&self, collection: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.collection_dir(collection);
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.check_root()?;
                return Ok(Vec::new());
            }
            Err(err) => return Err(self.root_error("list", &dir, err)),
        };
        let now = self.now_ms();
        let mut keys = Vec::new();
        for item in listing {
            let item = item.map_err(|e| io_error("list", &dir, e))?;
            let name = item.file_name();
            let Some(name) = name.to_str().filter(|n| n.ends_with(ENTRY_SUFFIX)) else { continue };
            let path = dir.join(name);
            let Some((bytes, inode)) = read_with_inode(&path).map_err(|e| io_error("read", &path, e))? else {
                continue;
            };
            match format::decode(&bytes) {
                Ok(entry) if Self::entry_path(&dir, &entry.key) != path => {
                    tracing::warn!(path = %path.display(), "skipped an entry stored under another key's name");
                }
                Ok(entry) if entry.is_live(now) => keys.push(entry.key),
                Ok(_) => {
                    let _ = Self::remove_if_same(&dir, &path, inode);
                }
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "skipped a corrupt or foreign file");
                }
            }
        }
        Ok(keys)
    }

    /// One bounded sweep: expired entries, stale temporary files and tombstones, empty collection
    /// directories.
    fn sweep(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let Ok(listing) = fs::read_dir(&self.root) else { return report };
        let mut dirs: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .filter(|item| item.file_name().to_str().is_some_and(|n| n.starts_with(COLLECTION_PREFIX)))
            .map(|item| item.path())
            .collect();
        if dirs.is_empty() {
            return report;
        }
        // Start at a random directory so that, over runs, a bounded sweep covers every directory.
        let start = rand::random::<usize>() % dirs.len();
        dirs.rotate_left(start);
        let now_ms = self.now_ms();
        let now = self.clock.now();
        for dir in dirs {
            if report.examined >= self.sweep_batch {
                break;
            }
            let Ok(listing) = fs::read_dir(&dir) else { continue };
            for item in listing.filter_map(Result::ok) {
                if report.examined >= self.sweep_batch {
                    break;
                }
                report.examined += 1;
                let path = item.path();
                let Some(name) = item.file_name().to_str().map(str::to_owned) else { continue };
                if name.starts_with(TEMP_PREFIX) || name.starts_with(TOMB_PREFIX) {
                    let age = item
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|modified| now.duration_since(modified).ok());
                    if age.is_some_and(|age| age >= self.stale_temp_after) && fs::remove_file(&path).is_ok() {
                        report.temp_removed += 1;
                    }
                    continue;
                }
                if !name.ends_with(ENTRY_SUFFIX) {
                    continue;
                }
                match read_with_inode(&path) {
                    Ok(Some((bytes, inode))) => match format::decode(&bytes) {
                        Ok(entry) if !entry.is_live(now_ms) => {
                            if Self::remove_if_same(&dir, &path, inode).is_ok() {
                                report.expired_removed += 1;
                            }
                        }
                        Ok(_) => {}
                        Err(reason) => {
                            report.corrupt += 1;
                            tracing::warn!(path = %path.display(), %reason, "sweep found a corrupt or foreign file");
                        }
                    },
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "sweep cannot read a file");
                    }
                }
            }
            // Fails (harmlessly) unless the directory is empty; writers recreate it when needed.
            let _ = fs::remove_dir(&dir);
        }
        report
    }
}

impl FileStore {
    /// Opens (creating if needed) a store in `dir` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`FileStoreBuilder::open`].
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::builder(dir).open().await
    }

    /// A builder for a store in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileStoreBuilder {
        FileStoreBuilder {
            root: dir.into(),
            clock: system_clock(),
            sweep_interval: Some(Duration::from_secs(60)),
            sweep_batch: 10_000,
            stale_temp_after: Duration::from_secs(15 * 60),
        }
    }

    /// A builder for the directory in `MCP_AUTH_FILE_STORE_DIR`.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] when the variable is not set.
    pub fn from_settings(settings: &Settings) -> Result<FileStoreBuilder, SettingsError> {
        Ok(Self::builder(settings.require_string("FILE_STORE_DIR", "/var/lib/mcp-auth/store")?))
    }

    /// The store's directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Runs one bounded sweep now (the background sweep does the same periodically).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the blocking task fails.
    pub async fn sweep_now(&self) -> Result<SweepReport, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || Ok(inner.sweep())).await
    }

    async fn run<T: Send + 'static>(
        &self,
        collection: &str,
        key: &str,
        op: impl FnOnce(&Inner, &str, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        validate_key(collection, key)?;
        let inner = Arc::clone(&self.inner);
        let (collection, key) = (collection.to_owned(), key.to_owned());
        blocking(move || op(&inner, &collection, &key)).await
    }
}

#[async_trait]
impl KvStorage for FileStore {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(collection, key, Inner::get).await
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let value = value.to_vec();
        self.run(collection, key, move |inner, c, k| inner.put(c, k, &value, ttl)).await
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let value = value.to_vec();
        self.run(collection, key, move |inner, c, k| inner.put_if_absent(c, k, &value, ttl)).await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        self.run(collection, key, Inner::delete).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(collection, key, Inner::take).await
    }

    async fn keys(&self, collection: &str) -> Result<Vec<String>, StoreError> {
        self.run(collection, "-", |inner, c, _| inner.keys(c)).await
    }
}

/// Takes the collection's write lock, blocking until it is free; it is released when the file is dropped.
fn lock_collection(dir: &Path) -> io::Result<File> {
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(dir.join(LOCK_NAME))?;
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_with_actionable_messages() {
        let path = Path::new("/srv/store/c-1/x.kv");
        let err = io_error("write", path, io::Error::from(io::ErrorKind::PermissionDenied));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("permission denied on /srv/store/c-1/x.kv"), "{source}");
        assert!(matches!(err, StoreError::Backend { backend: "file", .. }));
        let err = io_error("write", path, io::Error::from_raw_os_error(28)); // ENOSPC
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("no space left"), "{source}");
        let err = io_error("write", path, io::Error::other("boom"));
        assert!(std::error::Error::source(&err).unwrap().to_string().starts_with("cannot write"));
    }

    #[test]
    fn names_are_hashes() {
        let inner = Inner {
            root: PathBuf::from("/r"),
            clock: system_clock(),
            stale_temp_after: Duration::ZERO,
            sweep_batch: 1,
        };
        let dir = inner.collection_dir("../../etc");
        assert!(dir.starts_with("/r") && dir.file_name().unwrap().len() == 34, "{dir:?}");
        let path = Inner::entry_path(&dir, "/etc/passwd");
        assert_eq!(path.parent(), Some(dir.as_path()));
        assert_eq!(path.file_name().unwrap().len(), 64 + 3);
        assert_ne!(inner.collection_dir("a"), inner.collection_dir("b"));
    }
}
