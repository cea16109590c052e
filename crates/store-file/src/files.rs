//! The file-system primitives the operations are built from: exclusive creation, directory sync, reads
//! that also return the inode, the collection lock, and running blocking I/O off the async runtime.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use mcp_auth_core::store::StoreError;

use crate::BACKEND;
use crate::error::FileStoreError;
use crate::layout::LOCK_NAME;

/// Runs blocking file I/O on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|err| StoreError::Backend {
        backend: BACKEND,
        source: Box::new(FileStoreError::Task(err)),
    })?
}

/// Creates `path` (mode `0600`), failing if it exists.
pub(crate) fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Makes the directory's entries (renames, links, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a file with its inode; `None` when it does not exist.
pub(crate) fn read_with_inode(path: &Path) -> io::Result<Option<(Vec<u8>, u64)>> {
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

/// Takes the collection's write lock, blocking until it is free; it is released when the file is dropped.
/// `flock` locks belong to the open file description, so two threads of one process exclude each other
/// as two processes do.
pub(crate) fn lock_collection(dir: &Path) -> io::Result<File> {
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(dir.join(LOCK_NAME))?;
    file.lock()?;
    Ok(file)
}
