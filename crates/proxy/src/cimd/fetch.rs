//! The SSRF-safe fetch of a metadata document (draft-ietf-oauth-client-id-metadata-document, security
//! considerations on server-side request forgery and response size; MCP "Authorization Server Abuse
//! Protection").
//!
//! - Every host name is resolved by [`GuardedResolver`], which refuses the whole answer when any address
//!   in it is not public (loopback passes only under the development allowance). The addresses checked
//!   are the addresses connected to, so a DNS answer that changes between a check and the connection
//!   (rebinding) changes nothing. IP literals never reach a resolver: the client id check refuses them
//!   before this module runs.
//! - No proxy (a proxy would resolve the name itself, past the guard), no redirects (a 3xx is refused),
//!   a total timeout and a connect timeout, and no compressed bodies (the client asks for none, so the
//!   size limit is the size received).
//! - The body is read in frames and refused as soon as it passes the limit (or at once when its
//!   `Content-Length` does), through the workspace's one limited body reader.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use mcp_auth_core::body::{BodyError, read_response_limited};
use mcp_auth_core::loopback::is_loopback_host;
use mcp_auth_oauth_server::MetadataDocumentError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tracing::Instrument as _;
use url::{Host, Url};

use super::address::{AddressClass, classify};
use super::client_id::shown;

/// A DNS answer that holds an address the fetcher may not connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefusedAddress {
    class: AddressClass,
    /// The name is a `localhost` name but an address is not loopback.
    loopback_name: bool,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.loopback_name && self.class != AddressClass::Loopback {
            write!(f, "its host is a localhost name but resolves to {} address", self.class.describe())
        } else {
            write!(f, "its host resolves to {} address", self.class.describe())
        }
    }
}

impl StdError for RefusedAddress {}

/// A resolver that only answers with addresses the fetcher may connect to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub(crate) allow_loopback: bool,
}

impl GuardedResolver {
    /// Checks a DNS answer for `name`: every address must be permitted, and a `localhost` name must
    /// resolve to loopback only.
    pub(crate) fn check(&self, name: &str, addresses: &[SocketAddr]) -> Result<(), RefusedAddress> {
        let loopback_name = is_loopback_host(&Host::Domain(name));
        for address in addresses {
            let class = classify(address.ip());
            let permitted =
                class.permitted(self.allow_loopback) && !(loopback_name && class != AddressClass::Loopback);
            if !permitted {
                return Err(RefusedAddress { class, loopback_name });
            }
        }
        Ok(())
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = *self;
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if let Err(refused) = guard.check(&name, &addresses) {
                tracing::debug!(host = %name, ?addresses, "a metadata document host resolves to a refused address");
                return Err(refused.into());
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// How documents are fetched.
#[derive(Debug, Clone)]
pub(crate) struct FetchSettings {
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_bytes: usize,
    pub(crate) allow_loopback: bool,
}

/// A document as served: its body and the freshness its `Cache-Control` grants.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Bytes,
    pub(crate) max_age: Option<Duration>,
}

/// Fetches metadata documents.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
}

impl Fetcher {
    pub(crate) fn new(settings: FetchSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(GuardedResolver { allow_loopback: settings.allow_loopback })
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!settings.allow_loopback)
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("mcp-auth-proxy/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, settings })
    }

    /// Fetches the document at `url`. Errors are refusals (the document will not do) or unavailability
    /// (it could not be fetched now), each naming the URL.
    pub(crate) async fn fetch(&self, url: &Url) -> Result<Fetched, MetadataDocumentError> {
        let span =
            tracing::info_span!("client_metadata_document.fetch", url = %url, status = tracing::field::Empty);
        self.fetch_inner(url).instrument(span).await
    }

    async fn fetch_inner(&self, url: &Url) -> Result<Fetched, MetadataDocumentError> {
        let at = shown(url.as_str());
        let refused = |what: String| {
            MetadataDocumentError::refused(format!("the client metadata document at {at} {what}"))
        };
        let unavailable = |what: String| {
            MetadataDocumentError::unavailable(format!("the client metadata document at {at} {what}"))
        };
        let response = match self.client.get(url.clone()).header(ACCEPT, "application/json").send().await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(error = %error_chain(&error), "fetch failed");
                if let Some(address) = find_in_chain::<RefusedAddress>(&error) {
                    return Err(refused(format!("cannot be fetched: {address}")));
                }
                if error.is_timeout() {
                    return Err(unavailable(format!("did not answer within {:?}", self.settings.timeout)));
                }
                return Err(unavailable("could not be reached".to_owned()));
            }
        };
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        if status.is_redirection() {
            return Err(refused(format!("redirects (HTTP {}); redirects are not followed", status.as_u16())));
        }
        if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
            return Err(unavailable(format!("answered HTTP {}; try again later", status.as_u16())));
        }
        if status != http::StatusCode::OK {
            return Err(refused(format!("answered HTTP {} instead of 200", status.as_u16())));
        }
        if !is_json(response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok())) {
            return Err(refused(
                "is not served as JSON; its Content-Type must be application/json (or a +json type)"
                    .to_owned(),
            ));
        }
        let max_age = mcp_auth_core::cache_control::max_age(
            response.headers().get_all(CACHE_CONTROL).iter().filter_map(|value| value.to_str().ok()),
        );
        match read_response_limited(http::Response::from(response), self.settings.max_bytes).await {
            Ok(body) => {
                tracing::debug!(bytes = body.len(), ?max_age, "client metadata document fetched");
                Ok(Fetched { body, max_age })
            }
            Err(BodyError::TooLarge { limit }) => Err(refused(format!("is larger than {limit} bytes"))),
            Err(error) => {
                tracing::debug!(error = %error_chain(&error), "reading the document failed");
                if find_in_chain::<reqwest::Error>(&error).is_some_and(reqwest::Error::is_timeout) {
                    Err(unavailable(format!("did not answer within {:?}", self.settings.timeout)))
                } else {
                    Err(unavailable("could not be read completely".to_owned()))
                }
            }
        }
    }
}

/// Whether a `Content-Type` is JSON: `application/json` or `application/<anything>+json`, with any
/// parameters, in any letter case.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else { return false };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else { return false };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application")
        && (subtype == "json"
            || subtype.strip_suffix("+json").is_some_and(|name| {
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.".contains(&b))
            }))
}

/// The first error of type `E` in `error`'s source chain (the error itself included).
fn find_in_chain<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// `error` and its sources, for logs.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(source) = current {
        text.push_str(": ");
        text.push_str(&source.to_string());
        current = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for yes in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            " application/json ",
            "application/oauth-client+json",
            "application/vnd.example.v1+json; q=1",
        ] {
            assert!(is_json(Some(yes)), "{yes}");
        }
        for no in [
            "",
            "text/html",
            "text/json",
            "application/jsonp",
            "application/json5",
            "application/+json",
            "application/x json+json",
            "application",
            "json",
            "application/javascript",
            "multipart/mixed; boundary=json",
        ] {
            assert!(!is_json(Some(no)), "{no}");
        }
        assert!(!is_json(None));
    }

    #[test]
    fn the_resolver_checks_every_address() {
        let address = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 0);
        let strict = GuardedResolver { allow_loopback: false };
        let development = GuardedResolver { allow_loopback: true };
        assert!(strict.check("app.example.com", &[address("93.184.215.14")]).is_ok());
        let refused =
            strict.check("app.example.com", &[address("93.184.215.14"), address("10.0.0.7")]).unwrap_err();
        assert_eq!(refused.to_string(), "its host resolves to a private address");
        let refused = strict.check("localhost", &[address("127.0.0.1")]).unwrap_err();
        assert_eq!(refused.to_string(), "its host resolves to a loopback address");
        assert!(development.check("localhost", &[address("127.0.0.1"), address("::1")]).is_ok());
        assert!(development.check("app.example.com", &[address("::ffff:127.0.0.1")]).is_ok());
        let refused = development.check("rebind.example", &[address("169.254.169.254")]).unwrap_err();
        assert_eq!(refused.to_string(), "its host resolves to a link-local address");
        let refused = development.check("app.localhost", &[address("93.184.215.14")]).unwrap_err();
        assert_eq!(refused.to_string(), "its host is a localhost name but resolves to a public address");
    }

    #[tokio::test]
    async fn the_resolver_refuses_localhost_unless_allowed() {
        let name = |host: &str| host.parse::<Name>().unwrap();
        let error = GuardedResolver { allow_loopback: false }.resolve(name("localhost")).await.err().unwrap();
        let refused = error.downcast_ref::<RefusedAddress>().expect("a RefusedAddress");
        assert_eq!(refused.class, AddressClass::Loopback);
        let addresses: Vec<_> =
            GuardedResolver { allow_loopback: true }.resolve(name("localhost")).await.unwrap().collect();
        assert!(!addresses.is_empty());
        assert!(addresses.iter().all(|address| address.ip().is_loopback()), "{addresses:?}");
    }
}
