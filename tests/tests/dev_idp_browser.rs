//! The dev IdP's sign-in and consent pages in a real headless Chromium (see `mcp_auth_tests::browser`):
//! a person signs in and approves or denies, the browser lands on the client's loopback redirect URI with
//! the RFC 9207 `iss`, the code is redeemed with its PKCE verifier, a copy framed by another site is
//! refused, and loading the page twice (as a prefetch does) does not break the sign-in.
//!
//! These tests need `chromium` and `chromium-driver` (`.ci/run` installs them) and fail without them.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use mcp_auth_tests::browser::{Browser, Framed};
use mcp_auth_tests::catcher::{self, Catcher, serve};
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope};
use serde_json::Value;
use url::Url;

const CLIENT_ID: &str = "browser-app";
const LOGIN: &str = "ada@example.com";
const PASSWORD: &str = "correct horse";
const SCOPE: &str = "mcp:tools";

/// The bound on each test, browser start-up included.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a test body with a time limit, so a stuck browser fails the test instead of hanging CI.
async fn bounded(body: impl Future<Output = ()>) {
    catcher::bounded(TEST_TIMEOUT, body).await;
}

/// One authorization attempt: the URL to open, and what the client keeps to check the answer.
struct Attempt {
    url: Url,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
}

struct Setup {
    idp: DevIdpHandle,
    catcher: Catcher,
}

impl Setup {
    /// A dev IdP with the sign-in and consent pages on (no auto-approve), one user with a password and a
    /// public native client whose redirect URI is the catcher.
    async fn start() -> Self {
        let catcher = Catcher::start("/callback").await;
        let idp = DevIdp::builder()
            .user(DevUser::new("user_ada", LOGIN).name("Ada Lovelace").password(PASSWORD))
            .client(DevClient::public(CLIENT_ID, [catcher.redirect_uri()]).native().name("Browser Test App"))
            .scope(SCOPE)
            .auto_approve(false)
            .start()
            .await
            .expect("starting the dev IdP");
        Self { idp, catcher }
    }

    /// A fresh authorization request with a random state and a real S256 PKCE challenge, built by the
    /// `oauth2` crate as a client would.
    fn attempt(&self) -> Attempt {
        let client = BasicClient::new(ClientId::new(CLIENT_ID.into()))
            .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", self.idp.url())).unwrap())
            .set_redirect_uri(RedirectUrl::new(self.catcher.redirect_uri()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(SCOPE.into()))
            .set_pkce_challenge(challenge)
            .url();
        Attempt { url, state, verifier }
    }

    /// Redeems `code` at the token endpoint as the public client, with the PKCE verifier.
    async fn redeem(&self, code: &str, verifier: &PkceCodeVerifier) -> Value {
        let redirect_uri = self.catcher.redirect_uri();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", CLIENT_ID),
            ("code_verifier", verifier.secret()),
        ];
        let response = reqwest::Client::new()
            .post(format!("{}/oauth2/token", self.idp.url()))
            .form(&form)
            .send()
            .await
            .expect("calling the token endpoint");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON token response");
        assert_eq!(status, reqwest::StatusCode::OK, "token endpoint answered {body}");
        body
    }
}

/// The parameters of the URL the browser landed on.
fn params(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Fills and submits the sign-in form shown.
async fn sign_in(browser: &Browser, password: &str) {
    browser.fill("input[name=login]", LOGIN).await.unwrap();
    browser.fill("input[name=password]", password).await.unwrap();
    browser.click("form[action='/oauth2/login'] button[type=submit]").await.unwrap();
}

#[tokio::test]
async fn signing_in_and_approving_redirects_with_code_state_and_iss() {
    bounded(async {
        let setup = Setup::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = setup.attempt();

        browser.goto(attempt.url.as_str()).await.unwrap();
        let page = browser.source().await.unwrap();
        assert!(page.contains("Browser Test App</strong> wants you to sign in"), "{page}");
        assert!(page.contains("for development only"), "the dev banner is shown: {page}");

        // A wrong password shows the form again, with the error, and the same authorization goes on.
        sign_in(&browser, "wrong password").await;
        browser.find("p.err").await.unwrap();
        assert!(browser.source().await.unwrap().contains("Unknown user or wrong password."));
        sign_in(&browser, PASSWORD).await;

        browser.find("button[value=approve]").await.unwrap();
        let consent = browser.source().await.unwrap();
        assert!(consent.contains("Signed in as <strong>ada@example.com</strong>"), "{consent}");
        assert!(consent.contains(&format!("<li>{SCOPE}</li>")), "{consent}");
        assert!(
            consent.contains("sent back to <strong>127.0.0.1"),
            "the consent page names the host: {consent}"
        );
        browser.click("button[value=approve]").await.unwrap();

        let landed = browser.wait_for_url(&setup.catcher.redirect_uri()).await.unwrap();
        let got = params(&landed);
        assert_eq!(param(&got, "state"), Some(attempt.state.secret().as_str()));
        assert_eq!(param(&got, "iss"), Some(setup.idp.issuer()), "RFC 9207 iss");
        assert_eq!(param(&got, "error"), None);
        let code = param(&got, "code").expect("a code").to_owned();
        assert_eq!(setup.catcher.queries(), [landed.query().unwrap_or_default()], "the client got it once");

        let tokens = setup.redeem(&code, &attempt.verifier).await;
        assert!(tokens["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{tokens}");
        assert_eq!(tokens["scope"], SCOPE, "{tokens}");
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn denying_redirects_with_access_denied_and_the_state() {
    bounded(async {
        let setup = Setup::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = setup.attempt();

        browser.goto(attempt.url.as_str()).await.unwrap();
        sign_in(&browser, PASSWORD).await;
        browser.click("button[value=deny]").await.unwrap();

        let landed = browser.wait_for_url(&setup.catcher.redirect_uri()).await.unwrap();
        let got = params(&landed);
        assert_eq!(param(&got, "error"), Some("access_denied"));
        assert_eq!(param(&got, "state"), Some(attempt.state.secret().as_str()));
        assert_eq!(param(&got, "iss"), Some(setup.idp.issuer()));
        assert_eq!(param(&got, "code"), None);
        assert_eq!(setup.catcher.queries().len(), 1);
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_copy_framed_by_another_site_is_refused() {
    bounded(async {
        let setup = Setup::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = setup.attempt();
        // The probe is real: opened directly, the page has the password field.
        browser.goto(attempt.url.as_str()).await.unwrap();
        assert!(browser.exists("input[name=password]").await.unwrap());

        // Another origin frames the sign-in page, and, as a control, a page without framing protection.
        let framing = format!(
            "<!doctype html><title>attacker</title>\
             <iframe id=\"victim\" src=\"{victim}\"></iframe>\
             <iframe id=\"control\" src=\"{control}/plain\"></iframe>",
            victim = setup.attempt().url,
            control = setup.catcher.origin,
        );
        let attacker = serve(Router::new().route("/", get(move || async move { Html(framing) }))).await;
        browser.goto(&format!("http://{attacker}/")).await.unwrap();

        assert_eq!(browser.framed_page("#control", "#plain").await.unwrap(), Framed::Rendered);
        assert_eq!(browser.framed_page("#victim", "input[name=password]").await.unwrap(), Framed::Refused);
        assert!(
            !browser.exists("input[name=password]").await.unwrap(),
            "the form is not in the framing page"
        );
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn loading_the_page_twice_like_a_prefetch_does_not_break_the_sign_in() {
    bounded(async {
        let setup = Setup::start().await;
        let browser = Browser::start().await.unwrap();
        let attempt = setup.attempt();

        // The same GET twice: a prefetch first, then the navigation the person sees.
        browser.goto(attempt.url.as_str()).await.unwrap();
        browser.goto(attempt.url.as_str()).await.unwrap();
        sign_in(&browser, PASSWORD).await;
        browser.click("button[value=approve]").await.unwrap();

        let landed = browser.wait_for_url(&setup.catcher.redirect_uri()).await.unwrap();
        let got = params(&landed);
        assert_eq!(param(&got, "state"), Some(attempt.state.secret().as_str()));
        let code = param(&got, "code").expect("a code").to_owned();
        let tokens = setup.redeem(&code, &attempt.verifier).await;
        assert!(tokens["access_token"].is_string(), "{tokens}");
        browser.close().await.unwrap();
    })
    .await;
}
