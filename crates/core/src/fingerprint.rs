//! Keyed fingerprints of bearer tokens, the keys of in-memory token caches.
//!
//! A cache of verified tokens must not hold the raw tokens (a heap dump would hand out live
//! credentials), and its key must not collide for two different tokens (a collision would answer one
//! caller with another caller's identity). A [`TokenFingerprint`] meets both: it is SipHash-2-4 with a
//! 128-bit output, keyed by 128 random bits drawn from the operating system when the
//! [`TokenFingerprinter`] is made. While that key stays secret (it is never logged, shown or stored
//! outside the process's memory), an attacker cannot compute a fingerprint, let alone aim a token at a
//! cached one, and a chance collision between two tokens is a 2^-128 event per pair. Someone who can read
//! the process's memory can read the key too, and with it could search for colliding tokens offline,
//! which SHA-256 would not allow; such a reader also sees the tokens passing through the process.
//! A SipHash pass over a 1 KB token costs a fifth to a third less than a SHA-256 one, and the hash is
//! most of what a cache hit costs.
//!
//! Fingerprints from different fingerprinters do not match: each cache makes its own.
//!
//! [`FingerprintCache`] is the bounded, expiring cache built on them that every token cache of the
//! workspace uses.

mod cache;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use secrecy::{ExposeSecret, SecretBox};
use siphasher::sip128::{Hasher128, SipHasher24};

pub use self::cache::FingerprintCache;

/// Computes [`TokenFingerprint`]s under a random key of its own.
///
/// # Example
///
/// ```
/// use mcp_auth_core::fingerprint::TokenFingerprinter;
///
/// let fingerprinter = TokenFingerprinter::new()?;
/// let a = fingerprinter.fingerprint("eyJhbGciOi.one.token");
/// assert_eq!(a, fingerprinter.fingerprint("eyJhbGciOi.one.token"));
/// assert_ne!(a, fingerprinter.fingerprint("eyJhbGciOi.one.tokeN"));
/// // Another fingerprinter has another key.
/// assert_ne!(a, TokenFingerprinter::new()?.fingerprint("eyJhbGciOi.one.token"));
/// # Ok::<(), mcp_auth_core::fingerprint::RandomnessUnavailable>(())
/// ```
pub struct TokenFingerprinter {
    key: SecretBox<[u8; 16]>,
}

impl TokenFingerprinter {
    /// A fingerprinter with a fresh random key from the operating system.
    ///
    /// # Errors
    ///
    /// [`RandomnessUnavailable`] when the operating system's random number generator fails. There is no
    /// weaker fallback: a guessable key would let an attacker aim tokens at cached ones.
    pub fn new() -> Result<Self, RandomnessUnavailable> {
        let mut key = Box::new([0u8; 16]);
        getrandom::fill(key.as_mut_slice()).map_err(RandomnessUnavailable)?;
        Ok(Self { key: SecretBox::new(key) })
    }

    /// The fingerprint of `token` under this fingerprinter's key.
    #[must_use]
    pub fn fingerprint(&self, token: &str) -> TokenFingerprint {
        let mut hasher = SipHasher24::new_with_key(self.key.expose_secret());
        hasher.write(token.as_bytes());
        let hash = hasher.finish128();
        TokenFingerprint { low: hash.h1, high: hash.h2 }
    }
}

impl fmt::Debug for TokenFingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenFingerprinter { key: [REDACTED] }")
    }
}

/// The operating system's random number generator failed, so no key, code or token could be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed, so no secret value can be made: {0}")]
pub struct RandomnessUnavailable(#[source] getrandom::Error);

/// Fills `buf` from the operating system's random number generator, the one source of secret values
/// (keys, codes, tokens) in the workspace. There is no weaker fallback.
///
/// # Errors
///
/// [`RandomnessUnavailable`] when the generator fails.
///
/// # Examples
///
/// ```
/// let mut key = [0u8; 32];
/// mcp_auth_core::fingerprint::fill_random(&mut key)?;
/// assert_ne!(key, [0u8; 32]);
/// # Ok::<(), mcp_auth_core::fingerprint::RandomnessUnavailable>(())
/// ```
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomnessUnavailable> {
    getrandom::fill(buf).map_err(RandomnessUnavailable)
}

/// The keyed 128-bit fingerprint of a token (see the [module docs](self)). Its `Debug` shows nothing of
/// its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenFingerprint {
    low: u64,
    high: u64,
}

impl TokenFingerprint {
    /// An index below `count` (0 when `count` is 0), for picking one of `count` shards of a cache. It is
    /// drawn from the half of the fingerprint a [`FingerprintMap`] does not hash by, so the keys of one
    /// shard still spread evenly in its map.
    #[must_use]
    pub fn shard(&self, count: usize) -> usize {
        let count = u64::try_from(count).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.high % count).unwrap_or(0)
    }
}

impl Hash for TokenFingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Both halves, so a map with any hasher sees every bit; `FingerprintHasher` keeps the last.
        state.write_u64(self.high);
        state.write_u64(self.low);
    }
}

impl fmt::Debug for TokenFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenFingerprint(..)")
    }
}

/// A map keyed by [`TokenFingerprint`]s that uses the fingerprints' own bits as hashes: they are already
/// keyed pseudorandom values, so hashing them again would only cost time.
///
/// # Example
///
/// ```
/// use mcp_auth_core::fingerprint::{FingerprintMap, TokenFingerprinter};
///
/// let fingerprinter = TokenFingerprinter::new()?;
/// let mut map = FingerprintMap::default();
/// map.insert(fingerprinter.fingerprint("token-a"), "user a");
/// assert_eq!(map.get(&fingerprinter.fingerprint("token-a")), Some(&"user a"));
/// assert_eq!(map.get(&fingerprinter.fingerprint("token-b")), None);
/// # Ok::<(), mcp_auth_core::fingerprint::RandomnessUnavailable>(())
/// ```
pub type FingerprintMap<V> = HashMap<TokenFingerprint, V, FingerprintBuildHasher>;

/// The [`BuildHasher`] of a [`FingerprintMap`]. Meant for [`TokenFingerprint`] keys only: other keys
/// get a weak hash.
#[derive(Clone, Copy, Debug, Default)]
pub struct FingerprintBuildHasher;

impl BuildHasher for FingerprintBuildHasher {
    type Hasher = FingerprintHasher;

    fn build_hasher(&self) -> FingerprintHasher {
        FingerprintHasher(0)
    }
}

/// The [`Hasher`] of a [`FingerprintMap`]: passes a fingerprint's bits through.
#[derive(Clone, Copy, Debug, Default)]
pub struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached by fingerprints; any other key still gets every byte mixed in.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed_and_distinguish_tokens() {
        let one = TokenFingerprinter::new().unwrap();
        let two = TokenFingerprinter::new().unwrap();
        let token = "header.payload.signature";
        assert_eq!(one.fingerprint(token), one.fingerprint(token));
        assert_ne!(one.fingerprint(token), two.fingerprint(token), "each fingerprinter has its own key");
        assert_ne!(one.fingerprint(token), one.fingerprint("header.payload.signaturE"));
        assert_ne!(one.fingerprint(""), one.fingerprint("\0"), "length is part of the input");
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            assert!(seen.insert(one.fingerprint(&format!("token-{i}"))));
        }
    }

    #[test]
    fn it_is_sip_hash_2_4_with_128_bit_output() {
        // The reference vector of the SipHash paper's 128-bit variant: key 00..0f, empty message.
        let key = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let fingerprinter = TokenFingerprinter { key: SecretBox::new(Box::new(key)) };
        let fingerprint = fingerprinter.fingerprint("");
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&fingerprint.low.to_le_bytes());
        bytes[8..].copy_from_slice(&fingerprint.high.to_le_bytes());
        assert_eq!(
            bytes,
            [0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93]
        );
    }

    #[test]
    fn debug_shows_neither_key_nor_fingerprint() {
        let fingerprinter = TokenFingerprinter::new().unwrap();
        let key = format!("{:?}", fingerprinter.key.expose_secret());
        assert_eq!(format!("{fingerprinter:?}"), "TokenFingerprinter { key: [REDACTED] }");
        assert!(!format!("{fingerprinter:?}").contains(&key));
        assert_eq!(format!("{:?}", fingerprinter.fingerprint("t")), "TokenFingerprint(..)");
    }

    #[test]
    fn the_map_uses_the_fingerprint_bits() {
        let fingerprinter = TokenFingerprinter::new().unwrap();
        let fingerprint = fingerprinter.fingerprint("token");
        assert_eq!(FingerprintBuildHasher.hash_one(fingerprint), fingerprint.low);
        let mut map = FingerprintMap::default();
        for i in 0..1_000 {
            map.insert(fingerprinter.fingerprint(&format!("token-{i}")), i);
        }
        assert_eq!(map.get(&fingerprinter.fingerprint("token-500")), Some(&500));
    }

    #[test]
    fn shards_spread_and_stay_in_range() {
        let fingerprinter = TokenFingerprinter::new().unwrap();
        let mut counts = [0_u32; 16];
        for i in 0..16_000 {
            counts[fingerprinter.fingerprint(&format!("token-{i}")).shard(16)] += 1;
        }
        assert!(counts.iter().all(|&n| (700..1_300).contains(&n)), "{counts:?}");
        assert_eq!(fingerprinter.fingerprint("t").shard(0), 0);
        assert_eq!(fingerprinter.fingerprint("t").shard(1), 0);
    }
}
