//! The OAuth proxy's consent page in a real headless Chromium (see `mcp_auth_tests::browser`): a client
//! registers itself (RFC 7591), the browser opens the proxy's `/authorize`, the consent page names the
//! client, where the code goes and the scopes; approving goes through the upstream (the dev IdP, which
//! signs Ada in without pages) and lands on the client's loopback redirect URI with `code`, `state` and
//! the RFC 9207 `iss`, and the code is redeemed with its PKCE verifier. Denying tells the client
//! `access_denied`; loading the page twice (as a prefetch does) and submitting a finished form again break
//! nothing; a copy framed by another site is refused; a remembered consent is not asked again; the flow
//! works with the upstream on another site; and a double click on Approve whose first answer the browser
//! dropped still gets the person to the client (this last one fails: the second submit finds the
//! transaction already finished by the first click's callback and shows an error page).
//!
//! These tests need `chromium` and `chromium-driver` (`.ci/run` installs them) and fail without them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use mcp_auth_core::store::MemoryStore;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevUser};
use mcp_auth_tests::browser::{Browser, Framed};
use mcp_auth_tests::catcher::{self, Catcher, serve};
use mcp_auth_tests::proxy::{self, ProxyInstance, SharedKeys, Upstream};
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope};
use serde_json::{Value, json};
use url::Url;

const CLIENT_NAME: &str = "Browser Test App";
const SCOPE: &str = "notes:write";

/// The bound on each test, browser start-up included.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// What the server-failure page says (`crates/proxy/src/pages.rs`, `failure_page`).
const SERVER_FAILURE: &str = "Something went wrong on the server";

/// Runs a test body with a time limit, so a stuck browser fails the test instead of hanging CI.
async fn bounded(body: impl Future<Output = ()>) {
    catcher::bounded(TEST_TIMEOUT, body).await;
}

/// The upstream as `proxy::upstream` makes it (the dev IdP signing Ada in without pages, the proxy's
/// confidential client), but named `http://localhost:port`: another site than the proxy on `127.0.0.1`,
/// as AuthKit is in production, so the browser's way back to the proxy's callback is a cross-site
/// redirect chain (which decides whether the `SameSite=Lax` binding cookie is sent).
struct CrossSiteUpstream {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CrossSiteUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CrossSiteUpstream {
    async fn start(callback: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the upstream");
        let port = listener.local_addr().expect("address").port();
        let url = format!("http://localhost:{port}");
        let idp = DevIdp::builder()
            .user(
                DevUser::new("user_ada", "ada@example.com")
                    .name("Ada Lovelace")
                    .org_id("org_math")
                    .roles(["member"]),
            )
            .client(DevClient::confidential(
                proxy::UPSTREAM_CLIENT_ID,
                proxy::UPSTREAM_CLIENT_SECRET,
                [callback],
            ))
            .scope(mcp_auth_examples::server::NOTES_WRITE)
            .auto_approve(true)
            .default_user("user_ada")
            .build(&url)
            .expect("the upstream builds");
        let router = idp.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(mcp_auth_core::serve::no_delay(listener), router).await;
        });
        Self { url, task }
    }
}

/// One authorization attempt: the URL to open, and what the client keeps to check the answer.
struct Attempt {
    url: Url,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
}

/// The upstream, one proxy instance in front of the examples' MCP server, the catcher, and a client
/// registered at the proxy with the catcher as its redirect URI.
struct World {
    _upstream: Option<Upstream>,
    _cross_site_upstream: Option<CrossSiteUpstream>,
    _instance: ProxyInstance,
    base_url: String,
    catcher: Catcher,
    client_id: String,
}

impl World {
    /// The stack with `proxy::upstream`: the upstream on `127.0.0.1`, the same site as the proxy.
    async fn start() -> Self {
        Self::start_with(false).await
    }

    /// The stack, with the upstream on another site than the proxy when `cross_site`.
    async fn start_with(cross_site: bool) -> Self {
        let catcher = Catcher::start("/cb").await;
        let (listener, base_url) = proxy::listener().await;
        let callback = format!("{base_url}/auth/callback");
        let (upstream, cross_site_upstream, upstream_url) = if cross_site {
            let upstream = CrossSiteUpstream::start(&callback).await;
            let url = upstream.url.clone();
            (None, Some(upstream), url)
        } else {
            let upstream = proxy::upstream(&callback, Duration::from_secs(3600)).await;
            let url = upstream.url.clone();
            (Some(upstream), None, url)
        };
        let instance = proxy::proxy_instance(
            listener,
            &base_url,
            &upstream_url,
            Arc::new(MemoryStore::new()),
            &SharedKeys::random(),
            |p| p,
        )
        .await;
        let response = reqwest::Client::new()
            .post(format!("{base_url}/register"))
            .json(&json!({
                "redirect_uris": [catcher.redirect_uri()],
                "token_endpoint_auth_method": "none",
                "client_name": CLIENT_NAME,
            }))
            .send()
            .await
            .expect("calling /register");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON registration response");
        assert_eq!(status, reqwest::StatusCode::CREATED, "registration answered {body}");
        let client_id = body["client_id"].as_str().expect("a client_id").to_owned();
        Self {
            _upstream: upstream,
            _cross_site_upstream: cross_site_upstream,
            _instance: instance,
            base_url,
            catcher,
            client_id,
        }
    }

    fn resource(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    /// A fresh authorization request with a random state, a real S256 PKCE challenge and the MCP
    /// resource, built by the `oauth2` crate as a client would.
    fn attempt(&self) -> Attempt {
        self.attempt_for(&[SCOPE])
    }

    /// [`attempt`](Self::attempt) asking for `scopes`.
    fn attempt_for(&self, scopes: &[&str]) -> Attempt {
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(format!("{}/authorize", self.base_url)).unwrap())
            .set_redirect_uri(RedirectUrl::new(self.catcher.redirect_uri()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .add_extra_param("resource", self.resource())
            .set_pkce_challenge(challenge)
            .url();
        Attempt { url, state, verifier }
    }

    /// Redeems `code` at the token endpoint as the public client, with the PKCE verifier; returns the
    /// status and the JSON body.
    async fn redeem(&self, code: &str, verifier: &PkceCodeVerifier) -> (reqwest::StatusCode, Value) {
        let redirect_uri = self.catcher.redirect_uri();
        let resource = self.resource();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", verifier.secret()),
            ("resource", resource.as_str()),
        ];
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.base_url))
            .form(&form)
            .send()
            .await
            .expect("calling the token endpoint");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON token response");
        (status, body)
    }

    /// Redeems `code` and checks that an access token came back.
    async fn redeem_ok(&self, code: &str, verifier: &PkceCodeVerifier) -> Value {
        let (status, tokens) = self.redeem(code, verifier).await;
        assert_eq!(status, reqwest::StatusCode::OK, "token endpoint answered {tokens}");
        assert!(tokens["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{tokens}");
        assert_eq!(tokens["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("bearer"));
        tokens
    }

    /// Opens the attempt's `/authorize` URL and waits for the consent page; returns its URL.
    async fn open_consent(&self, browser: &Browser, attempt: &Attempt) -> Url {
        browser.goto(attempt.url.as_str()).await.unwrap();
        browser.find("#approve").await.unwrap();
        let consent = browser.current_url().await.unwrap();
        assert!(
            consent.as_str().starts_with(&format!("{}/consent?transaction=", self.base_url)),
            "the proxy sent the browser to its consent page: {consent}"
        );
        consent
    }

    /// Waits until the browser lands on the client's redirect URI and checks `state` and `iss`; returns
    /// the parameters.
    async fn landed(&self, browser: &Browser, attempt: &Attempt) -> Vec<(String, String)> {
        let landed = browser.wait_for_url(&self.catcher.redirect_uri()).await.unwrap();
        browser.find("#caught").await.unwrap();
        let got = params(&landed);
        assert_eq!(param(&got, "state"), Some(attempt.state.secret().as_str()), "{landed}");
        assert_eq!(param(&got, "iss"), Some(self.base_url.as_str()), "RFC 9207 iss: {landed}");
        got
    }
}

/// The parameters of a URL's query.
fn params(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The parameters of a raw query string the catcher recorded.
fn query_params(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The names of the proxy's cookies in the browser (all loopback ports share cookies), after checking
/// that each is `HttpOnly` and `SameSite=Lax`.
async fn proxy_cookies(browser: &Browser) -> Vec<String> {
    let cookies = browser.client().get_all_cookies().await.expect("reading the cookies");
    let mut names = Vec::new();
    for cookie in cookies.iter().filter(|c| c.name().starts_with("mcp_auth_")) {
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        assert_eq!(format!("{:?}", cookie.same_site()), "Some(Lax)", "{cookie}");
        names.push(cookie.name().to_owned());
    }
    names.sort();
    names
}

/// The hidden `transaction` and `csrf` fields of the consent form shown.
async fn consent_form(browser: &Browser) -> (String, String) {
    let mut values = Vec::new();
    for name in ["transaction", "csrf"] {
        let input = browser.find(&format!("form input[name={name}]")).await.unwrap();
        values.push(input.attr("value").await.unwrap().expect("a value"));
    }
    let csrf = values.pop().unwrap();
    (values.pop().unwrap(), csrf)
}

/// A `Cookie` header with the browser's cookies, to replay one of its requests.
async fn browser_cookie_header(browser: &Browser) -> String {
    let cookies = browser.client().get_all_cookies().await.expect("reading the cookies");
    cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect::<Vec<_>>().join("; ")
}

/// The `Location` of a redirect.
fn location(response: &reqwest::Response) -> String {
    let location = response.headers().get("location").unwrap_or_else(|| panic!("a redirect: {response:?}"));
    location.to_str().unwrap().to_owned()
}

/// The visible text of the page shown.
async fn page_text(browser: &Browser) -> String {
    let text = browser
        .client()
        .execute("return document.body ? document.body.innerText : '';", Vec::new())
        .await
        .expect("reading the page's text");
    text.as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_consent_page_names_the_client_and_approving_redirects_with_code_state_and_iss() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();

        world.open_consent(&browser, &attempt).await;
        let page = browser.source().await.unwrap();
        assert!(page.contains(&format!("<strong>{CLIENT_NAME}</strong> wants to access")), "{page}");
        assert!(
            page.contains(&format!("<code>{}</code>", world.resource())),
            "the resource is named: {page}"
        );
        assert!(
            page.contains("you will be sent to <strong>127.0.0.1"),
            "the consent page names the redirect host: {page}"
        );
        assert!(page.contains(&format!("<li><code>{SCOPE}</code></li>")), "the scope is listed: {page}");
        assert!(page.contains("registered itself; its name is not verified"), "{page}");
        assert!(browser.exists("input[name=remember]").await.unwrap());
        assert!(browser.exists("#deny").await.unwrap());
        assert!(world.catcher.queries().is_empty(), "nothing reached the client before the decision");
        let names = proxy_cookies(&browser).await;
        assert_eq!(names, ["mcp_auth_browser"], "showing the page set the browser cookie only");

        browser.click("#approve").await.unwrap();
        let got = world.landed(&browser, &attempt).await;
        assert_eq!(param(&got, "error"), None, "{got:?}");
        let code = param(&got, "code").expect("a code").to_owned();
        let queries = world.catcher.queries();
        assert_eq!(queries.len(), 1, "the client got the redirect once: {queries:?}");
        assert_eq!(param(&query_params(&queries[0]), "code"), Some(code.as_str()));
        let names = proxy_cookies(&browser).await;
        assert_eq!(names, ["mcp_auth_browser"], "the callback cleared the transaction's binding cookie");

        let tokens = world.redeem_ok(&code, &attempt.verifier).await;
        assert_eq!(tokens["scope"], SCOPE, "{tokens}");
        // The code is single use.
        let (status, again) = world.redeem(&code, &attempt.verifier).await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{again}");
        assert_eq!(again["error"], "invalid_grant", "{again}");
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn approving_works_when_the_upstream_is_another_site() {
    bounded(async {
        let world = World::start_with(true).await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();

        world.open_consent(&browser, &attempt).await;
        browser.click("#approve").await.unwrap();
        let got = world.landed(&browser, &attempt).await;
        assert_eq!(param(&got, "error"), None, "{got:?}");
        let code = param(&got, "code").expect("a code").to_owned();
        world.redeem_ok(&code, &attempt.verifier).await;
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn denying_redirects_with_access_denied_and_the_state() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();

        world.open_consent(&browser, &attempt).await;
        // "Remember" with Deny remembers nothing: the next authorization asks again (below).
        browser.click("input[name=remember]").await.unwrap();
        browser.click("#deny").await.unwrap();

        let got = world.landed(&browser, &attempt).await;
        assert_eq!(param(&got, "error"), Some("access_denied"), "{got:?}");
        assert_eq!(param(&got, "code"), None, "{got:?}");
        assert_eq!(world.catcher.queries().len(), 1);

        world.open_consent(&browser, &world.attempt()).await;
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_prefetch_of_the_consent_page_does_not_break_approving() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();

        let consent = world.open_consent(&browser, &attempt).await;
        // A link scanner or a prefetch without this browser's cookies is refused (the authorization
        // belongs to the browser that started it) and changes nothing...
        let prefetched = reqwest::get(consent.as_str()).await.expect("fetching the consent page");
        assert_eq!(prefetched.status(), reqwest::StatusCode::FORBIDDEN);
        // ...and the same page loaded again in this browser, as a prefetch then the navigation would.
        browser.goto(consent.as_str()).await.unwrap();
        browser.find("#approve").await.unwrap();
        browser.goto(consent.as_str()).await.unwrap();
        browser.click("#approve").await.unwrap();

        let got = world.landed(&browser, &attempt).await;
        assert_eq!(param(&got, "error"), None, "{got:?}");
        let code = param(&got, "code").expect("a code").to_owned();
        world.redeem_ok(&code, &attempt.verifier).await;
        assert_eq!(world.catcher.queries().len(), 1);
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn submitting_the_consent_form_again_after_approving_is_not_a_server_error() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();
        let consent = world.open_consent(&browser, &attempt).await;

        // The same consent page in a second tab, as a person who opened it twice would have.
        let client = browser.client();
        let first = client.window().await.unwrap();
        let second = client.new_window(true).await.unwrap();
        client.switch_to_window(second.handle.clone()).await.unwrap();
        browser.goto(consent.as_str()).await.unwrap();
        browser.find("#approve").await.unwrap();

        // Approve in the first tab: the flow completes.
        client.switch_to_window(first.clone()).await.unwrap();
        browser.click("#approve").await.unwrap();
        let got = world.landed(&browser, &attempt).await;
        let code = param(&got, "code").expect("a code").to_owned();
        // The client redeems it at once, as clients do.
        world.redeem_ok(&code, &attempt.verifier).await;

        // Approve again in the second tab: the finished authorization is refused with a page that says
        // so, not a server error, and the client gets nothing more.
        client.switch_to_window(second.handle).await.unwrap();
        browser.click("#approve").await.unwrap();
        browser.find("p.err").await.unwrap();
        let text = page_text(&browser).await;
        assert!(!text.contains(SERVER_FAILURE), "a second submit is not a server error: {text}");
        assert!(text.contains("already finished"), "{text}");

        // Going back to the consent page in the first tab: the same.
        client.switch_to_window(first).await.unwrap();
        client.back().await.unwrap();
        let text = page_text(&browser).await;
        assert!(!text.contains(SERVER_FAILURE), "going back is not a server error: {text}");
        // Chromium loads the `no-store` page again (the finished authorization); were it restored from
        // its back/forward cache instead, approving there must not be a server error either.
        if !browser.exists("#approve").await.unwrap() {
            assert!(text.contains("already finished"), "{text}");
        } else {
            browser.click("#approve").await.unwrap();
            browser.find("p.err").await.unwrap();
            let text = page_text(&browser).await;
            assert!(!text.contains(SERVER_FAILURE), "approving again is not a server error: {text}");
        }

        assert_eq!(world.catcher.queries().len(), 1, "the client got one redirect");
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_approval_whose_answer_was_lost_then_approving_again_succeeds() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();
        world.open_consent(&browser, &attempt).await;

        // The first submit reaches the proxy but its answer never reaches the browser: the same form post,
        // with this browser's cookies, whose redirect nobody follows.
        let form = browser.find("form").await.unwrap();
        let field = |name: &'static str| {
            let form = form.clone();
            async move {
                let input =
                    form.find(fantoccini::Locator::Css(&format!("input[name={name}]"))).await.unwrap();
                input.attr("value").await.unwrap().expect("a value")
            }
        };
        let (transaction, csrf) = (field("transaction").await, field("csrf").await);
        let cookies = browser.client().get_all_cookies().await.unwrap();
        let cookie_header =
            cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect::<Vec<_>>().join("; ");
        let lost = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/consent", world.base_url))
            .header("cookie", cookie_header)
            .header("origin", &world.base_url)
            .form(&[("transaction", transaction.as_str()), ("csrf", csrf.as_str()), ("decision", "approve")])
            .send()
            .await
            .unwrap();
        assert_eq!(lost.status(), reqwest::StatusCode::SEE_OTHER, "{:?}", lost.text().await);

        // The person clicks Approve again: the sign-in completes.
        browser.click("#approve").await.unwrap();
        let got = world.landed(&browser, &attempt).await;
        assert_eq!(param(&got, "error"), None, "{got:?}");
        let code = param(&got, "code").expect("a code").to_owned();
        world.redeem_ok(&code, &attempt.verifier).await;
        assert_eq!(world.catcher.queries().len(), 1);
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_copy_framed_by_another_site_is_refused() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        // The probe is real: opened directly, the consent page has the Approve button.
        let consent = world.open_consent(&browser, &world.attempt()).await;
        assert!(browser.exists("#approve").await.unwrap());

        // Another origin frames the consent page, and, as a control, a page without framing protection.
        let framing = format!(
            "<!doctype html><title>attacker</title>\
             <iframe id=\"victim\" src=\"{consent}\"></iframe>\
             <iframe id=\"victim-authorize\" src=\"{authorize}\"></iframe>\
             <iframe id=\"control\" src=\"{control}/plain\"></iframe>",
            control = world.catcher.origin,
            authorize = world.attempt().url,
        );
        let attacker = serve(Router::new().route("/", get(move || async move { Html(framing) }))).await;
        browser.goto(&format!("http://{attacker}/")).await.unwrap();

        assert_eq!(browser.framed_page("#control", "#plain").await.unwrap(), Framed::Rendered);
        assert_eq!(browser.framed_page("#victim", "#approve").await.unwrap(), Framed::Refused);
        // Framing `/authorize`, which redirects to the consent page, is refused the same way.
        assert_eq!(browser.framed_page("#victim-authorize", "#approve").await.unwrap(), Framed::Refused);
        assert!(!browser.exists("#approve").await.unwrap(), "the form is not in the framing page");
        assert!(world.catcher.queries().is_empty());
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_remembered_consent_is_not_asked_again_in_the_same_browser() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();

        let first = world.attempt();
        world.open_consent(&browser, &first).await;
        browser.click("input[name=remember]").await.unwrap();
        let ticked = browser.find("input[name=remember]").await.unwrap().prop("checked").await.unwrap();
        assert_eq!(ticked.as_deref(), Some("true"), "the box is ticked");
        browser.click("#approve").await.unwrap();
        let got = world.landed(&browser, &first).await;
        let code = param(&got, "code").expect("a code").to_owned();
        world.redeem_ok(&code, &first.verifier).await;

        // A second authorization for the same client, redirect URI, resource and scopes: straight through
        // to the client, without the consent page.
        let second = world.attempt();
        browser.goto(second.url.as_str()).await.unwrap();
        let got = world.landed(&browser, &second).await;
        assert!(!browser.exists("#approve").await.unwrap());
        assert_eq!(param(&got, "error"), None, "{got:?}");
        let code = param(&got, "code").expect("a second code").to_owned();
        world.redeem_ok(&code, &second.verifier).await;
        let queries = world.catcher.queries();
        assert_eq!(queries.len(), 2, "{queries:?}");

        // Asking for more than was remembered asks again.
        world.open_consent(&browser, &world.attempt_for(&[SCOPE, "notes:read"])).await;

        // Another browser (no remembered consent there) is asked.
        let other = Browser::start().await.unwrap();
        world.open_consent(&other, &world.attempt()).await;
        other.close().await.unwrap();
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_double_click_on_approve_whose_first_answer_was_lost_still_reaches_the_client() {
    bounded(async {
        let world = World::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = world.attempt();
        world.open_consent(&browser, &attempt).await;

        // A double click: the first click's whole redirect chain (consent, upstream, callback) runs on the
        // servers, then the second click cancels that navigation before the browser follows the last
        // redirect, so the client never sees the first answer. (Seen in Chromium with two clicks about 3 ms
        // apart.) Here the first click is replayed with this browser's cookies and its last redirect is
        // not followed, which makes the race deterministic.
        let (transaction, csrf) = consent_form(&browser).await;
        let no_redirects =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut cookie_header = browser_cookie_header(&browser).await;
        let approved = no_redirects
            .post(format!("{}/consent", world.base_url))
            .header("cookie", &cookie_header)
            .header("origin", &world.base_url)
            .form(&[("transaction", transaction.as_str()), ("csrf", csrf.as_str()), ("decision", "approve")])
            .send()
            .await
            .unwrap();
        assert_eq!(approved.status(), reqwest::StatusCode::SEE_OTHER);
        for set in approved.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            cookie_header = format!("{cookie_header}; {pair}");
        }
        let upstream = location(&approved);
        let signed_in = no_redirects.get(&upstream).send().await.unwrap();
        assert!(signed_in.status().is_redirection(), "the upstream signs Ada in: {}", signed_in.status());
        let callback = location(&signed_in);
        assert!(callback.starts_with(&format!("{}/auth/callback", world.base_url)), "{callback}");
        let finished = no_redirects.get(&callback).header("cookie", &cookie_header).send().await.unwrap();
        let lost = location(&finished);
        assert!(lost.starts_with(&world.catcher.redirect_uri()), "the first click got a code: {lost}");
        assert!(lost.contains("code="), "{lost}");
        assert!(world.catcher.queries().is_empty(), "the client never saw the first answer");

        // The second click: the person should still end up signed in at the client.
        browser.click("#approve").await.unwrap();
        let got = world.landed(&browser, &attempt).await;
        assert_eq!(param(&got, "error"), None, "{got:?}");
        let code = param(&got, "code").expect("a code").to_owned();
        world.redeem_ok(&code, &attempt.verifier).await;
        browser.close().await.unwrap();
    })
    .await;
}
