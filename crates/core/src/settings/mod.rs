//! Settings from environment variables, `.env` files and an optional TOML file.
//!
//! Every provider can be configured from code, or from variables named `MCP_AUTH_<NAME>`. They are read,
//! highest first, from the process environment, from a `.env` file, and from a TOML file (the path in
//! `MCP_AUTH_CONFIG`, else `mcp-auth.toml` when it exists), layered by the `config` crate. In the TOML
//! file a key is the variable's name without the prefix, in lower case (`jwt_issuer = "…"`), or grouped
//! in a table by its first word (`[jwt]` then `issuer = "…"`). Errors name the variable or the file key
//! and show an example value; they never echo the value itself, which may be a secret.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::scope::parse_scope_list;

mod sources;

pub use sources::Origin;
use sources::{Entry, Files};

/// The prefix of every environment variable mcp-auth reads.
pub const ENV_PREFIX: &str = "MCP_AUTH_";

/// The variable naming the TOML configuration file.
pub const CONFIG_FILE_VAR: &str = "MCP_AUTH_CONFIG";

/// The TOML configuration file read when it exists and `MCP_AUTH_CONFIG` is unset.
pub const DEFAULT_CONFIG_FILE: &str = "mcp-auth.toml";

/// A set of `MCP_AUTH_*` settings, from the environment, a `.env` file, a TOML file, or given pairs.
///
/// Names passed to the accessors leave out the prefix: `settings.require_string("BASE_URL", ..)` reads
/// `MCP_AUTH_BASE_URL` (or `base_url` in the TOML file). A value set to the empty string counts as unset.
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
    /// By upper-case name without the prefix (`BASE_URL`).
    values: BTreeMap<String, Entry>,
    /// The TOML file that was read, if any.
    config_file: Option<PathBuf>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand: the values may be secrets.
        let names: Vec<String> = self.values.keys().map(|name| Self::var_name(name)).collect();
        f.debug_struct("Settings").field("variables", &names).finish_non_exhaustive()
    }
}

/// A variable is missing or malformed, or a `.env` or TOML file cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A required setting is not set.
    #[error("{var} is not set (example: {example})")]
    Missing {
        /// The full variable name.
        var: String,
        /// An example, written as the user would set it (`MCP_AUTH_BASE_URL=https://mcp.example.com`, plus the TOML form when a
        /// configuration file is in use).
        example: String,
    },
    /// A setting is set but its value is not usable.
    #[error("{var} is invalid: {reason} (example: {example})")]
    Invalid {
        /// Where the value was set: the full variable name, or the key and the file it is in.
        var: String,
        /// What is wrong, without the value.
        reason: String,
        /// An example, written the way the value was set.
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
    /// The `.env` file cannot be read or parsed.
    #[error("cannot read {}: {reason}", path.display())]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, by line number; never the line, which may hold a secret.
        reason: String,
    },
    /// The TOML configuration file cannot be read, is not valid TOML, or has a key of the wrong shape.
    #[error("cannot use the configuration file {} ({CONFIG_FILE_VAR}): {reason}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, by line and column or key; never a value.
        reason: String,
    },
    /// The configuration library failed.
    #[error("cannot collect settings")]
    Config(#[from] config::ConfigError),
}

impl Settings {
    /// The process environment, plus `./.env` and the TOML configuration file when they exist (the
    /// process environment wins over `.env`, which wins over the TOML file).
    ///
    /// The TOML file is the one `MCP_AUTH_CONFIG` names (it must exist), else `./mcp-auth.toml` if present.
    ///
    /// # Errors
    ///
    /// [`SettingsError::EnvFile`] when `.env` exists but is malformed, [`SettingsError::ConfigFile`] when the
    /// TOML file is missing (named by `MCP_AUTH_CONFIG`), malformed, or nests tables too deep.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_env_in(Path::new("."), process_environment()?)
    }

    /// As [`from_env`](Self::from_env), with `environment` standing for the process environment and the
    /// `.env`, `mcp-auth.toml` and a relative `MCP_AUTH_CONFIG` looked up in `dir`: for tests and embedding.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::settings::{Origin, Settings};
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("mcp-auth.toml"), "base_url = \"https://file.example.com\"\n[jwt]\nissuer = \"https://id.example.com\"\n")?;
    /// std::fs::write(dir.path().join(".env"), "MCP_AUTH_BASE_URL=https://dotenv.example.com\n")?;
    /// let settings = Settings::from_env_in(dir.path(), [("MCP_AUTH_MCP_PATH", "/api/mcp")])?;
    /// assert_eq!(settings.string("BASE_URL").as_deref(), Some("https://dotenv.example.com"));
    /// assert_eq!(settings.string("JWT_ISSUER").as_deref(), Some("https://id.example.com"));
    /// assert_eq!(settings.origin("MCP_PATH"), Some(&Origin::Environment));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_in<I, K, V>(dir: &Path, environment: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let environment = own_variables(environment);
        let env_file = Some(dir.join(".env")).filter(|path| path.is_file());
        let named = match environment.get(CONFIG_FILE_VAR.trim_start_matches(ENV_PREFIX)) {
            Some(path) => Some(path.clone()),
            None => match &env_file {
                Some(path) => sources::env_file_value(path, CONFIG_FILE_VAR)?,
                None => None,
            },
        };
        let config_file = match named {
            Some(path) => {
                let path = dir.join(path);
                if !path.is_file() {
                    return Err(SettingsError::ConfigFile {
                        path,
                        reason: "no such file (unset MCP_AUTH_CONFIG to run without one)".to_owned(),
                    });
                }
                Some(path)
            }
            None => Some(dir.join(DEFAULT_CONFIG_FILE)).filter(|path| path.is_file()),
        };
        Self::load(environment, Files { env_file, config_file })
    }

    /// The process environment plus the `.env`-format file at `path` (the process environment wins); no
    /// TOML file.
    ///
    /// # Errors
    ///
    /// [`SettingsError::EnvFile`] when the file is missing or malformed.
    pub fn from_env_and_file(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let files = Files { env_file: Some(path.as_ref().to_owned()), config_file: None };
        Self::load(own_variables(process_environment()?), files)
    }

    /// Exactly the given variables, for tests and embedding (the process environment is not read).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let values = own_variables(pairs)
            .into_iter()
            .map(|(name, value)| (name, Entry { value, origin: Origin::Environment }))
            .collect();
        Self { values, config_file: None }
    }

    fn load(environment: BTreeMap<String, String>, files: Files) -> Result<Self, SettingsError> {
        let environment =
            environment.into_iter().map(|(name, value)| (Self::var_name(&name), value)).collect();
        let values = sources::load(environment, &files)?;
        Ok(Self { values, config_file: files.config_file })
    }

    /// The full variable name for `name`: `BASE_URL` becomes `MCP_AUTH_BASE_URL`.
    #[must_use]
    pub fn var_name(name: &str) -> String {
        format!("{ENV_PREFIX}{name}")
    }

    /// The TOML key for `name`: `BASE_URL` becomes `base_url`.
    #[must_use]
    pub fn file_key(name: &str) -> String {
        name.to_ascii_lowercase()
    }

    /// The TOML configuration file that was read, if any.
    #[must_use]
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// Where `MCP_AUTH_<name>` was set, if it is.
    #[must_use]
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.values.get(name).map(|entry| &entry.origin)
    }

    /// Every setting that is set (names without the prefix, sorted) with its origin; never the values.
    pub fn names(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.values.iter().map(|(name, entry)| (name.as_str(), &entry.origin))
    }

    /// How to point the user at `name`: the variable, or the key and the file it was set in.
    #[must_use]
    pub fn describe(&self, name: &str) -> String {
        match self.origin(name) {
            Some(Origin::ConfigFile(path)) => format!("`{}` in {}", Self::file_key(name), path.display()),
            Some(Origin::EnvFile(path)) => format!("{} (in {})", Self::var_name(name), path.display()),
            Some(Origin::Environment) | None => Self::var_name(name),
        }
    }

    /// The error for a required setting that is not set, showing `example` as a variable (and as a TOML
    /// key when a configuration file is in use).
    #[must_use]
    pub fn missing(&self, name: &str, example: &str) -> SettingsError {
        let var = Self::var_name(name);
        let example = match &self.config_file {
            Some(path) => {
                format!("{var}={example}, or {} in {}", toml_example(name, example), path.display())
            }
            None => format!("{var}={example}"),
        };
        SettingsError::Missing { var, example }
    }

    /// The error for a setting whose value is unusable because of `reason` (which must not contain the
    /// value), naming where it was set and showing `example` the same way.
    #[must_use]
    pub fn invalid(&self, name: &str, reason: impl Into<String>, example: &str) -> SettingsError {
        let example = match self.origin(name) {
            Some(Origin::ConfigFile(_)) => toml_example(name, example),
            _ => format!("{}={example}", Self::var_name(name)),
        };
        SettingsError::Invalid { var: self.describe(name), reason: reason.into(), example }
    }

    /// The value of `MCP_AUTH_<name>`, if set.
    #[must_use]
    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).map(|entry| entry.value.clone())
    }

    /// The value of `MCP_AUTH_<name>`.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] naming the variable and showing `example`.
    pub fn require_string(&self, name: &str, example: &str) -> Result<String, SettingsError> {
        self.string(name).ok_or_else(|| self.missing(name, example))
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
            return Err(self.invalid(name, "the scheme must be http or https", example));
        }
        Ok(Some(url))
    }

    /// `MCP_AUTH_<name>` as an absolute `http` or `https` URL.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Missing`] or [`SettingsError::Invalid`].
    pub fn require_url(&self, name: &str, example: &str) -> Result<Url, SettingsError> {
        self.url(name, example)?.ok_or_else(|| self.missing(name, example))
    }

    /// `MCP_AUTH_<name>` as a scope list (space- or comma-separated, or a JSON array), if set.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Invalid`] when the list does not parse.
    pub fn scopes(&self, name: &str) -> Result<Option<Vec<String>>, SettingsError> {
        self.string(name)
            .map(|value| {
                parse_scope_list(&value).map_err(|reason| self.invalid(name, reason, "openid profile email"))
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
                _ => Err(self.invalid(name, "expected true or false", "true")),
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
}

/// The process environment's `MCP_AUTH_*` variables. Others are never read, so a variable of someone else's
/// that is not UTF-8 is no concern; one of ours that is not UTF-8 is refused, naming it (`std::env::vars`
/// would panic, printing the value).
fn process_environment() -> Result<Vec<(String, String)>, SettingsError> {
    let mut variables = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|name| name.starts_with(ENV_PREFIX)) else { continue };
        match value.into_string() {
            Ok(value) => variables.push((name.to_owned(), value)),
            Err(_) => {
                return Err(SettingsError::Invalid {
                    var: name.to_owned(),
                    reason: "not valid UTF-8".to_owned(),
                    example: format!("{name}=<UTF-8 text>"),
                });
            }
        }
    }
    Ok(variables)
}

/// The `MCP_AUTH_*` pairs, keyed by name without the prefix; blank values dropped (unset), names that are
/// not `[A-Z0-9_]` ignored with a warning (`config` would read `.` or `[` in them as a path).
fn own_variables<I, K, V>(pairs: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    pairs
        .into_iter()
        .map(|(name, value)| (name.into(), value.into()))
        .filter_map(|(name, value)| {
            let short = name.strip_prefix(ENV_PREFIX)?;
            if !is_setting_name(short) {
                tracing::warn!(variable = %name, "ignored: a setting's name is upper-case letters, digits and _");
                return None;
            }
            (!value.trim().is_empty()).then(|| (short.to_owned(), value))
        })
        .collect()
}

/// Whether `name` (without the prefix) is a setting's name: `[A-Z0-9_]+`.
fn is_setting_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `example` as a TOML line for `name`: quoted unless it is a number, a boolean or an array.
fn toml_example(name: &str, example: &str) -> String {
    let bare =
        example.parse::<f64>().is_ok() || matches!(example, "true" | "false") || example.starts_with('[');
    let value = if bare { example.to_owned() } else { format!("{example:?}") };
    format!("{} = {value}", Settings::file_key(name))
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
