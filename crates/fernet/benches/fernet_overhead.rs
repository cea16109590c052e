//! Fernet overhead: put and get of a 256-byte value through `MemoryStore` alone (the baseline) and through
//! `FernetStore<MemoryStore>`, in the same run.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_fernet::{FernetKey, FernetStore};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let value = vec![0x5a_u8; 256];
    let plain = MemoryStore::new();
    let encrypted = runtime
        .block_on(async { FernetStore::new(MemoryStore::new(), vec![FernetKey::generate()]) })
        .unwrap();
    let stores: [(&str, &dyn KvStorage); 2] = [("memory", &plain), ("fernet+memory", &encrypted)];
    let mut group = c.benchmark_group("fernet_overhead");
    for (name, store) in stores {
        runtime.block_on(store.put("bench", "k", &value, None)).unwrap();
        group.bench_function(format!("{name}/put_256B"), |b| {
            b.to_async(&runtime)
                .iter(|| async { store.put("bench", "k", black_box(&value), None).await.unwrap() });
        });
        group.bench_function(format!("{name}/get_256B"), |b| {
            b.to_async(&runtime).iter(|| async { black_box(store.get("bench", "k").await.unwrap()) });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
