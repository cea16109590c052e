//! The metrics core records: each bearer-layer outcome counts once under its own label, the verifier is
//! timed, `InstrumentedStore` counts and times every operation (failures included), a Prometheus page
//! rendered after real requests parses, and `docs/observability.md` lists every metric and label value.
//!
//! Each test records into a thread-local recorder (`MetricsCapture`), so tests running in parallel do not
//! see each other's metrics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use mcp_auth_core::mcp_scope::McpScopePolicy;
use mcp_auth_core::metrics::{
    self, AuthOutcome, CacheResult, FlowEvent, FlowOutcome, StoreOperation, StoreOutcome, TokenCache,
    UpstreamOutcome, UpstreamTarget,
};
use mcp_auth_core::store::{Expiry, InstrumentedStore, KeyPage, KvStorage, MemoryStore, StoreError};
use mcp_auth_core::testkit::MetricsCapture;
use mcp_auth_core::{AccessToken, BearerAuthLayer, TokenVerifier, VerifyError};
use tower::ServiceExt;

/// Answers by the token's value, so one verifier produces every outcome.
#[derive(Debug)]
struct ByName;

#[async_trait]
impl TokenVerifier for ByName {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        match token {
            "good" => Ok(AccessToken::new(token).with_subject("user_1").with_scopes(["mcp:tools"])),
            "narrow" => Ok(AccessToken::new(token).with_subject("user_2")),
            "expired" => Err(VerifyError::expired()),
            "elsewhere" => Err(VerifyError::wrong_audience()),
            "short" => Err(VerifyError::InsufficientScope { required: vec!["mcp:tools".to_owned()] }),
            "down" => Err(VerifyError::unavailable("keys unavailable", "connection refused")),
            _ => Err(VerifyError::invalid("unknown token")),
        }
    }
}

fn app() -> Router {
    let policy = McpScopePolicy::builder().tool("delete_repo", ["repo:admin"]).build().unwrap();
    Router::new()
        .route("/mcp", get(|| async { "ok" }).post(|| async { "ok" }))
        .route("/other", post(|| async { "ok" }))
        .layer(BearerAuthLayer::new(Arc::new(ByName)).required_scopes(["mcp:tools"]).mcp_scopes(policy))
}

async fn get_with(authorization: &[&str]) -> StatusCode {
    let mut request = Request::get("/mcp");
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    app().oneshot(request.body(Body::empty()).unwrap()).await.unwrap().status()
}

async fn post_with(token: &str, body: &str) -> StatusCode {
    let request = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app().oneshot(request).await.unwrap().status()
}

const CALL_DELETE: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{}}}"#;

#[test]
fn each_bearer_outcome_counts_once_under_its_own_label() {
    let capture = MetricsCapture::new();
    // (what the request is, the status it gets, the outcome it counts under, whether the verifier ran)
    let cases: Vec<(&str, StatusCode, AuthOutcome, bool)> = capture.run(async {
        vec![
            ("valid token", get_with(&["Bearer good"]).await, AuthOutcome::Accepted, true),
            ("no header", get_with(&[]).await, AuthOutcome::Missing, false),
            ("another scheme", get_with(&["Basic dXNlcjpwYXNz"]).await, AuthOutcome::Missing, false),
            ("two headers", get_with(&["Bearer good", "Bearer good"]).await, AuthOutcome::Malformed, false),
            ("empty token", get_with(&["Bearer "]).await, AuthOutcome::Malformed, false),
            ("unknown token", get_with(&["Bearer nope"]).await, AuthOutcome::Invalid, true),
            ("hostile characters", get_with(&["Bearer a,b"]).await, AuthOutcome::Invalid, false),
            ("expired token", get_with(&["Bearer expired"]).await, AuthOutcome::Expired, true),
            ("wrong audience", get_with(&["Bearer elsewhere"]).await, AuthOutcome::WrongAudience, true),
            ("layer's scopes", get_with(&["Bearer narrow"]).await, AuthOutcome::InsufficientScope, true),
            ("verifier's scopes", get_with(&["Bearer short"]).await, AuthOutcome::InsufficientScope, true),
            ("verifier down", get_with(&["Bearer down"]).await, AuthOutcome::Unavailable, true),
            (
                "tool needs a scope",
                post_with("good", CALL_DELETE).await,
                AuthOutcome::InsufficientScope,
                true,
            ),
            ("unreadable MCP body", post_with("good", "{not json").await, AuthOutcome::Malformed, true),
        ]
    });
    let expected_status = |outcome: AuthOutcome| match outcome {
        AuthOutcome::Accepted => StatusCode::OK,
        AuthOutcome::Missing | AuthOutcome::Invalid | AuthOutcome::Expired | AuthOutcome::WrongAudience => {
            StatusCode::UNAUTHORIZED
        }
        AuthOutcome::Malformed => StatusCode::BAD_REQUEST,
        AuthOutcome::InsufficientScope => StatusCode::FORBIDDEN,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    for (what, status, outcome, _) in &cases {
        assert_eq!(*status, expected_status(*outcome), "{what}");
    }
    let recorded = capture.take();
    for outcome in AuthOutcome::ALL {
        let expected = cases.iter().filter(|case| case.2 == *outcome).count() as u64;
        assert!(expected > 0, "no case for {}", outcome.as_str());
        assert_eq!(
            recorded.counter(metrics::REQUESTS_TOTAL, &[("outcome", outcome.as_str())]),
            expected,
            "{}",
            outcome.as_str()
        );
    }
    assert_eq!(recorded.counter(metrics::REQUESTS_TOTAL, &[]), cases.len() as u64, "each request once");
    let verified = cases.iter().filter(|case| case.3).count();
    assert_eq!(recorded.histogram_count(metrics::VERIFY_DURATION_SECONDS, &[]), verified);
    // Only the outcome label, and never a token or a user.
    for labels in recorded.label_sets(metrics::REQUESTS_TOTAL) {
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].0, "outcome");
    }
}

#[test]
fn a_capture_sees_nothing_recorded_outside_it() {
    let capture = MetricsCapture::new();
    // Recorded on this thread but outside `run`: no recorder, a no-op.
    metrics::record_auth(AuthOutcome::Accepted);
    std::thread::spawn(|| metrics::record_auth(AuthOutcome::Accepted)).join().unwrap();
    assert_eq!(capture.take().counter(metrics::REQUESTS_TOTAL, &[]), 0);
}

#[test]
fn every_cache_lookup_counts_under_its_own_cache_and_result() {
    let capture = MetricsCapture::new();
    let pairs: Vec<(TokenCache, CacheResult)> = TokenCache::ALL
        .iter()
        .flat_map(|cache| CacheResult::ALL.iter().map(move |result| (*cache, *result)))
        .collect();
    capture.run(async {
        // A different count for each pair, so a key mixed up with another one shows.
        for (n, (cache, result)) in pairs.iter().enumerate() {
            for _ in 0..=n {
                metrics::record_cache(*cache, *result);
            }
        }
    });
    let recorded = capture.take();
    for (n, (cache, result)) in pairs.iter().enumerate() {
        let labels = [("cache", cache.as_str()), ("result", result.as_str())];
        assert_eq!(recorded.counter(metrics::TOKEN_CACHE_TOTAL, &labels), n as u64 + 1, "{labels:?}");
    }
    assert_eq!(recorded.label_sets(metrics::TOKEN_CACHE_TOTAL).len(), pairs.len());
}

/// A store whose every operation fails as unreachable.
#[derive(Debug)]
struct Down;

fn down() -> StoreError {
    StoreError::Unavailable { backend: "down", source: "connection refused".into() }
}

#[async_trait]
impl KvStorage for Down {
    async fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(down())
    }
    async fn put(&self, _: &str, _: &str, _: &[u8], _: Option<Duration>) -> Result<(), StoreError> {
        Err(down())
    }
    async fn put_if_absent(
        &self,
        _: &str,
        _: &str,
        _: &[u8],
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn compare_and_swap(
        &self,
        _: &str,
        _: &str,
        _: Option<&[u8]>,
        _: &[u8],
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn delete(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn take(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(down())
    }
    async fn remaining_ttl(&self, _: &str, _: &str) -> Result<Option<Expiry>, StoreError> {
        Err(down())
    }
    async fn list_keys(&self, _: &str, _: Option<&str>, _: usize) -> Result<KeyPage, StoreError> {
        Err(down())
    }
}

#[test]
fn instrumented_store_counts_and_times_every_operation() {
    let capture = MetricsCapture::new();
    capture.run(async {
        let store = InstrumentedStore::new(MemoryStore::new(), "memory");
        store.put("c", "k", b"v", None).await.unwrap();
        assert_eq!(store.get("c", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(store.get("c", "missing").await.unwrap(), None, "a miss is a success");
        assert!(!store.put_if_absent("c", "k", b"w", None).await.unwrap());
        assert!(store.compare_and_swap("c", "k", Some(b"v"), b"w", None).await.unwrap());
        assert_eq!(store.remaining_ttl("c", "k").await.unwrap(), Some(Expiry::Never));
        assert_eq!(store.list_keys("c", None, 10).await.unwrap().keys, vec!["k".to_owned()]);
        assert_eq!(store.take("c", "k").await.unwrap().as_deref(), Some(&b"w"[..]));
        assert!(!store.delete("c", "k").await.unwrap());
        // A failing operation: an invalid key is refused by the backend.
        assert!(matches!(store.put("", "k", b"v", None).await, Err(StoreError::InvalidKey { .. })));
        // An unreachable backend.
        let unreachable = InstrumentedStore::new(Down, "redis");
        assert!(unreachable.get("c", "k").await.unwrap_err().is_unavailable());
        assert!(unreachable.take("c", "k").await.unwrap_err().is_unavailable());
    });
    let recorded = capture.take();
    let count = |backend: &str, operation: StoreOperation, outcome: StoreOutcome| {
        recorded.counter(
            metrics::STORE_OPERATIONS_TOTAL,
            &[("backend", backend), ("operation", operation.as_str()), ("outcome", outcome.as_str())],
        )
    };
    assert_eq!(count("memory", StoreOperation::Get, StoreOutcome::Ok), 2);
    assert_eq!(count("memory", StoreOperation::Put, StoreOutcome::Ok), 1);
    assert_eq!(count("memory", StoreOperation::Put, StoreOutcome::Error), 1);
    for operation in [
        StoreOperation::PutIfAbsent,
        StoreOperation::CompareAndSwap,
        StoreOperation::RemainingTtl,
        StoreOperation::ListKeys,
        StoreOperation::Take,
        StoreOperation::Delete,
    ] {
        assert_eq!(count("memory", operation, StoreOutcome::Ok), 1, "{}", operation.as_str());
    }
    assert_eq!(count("redis", StoreOperation::Get, StoreOutcome::Unavailable), 1);
    assert_eq!(count("redis", StoreOperation::Take, StoreOutcome::Unavailable), 1);
    assert_eq!(recorded.counter(metrics::STORE_OPERATIONS_TOTAL, &[]), 12);
    assert_eq!(recorded.histogram_count(metrics::STORE_DURATION_SECONDS, &[]), 12);
    assert_eq!(
        recorded
            .histogram_count(metrics::STORE_DURATION_SECONDS, &[("backend", "memory"), ("operation", "get")]),
        2
    );
    // Neither the collection, the key nor the value is a label.
    for labels in recorded.label_sets(metrics::STORE_OPERATIONS_TOTAL) {
        let keys: Vec<&str> = labels.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["backend", "operation", "outcome"]);
    }
}

// ---- The Prometheus page ----

/// One sample line: the metric name, its labels and its value.
type Sample = (String, Vec<(String, String)>, f64);

/// A strict reader of the Prometheus text exposition format (version 0.0.4): every line is a `# HELP`,
/// a `# TYPE` or a sample `name{label="value",...} value`, with valid names, label syntax and float
/// values. Returns the samples as (name, labels, value).
fn parse_exposition(page: &str) -> Vec<Sample> {
    fn is_metric_name(name: &str) -> bool {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    }
    fn is_label_name(name: &str) -> bool {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }
    fn parse_value(text: &str) -> Option<f64> {
        match text {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ if text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) =>
            {
                text.parse().ok()
            }
            _ => None,
        }
    }
    /// `label="value",...}` after the `{`: the labels and the rest of the line after the `}`.
    fn parse_labels(mut rest: &str, line: &str) -> (Vec<(String, String)>, String) {
        let mut labels = Vec::new();
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                return (labels, after.to_owned());
            }
            let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("label without =\": {line}"));
            assert!(is_label_name(name), "bad label name {name:?}: {line}");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        other => panic!("bad escape {other:?}: {line}"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value: {line}"),
                }
            };
            labels.push((name.to_owned(), value));
            rest = &after[end + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else {
                assert!(rest.starts_with('}'), "labels not closed: {line}");
            }
        }
    }

    let mut samples = Vec::new();
    let mut typed = std::collections::HashMap::new();
    for line in page.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("HELP without text: {line}"));
            assert!(is_metric_name(name) && !help.is_empty(), "bad HELP line: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("TYPE without type: {line}"));
            assert!(is_metric_name(name), "bad TYPE name: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE: {line}"
            );
            assert!(typed.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE given twice: {line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment line: {line}");
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("sample without value: {line}"));
        let name = &line[..name_end];
        assert!(is_metric_name(name), "bad metric name {name:?}: {line}");
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(rest) => parse_labels(rest, line),
            None => (Vec::new(), line[name_end..].to_owned()),
        };
        let mut fields = rest.trim_start_matches(' ').split(' ');
        let value = fields.next().and_then(parse_value).unwrap_or_else(|| panic!("bad value: {line}"));
        if let Some(timestamp) = fields.next() {
            assert!(timestamp.parse::<i64>().is_ok(), "bad timestamp: {line}");
        }
        assert!(fields.next().is_none(), "trailing fields: {line}");
        let family = ["_sum", "_count", "_bucket"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|base| typed.contains_key(*base)))
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample before its TYPE line: {line}");
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

#[test]
fn the_strict_reader_refuses_broken_pages() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"a\\\"b\"} 3\n";
    assert_eq!(parse_exposition(good).len(), 1);
    for bad in [
        "# TYPE a_total counter\na_total{x=1} 3\n",
        "# TYPE a_total counter\na_total{x=\"1\"} three\n",
        "# TYPE a_total counter\n1a_total 3\n",
        "a_total 3\n",
        "# TYPE a_total counter\na_total{x=\"1\" 3\n",
        "# TYPE a_total countr\na_total 3\n",
    ] {
        let page = bad.to_owned();
        let refused = std::panic::catch_unwind(move || parse_exposition(&page)).is_err();
        assert!(refused, "accepted {bad:?}");
    }
}

#[test]
fn a_prometheus_page_rendered_after_real_requests_parses_and_holds_every_series() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    ::metrics::with_local_recorder(&recorder, || {
        metrics::describe();
        runtime.block_on(async {
            assert_eq!(get_with(&["Bearer good"]).await, StatusCode::OK);
            assert_eq!(get_with(&["Bearer good"]).await, StatusCode::OK);
            assert_eq!(get_with(&["Bearer expired"]).await, StatusCode::UNAUTHORIZED);
            assert_eq!(get_with(&[]).await, StatusCode::UNAUTHORIZED);
            let store = InstrumentedStore::new(MemoryStore::new(), "memory");
            store.put("c", "k", b"v", None).await.unwrap();
        });
        metrics::record_cache(TokenCache::Jwt, CacheResult::Hit);
        metrics::record_upstream(UpstreamTarget::Jwks, UpstreamOutcome::Success, Duration::from_millis(12));
        metrics::record_flow(FlowEvent::Registration, FlowOutcome::Success);
    });
    let page = handle.render();
    let samples = parse_exposition(&page);
    let value = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, value)| *value)
    };
    assert_eq!(value(metrics::REQUESTS_TOTAL, &[("outcome", "accepted")]), Some(2.0), "{page}");
    assert_eq!(value(metrics::REQUESTS_TOTAL, &[("outcome", "expired")]), Some(1.0), "{page}");
    assert_eq!(value(metrics::REQUESTS_TOTAL, &[("outcome", "missing")]), Some(1.0), "{page}");
    assert_eq!(value(&format!("{}_count", metrics::VERIFY_DURATION_SECONDS), &[]), Some(3.0), "{page}");
    assert_eq!(
        value(
            metrics::STORE_OPERATIONS_TOTAL,
            &[("backend", "memory"), ("operation", "put"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(value(metrics::TOKEN_CACHE_TOTAL, &[("cache", "jwt"), ("result", "hit")]), Some(1.0));
    assert_eq!(
        value(metrics::UPSTREAM_REQUESTS_TOTAL, &[("target", "jwks"), ("outcome", "success")]),
        Some(1.0)
    );
    assert_eq!(
        value(metrics::FLOW_EVENTS_TOTAL, &[("event", "registration"), ("outcome", "success")]),
        Some(1.0)
    );
    for name in metrics::ALL {
        assert!(page.contains(&format!("# HELP {name} ")), "no HELP for {name}:\n{page}");
        assert!(page.contains(&format!("# TYPE {name} ")), "no TYPE for {name}:\n{page}");
    }
    assert!(!page.contains("good") && !page.contains("user_1"), "a token or user leaked:\n{page}");
}

// ---- The documentation ----

#[test]
fn docs_observability_lists_every_metric_and_label_value() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/observability.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"));
    for name in metrics::ALL {
        assert!(doc.contains(&format!("`{name}`")), "docs/observability.md does not list `{name}`");
    }
    let mut values: Vec<&str> = Vec::new();
    values.extend(AuthOutcome::ALL.iter().map(|v| v.as_str()));
    values.extend(TokenCache::ALL.iter().map(|v| v.as_str()));
    values.extend(CacheResult::ALL.iter().map(|v| v.as_str()));
    values.extend(UpstreamTarget::ALL.iter().map(|v| v.as_str()));
    values.extend(UpstreamOutcome::ALL.iter().map(|v| v.as_str()));
    values.extend(StoreOperation::ALL.iter().map(|v| v.as_str()));
    values.extend(StoreOutcome::ALL.iter().map(|v| v.as_str()));
    values.extend(FlowEvent::ALL.iter().map(|v| v.as_str()));
    values.extend(FlowOutcome::ALL.iter().map(|v| v.as_str()));
    for value in values {
        assert!(
            doc.contains(&format!("`{value}`")),
            "docs/observability.md does not list the label value `{value}`"
        );
    }
    for key in [
        metrics::label::OUTCOME,
        metrics::label::CACHE,
        metrics::label::RESULT,
        metrics::label::TARGET,
        metrics::label::BACKEND,
        metrics::label::OPERATION,
        metrics::label::EVENT,
    ] {
        assert!(doc.contains(&format!("`{key}`")), "docs/observability.md does not name the label `{key}`");
    }
}
