//! The plaintext inside every Fernet token the store writes: format 2, the value bound to the collection
//! and key it is stored under and to the deadline it was written with.
//!
//! ```text
//! offset    size  field
//! 0         5     magic: 0xFF "MCPA" (0xFF never occurs in UTF-8 text)
//! 5         1     format version (2)
//! 6         2     collection length C, big-endian
//! 8         C     collection (UTF-8)
//! 8+C       2     key length K, big-endian
//! 10+C      K     key (UTF-8)
//! 10+C+K    8     deadline: milliseconds since the Unix epoch, big-endian; 0 = no expiry
//! 18+C+K    ..    the value
//! ```
//!
//! Format 1 (mcp-auth-fernet before binding) is the bare value. A value of format 1 starting with the
//! magic would be read as format 2 and refused as malformed; the values mcp-auth stores are JSON or text,
//! which never start with 0xFF.

use crate::BindingError;

/// The first bytes of every format-2 plaintext.
pub(crate) const MAGIC: [u8; 5] = [0xFF, b'M', b'C', b'P', b'A'];
/// The format version this crate writes.
pub(crate) const VERSION: u8 = 2;

/// A decoded plaintext.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened<'a> {
    /// Format 2: bound to a place and a deadline.
    Bound {
        collection: &'a [u8],
        key: &'a [u8],
        /// Milliseconds since the Unix epoch; 0 for none.
        deadline_ms: u64,
        value: &'a [u8],
    },
    /// Format 1: the bare value, bound to nothing.
    Unbound(&'a [u8]),
}

/// The format-2 plaintext of `value` stored under `collection`/`key` until `deadline_ms` (0: forever).
/// The store checks collection and key with `validate_key` first, so each fits its 2-byte length.
pub(crate) fn encode(collection: &str, key: &str, deadline_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 13 + collection.len() + key.len() + value.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    for part in [collection, key] {
        out.extend_from_slice(&u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(&deadline_ms.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Splits a decrypted plaintext into its parts.
pub(crate) fn decode(plain: &[u8]) -> Result<Opened<'_>, BindingError> {
    let Some(rest) = plain.strip_prefix(&MAGIC) else { return Ok(Opened::Unbound(plain)) };
    let (&version, rest) = rest.split_first().ok_or(BindingError::Malformed)?;
    if version != VERSION {
        return Err(BindingError::UnknownVersion(version));
    }
    let (collection, rest) = take_prefixed(rest)?;
    let (key, rest) = take_prefixed(rest)?;
    let (deadline, value) = rest.split_first_chunk::<8>().ok_or(BindingError::Malformed)?;
    Ok(Opened::Bound { collection, key, deadline_ms: u64::from_be_bytes(*deadline), value })
}

/// A 2-byte big-endian length, then that many bytes.
fn take_prefixed(bytes: &[u8]) -> Result<(&[u8], &[u8]), BindingError> {
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(BindingError::Malformed)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(BindingError::Malformed);
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_the_exact_layout() {
        let plain = encode("tokens", "k/ü", 0x0102_0304_0506_0708, b"\x00value\xff");
        let mut expected = vec![0xFF, b'M', b'C', b'P', b'A', 2, 0, 6];
        expected.extend_from_slice(b"tokens");
        expected.extend_from_slice(&[0, 4]);
        expected.extend_from_slice("k/ü".as_bytes());
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.extend_from_slice(b"\x00value\xff");
        assert_eq!(plain, expected);
        assert_eq!(
            decode(&plain).unwrap(),
            Opened::Bound {
                collection: b"tokens",
                key: "k/ü".as_bytes(),
                deadline_ms: 0x0102_0304_0506_0708,
                value: b"\x00value\xff"
            }
        );
        let empty = encode("c", "k", 0, b"");
        assert!(matches!(decode(&empty).unwrap(), Opened::Bound { value: b"", deadline_ms: 0, .. }));
    }

    #[test]
    fn bare_values_are_format_1_and_damage_is_malformed() {
        assert_eq!(decode(b"{\"json\":1}").unwrap(), Opened::Unbound(b"{\"json\":1}"));
        assert_eq!(decode(b"").unwrap(), Opened::Unbound(b""));
        assert_eq!(decode(&MAGIC[..4]).unwrap(), Opened::Unbound(&MAGIC[..4]));
        let plain = encode("c", "key", 7, b"v");
        // Cut anywhere inside the header: malformed, never a panic.
        for cut in MAGIC.len()..plain.len() - 1 {
            assert!(matches!(decode(&plain[..cut]), Err(BindingError::Malformed)), "cut at {cut}");
        }
        let mut newer = plain.clone();
        newer[5] = 3;
        assert!(matches!(decode(&newer), Err(BindingError::UnknownVersion(3))));
        let mut long = plain;
        long[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(decode(&long), Err(BindingError::Malformed)));
    }
}
