//! Fault tests against a private `redis-server` this test starts, kills and restarts on the same port.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_auth_core::store::{KvStorage, StoreError};
use mcp_auth_store_redis::{OperationTimedOut, RedisStore};

/// Slack on top of the configured timeout before a call counts as hung.
const HANG_SLACK: Duration = Duration::from_secs(5);

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
    let store: Arc<dyn KvStorage> = Arc::new(store);

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
                // A hang detector, not a speed check: the operation timeout bounds every call, and the
                // slack absorbs a loaded machine.
                assert!(started.elapsed() < timeout + HANG_SLACK, "a call hung for {:?}", started.elapsed());
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
            _ => store.list_keys("c", None, 10).await.map(drop).unwrap_err(),
        };
        assert!(matches!(err, StoreError::Unavailable { backend: "redis", .. }), "op {op}: {err:?}");
        assert!(started.elapsed() < timeout + HANG_SLACK, "op {op} hung for {:?}", started.elapsed());
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
    assert!(started.elapsed() < Duration::from_millis(600) + HANG_SLACK, "hung for {:?}", started.elapsed());
}

/// A server that accepts connections and never answers (a black hole) must not hang the store: the call
/// returns `Unavailable` once the timeouts run out.
#[tokio::test]
async fn a_silent_server_times_out_instead_of_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // keep it open, say nothing
        }
    });
    let connect = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_millis(700))
        .connect();
    let err = tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .expect("connect hung on a silent server")
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { backend: "redis", .. }), "{err:?}");
    let source = std::error::Error::source(&err).unwrap();
    let timed_out = source.downcast_ref::<OperationTimedOut>().is_some()
        || source.downcast_ref::<redis::RedisError>().is_some_and(redis::RedisError::is_timeout);
    assert!(timed_out, "expected a timeout, got {source:?}");
    silent.abort();
}
