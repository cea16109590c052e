//! [`ClientMetadataResolver`]: clients described by Client ID Metadata Documents (the MCP 2026-07-28
//! authorization specification), where the `client_id` is an https URL and the client's metadata is the
//! JSON document served there.
//!
//! The kit holds the contract; fetching is the server's (the OAuth proxy fetches SSRF-safely). A
//! [`ClientRegistry`](crate::ClientRegistry) given a resolver looks such client ids up through it, so the
//! authorization request, client authentication and the token endpoint treat them like any other client.

use std::fmt;

use mcp_auth_core::async_trait;

use crate::client::Client;

/// Why a Client ID Metadata Document could not be used. The message is safe to show to the person at
/// the authorization endpoint: it names the URL's problem, never internal addresses or errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MetadataDocumentError {
    message: String,
    unavailable: bool,
}

impl MetadataDocumentError {
    /// The document is unusable (refused by policy, malformed, mismatched): asking again will not help.
    pub fn refused(message: impl Into<String>) -> Self {
        Self { message: message.into(), unavailable: false }
    }

    /// The document could not be fetched now (timeout, 5xx, connection refused): worth trying later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { message: message.into(), unavailable: true }
    }

    /// Whether trying later may succeed.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// Resolves client ids that are Client ID Metadata Document URLs into clients.
///
/// # Examples
///
/// A resolver serving one fixed document (a real one fetches over https):
///
/// ```
/// use std::sync::Arc;
/// use mcp_auth_core::{async_trait, store::MemoryStore};
/// use mcp_auth_oauth_server::*;
///
/// #[derive(Debug)]
/// struct OneDocument;
///
/// #[async_trait]
/// impl ClientMetadataResolver for OneDocument {
///     fn handles(&self, client_id: &str) -> bool {
///         client_id.starts_with("https://")
///     }
///     async fn resolve(&self, client_id: &str) -> Result<Client, MetadataDocumentError> {
///         let document = serde_json::json!({
///             "client_id": client_id,
///             "redirect_uris": ["http://127.0.0.1/callback"],
///             "token_endpoint_auth_method": "none",
///         });
///         let validated = RegistrationPolicy::default()
///             .validate(document.as_object().unwrap())
///             .map_err(|e| MetadataDocumentError::refused(e.description()))?;
///         Ok(Client::from_metadata_document(client_id, validated))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let registry = ClientRegistry::new(Arc::new(MemoryStore::new()), "demo", RegistrationPolicy::default())
///     .with_metadata_documents(Arc::new(OneDocument));
/// let client = registry.get("https://app.example.com/client.json").await.unwrap().unwrap();
/// assert_eq!(client.origin, ClientOrigin::MetadataDocument);
/// assert!(registry.get("client_unknown").await.unwrap().is_none());
/// # });
/// ```
#[async_trait]
pub trait ClientMetadataResolver: fmt::Debug + Send + Sync {
    /// Whether `client_id` is a metadata document URL this resolver answers for (it is then never looked
    /// up among registered clients).
    fn handles(&self, client_id: &str) -> bool;

    /// The client the document at `client_id` describes, validated.
    ///
    /// # Errors
    ///
    /// [`MetadataDocumentError`] when the document is refused or cannot be fetched.
    async fn resolve(&self, client_id: &str) -> Result<Client, MetadataDocumentError>;
}
