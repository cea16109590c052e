//! `FernetStore` over `MemoryStore`: the conformance suite, rotation, tampering and the opt-in.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::store::{Expiry, KvStorage, MemoryStore, StoreError};
use mcp_auth_core::testkit;
use mcp_auth_fernet::{FernetKey, FernetStore, Reencryption};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fernet_over_memory_passes_the_conformance_suite() {
    let store: Arc<dyn KvStorage> = Arc::new(
        FernetStore::new(MemoryStore::new(), vec![FernetKey::generate(), FernetKey::generate()]).unwrap(),
    );
    testkit::run_all(Arc::clone(&store)).await;
    testkit::list_keys_pages_respect_limit(&store).await;
}

#[tokio::test]
async fn inner_store_holds_only_ciphertext() {
    let store = FernetStore::new(MemoryStore::new(), vec![FernetKey::generate()]).unwrap();
    store.put("c", "k", b"very secret refresh token", None).await.unwrap();
    let raw = store.inner().get("c", "k").await.unwrap().unwrap();
    assert!(!raw.windows(6).any(|w| w == b"secret"), "plaintext reached the inner store");
    // Keys are not encrypted: documented, and visible here.
    assert_eq!(testkit::list_all_keys(store.inner(), "c", 10).await.unwrap(), vec!["k".to_owned()]);
    // Two writes of the same value differ (random IV).
    store.put("c", "k2", b"very secret refresh token", None).await.unwrap();
    assert_ne!(raw, store.inner().get("c", "k2").await.unwrap().unwrap());
}

#[tokio::test]
async fn wrong_key_and_tampering_are_corrupt_errors_not_absence() {
    let inner = Arc::new(MemoryStore::new());
    let writer = FernetStore::new(Arc::clone(&inner), vec![FernetKey::generate()]).unwrap();
    writer.put("c", "k", b"v", None).await.unwrap();
    writer.put("c", "t", b"v", None).await.unwrap();
    inner.put("c", "junk", &[0xff, 0x00, 0x80], None).await.unwrap();
    let mut token = inner.get("c", "t").await.unwrap().unwrap();
    let mid = token.len() / 2;
    token[mid] = if token[mid] == b'A' { b'B' } else { b'A' };
    inner.put("c", "t", &token, None).await.unwrap();

    let reader = FernetStore::new(Arc::clone(&inner), vec![FernetKey::generate()]).unwrap();
    for key in ["k", "junk"] {
        let err = reader.get("c", key).await.unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { backend: "fernet", key: k, .. } if k == key), "{err:?}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("wrong key or tampered data"), "{source}");
    }
    let err = writer.get("c", "t").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "tampered token: {err:?}");
    assert!(matches!(reader.take("c", "k").await, Err(StoreError::Corrupt { .. })));

    let lenient = FernetStore::builder(Arc::clone(&inner), vec![FernetKey::generate()])
        .treat_undecryptable_as_missing(true)
        .build()
        .unwrap();
    assert_eq!(lenient.get("c", "junk").await.unwrap(), None);
    assert_eq!(lenient.get("c", "t").await.unwrap(), None);
    assert!(!lenient.put_if_absent("c", "t", b"x", None).await.unwrap(), "the entry is still there");
}

#[tokio::test]
async fn rotation_decrypts_with_old_keys_and_reencrypts_with_the_newest() {
    let (old, new) = (FernetKey::generate(), FernetKey::generate());
    let inner = Arc::new(MemoryStore::new());
    let before = FernetStore::new(Arc::clone(&inner), vec![old.clone()]).unwrap();
    for i in 0..5 {
        before
            .put("c", &format!("k{i}"), format!("v{i}").as_bytes(), Some(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    inner.put("c", "foreign", b"not a token", None).await.unwrap();

    let during = FernetStore::new(Arc::clone(&inner), vec![new.clone(), old.clone()]).unwrap();
    during.put("c", "fresh", b"written with the new key", None).await.unwrap();
    assert_eq!(during.get("c", "k3").await.unwrap().as_deref(), Some(&b"v3"[..]), "old key still decrypts");

    let report = during.reencrypt_collection("c").await.unwrap();
    let Reencryption {
        examined, reencrypted, already_current, skipped, raced, refused, undecryptable, ..
    } = report;
    assert_eq!(
        (examined, reencrypted, already_current, skipped, raced, refused, undecryptable),
        (7, 5, 1, 0, 0, 0, 1)
    );
    // Running again changes nothing.
    let again = during.reencrypt_collection("c").await.unwrap();
    assert_eq!((again.reencrypted, again.already_current), (0, 6));

    let after = FernetStore::new(Arc::clone(&inner), vec![new]).unwrap();
    for i in 0..5 {
        assert_eq!(after.get("c", &format!("k{i}")).await.unwrap(), Some(format!("v{i}").into_bytes()));
    }
    let only_old = FernetStore::new(inner, vec![old]).unwrap();
    assert!(only_old.get("c", "k0").await.is_err(), "rotated values are no longer under the old key");
}

#[tokio::test]
async fn rotation_keeps_ttls_running_down() {
    let (old, new) = (FernetKey::generate(), FernetKey::generate());
    let inner = Arc::new(MemoryStore::new());
    let before = FernetStore::new(Arc::clone(&inner), vec![old.clone()]).unwrap();
    let hour = Duration::from_secs(3600);
    before.put("c", "short", b"v", Some(Duration::from_secs(2))).await.unwrap();
    before.put("c", "long", b"v", Some(hour)).await.unwrap();
    before.put("c", "forever", b"v", None).await.unwrap();
    let during = FernetStore::new(Arc::clone(&inner), vec![new, old]).unwrap();
    let report = during.reencrypt_collection("c").await.unwrap();
    assert_eq!((report.examined, report.reencrypted), (3, 3));
    // Each rewritten entry keeps the time it had left, never more.
    match during.remaining_ttl("c", "short").await.unwrap() {
        Some(Expiry::In(left)) => {
            assert!(left <= Duration::from_secs(2), "rotation extended a TTL: {left:?}");
        }
        other => panic!("the short entry lost its TTL: {other:?}"),
    }
    match during.remaining_ttl("c", "long").await.unwrap() {
        Some(Expiry::In(left)) => assert!(left <= hour && left > hour / 2, "{left:?}"),
        other => panic!("the long entry lost its TTL: {other:?}"),
    }
    assert_eq!(during.remaining_ttl("c", "forever").await.unwrap(), Some(Expiry::Never));
}
