//! [`MetadataDocuments`] over real HTTP: documents served by axum on loopback (with the development
//! allowance), hits counted on the server, time moved by a [`ManualClock`].

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcp_auth_core::clock::ManualClock;
use mcp_auth_oauth_server::{ApplicationType, ClientMetadataResolver, ClientOrigin, RegistrationPolicy};
use serde_json::{Value, json};

use super::*;

const PATH: &str = "/client.json";

/// A test server and how many requests it has seen.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn id(&self) -> String {
        self.url(PATH)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Serves `app(base URL)` on 127.0.0.1, counting requests.
async fn serve(app: impl FnOnce(&str) -> Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = app(&base).layer(axum::middleware::map_request(move |request: Request| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { request }
    }));
    let listener = mcp_auth_core::serve::no_delay(listener);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { base, hits }
}

/// Serves `respond(client id)` at [`PATH`].
async fn serve_document<F, R>(respond: F) -> Server
where
    F: Fn(String) -> R + Clone + Send + Sync + 'static,
    R: IntoResponse + Send + 'static,
{
    serve(|base| {
        let client_id = format!("{base}{PATH}");
        Router::new().route(PATH, get(move || std::future::ready(respond(client_id.clone()))))
    })
    .await
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Example CLI",
        "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
}

/// A JSON answer with `Cache-Control: cache_control` (none when empty).
fn json_answer(body: &Value, cache_control: &str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if !cache_control.is_empty() {
        response.headers_mut().insert(header::CACHE_CONTROL, cache_control.parse().unwrap());
    }
    response
}

fn development() -> MetadataDocumentsBuilder {
    MetadataDocuments::builder(RegistrationPolicy::default()).insecure_allow_loopback_http()
}

fn with_clock(builder: MetadataDocumentsBuilder) -> (MetadataDocuments, ManualClock) {
    let clock = ManualClock::starting_now();
    (builder.clock(Arc::new(clock.clone())).build().unwrap(), clock)
}

async fn refusal(documents: &MetadataDocuments, client_id: &str) -> String {
    let error = documents.resolve(client_id).await.unwrap_err();
    assert!(!error.is_unavailable(), "{client_id}: expected a refusal, got unavailable: {error}");
    error.to_string()
}

async fn unavailability(documents: &MetadataDocuments, client_id: &str) -> String {
    let error = documents.resolve(client_id).await.unwrap_err();
    assert!(error.is_unavailable(), "{client_id}: expected unavailable, got a refusal: {error}");
    error.to_string()
}

#[tokio::test]
async fn a_good_document_resolves_to_a_native_public_client() {
    let server = serve_document(|id| json_answer(&document(&id), "max-age=300")).await;
    let documents = development().build().unwrap();
    let id = server.id();
    assert!(documents.handles(&id));
    let client = documents.resolve(&id).await.unwrap();
    assert_eq!(client.client_id, id);
    assert_eq!(client.origin, ClientOrigin::MetadataDocument);
    assert_eq!(client.application_type, ApplicationType::Native);
    assert_eq!(client.client_name.as_deref(), Some("Example CLI"));
    assert!(!client.is_confidential());
    assert_eq!(
        client.matching_redirect_uri("http://127.0.0.1:53123/callback"),
        Some("http://127.0.0.1/callback"),
        "native loopback redirect URIs match on any port"
    );
    assert_eq!(MetadataDocuments::verified_host(&client), Some(server.base["http://".len()..].to_owned()));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_private_use_scheme_needs_application_type_native() {
    let server = serve(|base| {
        let native = format!("{base}/native.json");
        let web = format!("{base}/web.json");
        Router::new()
            .route(
                "/native.json",
                get(move || {
                    let body = json!({
                        "client_id": native, "client_name": "App", "application_type": "native",
                        "redirect_uris": ["com.example.app:/cb"],
                    });
                    std::future::ready(json_answer(&body, ""))
                }),
            )
            .route(
                "/web.json",
                get(move || {
                    let body =
                        json!({"client_id": web, "client_name": "App", "redirect_uris": ["com.example.app:/cb"]});
                    std::future::ready(json_answer(&body, ""))
                }),
            )
    })
    .await;
    let documents = development().build().unwrap();
    let client = documents.resolve(&server.url("/native.json")).await.unwrap();
    assert_eq!(client.application_type, ApplicationType::Native);
    assert_eq!(client.redirect_uris, ["com.example.app:/cb"]);
    let error = refusal(&documents, &server.url("/web.json")).await;
    assert!(error.contains("is not acceptable") && error.contains("com.example.app"), "{error}");
}

#[tokio::test]
async fn a_document_naming_another_client_id_is_refused() {
    let server = serve_document(|_| json_answer(&document("https://app.example.com/client.json"), "")).await;
    let documents = development().build().unwrap();
    let error = refusal(&documents, &server.id()).await;
    assert_eq!(
        error,
        format!("the client_id in the client metadata document at {} differs from its URL", server.id())
    );
}

#[tokio::test]
async fn redirects_are_refused_and_not_followed() {
    let server = serve(|base| {
        let target = format!("{base}/elsewhere.json");
        let document = document(&target);
        Router::new()
            .route(
                PATH,
                get(move || {
                    std::future::ready(
                        (StatusCode::FOUND, [(header::LOCATION, target.clone())]).into_response(),
                    )
                }),
            )
            .route("/elsewhere.json", get(move || std::future::ready(json_answer(&document, ""))))
    })
    .await;
    let documents = development().build().unwrap();
    let error = refusal(&documents, &server.id()).await;
    assert_eq!(
        error,
        format!(
            "the client metadata document at {} redirects (HTTP 302); redirects are not followed",
            server.id()
        )
    );
    assert_eq!(server.hits(), 1, "the redirect's target was never requested");
}

#[tokio::test]
async fn oversized_documents_are_refused_with_or_without_content_length() {
    let server = serve(|base| {
        let mut big = document(&format!("{base}{PATH}"));
        big["client_name"] = json!("x".repeat(6000));
        Router::new().route(PATH, get(move || std::future::ready(json_answer(&big, "")))).route(
            "/endless.json",
            get(|| async {
                // No Content-Length: chunked, and it never ends.
                let chunks =
                    futures_util::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from(vec![b' '; 1024])));
                ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(chunks))
            }),
        )
    })
    .await;
    let documents = development().build().unwrap();
    let error = refusal(&documents, &server.id()).await;
    assert!(error.ends_with("is larger than 5120 bytes"), "{error}");
    let started = Instant::now();
    let error =
        tokio::time::timeout(Duration::from_secs(4), refusal(&documents, &server.url("/endless.json")))
            .await
            .expect("reading stops at the limit");
    assert!(error.ends_with("is larger than 5120 bytes"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let small = development().max_document_bytes(100).build().unwrap();
    let server = serve_document(|id| json_answer(&document(&id), "")).await;
    assert!(refusal(&small, &server.id()).await.ends_with("is larger than 100 bytes"));
}

#[tokio::test]
async fn only_json_content_types_are_accepted() {
    let server = serve(|base| {
        let html = document(&format!("{base}/html.json")).to_string();
        let problem = document(&format!("{base}/plus.json")).to_string();
        let missing = document(&format!("{base}/none.json")).to_string();
        Router::new()
            .route(
                "/html.json",
                get(move || std::future::ready(([(header::CONTENT_TYPE, "text/html")], html))),
            )
            .route(
                "/plus.json",
                get(move || {
                    std::future::ready((
                        [(header::CONTENT_TYPE, "application/oauth-client+json; charset=utf-8")],
                        problem,
                    ))
                }),
            )
            .route("/none.json", get(move || std::future::ready(Response::new(Body::from(missing.clone())))))
    })
    .await;
    let documents = development().build().unwrap();
    for path in ["/html.json", "/none.json"] {
        let error = refusal(&documents, &server.url(path)).await;
        assert!(error.contains("is not served as JSON"), "{error}");
    }
    assert!(documents.resolve(&server.url("/plus.json")).await.is_ok());
}

#[tokio::test]
async fn malformed_documents_are_refused() {
    let server = serve(|base| {
        let secret = {
            let mut document = document(&format!("{base}/secret.json"));
            document["client_secret"] = json!("hunter2");
            document
        };
        let basic = {
            let mut document = document(&format!("{base}/basic.json"));
            document["token_endpoint_auth_method"] = json!("private_key_jwt");
            document
        };
        let json_type = || [(header::CONTENT_TYPE, "application/json")];
        Router::new()
            .route("/broken.json", get(move || std::future::ready((json_type(), "{\"client_id\": "))))
            .route("/array.json", get(move || std::future::ready((json_type(), "[]"))))
            .route("/secret.json", get(move || std::future::ready(json_answer(&secret, ""))))
            .route("/basic.json", get(move || std::future::ready(json_answer(&basic, ""))))
    })
    .await;
    let documents = development().build().unwrap();
    for (path, reason) in [
        ("/broken.json", "is not valid JSON"),
        ("/array.json", "is not a JSON object"),
        ("/secret.json", "holds client_secret"),
        ("/basic.json", "\"private_key_jwt\""),
    ] {
        let error = refusal(&documents, &server.url(path)).await;
        assert!(error.contains(reason), "{path}: {error}");
        assert!(!error.contains("hunter2"));
    }
}

#[tokio::test]
async fn a_slow_server_is_unavailable_after_the_timeout() {
    let server = serve(|base| {
        let document = document(&format!("{base}{PATH}"));
        Router::new().route(
            PATH,
            get(move || {
                let document = document.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    json_answer(&document, "")
                }
            }),
        )
    })
    .await;
    let documents = development().timeout(Duration::from_millis(300)).build().unwrap();
    let started = Instant::now();
    let error = unavailability(&documents, &server.id()).await;
    assert!(error.ends_with("did not answer within 300ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_are_unavailable_and_client_errors_refused() {
    let server = serve(|_| {
        Router::new()
            .route("/down.json", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/busy.json", get(|| async { StatusCode::TOO_MANY_REQUESTS }))
            .route("/gone.json", get(|| async { StatusCode::NOT_FOUND }))
    })
    .await;
    let documents = development().build().unwrap();
    assert!(unavailability(&documents, &server.url("/down.json")).await.contains("answered HTTP 500"));
    assert!(unavailability(&documents, &server.url("/busy.json")).await.contains("answered HTTP 429"));
    assert!(refusal(&documents, &server.url("/gone.json")).await.contains("answered HTTP 404"));
    let nobody = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = unavailability(&documents, &format!("http://{nobody}{PATH}")).await;
    assert!(error.ends_with("could not be reached"), "{error}");
}

#[tokio::test]
async fn clients_are_cached_for_their_max_age() {
    let server = serve_document(|id| json_answer(&document(&id), "public, max-age=600")).await;
    let (documents, clock) = with_clock(development());
    let id = server.id();
    documents.resolve(&id).await.unwrap();
    documents.resolve(&id).await.unwrap();
    assert_eq!(server.hits(), 1, "the second lookup within max-age made no request");
    clock.advance(Duration::from_secs(599));
    documents.resolve(&id).await.unwrap();
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(2));
    documents.resolve(&id).await.unwrap();
    assert_eq!(server.hits(), 2, "fetched again once max-age passed");
}

#[tokio::test]
async fn no_store_and_missing_headers_are_kept_the_minimum_and_max_age_is_capped() {
    for cache_control in ["no-store", "no-cache", "max-age=5", ""] {
        let server = serve_document(move |id| json_answer(&document(&id), cache_control)).await;
        let (documents, clock) = with_clock(development().min_cache_ttl(Duration::from_secs(60)));
        documents.resolve(&server.id()).await.unwrap();
        documents.resolve(&server.id()).await.unwrap();
        assert_eq!(server.hits(), 1, "{cache_control:?}: kept for the minimum");
        clock.advance(Duration::from_secs(61));
        documents.resolve(&server.id()).await.unwrap();
        assert_eq!(server.hits(), 2, "{cache_control:?}: fetched again after the minimum");
    }

    let server = serve_document(|id| json_answer(&document(&id), "max-age=31536000")).await;
    let (documents, clock) = with_clock(development().max_cache_ttl(Duration::from_secs(3600)));
    documents.resolve(&server.id()).await.unwrap();
    clock.advance(Duration::from_secs(3599));
    documents.resolve(&server.id()).await.unwrap();
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(2));
    documents.resolve(&server.id()).await.unwrap();
    assert_eq!(server.hits(), 2, "max-age is capped by max_cache_ttl");
}

#[tokio::test]
async fn failures_are_cached_briefly_and_in_few_entries() {
    let server =
        serve(|_| Router::new().route("/{name}", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))).await;
    let (documents, clock) =
        with_clock(development().failure_ttl(Duration::from_secs(30)).max_cached_failures(4));
    let id = server.url("/down.json");
    unavailability(&documents, &id).await;
    unavailability(&documents, &id).await;
    assert_eq!(server.hits(), 1, "the failure was remembered");
    clock.advance(Duration::from_secs(31));
    unavailability(&documents, &id).await;
    assert_eq!(server.hits(), 2, "and forgotten after failure_ttl");

    for n in 0..20 {
        unavailability(&documents, &server.url(&format!("/{n}.json"))).await;
    }
    assert_eq!(documents.inner.cache.sizes(), (0, 4), "bounded");
    assert_eq!(documents.inner.cache.flights(), 0, "no flight left behind");
}

#[tokio::test]
async fn concurrent_lookups_share_one_fetch() {
    let server = serve(|base| {
        let document = document(&format!("{base}{PATH}"));
        Router::new().route(
            PATH,
            get(move || {
                let document = document.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    json_answer(&document, "")
                }
            }),
        )
    })
    .await;
    let documents = development().build().unwrap();
    let id = server.id();
    let lookups = (0..10).map(|_| documents.resolve(&id));
    let clients = futures_util::future::join_all(lookups).await;
    assert!(clients.iter().all(Result::is_ok));
    assert_eq!(server.hits(), 1);
    assert_eq!(documents.inner.cache.flights(), 0);
}

#[tokio::test]
async fn fetches_past_the_concurrency_bound_are_turned_away_and_not_remembered() {
    let server = serve(|base| {
        let base = base.to_owned();
        Router::new().route(
            "/{name}",
            get(move |axum::extract::Path(name): axum::extract::Path<String>| {
                let document = document(&format!("{base}/{name}"));
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    json_answer(&document, "")
                }
            }),
        )
    })
    .await;
    let documents = development().max_concurrent_fetches(1).build().unwrap();
    let (a, b) = (server.url("/a.json"), server.url("/b.json"));
    let (a, b) = tokio::join!(documents.resolve(&a), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        documents.resolve(&b).await
    });
    assert!(a.is_ok());
    let error = b.unwrap_err();
    assert!(error.is_unavailable() && error.to_string().contains("too many"), "{error}");
    assert!(documents.resolve(&server.url("/b.json")).await.is_ok(), "the turn-away was not cached");
}

#[tokio::test]
async fn the_host_allow_list_refuses_before_any_request() {
    let server = serve_document(|id| json_answer(&document(&id), "")).await;
    let documents = development().allowed_hosts(["*.example.com", "claude.ai"]).build().unwrap();
    let error = refusal(&documents, &server.id()).await;
    assert_eq!(
        error,
        format!(
            "the client metadata document at {} is on the host 127.0.0.1, which this server does not trust to \
             describe clients",
            server.id()
        )
    );
    assert_eq!(server.hits(), 0, "a refused host is never contacted");
    let trusted = development().allowed_hosts(["127.0.0.1"]).build().unwrap();
    assert!(trusted.resolve(&server.id()).await.is_ok());
}

/// A listener that counts the connections it accepts.
async fn counting_listener(address: &str) -> Option<(u16, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind(address).await.ok()?;
    let port = listener.local_addr().ok()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    Some((port, accepted))
}

#[tokio::test]
async fn without_the_allowance_inside_addresses_are_refused_without_a_connection() {
    let (port, accepted) = counting_listener("127.0.0.1:0").await.unwrap();
    let v6 = counting_listener("[::1]:0").await;
    let port6 = v6.as_ref().map_or(9, |(port, _)| *port);
    let documents = MetadataDocuments::builder(RegistrationPolicy::default()).build().unwrap();
    for (client_id, reason, handled) in [
        (format!("http://127.0.0.1:{port}{PATH}"), "does not use https", false),
        (format!("http://localhost:{port}{PATH}"), "does not use https", false),
        (format!("https://127.0.0.1:{port}{PATH}"), "is on a loopback address", true),
        (format!("https://[::1]:{port6}{PATH}"), "is on a loopback address", true),
        ("https://[::ffff:127.0.0.1]/".to_owned(), "is on a loopback address", true),
        (format!("https://[::ffff:127.0.0.1]:{port}{PATH}"), "is on a loopback address", true),
        ("https://10.0.0.1/client.json".to_owned(), "is on a private address", true),
        ("https://169.254.169.254/latest/meta-data".to_owned(), "is on a link-local address", true),
        ("https://100.64.0.1/client.json".to_owned(), "carrier-grade NAT", true),
        ("https://[fd00::1]/client.json".to_owned(), "is on a unique-local address", true),
        (
            format!("https://localhost:{port}{PATH}"),
            "cannot be fetched: its host resolves to a loopback address",
            true,
        ),
    ] {
        assert_eq!(documents.handles(&client_id), handled, "{client_id}");
        let error = refusal(&documents, &client_id).await;
        assert!(error.contains(reason), "{client_id}: {error}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    if let Some((_, accepted)) = v6 {
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made over IPv6");
    }
    assert_eq!(documents.inner.cache.flights(), 0);
}

#[tokio::test]
async fn refused_client_ids_never_reach_the_cache() {
    let documents = development().allowed_hosts(["*.example.com"]).build().unwrap();
    for client_id in
        ["https://10.0.0.1/a.json", "https://evil.example.net/a.json", "http://app.example.com/a.json"]
    {
        refusal(&documents, client_id).await;
    }
    assert_eq!(documents.inner.cache.sizes(), (0, 0));
    assert_eq!(documents.inner.cache.flights(), 0);
}

#[test]
fn handles_never_panics_on_odd_client_ids() {
    let documents = development().build().unwrap();
    let long = format!("https://a.example/{}", "é".repeat(5000));
    for odd in [
        "",
        " ",
        "https://",
        "https:///x",
        "https://[::1/x",
        "https://%00/x",
        "https://a.example/\u{0}",
        "https://a.example:99999/x",
        "https://a.example/%",
        "\u{feff}https://a.example/x",
        long.as_str(),
        "https://xn--/x",
        "https://[::ffff:0:0]/x",
    ] {
        let _ = documents.handles(odd);
        let _ = ClientIdUrl::parse(odd, false);
    }
    assert!(!format!("{documents:?}").is_empty());
}

#[test]
fn contradictory_settings_are_refused_naming_the_setting() {
    let base = || MetadataDocuments::builder(RegistrationPolicy::default());
    for (builder, setting) in [
        (base().timeout(Duration::ZERO), "timeout"),
        (base().connect_timeout(Duration::ZERO), "connect_timeout"),
        (base().timeout(Duration::from_secs(2)).connect_timeout(Duration::from_secs(3)), "connect_timeout"),
        (base().max_document_bytes(0), "max_document_bytes"),
        (
            base().min_cache_ttl(Duration::from_secs(61)).max_cache_ttl(Duration::from_secs(60)),
            "min_cache_ttl",
        ),
        (base().failure_ttl(Duration::ZERO), "failure_ttl"),
        (base().max_concurrent_fetches(0), "max_concurrent_fetches"),
        (base().max_concurrent_fetches(usize::MAX), "max_concurrent_fetches"),
        (base().allowed_hosts(["*.com"]), "allowed_hosts"),
        (base().allowed_hosts(Vec::<String>::new()), "allowed_hosts"),
    ] {
        match builder.build() {
            Err(MetadataDocumentsConfigError::Invalid { setting: named, message }) => {
                assert_eq!(named, setting, "{message}");
            }
            other => panic!("{setting}: expected Invalid, got {other:?}"),
        }
    }
    let short = base().timeout(Duration::from_secs(1)).build().unwrap();
    assert_eq!(
        short.inner.settings.timeout,
        Duration::from_secs(1),
        "the default connect timeout shrinks to fit"
    );
}
