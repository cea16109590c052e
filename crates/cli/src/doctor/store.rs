//! The store answers, and the Fernet keys decrypt a sample of what it holds.

use mcp_auth::settings::Settings;
use mcp_auth::store::fernet::FernetKey;
use mcp_auth::store::file::FileStore;
use mcp_auth::store::redis::RedisStore;

use super::{FERNET_SAMPLE, Finding, NETWORK_TIMEOUT, Report, set_hint};
use mcp_auth_core::report::chain;

/// Opens the store `MCP_AUTH_STORE` names and, when `keys` are given, tries them on a sample of its values.
pub(super) async fn check(settings: &Settings, keys: Option<&[FernetKey]>, report: &mut Report<'_>) {
    let store = settings.string("STORE").unwrap_or_else(|| "memory".to_owned());
    let sample: Vec<(String, Vec<u8>)> = match store.trim() {
        "redis" => match redis_sample(settings, report).await {
            Some(sample) => sample,
            None => return,
        },
        "file" => match file_sample(settings, report).await {
            Some(sample) => sample,
            None => return,
        },
        "memory" => {
            report.add(Finding::pass(
                "MCP_AUTH_STORE",
                "memory: state lives in this process only (one instance, lost on restart)",
            ));
            if keys.is_some() {
                report.add(Finding::pass(
                    "MCP_AUTH_FERNET_KEYS",
                    "the memory store starts empty: there is nothing stored to decrypt",
                ));
            }
            return;
        }
        // A value that is not a store was reported with the other values.
        _ => return,
    };
    let Some(keys) = keys else { return };
    let where_ = match store.trim() {
        "redis" => format!(
            "under the Redis prefix `{}`",
            settings.string("REDIS_PREFIX").unwrap_or_else(|| "mcp-auth".to_owned())
        ),
        _ => "in the file store".to_owned(),
    };
    if sample.is_empty() {
        report.add(Finding::pass(
            settings.describe("FERNET_KEYS"),
            format!(
                "nothing stored yet {where_}: no value to decrypt (note: checked again once there is state)"
            ),
        ));
        return;
    }
    let fernets: Vec<fernet::Fernet> =
        keys.iter().filter_map(|key| fernet::Fernet::new(key.expose_secret())).collect();
    let Some(multi) = (!fernets.is_empty()).then(|| fernet::MultiFernet::new(fernets)) else { return };
    let refused: Vec<&str> = sample
        .iter()
        .filter(|(_, value)| std::str::from_utf8(value).map_or(true, |token| multi.decrypt(token).is_err()))
        .map(|(name, _)| name.as_str())
        .collect();
    if refused.is_empty() {
        report.add(Finding::pass(
            settings.describe("FERNET_KEYS"),
            format!("{} stored value(s) sampled {where_} decrypt", sample.len()),
        ));
    } else {
        let shown: Vec<&str> = refused.iter().copied().take(3).collect();
        report.add(Finding::fail(
            settings.describe("FERNET_KEYS"),
            format!(
                "{} of {} stored value(s) sampled {where_} do not decrypt with any configured key (e.g. {})",
                refused.len(),
                sample.len(),
                shown.join(", ")
            ),
            "put the key they were written with back in MCP_AUTH_FERNET_KEYS (after the newest), or delete the \
             values if that key is lost",
        ));
    }
}

async fn redis_sample(settings: &Settings, report: &mut Report<'_>) -> Option<Vec<(String, Vec<u8>)>> {
    let subject = settings.describe("REDIS_URL");
    let builder = RedisStore::from_settings(settings)
        .connect_timeout(NETWORK_TIMEOUT)
        .response_timeout(NETWORK_TIMEOUT)
        .reconnect_attempts(0);
    let connected = tokio::time::timeout(NETWORK_TIMEOUT * 2, builder.connect()).await;
    let store = match connected {
        Ok(Ok(store)) => store,
        Ok(Err(err)) => {
            report.add(Finding::fail(
                subject,
                format!("Redis does not answer: {}", mask(settings, &chain(&err))),
                format!("start Redis, or {}", set_hint(settings, "REDIS_URL")),
            ));
            return None;
        }
        Err(_) => {
            report.add(Finding::fail(
                subject,
                format!("Redis did not answer within {} s", (NETWORK_TIMEOUT * 2).as_secs()),
                format!("start Redis, or {}", set_hint(settings, "REDIS_URL")),
            ));
            return None;
        }
    };
    if let Err(err) = store.ping().await {
        report.add(Finding::fail(
            subject,
            format!("Redis does not answer PING: {}", mask(settings, &chain(&err))),
            format!("start Redis, or {}", set_hint(settings, "REDIS_URL")),
        ));
        return None;
    }
    report.add(Finding::pass(
        subject.clone(),
        format!("Redis answers PING; keys under `{}:`", store.key_prefix()),
    ));
    match store.sample_values(FERNET_SAMPLE).await {
        Ok(sample) => Some(sample),
        Err(err) => {
            report.add(Finding::fail(
                subject,
                format!("cannot read the stored values: {}", mask(settings, &chain(&err))),
                "check that the Redis user may SCAN and GET the keys under MCP_AUTH_REDIS_PREFIX",
            ));
            None
        }
    }
}

async fn file_sample(settings: &Settings, report: &mut Report<'_>) -> Option<Vec<(String, Vec<u8>)>> {
    let builder = match FileStore::from_settings(settings) {
        Ok(builder) => builder,
        Err(err) => {
            report.add(Finding::fail(
                "MCP_AUTH_FILE_STORE_DIR",
                err.to_string(),
                set_hint(settings, "FILE_STORE_DIR"),
            ));
            return None;
        }
    };
    let subject = settings.describe("FILE_STORE_DIR");
    let store = match builder.sweep_interval(None).open().await {
        Ok(store) => store,
        Err(err) => {
            report.add(Finding::fail(
                subject,
                format!("cannot open the file store: {}", chain(&err)),
                "create the directory, owned by the server's user and not readable by others (chmod 700)",
            ));
            return None;
        }
    };
    report.add(Finding::pass(subject.clone(), format!("the file store opens in {}", store.root().display())));
    match store.sample_values(FERNET_SAMPLE).await {
        Ok(sample) => {
            Some(sample.into_iter().map(|(path, value)| (path.display().to_string(), value)).collect())
        }
        Err(err) => {
            report.add(Finding::fail(
                subject,
                format!("cannot read the stored values: {}", chain(&err)),
                "check the directory's permissions",
            ));
            None
        }
    }
}

/// `text` with the Redis URL's password (if any) masked, in case an error repeats the URL.
fn mask(settings: &Settings, text: &str) -> String {
    let password = settings
        .string("REDIS_URL")
        .and_then(|url| url::Url::parse(url.trim()).ok())
        .and_then(|url| url.password().map(str::to_owned))
        .filter(|password| !password.is_empty());
    match password {
        Some(password) => text.replace(&password, "***"),
        None => text.to_owned(),
    }
}
