//! Fresh secrets for a self-check's deployment, made the way the deployment guide tells operators to make
//! theirs: a Fernet key (32 random bytes, URL-safe base64), a signing secret (48 random bytes), and a
//! random suffix for a Redis key prefix so that runs sharing one Redis never meet.

use anyhow::Context;
use mcp_auth::fingerprint::fill_random;
use mcp_auth::secrecy::SecretString;
use mcp_auth::store::fernet::FernetKey;

/// `bytes` random bytes from the operating system, as lower-case hex.
///
/// # Errors
///
/// When the operating system's generator fails.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf).context("reading the operating system's random generator")?;
    Ok(buf.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A new Fernet key, for `MCP_AUTH_FERNET_KEYS`.
#[must_use]
pub fn fernet_key() -> SecretString {
    SecretString::from(FernetKey::generate().expose_secret().to_owned())
}

/// A new signing secret of 48 random bytes (96 hex characters), for `MCP_AUTH_JWT_SIGNING_KEY`.
///
/// # Errors
///
/// When the operating system's generator fails.
pub fn signing_secret() -> anyhow::Result<SecretString> {
    Ok(SecretString::from(random_hex(48)?))
}

#[cfg(test)]
mod tests {
    use mcp_auth::secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn keys_are_fresh_well_formed_and_redacted() {
        let (a, b) = (random_hex(8).unwrap(), random_hex(8).unwrap());
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let fernet = fernet_key();
        FernetKey::new(fernet.expose_secret()).unwrap();
        let secret = signing_secret().unwrap();
        assert_eq!(secret.expose_secret().len(), 96);
        assert!(!format!("{secret:?}").contains(secret.expose_secret()));
        assert!(!format!("{fernet:?}").contains(fernet.expose_secret()));
    }
}
