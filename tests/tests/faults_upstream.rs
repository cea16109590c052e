//! The upstream identity provider misbehaving, seen through the OAuth proxy: the real dev IdP behind a
//! switchable hop (down, slower than the proxy's upstream timeout, 500, malformed JSON, a token answer
//! without `expires_in` or with `expires_in <= 0`). Clients get OAuth errors that name no internals,
//! `temporarily_unavailable` (503 with `Retry-After` on the token endpoint) where retrying helps, and
//! everything works again once the IdP recovers.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::store::MemoryStore;
use mcp_auth_examples::client::Browser;
use mcp_auth_tests::faults::{self, Fault, FaultyUpstream, within};
use mcp_auth_tests::proxy::{self, Flow, ProxyInstance, SharedKeys};
use serde_json::Value;

const CLIENT_REDIRECT: &str = "http://127.0.0.1:7777/cb";
/// The proxy's upstream HTTP timeout in these tests: the slow hop holds answers far longer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Upstream faults a client should retry after.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// The hop's socket is closed: connections are refused.
    Down,
    /// A token endpoint fault injected by the hop.
    Token(Fault),
}

const OUTAGES: [Outage; 4] = [
    Outage::Down,
    Outage::Token(Fault::Slow),
    Outage::Token(Fault::ServerError),
    Outage::Token(Fault::MalformedJson),
];

struct Stack {
    upstream: FaultyUpstream,
    instance: ProxyInstance,
    base_url: String,
}

impl Stack {
    /// A proxy over the faulty upstream. With `refresh_upstream_always`, upstream tokens live 60 s and
    /// the refresh margin is 10 minutes, so every client refresh refreshes upstream too; otherwise
    /// upstream tokens live an hour and the default margin applies.
    async fn start(refresh_upstream_always: bool) -> Self {
        let (listener, base_url) = proxy::listener().await;
        let callback = format!("{base_url}/auth/callback");
        let ttl = Duration::from_secs(if refresh_upstream_always { 60 } else { 3600 });
        let upstream = FaultyUpstream::start(|issuer| proxy::dev_idp(issuer, &callback, ttl)).await;
        let instance = proxy::proxy_instance_with_http(
            listener,
            &base_url,
            &upstream.url(),
            Arc::new(MemoryStore::new()),
            &SharedKeys::random(),
            Some(faults::impatient_client(UPSTREAM_TIMEOUT)),
            |p| {
                if refresh_upstream_always { p.upstream_refresh_margin(Duration::from_secs(600)) } else { p }
            },
        )
        .await;
        Self { upstream, instance, base_url }
    }

    /// Ports and addresses of this stack, which no answer may name.
    fn internals(&self) -> Vec<String> {
        let port = |url: &str| url.rsplit(':').next().unwrap_or_default().to_owned();
        vec![port(&self.upstream.url()), self.upstream.url()]
    }

    async fn inject(&self, outage: Outage) {
        match outage {
            Outage::Down => self.upstream.hop.down().await,
            Outage::Token(fault) => self.upstream.hop.set(fault),
        }
    }

    async fn heal(&self) {
        self.upstream.hop.set(Fault::Healthy);
        self.upstream.hop.up().await;
    }

    async fn register(&self) -> String {
        within("registration", proxy::register(&self.instance.url, CLIENT_REDIRECT)).await
    }

    /// A whole sign-in and code exchange: the token answer.
    async fn sign_in(&self, client_id: &str) -> (Flow, Value) {
        let flow = Flow::new(client_id.to_owned(), CLIENT_REDIRECT);
        let code = within("sign-in", proxy::code(&flow, &self.instance.url, &self.base_url)).await;
        let tokens = within("code exchange", proxy::exchange(&flow, &self.instance.url, &code)).await;
        (flow, tokens)
    }

    /// Runs a sign-in until the upstream redirects the browser to the proxy's callback, injects
    /// `outage`, then delivers the callback (where the proxy exchanges the upstream code) and returns
    /// the proxy's answer to it.
    async fn callback_during(&self, client_id: &str, outage: Outage) -> reqwest::Response {
        let flow = Flow::new(client_id.to_owned(), CLIENT_REDIRECT);
        let mut browser = Browser::new().expect("a browser");
        let callback_prefix = format!("{}/auth/callback", self.base_url);
        let callback = within(
            "the way to the callback",
            browser.follow(flow.authorize_url(&self.instance.url, &self.base_url), &callback_prefix),
        )
        .await
        .expect("the upstream redirects to the callback");
        self.inject(outage).await;
        let callback = url::Url::parse(&callback).expect("the callback URL");
        let no_redirects =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        within("the callback", browser.send(no_redirects.get(callback.clone()), &callback))
            .await
            .expect("the callback answers")
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).expect("a Location").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_outage_during_the_code_exchange_sends_the_client_a_retryable_oauth_error() {
    let stack = Stack::start(false).await;
    let client_id = stack.register().await;
    let internals = stack.internals();
    let internals: Vec<&str> = internals.iter().map(String::as_str).collect();
    for outage in OUTAGES {
        let answer = stack.callback_during(&client_id, outage).await;
        assert_eq!(answer.status(), 302, "{outage:?}: the client gets an OAuth error redirect");
        let location = location(&answer);
        assert!(location.starts_with(CLIENT_REDIRECT), "{outage:?}: {location}");
        let (error, description) = faults::redirect_error(&location, &internals);
        assert_eq!(error, "temporarily_unavailable", "{outage:?}: {description}");
        assert!(location.contains("state=s1"), "{outage:?}: the client's state comes back: {location}");
        stack.heal().await;
    }
    // The IdP recovered: a whole sign-in works, and its token opens the MCP endpoint.
    let (_, tokens) = stack.sign_in(&client_id).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    assert_eq!(within("MCP", proxy::mcp_status(&stack.instance.url, access)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_outage_during_a_refresh_is_503_with_retry_after_and_spends_nothing() {
    let stack = Stack::start(true).await;
    let client_id = stack.register().await;
    let (flow, tokens) = stack.sign_in(&client_id).await;
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
    let internals = stack.internals();
    let internals: Vec<&str> = internals.iter().map(String::as_str).collect();
    for outage in OUTAGES {
        stack.inject(outage).await;
        let before = stack.upstream.hop.token_requests();
        let answer =
            within("a refresh", proxy::refresh(&flow.client_id, &stack.instance.url, refresh_token)).await;
        assert_eq!(answer.status(), 503, "{outage:?}");
        let retry_after = answer.headers().get("retry-after").and_then(|v| v.to_str().ok());
        assert!(
            retry_after.and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| (1..=300).contains(&s)),
            "{outage:?}: Retry-After in seconds: {retry_after:?}"
        );
        assert_eq!(answer.headers()["cache-control"], "no-store");
        let body = answer.text().await.expect("a body");
        faults::assert_no_internals("the refresh answer", &body, &internals);
        let body: Value = serde_json::from_str(&body).expect("an OAuth error body");
        assert_eq!(body["error"], "temporarily_unavailable", "{outage:?}: never invalid_grant");
        if let Outage::Token(_) = outage {
            assert_eq!(stack.upstream.hop.token_requests(), before + 1, "{outage:?}: the upstream was asked");
        }
        stack.heal().await;
    }
    // The IdP recovered: the same refresh token works (no outage spent it), and so does the new pair.
    let answer =
        within("a refresh", proxy::refresh(&flow.client_id, &stack.instance.url, refresh_token)).await;
    assert_eq!(answer.status(), 200);
    let refreshed: Value = answer.json().await.expect("a token answer");
    let access = refreshed["access_token"].as_str().expect("an access token");
    assert_eq!(within("MCP", proxy::mcp_status(&stack.instance.url, access)).await, 200);
}

/// The decision for an upstream token answer without a usable `expires_in`: absent, the upstream token
/// is taken to live an hour (RFC 6749 only recommends the field); zero or negative, it is taken as
/// expired, so the grant's next refresh refreshes upstream first. Either way the sign-in succeeds.
/// Before the fix, zero was read as "absent" (an hour), and a negative value made the whole answer
/// unreadable: the person was told to retry, with the upstream code already spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_answer_without_a_usable_expires_in_signs_in_and_is_refreshed_when_it_says_expired() {
    let stack = Stack::start(false).await;
    let client_id = stack.register().await;
    for (fault, refreshes_upstream) in [
        (Fault::ExpiresIn(3600), false),
        (Fault::NoExpiresIn, false),
        (Fault::ExpiresIn(0), true),
        (Fault::ExpiresIn(-5), true),
    ] {
        stack.upstream.hop.set(fault);
        let (flow, tokens) = stack.sign_in(&client_id).await;
        stack.upstream.hop.set(Fault::Healthy);
        let access = tokens["access_token"].as_str().expect("an access token");
        assert_eq!(within("MCP", proxy::mcp_status(&stack.instance.url, access)).await, 200, "{fault:?}");

        let before = stack.upstream.hop.token_requests();
        let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
        let answer =
            within("a refresh", proxy::refresh(&flow.client_id, &stack.instance.url, refresh_token)).await;
        assert_eq!(answer.status(), 200, "{fault:?}");
        let upstream_refreshes = stack.upstream.hop.token_requests() - before;
        assert_eq!(
            upstream_refreshes,
            usize::from(refreshes_upstream),
            "{fault:?}: whether the client's refresh refreshed upstream first"
        );
    }
}
