//! The [`KvStorage`] conformance suite (feature `testkit`): the contract of [`KvStorage`], as checks every
//! backend's tests run; and [`MetricsCapture`], which reads back the [`metrics`](crate::metrics) a test
//! recorded.
//!
//! Each check takes an `Arc<dyn KvStorage>` and works in collections whose names are unique to that call
//! (a per-process counter plus the process id and the time), so checks can share one backend, run in any
//! order, and run against a Redis that other tests use at the same time. Checks panic with a message
//! naming the broken rule; they are meant for `#[tokio::test]` functions. [`run_all`] runs every check.
//!
//! TTL checks use short real TTLs ([`SHORT_TTL`], then a wait of [`EXPIRY_WAIT`]) because file and
//! Redis backends cannot take a fake clock; [`run_all`] runs them concurrently so the suite stays at
//! about two seconds.
//!
//! The concurrency checks need a multi-threaded runtime to mean anything:
//!
//! ```
//! use std::sync::Arc;
//! use mcp_auth_core::store::{KvStorage, MemoryStore};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
//! mcp_auth_core::testkit::run_all(store).await;
//! # });
//! ```

mod capture;

pub use capture::{MetricsCapture, Recorded};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::Barrier;

use crate::store::{Expiry, KvStorage, MAX_KEY_LEN, StoreError};

/// The TTL the expiry checks give entries that must expire.
pub const SHORT_TTL: Duration = Duration::from_millis(1_000);
/// How long the expiry checks wait before expecting [`SHORT_TTL`] entries to be gone.
pub const EXPIRY_WAIT: Duration = Duration::from_millis(1_600);
/// How many concurrent callers race in the atomicity checks.
pub const CONCURRENT_CALLERS: usize = 100;

/// A collection name no other check, test or process has used: `ck-<what>-<pid>-<nanos>-<n>`.
#[must_use]
pub fn unique_collection(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("ck-{what}-{}-{nanos}-{n}", std::process::id())
}

/// Every key [`KvStorage::list_keys`] lists in `collection`, walking all pages of at most `limit`
/// keys: in listing order, with whatever repeats the backend produced.
///
/// # Errors
///
/// The first [`StoreError`] of a page.
///
/// # Panics
///
/// When the backend hands back the very cursor it was given (the walk would never end), or the walk
/// goes past a million pages.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::store::{KvStorage, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// store.put("c", "a", b"1", None).await.unwrap();
/// store.put("c", "b", b"2", None).await.unwrap();
/// let keys = mcp_auth_core::testkit::list_all_keys(&store, "c", 1).await.unwrap();
/// assert_eq!(keys, ["a", "b"]);
/// # });
/// ```
pub async fn list_all_keys(
    store: &dyn KvStorage,
    collection: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    const MAX_PAGES: usize = 1_000_000;
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = store.list_keys(collection, cursor.as_deref(), limit).await?;
        keys.extend(page.keys);
        match page.next {
            None => return Ok(keys),
            Some(next) => {
                assert!(
                    cursor.as_deref() != Some(next.as_str()),
                    "list_keys of {collection:?} handed back the cursor it was given: the walk would never end"
                );
                cursor = Some(next);
            }
        }
    }
    panic!("list_keys of {collection:?} went past {MAX_PAGES} pages")
}

/// The set of keys a walk in pages of `limit` lists; panics on a store error.
async fn listed_with(store: &Arc<dyn KvStorage>, collection: &str, limit: usize) -> BTreeSet<String> {
    list_all_keys(store.as_ref(), collection, limit).await.expect("list_keys").into_iter().collect()
}

/// The set of keys of `collection`, in pages of 100.
async fn listed(store: &Arc<dyn KvStorage>, collection: &str) -> BTreeSet<String> {
    listed_with(store, collection, 100).await
}

/// Runs every check of the suite against `store`: the quick ones one after another, then the ones that
/// wait for TTLs concurrently. Not included: the cross-instance checks (`*_across`,
/// [`instances_share_state`]), which need several instances, and [`list_keys_pages_respect_limit`],
/// which holds only for backends whose `limit` is strict (not Redis).
///
/// # Panics
///
/// When `store` breaks the [`KvStorage`] contract; the message names the rule.
pub async fn run_all(store: Arc<dyn KvStorage>) {
    round_trip(&store).await;
    missing_keys(&store).await;
    overwrite_replaces_value(&store).await;
    collections_are_isolated(&store).await;
    delete_return_values(&store).await;
    take_semantics(&store).await;
    put_if_absent_semantics(&store).await;
    compare_and_swap_semantics(&store).await;
    remaining_ttl_semantics(&store).await;
    list_keys_walks_every_live_key(&store).await;
    list_keys_refuses_foreign_cursors(&store).await;
    empty_values(&store).await;
    binary_values(&store).await;
    large_values(&store).await;
    odd_keys(&store).await;
    max_length_keys(&store).await;
    invalid_keys(&store).await;
    put_if_absent_is_atomic(&store).await;
    take_is_atomic(&store).await;
    compare_and_swap_is_atomic(&store).await;
    take_and_compare_and_swap_are_linearizable(&store).await;
    tokio::join!(
        ttl_expiry(&store),
        overwrite_replaces_ttl(&store),
        remaining_ttl_counts_down(&store),
        compare_and_swap_ttl(&store),
    );
}

/// Values read back exactly as written; several keys coexist.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn round_trip(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("round-trip");
    store.put(&c, "a", b"alpha", None).await.expect("put a");
    store.put(&c, "b", b"beta", Some(Duration::from_secs(3600))).await.expect("put b");
    assert_eq!(store.get(&c, "a").await.expect("get a").as_deref(), Some(&b"alpha"[..]), "value of a");
    assert_eq!(store.get(&c, "b").await.expect("get b").as_deref(), Some(&b"beta"[..]), "value of b");
    assert_eq!(store.get(&c, "c").await.expect("get c"), None, "c was never written");
}

/// Missing entries read as `None` (not an error), in used and never-used collections alike.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn missing_keys(store: &Arc<dyn KvStorage>) {
    let never = unique_collection("never-used");
    assert_eq!(store.get(&never, "k").await.expect("get"), None);
    assert_eq!(store.take(&never, "k").await.expect("take"), None);
    assert!(!store.delete(&never, "k").await.expect("delete"), "delete of a missing key returns false");
    assert_eq!(store.remaining_ttl(&never, "k").await.expect("remaining_ttl"), None);
    for limit in [1, 1000] {
        assert!(listed_with(store, &never, limit).await.is_empty(), "a never-used collection has no keys");
    }

    let used = unique_collection("missing");
    store.put(&used, "present", b"1", None).await.expect("put");
    assert_eq!(store.get(&used, "absent").await.expect("get"), None);
    assert_eq!(store.take(&used, "absent").await.expect("take"), None);
    assert!(!store.delete(&used, "absent").await.expect("delete"));
    assert_eq!(store.remaining_ttl(&used, "absent").await.expect("remaining_ttl"), None);
    assert_eq!(store.get(&used, "present").await.expect("get").as_deref(), Some(&b"1"[..]));
}

/// `put` over an existing entry replaces the value, with longer and with shorter values.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn overwrite_replaces_value(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("overwrite");
    store.put(&c, "k", b"first value, rather long", None).await.expect("put 1");
    store.put(&c, "k", b"second", None).await.expect("put 2");
    assert_eq!(store.get(&c, "k").await.expect("get").as_deref(), Some(&b"second"[..]), "shorter overwrite");
    store.put(&c, "k", b"third value, longer than the second", None).await.expect("put 3");
    assert_eq!(
        store.get(&c, "k").await.expect("get").as_deref(),
        Some(&b"third value, longer than the second"[..]),
        "longer overwrite"
    );
    assert_eq!(listed(store, &c).await, BTreeSet::from(["k".to_owned()]), "an overwrite adds no key");
}

/// `put` replaces the TTL too: a TTL'd entry overwritten without TTL lives on, and an entry without TTL
/// overwritten with a short TTL expires. Waits [`EXPIRY_WAIT`].
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn overwrite_replaces_ttl(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("overwrite-ttl");
    store.put(&c, "was-short", b"1", Some(SHORT_TTL)).await.expect("put");
    store.put(&c, "was-short", b"2", None).await.expect("put");
    store.put(&c, "was-forever", b"3", None).await.expect("put");
    store.put(&c, "was-forever", b"4", Some(SHORT_TTL)).await.expect("put");
    store.put(&c, "was-short-now-long", b"5", Some(SHORT_TTL)).await.expect("put");
    store.put(&c, "was-short-now-long", b"6", Some(Duration::from_secs(3600))).await.expect("put");
    tokio::time::sleep(EXPIRY_WAIT).await;
    assert_eq!(
        store.get(&c, "was-short").await.expect("get").as_deref(),
        Some(&b"2"[..]),
        "overwriting without a TTL removes the old TTL"
    );
    assert_eq!(
        store.get(&c, "was-forever").await.expect("get"),
        None,
        "overwriting with a TTL sets the new TTL"
    );
    assert_eq!(
        store.get(&c, "was-short-now-long").await.expect("get").as_deref(),
        Some(&b"6"[..]),
        "overwriting with a longer TTL extends it"
    );
}

/// Entries expire after their TTL for every operation: `get`, `take`, `delete`, `list_keys` and
/// `put_if_absent` all treat them as absent; entries with long or no TTL stay. Waits [`EXPIRY_WAIT`].
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn ttl_expiry(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("ttl");
    for key in ["get", "take", "delete", "pia"] {
        store.put(&c, key, b"short", Some(SHORT_TTL)).await.expect("put short");
    }
    store.put(&c, "long", b"long", Some(Duration::from_secs(3600))).await.expect("put long");
    store.put(&c, "forever", b"forever", None).await.expect("put forever");
    assert_eq!(
        store.get(&c, "get").await.expect("get").as_deref(),
        Some(&b"short"[..]),
        "an entry is readable before its TTL"
    );
    tokio::time::sleep(EXPIRY_WAIT).await;
    assert_eq!(store.get(&c, "get").await.expect("get"), None, "get returns an expired entry");
    assert_eq!(store.take(&c, "take").await.expect("take"), None, "take returns an expired entry");
    assert!(!store.delete(&c, "delete").await.expect("delete"), "delete reports an expired entry as live");
    for limit in [1, 1000] {
        assert_eq!(
            listed_with(store, &c, limit).await,
            BTreeSet::from(["long".to_owned(), "forever".to_owned()]),
            "list_keys (limit {limit}) lists expired entries or misses live ones"
        );
    }
    assert!(
        store.put_if_absent(&c, "pia", b"new", None).await.expect("put_if_absent"),
        "put_if_absent must replace an expired entry"
    );
    assert_eq!(store.get(&c, "pia").await.expect("get").as_deref(), Some(&b"new"[..]));
    assert_eq!(store.get(&c, "long").await.expect("get").as_deref(), Some(&b"long"[..]));
    assert_eq!(store.get(&c, "forever").await.expect("get").as_deref(), Some(&b"forever"[..]));
}

/// The same key in two collections names two entries; names that would collide if joined naively with
/// `:` or `/` stay apart too.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn collections_are_isolated(store: &Arc<dyn KvStorage>) {
    let a = unique_collection("iso-a");
    let b = unique_collection("iso-b");
    store.put(&a, "k", b"in a", None).await.expect("put a");
    store.put(&b, "k", b"in b", None).await.expect("put b");
    assert_eq!(store.get(&a, "k").await.expect("get").as_deref(), Some(&b"in a"[..]));
    assert_eq!(store.get(&b, "k").await.expect("get").as_deref(), Some(&b"in b"[..]));
    assert!(store.delete(&a, "k").await.expect("delete"));
    assert_eq!(store.get(&b, "k").await.expect("get").as_deref(), Some(&b"in b"[..]), "delete leaked");
    assert!(listed(store, &a).await.is_empty());
    assert_eq!(listed(store, &b).await, BTreeSet::from(["k".to_owned()]));

    // ("x:y", "z") and ("x", "y:z") must not be the same entry; likewise with '/'.
    let base = unique_collection("iso-join");
    for sep in [":", "/"] {
        let left = format!("{base}{sep}y");
        store.put(&left, "z", b"left", None).await.expect("put left");
        store.put(&base, &format!("y{sep}z"), b"right", None).await.expect("put right");
        assert_eq!(
            store.get(&left, "z").await.expect("get").as_deref(),
            Some(&b"left"[..]),
            "collection/key joined with {sep:?} collide"
        );
        assert_eq!(listed(store, &left).await, BTreeSet::from(["z".to_owned()]), "keys of {left:?}");
    }
    assert_eq!(
        listed(store, &base).await,
        BTreeSet::from(["y:z".to_owned(), "y/z".to_owned()]),
        "keys of the base collection"
    );
    // A collection whose name extends another's is separate as well.
    let longer = format!("{base}x");
    assert!(listed(store, &longer).await.is_empty(), "a prefix collection leaked its keys");
}

/// `delete` returns whether a live entry was there, and removes it.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn delete_return_values(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("delete");
    assert!(!store.delete(&c, "k").await.expect("delete"), "nothing to delete yet");
    store.put(&c, "k", b"v", None).await.expect("put");
    store.put(&c, "other", b"o", None).await.expect("put");
    assert!(store.delete(&c, "k").await.expect("delete"), "delete of a present entry returns true");
    assert_eq!(store.get(&c, "k").await.expect("get"), None, "delete did not remove the entry");
    assert!(!store.delete(&c, "k").await.expect("delete"), "a second delete returns false");
    assert_eq!(
        store.get(&c, "other").await.expect("get").as_deref(),
        Some(&b"o"[..]),
        "delete removed too much"
    );
}

/// `take` returns the value once and removes it.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn take_semantics(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("take");
    store.put(&c, "code", b"payload", Some(Duration::from_secs(600))).await.expect("put");
    assert_eq!(store.take(&c, "code").await.expect("take").as_deref(), Some(&b"payload"[..]));
    assert_eq!(store.take(&c, "code").await.expect("take"), None, "a second take must find nothing");
    assert_eq!(store.get(&c, "code").await.expect("get"), None, "take did not remove the entry");
    assert!(listed(store, &c).await.is_empty(), "a taken key is still listed");
}

/// `put_if_absent` stores only into a free key and never changes an existing entry.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn put_if_absent_semantics(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("put-if-absent");
    assert!(store.put_if_absent(&c, "k", b"first", None).await.expect("pia"), "a free key is stored");
    assert!(!store.put_if_absent(&c, "k", b"second", None).await.expect("pia"), "a taken key is refused");
    assert_eq!(store.get(&c, "k").await.expect("get").as_deref(), Some(&b"first"[..]), "value was changed");
    assert!(store.delete(&c, "k").await.expect("delete"));
    assert!(store.put_if_absent(&c, "k", b"third", None).await.expect("pia"), "a deleted key is free again");
    assert_eq!(store.get(&c, "k").await.expect("get").as_deref(), Some(&b"third"[..]));
}

/// `list_keys` walked in pages of 1, 2, 7 and 1000 keys lists exactly the live keys (repeats allowed),
/// after overwrites, a `delete` and a `take`.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn list_keys_walks_every_live_key(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("list-keys");
    let mut expected = BTreeSet::new();
    for i in 0..25 {
        let key = format!("key-{i}");
        store.put(&c, &key, b"v", None).await.expect("put");
        expected.insert(key);
    }
    store.put(&c, "key-3", b"again", None).await.expect("overwrite");
    assert!(store.delete(&c, "key-7").await.expect("delete"));
    expected.remove("key-7");
    assert!(store.take(&c, "key-8").await.expect("take").is_some());
    expected.remove("key-8");
    for limit in [1, 2, 7, 1000] {
        let walked = list_all_keys(store.as_ref(), &c, limit).await.expect("list_keys");
        let unique: BTreeSet<String> = walked.iter().cloned().collect();
        assert_eq!(unique, expected, "a walk in pages of {limit} lists the wrong set");
    }
}

/// `list_keys` pages hold at most `limit` keys (0 counts as 1). Only for backends whose limit is strict
/// (memory, file, and wrappers over them); for Redis the limit is a `SCAN COUNT` hint, so [`run_all`]
/// does not run this check.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn list_keys_pages_respect_limit(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("list-limit");
    for i in 0..10 {
        store.put(&c, &format!("key-{i}"), b"v", None).await.expect("put");
    }
    for limit in [0, 1, 3, 10, 11] {
        let mut cursor: Option<String> = None;
        let mut seen = BTreeSet::new();
        for _ in 0..=10 {
            let page = store.list_keys(&c, cursor.as_deref(), limit).await.expect("list_keys");
            assert!(
                page.keys.len() <= limit.max(1),
                "a page of limit {limit} holds {} keys: {:?}",
                page.keys.len(),
                page.keys
            );
            seen.extend(page.keys);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert!(cursor.is_none(), "a walk in pages of {limit} over 10 keys did not end within 11 pages");
        assert_eq!(seen.len(), 10, "a walk in pages of {limit} missed keys");
    }
}

/// Cursors no backend hands out are refused with [`StoreError::InvalidCursor`], not a panic, and not
/// read as "start again".
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn list_keys_refuses_foreign_cursors(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("list-cursor");
    store.put(&c, "k", b"v", None).await.expect("put");
    let long = "x".repeat(10 * MAX_KEY_LEN);
    let bad = [
        "",
        "not a cursor",
        "0",
        "-1",
        "\0",
        "18446744073709551616",
        long.as_str(),
        "m1:",
        "f1:not-hex",
        "f1:zz",
        "r1:abc",
        "r1:-5",
        "r1:",
    ];
    for cursor in bad {
        let store = Arc::clone(store);
        let c = c.clone();
        let cursor_owned = cursor.to_owned();
        let outcome = tokio::spawn(async move { store.list_keys(&c, Some(&cursor_owned), 10).await }).await;
        let shown: String = cursor.chars().take(40).collect();
        match outcome {
            Err(panic) => panic!("list_keys panicked on the cursor {shown:?}: {panic}"),
            Ok(Err(StoreError::InvalidCursor { .. })) => {}
            Ok(other) => panic!("the cursor {shown:?} must be StoreError::InvalidCursor, got {other:?}"),
        }
    }
}

/// `compare_and_swap` writes exactly when the live value equals `expected`: `None` wins only on a free
/// key, a matching `Some` wins and replaces value and TTL, anything else loses and changes nothing. Empty
/// values are values; a key freed by `delete` or `take` is free again.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn compare_and_swap_semantics(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("cas");
    let hour = Duration::from_secs(3600);
    assert!(
        store.compare_and_swap(&c, "k", None, b"first", None).await.expect("cas"),
        "expected None on a missing key must win"
    );
    assert_eq!(store.get(&c, "k").await.expect("get").as_deref(), Some(&b"first"[..]));
    assert!(
        !store.compare_and_swap(&c, "k", None, b"other", None).await.expect("cas"),
        "expected None on a present key must lose"
    );
    assert!(
        store.compare_and_swap(&c, "k", Some(b"first"), b"second", None).await.expect("cas"),
        "a matching expected value must win"
    );
    assert_eq!(
        store.get(&c, "k").await.expect("get").as_deref(),
        Some(&b"second"[..]),
        "the winner's value is stored"
    );
    for wrong in [&b"first"[..], b"secon", b"second!", b"SECOND", b""] {
        assert!(
            !store.compare_and_swap(&c, "k", Some(wrong), b"third", None).await.expect("cas"),
            "expected {:?} must lose against \"second\"",
            String::from_utf8_lossy(wrong)
        );
    }
    assert_eq!(
        store.get(&c, "k").await.expect("get").as_deref(),
        Some(&b"second"[..]),
        "a losing compare_and_swap changed the value"
    );
    assert!(
        !store.compare_and_swap(&c, "missing", Some(b"x"), b"y", None).await.expect("cas"),
        "an expected value on a missing key must lose"
    );
    assert_eq!(store.get(&c, "missing").await.expect("get"), None, "a losing swap created the key");

    // Empty values are values, not absence.
    store.put(&c, "empty", b"", None).await.expect("put");
    assert!(!store.compare_and_swap(&c, "empty", None, b"x", None).await.expect("cas"), "empty is present");
    assert!(store.compare_and_swap(&c, "empty", Some(b""), b"full", None).await.expect("cas"));
    assert!(store.compare_and_swap(&c, "empty", Some(b"full"), b"", None).await.expect("cas"));
    assert_eq!(store.get(&c, "empty").await.expect("get"), Some(Vec::new()), "swapped to empty");
    assert!(
        !store.compare_and_swap(&c, "none", Some(b""), b"x", None).await.expect("cas"),
        "missing is not empty"
    );

    // Every byte value compares exactly, NULs and high bytes included.
    let all: Vec<u8> = (0..=255u8).collect();
    let mut almost = all.clone();
    almost[128] ^= 1;
    store.put(&c, "binary", &all, None).await.expect("put");
    assert!(!store.compare_and_swap(&c, "binary", Some(&almost), b"x", None).await.expect("cas"));
    assert!(!store.compare_and_swap(&c, "binary", Some(&all[..255]), b"x", None).await.expect("cas"));
    assert!(store.compare_and_swap(&c, "binary", Some(&all), &almost, None).await.expect("cas"));
    assert_eq!(store.get(&c, "binary").await.expect("get"), Some(almost), "a binary swap changed the value");

    // The swap replaces the TTL as put does.
    store.put(&c, "ttl", b"a", Some(hour)).await.expect("put");
    assert!(store.compare_and_swap(&c, "ttl", Some(b"a"), b"b", None).await.expect("cas"));
    assert_eq!(
        store.remaining_ttl(&c, "ttl").await.expect("remaining_ttl"),
        Some(Expiry::Never),
        "a swap without a TTL removes the old TTL"
    );
    assert!(store.compare_and_swap(&c, "ttl", Some(b"b"), b"c", Some(2 * hour)).await.expect("cas"));
    match store.remaining_ttl(&c, "ttl").await.expect("remaining_ttl") {
        Some(Expiry::In(left)) => assert!(left > hour && left <= 2 * hour, "a two-hour swap left {left:?}"),
        other => panic!("a swap with a TTL must set it, got {other:?}"),
    }

    // Keys freed by delete or take are free again; the old value no longer matches.
    assert!(store.delete(&c, "k").await.expect("delete"));
    assert!(!store.compare_and_swap(&c, "k", Some(b"second"), b"x", None).await.expect("cas"));
    assert!(store.compare_and_swap(&c, "k", None, b"after delete", None).await.expect("cas"));
    assert!(store.take(&c, "k").await.expect("take").is_some());
    assert!(!store.compare_and_swap(&c, "k", Some(b"after delete"), b"x", None).await.expect("cas"));
    assert!(store.compare_and_swap(&c, "k", None, b"after take", None).await.expect("cas"));
    assert_eq!(store.get(&c, "k").await.expect("get").as_deref(), Some(&b"after take"[..]));
    assert_eq!(
        listed(store, &c).await,
        BTreeSet::from(["k".to_owned(), "empty".to_owned(), "ttl".to_owned(), "binary".to_owned()]),
        "keys written by compare_and_swap are listed; losing swaps add none"
    );
}

/// `compare_and_swap` and TTLs: an expired entry counts as absent (`None` wins over it, its old value no
/// longer matches), and the TTL a swap sets is the one that applies, shorter or longer. Waits
/// [`EXPIRY_WAIT`].
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn compare_and_swap_ttl(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("cas-ttl");
    store.put(&c, "expires", b"old", Some(SHORT_TTL)).await.expect("put");
    store.put(&c, "expires-too", b"old", Some(SHORT_TTL)).await.expect("put");
    store.put(&c, "shortened", b"v", None).await.expect("put");
    store.put(&c, "lengthened", b"v", Some(SHORT_TTL)).await.expect("put");
    assert!(store.compare_and_swap(&c, "shortened", Some(b"v"), b"w", Some(SHORT_TTL)).await.expect("cas"));
    assert!(store.compare_and_swap(&c, "lengthened", Some(b"v"), b"w", None).await.expect("cas"));
    assert!(store.compare_and_swap(&c, "created", None, b"w", Some(SHORT_TTL)).await.expect("cas"));
    tokio::time::sleep(EXPIRY_WAIT).await;
    assert!(
        !store.compare_and_swap(&c, "expires", Some(b"old"), b"x", None).await.expect("cas"),
        "an expired value must not match"
    );
    assert!(
        store.compare_and_swap(&c, "expires-too", None, b"new", None).await.expect("cas"),
        "an expired entry counts as absent"
    );
    assert_eq!(store.get(&c, "expires-too").await.expect("get").as_deref(), Some(&b"new"[..]));
    assert_eq!(store.get(&c, "expires").await.expect("get"), None, "a losing swap revived an entry");
    assert_eq!(store.get(&c, "shortened").await.expect("get"), None, "the TTL set by a swap must apply");
    assert_eq!(store.get(&c, "created").await.expect("get"), None, "the TTL set by a swap must apply");
    assert_eq!(
        store.get(&c, "lengthened").await.expect("get").as_deref(),
        Some(&b"w"[..]),
        "a swap without a TTL must remove the old one"
    );
}

/// `remaining_ttl` reports `Never` for an entry without TTL, at most the TTL (and not much less) for an
/// entry with one, `None` for a missing, deleted or taken entry, and follows every overwrite.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn remaining_ttl_semantics(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("remaining-ttl");
    let hour = Duration::from_secs(3600);
    let in_hours = |expiry: Option<Expiry>, what: &str| -> Duration {
        match expiry {
            Some(Expiry::In(left)) => left,
            other => panic!("{what}: expected Some(Expiry::In(..)), got {other:?}"),
        }
    };
    store.put(&c, "forever", b"v", None).await.expect("put");
    assert_eq!(
        store.remaining_ttl(&c, "forever").await.expect("remaining_ttl"),
        Some(Expiry::Never),
        "an entry written without a TTL never expires"
    );
    store.put(&c, "hour", b"v", Some(hour)).await.expect("put");
    let left = in_hours(store.remaining_ttl(&c, "hour").await.expect("remaining_ttl"), "a one-hour entry");
    assert!(left <= hour, "remaining_ttl {left:?} is more than the TTL written");
    // Loose on purpose: the point is that the TTL was kept, not how fast the machine is.
    assert!(left > hour / 2, "remaining_ttl {left:?} is far below the one hour written");
    assert_eq!(store.remaining_ttl(&c, "missing").await.expect("remaining_ttl"), None);

    store.put(&c, "hour", b"v2", None).await.expect("put");
    assert_eq!(
        store.remaining_ttl(&c, "hour").await.expect("remaining_ttl"),
        Some(Expiry::Never),
        "put without a TTL removes the old TTL"
    );
    store.put(&c, "forever", b"v2", Some(2 * hour)).await.expect("put");
    let left =
        in_hours(store.remaining_ttl(&c, "forever").await.expect("remaining_ttl"), "after put with a TTL");
    assert!(left > hour && left <= 2 * hour, "put with a two-hour TTL left {left:?}");
    store.put(&c, "forever", b"v3", Some(hour)).await.expect("put");
    let left =
        in_hours(store.remaining_ttl(&c, "forever").await.expect("remaining_ttl"), "after a shorter TTL");
    assert!(left <= hour, "a shorter TTL replaces a longer one, left {left:?}");

    store.put(&c, "taken", b"v", Some(hour)).await.expect("put");
    store.take(&c, "taken").await.expect("take");
    assert_eq!(store.remaining_ttl(&c, "taken").await.expect("remaining_ttl"), None, "after take");
    assert!(store.delete(&c, "hour").await.expect("delete"));
    assert_eq!(store.remaining_ttl(&c, "hour").await.expect("remaining_ttl"), None, "after delete");
    assert!(store.put_if_absent(&c, "pia", b"v", Some(hour)).await.expect("put_if_absent"));
    let left = in_hours(store.remaining_ttl(&c, "pia").await.expect("remaining_ttl"), "put_if_absent");
    assert!(left <= hour, "put_if_absent with one hour left {left:?}");
}

/// A [`SHORT_TTL`] entry reports at most [`SHORT_TTL`] left, and no live entry once it has expired. Waits
/// [`EXPIRY_WAIT`].
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn remaining_ttl_counts_down(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("remaining-ttl-expiry");
    store.put(&c, "short", b"v", Some(SHORT_TTL)).await.expect("put");
    match store.remaining_ttl(&c, "short").await.expect("remaining_ttl") {
        Some(Expiry::In(left)) => assert!(left <= SHORT_TTL, "{left:?} left of a {SHORT_TTL:?} TTL"),
        other => panic!("a {SHORT_TTL:?} entry must report Expiry::In, got {other:?}"),
    }
    tokio::time::sleep(EXPIRY_WAIT).await;
    assert_eq!(
        store.remaining_ttl(&c, "short").await.expect("remaining_ttl"),
        None,
        "an expired entry must have no remaining TTL"
    );
}

/// An empty value is a value: it is not `None`.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn empty_values(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("empty");
    store.put(&c, "e", b"", None).await.expect("put");
    assert_eq!(store.get(&c, "e").await.expect("get"), Some(Vec::new()), "an empty value reads as missing");
    assert!(!store.put_if_absent(&c, "e", b"x", None).await.expect("pia"), "an empty value is an entry");
    assert_eq!(store.take(&c, "e").await.expect("take"), Some(Vec::new()));
    assert!(store.put_if_absent(&c, "e2", b"", None).await.expect("pia"));
    assert_eq!(store.get(&c, "e2").await.expect("get"), Some(Vec::new()));
}

/// Every byte value survives, in every position.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn binary_values(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("binary");
    let all: Vec<u8> = (0..=255u8).collect();
    let reversed: Vec<u8> = all.iter().rev().copied().collect();
    store.put(&c, "all", &all, None).await.expect("put");
    store.put(&c, "rev", &reversed, None).await.expect("put");
    store.put(&c, "nul", &[0, 0, 0], None).await.expect("put");
    assert_eq!(store.get(&c, "all").await.expect("get"), Some(all));
    assert_eq!(store.get(&c, "rev").await.expect("get"), Some(reversed));
    assert_eq!(store.get(&c, "nul").await.expect("get"), Some(vec![0, 0, 0]));
}

/// A 1 MiB value of pseudo-random bytes round-trips intact through `put`, `get` and `take`.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn large_values(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("large");
    let value = pseudo_random_bytes(1024 * 1024, 0x5eed);
    store.put(&c, "big", &value, None).await.expect("put 1 MiB");
    let read = store.get(&c, "big").await.expect("get").expect("the 1 MiB value is missing");
    assert!(read == value, "the 1 MiB value came back changed ({} bytes read)", read.len());
    let taken = store.take(&c, "big").await.expect("take").expect("take found nothing");
    assert!(taken == value, "take returned a changed 1 MiB value");
}

/// The keys a backend might mishandle in file names, glob patterns or joined key paths.
#[must_use]
pub fn odd_key_names() -> Vec<String> {
    [
        "plain",
        "with space",
        "ünïcödé-キー-🔑",
        "a/b",
        "/leading-slash",
        "trailing-slash/",
        "..",
        ".",
        "../../etc/passwd",
        "a:b",
        "::",
        "*",
        "a*b",
        "?",
        "[abc]",
        "[^a]",
        "{hash-tag}",
        "\\",
        "back\\slash",
        "%2F",
        "tab\there",
        "new\nline",
        "CON",
        "con",
        "nul.txt",
        "~",
        "-dash",
        "'quote\"",
        "\u{7f}\u{1b}[0m",
        "\u{200b}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// Keys with path separators, dots, glob characters, colons, unicode and control characters are
/// ordinary keys: each round-trips, none collides with another, and `list_keys` lists them exactly.
/// The collection names are odd too.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn odd_keys(store: &Arc<dyn KvStorage>) {
    let keys = odd_key_names();
    for collection in [unique_collection("odd"), format!("{}/../*:[x]ü", unique_collection("odd"))] {
        for (i, key) in keys.iter().enumerate() {
            store.put(&collection, key, format!("value {i}").as_bytes(), None).await.expect("put odd key");
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                store.get(&collection, key).await.expect("get odd key"),
                Some(format!("value {i}").into_bytes()),
                "key {key:?} in collection {collection:?}"
            );
        }
        let expected: BTreeSet<String> = keys.iter().cloned().collect();
        for limit in [1, 7, 1000] {
            assert_eq!(
                listed_with(store, &collection, limit).await,
                expected,
                "keys of collection {collection:?} in pages of {limit}"
            );
        }
        // A glob-looking key must be removed alone.
        assert!(store.delete(&collection, "*").await.expect("delete *"));
        assert_eq!(listed(store, &collection).await.len(), keys.len() - 1, "delete of \"*\"");
        assert!(store.take(&collection, "a/b").await.expect("take").is_some());
        assert_eq!(store.get(&collection, "a/b").await.expect("get"), None);
    }
}

/// Keys and collection names of exactly [`MAX_KEY_LEN`] bytes (ASCII and multi-byte) are accepted.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn max_length_keys(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("max-len");
    let ascii = "k".repeat(MAX_KEY_LEN);
    // 'é' is two bytes, so this is MAX_KEY_LEN bytes in MAX_KEY_LEN / 2 characters.
    let multibyte = "é".repeat(MAX_KEY_LEN / 2);
    assert_eq!(multibyte.len(), MAX_KEY_LEN);
    for key in [&ascii, &multibyte] {
        store.put(&c, key, b"max", None).await.expect("put of a MAX_KEY_LEN key must succeed");
        assert_eq!(store.get(&c, key).await.expect("get").as_deref(), Some(&b"max"[..]));
    }
    for limit in [1, 1000] {
        assert_eq!(listed_with(store, &c, limit).await, BTreeSet::from([ascii.clone(), multibyte.clone()]));
    }
    assert!(store.delete(&c, &ascii).await.expect("delete"));
    assert_eq!(store.take(&c, &multibyte).await.expect("take").as_deref(), Some(&b"max"[..]));

    let mut long_collection = unique_collection("max-len-coll-");
    let pad = MAX_KEY_LEN - long_collection.len();
    long_collection.push_str(&"c".repeat(pad));
    assert_eq!(long_collection.len(), MAX_KEY_LEN);
    store.put(&long_collection, &ascii, b"both max", None).await.expect("max collection and key");
    assert_eq!(store.get(&long_collection, &ascii).await.expect("get").as_deref(), Some(&b"both max"[..]));
    assert_eq!(listed(store, &long_collection).await, BTreeSet::from([ascii.clone()]));
    assert!(store.delete(&long_collection, &ascii).await.expect("delete"));
}

/// Empty and over-long keys and collection names are refused with [`StoreError::InvalidKey`] by every
/// operation that takes a key (and `list_keys` for bad collection names), and nothing is stored.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn invalid_keys(store: &Arc<dyn KvStorage>) {
    let c = unique_collection("invalid");
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    let too_long_collection = format!("{c}{}", "c".repeat(MAX_KEY_LEN));
    let cases: [(&str, &str, &str); 4] = [
        (&c, "", "empty key"),
        (&c, &too_long, "over-long key"),
        ("", "k", "empty collection"),
        (&too_long_collection, "k", "over-long collection"),
    ];
    for (collection, key, what) in cases {
        let check = |op: &str, result: Result<(), StoreError>| {
            assert!(
                matches!(result, Err(StoreError::InvalidKey { .. })),
                "{op} with an {what} must fail with StoreError::InvalidKey, got {result:?}"
            );
        };
        check("put", store.put(collection, key, b"v", None).await);
        check("put_if_absent", store.put_if_absent(collection, key, b"v", None).await.map(drop));
        check("get", store.get(collection, key).await.map(drop));
        check("take", store.take(collection, key).await.map(drop));
        check("delete", store.delete(collection, key).await.map(drop));
        check("remaining_ttl", store.remaining_ttl(collection, key).await.map(drop));
        check("compare_and_swap", store.compare_and_swap(collection, key, None, b"v", None).await.map(drop));
        check(
            "compare_and_swap",
            store.compare_and_swap(collection, key, Some(b"v"), b"w", None).await.map(drop),
        );
    }
    for (collection, what) in [("", "an empty"), (too_long_collection.as_str(), "an over-long")] {
        let result = store.list_keys(collection, None, 10).await;
        assert!(
            matches!(result, Err(StoreError::InvalidKey { .. })),
            "list_keys of {what} collection must fail with StoreError::InvalidKey, got {result:?}"
        );
    }
    assert!(listed(store, &c).await.is_empty(), "an invalid key was stored");
}

/// Of [`CONCURRENT_CALLERS`] concurrent `put_if_absent` calls on one key, exactly one wins and its value
/// is the one stored.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn put_if_absent_is_atomic(store: &Arc<dyn KvStorage>) {
    put_if_absent_is_atomic_across(std::slice::from_ref(store)).await;
}

/// [`put_if_absent_is_atomic`] with the callers spread over several store instances that share one
/// backend (several processes' worth of stores over one Redis or one directory).
///
/// # Panics
///
/// When the stores break the rule, or `stores` is empty.
pub async fn put_if_absent_is_atomic_across(stores: &[Arc<dyn KvStorage>]) {
    assert!(!stores.is_empty(), "put_if_absent_is_atomic_across needs at least one store");
    let c = unique_collection("pia-race");
    let barrier = Arc::new(Barrier::new(CONCURRENT_CALLERS));
    let mut tasks = Vec::with_capacity(CONCURRENT_CALLERS);
    for i in 0..CONCURRENT_CALLERS {
        let store = Arc::clone(&stores[i % stores.len()]);
        let barrier = Arc::clone(&barrier);
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let won = store.put_if_absent(&c, "race", format!("caller {i}").as_bytes(), None).await;
            (i, won.expect("put_if_absent failed during the race"))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.expect("a racing task panicked");
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one put_if_absent must win, winners: {winners:?}");
    let stored = stores[0].get(&c, "race").await.expect("get");
    assert_eq!(stored, Some(format!("caller {}", winners[0]).into_bytes()), "the winner's value is stored");
}

/// Of [`CONCURRENT_CALLERS`] concurrent `take` calls on one key, exactly one gets the value.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn take_is_atomic(store: &Arc<dyn KvStorage>) {
    take_is_atomic_across(std::slice::from_ref(store)).await;
}

/// [`take_is_atomic`] with the callers spread over several store instances sharing one backend.
///
/// # Panics
///
/// When the stores break the rule, or `stores` is empty.
pub async fn take_is_atomic_across(stores: &[Arc<dyn KvStorage>]) {
    assert!(!stores.is_empty(), "take_is_atomic_across needs at least one store");
    let c = unique_collection("take-race");
    stores[0].put(&c, "code", b"one-time", Some(Duration::from_secs(600))).await.expect("put");
    let barrier = Arc::new(Barrier::new(CONCURRENT_CALLERS));
    let mut tasks = Vec::with_capacity(CONCURRENT_CALLERS);
    for i in 0..CONCURRENT_CALLERS {
        let store = Arc::clone(&stores[i % stores.len()]);
        let barrier = Arc::clone(&barrier);
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.take(&c, "code").await.expect("take failed during the race")
        }));
    }
    let mut got = Vec::new();
    for task in tasks {
        if let Some(value) = task.await.expect("a racing task panicked") {
            got.push(value);
        }
    }
    assert_eq!(got.len(), 1, "exactly one take must get the value, {} did", got.len());
    assert_eq!(got[0], b"one-time".to_vec(), "take returned a changed value");
    for store in stores {
        assert_eq!(store.get(&c, "code").await.expect("get"), None, "the taken entry is still readable");
    }
}

/// Of [`CONCURRENT_CALLERS`] concurrent `compare_and_swap` calls with the same `expected`, exactly one
/// wins and its value is the one stored: once on a free key (`expected: None`) and once on a present one.
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn compare_and_swap_is_atomic(store: &Arc<dyn KvStorage>) {
    compare_and_swap_is_atomic_across(std::slice::from_ref(store)).await;
}

/// [`compare_and_swap_is_atomic`] with the callers spread over several store instances sharing one
/// backend.
///
/// # Panics
///
/// When the stores break the rule, or `stores` is empty.
pub async fn compare_and_swap_is_atomic_across(stores: &[Arc<dyn KvStorage>]) {
    assert!(!stores.is_empty(), "compare_and_swap_is_atomic_across needs at least one store");
    for expected in [None, Some(&b"start"[..])] {
        let c = unique_collection("cas-race");
        if let Some(start) = expected {
            stores[0].put(&c, "race", start, None).await.expect("put");
        }
        let barrier = Arc::new(Barrier::new(CONCURRENT_CALLERS));
        let mut tasks = Vec::with_capacity(CONCURRENT_CALLERS);
        for i in 0..CONCURRENT_CALLERS {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let won = store
                    .compare_and_swap(&c, "race", expected, format!("caller {i}").as_bytes(), None)
                    .await;
                (i, won.expect("compare_and_swap failed during the race"))
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (i, won) = task.await.expect("a racing task panicked");
            if won {
                winners.push(i);
            }
        }
        let what = if expected.is_some() { "on a present key" } else { "on a free key" };
        assert_eq!(winners.len(), 1, "exactly one compare_and_swap {what} must win, winners: {winners:?}");
        for store in stores {
            let stored = store.get(&c, "race").await.expect("get");
            assert_eq!(
                stored,
                Some(format!("caller {}", winners[0]).into_bytes()),
                "the winner's value is stored ({what})"
            );
        }
    }
}

/// `take` and `compare_and_swap` racing on one entry are linearizable: in each of 20 rounds one `take`
/// and [`CONCURRENT_CALLERS`]` - 1` swaps expecting the original value start together (yielding to the
/// scheduler a varying number of times, so the take runs first in some rounds and later in others). Either the take
/// gets the original value and no swap wins, or exactly one swap wins and the take gets the winner's
/// value; never does a swap install a value over an entry that was already taken (a lost update).
///
/// # Panics
///
/// When the store breaks the rule.
pub async fn take_and_compare_and_swap_are_linearizable(store: &Arc<dyn KvStorage>) {
    take_and_compare_and_swap_are_linearizable_across(std::slice::from_ref(store)).await;
}

/// [`take_and_compare_and_swap_are_linearizable`] with the callers spread over several store instances
/// sharing one backend.
///
/// # Panics
///
/// When the stores break the rule, or `stores` is empty.
pub async fn take_and_compare_and_swap_are_linearizable_across(stores: &[Arc<dyn KvStorage>]) {
    assert!(!stores.is_empty(), "take_and_compare_and_swap_are_linearizable_across needs at least one store");
    let c = unique_collection("take-cas");
    for round in 0..20 {
        let key = format!("round-{round}");
        stores[0].put(&c, &key, b"original", None).await.expect("put");
        let barrier = Arc::new(Barrier::new(CONCURRENT_CALLERS));
        let mut swaps = Vec::with_capacity(CONCURRENT_CALLERS - 1);
        // The take starts in the middle of the swaps so it is not always first or last to run.
        let taker = CONCURRENT_CALLERS / 2;
        let mut take = None;
        for i in 0..CONCURRENT_CALLERS {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            let (c, key) = (c.clone(), key.clone());
            if i == taker {
                take = Some(tokio::spawn(async move {
                    barrier.wait().await;
                    yield_times(round % 3).await;
                    store.take(&c, &key).await.expect("take failed during the race")
                }));
                continue;
            }
            swaps.push(tokio::spawn(async move {
                barrier.wait().await;
                yield_times((round + 1) % 3 + i % 2).await;
                let new = format!("caller {i}");
                let won = store.compare_and_swap(&c, &key, Some(b"original"), new.as_bytes(), None).await;
                won.expect("compare_and_swap failed during the race").then_some(new.into_bytes())
            }));
        }
        let taken = take.expect("the take was spawned").await.expect("the take panicked");
        let mut winners = Vec::new();
        for task in swaps {
            winners.extend(task.await.expect("a racing task panicked"));
        }
        let left = stores[0].get(&c, &key).await.expect("get");
        match (taken.as_deref(), winners.as_slice()) {
            (Some(b"original"), []) => {}
            (Some(got), [winner]) if got == winner.as_slice() => {}
            _ => panic!(
                "round {round}: take got {:?} while {} swaps won ({:?}); a swap installed its value over a \
                 taken entry, or the take missed the winner's value",
                taken.as_deref().map(String::from_utf8_lossy),
                winners.len(),
                winners.iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect::<Vec<_>>()
            ),
        }
        assert_eq!(left, None, "round {round}: an entry is left after the take: a swap won after the take");
    }
}

/// Yields to the scheduler `times` times: varies which racing task runs first, without sleeping.
async fn yield_times(times: usize) {
    for _ in 0..times {
        tokio::task::yield_now().await;
    }
}

/// Writes through one instance are seen by another instance over the same backend, and removals too.
///
/// # Panics
///
/// When the stores break the rule.
pub async fn instances_share_state(a: &Arc<dyn KvStorage>, b: &Arc<dyn KvStorage>) {
    let c = unique_collection("shared");
    a.put(&c, "k", b"from a", None).await.expect("put through a");
    assert_eq!(b.get(&c, "k").await.expect("get through b").as_deref(), Some(&b"from a"[..]));
    b.put(&c, "k", b"from b", None).await.expect("put through b");
    assert_eq!(a.get(&c, "k").await.expect("get through a").as_deref(), Some(&b"from b"[..]));
    assert!(!a.put_if_absent(&c, "k", b"x", None).await.expect("pia through a"));
    assert_eq!(listed(b, &c).await, BTreeSet::from(["k".to_owned()]), "list_keys through b");
    assert_eq!(a.take(&c, "k").await.expect("take through a").as_deref(), Some(&b"from b"[..]));
    assert_eq!(b.get(&c, "k").await.expect("get through b"), None, "b still sees a taken entry");
}

/// Deterministic pseudo-random bytes (xorshift), for large test values that compress badly.
#[must_use]
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
