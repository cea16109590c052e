//! A file-system backend for the mcp-auth [`KvStorage`]: one directory per collection, one file per entry,
//! crash-safe, and atomic across every process that shares the directory.
//!
//! - **Layout.** `<root>/c-<hash of collection>/<hash of key>.kv` (SHA-256, hex), so any key or
//!   collection name is a safe file name (`..`, `/`, NUL-free oddities, 1 KiB names). Each file holds a
//!   small versioned header (format version, expiry), the original key (so [`KvStorage::list_keys`]
//!   works), the value, and a checksum.
//! - **Atomic, durable writes.** A write goes to a temporary file in the same directory, is `fsync`ed,
//!   renamed over the entry, and the directory is `fsync`ed. A crash at any moment leaves the old or the
//!   new value, never a torn one.
//! - **Cross-process atomicity.** Every change to an entry (create, replace, remove) happens under the
//!   collection's advisory `flock`, which every process takes, so changes to one entry are ordered.
//!   `take` renames the entry to a unique tombstone name (of concurrent renames exactly one succeeds),
//!   then reads and deletes it. `put_if_absent` hard-links its fully written temporary file to the entry
//!   name, which fails if the name exists; an expired entry in the way is replaced under the lock, checked
//!   by inode so a fresh entry is never removed. Reads take no lock.
//! - **Bounded growth.** Expired entries are removed when read and by a background sweep that examines
//!   at most [`FileStoreBuilder::sweep_batch`] files per run; leftover temporary files and tombstones
//!   from crashed processes are reaped once older than [`FileStoreBuilder::stale_temp_after`].
//! - **Listing.** `list_keys` sorts the hashed names of a collection's entry files and reads the entries
//!   after the cursor (the name of the last entry a page read) until it has `limit` live keys, so pages
//!   are strictly bounded and a walk needs no state on disk.
//! - **Clear failures.** Permission problems, a read-only file system, a full disk and corrupt or foreign
//!   files are distinct [`FileStoreError`]s inside [`StoreError`]; a corrupt file is reported and
//!   skipped by `list_keys` and the sweep, never a panic. All file I/O runs in `tokio::task::spawn_blocking`.
//!
//! Directories are created `0700` and files `0600`, and an existing store directory open to its group or
//! other users, or owned by another user, is refused at [`FileStoreBuilder::open`] with the `chmod 700`
//! that fixes it (unless [`FileStoreBuilder::insecure_skip_root_permission_check`]): values are often
//! secrets, so also wrap the store in `mcp_auth_fernet::FernetStore` when the disk is not trusted. Unix only (it relies on `rename`,
//! `link` and inode numbers); the directory must be on a local file system with POSIX semantics (not
//! NFS).
//!
//! # Source layout
//!
//! `layout.rs` names files and directories, `format.rs` is the entry file format, `files.rs` the
//! file-system primitives (exclusive create, directory sync, the collection lock), `ops.rs` the entry
//! operations built from them, `sweep.rs` the background cleanup, `builder.rs` and `store.rs` the public
//! handle, and `error.rs` the errors.
//!
//! [`KvStorage`]: mcp_auth_core::store::KvStorage
//! [`KvStorage::list_keys`]: mcp_auth_core::store::KvStorage::list_keys
//! [`StoreError`]: mcp_auth_core::store::StoreError
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

mod builder;
mod error;
mod files;
mod format;
mod layout;
mod ops;
mod store;
mod sweep;

pub use self::builder::FileStoreBuilder;
pub use self::error::FileStoreError;
pub use self::format::FormatError;
pub use self::store::FileStore;
pub use self::sweep::SweepReport;

/// The backend name in this crate's [`StoreError`](mcp_auth_core::store::StoreError)s.
pub const BACKEND: &str = "file";
