//! put/get/take against the shared Redis (`MCP_AUTH_REDIS_URL`), with `MemoryStore` as the in-run
//! baseline and `FernetStore<RedisStore>` for the encryption overhead.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_store_redis::RedisStore;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let url =
        std::env::var("MCP_AUTH_REDIS_URL").unwrap_or_else(|_| mcp_auth_store_redis::DEFAULT_URL.into());
    let prefix = format!("mcp-auth-bench:{}", std::process::id());
    let redis = runtime
        .block_on(RedisStore::builder(url).prefix(prefix).connect())
        .expect("the Redis benchmark needs a Redis at MCP_AUTH_REDIS_URL");
    let fernet = FernetStore::new(redis.clone(), vec![FernetKey::generate()]).unwrap();
    let memory = MemoryStore::new();
    let value = vec![0x5a_u8; 256];
    let stores: [(&str, &dyn KvStorage); 3] =
        [("memory", &memory), ("redis", &redis), ("fernet+redis", &fernet)];
    let mut group = c.benchmark_group("redis_store");
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
    runtime.block_on(async {
        for key in ["k", "t"] {
            let _ = redis.delete("bench", key).await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
