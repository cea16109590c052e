//! Settings from environment variables and `.env` files.
//!
//! Every provider can be configured from code, or from variables named `MCP_AUTH_<NAME>` taken from the
//! process environment and from a `.env` file (the process environment wins). Errors name the variable
//! and show an example value; they never echo the value itself, which may be a secret.

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::scope::parse_scope_list;

/// The prefix of every environment variable mcp-auth reads.
pub const ENV_PREFIX: &str = "MCP_AUTH_";

/// A set of `MCP_AUTH_*` variables, from the environment, a `.env` file, or given pairs.
///
/// Names passed to the accessors leave out the prefix: `settings.require_string("BASE_URL", ..)` reads
/// `MCP_AUTH_BASE_URL`. A variable set to the empty string counts as unset.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::settings::Settings;
///
/// let settings = Settings::from_pairs([
///     ("MCP_AUTH_BASE_URL", "https://mcp.example.com"),
///     ("MCP_AUTH_REQUIRED_SCOPES", "openid, profile"),
/// ]);
/// assert_eq!(settings.require_url("BASE_URL", "https://mcp.example.com").unwrap().as_str(), "https://mcp.example.com/");
/// assert_eq!(settings.scopes("REQUIRED_SCOPES").unwrap().unwrap(), ["openid", "profile"]);
/// let err = settings.require_string("AUTHKIT_DOMAIN", "your-app.authkit.app").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "MCP_AUTH_AUTHKIT_DOMAIN is not set (example: MCP_AUTH_AUTHKIT_DOMAIN=your-app.authkit.app)"
/// );
/// ```
///
/// `Debug` lists the names of the variables that are set, never their values, which may be signing keys,
/// Fernet keys or passwords in URLs, so logging the settings is safe:
///
/// ```
/// use mcp_auth_core::settings::Settings;
///
/// let settings = Settings::from_pairs([("MCP_AUTH_REDIS_URL", "redis://:hunter2@redis.internal")]);
/// assert_eq!(format!("{settings:?}"), r#"Settings { variables: ["MCP_AUTH_REDIS_URL"], .. }"#);
/// ```
#[derive(Clone)]
pub struct Settings {
    config: config::Config,
    /// The full names of the variables that are set, sorted; what `Debug` shows.
    names: Vec<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand: the values may be secrets, and `config::Config`'s own `Debug` prints them.
        f.debug_struct("Settings").field("variables", &self.names).finish_non_exhaustive()
    }
}

/// A variable is missing or malformed, or a `.env` file cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A required variable is not set.
    #[error("{var} is not set (example: {var}={example})")]
    Missing {
        /// The full variable name.
        var: String,
        /// An example value.
        example: String,
    },
    /// A variable is set but its value is not usable.
    #[error("{var} is invalid: {reason} (example: {var}={example})")]
    Invalid {
        /// The full variable name.
        var: String,
        /// What is wrong, without the value.
        reason: String,
        /// An example value.
        example: String,
    },
    /// Two settings contradict each other, or a setting is unsafe.
    #[error("{setting}: {reason}")]
    Conflict {
        /// The setting (and its variable) to change.
        setting: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The `.env` file exists but cannot be read or parsed.
    #[error("cannot read {}", path.display())]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: dotenvy::Error,
    },
    /// The configuration library failed.
    #[error("cannot collect settings")]
    Config(#[from] config::ConfigError),
}

impl Settings {
    /// The process environment plus `./.env` when it exists (the process environment wins).
    ///
    /// # Errors
    ///
    /// [`SettingsError::EnvFile`] when `.env` exists but is malformed.
    pub fn from_env() -> Result<Self, SettingsError> {
        let path = Path::new(".env");
        if path.exists() { Self::from_env_and_file(path) } else { Ok(Self::from_pairs(std::env::vars())) }
    }

    /// The process environment plus the `.env`-format file at `path` (the process environment wins).
    ///
    /// # Errors
    ///
    /// [`SettingsError::EnvFile`] when the file is missing or malformed.
    pub fn from_env_and_file(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let path = path.as_ref();
        let env_file_error = |source| SettingsError::EnvFile { path: path.to_owned(), source };
        let mut vars: HashMap<String, String> = HashMap::new();
        for item in dotenvy::from_path_iter(path).map_err(env_file_error)? {
            let (name, value) = item.map_err(env_file_error)?;
            vars.insert(name, value);
        }
        vars.extend(std::env::vars());
        Ok(Self::from_pairs(vars))
    }

    /// Exactly the given variables, for tests and embedding (the process environment is not read).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: config::Map<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, v)| k.starts_with(ENV_PREFIX) && !v.is_empty())
            .collect();
        let mut names: Vec<String> = vars.keys().cloned().collect();
        names.sort_unstable();
        let source = config::Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
            .prefix_separator("_")
            .source(Some(vars));
        // Building from an in-memory map of strings cannot fail; fall back to empty settings if it ever does.
        let config = config::Config::builder().add_source(source).build().unwrap_or_default();
        Self { config, names }
    }

    /// The full variable name for `name`: `BASE_URL` becomes `MCP_AUTH_BASE_URL`.
    #[must_use]
    pub fn var_name(name: &str) -> String {
        format!("{ENV_PREFIX}{name}")
    }

    /// The value of `MCP_AUTH_<name>`, if set.
    #[must_use]
    pub fn string(&self, name: &str) -> Option<String> {
        self.config.get_string(&name.to_ascii_lowercase()).ok().filter(|v| !v.is_empty())
    }

    /// The value of `MCP_AUTH_<name>`.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] naming the variable and showing `example`.
    pub fn require_string(&self, name: &str, example: &str) -> Result<String, SettingsError> {
        self.string(name)
            .ok_or_else(|| SettingsError::Missing { var: Self::var_name(name), example: example.to_owned() })
    }

    /// The value of `MCP_AUTH_<name>` as a secret, if set.
    #[must_use]
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.string(name).map(SecretString::from)
    }

    /// The value of `MCP_AUTH_<name>` as a secret.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] naming the variable and showing `example`.
    pub fn require_secret(&self, name: &str, example: &str) -> Result<SecretString, SettingsError> {
        self.require_string(name, example).map(SecretString::from)
    }

    /// `MCP_AUTH_<name>` parsed with [`FromStr`], if set.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] when the value does not parse.
    pub fn parse<T>(&self, name: &str, example: &str) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.string(name)
            .map(|value| {
                value.trim().parse::<T>().map_err(|err| self.invalid(name, err.to_string(), example))
            })
            .transpose()
    }

    /// `MCP_AUTH_<name>` as an absolute `http` or `https` URL, if set.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] when the value is not such a URL.
    pub fn url(&self, name: &str, example: &str) -> Result<Option<Url>, SettingsError> {
        let Some(url) = self.parse::<Url>(name, example)? else { return Ok(None) };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.invalid(name, "the scheme must be http or https".to_owned(), example));
        }
        Ok(Some(url))
    }

    /// `MCP_AUTH_<name>` as an absolute `http` or `https` URL.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] or [`SettingsError::Invalid`].
    pub fn require_url(&self, name: &str, example: &str) -> Result<Url, SettingsError> {
        self.url(name, example)?
            .ok_or_else(|| SettingsError::Missing { var: Self::var_name(name), example: example.to_owned() })
    }

    /// `MCP_AUTH_<name>` as a scope list (space- or comma-separated, or a JSON array), if set.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] when the list does not parse.
    pub fn scopes(&self, name: &str) -> Result<Option<Vec<String>>, SettingsError> {
        self.string(name)
            .map(|value| {
                parse_scope_list(&value)
                    .map_err(|reason| self.invalid(name, reason, "\"openid profile email\""))
            })
            .transpose()
    }

    /// `MCP_AUTH_<name>` as a boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`), if set.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] for anything else.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, SettingsError> {
        self.string(name)
            .map(|value| match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(self.invalid(name, "expected true or false".to_owned(), "true")),
            })
            .transpose()
    }

    /// `MCP_AUTH_<name>` as a whole number of seconds, if set.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] when it is not a whole number.
    pub fn seconds(&self, name: &str, example: &str) -> Result<Option<Duration>, SettingsError> {
        Ok(self.parse::<u64>(name, example)?.map(Duration::from_secs))
    }

    fn invalid(&self, name: &str, reason: String, example: &str) -> SettingsError {
        SettingsError::Invalid { var: Self::var_name(name), reason, example: example.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn reads_and_validates_each_kind() {
        let settings = Settings::from_pairs([
            ("MCP_AUTH_URL", "ftp://x"),
            ("MCP_AUTH_BAD_URL", "not a url"),
            ("MCP_AUTH_FLAG", "yes"),
            ("MCP_AUTH_BAD_FLAG", "maybe"),
            ("MCP_AUTH_TTL", "60"),
            ("MCP_AUTH_SCOPES", r#"["a","b"]"#),
            ("MCP_AUTH_BAD_SCOPES", "[1]"),
            ("MCP_AUTH_EMPTY", ""),
            ("MCP_AUTH_SECRET", "hunter2"),
            ("OTHER_VAR", "ignored"),
        ]);
        let err = settings.url("URL", "https://x").unwrap_err().to_string();
        assert!(err.starts_with("MCP_AUTH_URL is invalid: the scheme must be http or https"), "{err}");
        assert!(!err.contains("ftp"), "the value is never echoed: {err}");
        assert!(settings.url("BAD_URL", "https://x").unwrap_err().to_string().contains("MCP_AUTH_BAD_URL"));
        assert_eq!(settings.bool("FLAG").unwrap(), Some(true));
        assert!(settings.bool("BAD_FLAG").unwrap_err().to_string().contains("MCP_AUTH_BAD_FLAG"));
        assert_eq!(settings.seconds("TTL", "60").unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(settings.scopes("SCOPES").unwrap().unwrap(), ["a", "b"]);
        assert!(settings.scopes("BAD_SCOPES").is_err());
        assert_eq!(settings.string("EMPTY"), None);
        assert_eq!(settings.string("VAR"), None);
        assert_eq!(settings.require_secret("SECRET", "x").unwrap().expose_secret(), "hunter2");
        assert!(!format!("{:?}", settings.secret("SECRET")).contains("hunter2"));
    }

    /// Issue 11: the derived `Debug` printed every raw value, signing keys, Fernet keys and Redis
    /// passwords included, so `debug!(?settings)` leaked them. It shows the variable names only.
    #[test]
    fn settings_debug_shows_variable_names_never_values() {
        let secrets = [
            ("MCP_AUTH_JWT_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----MIGHAgEAMBMGByqGSM49"),
            ("MCP_AUTH_FERNET_KEYS", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="),
            ("MCP_AUTH_REDIS_URL", "redis://default:hunter2-redis-password@redis.internal:6379/0"),
            ("MCP_AUTH_CLIENT_SECRET", "sk_test_a1b2c3d4e5"),
            ("MCP_AUTH_BASE_URL", "https://mcp.example.com"),
        ];
        let settings = Settings::from_pairs(secrets.iter().copied().chain([("OTHER", "not-mcp-auth")]));
        for debug in [format!("{settings:?}"), format!("{settings:#?}")] {
            for (name, value) in secrets {
                assert!(debug.contains(name), "{name} is listed: {debug}");
                for part in value.split([':', '@', '/', '-']).filter(|part| part.len() >= 6) {
                    assert!(!debug.contains(part), "{name}'s value leaks ({part}): {debug}");
                }
            }
            assert!(!debug.contains("OTHER"), "{debug}");
        }
        assert_eq!(
            format!("{:?}", Settings::from_pairs([("MCP_AUTH_B", "1"), ("MCP_AUTH_A", "2")])),
            r#"Settings { variables: ["MCP_AUTH_A", "MCP_AUTH_B"], .. }"#
        );
    }

    #[test]
    fn env_file_is_read_and_malformed_files_are_named() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.env");
        writeln!(std::fs::File::create(&good).unwrap(), "MCP_AUTH_FROM_FILE_ONLY=\"from file\"").unwrap();
        let settings = Settings::from_env_and_file(&good).unwrap();
        assert_eq!(settings.string("FROM_FILE_ONLY").as_deref(), Some("from file"));

        let bad = dir.join("bad.env");
        writeln!(std::fs::File::create(&bad).unwrap(), "MCP_AUTH_X='unterminated").unwrap();
        let err = Settings::from_env_and_file(&bad).unwrap_err();
        assert!(err.to_string().contains("bad.env"), "{err}");
        assert!(Settings::from_env_and_file(dir.join("missing.env")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
