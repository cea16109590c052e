//! Where settings come from: the process environment, over a `.env` file, over an optional TOML file,
//! layered by the `config` crate. Every value keeps its origin, so an error can name the variable or the
//! file key the user has to change.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use config::{ConfigError, FileFormat, Map, Source, Value, ValueKind};

use super::{ENV_PREFIX, SettingsError};

/// The origin `config` gives values of its `Environment` source.
const ENVIRONMENT_ORIGIN: &str = "the environment";
/// The origin our `.env` source gives its values.
const ENV_FILE_ORIGIN: &str = "mcp-auth .env file";

/// Where a setting's value came from.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::settings::{Origin, Settings};
///
/// let settings = Settings::from_pairs([("MCP_AUTH_BASE_URL", "https://mcp.example.com")]);
/// assert_eq!(settings.origin("BASE_URL"), Some(&Origin::Environment));
/// assert_eq!(settings.origin("MCP_PATH"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The process environment, or pairs given in code.
    Environment,
    /// A `.env`-format file.
    EnvFile(PathBuf),
    /// The TOML configuration file (`MCP_AUTH_CONFIG`, or `mcp-auth.toml`).
    ConfigFile(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => f.write_str("the environment"),
            Self::EnvFile(path) | Self::ConfigFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One setting's value and where it came from.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) value: String,
    pub(super) origin: Origin,
}

/// The files to read besides the environment.
#[derive(Debug, Default)]
pub(super) struct Files {
    pub(super) env_file: Option<PathBuf>,
    pub(super) config_file: Option<PathBuf>,
}

/// Layers `config_file` (lowest), `env_file`, then `environment` (highest) and flattens the result into
/// upper-case names without the prefix (`JWT_ISSUER`). Empty values count as unset.
pub(super) fn load(
    environment: BTreeMap<String, String>,
    files: &Files,
) -> Result<BTreeMap<String, Entry>, SettingsError> {
    let mut builder = config::Config::builder();
    if let Some(path) = &files.config_file {
        let text = read_config_file(path)?;
        builder = builder.add_source(config::File::from_str(&text, FileFormat::Toml));
    }
    if let Some(path) = &files.env_file {
        builder = builder.add_source(EnvFileSource::read(path)?);
    }
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
            .prefix_separator("_")
            .source(Some(environment.into_iter().collect())),
    );
    let merged =
        builder.build().and_then(|config| config.collect()).map_err(|source| match &files.config_file {
            Some(path) => {
                SettingsError::ConfigFile { path: path.clone(), reason: describe_config_error(&source) }
            }
            None => SettingsError::Config(source),
        })?;
    flatten(merged, files)
}

/// Reads and checks the TOML file, reporting a syntax error by line and column without echoing the line,
/// which may hold a secret.
fn read_config_file(path: &Path) -> Result<String, SettingsError> {
    let config_error = |reason: String| SettingsError::ConfigFile { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|err| config_error(err.to_string()))?;
    let table = match toml::from_str::<toml::Table>(&text) {
        Ok(table) => table,
        Err(err) => return Err(config_error(toml_syntax_error(&text, &err))),
    };
    // Keys are lower-case names: `config` would read `.` or `[` in a key as a path, and keys that differ
    // from the environment's only by case would both survive the merge, the winner left to chance.
    for (key, value) in &table {
        check_key(key).map_err(|reason| config_error(format!("key `{key}`: {reason}")))?;
        if let toml::Value::Table(inner) = value {
            for (inner_key, inner_value) in inner {
                check_key(inner_key)
                    .map_err(|reason| config_error(format!("key `{key}.{inner_key}`: {reason}")))?;
                if inner_value.is_table() {
                    return Err(config_error(format!("key `{key}.{inner_key}`: tables nest one level only")));
                }
            }
        }
    }
    Ok(text)
}

fn check_key(key: &str) -> Result<(), &'static str> {
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(())
    } else {
        Err("keys are lower-case letters, digits and _ (the variable's name without MCP_AUTH_)")
    }
}

fn toml_syntax_error(text: &str, err: &toml::de::Error) -> String {
    let at = err
        .span()
        .map(|span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" at line {line}, column {column}")
        })
        .unwrap_or_default();
    format!("not valid TOML{at}: {}", err.message().trim_end())
}

fn describe_config_error(error: &ConfigError) -> String {
    match error {
        ConfigError::FileParse { .. } => "not valid TOML".to_owned(),
        other => other.to_string(),
    }
}

/// Turns the merged tree into `NAME -> value`. A table groups keys by their first word: `[jwt] issuer`
/// is `jwt_issuer`. A key written both ways in the file is refused; the environment and `.env` (always
/// flat) override either form.
fn flatten(merged: Map<String, Value>, files: &Files) -> Result<BTreeMap<String, Entry>, SettingsError> {
    let file_origin = || Origin::ConfigFile(files.config_file.clone().unwrap_or_default());
    let origin_of = |value: &Value| match value.origin() {
        Some(ENVIRONMENT_ORIGIN) => Origin::Environment,
        Some(ENV_FILE_ORIGIN) => Origin::EnvFile(files.env_file.clone().unwrap_or_default()),
        _ => file_origin(),
    };
    let mut flat = BTreeMap::new();
    let mut grouped = Vec::new();
    for (key, value) in merged {
        let key = key.to_ascii_lowercase();
        if let ValueKind::Table(table) = value.kind {
            for (inner, value) in table {
                let name = format!("{key}_{}", inner.to_ascii_lowercase());
                if matches!(value.kind, ValueKind::Table(_)) {
                    return Err(file_key_error(
                        files,
                        &format!("{key}.{inner}"),
                        "tables nest one level only",
                    ));
                }
                grouped.push((
                    name.clone(),
                    Entry { value: to_text(value, files, &name)?, origin: file_origin() },
                ));
            }
            continue;
        }
        let origin = origin_of(&value);
        flat.insert(key.clone(), Entry { value: to_text(value, files, &key)?, origin });
    }
    for (name, entry) in grouped {
        match flat.get(&name) {
            Some(existing) if matches!(existing.origin, Origin::ConfigFile(_)) => {
                let (group, rest) = name.split_once('_').unwrap_or((&name, ""));
                return Err(file_key_error(
                    files,
                    &name,
                    &format!("set twice, as `{name}` and as `{rest}` in `[{group}]`: keep one"),
                ));
            }
            Some(_) => {}
            None => {
                flat.insert(name, entry);
            }
        }
    }
    Ok(flat
        .into_iter()
        .filter(|(_, entry)| !entry.value.trim().is_empty())
        .map(|(name, entry)| (name.to_ascii_uppercase(), entry))
        .collect())
}

/// A value as the text the accessors parse: scalars as written, arrays joined with commas (so
/// `required_scopes = ["a", "b"]` reads like `MCP_AUTH_REQUIRED_SCOPES=a,b`).
fn to_text(value: Value, files: &Files, key: &str) -> Result<String, SettingsError> {
    match value.kind {
        ValueKind::Array(items) => {
            let items: Result<Vec<String>, SettingsError> =
                items.into_iter().map(|item| to_text(item, files, key)).collect();
            Ok(items?.join(","))
        }
        ValueKind::Table(_) => Err(file_key_error(files, key, "a table where a value was expected")),
        ValueKind::Nil => Ok(String::new()),
        _ => value.into_string().map_err(|_| file_key_error(files, key, "not a text, number or boolean")),
    }
}

fn file_key_error(files: &Files, key: &str, reason: &str) -> SettingsError {
    SettingsError::ConfigFile {
        path: files.config_file.clone().unwrap_or_default(),
        reason: format!("key `{key}`: {reason}"),
    }
}

/// A `.env` error by line number: dotenvy's own message quotes the line, which may hold a secret.
fn env_file_error(path: &Path, error: &dotenvy::Error) -> SettingsError {
    let reason = match error {
        dotenvy::Error::LineParse(line, _) => {
            let number = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.find(line.as_str()).map(|at| text[..at].matches('\n').count() + 1));
            match number {
                Some(number) => format!("line {number} is not `NAME=value` (quote values with spaces)"),
                None => "a line is not `NAME=value` (quote values with spaces)".to_owned(),
            }
        }
        dotenvy::Error::Io(err) => err.to_string(),
        _ => "not a valid .env file".to_owned(),
    };
    SettingsError::EnvFile { path: path.to_owned(), reason }
}

/// The value of the variable `var` in the `.env`-format file at `path`, if set there.
pub(super) fn env_file_value(path: &Path, var: &str) -> Result<Option<String>, SettingsError> {
    for item in dotenvy::from_path_iter(path).map_err(|err| env_file_error(path, &err))? {
        let (name, value) = item.map_err(|err| env_file_error(path, &err))?;
        if name == var && !value.is_empty() {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// A `.env`-format file as a `config` source, its values tagged with their origin.
#[derive(Clone)]
struct EnvFileSource {
    values: Map<String, Value>,
}

impl fmt::Debug for EnvFileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The values may be secrets.
        f.debug_struct("EnvFileSource").field("names", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

impl EnvFileSource {
    fn read(path: &Path) -> Result<Self, SettingsError> {
        let origin = ENV_FILE_ORIGIN.to_owned();
        let mut values = Map::new();
        for item in dotenvy::from_path_iter(path).map_err(|err| env_file_error(path, &err))? {
            let (name, value) = item.map_err(|err| env_file_error(path, &err))?;
            let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
            if !super::is_setting_name(key) {
                tracing::warn!(variable = %name, file = %path.display(), "ignored: a setting's name is upper-case letters, digits and _");
            } else if !value.trim().is_empty() {
                // A blank line in .env leaves the setting unset, as an empty environment variable does,
                // rather than hiding the TOML file's value.
                values.insert(key.to_ascii_lowercase(), Value::new(Some(&origin), ValueKind::String(value)));
            }
        }
        Ok(Self { values })
    }
}

impl Source for EnvFileSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
        Ok(self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::settings::{Origin, Settings, SettingsError};

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn environment_wins_over_env_file_which_wins_over_the_toml_file() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "mcp-auth.toml",
            "base_url = \"https://toml.example.com\"\nmcp_path = \"/toml\"\nrequired_scopes = [\"a\", \"b\"]\n\
             [jwt]\nissuer = \"https://id.example.com\"\naudience = \"toml-aud\"\n",
        );
        write(dir.path(), ".env", "MCP_AUTH_MCP_PATH=/dotenv\nMCP_AUTH_JWT_AUDIENCE=dotenv-aud\nOTHER=x\n");
        let settings =
            Settings::from_env_in(dir.path(), [("MCP_AUTH_JWT_AUDIENCE", "env-aud"), ("PATH", "/bin")])
                .unwrap();
        let toml = dir.path().join("mcp-auth.toml");
        let dotenv = dir.path().join(".env");
        assert_eq!(settings.string("BASE_URL").as_deref(), Some("https://toml.example.com"));
        assert_eq!(settings.origin("BASE_URL"), Some(&Origin::ConfigFile(toml.clone())));
        assert_eq!(settings.string("MCP_PATH").as_deref(), Some("/dotenv"));
        assert_eq!(settings.origin("MCP_PATH"), Some(&Origin::EnvFile(dotenv)));
        assert_eq!(settings.string("JWT_AUDIENCE").as_deref(), Some("env-aud"));
        assert_eq!(settings.origin("JWT_AUDIENCE"), Some(&Origin::Environment));
        assert_eq!(settings.string("JWT_ISSUER").as_deref(), Some("https://id.example.com"));
        assert_eq!(settings.scopes("REQUIRED_SCOPES").unwrap().unwrap(), ["a", "b"]);
        assert_eq!(settings.config_file(), Some(toml.as_path()));
        let names: Vec<&str> = settings.names().map(|(name, _)| name).collect();
        assert_eq!(names, ["BASE_URL", "JWT_AUDIENCE", "JWT_ISSUER", "MCP_PATH", "REQUIRED_SCOPES"]);
    }

    #[test]
    fn errors_name_the_file_key_or_the_variable_that_set_the_value() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "mcp-auth.toml", "[jwt]\nissuer = \"ftp://id.example.com\"\n");
        write(dir.path(), ".env", "MCP_AUTH_BASE_URL=\"not a url\"\n");
        let settings = Settings::from_env_in(dir.path(), [("MCP_AUTH_LISTEN", "nowhere")]).unwrap();
        let toml = dir.path().join("mcp-auth.toml");

        let err = settings.url("JWT_ISSUER", "https://login.example.com").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "`jwt_issuer` in {} is invalid: the scheme must be http or https \
                 (example: jwt_issuer = \"https://login.example.com\")",
                toml.display()
            )
        );
        let err = settings.url("BASE_URL", "https://mcp.example.com").unwrap_err().to_string();
        assert!(err.starts_with(&format!(
            "MCP_AUTH_BASE_URL (in {}) is invalid",
            dir.path().join(".env").display()
        )));
        assert!(!err.contains("not a url"), "the value is never echoed: {err}");
        let err = settings.parse::<std::net::SocketAddr>("LISTEN", "127.0.0.1:8000").unwrap_err().to_string();
        assert!(err.starts_with("MCP_AUTH_LISTEN is invalid: "), "{err}");
        assert!(err.ends_with("(example: MCP_AUTH_LISTEN=127.0.0.1:8000)"), "{err}");

        let err = settings.require_string("AUTHKIT_DOMAIN", "your-app.authkit.app").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "MCP_AUTH_AUTHKIT_DOMAIN is not set (example: MCP_AUTH_AUTHKIT_DOMAIN=your-app.authkit.app, \
                 or authkit_domain = \"your-app.authkit.app\" in {})",
                toml.display()
            )
        );
    }

    #[test]
    fn the_config_file_is_named_by_mcp_auth_config_from_the_environment_or_env_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "mcp-auth.toml", "mcp_path = \"/default\"\n");
        write(dir.path(), "prod.toml", "mcp_path = \"/prod\"\n");
        write(dir.path(), "dotenv.toml", "mcp_path = \"/dotenv\"\n");
        let named = Settings::from_env_in(dir.path(), [("MCP_AUTH_CONFIG", "prod.toml")]).unwrap();
        assert_eq!(named.string("MCP_PATH").as_deref(), Some("/prod"));
        assert_eq!(named.string("CONFIG"), Some("prod.toml".to_owned()));
        let default = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(default.string("MCP_PATH").as_deref(), Some("/default"));
        write(dir.path(), ".env", "MCP_AUTH_CONFIG=dotenv.toml\n");
        let from_env_file = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(from_env_file.string("MCP_PATH").as_deref(), Some("/dotenv"));

        let err = Settings::from_env_in(dir.path(), [("MCP_AUTH_CONFIG", "missing.toml")]).unwrap_err();
        assert!(matches!(err, SettingsError::ConfigFile { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("missing.toml")
                && text.contains("MCP_AUTH_CONFIG")
                && text.contains("no such file")
        );
    }

    #[test]
    fn keys_must_be_lower_case_names_so_no_layer_can_shadow_another_by_case() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [
            ("JWT_AUDIENCE = \"from-toml\"\n", "JWT_AUDIENCE"),
            ("\"redis_url[1000000000000]\" = \"x\"\n", "redis_url[1000000000000]"),
            ("\"jwt.issuer\" = \"x\"\n", "jwt.issuer"),
            ("[jwt]\nIssuer = \"x\"\n", "jwt.Issuer"),
        ] {
            write(dir.path(), "case.toml", text);
            let err = Settings::from_env_in(dir.path(), [("MCP_AUTH_CONFIG", "case.toml")])
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("key `{key}`: keys are lower-case")), "{text}: {err}");
        }
        // The same setting from the environment and the file: the environment wins, every time.
        write(dir.path(), "lower.toml", "jwt_audience = \"from-toml\"\n");
        for _ in 0..50 {
            let settings = Settings::from_env_in(
                dir.path(),
                [("MCP_AUTH_CONFIG", "lower.toml"), ("MCP_AUTH_JWT_AUDIENCE", "from-env")],
            )
            .unwrap();
            assert_eq!(settings.string("JWT_AUDIENCE").as_deref(), Some("from-env"));
        }
        // Names that are not [A-Z0-9_] are ignored, in the environment and in .env alike.
        write(dir.path(), ".env", "MCP_AUTH_JWT.ISSUER=https://dotenv.example.com\nMCP_AUTH_mcp_path=/x\n");
        let settings =
            Settings::from_env_in(dir.path(), [("MCP_AUTH_BASE.URL", "https://x"), ("MCP_AUTH_OK", "1")])
                .unwrap();
        let names: Vec<&str> = settings.names().map(|(name, _)| name).collect();
        assert_eq!(names, ["OK"]);
        std::fs::remove_file(dir.path().join(".env")).unwrap();
    }

    #[test]
    fn blank_values_are_unset_in_every_layer_and_never_hide_a_lower_one() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "mcp-auth.toml",
            "[jwt]\naudience = \"https://api.example.com\"\nissuer = \"https://id.example.com\"\n",
        );
        write(dir.path(), ".env", "MCP_AUTH_JWT_AUDIENCE=\nMCP_AUTH_JWT_ISSUER=\"   \"\n");
        let settings = Settings::from_env_in(dir.path(), [("MCP_AUTH_MCP_PATH", " ")]).unwrap();
        assert_eq!(settings.string("JWT_AUDIENCE").as_deref(), Some("https://api.example.com"));
        assert_eq!(settings.string("JWT_ISSUER").as_deref(), Some("https://id.example.com"));
        assert_eq!(settings.string("MCP_PATH"), None);
    }

    #[test]
    fn malformed_files_are_refused_by_line_and_key_without_echoing_values() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4";
        write(
            dir.path(),
            "broken.toml",
            &format!("base_url = \"https://a.example.com\"\nfernet_keys = \"{secret}\n"),
        );
        let err =
            Settings::from_env_in(dir.path(), [("MCP_AUTH_CONFIG", "broken.toml")]).unwrap_err().to_string();
        assert!(err.contains("not valid TOML at line 2"), "{err}");
        assert!(!err.contains(secret) && !err.contains("cw_0x"), "the line is never echoed: {err}");
        write(
            dir.path(),
            ".env",
            &format!("MCP_AUTH_BASE_URL=https://a.example.com\nMCP_AUTH_FERNET_KEYS='{secret}\n"),
        );
        let err = Settings::from_env_in(dir.path(), Vec::<(String, String)>::new()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("line 2 is not `NAME=value`"), "{text}");
        assert!(!text.contains("cw_0x"), "the line is never echoed: {text}");
        std::fs::remove_file(dir.path().join(".env")).unwrap();

        write(dir.path(), "deep.toml", "[jwt.keys]\nid = \"x\"\n");
        let err =
            Settings::from_env_in(dir.path(), [("MCP_AUTH_CONFIG", "deep.toml")]).unwrap_err().to_string();
        assert!(err.contains("key `jwt.keys`: tables nest one level only"), "{err}");

        write(
            dir.path(),
            "twice.toml",
            "jwt_issuer = \"https://a.example.com\"\n[jwt]\nissuer = \"https://b.example.com\"\n",
        );
        let err =
            Settings::from_env_in(dir.path(), [("MCP_AUTH_CONFIG", "twice.toml")]).unwrap_err().to_string();
        assert!(err.contains("set twice, as `jwt_issuer` and as `issuer` in `[jwt]`"), "{err}");
        // The environment overrides either form without a conflict.
        write(dir.path(), "grouped.toml", "[jwt]\nissuer = \"https://b.example.com\"\n");
        let settings = Settings::from_env_in(
            dir.path(),
            [("MCP_AUTH_CONFIG", "grouped.toml"), ("MCP_AUTH_JWT_ISSUER", "https://env.example.com")],
        )
        .unwrap();
        assert_eq!(settings.string("JWT_ISSUER").as_deref(), Some("https://env.example.com"));
    }
}
