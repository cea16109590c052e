//! Forwarding MCP traffic to an upstream streamable-HTTP server: bodies and SSE streams pass through as
//! they arrive, the client's credentials stay behind, the verified identity goes in the configured headers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt as _;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use mcp_auth_core::AccessToken;
use serde_json::json;
use url::Url;

use super::identity::IdentityHeaders;

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), plus `Host`, the client's
/// credentials and the gateway's own cookies.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "proxy-authorization",
    "cookie",
    // Client addresses are the gateway's to state (X-Forwarded-For), never the client's.
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
];

/// Response headers that describe one hop.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// An upstream MCP server over streamable HTTP.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: Url,
    client: reqwest::Client,
    timeout: Duration,
    identity: IdentityHeaders,
    /// `https` when the gateway's public URL is, for `X-Forwarded-Proto`.
    public_scheme: String,
}

impl HttpUpstream {
    /// An upstream at `url`; `timeout` bounds the wait for its response headers (a stream then runs
    /// as long as both ends keep it open).
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built (no TLS roots).
    pub fn new(
        url: Url,
        timeout: Duration,
        identity: IdentityHeaders,
        public_scheme: &str,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                url,
                client,
                timeout,
                identity,
                public_scheme: public_scheme.to_owned(),
            }),
        })
    }

    /// The upstream's URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// Whether the upstream answers HTTP at all (any status counts: it is up), within `timeout`.
    pub async fn reachable(&self, timeout: Duration) -> Result<(), String> {
        let request = self.inner.client.get(self.inner.url.clone()).timeout(timeout);
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) if error.is_timeout() => Err("timed out".to_owned()),
            Err(error) if error.is_connect() => Err("connection refused or unreachable".to_owned()),
            Err(_) => Err("request failed".to_owned()),
        }
    }
}

/// The axum handler that forwards one request.
pub(crate) async fn forward(State(upstream): State<HttpUpstream>, request: Request) -> Response {
    let inner = &upstream.inner;
    let started = Instant::now();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let token = request.extensions().get::<AccessToken>().cloned();
    let (parts, body) = request.into_parts();
    // The configured URL, query and all: a client's query string is not passed on.
    let url = inner.url.clone();
    let mut headers = forwarded_headers(&parts.headers);
    inner.identity.apply(&mut headers, token.as_ref());
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    if let Ok(proto) = HeaderValue::from_str(&inner.public_scheme) {
        headers.insert(HeaderName::from_static("x-forwarded-proto"), proto);
    }
    if let Some(peer) = peer
        && let Ok(value) = HeaderValue::from_str(&peer.ip().to_string())
    {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    let sent = inner.client.request(parts.method.clone(), url).headers(headers).body(body).send();
    let response = match tokio::time::timeout(inner.timeout, sent).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            record("error", started);
            tracing::warn!(upstream = %inner.url, error = %error, "upstream request failed");
            return unavailable(StatusCode::BAD_GATEWAY, "the MCP server behind the gateway did not answer");
        }
        Err(_) => {
            record("timeout", started);
            tracing::warn!(upstream = %inner.url, timeout = ?inner.timeout, "upstream timed out");
            return unavailable(StatusCode::GATEWAY_TIMEOUT, "the MCP server behind the gateway timed out");
        }
    };
    record("ok", started);
    let status = response.status();
    let mut out = Response::builder().status(status);
    if let Some(out_headers) = out.headers_mut() {
        *out_headers = answered_headers(response.headers());
    }
    let stream = response.bytes_stream().map_err(axum::Error::new);
    out.body(Body::from_stream(stream)).unwrap_or_else(|_| {
        unavailable(StatusCode::BAD_GATEWAY, "the MCP server behind the gateway sent an unusable answer")
    })
}

fn record(outcome: &'static str, started: Instant) {
    metrics::counter!("mcp_auth_gateway_upstream_requests_total", "upstream" => "http", "outcome" => outcome)
        .increment(1);
    metrics::histogram!("mcp_auth_gateway_upstream_duration_seconds", "upstream" => "http")
        .record(started.elapsed().as_secs_f64());
}

/// The response headers to send back: end to end only, and no cookie for the gateway's origin (where the
/// OAuth proxy keeps its own).
fn answered_headers(upstream: &HeaderMap) -> HeaderMap {
    let connection_named = connection_named(upstream);
    let mut headers = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        let name_str = name.as_str();
        if HOP_BY_HOP.contains(&name_str)
            || name_str == "set-cookie"
            || connection_named.iter().any(|n| n == name_str)
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers
}

fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect()
}

/// The request headers to send upstream: everything end to end, without credentials or hop headers.
fn forwarded_headers(incoming: &HeaderMap) -> HeaderMap {
    let connection_named = connection_named(incoming);
    let mut headers = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let name_str = name.as_str();
        if NOT_FORWARDED.contains(&name_str)
            || name_str.starts_with("x-forwarded-")
            || name_str == "forwarded"
            || connection_named.iter().any(|named| named == name_str)
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers
}

/// A gateway-made error answer, in the OAuth error shape, naming no internals.
pub(crate) fn unavailable(status: StatusCode, description: &str) -> Response {
    let body = json!({"error": "temporarily_unavailable", "error_description": description});
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_headers_stay_behind() {
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer secret"),
            ("proxy-authorization", "Basic x"),
            ("cookie", "consent=1"),
            ("host", "gateway.example.com"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("mcp-session-id", "abc"),
            ("mcp-protocol-version", "2025-06-18"),
            ("last-event-id", "0/3"),
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json"),
        ] {
            incoming.append(name, HeaderValue::from_static(value));
        }
        let out = forwarded_headers(&incoming);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            ["mcp-session-id", "mcp-protocol-version", "last-event-id", "accept", "content-type"]
        );
        let mut answered = HeaderMap::new();
        for (name, value) in [
            ("set-cookie", "s=1"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("content-type", "text/event-stream"),
        ] {
            answered.append(name, HeaderValue::from_static(value));
        }
        let out = answered_headers(&answered);
        assert_eq!(out.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["content-type"]);
    }
}
