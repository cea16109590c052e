//! [`ConfigError`]: why [`from_env`](crate::from_env) could not build the provider or the store.

use mcp_auth_core::report::chain;
use mcp_auth_core::settings::SettingsError;

/// Why [`from_env`](crate::from_env) could not build the provider or the store. Every message names the
/// variable or file key to change, or the component that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is missing or malformed, or a `.env` or TOML file is unusable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The setting asks for a part this build of mcp-auth leaves out.
    #[error("{setting} needs the `{feature}` feature of the mcp-auth crate (features = [\"{feature}\"])")]
    FeatureDisabled {
        /// The setting and the value that asks for the part (`MCP_AUTH_STORE=redis`).
        setting: &'static str,
        /// The cargo feature to turn on.
        feature: &'static str,
    },
    /// The provider rejected its settings.
    #[error("cannot build the `{provider}` provider: {detail}")]
    Provider {
        /// The `MCP_AUTH_PROVIDER` value.
        provider: &'static str,
        /// The error and its causes, joined (they name settings and files, never secrets).
        detail: String,
        /// The provider's own error, naming the setting.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store could not be opened.
    #[error("cannot open the `{store}` store (MCP_AUTH_STORE): {detail}")]
    Store {
        /// The `MCP_AUTH_STORE` value.
        store: &'static str,
        /// The error and its causes, joined.
        detail: String,
        /// The store's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ConfigError {
    pub(crate) fn provider(
        provider: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Provider { provider, detail: chain(&source), source: Box::new(source) }
    }

    #[cfg_attr(not(any(feature = "store-file", feature = "store-redis")), allow(dead_code))]
    pub(crate) fn store(store: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Store { store, detail: chain(&source), source: Box::new(source) }
    }
}
