//! Redis Cluster: three private `redis-server` primaries on free ports, joined with `redis-cli --cluster
//! create` (feature `cluster`; run with `cargo test -p mcp-auth-store-redis --features cluster --test
//! cluster`). The suite runs over the cluster and over Fernet on the cluster, and swaps race across two
//! independent cluster connections.

#![cfg(feature = "cluster")]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_auth_core::store::KvStorage;
use mcp_auth_core::testkit;
use mcp_auth_fernet::{FernetKey, FernetStore};
use mcp_auth_store_redis::RedisStore;

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_store_passes_the_suite_with_collections_as_hash_tags() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let mut nodes = Nodes(Vec::new());
    for port in &ports {
        let port = port.to_string();
        nodes.0.push(
            Command::new("redis-server")
                .current_dir(dir.path())
                .args(["--port", &port, "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .args([
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server"),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("redis-cli");
    assert!(status.success(), "redis-cli --cluster create failed");
    let urls: Vec<String> = addresses.iter().map(|a| format!("redis://{a}")).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let store = loop {
        let attempt = RedisStore::builder("redis://unused").cluster(urls.clone()).connect().await;
        match attempt {
            Ok(store) if store.put("probe", "k", b"v", None).await.is_ok() => break store,
            other => {
                assert!(Instant::now() < deadline, "the cluster never became usable: {other:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(store.redis_key("clients", "c1").contains(":{clients}:"), "collections are hash tags");
    testkit::run_all(Arc::new(store.clone())).await;
    // Fernet over the cluster: the compare-and-swap of ciphertexts runs through the cluster's script.
    let encrypted = FernetStore::new(store.clone(), vec![FernetKey::generate()]).unwrap();
    testkit::run_all(Arc::new(encrypted)).await;
    // A second, independent cluster connection: swaps and takes race across both.
    let other = RedisStore::builder("redis://unused").cluster(urls.clone()).connect().await.unwrap();
    let (a, b): (Arc<dyn KvStorage>, Arc<dyn KvStorage>) = (Arc::new(store.clone()), Arc::new(other));
    testkit::instances_share_state(&a, &b).await;
    testkit::compare_and_swap_is_atomic_across(&[Arc::clone(&a), Arc::clone(&b)]).await;
    testkit::take_and_compare_and_swap_are_linearizable_across(&[Arc::clone(&a), Arc::clone(&b)]).await;
    // Many collections spread over the three nodes; keys() of each sees exactly its own keys.
    for i in 0..20 {
        let collection = format!("spread-{i}");
        store.put(&collection, "a", b"1", None).await.unwrap();
        store.put(&collection, "b", b"2", None).await.unwrap();
        let mut keys = testkit::list_all_keys(&store, &collection, 1).await.unwrap();
        keys.sort();
        keys.dedup();
        assert_eq!(keys, ["a", "b"], "{collection}");
    }
    let refused =
        RedisStore::builder("redis://unused").prefix("{x}").cluster(urls).connect().await.unwrap_err();
    assert!(std::error::Error::source(&refused).unwrap().to_string().contains("hash tag"), "{refused:?}");
}
