//! Configuration from the environment: [`McpAuth::from_env`] builds the provider `MCP_AUTH_PROVIDER` names
//! over the store `MCP_AUTH_STORE` names, from variables, a `.env` file and an optional `mcp-auth.toml`.
//!
//! Every setting is listed once, in [`catalog::VARIABLES`](crate::config::catalog::VARIABLES);
//! `docs/configuration.md` is generated from that table ([`reference`](crate::config::reference)) and a
//! test keeps the two equal.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::settings::{Settings, SettingsError};
use mcp_auth_core::store::KvStorage;
use mcp_auth_core::{BearerAuthLayer, TokenVerifier};

pub mod catalog;
mod check;
mod error;
mod jwt;
mod reference;
mod store;

pub use check::check_setting;
pub use error::ConfigError;
pub use reference::reference;

/// The address served when `MCP_AUTH_LISTEN` is unset.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8000);

/// The provider [`McpAuth`] built.
#[derive(Debug)]
#[non_exhaustive]
pub enum Provider {
    /// `MCP_AUTH_PROVIDER=authkit`: remote auth with WorkOS AuthKit.
    #[cfg(feature = "workos")]
    AuthKit(mcp_auth_workos::AuthKitProvider),
    /// `MCP_AUTH_PROVIDER=workos`: the OAuth proxy in front of AuthKit.
    #[cfg(feature = "workos")]
    WorkOS(mcp_auth_workos::WorkOSProvider),
    /// `MCP_AUTH_PROVIDER=jwt`: remote auth with any authorization server that issues JWTs.
    Jwt(mcp_auth_remote::RemoteAuthProvider),
}

impl Provider {
    /// The `MCP_AUTH_PROVIDER` value that builds this provider.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "workos")]
            Self::AuthKit(_) => "authkit",
            #[cfg(feature = "workos")]
            Self::WorkOS(_) => "workos",
            Self::Jwt(_) => "jwt",
        }
    }
}

/// A provider and store built from configuration: mount [`router`](Self::router) and put
/// [`bearer_layer`](Self::bearer_layer) on the MCP endpoint, or let [`protect`](Self::protect) do both.
///
/// # Examples
///
/// ```no_run
/// use axum::Router;
///
/// # async fn run(mcp_service: Router) -> Result<(), Box<dyn std::error::Error>> {
/// // MCP_AUTH_PROVIDER=jwt, MCP_AUTH_JWT_ISSUER, MCP_AUTH_BASE_URL ... from the environment, .env or
/// // mcp-auth.toml.
/// let auth = mcp_auth::from_env().await?;
/// let app = auth.protect(Router::new().nest_service(auth.resource().path(), mcp_service));
/// let listener = mcp_auth::serve::bind(auth.listen_addr()).await?;
/// axum::serve(listener, app).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct McpAuth {
    provider: Provider,
    store_name: &'static str,
    store: Arc<dyn KvStorage>,
    listen: SocketAddr,
}

impl McpAuth {
    /// Builds from the process environment, `./.env` and the TOML file (`MCP_AUTH_CONFIG`, else
    /// `./mcp-auth.toml` when present); the environment wins over `.env`, which wins over the file.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the variable or file key to change.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_env()?).await
    }

    /// Builds from `settings` (see [`Settings::from_pairs`] and [`Settings::from_env_in`] for tests).
    ///
    /// Every setting is checked against [`catalog::VARIABLES`] first: a malformed value or an unknown key
    /// in the TOML file is refused, an unknown `MCP_AUTH_*` variable is logged. Then the store is opened and
    /// the provider built:
    ///
    /// - `authkit`: [`AuthKitProvider`](mcp_auth_workos::AuthKitProvider) from `MCP_AUTH_AUTHKIT_DOMAIN`;
    /// - `workos`: [`WorkOSProvider`](mcp_auth_workos::WorkOSProvider) over the store (the proxy encrypts its
    ///   state with `MCP_AUTH_FERNET_KEYS` itself), reading AuthKit's metadata once;
    /// - `jwt`: a [`JwtVerifier`](mcp_auth_jwt::JwtVerifier) for `MCP_AUTH_JWT_ISSUER` inside a
    ///   [`RemoteAuthProvider`](mcp_auth_remote::RemoteAuthProvider) whose metadata names the issuer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the variable or file key to change, the part a disabled feature leaves out,
    /// or the store or provider that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth::settings::Settings;
    ///
    /// # tokio_test_block_on(async {
    /// let settings = Settings::from_pairs([
    ///     ("MCP_AUTH_PROVIDER", "jwt"),
    ///     ("MCP_AUTH_JWT_ISSUER", "https://login.example.com/realms/main"),
    ///     ("MCP_AUTH_BASE_URL", "https://mcp.example.com"),
    /// ]);
    /// let auth = mcp_auth::McpAuth::from_settings(&settings).await?;
    /// assert_eq!(auth.resource().as_str(), "https://mcp.example.com/mcp");
    ///
    /// let missing = Settings::from_pairs([("MCP_AUTH_PROVIDER", "jwt"), ("MCP_AUTH_BASE_URL", "https://mcp.example.com")]);
    /// let err = mcp_auth::McpAuth::from_settings(&missing).await.unwrap_err();
    /// assert!(err.to_string().starts_with("MCP_AUTH_JWT_ISSUER is not set"));
    /// # Ok::<(), mcp_auth::config::ConfigError>(())
    /// # }).unwrap();
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        check::check(settings)?;
        let provider_name = settings.require_string("PROVIDER", "authkit")?;
        let provider_name =
            catalog::PROVIDERS.iter().copied().find(|known| *known == provider_name.trim()).ok_or_else(
                || settings.invalid("PROVIDER", "expected one of authkit, workos, jwt", "authkit"),
            )?;
        require_for(settings, provider_name)?;
        let listen = settings.parse::<SocketAddr>("LISTEN", "127.0.0.1:8000")?.unwrap_or(DEFAULT_LISTEN);
        let (store_name, raw_store) = store::open(settings).await?;
        let store = store::encrypted(settings, Arc::clone(&raw_store))?;
        let provider = build_provider(settings, provider_name, raw_store).await?;
        tracing::info!(
            provider = provider_name,
            store = store_name,
            encrypted = settings.string("FERNET_KEYS").is_some(),
            resource = %resource_of(&provider),
            "mcp-auth configured"
        );
        Ok(Self { provider, store_name, store, listen })
    }

    /// The provider that was built.
    #[must_use]
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The canonical resource URL: base URL and MCP path.
    #[must_use]
    pub fn resource(&self) -> &ResourceUrl {
        resource_of(&self.provider)
    }

    /// The verifier the bearer layer uses (audience, scopes and all).
    #[must_use]
    pub fn verifier(&self) -> Arc<dyn TokenVerifier> {
        match &self.provider {
            #[cfg(feature = "workos")]
            Provider::AuthKit(provider) => provider.remote().verifier(),
            #[cfg(feature = "workos")]
            Provider::WorkOS(provider) => provider.proxy().verifier(),
            Provider::Jwt(provider) => provider.verifier(),
        }
    }

    /// The bearer layer for the MCP endpoint.
    pub fn bearer_layer(&self) -> BearerAuthLayer {
        match &self.provider {
            #[cfg(feature = "workos")]
            Provider::AuthKit(provider) => provider.bearer_layer(),
            #[cfg(feature = "workos")]
            Provider::WorkOS(provider) => provider.bearer_layer(),
            Provider::Jwt(provider) => provider.bearer_layer(),
        }
    }

    /// The routes to mount at the root: discovery metadata, and for the proxy its OAuth endpoints.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        match &self.provider {
            #[cfg(feature = "workos")]
            Provider::AuthKit(provider) => provider.router(),
            #[cfg(feature = "workos")]
            Provider::WorkOS(provider) => provider.router(),
            Provider::Jwt(provider) => provider.metadata_router(),
        }
    }

    /// Puts the bearer layer on `mcp_routes` (your MCP endpoint) and merges [`router`](Self::router).
    pub fn protect<S: Clone + Send + Sync + 'static>(&self, mcp_routes: Router<S>) -> Router<S> {
        mcp_routes.layer(self.bearer_layer()).merge(self.router())
    }

    /// The store `MCP_AUTH_STORE` names, encrypted with `MCP_AUTH_FERNET_KEYS` when set, for the
    /// application's own state.
    #[must_use]
    pub fn store(&self) -> Arc<dyn KvStorage> {
        Arc::clone(&self.store)
    }

    /// The `MCP_AUTH_STORE` value in use (`memory` when unset).
    #[must_use]
    pub fn store_name(&self) -> &'static str {
        self.store_name
    }

    /// `MCP_AUTH_LISTEN`, or 127.0.0.1:8000.
    #[must_use]
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }
}

/// The settings each provider cannot do without, checked up front so the error names the variable (or
/// file key) rather than a builder method.
fn require_for(settings: &Settings, provider: &str) -> Result<(), ConfigError> {
    settings.require_url("BASE_URL", "https://mcp.example.com")?;
    let required: &[(&str, &str)] = match provider {
        "authkit" => &[("AUTHKIT_DOMAIN", "your-app.authkit.app")],
        "workos" => &[
            ("AUTHKIT_DOMAIN", "your-app.authkit.app"),
            ("WORKOS_CLIENT_ID", "client_01H..."),
            ("WORKOS_CLIENT_SECRET", "sk_live_..."),
        ],
        "jwt" => &[("JWT_ISSUER", "https://login.example.com/realms/main")],
        _ => &[],
    };
    for (name, example) in required {
        settings.require_string(name, example)?;
    }
    // The proxy over a store that outlives the process (or is shared by instances) needs keys that do too:
    // with keys made at each start, its state would be unreadable after a restart (and stay so, blocking
    // every start, until removed by hand) and each instance would refuse the others' tokens.
    let store = settings.string("STORE");
    if provider == "workos" && matches!(store.as_deref().map(str::trim), Some("file" | "redis")) {
        for (name, what) in [
            ("FERNET_KEYS", "Fernet keys (32 random bytes, URL-safe base64)"),
            ("JWT_SIGNING_KEY", "a signing key (32+ random characters, or a PEM key)"),
        ] {
            if settings.string(name).is_none() {
                return Err(SettingsError::Conflict {
                    setting: Settings::var_name(name),
                    reason: format!(
                        "MCP_AUTH_PROVIDER=workos keeps its state in the `{}` store (MCP_AUTH_STORE), which outlives the \
                         process: set {what}, the same on every instance, or keys made at each start would leave that \
                         state unreadable after a restart",
                        store.as_deref().unwrap_or_default().trim()
                    ),
                }
                .into());
            }
        }
    }
    Ok(())
}

async fn build_provider(
    settings: &Settings,
    name: &'static str,
    store: Arc<dyn KvStorage>,
) -> Result<Provider, ConfigError> {
    match name {
        #[cfg(feature = "workos")]
        "authkit" => {
            let builder = mcp_auth_workos::AuthKitProvider::builder()
                .settings(settings)
                .map_err(|err| ConfigError::provider(name, err))?;
            Ok(Provider::AuthKit(builder.build().map_err(|err| ConfigError::provider(name, err))?))
        }
        #[cfg(feature = "workos")]
        "workos" => {
            let builder = mcp_auth_workos::WorkOSProvider::builder()
                .settings(settings)
                .map_err(|err| ConfigError::provider(name, err))?
                .store(store);
            Ok(Provider::WorkOS(builder.build().await.map_err(|err| ConfigError::provider(name, err))?))
        }
        "jwt" => Ok(Provider::Jwt(jwt::provider(settings)?)),
        #[cfg(not(feature = "workos"))]
        "authkit" => {
            drop(store);
            Err(ConfigError::FeatureDisabled { setting: "MCP_AUTH_PROVIDER=authkit", feature: "workos" })
        }
        #[cfg(not(feature = "workos"))]
        "workos" => {
            Err(ConfigError::FeatureDisabled { setting: "MCP_AUTH_PROVIDER=workos", feature: "workos" })
        }
        _ => Err(settings.invalid("PROVIDER", "expected one of authkit, workos, jwt", "authkit").into()),
    }
}

fn resource_of(provider: &Provider) -> &ResourceUrl {
    match provider {
        #[cfg(feature = "workos")]
        Provider::AuthKit(provider) => provider.resource(),
        #[cfg(feature = "workos")]
        Provider::WorkOS(provider) => provider.proxy().resource(),
        Provider::Jwt(provider) => provider.resource(),
    }
}

/// Builds the provider and store from the environment, `.env` and `mcp-auth.toml`:
/// [`McpAuth::from_env`].
///
/// # Errors
///
/// A [`ConfigError`] naming the variable or file key to change.
pub async fn from_env() -> Result<McpAuth, ConfigError> {
    McpAuth::from_env().await
}
