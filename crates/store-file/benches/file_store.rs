//! put/get/take on `FileStore` (in a temporary directory), with `MemoryStore` as the in-run baseline and
//! `FernetStore<FileStore>` for the encryption overhead.

#![allow(missing_docs)]

use std::hint::black_box;
use std::os::unix::fs::PermissionsExt as _;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_store_file::FileStore;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // Private to this user (mode 0700): the file store refuses a root open to others.
    let dir = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let file = runtime.block_on(FileStore::open(dir.path())).unwrap();
    let fernet = FernetStore::new(file.clone(), vec![FernetKey::generate()]).unwrap();
    let memory = MemoryStore::new();
    let value = vec![0x5a_u8; 256];
    let stores: [(&str, &dyn KvStorage); 3] =
        [("memory", &memory), ("file", &file), ("fernet+file", &fernet)];
    let mut group = c.benchmark_group("file_store");
    for (name, store) in stores {
        runtime.block_on(store.put("bench", "k", &value, None)).unwrap();
        group.bench_function(format!("{name}/put_256B"), |b| {
            b.to_async(&runtime)
                .iter(|| async { store.put("bench", "k", black_box(&value), None).await.unwrap() });
        });
        group.bench_function(format!("{name}/get_256B"), |b| {
            b.to_async(&runtime).iter(|| async { black_box(store.get("bench", "k").await.unwrap()) });
        });
        group.bench_function(format!("{name}/put_take_256B"), |b| {
            b.to_async(&runtime).iter(|| async {
                store.put("bench", "t", black_box(&value), None).await.unwrap();
                black_box(store.take("bench", "t").await.unwrap())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
