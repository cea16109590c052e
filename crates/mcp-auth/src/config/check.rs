//! Checks every setting against the [catalog](super::catalog) before anything is built: a value of the
//! wrong kind is refused naming its variable or file key, an unknown key in the TOML file is refused
//! (with the nearest known key), and an unknown `MCP_AUTH_*` variable is logged.

use std::net::SocketAddr;

use mcp_auth_core::settings::{Origin, Settings, SettingsError};

use super::catalog::{self, Kind, Variable};

/// Checks every setting that is set.
pub(crate) fn check(settings: &Settings) -> Result<(), SettingsError> {
    for (name, _) in settings.names() {
        if check_setting(settings, name)?.is_some() {
            let hint = nearest(name).map(Variable::var).unwrap_or_default();
            tracing::warn!(
                variable = %Settings::var_name(name),
                did_you_mean = %hint,
                "unknown mcp-auth setting, ignored"
            );
        }
    }
    Ok(())
}

/// Checks the setting `name` (without the `MCP_AUTH_` prefix) the way
/// [`McpAuth::from_settings`](crate::McpAuth::from_settings) does before building anything: its value
/// against its kind in the [catalog](super::catalog), and that the TOML file may set it.
///
/// `Ok(None)` when it is fine or unset; `Ok(Some(warning))` for an unknown `MCP_AUTH_*` variable from the
/// environment or `.env`, which is ignored (the warning names the nearest known variable); `Err` naming
/// the variable or file key for a value that is refused, or an unknown key in the TOML file.
///
/// # Errors
///
/// The [`SettingsError`] `from_settings` would fail with for this setting.
///
/// # Examples
///
/// ```
/// use mcp_auth::config::check_setting;
/// use mcp_auth::settings::Settings;
///
/// let settings = Settings::from_pairs([("MCP_AUTH_STORE", "postgres"), ("MCP_AUTH_JWT_ISUER", "x")]);
/// assert!(check_setting(&settings, "STORE").unwrap_err().to_string().contains("MCP_AUTH_STORE"));
/// assert!(check_setting(&settings, "JWT_ISUER").unwrap().unwrap().contains("MCP_AUTH_JWT_ISSUER"));
/// ```
pub fn check_setting(settings: &Settings, name: &str) -> Result<Option<String>, SettingsError> {
    match catalog::variable(name) {
        Some(variable) => {
            if let Some(Origin::ConfigFile(path)) = settings.origin(name)
                && !variable.in_file
            {
                return Err(SettingsError::ConfigFile {
                    path: path.clone(),
                    reason: format!(
                        "key `{}`: set {} in the environment instead",
                        variable.key(),
                        variable.var()
                    ),
                });
            }
            check_value(settings, variable)?;
            Ok(None)
        }
        None => match settings.origin(name) {
            Some(Origin::ConfigFile(path)) => {
                let key = Settings::file_key(name);
                let hint = nearest(name)
                    .map(|known| format!(" (did you mean `{}`?)", known.key()))
                    .unwrap_or_default();
                Err(SettingsError::ConfigFile {
                    path: path.clone(),
                    reason: format!("unknown key `{key}`{hint}; docs/configuration.md lists every key"),
                })
            }
            Some(_) => {
                let hint = nearest(name)
                    .map(|known| format!(" (did you mean {}?)", known.var()))
                    .unwrap_or_default();
                Ok(Some(format!("unknown mcp-auth setting, ignored{hint}")))
            }
            None => Ok(None),
        },
    }
}

fn check_value(settings: &Settings, variable: &Variable) -> Result<(), SettingsError> {
    let name = variable.name;
    let example = variable.example;
    let Some(value) = settings.string(name) else { return Ok(()) };
    let value = value.trim();
    match variable.kind {
        Kind::OneOf(words) => {
            if !words.contains(&value) {
                return Err(settings.invalid(name, format!("expected one of {}", words.join(", ")), example));
            }
        }
        Kind::Url => {
            settings.url(name, example)?;
        }
        Kind::Path => {
            if !value.starts_with('/') {
                return Err(settings.invalid(name, "a path must start with /", example));
            }
        }
        Kind::Scopes => {
            settings.scopes(name)?;
        }
        Kind::List => {
            if value.split(',').all(|item| item.trim().is_empty()) {
                return Err(settings.invalid(name, "the list is empty", example));
            }
        }
        Kind::SocketAddr => {
            settings.parse::<SocketAddr>(name, example)?;
        }
        Kind::Port => {
            settings.parse::<u16>(name, example)?;
        }
        Kind::Bool => {
            settings.bool(name)?;
        }
        Kind::Secret | Kind::FilePath | Kind::Text => {}
    }
    Ok(())
}

/// The known setting nearest to `name` by edit distance, when it is near enough to be a typo.
fn nearest(name: &str) -> Option<&'static Variable> {
    catalog::VARIABLES
        .iter()
        .map(|variable| (edit_distance(name, variable.name), variable))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, variable)| variable)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(nearest("JWT_ISUER").map(|v| v.name), Some("JWT_ISSUER"));
        assert_eq!(nearest("BASEURL").map(|v| v.name), Some("BASE_URL"));
        assert!(nearest("SOMETHING_ELSE_ENTIRELY").is_none());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn each_kind_is_checked_and_the_error_names_the_variable() {
        let cases = [
            ("PROVIDER", "keycloak", "expected one of authkit, workos, jwt"),
            ("STORE", "postgres", "expected one of memory, file, redis"),
            ("BASE_URL", "mcp.example.com", "MCP_AUTH_BASE_URL is invalid"),
            ("MCP_PATH", "mcp", "a path must start with /"),
            ("REQUIRED_SCOPES", "[1]", "MCP_AUTH_REQUIRED_SCOPES is invalid"),
            ("JWT_ALGORITHMS", " , ", "the list is empty"),
            ("LISTEN", "localhost", "MCP_AUTH_LISTEN is invalid"),
            ("DEV_IDP_PORT", "99999", "MCP_AUTH_DEV_IDP_PORT is invalid"),
            ("DEV_IDP_AUTO_APPROVE", "maybe", "expected true or false"),
        ];
        for (name, value, expected) in cases {
            let settings = Settings::from_pairs([(Settings::var_name(name), value)]);
            let err = check(&settings).expect_err(name).to_string();
            assert!(err.contains(expected), "{name}: {err}");
            assert!(err.contains(&Settings::var_name(name)), "{name}: {err}");
        }
        let fine = Settings::from_pairs([
            ("MCP_AUTH_PROVIDER", "jwt"),
            ("MCP_AUTH_BASE_URL", "https://mcp.example.com"),
            ("MCP_AUTH_LISTEN", "0.0.0.0:8000"),
            ("MCP_AUTH_SOMETHING_UNKNOWN", "is only logged"),
        ]);
        check(&fine).unwrap();
    }
}
