//! The generic `jwt` provider: remote auth in front of any authorization server that issues JWTs
//! (Auth0, Keycloak, Entra ID, Okta, a company's own), configured from `MCP_AUTH_JWT_*`.

use std::str::FromStr;
use std::sync::Arc;

use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::settings::Settings;
use mcp_auth_jwt::{Algorithm, JwtVerifier};
use mcp_auth_remote::RemoteAuthProvider;

use super::ConfigError;

const ISSUER_EXAMPLE: &str = "https://login.example.com/realms/main";
const JWKS_EXAMPLE: &str = "https://login.example.com/realms/main/protocol/openid-connect/certs";

/// How many verified tokens the provider remembers (as `AuthKitProvider` does).
const TOKEN_CACHE_ENTRIES: usize = 10_000;

/// Builds the provider: a [`JwtVerifier`] for `MCP_AUTH_JWT_ISSUER` (keys from `MCP_AUTH_JWT_JWKS_URI`, else
/// from the issuer's metadata at the first request), audience `MCP_AUTH_JWT_AUDIENCE` or the resource URL,
/// inside a [`RemoteAuthProvider`] whose metadata names the issuer.
pub(crate) fn provider(settings: &Settings) -> Result<RemoteAuthProvider, ConfigError> {
    let issuer = settings.require_string("JWT_ISSUER", ISSUER_EXAMPLE)?;
    check_endpoint(settings, "JWT_ISSUER", ISSUER_EXAMPLE)?;
    check_endpoint(settings, "JWT_JWKS_URI", JWKS_EXAMPLE)?;
    let base_url = settings.require_string("BASE_URL", "https://mcp.example.com")?;
    let mcp_path = settings.string("MCP_PATH").unwrap_or_else(|| "/mcp".to_owned());
    let resource = ResourceUrl::new(&base_url, &mcp_path).map_err(|err| ConfigError::provider("jwt", err))?;
    let audience = settings.string("JWT_AUDIENCE").unwrap_or_else(|| resource.as_str().to_owned());
    let mut verifier = JwtVerifier::builder()
        .issuer(issuer.trim())
        .audience(audience.trim())
        .token_cache(TOKEN_CACHE_ENTRIES);
    verifier = match (settings.string("JWT_PUBLIC_KEY"), settings.string("JWT_JWKS_URI")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Settings(settings.invalid(
                "JWT_PUBLIC_KEY",
                "set either a public key or MCP_AUTH_JWT_JWKS_URI, not both",
                "-----BEGIN PUBLIC KEY-----...",
            )));
        }
        (Some(pem), None) => {
            if !pem.trim_start().starts_with("-----BEGIN") {
                return Err(ConfigError::Settings(settings.invalid(
                    "JWT_PUBLIC_KEY",
                    "not a PEM public key",
                    "-----BEGIN PUBLIC KEY-----...",
                )));
            }
            verifier.public_key_pem(pem.trim())
        }
        (None, Some(uri)) => verifier.jwks_url(uri.trim()),
        (None, None) => verifier.jwks_from_issuer_metadata(),
    };
    if let Some(algorithms) = algorithms(settings)? {
        verifier = verifier.algorithms(algorithms);
    } else if settings.string("JWT_PUBLIC_KEY").is_none() {
        verifier = verifier.algorithms([Algorithm::RS256]);
    }
    if let Some(scopes) = settings.scopes("REQUIRED_SCOPES")? {
        verifier = verifier.required_scopes(scopes);
    }
    let verifier = verifier.build().map_err(|err| ConfigError::provider("jwt", err))?;
    RemoteAuthProvider::builder(Arc::new(verifier))
        .settings(settings)
        .map_err(|err| ConfigError::provider("jwt", err))?
        .authorization_server(issuer.trim())
        .audience(audience.trim())
        .build()
        .map_err(|err| ConfigError::provider("jwt", err))
}

/// `MCP_AUTH_<name>`, when set, is an `https` URL (or `http` on loopback) without query or fragment: checked
/// here so the error names the setting rather than a builder method.
fn check_endpoint(settings: &Settings, name: &str, example: &str) -> Result<(), ConfigError> {
    let Some(url) = settings.url(name, example)? else { return Ok(()) };
    if url.scheme() == "http" && !mcp_auth_core::loopback::is_loopback_url(&url) {
        return Err(settings
            .invalid(name, "plain http is allowed on loopback only: use https", example)
            .into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(settings.invalid(name, "a query or fragment is not allowed", example).into());
    }
    Ok(())
}

/// `MCP_AUTH_JWT_ALGORITHMS`, if set: asymmetric algorithms only, since the keys are public keys.
fn algorithms(settings: &Settings) -> Result<Option<Vec<Algorithm>>, ConfigError> {
    let Some(list) = settings.string("JWT_ALGORITHMS") else { return Ok(None) };
    let mut algorithms = Vec::new();
    for (position, name) in list.split(',').map(str::trim).filter(|name| !name.is_empty()).enumerate() {
        let algorithm = Algorithm::from_str(name).map_err(|_| {
            settings.invalid(
                "JWT_ALGORITHMS",
                format!("entry {} is not a JWS algorithm (RS256, ES256, PS256, EdDSA, ...)", position + 1),
                "RS256, ES256",
            )
        })?;
        if matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(settings
                .invalid("JWT_ALGORITHMS", "HMAC algorithms need a shared secret, not a key set", "RS256")
                .into());
        }
        algorithms.push(algorithm);
    }
    if algorithms.is_empty() {
        return Err(settings.invalid("JWT_ALGORITHMS", "the list is empty", "RS256").into());
    }
    Ok(Some(algorithms))
}
