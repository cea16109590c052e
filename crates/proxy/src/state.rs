//! What the proxy keeps in its store, and the store-backed state loaded on first use. Every record has a
//! TTL, and the whole store is Fernet-encrypted by the proxy (upstream tokens, transactions, clients).

use std::fmt;
use std::sync::Arc;

use mcp_auth_core::AuthUser;
use mcp_auth_core::store::{JsonCollection, KvStorage};
use mcp_auth_oauth_server::{AuthorizationRequest, GrantStore, KeyedHasher};
use serde::{Deserialize, Serialize};

use crate::upstream::UpstreamTokens;

/// The collections' prefix.
pub(crate) const NAMESPACE: &str = "proxy";

/// An authorization in progress, from `/authorize` until the upstream calls back. Stored under the
/// keyed hash of its id, which is also the `state` sent upstream.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Transaction {
    /// The client's checked request.
    pub(crate) request: AuthorizationRequest,
    /// The proxy's own PKCE verifier for the upstream.
    pub(crate) upstream_verifier: String,
    /// The `state` sent upstream (its own random value, not the transaction id the consent page uses).
    pub(crate) upstream_state: String,
    /// The browser that started it (the id in its signed browser cookie): only it may consent.
    pub(crate) browser: String,
    /// Whether the person approved (or consent was remembered or turned off).
    pub(crate) approved: bool,
    /// Unix seconds.
    pub(crate) created_at: u64,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("client_id", &self.request.client.client_id)
            .field("approved", &self.approved)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A finished sign-in's redirect to the client, for the browser that finished it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Finished {
    pub(crate) browser: String,
    pub(crate) location: String,
    /// The proxy code in it, if the sign-in succeeded: the redirect is given again only while the code
    /// is unredeemed, never to deliver a used code twice (which would revoke the grant).
    pub(crate) code: Option<String>,
}

impl fmt::Debug for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished").finish_non_exhaustive()
    }
}

/// What each of the proxy's grants carries: the id of its upstream record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProxyGrant {
    /// The key of the upstream tokens and identity behind the grant.
    pub upstream_id: String,
}

/// The upstream side of a grant: the upstream tokens and the user they identify, resolved at sign-in
/// and again whenever the upstream tokens are refreshed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpstreamGrant {
    pub(crate) tokens: UpstreamTokens,
    pub(crate) user: AuthUser,
}

/// The state that lives in the store, built once the store-key secret is loaded.
#[derive(Debug)]
pub(crate) struct StoreState {
    pub(crate) hasher: KeyedHasher,
    pub(crate) grants: GrantStore<ProxyGrant>,
    pub(crate) transactions: JsonCollection<Transaction>,
    /// The upstream `state` (keyed hash) -> the transaction id.
    pub(crate) states: JsonCollection<String>,
    pub(crate) upstream: JsonCollection<UpstreamGrant>,
    /// Sign-ins finished by the callback: the client redirect, kept briefly so a repeated Approve from the
    /// same browser (a double click whose first answer the browser dropped) gets it again.
    pub(crate) finished: JsonCollection<Finished>,
    /// Upstream refresh leases: one instance refreshes a grant's upstream tokens at a time (the value
    /// names the holder).
    pub(crate) leases: JsonCollection<String>,
    /// Remembered consents: keyed hash of browser, client, redirect URI and sorted scopes.
    pub(crate) consents: JsonCollection<u64>,
}

impl StoreState {
    pub(crate) fn new(
        store: &Arc<dyn KvStorage>,
        hasher: KeyedHasher,
        grants: GrantStore<ProxyGrant>,
    ) -> Self {
        Self {
            hasher,
            grants,
            transactions: collection(store, "transactions"),
            states: collection(store, "states"),
            finished: collection(store, "finished"),
            upstream: collection(store, "upstream"),
            leases: collection(store, "upstream_leases"),
            consents: collection(store, "consents"),
        }
    }
}

fn collection<T: Serialize + serde::de::DeserializeOwned + Send + Sync>(
    store: &Arc<dyn KvStorage>,
    name: &str,
) -> JsonCollection<T> {
    JsonCollection::new(Arc::clone(store), format!("{NAMESPACE}_{name}"))
}
