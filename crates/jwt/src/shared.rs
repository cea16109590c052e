//! A key set its owner replaces at run time: [`JwtIssuer`](crate::JwtIssuer) publishes its keys here on
//! every rotation or removal, and every verifier built on it sees the change on its next token, with no
//! rebuilding.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::Algorithm;

use crate::keys::{KeySet, VerifyingKey};

/// The current keys and the algorithms they sign with.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// The keys, with a generation that changes on every replacement (so cached tokens are dropped).
    pub(crate) set: Arc<KeySet>,
    /// The algorithms of the keys: the allow-list of verifiers that follow this set.
    pub(crate) algorithms: Arc<[Algorithm]>,
}

/// A replaceable key set shared between its owner and the verifiers that follow it.
pub(crate) struct SharedKeys {
    current: RwLock<Snapshot>,
}

impl fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("SharedKeys")
            .field("keys", &snapshot.set.keys)
            .field("generation", &snapshot.set.generation)
            .field("algorithms", &snapshot.algorithms)
            .finish()
    }
}

impl SharedKeys {
    /// A set holding `keys`, signed with `algorithms`, at generation 1.
    pub(crate) fn new(keys: Vec<VerifyingKey>, algorithms: Vec<Algorithm>) -> Self {
        let snapshot =
            Snapshot { set: Arc::new(KeySet { keys, generation: 1 }), algorithms: algorithms.into() };
        Self { current: RwLock::new(snapshot) }
    }

    /// The keys now in force.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The keys now in force, without the algorithm list.
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner).set)
    }

    /// The generation of the keys now in force.
    pub(crate) fn generation(&self) -> u64 {
        self.current.read().unwrap_or_else(PoisonError::into_inner).set.generation
    }

    /// Whether one of the current keys signs with `alg`.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        self.current.read().unwrap_or_else(PoisonError::into_inner).algorithms.contains(&alg)
    }

    /// Replaces the keys; verifiers use the new ones from their next token on.
    pub(crate) fn replace(&self, keys: Vec<VerifyingKey>, algorithms: Vec<Algorithm>) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let generation = current.set.generation.wrapping_add(1);
        *current = Snapshot { set: Arc::new(KeySet { keys, generation }), algorithms: algorithms.into() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_bumps_the_generation_and_the_allow_list() {
        let hmac = |kid: &str| VerifyingKey::hmac(Some(kid.to_owned()), &[7u8; 32]).unwrap();
        let shared = SharedKeys::new(vec![hmac("a")], vec![Algorithm::HS256]);
        assert_eq!(shared.generation(), 1);
        assert!(shared.allows(Algorithm::HS256) && !shared.allows(Algorithm::ES256));
        let before = shared.snapshot();
        shared.replace(vec![hmac("b")], vec![Algorithm::ES256]);
        assert_eq!(shared.generation(), 2);
        assert!(!shared.allows(Algorithm::HS256) && shared.allows(Algorithm::ES256));
        assert!(shared.keys().has_kid("b") && !shared.keys().has_kid("a"));
        assert!(before.set.has_kid("a"), "a snapshot taken before stays as it was");
        assert!(!format!("{shared:?}").contains("7, 7"), "{shared:?}");
    }
}
