//! The generic `jwt` provider: remote auth in front of any authorization server that issues JWTs
//! (Auth0, Keycloak, Entra ID, Okta, a company's own), configured from `MCP_AUTH_JWT_*`.

use std::str::FromStr;
use std::sync::Arc;

use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::settings::Settings;
use mcp_auth_jwt::{Algorithm, JwtVerifier};
use mcp_auth_remote::RemoteAuthProvider;

use super::ConfigError;

/// How many verified tokens the provider remembers (as `AuthKitProvider` does).
const TOKEN_CACHE_ENTRIES: usize = 10_000;

/// Builds the provider: a [`JwtVerifier`] for `MCP_AUTH_JWT_ISSUER` (keys from `MCP_AUTH_JWT_JWKS_URI`, else
/// from the issuer's metadata at the first request), audience `MCP_AUTH_JWT_AUDIENCE` or the resource URL,
/// inside a [`RemoteAuthProvider`] whose metadata names the issuer.
pub(crate) fn provider(settings: &Settings) -> Result<RemoteAuthProvider, ConfigError> {
    let issuer = settings.require_string("JWT_ISSUER", "https://login.example.com/realms/main")?;
    let base_url = settings.require_string("BASE_URL", "https://mcp.example.com")?;
    let mcp_path = settings.string("MCP_PATH").unwrap_or_else(|| "/mcp".to_owned());
    let resource = ResourceUrl::new(&base_url, &mcp_path).map_err(|err| ConfigError::provider("jwt", err))?;
    let audience = settings.string("JWT_AUDIENCE").unwrap_or_else(|| resource.as_str().to_owned());
    let algorithms = algorithms(settings)?;

    let mut verifier = JwtVerifier::builder()
        .issuer(issuer.trim())
        .audience(audience.trim())
        .algorithms(algorithms)
        .token_cache(TOKEN_CACHE_ENTRIES);
    verifier = match settings.string("JWT_JWKS_URI") {
        Some(uri) => verifier.jwks_url(uri.trim()),
        None => verifier.jwks_from_issuer_metadata(),
    };
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

/// `MCP_AUTH_JWT_ALGORITHMS` (default RS256): asymmetric algorithms only, since the keys come from a JWKS.
fn algorithms(settings: &Settings) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(list) = settings.string("JWT_ALGORITHMS") else { return Ok(vec![Algorithm::RS256]) };
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
    Ok(algorithms)
}
