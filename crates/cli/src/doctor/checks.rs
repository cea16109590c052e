//! The offline checks: values, required settings, URLs, keys, and building the provider.

use mcp_auth::config::{catalog, check_setting};
use mcp_auth::jwt::SigningKey;
use mcp_auth::resource::ResourceUrl;
use mcp_auth::settings::Settings;
use mcp_auth::store::fernet::FernetKey;

use super::{Finding, NETWORK_TIMEOUT, Report, set_hint};

/// Every setting that is set, against the catalog.
pub(super) fn values(settings: &Settings, report: &mut Report<'_>) {
    let names: Vec<String> = settings.names().map(|(name, _)| name.to_owned()).collect();
    for name in names {
        let subject = settings.describe(&name);
        match check_setting(settings, &name) {
            Ok(None) => {
                let kind =
                    catalog::variable(&name).map(|variable| variable.kind.to_string()).unwrap_or_default();
                report.add(Finding::pass(subject, format!("set ({})", kind.replace("\\|", "|"))));
            }
            Ok(Some(warning)) => report.add(Finding::warn(
                subject,
                warning,
                "remove it, or correct its name (docs/configuration.md lists every variable)",
            )),
            Err(err) => {
                report.add(Finding::fail(subject, err.to_string(), fix_for(settings, &name)));
            }
        }
    }
}

/// The fix for a value of `name` that was refused.
fn fix_for(settings: &Settings, name: &str) -> String {
    match catalog::variable(name) {
        Some(variable) => {
            format!("{} (takes: {})", set_hint(settings, name), variable.kind.to_string().replace("\\|", "|"))
        }
        None => "remove the key, or correct its name (docs/configuration.md lists every key)".to_owned(),
    }
}

/// `MCP_AUTH_PROVIDER`, when it names a known provider.
pub(super) fn provider(settings: &Settings, report: &mut Report<'_>) -> Option<&'static str> {
    let Some(value) = settings.string("PROVIDER") else {
        report.add(Finding::fail(
            "MCP_AUTH_PROVIDER",
            "not set: the server does not know which provider to build",
            "set MCP_AUTH_PROVIDER=authkit (WorkOS AuthKit), workos (the OAuth proxy in front of AuthKit) or jwt \
             (any JWT issuer)",
        ));
        return None;
    };
    // A value that is not a provider was reported with the other values.
    let found = catalog::PROVIDERS.iter().copied().find(|known| *known == value.trim());
    if let Some(provider) = found {
        report.add(Finding::pass(settings.describe("PROVIDER"), format!("provider `{provider}`")));
    }
    found
}

/// The settings `provider` cannot do without.
pub(super) fn required(settings: &Settings, provider: &str, report: &mut Report<'_>) {
    let mut names = vec!["BASE_URL"];
    names.extend_from_slice(match provider {
        "authkit" => &["AUTHKIT_DOMAIN"][..],
        "workos" => &["AUTHKIT_DOMAIN", "WORKOS_CLIENT_ID", "WORKOS_CLIENT_SECRET"][..],
        "jwt" => &["JWT_ISSUER"][..],
        _ => &[][..],
    });
    for name in names {
        if settings.string(name).is_none() {
            report.add(Finding::fail(
                Settings::var_name(name),
                format!("not set, and MCP_AUTH_PROVIDER={provider} needs it"),
                set_hint(settings, name),
            ));
        }
    }
}

/// The resource URL, the redirect URL (proxy) and the audience agree.
pub(super) fn urls(settings: &Settings, provider: &str, report: &mut Report<'_>) {
    let Some(base) = settings.string("BASE_URL") else { return };
    let mcp_path = settings.string("MCP_PATH").unwrap_or_else(|| "/mcp".to_owned());
    let resource = match ResourceUrl::new(&base, &mcp_path) {
        Ok(resource) => resource,
        Err(err) => {
            let name = if err.to_string().contains("path") { "MCP_PATH" } else { "BASE_URL" };
            report.add(Finding::fail(
                settings.describe(name),
                format!("the resource URL cannot be made: {err}"),
                format!(
                    "{} (https, or http on loopback only; no query, fragment or credentials)",
                    set_hint(settings, name)
                ),
            ));
            return;
        }
    };
    report.add(Finding::pass("resource URL", format!("{} (BASE_URL + MCP_PATH)", resource.as_str())));
    if provider == "workos" {
        let redirect_path = settings.string("REDIRECT_PATH").unwrap_or_else(|| "/auth/callback".to_owned());
        let redirect_path = redirect_path.trim();
        let redirect = format!("{}{}{}", resource.origin(), resource.prefix(), redirect_path);
        let mcp = resource.path();
        let under_mcp = redirect_path.starts_with('/')
            && (format!("{}{}", resource.prefix(), redirect_path) == mcp
                || format!("{}{}", resource.prefix(), redirect_path).starts_with(&format!("{mcp}/")));
        if under_mcp {
            report.add(Finding::fail(
                settings.describe("REDIRECT_PATH"),
                format!(
                    "the redirect URL {redirect} is the MCP endpoint {} or under it: the bearer check would refuse \
                     AuthKit's callback, which carries no token",
                    resource.as_str()
                ),
                "set MCP_AUTH_REDIRECT_PATH to a path outside MCP_AUTH_MCP_PATH, such as /auth/callback, and register \
                 <BASE_URL>/auth/callback in WorkOS",
            ));
        } else {
            report.add(Finding::pass(
                "redirect URL",
                format!("{redirect}: register exactly this URL as a redirect URI in WorkOS"),
            ));
        }
    }
    if provider == "jwt"
        && let Some(audience) = settings.string("JWT_AUDIENCE")
        && audience.trim() != resource.as_str()
    {
        report.add(Finding::warn(
            settings.describe("JWT_AUDIENCE"),
            format!("tokens must carry this audience, not the resource URL {}", resource.as_str()),
            "unset MCP_AUTH_JWT_AUDIENCE unless your authorization server names APIs by another identifier",
        ));
    }
}

/// `MCP_AUTH_JWT_SIGNING_KEY` (and the previous key) load.
pub(super) fn signing_key(settings: &Settings, provider: Option<&str>, report: &mut Report<'_>) {
    for (name, load) in [
        ("JWT_SIGNING_KEY", SigningKey::from_settings as fn(&Settings) -> _),
        ("JWT_PREVIOUS_SIGNING_KEY", SigningKey::previous_from_settings),
    ] {
        match load(settings) {
            Ok(Some(key)) => report.add(Finding::pass(
                settings.describe(name),
                format!("{:?} key, kid `{}`", key.algorithm(), key.kid()),
            )),
            Ok(None) if name == "JWT_SIGNING_KEY" && provider == Some("workos") => {
                let detail = "not set: the proxy signs with a new key at each start, so its tokens die with the process";
                let fix = "set MCP_AUTH_JWT_SIGNING_KEY to the output of `mcp-auth keygen jwt`, the same on every instance";
                if persistent_store(settings) {
                    report.add(Finding::fail(
                        Settings::var_name(name),
                        format!(
                            "{detail}, and the `{}` store outlives it: the server refuses to start",
                            store_name(settings)
                        ),
                        fix,
                    ));
                } else {
                    report.add(Finding::warn(Settings::var_name(name), detail, fix));
                }
            }
            Ok(None) => {}
            Err(err) => report.add(Finding::fail(
                settings.describe(name),
                err.to_string(),
                format!(
                    "set {} to the output of `mcp-auth keygen jwt` (or `--alg es256`)",
                    Settings::var_name(name)
                ),
            )),
        }
    }
}

/// `MCP_AUTH_FERNET_KEYS` parse; the keys, when they do.
pub(super) fn fernet_keys(
    settings: &Settings,
    provider: Option<&str>,
    report: &mut Report<'_>,
) -> Option<Vec<FernetKey>> {
    if settings.string("FERNET_KEYS").is_none() {
        if provider == Some("workos") && persistent_store(settings) {
            report.add(Finding::fail(
                "MCP_AUTH_FERNET_KEYS",
                format!(
                    "not set, and the proxy keeps its state in the `{}` store, which outlives the process: the server \
                     refuses to start",
                    store_name(settings)
                ),
                "set MCP_AUTH_FERNET_KEYS to the output of `mcp-auth keygen fernet`, the same on every instance",
            ));
        } else if provider == Some("workos") || persistent_store(settings) {
            report.add(Finding::warn(
                "MCP_AUTH_FERNET_KEYS",
                "not set: the proxy encrypts its state with a new key at each start, and McpAuth::store() \
                 values are stored unencrypted",
                "set MCP_AUTH_FERNET_KEYS to the output of `mcp-auth keygen fernet`, the same on every instance",
            ));
        }
        return None;
    }
    match FernetKey::from_settings(settings) {
        Ok(keys) => {
            report
                .add(Finding::pass(settings.describe("FERNET_KEYS"), format!("{} key(s) parse", keys.len())));
            Some(keys)
        }
        Err(err) => {
            report.add(Finding::fail(
                settings.describe("FERNET_KEYS"),
                err.to_string(),
                "set MCP_AUTH_FERNET_KEYS to the output of `mcp-auth keygen fernet` (newest first, comma-separated)",
            ));
            None
        }
    }
}

/// Builds the provider and store as the server does.
pub(super) async fn build(settings: &Settings, report: &mut Report<'_>) {
    let built = tokio::time::timeout(NETWORK_TIMEOUT * 2, mcp_auth::McpAuth::from_settings(settings)).await;
    match built {
        Ok(Ok(auth)) => report.add(Finding::pass(
            "server",
            format!(
                "the `{}` provider builds over the `{}` store; protected resource {}",
                auth.provider().name(),
                auth.store_name(),
                auth.resource().as_str()
            ),
        )),
        Ok(Err(err)) => report.add(Finding::fail(
            "server",
            format!("the server would not start: {err}"),
            "change the setting the message names",
        )),
        Err(_) => report.add(Finding::fail(
            "server",
            format!("building the provider took more than {} s", (NETWORK_TIMEOUT * 2).as_secs()),
            "check that the authorization server and the store answer (see the lines below)",
        )),
    }
}

/// `MCP_AUTH_STORE`, trimmed (`memory` when unset).
fn store_name(settings: &Settings) -> String {
    settings.string("STORE").map_or_else(|| "memory".to_owned(), |store| store.trim().to_owned())
}

/// Whether `MCP_AUTH_STORE` names a store that outlives the process.
fn persistent_store(settings: &Settings) -> bool {
    matches!(store_name(settings).as_str(), "file" | "redis")
}
