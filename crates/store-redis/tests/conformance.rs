//! The conformance suite and the two-instance checks against the shared Redis (`MCP_AUTH_REDIS_URL`,
//! default `redis://127.0.0.1:6379`), each test under its own prefix, cleaned up afterwards.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::store::{Expiry, KvStorage, StoreError};
use mcp_auth_core::testkit;
use mcp_auth_fernet::{FernetKey, FernetStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_passes_the_conformance_suite() {
    if common::skipped() {
        return;
    }
    let store = common::shared_store("suite").await;
    testkit::run_all(Arc::new(store.clone())).await;
    assert!(common::count_keys(&store).await > 0, "the suite wrote under the prefix");
    common::cleanup(&store).await;
    assert_eq!(common::count_keys(&store).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fernet_over_redis_passes_the_conformance_suite() {
    if common::skipped() {
        return;
    }
    let store = common::shared_store("fernet-suite").await;
    let encrypted = FernetStore::new(store.clone(), vec![FernetKey::generate()]).unwrap();
    testkit::run_all(Arc::new(encrypted)).await;
    common::cleanup(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_state_and_race_atomically() {
    if common::skipped() {
        return;
    }
    let a = common::shared_store("two-instances").await;
    // A second, independent connection manager over the same Redis and prefix.
    let b = mcp_auth_store_redis::RedisStore::builder(common::shared_url())
        .prefix(a.prefix())
        .connect()
        .await
        .unwrap();
    let (da, db) = (common::as_dyn(a.clone()), common::as_dyn(b));
    testkit::instances_share_state(&da, &db).await;
    testkit::take_is_atomic_across(&[Arc::clone(&da), Arc::clone(&db)]).await;
    testkit::compare_and_swap_is_atomic_across(&[Arc::clone(&da), Arc::clone(&db)]).await;
    testkit::take_and_compare_and_swap_are_linearizable_across(&[Arc::clone(&da), Arc::clone(&db)]).await;
    testkit::put_if_absent_is_atomic_across(&[da, db]).await;
    common::cleanup(&a).await;
}

#[tokio::test]
async fn keys_are_laid_out_under_the_prefix_and_expire_in_redis() {
    if common::skipped() {
        return;
    }
    let store = common::shared_store("layout").await;
    store.put("clients", "c:1", b"v", Some(std::time::Duration::from_secs(30))).await.unwrap();
    let key = store.redis_key("clients", "c:1");
    assert_eq!(key, format!("{}:clients:c:1", store.key_prefix()));
    let client = redis::Client::open(common::shared_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "PTTL {pttl}");
    // A glob character in the prefix is escaped in SCAN: a sibling prefix's keys do not leak in.
    let starred = mcp_auth_store_redis::RedisStore::builder(common::shared_url())
        .prefix(format!("{}*", store.prefix()))
        .connect()
        .await
        .unwrap();
    assert!(
        testkit::list_all_keys(&starred, "clients", 1000).await.unwrap().is_empty(),
        "SCAN pattern was not escaped"
    );
    starred.put("clients", "x", b"y", None).await.unwrap();
    let listed: BTreeSet<String> =
        testkit::list_all_keys(&store, "clients", 1000).await.unwrap().into_iter().collect();
    assert_eq!(listed, BTreeSet::from(["c:1".to_owned()]));
    common::cleanup(&store).await;
    common::cleanup(&starred).await;
}

#[tokio::test]
async fn compare_and_swap_reloads_a_flushed_script_and_sets_ttls_as_put_does() {
    if common::skipped() {
        return;
    }
    // A private server, so flushing its scripts cannot disturb the other tests.
    let redis = common::PrivateRedis::start();
    let store = mcp_auth_store_redis::RedisStore::connect(&redis.url()).await.unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let key = store.redis_key("c", "k");
    assert!(store.compare_and_swap("c", "k", None, b"1", None).await.unwrap());
    // As after a restart or a fail-over: EVALSHA answers NOSCRIPT, and the script is loaded again.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut raw).await.unwrap();
    assert!(store.compare_and_swap("c", "k", Some(b"1"), b"2", None).await.unwrap());
    let loaded: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg("0000000000000000000000000000000000000000")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(loaded, [false], "SCRIPT EXISTS answers for an unknown script");

    assert!(store.compare_and_swap("c", "k", Some(b"2"), b"3", Some(Duration::from_secs(30))).await.unwrap());
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut raw).await.unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "PTTL {pttl} after a swap with a 30 s TTL");
    assert!(store.compare_and_swap("c", "k", Some(b"3"), b"4", Some(Duration::MAX)).await.unwrap());
    assert_eq!(store.remaining_ttl("c", "k").await.unwrap(), Some(Expiry::Never), "a TTL too large is none");
    // A sub-millisecond TTL still expires (as 1 ms: Redis refuses PX 0), as with put.
    assert!(
        store.compare_and_swap("c", "k", Some(b"4"), b"5", Some(Duration::from_micros(10))).await.unwrap()
    );
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut raw).await.unwrap();
    assert!(matches!(pttl, -2 | 0 | 1), "PTTL {pttl} after a swap with a 10 µs TTL");
}

#[tokio::test]
async fn fernet_over_redis_refuses_values_moved_or_written_back_with_raw_commands() {
    if common::skipped() {
        return;
    }
    let store = common::shared_store("fernet-binding").await;
    let clock = mcp_auth_core::clock::ManualClock::starting_now();
    let encrypted = FernetStore::builder(store.clone(), vec![FernetKey::generate()])
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    encrypted.put("codes", "alice", b"one-time", Some(Duration::from_secs(60))).await.unwrap();
    let client = redis::Client::open(common::shared_url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let ciphertext: Vec<u8> =
        redis::cmd("GET").arg(store.redis_key("codes", "alice")).query_async(&mut raw).await.unwrap();
    // Copied under another key with a plain SET.
    let _: () = redis::cmd("SET")
        .arg(store.redis_key("codes", "mallory"))
        .arg(&ciphertext)
        .query_async(&mut raw)
        .await
        .unwrap();
    // Three minutes later (two past the deadline, more than the 60 s allowance), written back without
    // its TTL.
    clock.advance(Duration::from_secs(180));
    let _: () = redis::cmd("SET")
        .arg(store.redis_key("codes", "alice"))
        .arg(&ciphertext)
        .query_async(&mut raw)
        .await
        .unwrap();
    for key in ["mallory", "alice"] {
        let err = encrypted.get("codes", key).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { backend: "fernet", .. }), "{key}: {err:?}");
        let source = std::error::Error::source(&err).unwrap();
        assert!(source.downcast_ref::<mcp_auth_fernet::BindingError>().is_some(), "{key}: {source}");
    }
    common::cleanup(&store).await;
}

/// Issue 11: the prefix was not escaped, so two deployments sharing a Redis could read, overwrite and
/// list each other's entries: prefix `a:b` with collection `c` and prefix `a` with collection `b` wrote
/// the same Redis keys (`a:b:c:<key>`). The prefix is now escaped like the collection.
#[tokio::test]
async fn redis_prefixes_cannot_collide_between_deployments() {
    if common::skipped() {
        return;
    }
    let base = common::unique_prefix("prefix-collision");
    let connect = |prefix: String| async move {
        mcp_auth_store_redis::RedisStore::builder(common::shared_url())
            .prefix(prefix)
            .connect()
            .await
            .unwrap()
    };
    let nested = connect(format!("{base}:b")).await; // prefix a:b
    let outer = connect(base.clone()).await; // prefix a
    nested.put("c", "k", b"nested's secret", None).await.unwrap();
    assert_ne!(nested.redis_key("c", "k"), outer.redis_key("b", "c:k"));
    assert_eq!(outer.get("b", "c:k").await.unwrap(), None, "read across deployments");
    assert!(testkit::list_all_keys(&outer, "b", 1000).await.unwrap().is_empty(), "listed across deployments");
    outer.put("b", "c:k", b"outer's value", None).await.unwrap();
    assert_eq!(nested.get("c", "k").await.unwrap().as_deref(), Some(&b"nested's secret"[..]), "overwritten");
    assert!(!outer.delete("b", "c:x").await.unwrap());

    // A `%` in a prefix cannot imitate an escaped `:` either.
    let percent = connect(format!("{base}%3Ab")).await;
    assert_eq!(percent.get("c", "k").await.unwrap(), None);

    // Readable: an ordinary prefix is unchanged, and the one with a `:` shows it escaped.
    assert!(nested.redis_key("c", "k").ends_with("%3Ab:c:k"), "{}", nested.redis_key("c", "k"));
    assert_eq!(nested.key_prefix(), format!("{}%3Ab", base.replace(':', "%3A")));
    for store in [&nested, &outer, &percent] {
        common::cleanup(store).await;
        assert_eq!(common::count_keys(store).await, 0);
    }
}
