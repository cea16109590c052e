//! Where things live on disk: `<root>/c-<hash of collection>/<hash of key>.kv`, plus the temporary files,
//! tombstones and the lock file that share a collection's directory.
//!
//! Names are SHA-256 hashes in hex, so any key or collection name (`..`, `/`, 1 KiB of unicode) is a
//! safe file name, and the entry files of a collection sort in a stable order that has nothing to do with
//! when they were written.

use std::path::{Path, PathBuf};

use mcp_auth_core::store::StoreError;
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

/// File-store cursors are this prefix and the hashed name (64 hex digits) of the last entry a page read.
const CURSOR_PREFIX: &str = "f1:";

/// The cursor that resumes a listing after the entry file `stem` (its name without the suffix).
pub(crate) fn encode_cursor(stem: &str) -> String {
    format!("{CURSOR_PREFIX}{stem}")
}

/// The entry file name a cursor resumes after.
pub(crate) fn decode_cursor(cursor: &str) -> Result<&str, StoreError> {
    match cursor.strip_prefix(CURSOR_PREFIX) {
        Some(stem) if stem.len() == 64 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(stem)
        }
        _ => Err(StoreError::InvalidCursor {
            reason: "not a cursor of the file store (start a listing with no cursor)".to_owned(),
        }),
    }
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

    #[test]
    fn cursors_name_an_entry_file_and_nothing_else() {
        let path = entry_path(Path::new("/r/c-1"), "k");
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(decode_cursor(&encode_cursor(stem)).unwrap(), stem);
        let upper = encode_cursor(&stem.to_uppercase());
        for bad in ["", "f1:", "f1:abc", "m1:key", "r1:12", upper.as_str(), &format!("f1:{stem}0")] {
            assert!(matches!(decode_cursor(bad), Err(StoreError::InvalidCursor { .. })), "{bad:?}");
        }
    }
}
