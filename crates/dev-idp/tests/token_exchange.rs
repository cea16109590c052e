//! The token-exchange grant (RFC 8693) through the router (`oneshot`, no sockets): AuthKit's behaviour
//! (`act`, the audience of the requested resource, the subject's claims carried over, only for clients
//! allowed to exchange) and a clear OAuth error for each kind of hostile input.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt as _;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpConfig, DevUser};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const API: &str = "http://127.0.0.1:7000";
const MCP: &str = "http://127.0.0.1:8000/mcp";

fn idp() -> DevIdp {
    DevIdp::builder()
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .org_id("org_math")
                .roles(["member"])
                .permissions(["orders:read"]),
        )
        .client(
            DevClient::confidential("mcp-server", "mcp-secret", Vec::<String>::new()).allow_token_exchange(),
        )
        .client(
            DevClient::confidential("other", "other-secret", Vec::<String>::new()).allow_client_credentials(),
        )
        .scope("orders:read")
        .build("http://127.0.0.1:9400")
        .unwrap()
}

async fn post(idp: &DevIdp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = serde_urlencoded(form);
    let request = Request::post("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = idp.router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn serde_urlencoded(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn exchange<'a>(subject: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", GRANT),
        ("client_id", "mcp-server"),
        ("client_secret", "mcp-secret"),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("resource", API),
        ("scope", "orders:read"),
    ];
    for (name, value) in extra {
        form.retain(|(kept, _)| kept != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    form
}

#[tokio::test]
async fn an_allowed_client_gets_a_token_for_the_resource_acting_for_the_user() {
    let idp = idp();
    let subject = idp.issue_access_token("user_ada", MCP, ["openid"]).unwrap();
    let (status, answer) = post(&idp, &exchange(&subject, &[])).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["issued_token_type"], ACCESS);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "orders:read");
    let token = claims(answer["access_token"].as_str().unwrap());
    let before = claims(&subject);
    assert_eq!(token["aud"], API, "the audience is the requested resource");
    assert_eq!(token["sub"], "user_ada");
    assert_eq!(token["act"], json!({"sub": "mcp-server"}), "the MCP server is the actor");
    assert_eq!(token["client_id"], "mcp-server");
    for carried in ["org_id", "roles", "role", "permissions", "sid"] {
        assert_eq!(token[carried], before[carried], "{carried} carried over");
    }
    assert!(token["exp"].as_u64() <= before["exp"].as_u64(), "never outlives the subject token");
    assert_eq!(idp.token_exchanges(), 1);

    // Exchanging an exchanged token nests the earlier actor (RFC 8693 §4.1).
    let first = answer["access_token"].as_str().unwrap().to_owned();
    let (status, again) = post(&idp, &exchange(&first, &[("resource", "http://127.0.0.1:7001")])).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let nested = claims(again["access_token"].as_str().unwrap());
    assert_eq!(nested["act"], json!({"sub": "mcp-server", "act": {"sub": "mcp-server"}}));
    assert_eq!(idp.token_exchanges(), 2);
}

/// What is wrong, the form, and the expected status and OAuth error.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode, &'a str);

#[tokio::test]
async fn hostile_requests_get_the_matching_oauth_error_and_no_token() {
    let idp = idp();
    let subject = idp.issue_access_token("user_ada", MCP, ["openid"]).unwrap();
    let machine = {
        let (status, answer) = post(
            &idp,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "other"),
                ("client_secret", "other-secret"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["access_token"].as_str().unwrap().to_owned()
    };
    let garbage = "x".repeat(5000);
    let cases: Vec<Case<'_>> = vec![
        (
            "no subject_token",
            exchange(&subject, &[("subject_token", "")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        ("garbage subject_token", exchange(&garbage, &[]), StatusCode::BAD_REQUEST, "invalid_grant"),
        ("a JWT of nobody", exchange("e30.e30.e30", &[]), StatusCode::BAD_REQUEST, "invalid_grant"),
        ("a machine token", exchange(&machine, &[]), StatusCode::BAD_REQUEST, "invalid_grant"),
        (
            "an ID token type",
            exchange(&subject, &[("subject_token_type", "urn:ietf:params:oauth:token-type:id_token")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no token type",
            exchange(&subject, &[("subject_token_type", "")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a refresh token requested",
            exchange(&subject, &[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        ("no target", exchange(&subject, &[("resource", "")]), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "a resource that is not a URL",
            exchange(&subject, &[("resource", "orders api")]),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "a resource with a fragment",
            exchange(&subject, &[("resource", "https://api.example.com/#x")]),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "resource and audience disagree",
            exchange(&subject, &[("audience", "https://elsewhere.example.com")]),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "an actor token",
            exchange(&subject, &[("actor_token", "abc")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "an unknown scope",
            exchange(&subject, &[("scope", "admin:everything")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "a client not allowed to exchange",
            exchange(&subject, &[("client_id", "other"), ("client_secret", "other-secret")]),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "an unknown client",
            exchange(&subject, &[("client_id", "nobody")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a wrong secret",
            exchange(&subject, &[("client_secret", "guess")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "no client at all",
            exchange(&subject, &[("client_id", ""), ("client_secret", "")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
    ];
    let count = cases.len();
    for (what, form, status, code) in cases {
        let (got, answer) = post(&idp, &form).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(code)), "{what}: {answer}");
        assert!(answer.get("access_token").is_none(), "{what}");
        assert!(!answer["error_description"].as_str().unwrap_or_default().is_empty(), "{what}: explained");
    }
    assert_eq!(idp.token_exchanges(), count as u64, "every request reached the counter");
}

#[tokio::test]
async fn the_grant_is_advertised_and_only_confidential_clients_may_have_it() {
    let idp = idp();
    let response = idp
        .router()
        .oneshot(Request::get("/.well-known/oauth-authorization-server").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let metadata: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(metadata["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{metadata}");

    let public = DevIdp::builder()
        .client(DevClient::public("spa", ["http://127.0.0.1/cb"]).allow_token_exchange())
        .build("http://127.0.0.1:9400")
        .unwrap_err();
    assert!(public.to_string().contains("token_exchange needs a confidential client"), "{public}");
    let config =
        DevIdpConfig::from_toml_str("[[clients]]\nid = 'mcp'\nsecret = 's'\ntoken_exchange = true").unwrap();
    assert!(config.clients[0].token_exchange);
}
