//! The file store's errors: [`FileStoreError`], the source of every [`StoreError`] raised here, and the
//! mapping of I/O errors onto it.

use std::io;
use std::path::{Path, PathBuf};

use mcp_auth_core::store::StoreError;

use crate::BACKEND;
use crate::format::FormatError;

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
    /// The file system holding the store is mounted read-only (`EROFS`): no permission change helps.
    #[error(
        "the file system holding {} is read-only: remount it read-write or move the store directory",
        path.display()
    )]
    ReadOnly {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The store directory already exists and its group or other users may enter, list or change it
    /// (mode `& 0o077 != 0`): entries are often secrets. Fix it with `chmod 700 <path>`, or open with
    /// [`FileStoreBuilder::insecure_skip_root_permission_check`](crate::FileStoreBuilder::insecure_skip_root_permission_check).
    #[error(
        "the store directory {path} is open to its group or other users (mode {mode:04o}): run `chmod 700 {path}`, \
         or, if it must be shared, open it with FileStoreBuilder::insecure_skip_root_permission_check()",
        path = path.display()
    )]
    RootOpenToOthers {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The store directory already exists and belongs to another user, who can change the entries in
    /// it. Give it to this process's user (`chown`) and `chmod 700 <path>`, or open with
    /// [`FileStoreBuilder::insecure_skip_root_permission_check`](crate::FileStoreBuilder::insecure_skip_root_permission_check).
    #[error(
        "the store directory {path} belongs to uid {owner}, not to this process's user (uid {user}): run \
         `chown {user} {path} && chmod 700 {path}` as root, or, if it must be shared, open it with \
         FileStoreBuilder::insecure_skip_root_permission_check()",
        path = path.display()
    )]
    RootNotOwned {
        /// The directory.
        path: PathBuf,
        /// The directory's owner.
        owner: u32,
        /// This process's (effective) user.
        user: u32,
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

pub(crate) fn io_error(op: &'static str, path: &Path, source: io::Error) -> StoreError {
    let path = path.to_owned();
    match source.kind() {
        io::ErrorKind::PermissionDenied => StoreError::Backend {
            backend: BACKEND,
            source: Box::new(FileStoreError::Permission { path, source }),
        },
        io::ErrorKind::ReadOnlyFilesystem => StoreError::Backend {
            backend: BACKEND,
            source: Box::new(FileStoreError::ReadOnly { path, source }),
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

pub(crate) fn corrupt(collection: &str, key: &str, error: FileStoreError) -> StoreError {
    StoreError::Corrupt {
        backend: BACKEND,
        collection: collection.to_owned(),
        key: key.to_owned(),
        source: Box::new(error),
    }
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
        let err = io_error("write", path, io::Error::from_raw_os_error(30)); // EROFS
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("/srv/store/c-1/x.kv is read-only: remount it read-write"), "{source}");
        let err = io_error("write", path, io::Error::from_raw_os_error(28)); // ENOSPC
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("no space left"), "{source}");
        let err = io_error("write", path, io::Error::other("boom"));
        assert!(std::error::Error::source(&err).unwrap().to_string().starts_with("cannot write"));
    }
}
