//! The entry operations, run on the blocking pool: reads, writes, `take`/`delete`, listing.
//!
//! How they stay correct across processes:
//! - Every write goes to a synced temporary file first and is renamed (or hard-linked) into place, so an
//!   entry holds its old or its new value, never a torn one.
//! - Creating, replacing and removing an entry (`put`, `put_if_absent`, `take`, `delete`, clearing an
//!   expired one) happen under the collection lock ([`lock_collection`]), so "absent or expired, then
//!   ours" is one step and every change to an entry is ordered with every other. Reads do not lock: a
//!   file is replaced by `rename`, so a read sees a whole old or a whole new entry.
//! - `take` renames the entry to a unique tombstone (of concurrent renames exactly one succeeds).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mcp_auth_core::store::{Expiry, KeyPage, StoreError};

use crate::BACKEND;
use crate::error::{FileStoreError, corrupt, io_error};
use crate::files::{create_exclusive, lock_collection, read_with_inode, sync_dir};
use crate::format;
use crate::layout::{
    ENTRY_SUFFIX, TEMP_PREFIX, TOMB_PREFIX, collection_dir, decode_cursor, encode_cursor, entry_path,
    temp_name,
};
use crate::store::Inner;

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Inner {
    pub(crate) fn now_ms(&self) -> u64 {
        millis_since_epoch(self.clock.now())
    }

    fn expiry(&self, ttl: Option<Duration>) -> Option<u64> {
        // A TTL too large to represent is as good as none; a zero TTL is already expired.
        let ttl = ttl?;
        let ms = u64::try_from(ttl.as_millis()).ok()?;
        self.now_ms().checked_add(ms.max(1)).filter(|at| *at < u64::MAX / 2)
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
    /// read). Under the collection lock nothing can create, replace or remove an entry meanwhile, so a
    /// newer entry is never removed.
    pub(crate) fn remove_if_same(dir: &Path, path: &Path, inode: u64) -> io::Result<()> {
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

    /// The live entry under `key`, or `None`; an expired entry met on the way is removed.
    fn read_live(&self, collection: &str, key: &str) -> Result<Option<format::Entry>, StoreError> {
        let dir = collection_dir(&self.root, collection);
        let path = entry_path(&dir, key);
        let Some((bytes, inode)) = read_with_inode(&path).map_err(|e| self.root_error("read", &path, e))?
        else {
            self.check_root()?;
            return Ok(None);
        };
        let entry = Self::decode_for(&path, key, &bytes).map_err(|e| corrupt(collection, key, e))?;
        if entry.is_live(self.now_ms()) {
            return Ok(Some(entry));
        }
        if let Err(err) = Self::remove_if_same(&dir, &path, inode) {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove an expired entry");
        }
        Ok(None)
    }

    pub(crate) fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read_live(collection, key)?.map(|entry| entry.value))
    }

    /// The time left from the entry's header (milliseconds since the epoch, this process's clock).
    pub(crate) fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        let now = self.now_ms();
        Ok(self.read_live(collection, key)?.map(|entry| match entry.expires_at_ms {
            None => Expiry::Never,
            Some(at) => Expiry::In(Duration::from_millis(at.saturating_sub(now))),
        }))
    }

    pub(crate) fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let dir = collection_dir(&self.root, collection);
        let path = entry_path(&dir, key);
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

    pub(crate) fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let dir = collection_dir(&self.root, collection);
        let path = entry_path(&dir, key);
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
        // Under the collection lock nobody else creates, replaces or removes an entry, so "absent or
        // expired, then ours" is one step.
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

    /// The live value under `key` as it is now, without removing an expired entry: `None` for no live
    /// entry.
    fn current_value(&self, collection: &str, key: &str, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((bytes, _)) = read_with_inode(path).map_err(|e| self.root_error("read", path, e))? else {
            self.check_root()?;
            return Ok(None);
        };
        let entry = Self::decode_for(path, key, &bytes).map_err(|e| corrupt(collection, key, e))?;
        Ok(entry.is_live(self.now_ms()).then_some(entry.value))
    }

    pub(crate) fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let dir = collection_dir(&self.root, collection);
        let path = entry_path(&dir, key);
        // A swap that fails is only a read, so an unlocked look settles the losers of a race without
        // writing a temporary file or waiting for the lock.
        if self.current_value(collection, key, &path)?.as_deref() != expected {
            return Ok(false);
        }
        let temp = self.write_temp(&dir, &format::encode(key, new, self.expiry(ttl)))?;
        let outcome = self.swap_if_current(collection, key, &dir, &path, &temp, expected);
        if matches!(outcome, Ok(true)) {
            sync_dir(&dir).map_err(|e| io_error("sync", &dir, e))?;
        } else {
            let _ = fs::remove_file(&temp);
        }
        outcome
    }

    /// Under the collection lock, checks the live value again and renames `temp` over the entry if it is
    /// still `expected`: no other writer can change the entry between the check and the rename.
    fn swap_if_current(
        &self,
        collection: &str,
        key: &str,
        dir: &Path,
        path: &Path,
        temp: &Path,
        expected: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let _lock = lock_collection(dir).map_err(|e| self.root_error("lock", dir, e))?;
        if self.current_value(collection, key, path)?.as_deref() != expected {
            return Ok(false);
        }
        fs::rename(temp, path).map_err(|e| self.root_error("rename into", path, e))?;
        Ok(true)
    }

    /// Atomically removes the entry and returns what it held (`None` when there was none).
    fn take_entry(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<Result<format::Entry, FileStoreError>>, StoreError> {
        let dir = collection_dir(&self.root, collection);
        let path = entry_path(&dir, key);
        let tomb = temp_name(&dir, TOMB_PREFIX);
        // The rename happens under the collection lock, like every write. A compare_and_swap checks the
        // entry and renames its value into place under this lock; if take did not wait for it, a swap
        // could check value `v`, this take could then remove and return `v`, and the swap would still
        // install its value over the taken entry: a lost update (`v` used once by the taker and once more
        // as the swap's basis). Under the lock a take comes wholly before or wholly after each swap.
        // Renaming to a tombstone (of concurrent renames exactly one succeeds) keeps take atomic even
        // against processes that do not lock.
        let renamed = match lock_collection(&dir) {
            Ok(_lock) => fs::rename(&path, &tomb),
            Err(err) => Err(err),
        };
        match renamed {
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

    pub(crate) fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.take_entry(collection, key)? {
            None => Ok(None),
            Some(Ok(entry)) => Ok(entry.is_live(self.now_ms()).then_some(entry.value)),
            Some(Err(err)) => Err(corrupt(collection, key, err)),
        }
    }

    pub(crate) fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
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

    /// A page of live keys, in the order of their hashed file names, after the cursor's name.
    ///
    /// Each page reads the directory's names (not the files) and sorts them, then reads entries in order
    /// until `limit` live ones are found, so a page is full unless the walk is over. An entry removed
    /// meanwhile is skipped; one created meanwhile is listed if its name sorts after the cursor.
    pub(crate) fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        let dir = collection_dir(&self.root, collection);
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.check_root()?;
                return Ok(KeyPage::default());
            }
            Err(err) => return Err(self.root_error("list", &dir, err)),
        };
        let mut stems = Vec::new();
        for item in listing {
            let item = item.map_err(|e| io_error("list", &dir, e))?;
            let name = item.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(ENTRY_SUFFIX)) else { continue };
            if after.is_none_or(|after| stem > after) {
                stems.push(stem.to_owned());
            }
        }
        stems.sort_unstable();
        let now = self.now_ms();
        let mut keys = Vec::new();
        let mut stems = stems.iter().peekable();
        while let Some(stem) = stems.next() {
            let path = dir.join(format!("{stem}{ENTRY_SUFFIX}"));
            let Some((bytes, inode)) = read_with_inode(&path).map_err(|e| io_error("read", &path, e))? else {
                continue; // Taken or deleted since the directory was read.
            };
            match format::decode(&bytes) {
                Ok(entry) if entry_path(&dir, &entry.key) != path => {
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
            if keys.len() == limit && stems.peek().is_some() {
                // More names follow: the next page resumes after the last one read.
                return Ok(KeyPage { keys, next: Some(encode_cursor(stem)) });
            }
        }
        Ok(KeyPage { keys, next: None })
    }
}
