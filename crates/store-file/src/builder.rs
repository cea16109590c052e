//! [`FileStoreBuilder`]: the settings of a [`FileStore`] and opening it.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::store::StoreError;

use crate::BACKEND;
use crate::error::{FileStoreError, io_error};
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
    check_root_permissions: bool,
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
            check_root_permissions: true,
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

    /// Opens the directory even when its group or other users may access it, or another user owns it.
    ///
    /// # Security
    ///
    /// Entries are often secrets (refresh tokens, client secrets, signing material): whoever may list
    /// the directory learns which entries exist, and its owner, or anyone with write access, can replace
    /// them. Only for a directory deliberately shared between users who all run the server; prefer
    /// `chmod 700` and one user, and wrap the store in `mcp_auth_fernet::FernetStore`. A warning is
    /// logged when the check would have refused.
    pub fn insecure_skip_root_permission_check(mut self) -> Self {
        self.check_root_permissions = false;
        self
    }

    /// Creates the directory if needed (mode `0700`), checks that an existing one is private to this
    /// process's user (not group or world accessible, owned by this user), checks that it is writable,
    /// and starts the background sweep when called inside a tokio runtime (it ends when the last clone
    /// is dropped).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with a [`FileStoreError`] when the directory cannot be created or written;
    /// [`FileStoreError::RootOpenToOthers`] when its mode grants anything to group or others, and
    /// [`FileStoreError::RootNotOwned`] when another user owns it, each naming the path and the `chmod`
    /// that fixes it (unless [`insecure_skip_root_permission_check`](Self::insecure_skip_root_permission_check)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// use mcp_auth_store_file::{FileStore, FileStoreError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("mcp-auth-doc-open-{}", std::process::id()));
    /// std::fs::create_dir(&dir).unwrap();
    /// std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    /// let err = FileStore::open(&dir).await.unwrap_err();
    /// let cause = std::error::Error::source(&err).unwrap();
    /// assert!(matches!(cause.downcast_ref(), Some(FileStoreError::RootOpenToOthers { mode: 0o755, .. })));
    /// assert!(cause.to_string().contains(&format!("chmod 700 {}", dir.display())));
    /// std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    /// FileStore::open(&dir).await.unwrap();
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # });
    /// ```
    pub async fn open(self) -> Result<FileStore, StoreError> {
        let root = self.root.clone();
        let check = self.check_root_permissions;
        blocking(move || {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&root)
                .map_err(|e| io_error("create", &root, e))?;
            let metadata = fs::metadata(&root).map_err(|e| io_error("inspect", &root, e))?;
            let mode = metadata.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                refuse_or_warn(check, FileStoreError::RootOpenToOthers { path: root.clone(), mode })?;
            }
            // Probe: create, sync and remove a temporary file, so permission problems show up now. Its
            // owner is this process's effective user, which std has no safe call for.
            let probe = temp_name(&root, TEMP_PREFIX);
            let file = create_exclusive(&probe).map_err(|e| io_error("write in", &root, e))?;
            let user = file.metadata().map(|probe| probe.uid());
            drop(file);
            fs::remove_file(&probe).map_err(|e| io_error("remove", &probe, e))?;
            let user = user.map_err(|e| io_error("inspect", &probe, e))?;
            if metadata.uid() != user {
                let owner = metadata.uid();
                refuse_or_warn(check, FileStoreError::RootNotOwned { path: root.clone(), owner, user })?;
            }
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

/// Refuses to open with `problem`, or, when the check is waived, logs it and goes on.
fn refuse_or_warn(check: bool, problem: FileStoreError) -> Result<(), StoreError> {
    if check {
        return Err(StoreError::Backend { backend: BACKEND, source: Box::new(problem) });
    }
    tracing::warn!(
        problem = %problem,
        "insecure_skip_root_permission_check: opening the file store anyway; other users can read or change its entries"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn refusals_name_the_path_and_the_fix() {
        let path = Path::new("/srv/mcp-auth/store");
        let open = FileStoreError::RootOpenToOthers { path: path.to_owned(), mode: 0o755 }.to_string();
        assert!(open.starts_with("the store directory /srv/mcp-auth/store is open to"), "{open}");
        assert!(open.contains("(mode 0755): run `chmod 700 /srv/mcp-auth/store`"), "{open}");
        let owned = FileStoreError::RootNotOwned { path: path.to_owned(), owner: 0, user: 1000 }.to_string();
        assert!(owned.contains("belongs to uid 0, not to this process's user (uid 1000)"), "{owned}");
        assert!(
            owned.contains("`chown 1000 /srv/mcp-auth/store && chmod 700 /srv/mcp-auth/store`"),
            "{owned}"
        );
        assert!(
            refuse_or_warn(true, FileStoreError::RootOpenToOthers { path: path.into(), mode: 0o777 })
                .is_err()
        );
        assert!(
            refuse_or_warn(false, FileStoreError::RootOpenToOthers { path: path.into(), mode: 0o777 })
                .is_ok()
        );
    }
}
