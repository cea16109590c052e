//! The on-disk entry format, version 1.
//!
//! ```text
//! offset  size  field
//! 0       6     magic "MCPAKV"
//! 6       1     format version (1)
//! 7       1     flags (0; readers refuse unknown flags)
//! 8       8     expiry, milliseconds since the Unix epoch, little-endian (0 = never)
//! 16      4     key length K, little-endian
//! 20      8     value length V, little-endian
//! 28      K     the key (UTF-8)
//! 28+K    V     the value
//! 28+K+V  16    the first 16 bytes of SHA-256 over everything before
//! ```

use sha2::{Digest, Sha256};

pub(crate) const MAGIC: &[u8; 6] = b"MCPAKV";
pub(crate) const VERSION: u8 = 1;
const HEADER: usize = 28;
const CHECKSUM: usize = 16;

/// A decoded entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) expires_at_ms: Option<u64>,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
}

impl Entry {
    pub(crate) fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_none_or(|at| at > now_ms)
    }
}

pub(crate) fn encode(key: &str, value: &[u8], expires_at_ms: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + key.len() + value.len() + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(&expires_at_ms.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum[..CHECKSUM]);
    out
}

/// Why a file is not a readable entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file does not start with the entry magic: not written by this store.
    #[error("not an mcp-auth file-store entry (foreign file)")]
    Foreign,
    /// The file was written by a newer format version.
    #[error("entry format version {0} is newer than this store understands (1)")]
    UnknownVersion(u8),
    /// Lengths in the header do not match the file size.
    #[error("entry is truncated or has trailing bytes")]
    Length,
    /// The checksum does not match the contents.
    #[error("entry checksum mismatch (corrupted on disk)")]
    Checksum,
    /// The stored key is not UTF-8.
    #[error("entry key is not UTF-8")]
    KeyEncoding,
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Entry, FormatError> {
    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        return Err(FormatError::Foreign);
    }
    if bytes[6] != VERSION || bytes[7] != 0 {
        return Err(FormatError::UnknownVersion(bytes[6]));
    }
    if bytes.len() < HEADER + CHECKSUM {
        return Err(FormatError::Length);
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let expires = u64_at(8);
    let key_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap_or([0; 4])) as usize;
    let value_len = usize::try_from(u64_at(20)).map_err(|_| FormatError::Length)?;
    let body = key_len.checked_add(value_len).ok_or(FormatError::Length)?;
    let total = body.checked_add(HEADER + CHECKSUM).ok_or(FormatError::Length)?;
    if total != bytes.len() {
        return Err(FormatError::Length);
    }
    let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM);
    if Sha256::digest(content)[..CHECKSUM] != *sum {
        return Err(FormatError::Checksum);
    }
    let key =
        std::str::from_utf8(&content[HEADER..HEADER + key_len]).map_err(|_| FormatError::KeyEncoding)?;
    Ok(Entry {
        expires_at_ms: (expires != 0).then_some(expires),
        key: key.to_owned(),
        value: content[HEADER + key_len..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let bytes = encode("k/ü", b"\x00value\xff", Some(42));
        let entry = decode(&bytes).unwrap();
        assert_eq!(
            entry,
            Entry { expires_at_ms: Some(42), key: "k/ü".into(), value: b"\x00value\xff".to_vec() }
        );
        assert_eq!(decode(&encode("k", b"", None)).unwrap().expires_at_ms, None);

        assert_eq!(decode(b"hello world, not ours"), Err(FormatError::Foreign));
        assert_eq!(decode(b""), Err(FormatError::Foreign));
        let mut newer = bytes.clone();
        newer[6] = 2;
        assert_eq!(decode(&newer), Err(FormatError::UnknownVersion(2)));
        for cut in [9, 30, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), Err(FormatError::Length), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(FormatError::Length));
        for at in [8, 30, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1;
            assert_eq!(decode(&flipped), Err(FormatError::Checksum), "flip at {at}");
        }
        let mut huge = bytes.clone();
        huge[20..28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&huge), Err(FormatError::Length));
    }
}
