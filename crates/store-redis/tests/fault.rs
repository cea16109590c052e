//! Fault tests against a private `redis-server` this test starts, kills and restarts on the same port.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_auth_core::store::{KvStore, StoreError};
use mcp_auth_store_redis::RedisStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_fails_fast_and_the_store_recovers_by_itself() {
    if common::skipped() {
        return;
    }
    let mut redis = common::PrivateRedis::start();
    let timeout = Duration::from_millis(800);
    let store = RedisStore::builder(redis.url())
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
        .operation_timeout(timeout)
        .connect()
        .await
        .unwrap();
    let store: Arc<dyn KvStore> = Arc::new(store);

    // A workload runs while Redis is killed under it.
    let worker = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut ok = 0u32;
            let mut unavailable = 0u32;
            for i in 0..400u32 {
                let started = Instant::now();
                match store.put("work", &format!("k{}", i % 20), b"v", None).await {
                    Ok(()) => ok += 1,
                    Err(err) => {
                        assert!(err.is_unavailable(), "an outage must read as Unavailable, got {err:?}");
                        assert!(matches!(err, StoreError::Unavailable { backend: "redis", .. }), "{err:?}");
                        unavailable += 1;
                    }
                }
                // Bounded by the operation timeout (with slack for a loaded machine), never a hang.
                assert!(started.elapsed() < timeout * 4, "a call took {:?}", started.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ok, unavailable)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();

    // While Redis is down every call fails with Unavailable within the timeout.
    for op in 0..5 {
        let started = Instant::now();
        let err = match op {
            0 => store.get("c", "k").await.map(drop).unwrap_err(),
            1 => store.put("c", "k", b"v", None).await.unwrap_err(),
            2 => store.take("c", "k").await.map(drop).unwrap_err(),
            3 => store.put_if_absent("c", "k", b"v", None).await.map(drop).unwrap_err(),
            _ => store.keys("c").await.map(drop).unwrap_err(),
        };
        assert!(matches!(err, StoreError::Unavailable { backend: "redis", .. }), "op {op}: {err:?}");
        assert!(started.elapsed() < timeout * 4, "op {op} took {:?}", started.elapsed());
    }

    redis.restart();
    // The same store instance comes back without being rebuilt.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.put("c", "after", b"restart", None).await {
            Ok(()) => break,
            Err(err) => {
                assert!(err.is_unavailable(), "{err:?}");
                assert!(
                    Instant::now() < deadline,
                    "the store did not recover after Redis came back: {err:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(store.get("c", "after").await.unwrap().as_deref(), Some(&b"restart"[..]));
    let (ok, unavailable) = worker.await.expect("the workload task panicked");
    assert!(ok > 0, "the workload never succeeded");
    assert!(unavailable > 0, "the workload never saw the outage");
    assert!(store.put("work", "final", b"v", None).await.is_ok());
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let err = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_millis(600))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { backend: "redis", .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}
