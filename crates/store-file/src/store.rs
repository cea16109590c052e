//! [`FileStore`], the handle, and its [`KvStorage`] implementation: each call checks its key, then runs
//! the matching operation of [`Inner`] (in `ops.rs`) on the blocking pool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::store::{Expiry, KeyPage, KvStorage, StoreError, validate_key};

use crate::builder::FileStoreBuilder;
use crate::files::blocking;
use crate::sweep::SweepReport;

/// What every clone of a store shares: the directory and the settings.
pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) clock: SharedClock,
    pub(crate) stale_temp_after: Duration,
    pub(crate) sweep_batch: usize,
}

/// A [`KvStorage`] in a directory. Cheap to clone: clones share the same settings.
#[derive(Clone)]
pub struct FileStore {
    pub(crate) inner: Arc<Inner>,
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
        FileStoreBuilder::new(dir.into())
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

    /// Up to `limit` live entries of any collection, as stored: each entry file's path with the value it
    /// holds, for health checks such as `mcp-auth doctor` trying the configured Fernet keys on what is
    /// stored. Files that are unreadable, damaged, expired or not entries are skipped; at most 64
    /// collection directories are looked at.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the store's directory cannot be listed.
    pub async fn sample_values(&self, limit: usize) -> Result<Vec<(PathBuf, Vec<u8>)>, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let now = inner.now_ms();
            let mut out = Vec::new();
            let backend =
                |err: std::io::Error| StoreError::Backend { backend: crate::BACKEND, source: Box::new(err) };
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&inner.root)
                .map_err(backend)?
                .filter_map(Result::ok)
                .filter(|entry| {
                    entry.file_name().to_string_lossy().starts_with(crate::layout::COLLECTION_PREFIX)
                })
                .map(|entry| entry.path())
                .collect();
            dirs.sort();
            for dir in dirs.into_iter().take(64) {
                let Ok(files) = std::fs::read_dir(&dir) else { continue };
                for file in files.filter_map(Result::ok) {
                    if out.len() >= limit {
                        return Ok(out);
                    }
                    if !file.file_name().to_string_lossy().ends_with(crate::layout::ENTRY_SUFFIX) {
                        continue;
                    }
                    let path = file.path();
                    let Ok(bytes) = std::fs::read(&path) else { continue };
                    if let Ok(entry) = crate::format::decode(&bytes)
                        && entry.is_live(now)
                    {
                        out.push((path, entry.value));
                    }
                }
            }
            Ok(out)
        })
        .await
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

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.to_vec());
        self.run(collection, key, move |inner, c, k| {
            inner.compare_and_swap(c, k, expected.as_deref(), &new, ttl)
        })
        .await
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        self.run(collection, key, Inner::delete).await
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(collection, key, Inner::take).await
    }

    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        self.run(collection, key, Inner::remaining_ttl).await
    }

    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let cursor = cursor.map(str::to_owned);
        self.run(collection, "-", move |inner, c, _| inner.list_keys(c, cursor.as_deref(), limit)).await
    }
}
