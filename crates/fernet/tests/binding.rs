//! Values bound to where they are stored: copied ciphertexts and expired values written back are refused,
//! the clock-skew allowance, the unbound format of earlier versions behind its opt-in, and the upgrade
//! through `reencrypt_collection` (compare-and-swap, so a concurrent write is never overwritten).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fernet::Fernet;
use mcp_auth_core::async_trait;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::{Expiry, KeyPage, KvStorage, MemoryStore, StoreError};
use mcp_auth_fernet::{BindingError, DEFAULT_MAX_CLOCK_SKEW, FernetKey, FernetStore};

const HOUR: Duration = Duration::from_secs(3600);

/// The binding error inside a `Corrupt` error, or a panic naming what came instead.
fn binding_error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> BindingError {
    match result {
        Err(StoreError::Corrupt { backend: "fernet", source, .. }) => match source.downcast::<BindingError>()
        {
            Ok(binding) => *binding,
            Err(other) => panic!("Corrupt, but not a binding error: {other}"),
        },
        other => panic!("expected StoreError::Corrupt with a BindingError, got {other:?}"),
    }
}

#[tokio::test]
async fn a_value_copied_under_another_key_or_collection_is_refused() {
    let inner = Arc::new(MemoryStore::new());
    let store = FernetStore::new(Arc::clone(&inner), vec![FernetKey::generate()]).unwrap();
    store.put("grants", "alice", b"admin grant", None).await.unwrap();
    let ciphertext = inner.get("grants", "alice").await.unwrap().unwrap();
    // Someone with write access to the backend reuses alice's ciphertext for mallory, and in another
    // collection under the same key.
    inner.put("grants", "mallory", &ciphertext, None).await.unwrap();
    inner.put("other", "alice", &ciphertext, None).await.unwrap();
    for (collection, key) in [("grants", "mallory"), ("other", "alice")] {
        assert!(matches!(binding_error(store.get(collection, key).await), BindingError::WrongPlace));
        assert!(matches!(
            binding_error(store.compare_and_swap(collection, key, None, b"x", None).await),
            BindingError::WrongPlace
        ));
    }
    let err = store.get("grants", "mallory").await.unwrap_err();
    let message = std::error::Error::source(&err).unwrap().to_string();
    assert!(message.contains("copied from elsewhere"), "{message}");
    assert!(matches!(binding_error(store.take("grants", "mallory").await), BindingError::WrongPlace));
    // The genuine value still reads, and reading copies as missing is not an option even when
    // undecryptable values are.
    assert_eq!(store.get("grants", "alice").await.unwrap().as_deref(), Some(&b"admin grant"[..]));
    let lenient = FernetStore::builder(Arc::clone(&inner), vec![FernetKey::generate()])
        .treat_undecryptable_as_missing(true)
        .build()
        .unwrap();
    assert_eq!(lenient.get("grants", "alice").await.unwrap(), None, "another key: undecryptable, missing");
    // Rotation does not launder a copy into a genuine value.
    let report = store.reencrypt_collection("other").await.unwrap();
    assert_eq!((report.refused, report.reencrypted), (1, 0));
    assert!(matches!(binding_error(store.get("other", "alice").await), BindingError::WrongPlace));
}

#[tokio::test]
async fn an_expired_value_written_back_is_refused_and_within_the_skew_allowance_reads_as_missing() {
    let key = FernetKey::generate();
    let clock = ManualClock::starting_now();
    // The backend keeps whatever is written to it; only the Fernet store's clock moves.
    let inner = Arc::new(MemoryStore::new());
    let store = FernetStore::builder(Arc::clone(&inner), vec![key.clone()])
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    store.put("codes", "c1", b"one-time code", Some(Duration::from_secs(60))).await.unwrap();
    let old = inner.get("codes", "c1").await.unwrap().unwrap();
    assert_eq!(store.get("codes", "c1").await.unwrap().as_deref(), Some(&b"one-time code"[..]));

    // 30 s past its own deadline, the value is back, written without a TTL: within the 60 s allowance
    // it reads as missing (as the backend's TTL and the writer's clock may disagree that much).
    clock.advance(Duration::from_secs(60 + 30));
    inner.put("codes", "c1", &old, None).await.unwrap();
    assert_eq!(store.get("codes", "c1").await.unwrap(), None);
    assert_eq!(store.take("codes", "c1").await.unwrap(), None, "take does not hand it out either");
    inner.put("codes", "c1", &old, None).await.unwrap();
    assert!(
        store.compare_and_swap("codes", "c1", None, b"fresh", None).await.unwrap(),
        "an expired value counts as absent"
    );
    assert_eq!(store.get("codes", "c1").await.unwrap().as_deref(), Some(&b"fresh"[..]));

    // 90 s past its deadline, more than the allowance: refused as tampering.
    clock.advance(Duration::from_secs(60));
    inner.put("codes", "c1", &old, None).await.unwrap();
    match binding_error(store.get("codes", "c1").await) {
        BindingError::WrittenBackAfterExpiry { expired_for, allowance } => {
            assert_eq!(expired_for, Duration::from_secs(90));
            assert_eq!(allowance, DEFAULT_MAX_CLOCK_SKEW);
        }
        other => panic!("expected WrittenBackAfterExpiry, got {other:?}"),
    }
    assert!(matches!(
        binding_error(store.compare_and_swap("codes", "c1", None, b"x", None).await),
        BindingError::WrittenBackAfterExpiry { .. }
    ));
    assert!(matches!(
        binding_error(store.take("codes", "c1").await),
        BindingError::WrittenBackAfterExpiry { .. }
    ));

    // A tighter allowance, from the builder.
    let strict = FernetStore::builder(Arc::clone(&inner), vec![key])
        .clock(Arc::new(clock.clone()))
        .max_clock_skew(Duration::from_secs(5))
        .build()
        .unwrap();
    strict.put("codes", "c2", b"v", Some(Duration::from_secs(10))).await.unwrap();
    let c2 = inner.get("codes", "c2").await.unwrap().unwrap();
    clock.advance(Duration::from_secs(13));
    assert_eq!(strict.get("codes", "c2").await.unwrap(), None, "3 s past: within 5 s");
    clock.advance(Duration::from_secs(3));
    inner.put("codes", "c2", &c2, None).await.unwrap();
    assert!(matches!(
        binding_error(strict.get("codes", "c2").await),
        BindingError::WrittenBackAfterExpiry { .. }
    ));
    // Values written without a TTL never expire by their own deadline.
    strict.put("codes", "forever", b"v", None).await.unwrap();
    clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(strict.get("codes", "forever").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn unbound_values_of_earlier_versions_need_the_insecure_opt_in() {
    let key = FernetKey::generate();
    let inner = Arc::new(MemoryStore::new());
    // What earlier versions wrote: a Fernet token of the bare value.
    let legacy = Fernet::new(key.expose_secret()).unwrap();
    inner.put("clients", "c1", legacy.encrypt(br#"{"name":"x"}"#).as_bytes(), Some(HOUR)).await.unwrap();

    let strict = FernetStore::new(Arc::clone(&inner), vec![key.clone()]).unwrap();
    let err = strict.get("clients", "c1").await.unwrap_err();
    let message = std::error::Error::source(&err).unwrap().to_string();
    assert!(message.contains("insecure_accept_unbound_values"), "the error says how to upgrade: {message}");
    assert!(matches!(binding_error(strict.get("clients", "c1").await), BindingError::Unbound));

    let upgrading = FernetStore::builder(Arc::clone(&inner), vec![key.clone()])
        .insecure_accept_unbound_values(true)
        .build()
        .unwrap();
    assert!(format!("{upgrading:?}").contains("insecure_accept_unbound_values: true"));
    assert_eq!(upgrading.get("clients", "c1").await.unwrap().as_deref(), Some(&br#"{"name":"x"}"#[..]));
    // A swap over an unbound value compares its plaintext, and writes a bound value.
    assert!(
        upgrading
            .compare_and_swap("clients", "c1", Some(br#"{"name":"x"}"#), b"{}", Some(HOUR))
            .await
            .unwrap()
    );
    assert_eq!(strict.get("clients", "c1").await.unwrap().as_deref(), Some(&b"{}"[..]));
    // While accepted, an unbound value is as movable as before: the documented price of the opt-in.
    inner.put("clients", "c2", legacy.encrypt(b"v").as_bytes(), None).await.unwrap();
    let moved = inner.get("clients", "c2").await.unwrap().unwrap();
    inner.put("clients", "c3", &moved, None).await.unwrap();
    assert_eq!(upgrading.get("clients", "c3").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn reencrypt_collection_upgrades_unbound_values_and_rotates_keys_keeping_ttls() {
    let (old, new) = (FernetKey::generate(), FernetKey::generate());
    let inner = Arc::new(MemoryStore::new());
    let legacy_old = Fernet::new(old.expose_secret()).unwrap();
    let legacy_new = Fernet::new(new.expose_secret()).unwrap();
    inner.put("c", "v1-old-key", legacy_old.encrypt(b"a").as_bytes(), Some(HOUR)).await.unwrap();
    inner.put("c", "v1-new-key", legacy_new.encrypt(b"b").as_bytes(), None).await.unwrap();
    FernetStore::new(Arc::clone(&inner), vec![old.clone()])
        .unwrap()
        .put("c", "v2-old-key", b"c", Some(2 * HOUR))
        .await
        .unwrap();
    FernetStore::new(Arc::clone(&inner), vec![new.clone()])
        .unwrap()
        .put("c", "current", b"d", None)
        .await
        .unwrap();
    inner.put("c", "junk", b"not a token", None).await.unwrap();

    // Without the opt-in, unbound values are left alone (and reported); the old-key value is rotated.
    let rotating = FernetStore::new(Arc::clone(&inner), vec![new.clone(), old.clone()]).unwrap();
    let report = rotating.reencrypt_collection("c").await.unwrap();
    assert_eq!(
        (report.examined, report.reencrypted, report.upgraded_unbound, report.already_current),
        (5, 1, 0, 1)
    );
    assert_eq!((report.refused, report.undecryptable, report.skipped, report.raced), (2, 1, 0, 0));

    // The upgrade window: the opt-in lets the rotation bind them.
    let upgrading = FernetStore::builder(Arc::clone(&inner), vec![new.clone(), old])
        .insecure_accept_unbound_values(true)
        .build()
        .unwrap();
    let report = upgrading.reencrypt_collection("c").await.unwrap();
    assert_eq!(
        (
            report.reencrypted,
            report.upgraded_unbound,
            report.already_current,
            report.refused,
            report.undecryptable
        ),
        (2, 2, 2, 0, 1)
    );
    let again = upgrading.reencrypt_collection("c").await.unwrap();
    assert_eq!((again.reencrypted, again.already_current), (0, 4), "a second run has nothing to do");

    // After it: only the new key, no opt-in, and everything reads, with the time it had left.
    let after = FernetStore::new(Arc::clone(&inner), vec![new]).unwrap();
    for (key, value) in [("v1-old-key", "a"), ("v1-new-key", "b"), ("v2-old-key", "c"), ("current", "d")] {
        assert_eq!(after.get("c", key).await.unwrap().as_deref(), Some(value.as_bytes()), "{key}");
    }
    match after.remaining_ttl("c", "v1-old-key").await.unwrap() {
        Some(Expiry::In(left)) => assert!(left <= HOUR && left > HOUR / 2, "{left:?}"),
        other => panic!("the upgraded value lost its TTL: {other:?}"),
    }
    match after.remaining_ttl("c", "v2-old-key").await.unwrap() {
        Some(Expiry::In(left)) => assert!(left <= 2 * HOUR && left > HOUR, "{left:?}"),
        other => panic!("the rotated value lost its TTL: {other:?}"),
    }
    assert_eq!(after.remaining_ttl("c", "v1-new-key").await.unwrap(), Some(Expiry::Never));
}

#[tokio::test]
async fn reencrypt_collection_does_not_extend_a_value_written_back_without_its_ttl() {
    let (old, new) = (FernetKey::generate(), FernetKey::generate());
    let clock = Arc::new(ManualClock::starting_now());
    let inner = Arc::new(MemoryStore::new());
    let before =
        FernetStore::builder(Arc::clone(&inner), vec![old.clone()]).clock(clock.clone()).build().unwrap();
    before.put("c", "k", b"v", Some(HOUR)).await.unwrap();
    // Rewritten without its TTL while still live: the backend now says "never expires".
    let raw = inner.get("c", "k").await.unwrap().unwrap();
    inner.put("c", "k", &raw, None).await.unwrap();
    let during =
        FernetStore::builder(Arc::clone(&inner), vec![new, old]).clock(clock.clone()).build().unwrap();
    assert_eq!(during.reencrypt_collection("c").await.unwrap().reencrypted, 1);
    match during.remaining_ttl("c", "k").await.unwrap() {
        Some(Expiry::In(left)) => assert!(left <= HOUR, "{left:?}"),
        other => panic!("rotation gave the value a new lease of life: {other:?}"),
    }
}

/// A store over `MemoryStore` that lets another writer in just before each `compare_and_swap`: the
/// interleaving "read, someone writes, swap" made deterministic.
#[derive(Debug)]
struct WriterSlipsIn {
    inner: Arc<MemoryStore>,
    /// `(collection, key, bytes)` the other writer puts before the next swap.
    next: Mutex<Option<(String, String, Vec<u8>)>>,
}

#[async_trait]
impl KvStorage for WriterSlipsIn {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(collection, key).await
    }
    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.inner.put(collection, key, value, ttl).await
    }
    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.inner.put_if_absent(collection, key, value, ttl).await
    }
    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let slipping_in = self.next.lock().unwrap().take();
        if let Some((c, k, bytes)) = slipping_in {
            self.inner.put(&c, &k, &bytes, None).await?;
        }
        self.inner.compare_and_swap(collection, key, expected, new, ttl).await
    }
    async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(collection, key).await
    }
    async fn take(&self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.take(collection, key).await
    }
    async fn remaining_ttl(&self, collection: &str, key: &str) -> Result<Option<Expiry>, StoreError> {
        self.inner.remaining_ttl(collection, key).await
    }
    async fn list_keys(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        self.inner.list_keys(collection, cursor, limit).await
    }
}

/// The ciphertext another writer with `key` would store for `value` under `c`/`k`.
async fn ciphertext_of(key: &FernetKey, k: &str, value: &[u8]) -> Vec<u8> {
    let scratch = FernetStore::new(MemoryStore::new(), vec![key.clone()]).unwrap();
    scratch.put("c", k, value, None).await.unwrap();
    scratch.inner().get("c", k).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_writer_between_read_and_swap_wins_over_compare_and_swap_and_over_rotation() {
    let (old, new) = (FernetKey::generate(), FernetKey::generate());
    let inner = Arc::new(MemoryStore::new());
    let slips = Arc::new(WriterSlipsIn { inner: Arc::clone(&inner), next: Mutex::new(None) });
    let store = FernetStore::new(Arc::clone(&slips), vec![new.clone(), old.clone()]).unwrap();

    // compare_and_swap: it read "v1", then another writer stored "v2" (then even "v1" again): it loses.
    store.put("c", "k", b"v1", None).await.unwrap();
    for concurrent in [&b"v2"[..], b"v1"] {
        let bytes = ciphertext_of(&new, "k", concurrent).await;
        *slips.next.lock().unwrap() = Some(("c".into(), "k".into(), bytes));
        let expected = store.get("c", "k").await.unwrap().unwrap();
        assert!(!store.compare_and_swap("c", "k", Some(&expected), b"mine", None).await.unwrap());
        assert_eq!(store.get("c", "k").await.unwrap().as_deref(), Some(concurrent), "the other write stands");
    }

    // Rotation: an old-key entry rewritten by another writer meanwhile is left as that writer left it.
    FernetStore::new(Arc::clone(&inner), vec![old]).unwrap().put("c", "r", b"old", None).await.unwrap();
    let bytes = ciphertext_of(&new, "r", b"newer").await;
    *slips.next.lock().unwrap() = Some(("c".into(), "r".into(), bytes));
    let report = store.reencrypt_collection("c").await.unwrap();
    assert_eq!((report.raced, report.reencrypted, report.already_current), (1, 0, 1));
    assert_eq!(store.get("c", "r").await.unwrap().as_deref(), Some(&b"newer"[..]));
}
