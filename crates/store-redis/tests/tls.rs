//! `rediss://` against a private `redis-server` with TLS on a free port (feature `tls`; run with
//! `cargo test -p mcp-auth-store-redis --features tls --test tls`).

#![cfg(feature = "tls")]

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_auth_core::store::StoreError;
use mcp_auth_core::testkit;
use mcp_auth_store_redis::RedisStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rediss_with_a_private_ca_passes_the_suite_and_plain_clients_are_refused() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--tls-cert-file",
            &format!("{data}/server.pem"),
            "--tls-key-file",
            &format!("{data}/server.key"),
        ])
        .args(["--tls-ca-cert-file", &format!("{data}/ca.pem"), "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let ca = std::fs::read(format!("{data}/ca.pem")).unwrap();
    let url = format!("rediss://localhost:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let store = loop {
        match RedisStore::builder(&url).tls_root_certificate(ca.clone()).connect().await {
            Ok(store) => break store,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("TLS connect failed: {err:?}"),
        }
    };
    testkit::run_all(Arc::new(store)).await;

    // Without the private CA the server's certificate is not trusted: a clear error, not a hang.
    let err =
        RedisStore::builder(&url).operation_timeout(Duration::from_secs(3)).connect().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. } | StoreError::Backend { .. }), "{err:?}");
    server.kill().unwrap();
    server.wait().unwrap();
}
