//! A small round-robin HTTP reverse proxy, the stand-in for a real load balancer in the `production`
//! example: each request goes to the next backend in turn, whatever it is (no sticky sessions), with
//! its path, query, `Host` and every end-to-end header unchanged, and both bodies streamed (an SSE
//! response is passed on event by event). It counts what each backend served so a self-check can show
//! that a flow crossed instances.
//!
//! It is not a production load balancer: no TLS, no health checks, no retries. A backend that cannot be
//! reached is answered `502` with an opaque body, the cause goes to the log.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::ensure;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{self, HeaderMap, HeaderName, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How many forwarded requests [`Balancer::recent`] remembers.
const RECENT: usize = 1024;

/// The headers that describe one connection rather than the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// One forwarded request: which backend served it, the method and path (never the query, which may
/// carry codes), and the backend's status (`None` when it could not be reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The backend's index in [`Balancer::backends`].
    pub backend: usize,
    /// The request method.
    pub method: Method,
    /// The request path.
    pub path: String,
    /// The backend's answer, or `None` for a `502`.
    pub status: Option<StatusCode>,
}

/// Round-robin over backends at fixed addresses; serve it with [`Balancer::router`].
#[derive(Debug)]
pub struct Balancer {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    served: Vec<AtomicUsize>,
    recent: Mutex<VecDeque<Served>>,
    client: Client<HttpConnector, Body>,
}

impl Balancer {
    /// A balancer over `backends`, in the order they are taken.
    ///
    /// # Errors
    ///
    /// When `backends` is empty.
    pub fn new(backends: Vec<SocketAddr>) -> anyhow::Result<Arc<Self>> {
        ensure!(!backends.is_empty(), "a balancer needs at least one backend");
        let mut connector = HttpConnector::new();
        // Without TCP_NODELAY each MCP response would wait for a delayed ACK on the backend connection.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let served = backends.iter().map(|_| AtomicUsize::new(0)).collect();
        Ok(Arc::new(Self {
            backends,
            next: AtomicUsize::new(0),
            served,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            client,
        }))
    }

    /// The app that forwards every request.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(forward).with_state(Arc::clone(self))
    }

    /// The backends' addresses.
    #[must_use]
    pub fn backends(&self) -> &[SocketAddr] {
        &self.backends
    }

    /// The backend the next request goes to.
    #[must_use]
    pub fn next_backend(&self) -> usize {
        self.next.load(Ordering::SeqCst) % self.backends.len()
    }

    /// How many requests each backend was given so far.
    #[must_use]
    pub fn served(&self) -> Vec<usize> {
        self.served.iter().map(|count| count.load(Ordering::SeqCst)).collect()
    }

    /// How many requests were forwarded in all.
    #[must_use]
    pub fn total(&self) -> usize {
        self.served().iter().sum()
    }

    /// The requests forwarded after the first `since` of all (see [`total`](Self::total)), oldest first,
    /// as far as they are remembered (the last 1024).
    #[must_use]
    pub fn served_since(&self, since: usize) -> Vec<Served> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = self.served.iter().map(|count| count.load(Ordering::SeqCst)).sum();
        let newer = total.saturating_sub(since).min(recent.len());
        recent.iter().skip(recent.len() - newer).cloned().collect()
    }

    fn remember(&self, served: Served) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        self.served[served.backend].fetch_add(1, Ordering::SeqCst);
        recent.push_back(served);
    }
}

async fn forward(State(balancer): State<Arc<Balancer>>, request: Request) -> Response {
    let backend = balancer.next.fetch_add(1, Ordering::SeqCst) % balancer.backends.len();
    let address = balancer.backends[backend];
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    parts.uri = match Uri::try_from(format!("http://{address}{path_and_query}")) {
        Ok(uri) => uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    parts.version = Version::HTTP_11;
    remove_hop_by_hop(&mut parts.headers);
    // `Host` stays as the client sent it: the backends check it against the public host.
    let outcome = balancer.client.request(Request::from_parts(parts, body)).await;
    let status = outcome.as_ref().ok().map(http::Response::status);
    balancer.remember(Served { backend, method, path, status });
    match outcome {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(err) => {
            tracing::warn!(backend = %address, error = %err, "the backend could not be reached");
            (StatusCode::BAD_GATEWAY, "bad gateway").into_response()
        }
    }
}

/// Removes the hop-by-hop headers, and those the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
    // `Upgrade` only means something with `Connection: upgrade`, which is gone.
    headers.remove(header::UPGRADE);
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::net::TcpListener;

    use super::*;

    /// A backend that answers with its name and the `Host` and `X-Hop` headers it received.
    async fn backend(name: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/echo",
            get(move |headers: HeaderMap| async move {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
                let hop = headers.get("x-hop").map_or("absent", |_| "present");
                format!("{name} host={host} x-hop={hop}")
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    async fn serve(balancer: &Arc<Balancer>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = balancer.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    #[tokio::test]
    async fn alternates_keeps_host_drops_hop_by_hop_headers_and_counts() {
        let balancer = Balancer::new(vec![backend("a").await, backend("b").await]).unwrap();
        let front = serve(&balancer).await;
        let http = reqwest::Client::new();
        let mut answers = Vec::new();
        for _ in 0..4 {
            let response = http
                .get(format!("http://{front}/echo?code=secret"))
                .header(header::HOST, "mcp.example.com")
                .header(header::CONNECTION, "x-hop")
                .header("x-hop", "1")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            answers.push(response.text().await.unwrap());
        }
        assert_eq!(
            answers,
            [
                "a host=mcp.example.com x-hop=absent",
                "b host=mcp.example.com x-hop=absent",
                "a host=mcp.example.com x-hop=absent",
                "b host=mcp.example.com x-hop=absent",
            ]
        );
        assert_eq!(balancer.served(), [2, 2]);
        let since = balancer.served_since(2);
        assert_eq!(since.len(), 2);
        assert_eq!(since[0].backend, 0);
        assert_eq!(since[0].path, "/echo", "the query is never kept");
        assert_eq!(since[0].status, Some(StatusCode::OK));
        assert_eq!(balancer.next_backend(), 0);
    }

    /// A response is passed on as the backend writes it: the client reads the first chunk while the
    /// backend has not yet written the second (an SSE stream stays open between events).
    #[tokio::test]
    async fn streams_the_response_as_it_is_written() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (second, wait_second) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(format!("{head}7\r\ndata: 1\r\n").as_bytes()).await.unwrap();
            wait_second.await.unwrap();
            socket.write_all(b"7\r\ndata: 2\r\n0\r\n\r\n").await.unwrap();
        });
        let balancer = Balancer::new(vec![address]).unwrap();
        let front = serve(&balancer).await;
        let mut response = reqwest::get(format!("http://{front}/events")).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), response.chunk()).await;
        let first = first.expect("the first chunk arrives before the response ends").unwrap().unwrap();
        assert_eq!(&first[..], b"data: 1");
        second.send(()).unwrap();
        assert_eq!(&response.chunk().await.unwrap().unwrap()[..], b"data: 2");
        assert!(response.chunk().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_unreachable_backend_is_a_502_without_detail() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let balancer = Balancer::new(vec![closed]).unwrap();
        let front = serve(&balancer).await;
        let response = reqwest::get(format!("http://{front}/anything")).await.unwrap();
        assert_eq!(response.status(), 502);
        assert_eq!(response.text().await.unwrap(), "bad gateway");
        assert_eq!(balancer.served_since(0)[0].status, None);
        assert!(Balancer::new(Vec::new()).is_err());
    }
}
