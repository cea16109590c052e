//! [`FileStoreBuilder`]: the settings of a [`FileStore`] and opening it.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::store::StoreError;

use crate::error::io_error;
use crate::files::{blocking, create_exclusive};
use crate::layout::{TEMP_PREFIX, temp_name};
use crate::store::{FileStore, Inner};
use crate::sweep::sweep_forever;

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
    /// The defaults: sweep every 60 s, 10,000 files per sweep, leftovers stale after 15 minutes, the
    /// system clock.
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            clock: mcp_auth_core::clock::system_clock(),
            sweep_interval: Some(Duration::from_secs(60)),
            sweep_batch: 10_000,
            stale_temp_after: Duration::from_secs(15 * 60),
        }
    }

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
    /// [`StoreError::Backend`] with a [`FileStoreError`](crate::FileStoreError) when the directory cannot be created or written.
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
