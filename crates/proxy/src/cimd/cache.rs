//! The caches in front of the fetcher: validated clients (kept for the time their `Cache-Control` grants,
//! within bounds) and failures (kept briefly, in fewer entries), both bounded and evicting the oldest
//! entry, and the fetches in flight, so concurrent lookups of one URL share one fetch.
//!
//! The maps sit behind one `std` mutex that is never held across an `.await`. A flight is a
//! [`tokio::sync::OnceCell`]: the first lookup runs the fetch, the others wait for its outcome. If the
//! lookup running it is cancelled, a waiting one takes over; the flight leaves the map when its fetch
//! ends or is cancelled (a [`Landing`] guard), so abandoned lookups leave nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use mcp_auth_oauth_server::{Client, MetadataDocumentError};
use tokio::sync::OnceCell;

/// What a lookup gives: a client or why there is none.
pub(crate) type Outcome = Result<Client, MetadataDocumentError>;

/// A fetch in flight, shared by every lookup of its URL.
pub(crate) type Flight = Arc<OnceCell<Outcome>>;

/// A map of at most `max` entries that expire, evicting the oldest inserted when full.
#[derive(Debug)]
pub(crate) struct Bounded<V> {
    max: usize,
    next: u64,
    entries: HashMap<String, Slot<V>>,
    /// Insertion order: sequence number to key.
    order: BTreeMap<u64, String>,
}

#[derive(Debug)]
struct Slot<V> {
    sequence: u64,
    value: V,
    /// `None`: later than the clock can say.
    expires_at: Option<SystemTime>,
}

impl<V: Clone> Bounded<V> {
    pub(crate) fn new(max: usize) -> Self {
        Self { max, next: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }

    /// The value under `key` unless it has expired at `now` (an expired one is dropped).
    pub(crate) fn get(&mut self, key: &str, now: SystemTime) -> Option<V> {
        let slot = self.entries.get(key)?;
        if slot.expires_at.is_some_and(|at| now >= at) {
            self.remove(key);
            return None;
        }
        Some(slot.value.clone())
    }

    /// Puts `value` under `key` until `expires_at`, replacing any value there and evicting the oldest
    /// entries to stay within the bound.
    pub(crate) fn insert(&mut self, key: &str, value: V, expires_at: Option<SystemTime>) {
        self.remove(key);
        if self.max == 0 {
            return;
        }
        while self.entries.len() >= self.max {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
        let sequence = self.next;
        self.next += 1;
        self.order.insert(sequence, key.to_owned());
        self.entries.insert(key.to_owned(), Slot { sequence, value, expires_at });
    }

    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(slot) = self.entries.remove(key) {
            self.order.remove(&slot.sequence);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Where a lookup stands.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Cached: a client or a recent failure (boxed: a flight is one pointer).
    Cached(Box<Outcome>),
    /// Not cached: join (or start) the flight for this URL.
    Fly(Flight),
}

#[derive(Debug)]
struct State {
    clients: Bounded<Client>,
    failures: Bounded<MetadataDocumentError>,
    flights: HashMap<String, Flight>,
}

/// The client and failure caches and the flights in progress.
#[derive(Debug)]
pub(crate) struct Cache {
    state: Mutex<State>,
}

impl Cache {
    pub(crate) fn new(max_clients: usize, max_failures: usize) -> Self {
        Self {
            state: Mutex::new(State {
                clients: Bounded::new(max_clients),
                failures: Bounded::new(max_failures),
                flights: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached outcome for `key` at `now`, or the flight to wait on (started if there is none).
    pub(crate) fn lookup(&self, key: &str, now: SystemTime) -> Lookup {
        let mut state = self.state();
        if let Some(client) = state.clients.get(key, now) {
            return Lookup::Cached(Box::new(Ok(client)));
        }
        if let Some(failure) = state.failures.get(key, now) {
            return Lookup::Cached(Box::new(Err(failure)));
        }
        let flight = state.flights.entry(key.to_owned()).or_default();
        Lookup::Fly(Arc::clone(flight))
    }

    /// The cached outcome for `key` at `now`, without starting anything.
    pub(crate) fn cached(&self, key: &str, now: SystemTime) -> Option<Outcome> {
        let mut state = self.state();
        if let Some(client) = state.clients.get(key, now) {
            return Some(Ok(client));
        }
        state.failures.get(key, now).map(Err)
    }

    /// Keeps a fetch's outcome: a client until `expires_at`, a failure until `failure_expires_at`.
    pub(crate) fn store(
        &self,
        key: &str,
        outcome: &Outcome,
        expires_at: Option<SystemTime>,
        failure_expires_at: Option<SystemTime>,
    ) {
        let mut state = self.state();
        match outcome {
            Ok(client) => {
                state.failures.remove(key);
                state.clients.insert(key, client.clone(), expires_at);
            }
            Err(failure) => {
                state.clients.remove(key);
                state.failures.insert(key, failure.clone(), failure_expires_at);
            }
        }
    }

    /// How many flights are in the map.
    #[cfg(test)]
    pub(crate) fn flights(&self) -> usize {
        self.state().flights.len()
    }

    /// (clients, failures) cached.
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let state = self.state();
        (state.clients.len(), state.failures.len())
    }
}

/// Takes a flight out of the map when dropped: when its fetch ends, or when the lookup running it is
/// cancelled. Only that flight: a newer one for the same URL stays.
#[derive(Debug)]
pub(crate) struct Landing<'a> {
    pub(crate) cache: &'a Cache,
    pub(crate) key: &'a str,
    pub(crate) flight: &'a Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut state = self.cache.state();
        if state.flights.get(self.key).is_some_and(|current| Arc::ptr_eq(current, self.flight)) {
            state.flights.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn entries_expire() {
        let mut map = Bounded::new(4);
        map.insert("a", 1, Some(at(10)));
        map.insert("forever", 2, None);
        assert_eq!(map.get("a", at(9)), Some(1));
        assert_eq!(map.get("a", at(10)), None);
        assert_eq!(map.len(), 1, "an expired entry is dropped when seen");
        assert_eq!(map.get("forever", at(u64::from(u32::MAX))), Some(2));
    }

    #[test]
    fn the_oldest_entry_is_evicted_and_the_bound_holds() {
        let mut map = Bounded::new(3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            map.insert(key, i, None);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("a", at(0)), None);
        assert_eq!(map.get("d", at(0)), Some(3));
        map.insert("b", 10, None);
        map.insert("e", 4, None);
        assert_eq!(map.get("c", at(0)), None, "c is now the oldest; b was renewed");
        assert_eq!(map.get("b", at(0)), Some(10));
        for i in 0..10_000 {
            map.insert(&format!("k{i}"), i, None);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.order.len(), 3, "the order index holds no stale keys");
        let mut none = Bounded::new(0);
        none.insert("a", 1, None);
        assert_eq!(none.len(), 0);
    }

    #[tokio::test]
    async fn flights_are_shared_and_leave_the_map_even_when_cancelled() {
        let cache = Cache::new(4, 4);
        let Lookup::Fly(first) = cache.lookup("k", at(0)) else { panic!("nothing cached") };
        let Lookup::Fly(second) = cache.lookup("k", at(0)) else { panic!("nothing cached") };
        assert!(Arc::ptr_eq(&first, &second), "one flight per key");
        assert_eq!(cache.flights(), 1);

        // The lookup running the fetch is cancelled: the flight leaves the map.
        let running = {
            let cache = &cache;
            let flight = &first;
            async move {
                flight
                    .get_or_init(|| async move {
                        let _landing = Landing { cache, key: "k", flight };
                        std::future::pending::<Outcome>().await
                    })
                    .await
                    .clone()
            }
        };
        assert!(tokio::time::timeout(Duration::from_millis(10), running).await.is_err());
        assert_eq!(cache.flights(), 0);

        // A later landing of an old flight does not remove a newer one.
        let Lookup::Fly(newer) = cache.lookup("k", at(0)) else { panic!("nothing cached") };
        drop(Landing { cache: &cache, key: "k", flight: &first });
        assert_eq!(cache.flights(), 1);
        drop(Landing { cache: &cache, key: "k", flight: &newer });
        assert_eq!(cache.flights(), 0);
    }

    #[test]
    fn a_success_replaces_a_failure_and_the_other_way_round() {
        let cache = Cache::new(4, 4);
        let failure = MetadataDocumentError::unavailable("down");
        cache.store("k", &Err(failure.clone()), None, Some(at(30)));
        assert!(matches!(cache.cached("k", at(1)), Some(Err(e)) if e == failure));
        assert!(cache.cached("k", at(30)).is_none(), "failures expire");
        let client = mcp_auth_oauth_server::Client::public("k", ["http://127.0.0.1/cb"]).unwrap();
        cache.store("k", &Ok(client), Some(at(100)), Some(at(30)));
        assert!(matches!(cache.cached("k", at(1)), Some(Ok(_))));
        assert_eq!(cache.sizes(), (1, 0));
        cache.store("k", &Err(failure), None, Some(at(30)));
        assert_eq!(cache.sizes(), (0, 1));
        assert!(matches!(cache.lookup("other", at(0)), Lookup::Fly(_)));
    }
}
