//! The one table of every setting mcp-auth reads: its name, what values it takes, its default, an
//! example and who reads it. [`from_env`](crate::from_env) checks the settings against it, and
//! `docs/configuration.md` is generated from it (a test keeps the two equal).

use std::fmt;

/// What values a setting takes; [`from_env`](crate::from_env) checks each set value against its kind
/// before anything is built, so the error names the variable or file key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// An absolute `http` or `https` URL.
    Url,
    /// A URL path starting with `/`.
    Path,
    /// A scope list: space- or comma-separated, or a JSON array.
    Scopes,
    /// A comma-separated list.
    List,
    /// A socket address, `host:port`.
    SocketAddr,
    /// A TCP port.
    Port,
    /// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// A secret: never shown, logged or echoed in an error.
    Secret,
    /// A file or directory path.
    FilePath,
    /// Free text.
    Text,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OneOf(words) => {
                let words: Vec<String> = words.iter().map(|word| format!("`{word}`")).collect();
                f.write_str(&words.join(" \\| "))
            }
            Self::Url => f.write_str("URL"),
            Self::Path => f.write_str("path"),
            Self::Scopes => f.write_str("scope list"),
            Self::List => f.write_str("list"),
            Self::SocketAddr => f.write_str("address"),
            Self::Port => f.write_str("port"),
            Self::Bool => f.write_str("boolean"),
            Self::Secret => f.write_str("secret"),
            Self::FilePath => f.write_str("file path"),
            Self::Text => f.write_str("text"),
        }
    }
}

/// The groups the table is split into, in the order the reference shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Group {
    /// Choosing the provider and store, and the server's public address.
    General,
    /// `MCP_AUTH_PROVIDER=authkit`, and the AuthKit domain the `workos` provider shares.
    AuthKit,
    /// `MCP_AUTH_PROVIDER=workos`: the OAuth proxy in front of AuthKit.
    WorkOS,
    /// `MCP_AUTH_PROVIDER=jwt`: any authorization server that issues JWTs.
    Jwt,
    /// `MCP_AUTH_STORE` and its backends.
    Store,
    /// The `mcp-auth-dev-idp` binary (its command-line flags' variables; environment only).
    DevIdp,
    /// `mcp-auth gateway`: each of its flags' settings.
    Gateway,
}

impl Group {
    /// Every group, in order.
    pub const ALL: [Self; 7] =
        [Self::General, Self::AuthKit, Self::WorkOS, Self::Jwt, Self::Store, Self::Gateway, Self::DevIdp];

    /// The group's heading.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::General => "General",
            Self::AuthKit => "AuthKit (`MCP_AUTH_PROVIDER=authkit`)",
            Self::WorkOS => "WorkOS OAuth proxy (`MCP_AUTH_PROVIDER=workos`)",
            Self::Jwt => "Any JWT issuer (`MCP_AUTH_PROVIDER=jwt`)",
            Self::Store => "Storage (`MCP_AUTH_STORE`)",
            Self::DevIdp => "Development identity provider (`mcp-auth-dev-idp`)",
            Self::Gateway => "Gateway (`mcp-auth gateway`; its flags win)",
        }
    }
}

/// One setting.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Variable {
    /// The name without the `MCP_AUTH_` prefix, upper case: `JWT_ISSUER`.
    pub name: &'static str,
    /// Its group.
    pub group: Group,
    /// What values it takes.
    pub kind: Kind,
    /// The default, or when it is required, written out (`(required)`, `the resource URL`).
    pub default: &'static str,
    /// An example value.
    pub example: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Whether the TOML file may set it (false for settings read before the file, or by other programs).
    pub in_file: bool,
}

impl Variable {
    const fn new(
        name: &'static str,
        group: Group,
        kind: Kind,
        default: &'static str,
        example: &'static str,
        description: &'static str,
    ) -> Self {
        Self { name, group, kind, default, example, description, in_file: true }
    }

    const fn environment_only(mut self) -> Self {
        self.in_file = false;
        self
    }

    /// The environment variable: `MCP_AUTH_JWT_ISSUER`.
    #[must_use]
    pub fn var(&self) -> String {
        format!("MCP_AUTH_{}", self.name)
    }

    /// The TOML key: `jwt_issuer`.
    #[must_use]
    pub fn key(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// The values `MCP_AUTH_PROVIDER` takes.
pub const PROVIDERS: &[&str] = &["authkit", "workos", "jwt"];

/// The values `MCP_AUTH_STORE` takes.
pub const STORES: &[&str] = &["memory", "file", "redis"];

/// Every setting, in the order the reference shows them.
pub const VARIABLES: &[Variable] = &[
    // General.
    Variable::new(
        "PROVIDER",
        Group::General,
        Kind::OneOf(PROVIDERS),
        "(required)",
        "authkit",
        "Which provider `from_env()` builds: remote auth with AuthKit, the OAuth proxy in front of AuthKit, or \
         remote auth with any JWT issuer.",
    ),
    Variable::new(
        "STORE",
        Group::General,
        Kind::OneOf(STORES),
        "memory",
        "redis",
        "Where state is kept: the proxy's registrations, grants and upstream tokens, and `McpAuth::store()` for \
         your own use. Use `redis` for several instances.",
    ),
    Variable::new(
        "CONFIG",
        Group::General,
        Kind::FilePath,
        "`mcp-auth.toml` when it exists",
        "/etc/mcp-auth.toml",
        "The TOML configuration file. The environment wins over `.env`, which wins over this file.",
    )
    .environment_only(),
    Variable::new(
        "BASE_URL",
        Group::General,
        Kind::Url,
        "(required)",
        "https://mcp.example.com",
        "This server's public URL, as clients reach it (with any path prefix the reverse proxy adds). `https`, \
         or `http` on loopback only.",
    ),
    Variable::new(
        "MCP_PATH",
        Group::General,
        Kind::Path,
        "/mcp",
        "/mcp",
        "The MCP endpoint's path under the base URL; base URL and path make the resource URL tokens are bound to.",
    ),
    Variable::new(
        "REQUIRED_SCOPES",
        Group::General,
        Kind::Scopes,
        "none",
        "openid profile email",
        "Scopes every token must carry; a token without them gets a 403 `insufficient_scope` challenge.",
    ),
    Variable::new(
        "LISTEN",
        Group::General,
        Kind::SocketAddr,
        "127.0.0.1:8000",
        "0.0.0.0:8000",
        "The address to listen on (`McpAuth::listen_addr()`, the examples).",
    ),
    // AuthKit.
    Variable::new(
        "AUTHKIT_DOMAIN",
        Group::AuthKit,
        Kind::Text,
        "(required for `authkit` and `workos`)",
        "your-app.authkit.app",
        "Your AuthKit domain (a bare host means `https://`), or the dev IdP's loopback URL.",
    ),
    Variable::new(
        "INSECURE_ACCEPT_CLIENT_ID_AUDIENCE",
        Group::AuthKit,
        Kind::Text,
        "unset",
        "client_01H...",
        "Also accept tokens whose audience is this WorkOS client id instead of the resource URL (AuthKit before \
         resource indicators). Weakens the audience check: use only while migrating.",
    ),
    // WorkOS proxy.
    Variable::new(
        "WORKOS_CLIENT_ID",
        Group::WorkOS,
        Kind::Text,
        "(required for `workos`)",
        "client_01H...",
        "The WorkOS client the proxy signs users in with.",
    ),
    Variable::new(
        "WORKOS_CLIENT_SECRET",
        Group::WorkOS,
        Kind::Secret,
        "(required for `workos`)",
        "sk_live_...",
        "That client's secret (a WorkOS API key).",
    ),
    Variable::new(
        "REDIRECT_PATH",
        Group::WorkOS,
        Kind::Path,
        "/auth/callback",
        "/auth/callback",
        "Where AuthKit sends the user back; register `<BASE_URL><REDIRECT_PATH>` as a redirect URI in WorkOS.",
    ),
    Variable::new(
        "ALLOWED_CLIENT_REDIRECT_URIS",
        Group::WorkOS,
        Kind::List,
        "any URI the registration rules admit",
        "http://127.0.0.1:*, https://claude.ai/api/mcp/auth_callback",
        "Redirect URI patterns MCP clients may register (comma-separated; `*` matches a port).",
    ),
    Variable::new(
        "JWT_SIGNING_KEY",
        Group::WorkOS,
        Kind::Secret,
        "a new key at each start (tokens die with the process; logged loudly)",
        "(32+ random characters, or a PEM private key)",
        "Signs the proxy's own tokens (HMAC from a long random text, or ES256/EdDSA/RS256 from a PEM key). Share \
         it between instances.",
    ),
    Variable::new(
        "JWT_SIGNING_KEY_ID",
        Group::WorkOS,
        Kind::Text,
        "key-1",
        "key-2026-12",
        "The `kid` of that key; change it when you change the key.",
    ),
    Variable::new(
        "JWT_PREVIOUS_SIGNING_KEY",
        Group::WorkOS,
        Kind::Secret,
        "unset",
        "(the key MCP_AUTH_JWT_SIGNING_KEY held before)",
        "After a key rotation: the replaced key, still accepted for the tokens it signed (never used to sign). \
         Drop it once those tokens have expired.",
    ),
    Variable::new(
        "JWT_PREVIOUS_SIGNING_KEY_ID",
        Group::WorkOS,
        Kind::Text,
        "key-0",
        "key-2026-11",
        "The `kid` of that key when it is a PEM key (it must differ from the current one).",
    ),
    // Generic JWT.
    Variable::new(
        "JWT_ISSUER",
        Group::Jwt,
        Kind::Url,
        "(required for `jwt`)",
        "https://login.example.com/realms/main",
        "The authorization server's issuer, exactly as in its tokens' `iss`; named in the protected resource \
         metadata.",
    ),
    Variable::new(
        "JWT_JWKS_URI",
        Group::Jwt,
        Kind::Url,
        "read from the issuer's metadata, lazily",
        "https://login.example.com/realms/main/protocol/openid-connect/certs",
        "Where the signing keys are. Unset: read from the issuer's RFC 8414 or OpenID metadata at the first \
         request, so the server starts while the issuer is down and answers 503 until it is reachable.",
    ),
    Variable::new(
        "JWT_PUBLIC_KEY",
        Group::Jwt,
        Kind::Text,
        "unset (keys from the JWKS)",
        "-----BEGIN PUBLIC KEY-----...",
        "One static PEM public key instead of a JWKS (RSA, EC or Ed25519); excludes `MCP_AUTH_JWT_JWKS_URI`. \
         `MCP_AUTH_JWT_ALGORITHMS` defaults to the key's own algorithm.",
    ),
    Variable::new(
        "JWT_AUDIENCE",
        Group::Jwt,
        Kind::Text,
        "the resource URL",
        "https://mcp.example.com/mcp",
        "The audience tokens must carry. Keep the default unless your authorization server names APIs by \
         another identifier.",
    ),
    Variable::new(
        "JWT_ALGORITHMS",
        Group::Jwt,
        Kind::List,
        "RS256",
        "RS256, ES256",
        "The signature algorithms accepted (asymmetric only).",
    ),
    // Stores.
    Variable::new(
        "FILE_STORE_DIR",
        Group::Store,
        Kind::FilePath,
        "(required for `file`)",
        "/var/lib/mcp-auth",
        "The file store's directory; processes on one host may share it.",
    ),
    Variable::new(
        "REDIS_URL",
        Group::Store,
        Kind::Secret,
        "redis://127.0.0.1:6379",
        "rediss://:password@redis.internal:6380/0",
        "The Redis server (`rediss://` for TLS). Secret: it may hold a password.",
    ),
    Variable::new(
        "REDIS_PREFIX",
        Group::Store,
        Kind::Text,
        "mcp-auth",
        "mcp-auth-prod",
        "Prefix of every Redis key, so several deployments can share one Redis.",
    ),
    Variable::new(
        "FERNET_KEYS",
        Group::Store,
        Kind::Secret,
        "unset (the proxy then uses a new key at each start: its state dies with the process)",
        "<44-character key>,<older key>",
        "Fernet keys (32 random bytes, URL-safe base64), newest first. When set, `McpAuth::store()` encrypts every \
         value; the proxy always encrypts its state, with these keys. Share them between instances.",
    ),
    // The gateway.
    Variable::new(
        "GATEWAY_UPSTREAM",
        Group::Gateway,
        Kind::Url,
        "(this or the command is required)",
        "http://127.0.0.1:3000/mcp",
        "The MCP server to protect, by its streamable-HTTP endpoint (`--upstream`).",
    ),
    Variable::new(
        "GATEWAY_UPSTREAM_COMMAND",
        Group::Gateway,
        Kind::Text,
        "(this or the URL is required)",
        "npx -y @modelcontextprotocol/server-everything",
        "A stdio MCP server to start, supervise and serve over HTTP, run by `sh -c` (`--upstream-command`).",
    ),
    Variable::new(
        "GATEWAY_IDENTITY_HEADERS",
        Group::Gateway,
        Kind::List,
        "none",
        "user=X-User-Id,email=X-User-Email",
        "Parts of the verified identity to send upstream, as `field=Header-Name` (fields: user, email, name, \
         org, roles, permissions, scopes, client); the headers are always removed from what clients send \
         (`--identity-header`).",
    ),
    Variable::new(
        "GATEWAY_POLICY",
        Group::Gateway,
        Kind::FilePath,
        "none",
        "policy.toml",
        "A TOML file of per-tool scopes and roles, and whether `tools/list` hides what a caller cannot call \
         (`--policy`).",
    ),
    Variable::new(
        "GATEWAY_MAX_BODY_BYTES",
        Group::Gateway,
        Kind::Text,
        "4194304",
        "1048576",
        "The largest request body accepted, in bytes; larger ones get 413 (`--max-body-bytes`).",
    ),
    Variable::new(
        "GATEWAY_UPSTREAM_TIMEOUT",
        Group::Gateway,
        Kind::Text,
        "60",
        "30",
        "Seconds to wait for the upstream's answer (for HTTP, its response headers; a stream then runs as \
         long as both ends keep it open) (`--upstream-timeout`).",
    ),
    Variable::new(
        "GATEWAY_METRICS_LISTEN",
        Group::Gateway,
        Kind::SocketAddr,
        "none (no metrics page)",
        "127.0.0.1:9090",
        "Serve Prometheus metrics at `/metrics` on this address, apart from the MCP traffic (`--metrics-listen`).",
    ),
    // The dev IdP binary.
    Variable::new(
        "DEV_IDP_PORT",
        Group::DevIdp,
        Kind::Port,
        "9400",
        "9500",
        "The loopback port of `mcp-auth-dev-idp` (`--port`).",
    )
    .environment_only(),
    Variable::new(
        "DEV_IDP_BIND",
        Group::DevIdp,
        Kind::SocketAddr,
        "127.0.0.1:<port>",
        "127.0.0.1:9400",
        "The full address instead (`--bind`).",
    )
    .environment_only(),
    Variable::new(
        "DEV_IDP_CONFIG",
        Group::DevIdp,
        Kind::FilePath,
        "the built-in users",
        "dev-idp.toml",
        "Its users, clients and lifetimes (`--config`).",
    )
    .environment_only(),
    Variable::new(
        "DEV_IDP_AUTO_APPROVE",
        Group::DevIdp,
        Kind::Bool,
        "false",
        "true",
        "Sign in as the first user without a page (`--auto-approve`), for scripted clients.",
    )
    .environment_only(),
];

/// The setting named `name` (without the prefix, upper case).
#[must_use]
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|variable| variable.name == name)
}
