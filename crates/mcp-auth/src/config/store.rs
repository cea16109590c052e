//! The store `MCP_AUTH_STORE` names, opened from its settings.

use std::sync::Arc;

use mcp_auth_core::settings::Settings;
use mcp_auth_core::store::{InstrumentedStore, KvStorage, MemoryStore};

use super::ConfigError;

/// Opens the store `MCP_AUTH_STORE` names (default `memory`): `file` in `MCP_AUTH_FILE_STORE_DIR`, `redis`
/// at `MCP_AUTH_REDIS_URL` (connected and answering), unencrypted: the caller wraps it. The backend is
/// wrapped in an [`InstrumentedStore`] labelled with its name, so every operation is counted and timed
/// (under any encryption wrapper: the metrics time the backend itself).
pub(crate) async fn open(settings: &Settings) -> Result<(&'static str, Arc<dyn KvStorage>), ConfigError> {
    let (name, store) = match settings.string("STORE").as_deref().map(str::trim) {
        None | Some("memory") => ("memory", Arc::new(MemoryStore::new()) as Arc<dyn KvStorage>),
        Some("file") => open_file(settings).await?,
        Some("redis") => open_redis(settings).await?,
        Some(_) => {
            return Err(settings.invalid("STORE", "expected one of memory, file, redis", "redis").into());
        }
    };
    Ok((name, Arc::new(InstrumentedStore::new(store, name))))
}

#[cfg(feature = "store-file")]
async fn open_file(settings: &Settings) -> Result<(&'static str, Arc<dyn KvStorage>), ConfigError> {
    let builder = mcp_auth_store_file::FileStore::from_settings(settings)?;
    let store = builder.open().await.map_err(|err| ConfigError::store("file", err))?;
    Ok(("file", Arc::new(store)))
}

#[cfg(not(feature = "store-file"))]
async fn open_file(_: &Settings) -> Result<(&'static str, Arc<dyn KvStorage>), ConfigError> {
    Err(ConfigError::FeatureDisabled { setting: "MCP_AUTH_STORE=file", feature: "file" })
}

#[cfg(feature = "store-redis")]
async fn open_redis(settings: &Settings) -> Result<(&'static str, Arc<dyn KvStorage>), ConfigError> {
    let builder = mcp_auth_store_redis::RedisStore::from_settings(settings);
    let store = builder.connect().await.map_err(|err| ConfigError::store("redis", err))?;
    Ok(("redis", Arc::new(store)))
}

#[cfg(not(feature = "store-redis"))]
async fn open_redis(_: &Settings) -> Result<(&'static str, Arc<dyn KvStorage>), ConfigError> {
    Err(ConfigError::FeatureDisabled { setting: "MCP_AUTH_STORE=redis", feature: "redis" })
}

/// `store` encrypted with the keys in `MCP_AUTH_FERNET_KEYS`, when set.
#[cfg(feature = "fernet")]
pub(crate) fn encrypted(
    settings: &Settings,
    store: Arc<dyn KvStorage>,
) -> Result<Arc<dyn KvStorage>, ConfigError> {
    if settings.string("FERNET_KEYS").is_none() {
        return Ok(store);
    }
    let keys = mcp_auth_fernet::FernetKey::from_settings(settings).map_err(|err| match err {
        mcp_auth_fernet::FernetError::Settings(err) => ConfigError::Settings(err),
        other => {
            ConfigError::Settings(settings.invalid("FERNET_KEYS", other.to_string(), "<44-character key>"))
        }
    })?;
    let wrapped = mcp_auth_fernet::FernetStore::new(store, keys).map_err(|err| {
        ConfigError::Settings(settings.invalid("FERNET_KEYS", err.to_string(), "<44-character key>"))
    })?;
    Ok(Arc::new(wrapped))
}

#[cfg(not(feature = "fernet"))]
pub(crate) fn encrypted(
    settings: &Settings,
    store: Arc<dyn KvStorage>,
) -> Result<Arc<dyn KvStorage>, ConfigError> {
    match settings.string("FERNET_KEYS") {
        None => Ok(store),
        Some(_) => Err(ConfigError::FeatureDisabled { setting: "MCP_AUTH_FERNET_KEYS", feature: "fernet" }),
    }
}
