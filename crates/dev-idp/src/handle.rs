//! [`DevIdpHandle`]: a running provider on loopback.

use std::fmt;
use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::DevIdpError;
use crate::idp::DevIdp;

/// A running development identity provider. Dropping the handle stops the server.
pub struct DevIdpHandle {
    idp: DevIdp,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for DevIdpHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdpHandle").field("addr", &self.addr).field("idp", &self.idp).finish()
    }
}

impl DevIdpHandle {
    pub(crate) fn new(
        idp: DevIdp,
        addr: SocketAddr,
        shutdown: oneshot::Sender<()>,
        task: JoinHandle<()>,
    ) -> Self {
        Self { idp, addr, shutdown: Some(shutdown), task: Some(task) }
    }

    /// The provider behind this server (its state, keys and router).
    #[must_use]
    pub fn idp(&self) -> &DevIdp {
        &self.idp
    }

    /// The bound socket address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, which is also the issuer (no trailing slash).
    #[must_use]
    pub fn url(&self) -> &str {
        self.idp.issuer()
    }

    /// The issuer identifier (same as [`url`](Self::url)).
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.idp.issuer()
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        self.idp.jwks_url()
    }

    /// See [`DevIdp::rotate_signing_key`].
    ///
    /// # Errors
    ///
    /// [`DevIdpError::Jwt`] when key generation fails.
    pub fn rotate_signing_key(&self) -> Result<String, DevIdpError> {
        self.idp.rotate_signing_key()
    }

    /// See [`DevIdp::remove_key`].
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownKey`] or [`DevIdpError::CurrentKey`].
    pub fn remove_key(&self, kid: &str) -> Result<(), DevIdpError> {
        self.idp.remove_key(kid)
    }

    /// See [`DevIdp::remove_old_keys`].
    pub fn remove_old_keys(&self) -> usize {
        self.idp.remove_old_keys()
    }

    /// See [`DevIdp::signing_key_ids`].
    #[must_use]
    pub fn signing_key_ids(&self) -> Vec<String> {
        self.idp.signing_key_ids()
    }

    /// See [`DevIdp::issue_access_token`].
    ///
    /// # Errors
    ///
    /// [`DevIdpError::UnknownUser`] or [`DevIdpError::Jwt`].
    pub fn issue_access_token<I, S>(
        &self,
        user_id: &str,
        audience: &str,
        scopes: I,
    ) -> Result<String, DevIdpError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.idp.issue_access_token(user_id, audience, scopes)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevIdpHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
