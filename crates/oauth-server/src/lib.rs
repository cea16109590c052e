//! The building blocks of an OAuth 2.1 authorization server, written and tested once for **mcp-auth**:
//! the development identity provider uses them, and so does the OAuth proxy.
//!
//! They are blocks, not a framework: each server writes its own axum handlers and composes these.
//!
//! | block | what it gives |
//! |---|---|
//! | [`OAuthError`], [`no_store`] | the RFC 6749 §5.2 / RFC 7591 §3.2.2 / RFC 7009 error answer with its status, typed codes from `oauth2` and `openidconnect` |
//! | [`Params`], [`read_form`], [`read_json_object`] | size-limited form and JSON bodies; repeated parameters refused, empty ones absent, unknown ones ignored |
//! | [`ClientMetadataResolver`] | clients whose id is a Client ID Metadata Document URL, looked up by the registry through the server's resolver |
//! | [`RegistrationPolicy`], [`ClientRegistry`] | RFC 7591 registration with the MCP 2026-07-28 `application_type` rules, metadata limits, a TTL renewed on use, an hourly ceiling shared by every instance; configured clients beside registered ones |
//! | [`RedirectUri`], [`RedirectAllowList`] | redirect URI syntax (WHATWG parsing; backslashes, dot segments, user information, fragments and dangerous schemes refused), registration rules per application type, exact matching with the RFC 8252 loopback port exception, operator allow-list patterns |
//! | [`CodeChallenge`] | PKCE `S256` (plain refused), constant-time verification |
//! | [`AuthorizationRequest`], [`AuthorizationResponse`] | the authorization request checked in the safe order (no error ever goes to an unregistered URI), responses with `state` and `iss` (RFC 9207) |
//! | [`GrantStore`] | codes and refresh-token families under keyed hashes: single-use codes, rotation in one compare-and-swap, reuse detection that revokes the family, revocation of sessions and access tokens |
//! | [`authenticate_client`] | `none`, `client_secret_basic`, `client_secret_post`, secrets compared in constant time |
//! | [`ScopePolicy`], [`narrow_scopes`], [`ResourcePolicy`] | scopes within `scopes_supported`, refresh narrowing that does not persist, RFC 8707 resources |
//! | [`TokenRequest`], [`TokenResponse`] | the token endpoint's parameters by grant type and its `no-store` answer |
//! | [`ServerMetadata`] | RFC 8414 metadata built from what is enabled |
//! | [`CorsPolicy`] | CORS for allowed origins (loopback by default) and a 403 for state-changing requests from any other web origin |
//! | [`html_page`], [`html_escape`] | pages with anti-framing and no-store headers |
//! | [`KeyedHasher`], [`random_token`] | HMAC store keys, random codes and tokens that fail closed without OS randomness |
//!
//! State lives in any [`KvStorage`](mcp_auth_core::KvStorage): memory for one process, Redis (optionally
//! Fernet-encrypted) for several instances. The crate has no optional features.
//!
//! # Example: a token endpoint's skeleton
//!
//! ```
//! use axum::body::Body;
//! use axum::http::HeaderMap;
//! use mcp_auth_oauth_server::{
//!     ClientRegistry, GrantStore, OAuthError, TokenRequest, authenticate_client, read_form,
//! };
//! use openidconnect::core::CoreGrantType;
//!
//! async fn token(
//!     registry: &ClientRegistry,
//!     grants: &GrantStore<()>,
//!     headers: HeaderMap,
//!     body: Body,
//! ) -> Result<String, OAuthError> {
//!     let params = read_form(&headers, body, 64 * 1024).await?;
//!     let grant = TokenRequest::grant_type(&params, &[CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken])?;
//!     let client = authenticate_client(registry, &headers, &params).await?.client;
//!     if !client.allows_grant(&grant) {
//!         return Err(OAuthError::unauthorized_client("not registered for this grant"));
//!     }
//!     match TokenRequest::parse(&params, &grant)? {
//!         TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resource } => {
//!             let granted = grants
//!                 .redeem_code(&code, &client, &redirect_uri, code_verifier.as_deref(), resource.as_deref())
//!                 .await?;
//!             Ok(granted.subject)
//!         }
//!         _ => Err(OAuthError::unsupported_grant_type("not in this sketch")),
//!     }
//! }
//! ```

mod authorize;
mod client;
mod client_auth;
mod cors;
mod error;
mod grants;
mod metadata;
mod metadata_document;
mod page;
mod params;
mod pkce;
mod redirect;
mod registration;
mod registry;
mod resource;
mod scopes;
mod secrets;
mod token;

pub use authorize::{AuthorizationRequest, AuthorizationResponse, AuthorizeError, AuthorizePolicy};
pub use client::{Client, ClientOrigin};
pub use client_auth::{AuthenticatedClient, authenticate_client};
pub use cors::CorsPolicy;
pub use error::{ErrorCode, INVALID_TARGET, OAuthError, no_store, record_flow};
pub use grants::{
    CodeGrant, DEFAULT_CODE_TTL, DEFAULT_REFRESH_TTL, GrantData, GrantStore, NewCode, RefreshFamily,
    Refreshed, RevocationListener, Rotation,
};
pub use metadata::ServerMetadata;
pub use metadata_document::{ClientMetadataResolver, MetadataDocumentError};
pub use page::{html_escape, html_page, page_headers};
pub use params::{
    BodyError, DEFAULT_MAX_FORM_BYTES, DEFAULT_MAX_QUERY_BYTES, Params, read_body, read_form,
    read_json_object,
};
pub use pkce::{CodeChallenge, S256, is_code_verifier};
pub use redirect::{
    ApplicationType, MAX_REDIRECT_URI_LEN, PatternError, RedirectAllowList, RedirectPattern, RedirectUri,
    RedirectUriError,
};
pub use registration::{RegistrationPolicy, registration_response};
pub use registry::{ClientRegistry, DuplicateClient, MAX_CLIENT_ID_LEN, NewRegistration};
pub use resource::{ResourcePolicy, check_same_resource};
pub use scopes::{ScopePolicy, narrow_scopes};
pub use secrets::{KeyedHasher, SharedKeyError, random_token};
pub use token::{
    ACCESS_TOKEN_TYPE, PresentedToken, TOKEN_EXCHANGE_GRANT, TokenRequest, TokenResponse,
    token_exchange_grant,
};

// The protocol types callers match on.
pub use oauth2;
pub use openidconnect;
