//! `mcp-auth keygen`: prints a new key in the format the configuration expects.
//!
//! The key goes to stdout and nothing else does, so `mcp-auth keygen fernet > key` or
//! `mcp-auth keygen jwt --env >> .env` capture exactly the key. Every key is made by the same crates the
//! server loads it with (`mcp_auth_jwt::SigningKey`, `mcp_auth_fernet::FernetKey`) and loaded back through
//! them before it is printed.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth::jwt::{Algorithm, SIGNING_KEY_ENV, SigningKey};
use mcp_auth::settings::Settings;
use mcp_auth::store::fernet::FernetKey;
use secrecy::{ExposeSecret as _, SecretString};

use crate::Global;

/// How many random bytes an HMAC signing secret holds (encoded as 64 URL-safe base64 characters).
pub const SECRET_BYTES: usize = 48;

/// Arguments of `mcp-auth keygen`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mcp-auth keygen fernet                     a key for MCP_AUTH_FERNET_KEYS
  mcp-auth keygen jwt                        a secret for MCP_AUTH_JWT_SIGNING_KEY (HS256)
  mcp-auth keygen jwt --alg es256 --env      an ES256 PEM key, as a line for .env
  mcp-auth keygen fernet --env >> .env       append MCP_AUTH_FERNET_KEYS=... to .env

The key is printed on stdout and nowhere else: redirect it into a file or a secret manager rather than
leaving it in your terminal's scrollback.")]
pub struct Args {
    /// Which key to make.
    #[command(subcommand)]
    pub kind: Kind,
}

/// The kinds of key `mcp-auth keygen` makes.
#[derive(Debug, clap::Subcommand)]
pub enum Kind {
    /// A signing key for the proxy's own tokens (MCP_AUTH_JWT_SIGNING_KEY).
    #[command(after_help = "\
Examples:
  mcp-auth keygen jwt                        64 random characters: an HS256 secret
  mcp-auth keygen jwt --alg es256            a PKCS#8 PEM P-256 private key
  mcp-auth keygen jwt --alg rs256 --env      MCP_AUTH_JWT_SIGNING_KEY='-----BEGIN PRIVATE KEY-----...'

With a PEM key, also set MCP_AUTH_JWT_SIGNING_KEY_ID (default key-1) and change it at each rotation.")]
    Jwt {
        /// The signature algorithm: `hs256` (a random secret), or a PEM private key for `es256`,
        /// `eddsa` (Ed25519) or `rs256` (RSA 2048).
        #[arg(long, value_enum, default_value_t = JwtAlg::Hs256)]
        alg: JwtAlg,
        /// Print `MCP_AUTH_JWT_SIGNING_KEY=<key>` (quoted for a `.env` file) instead of the bare key.
        #[arg(long)]
        env: bool,
    },
    /// A Fernet key for the encrypted store (MCP_AUTH_FERNET_KEYS).
    #[command(after_help = "\
Examples:
  mcp-auth keygen fernet                     44 characters of URL-safe base64
  mcp-auth keygen fernet --env               MCP_AUTH_FERNET_KEYS=<key>

To rotate: put the new key first and keep the old one after a comma, then drop it once every value is
re-encrypted.")]
    Fernet {
        /// Print `MCP_AUTH_FERNET_KEYS=<key>` instead of the bare key.
        #[arg(long)]
        env: bool,
    },
}

/// The signing algorithms `mcp-auth keygen jwt` makes keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlg {
    /// HS256 from a random secret (one server, or instances sharing the secret).
    Hs256,
    /// ES256: an EC P-256 private key in PEM.
    Es256,
    /// EdDSA: an Ed25519 private key in PEM.
    #[value(name = "eddsa", alias = "ed25519")]
    EdDsa,
    /// RS256: a 2048-bit RSA private key in PEM.
    Rs256,
}

/// A new signing key for `alg`, in the form `MCP_AUTH_JWT_SIGNING_KEY` takes, checked by loading it
/// through [`SigningKey::from_settings`] as the server does.
///
/// # Errors
///
/// When the crypto library fails, or the key does not load back (a bug).
pub fn jwt_key(alg: JwtAlg) -> anyhow::Result<SecretString> {
    let key = match alg {
        JwtAlg::Hs256 => {
            let mut bytes = [0u8; SECRET_BYTES];
            aws_lc_rs::rand::fill(&mut bytes)
                .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
            let secret = SecretString::from(URL_SAFE_NO_PAD.encode(bytes));
            bytes.fill(0);
            secret
        }
        JwtAlg::Es256 => SigningKey::generate_pem(Algorithm::ES256)?,
        JwtAlg::EdDsa => SigningKey::generate_pem(Algorithm::EdDSA)?,
        JwtAlg::Rs256 => SigningKey::generate_pem(Algorithm::RS256)?,
    };
    let settings = Settings::from_pairs([(SIGNING_KEY_ENV, key.expose_secret())]);
    SigningKey::from_settings(&settings)?.context("the new key did not load back")?;
    Ok(key)
}

/// A new Fernet key, checked by parsing it as `MCP_AUTH_FERNET_KEYS` is parsed.
///
/// # Errors
///
/// When the key does not parse back (a bug).
pub fn fernet_key() -> anyhow::Result<SecretString> {
    let key = FernetKey::generate();
    let settings = Settings::from_pairs([("MCP_AUTH_FERNET_KEYS", key.expose_secret())]);
    FernetKey::from_settings(&settings)?;
    Ok(SecretString::from(key.expose_secret().to_owned()))
}

/// `name=value` as a `.env` line: the value in single quotes, so a multi-line PEM stays one value and a
/// `$` is never expanded (keys never hold a `'`; one that did is refused rather than mangled).
///
/// # Errors
///
/// When `value` holds a single quote.
pub fn env_line(name: &str, value: &SecretString) -> anyhow::Result<String> {
    let value = value.expose_secret();
    anyhow::ensure!(!value.contains('\''), "the key holds a single quote and cannot be written for .env");
    if value.contains('\n') {
        Ok(format!("{name}='{}'\n", value.trim_end()))
    } else {
        Ok(format!("{name}={value}\n"))
    }
}

/// Runs `mcp-auth keygen`.
///
/// # Errors
///
/// When the key cannot be made or stdout cannot be written.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (text, note) = match args.kind {
        Kind::Jwt { alg, env } => {
            let key = jwt_key(alg)?;
            let text = if env {
                env_line(SIGNING_KEY_ENV, &key)?
            } else {
                let mut text = key.expose_secret().trim_end().to_owned();
                text.push('\n');
                text
            };
            let note = match alg {
                JwtAlg::Hs256 => "an HS256 secret for MCP_AUTH_JWT_SIGNING_KEY",
                _ => "a PEM private key for MCP_AUTH_JWT_SIGNING_KEY (set MCP_AUTH_JWT_SIGNING_KEY_ID too)",
            };
            (SecretString::from(text), note)
        }
        Kind::Fernet { env } => {
            let key = fernet_key()?;
            let text = if env {
                env_line("MCP_AUTH_FERNET_KEYS", &key)?
            } else {
                format!("{}\n", key.expose_secret())
            };
            (
                SecretString::from(text),
                "a Fernet key for MCP_AUTH_FERNET_KEYS (newest first, comma-separated)",
            )
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.expose_secret().as_bytes()).context("cannot write the key to stdout")?;
    stdout.flush().context("cannot write the key to stdout")?;
    crate::output::info(global, &format!("printed {note}"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_key_loads_from_a_dotenv_file() {
        let dir = tempfile::tempdir().unwrap();
        for alg in [JwtAlg::Hs256, JwtAlg::Es256, JwtAlg::EdDsa, JwtAlg::Rs256] {
            let key = jwt_key(alg).unwrap();
            let fernet = fernet_key().unwrap();
            let file = format!(
                "{}{}",
                env_line(SIGNING_KEY_ENV, &key).unwrap(),
                env_line("MCP_AUTH_FERNET_KEYS", &fernet).unwrap()
            );
            std::fs::write(dir.path().join(".env"), file).unwrap();
            let settings = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).unwrap();
            let loaded = SigningKey::from_settings(&settings).unwrap().unwrap();
            let expected = match alg {
                JwtAlg::Hs256 => Algorithm::HS256,
                JwtAlg::Es256 => Algorithm::ES256,
                JwtAlg::EdDsa => Algorithm::EdDSA,
                JwtAlg::Rs256 => Algorithm::RS256,
            };
            assert_eq!(loaded.algorithm(), expected);
            assert_eq!(FernetKey::from_settings(&settings).unwrap().len(), 1);
        }
    }

    #[test]
    fn secrets_are_long_and_fresh() {
        let a = jwt_key(JwtAlg::Hs256).unwrap();
        let b = jwt_key(JwtAlg::Hs256).unwrap();
        assert_eq!(a.expose_secret().len(), 64);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(fernet_key().unwrap().expose_secret().len(), 44);
    }

    #[test]
    fn a_quote_is_refused_in_env_lines() {
        assert!(env_line("X", &SecretString::from("a'b")).is_err());
    }
}
