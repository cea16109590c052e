//! Where things live on disk: `<root>/c-<hash of collection>/<hash of key>.kv`, plus the temporary files,
//! tombstones and the lock file that share a collection's directory.
//!
//! Names are SHA-256 hashes in hex, so any key or collection name (`..`, `/`, 1 KiB of unicode) is a
//! safe file name, and the entry files of a collection sort in a stable order that has nothing to do with
//! when they were written.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The suffix of entry files.
pub(crate) const ENTRY_SUFFIX: &str = ".kv";
/// The prefix of temporary files (written, synced, then renamed or linked into place).
pub(crate) const TEMP_PREFIX: &str = ".tmp-";
/// The prefix of tombstones (an entry renamed away by `take` or `delete`, read, then removed).
pub(crate) const TOMB_PREFIX: &str = ".tomb-";
/// The collection's write lock: an advisory `flock` every process takes to create, replace or remove an
/// entry.
pub(crate) const LOCK_NAME: &str = ".lock";
/// The prefix of collection directories.
pub(crate) const COLLECTION_PREFIX: &str = "c-";

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The directory of `collection` under `root`.
pub(crate) fn collection_dir(root: &Path, collection: &str) -> PathBuf {
    root.join(format!("{COLLECTION_PREFIX}{}", &hex(&Sha256::digest(collection.as_bytes()))[..32]))
}

/// The entry file of `key` in a collection directory.
pub(crate) fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{}{ENTRY_SUFFIX}", hex(&Sha256::digest(key.as_bytes()))))
}

/// A fresh, unique name for a temporary file or tombstone in `dir`.
pub(crate) fn temp_name(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}{}-{:016x}", std::process::id(), rand::random::<u64>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hashes() {
        let root = Path::new("/r");
        let dir = collection_dir(root, "../../etc");
        assert!(dir.starts_with("/r") && dir.file_name().unwrap().len() == 34, "{dir:?}");
        let path = entry_path(&dir, "/etc/passwd");
        assert_eq!(path.parent(), Some(dir.as_path()));
        assert_eq!(path.file_name().unwrap().len(), 64 + 3);
        assert_ne!(collection_dir(root, "a"), collection_dir(root, "b"));
    }
}
