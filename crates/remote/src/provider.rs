//! [`RemoteAuthProvider`]: the built provider and what it hands out (resource, metadata, verifier, bearer
//! layer). Its routes are in `router`, its builder in `builder`.

use std::fmt;
use std::sync::Arc;

use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_core::resource::ResourceUrl;
use mcp_auth_core::scope::ScopeHierarchy;
use mcp_auth_core::{BearerAuthLayer, TokenVerifier};

use crate::builder::RemoteAuthProviderBuilder;

/// A resource server in front of an MCP endpoint, trusting an external authorization server.
///
/// Build it with [`RemoteAuthProvider::builder`]; then merge [`metadata_router`](Self::metadata_router)
/// into the app and put [`bearer_layer`](Self::bearer_layer) on the MCP route.
#[derive(Clone)]
pub struct RemoteAuthProvider {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    /// The audience tokens must carry; `None` when the check was turned off.
    pub(crate) audience: Option<String>,
    pub(crate) resource: ResourceUrl,
    pub(crate) metadata: Arc<ProtectedResourceMetadata>,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) scope_hierarchy: Option<Arc<dyn ScopeHierarchy>>,
    pub(crate) mcp_scopes: Option<Arc<McpScopePolicy>>,
}

impl fmt::Debug for RemoteAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAuthProvider")
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .field("authorization_servers", &self.metadata.authorization_servers)
            .field("required_scopes", &self.required_scopes)
            .field("verifier", &self.verifier)
            .field("scope_hierarchy", &self.scope_hierarchy)
            .field("mcp_scopes", &self.mcp_scopes)
            .finish()
    }
}

impl RemoteAuthProvider {
    /// Starts building a provider around `verifier`.
    pub fn builder(verifier: Arc<dyn TokenVerifier>) -> RemoteAuthProviderBuilder {
        RemoteAuthProviderBuilder::new(verifier)
    }

    /// The canonical resource URL.
    #[must_use]
    pub fn resource(&self) -> &ResourceUrl {
        &self.resource
    }

    /// The audience every token must carry: the resource URL unless
    /// [`audience`](crate::RemoteAuthProviderBuilder::audience) named another; `None` when the check was
    /// turned off.
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The Protected Resource Metadata document this provider serves.
    #[must_use]
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    /// The scopes every request needs.
    #[must_use]
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The verifier in use, wrapped with this resource's checks: the audience (unless it was turned off)
    /// and the required scopes (through the scope hierarchy), so using it directly checks what the bearer
    /// layer checks, short of per-operation scopes.
    #[must_use]
    pub fn verifier(&self) -> Arc<dyn TokenVerifier> {
        Arc::clone(&self.verifier)
    }

    /// The per-operation scope policy, when one was given.
    #[must_use]
    pub fn mcp_scopes(&self) -> Option<&McpScopePolicy> {
        self.mcp_scopes.as_deref()
    }

    /// The bearer layer for the MCP route: challenges name the metadata URL and the required scopes;
    /// the scope hierarchy and the per-operation policy apply when given.
    pub fn bearer_layer(&self) -> BearerAuthLayer {
        let mut layer = BearerAuthLayer::new(Arc::clone(&self.verifier))
            .resource_metadata_url(self.resource.metadata_url())
            .required_scopes(self.required_scopes.iter().cloned());
        if let Some(hierarchy) = &self.scope_hierarchy {
            layer = layer.scope_hierarchy(Arc::clone(hierarchy));
        }
        if let Some(policy) = &self.mcp_scopes {
            layer = layer.mcp_scopes(Arc::clone(policy));
        }
        layer
    }
}
