//! `mcp-auth gateway` as a real process, between the rmcp client (and raw HTTP) and a real upstream: an
//! rmcp streamable-HTTP server in this test that records the headers it receives, or the stdio example
//! server the gateway starts and supervises. The dev IdP poses as AuthKit and issues the tokens.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use futures_util::StreamExt as _;
use http::HeaderMap;
use mcp_auth_dev_idp::{DevIdp, DevIdpHandle, DevUser};
use mcp_auth_examples::client;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, Implementation, ProgressNotificationParam,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tokio::sync::Notify;

const DEADLINE: Duration = Duration::from_secs(120);

/// What the upstream saw, shared with the test.
#[derive(Debug, Default)]
struct Seen {
    headers: Mutex<Vec<HeaderMap>>,
    /// Released by the test once it has read the first streamed event through the gateway.
    release: Notify,
}

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct EchoInput {
    text: String,
}

#[derive(Debug, Clone)]
struct Upstream {
    seen: Arc<Seen>,
}

#[tool_router]
impl Upstream {
    #[tool(description = "Answer the text.")]
    async fn echo(&self, Parameters(input): Parameters<EchoInput>) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(input.text)]))
    }

    #[tool(description = "Admins only, by the gateway's policy.")]
    async fn admin_only(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text("admin work done")]))
    }

    #[tool(description = "Reports progress, then waits to be released before it answers.")]
    async fn stream(&self, context: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        if let Some(token) = context.meta.get_progress_token() {
            let _ = context.peer.notify_progress(ProgressNotificationParam::new(token, 1.0)).await;
        }
        self.seen.release.notified().await;
        Ok(CallToolResult::success(vec![ContentBlock::text("stream finished")]))
    }
}

#[tool_handler]
impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("recording-upstream", "1"))
    }
}

/// The upstream MCP server on a free loopback port; its MCP URL.
async fn start_upstream(seen: Arc<Seen>) -> String {
    let for_factory = Arc::clone(&seen);
    let service = StreamableHttpService::new(
        move || Ok(Upstream { seen: Arc::clone(&for_factory) }),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let record = Arc::clone(&seen);
    let app = axum::Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let record = Arc::clone(&record);
            async move {
                record.headers.lock().unwrap().push(request.headers().clone());
                next.run(request).await
            }
        },
    ));
    let listener = mcp_auth_core::serve::bind("127.0.0.1:0").await.expect("bind");
    let address = axum::serve::Listener::local_addr(&listener).expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/mcp")
}

async fn start_idp() -> DevIdpHandle {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").roles(["member"]).org_id("org_1"))
        .user(DevUser::new("user_grace", "grace@example.com").roles(["admin"]).org_id("org_1"))
        .start()
        .await
        .expect("dev IdP")
}

/// A running `mcp-auth gateway`, killed on drop.
struct Gateway {
    child: Child,
    base: String,
    metrics: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

async fn start_gateway(idp: &DevIdpHandle, args: &[&str], files: &[(&str, &str)]) -> Gateway {
    let provider =
        [("MCP_AUTH_PROVIDER", "authkit".to_owned()), ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url().to_owned())];
    start_gateway_on(free_port(), &provider, args, files).await
}

/// The gateway on `port`, its provider configured by `provider` (`MCP_AUTH_BASE_URL` is added).
async fn start_gateway_on(
    port: u16,
    provider: &[(&str, String)],
    args: &[&str],
    files: &[(&str, &str)],
) -> Gateway {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let metrics_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("gateway.log");
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .arg("gateway")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .envs(provider.iter().map(|(name, value)| (*name, value.as_str())))
        .env("MCP_AUTH_BASE_URL", &base)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start mcp-auth gateway");
    let mut gateway =
        Gateway { child, base, metrics: format!("http://127.0.0.1:{metrics_port}/metrics"), log, _dir: dir };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = gateway.child.try_wait() {
            panic!("the gateway exited ({status}):\n{}", gateway.log());
        }
        if let Ok(response) = reqwest::get(format!("{}/healthz", gateway.base)).await
            && response.status() == 200
        {
            return gateway;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the gateway did not start:\n{}", gateway.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn token(idp: &DevIdpHandle, gateway: &Gateway, user: &str) -> String {
    idp.issue_access_token(user, &gateway.mcp(), ["openid"]).expect("token")
}

/// A JSON-RPC POST as an MCP client sends it.
fn post(gateway: &Gateway, token: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .post(gateway.mcp())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

/// The JSON-RPC messages in a JSON or SSE answer.
fn messages(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("text/event-stream") {
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    } else {
        serde_json::from_str(body).into_iter().collect()
    }
}

/// Checks `text` is Prometheus text exposition: comments, and `name{labels} value` samples.
fn assert_prometheus(text: &str) {
    assert!(!text.trim().is_empty(), "empty metrics page");
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(comment.starts_with("HELP ") || comment.starts_with("TYPE "), "bad comment: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value: {line}"
        );
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            let labels = series[name_end..].strip_prefix('{').and_then(|l| l.strip_suffix('}'));
            let labels = labels.unwrap_or_else(|| panic!("bad labels: {line}"));
            for label in labels.split("\",").filter(|label| !label.is_empty()) {
                let (key, value) = label.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name: {line}");
                assert!(!value.trim_end_matches('"').contains('"'), "bad label value: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_upstream_sees_no_credentials_and_streams_pass_through() {
    tokio::time::timeout(DEADLINE, http_upstream()).await.expect("the test ran past its deadline");
}

async fn http_upstream() {
    let idp = start_idp().await;
    let seen = Arc::new(Seen::default());
    let upstream = start_upstream(Arc::clone(&seen)).await;
    let policy = "hide_unauthorized = true\n[tools.admin_only]\nroles = [\"admin\"]\n[tools.echo_notes]\nscopes = [\"notes:write\"]\n";
    let gateway = start_gateway(
        &idp,
        &[
            "--upstream",
            &upstream,
            "--identity-header",
            "user=X-Auth-User",
            "--identity-header",
            "roles=X-Auth-Roles",
            "--policy",
            "policy.toml",
        ],
        &[("policy.toml", policy)],
    )
    .await;

    // Without a valid token nothing reaches the upstream.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    for token in [None, Some("garbage"), Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")] {
        let response = post(&gateway, token, &initialize).send().await.expect("request");
        assert_eq!(response.status(), 401, "{token:?}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("resource_metadata="));
    }
    let expired = {
        let mut request = post(&gateway, None, &initialize);
        request = request.header("authorization", "Basic dXNlcjpwYXNz");
        request.send().await.expect("request")
    };
    assert_eq!(expired.status(), 401);
    assert!(seen.headers.lock().unwrap().is_empty(), "an unauthenticated request reached the upstream");

    // A raw legacy session, with spoofed identity headers and a cookie: initialize, then a streamed call.
    let ada = token(&idp, &gateway, "user_ada");
    let response = post(&gateway, Some(&ada), &initialize)
        .header("x-auth-user", "user_mallory")
        .header("x-auth-roles", "admin")
        .header("cookie", "session=gateway-secret")
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), 200, "{}", gateway.log());
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let answers = messages(&content_type, &response.text().await.unwrap());
    assert_eq!(answers[0]["result"]["serverInfo"]["name"], "recording-upstream", "{answers:?}");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(&gateway, Some(&ada), &initialized)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("initialized");
    assert_eq!(response.status(), 202);

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "stream", "arguments": {}, "_meta": {"progressToken": "p1"}}});
    let response = post(&gateway, Some(&ada), &call)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("tools/call");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let mut text = String::new();
    // The tool does not answer until released: the progress event must come through first, as it is sent.
    while !text.contains("notifications/progress") {
        let chunk = body.next().await.expect("the stream ended before the progress event").expect("chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!text.contains("stream finished"), "the answer came before the release: {text}");
    seen.release.notify_one();
    while !text.contains("stream finished") {
        let chunk = body.next().await.expect("the stream ended before the answer").expect("chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }

    {
        let headers = seen.headers.lock().unwrap();
        assert_eq!(headers.len(), 3, "initialize, initialized, tools/call");
        for seen in headers.iter() {
            assert!(seen.get("authorization").is_none(), "the bearer token reached the upstream");
            assert!(seen.get("cookie").is_none(), "the gateway's cookie reached the upstream");
            assert_eq!(seen.get_all("x-auth-user").iter().collect::<Vec<_>>(), ["user_ada"]);
            assert_eq!(seen.get_all("x-auth-roles").iter().collect::<Vec<_>>(), ["member"]);
            assert!(seen.get("x-forwarded-for").is_some());
        }
        assert_eq!(headers[2]["mcp-session-id"], session.as_str());
        assert_eq!(headers[2]["mcp-protocol-version"], "2025-06-18");
    }

    // The rmcp client: the member sees no admin_only and cannot call it; the admin can.
    let member = client::connect_with_token(&gateway.mcp(), &ada).await.expect("connect as ada");
    let tools = member.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert!(names.contains(&"echo") && !names.contains(&"admin_only"), "{names:?}");
    let echoed = member
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"text": "hi"}).as_object().cloned().unwrap()),
        )
        .await
        .expect("echo");
    assert_eq!(client::text_of(&echoed).as_deref(), Some("hi"));
    let before = seen.headers.lock().unwrap().len();
    let refused = client::try_call(&member, "admin_only").await.expect_err("a member called admin_only");
    let error = client::mcp_error(&refused).expect("an MCP error");
    assert_eq!(error.code.0, -32003);
    assert!(error.message.contains("needs one of the roles: admin"), "{}", error.message);
    assert_eq!(seen.headers.lock().unwrap().len(), before, "the refused call reached the upstream");
    member.cancel().await.expect("close");

    // A tool that needs a scope the token lacks: the step-up challenge, before the upstream sees it.
    let before = seen.headers.lock().unwrap().len();
    let scoped = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "echo_notes", "arguments": {}}});
    let response = post(&gateway, Some(&ada), &scoped).send().await.expect("tools/call echo_notes");
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("insufficient_scope") && challenge.contains("notes:write"), "{challenge}");
    assert_eq!(seen.headers.lock().unwrap().len(), before, "the challenged call reached the upstream");

    let admin = client::connect_with_token(&gateway.mcp(), &token(&idp, &gateway, "user_grace"))
        .await
        .expect("grace");
    let tools = admin.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|tool| tool.name == "admin_only"));
    let done = client::call(&admin, "admin_only").await.expect("admin_only as an admin");
    assert_eq!(client::text_of(&done).as_deref(), Some("admin work done"));
    admin.cancel().await.expect("close");

    // Health, readiness and the metrics page.
    let ready: Value = reqwest::get(format!("{}/readyz", gateway.base)).await.unwrap().json().await.unwrap();
    assert_eq!(ready, json!({"status": "ready", "checks": {"store": "ok", "keys": "ok", "upstream": "ok"}}));
    let page = reqwest::get(&gateway.metrics).await.unwrap().text().await.unwrap();
    assert_prometheus(&page);
    assert!(
        page.contains("mcp_auth_gateway_upstream_requests_total{upstream=\"http\",outcome=\"ok\"}"),
        "{page}"
    );
    assert!(page.contains("mcp_auth_gateway_tool_refusals_total 1"), "{page}");
    // The library's own series, through the same recorder: the bearer layer's outcomes and latency.
    for series in [
        "mcp_auth_requests_total{outcome=\"missing\"}",
        "mcp_auth_requests_total{outcome=\"accepted\"}",
        "mcp_auth_verify_duration_seconds_bucket",
    ] {
        assert!(page.contains(series), "{series} missing from:\n{page}");
    }
    assert!(page.contains("# HELP mcp_auth_gateway_upstream_requests_total"), "{page}");
    idp.shutdown().await;
}

/// The stdio example server, built next to the gateway by `cargo test`.
fn stdio_example() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_mcp-auth"));
    let path = binary.parent().expect("target dir").join("examples").join("stdio_server");
    assert!(
        path.is_file(),
        "{} is missing: cargo test builds it (cargo build -p mcp-auth-cli --example stdio_server)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_upstream_needs_a_token_and_is_restarted_when_it_dies() {
    tokio::time::timeout(DEADLINE, stdio_upstream()).await.expect("the test ran past its deadline");
}

async fn stdio_upstream() {
    let idp = start_idp().await;
    let server = stdio_example();
    let gateway = start_gateway(
        &idp,
        &["--upstream-command", &server.display().to_string(), "--upstream-timeout", "3"],
        &[],
    )
    .await;

    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(post(&gateway, None, &ping).send().await.unwrap().status(), 401);
    assert_eq!(post(&gateway, Some("garbage"), &ping).send().await.unwrap().status(), 401);

    let ada = token(&idp, &gateway, "user_ada");
    let session = client::connect_with_token(&gateway.mcp(), &ada).await.expect("connect over the gateway");
    let pid_of = |result: CallToolResult| client::text_of(&result).and_then(|text| text.parse::<u32>().ok());
    let first = pid_of(client::call(&session, "pid").await.expect("pid")).expect("a pid");
    let echoed = session
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"text": "over stdio"}).as_object().cloned().unwrap()),
        )
        .await
        .expect("echo");
    assert_eq!(client::text_of(&echoed).as_deref(), Some("over stdio"));
    // The gateway's own settings (provider, keys) are not given to the server it runs.
    let names = client::call(&session, "env_names").await.expect("env_names");
    assert_eq!(
        client::text_of(&names).as_deref(),
        Some(""),
        "the child saw the gateway's MCP_AUTH_* variables"
    );
    // A line too long to read is dropped (the call fails); the server goes on serving, unrestarted.
    let huge = client::try_call(&session, "huge").await;
    assert!(huge.is_err(), "a 17 MiB line was read");
    let same = pid_of(client::call(&session, "pid").await.expect("pid after the huge line")).expect("a pid");
    assert_eq!(same, first, "the server was restarted after a long line");

    // Hostile bodies get JSON-RPC errors, not a crash.
    for (body, status) in [("not json", 400), ("[]", 400), ("42", 400)] {
        let response = reqwest::Client::new()
            .post(gateway.mcp())
            .bearer_auth(&ada)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
    }
    let get = reqwest::Client::new().get(gateway.mcp()).bearer_auth(&ada).send().await.unwrap();
    assert_eq!(get.status(), 405);

    // Kill the server: the gateway starts another, and the same client goes on.
    let killed = Command::new("kill").args(["-9", &first.to_string()]).status().expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let second = loop {
        if let Ok(result) = client::try_call(&session, "pid").await
            && let Some(pid) = pid_of(result)
            && pid != first
        {
            break pid;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no restart:\n{}", gateway.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(first, second);
    let ready: Value = reqwest::get(format!("{}/readyz", gateway.base)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["upstream"], "ok", "{ready}");
    let page = reqwest::get(&gateway.metrics).await.unwrap().text().await.unwrap();
    assert_prometheus(&page);
    assert!(page.contains("mcp_auth_gateway_stdio_restarts_total"), "{page}");
    session.cancel().await.expect("close");
    idp.shutdown().await;
}

#[test]
fn the_gateway_metrics_are_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/observability.md"))
            .expect("docs/observability.md");
    for name in mcp_auth_cli::gateway::GATEWAY_METRICS {
        assert!(doc.contains(&format!("`{name}`")), "{name} is not in docs/observability.md");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workos_proxy_and_jwt_providers_front_a_stdio_server() {
    tokio::time::timeout(DEADLINE, other_providers()).await.expect("the test ran past its deadline");
}

async fn other_providers() {
    use mcp_auth_examples::dev_idp::{PROXY_CLIENT_ID, PROXY_CLIENT_SECRET, start_as_proxy_upstream};
    let server = stdio_example().display().to_string();
    let port = free_port();
    let idp =
        start_as_proxy_upstream(&format!("http://127.0.0.1:{port}/auth/callback")).await.expect("dev IdP");

    // The WorkOS OAuth proxy: the gateway is the authorization server the MCP client signs in with.
    let proxy = [
        ("MCP_AUTH_PROVIDER", "workos".to_owned()),
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url().to_owned()),
        ("MCP_AUTH_WORKOS_CLIENT_ID", PROXY_CLIENT_ID.to_owned()),
        ("MCP_AUTH_WORKOS_CLIENT_SECRET", PROXY_CLIENT_SECRET.to_owned()),
        ("MCP_AUTH_ALLOWED_CLIENT_REDIRECT_URIS", "http://localhost:*,http://127.0.0.1:*".to_owned()),
    ];
    let gateway = start_gateway_on(port, &proxy, &["--upstream-command", &server], &[]).await;
    let metadata: Value = reqwest::get(format!("{}/.well-known/oauth-authorization-server", gateway.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], gateway.base.as_str(), "{metadata}");
    let (session, _) =
        client::sign_in(&gateway.mcp(), "ada@example.com").await.expect("sign in through the gateway");
    let echoed = session
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"text": "via the proxy"}).as_object().cloned().unwrap()),
        )
        .await
        .expect("echo");
    assert_eq!(client::text_of(&echoed).as_deref(), Some("via the proxy"));
    session.cancel().await.expect("close");
    // An upstream (dev IdP) token is not a gateway token.
    let upstream_token = idp.issue_access_token("user_ada", &gateway.mcp(), ["openid"]).expect("token");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(post(&gateway, Some(&upstream_token), &ping).send().await.unwrap().status(), 401);
    drop(gateway);

    // Any JWT issuer: the dev IdP's tokens, keys found through its metadata.
    let jwt = [("MCP_AUTH_PROVIDER", "jwt".to_owned()), ("MCP_AUTH_JWT_ISSUER", idp.issuer().to_owned())];
    let gateway = start_gateway_on(free_port(), &jwt, &["--upstream-command", &server], &[]).await;
    let token = token(&idp, &gateway, "user_ada");
    let session = client::connect_with_token(&gateway.mcp(), &token).await.expect("connect with a JWT");
    let pid = client::call(&session, "pid").await.expect("pid");
    assert!(client::text_of(&pid).is_some_and(|text| text.parse::<u32>().is_ok()));
    session.cancel().await.expect("close");
    let other_audience =
        idp.issue_access_token("user_ada", "https://api.example.com", ["openid"]).expect("token");
    assert_eq!(post(&gateway, Some(&other_audience), &ping).send().await.unwrap().status(), 401);
    idp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_policy_cannot_be_slipped_past() {
    tokio::time::timeout(DEADLINE, role_policy()).await.expect("the test ran past its deadline");
}

/// Bodies the gateway's reader and a lenient upstream might read differently, with a policy of roles only
/// (so nothing but the gateway reads the body before the upstream).
async fn role_policy() {
    let idp = start_idp().await;
    let seen = Arc::new(Seen::default());
    let upstream = start_upstream(Arc::clone(&seen)).await;
    let policy = "hide_unauthorized = true\n[tools.admin_only]\nroles = [\"admin\"]\n";
    let gateway = start_gateway(
        &idp,
        &["--upstream", &upstream, "--policy", "policy.toml"],
        &[("policy.toml", policy)],
    )
    .await;
    let ada = token(&idp, &gateway, "user_ada");
    let raw = |body: &'static [u8]| {
        reqwest::Client::new()
            .post(gateway.mcp())
            .bearer_auth(&ada)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body)
    };
    for (body, status) in [
        // A number serde cannot hold, which other readers take as Infinity.
        (&br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_only","arguments":{"x":1e400}}}"#[..], 400),
        // A lone surrogate.
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_only","arguments":{"x":"\ud800"}}}"#, 400),
        // No id: still refused, and not forwarded.
        (br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"admin_only"}}"#, 403),
        // Names that differ only in case (a case-insensitive reader would run admin_only).
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","NAME":"admin_only"}}"#, 400),
        // A duplicate member.
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"admin_only"}}"#, 400),
        // A call without a tool name.
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#, 400),
        // A byte-order mark, which serde refuses and some readers skip.
        (b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\"}", 400),
        // The refused call in a batch: nothing of the batch is forwarded.
        (br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"admin_only"}}]"#, 200),
    ] {
        let response = raw(body).send().await.expect("request");
        assert_eq!(response.status(), status, "{}", String::from_utf8_lossy(body));
    }
    let gzip = raw(b"\x1f\x8b").header("content-encoding", "gzip").send().await.expect("request");
    assert_eq!(gzip.status(), 415);
    assert!(seen.headers.lock().unwrap().is_empty(), "a refused body reached the upstream");

    // A tools/list with a float id (echoed back as 1) is filtered all the same.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let response = post(&gateway, Some(&ada), &initialize).send().await.expect("initialize");
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(&gateway, Some(&ada), &initialized)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("initialized");
    let list = raw(br#"{"jsonrpc":"2.0","id":1.0,"method":"tools/list"}"#)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("tools/list");
    let content_type = list.headers()["content-type"].to_str().unwrap().to_owned();
    let answers = messages(&content_type, &list.text().await.unwrap());
    let names: Vec<&str> = answers
        .iter()
        .filter_map(|answer| answer.pointer("/result/tools").and_then(Value::as_array))
        .flatten()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert!(names.contains(&"echo") && !names.contains(&"admin_only"), "{answers:?}");
    idp.shutdown().await;
}
