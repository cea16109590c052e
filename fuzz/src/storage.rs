//! Values as the storage backends read them back: Fernet tokens and file-store entry files.

use std::path::PathBuf;
use std::sync::OnceLock;

use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_store_file::FileStore;

use crate::{block_on, text};

/// A fixed Fernet key (32 bytes, URL-safe base64), the one every stored value is read with.
const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
/// The bound plaintext's magic and version, then `c` and `k` with their 2-byte lengths.
const BOUND_TO_C_K: &[u8] = b"\xFFMCPA\x02\x00\x01c\x00\x01k";

fn fernet_store() -> &'static FernetStore<MemoryStore> {
    static STORE: OnceLock<FernetStore<MemoryStore>> = OnceLock::new();
    STORE.get_or_init(|| {
        let key = FernetKey::new(KEY).expect("a valid key");
        FernetStore::new(MemoryStore::new(), vec![key]).expect("a valid store")
    })
}

/// A stored value read through `FernetStore`. The first byte picks the mode: 0, the rest is what the
/// backend holds, and it reads as a value only when it is a genuine token of the key; 1, the rest is a
/// plaintext sealed here with the key, and it reads as a value only when it is bound to the collection
/// and key it is read from (never the unbound format, which is off by default); 2, the rest is a key
/// or a key list.
pub fn fernet_value(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else { return };
    let store = fernet_store();
    let fernet = fernet::Fernet::new(KEY).expect("a valid key");
    match mode % 3 {
        0 => {
            block_on(store.inner().put("c", "k", rest, None)).expect("the memory store");
            if let Ok(Some(_)) = block_on(store.get("c", "k")) {
                let token = std::str::from_utf8(rest).expect("read a value from a token that is not text");
                assert!(fernet.decrypt(token).is_ok(), "read a value from a token the key did not make");
            }
        }
        1 => {
            let token = fernet.encrypt(rest);
            block_on(store.inner().put("c", "k", token.as_bytes(), None)).expect("the memory store");
            if let Ok(Some(value)) = block_on(store.get("c", "k")) {
                assert!(rest.starts_with(BOUND_TO_C_K), "read a value not bound to c/k");
                assert_eq!(
                    rest.len(),
                    BOUND_TO_C_K.len() + 8 + value.len(),
                    "read a value of another length"
                );
                assert!(rest.ends_with(&value), "read another value than sealed");
            }
        }
        _ => {
            let Some(text) = text(rest) else { return };
            if let Ok(key) = FernetKey::new(text) {
                assert!(FernetKey::new(key.expose_secret()).is_ok());
            }
            if let Ok(keys) = FernetKey::parse_list(text) {
                assert!(keys.iter().all(|key| FernetKey::new(key.expose_secret()).is_ok()));
            }
        }
    }
}

/// A file store with one entry, `c`/`k`, whose file each input replaces.
struct EntryFile {
    store: FileStore,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn entry_file() -> &'static EntryFile {
    static FILE: OnceLock<EntryFile> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The store creates its root itself, private to this user.
        let root = dir.path().join("store");
        let store = block_on(FileStore::builder(&root).sweep_interval(None).open()).expect("a store");
        block_on(store.put("c", "k", b"v", None)).expect("a first entry");
        let entries = |dir: &std::path::Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .expect("a readable directory")
                .map(|e| e.expect("an entry").path())
                .collect()
        };
        let path = entries(&root)
            .iter()
            .filter(|path| path.is_dir())
            .flat_map(|collection| entries(collection))
            .find(|path| path.extension().is_some_and(|ext| ext == "kv"))
            .expect("the entry file");
        EntryFile { store, path, _dir: dir }
    })
}

/// The input as the file of the entry `c`/`k`, read through `FileStore`. It reads as a value only when
/// it is a whole, well-formed entry for the key `k` holding exactly that value.
pub fn file_store_entry(data: &[u8]) {
    const HEADER: usize = 28;
    const CHECKSUM: usize = 16;
    let file = entry_file();
    std::fs::write(&file.path, data).expect("the entry file is writable");
    if let Ok(Some(value)) = block_on(file.store.get("c", "k")) {
        assert!(data.starts_with(b"MCPAKV\x01\x00"), "read a value from a foreign file");
        assert_eq!(data.len(), HEADER + 1 + value.len() + CHECKSUM, "read a value of another length");
        assert_eq!(data[HEADER], b'k', "read a value stored under another key");
        assert_eq!(&data[HEADER + 1..HEADER + 1 + value.len()], value, "read another value than stored");
    }
    let _ = block_on(file.store.remaining_ttl("c", "k"));
    let _ = block_on(file.store.list_keys("c", None, 4));
}
