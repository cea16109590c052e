//! Real OAuth / OpenID Connect clients against the dev IdP over loopback: the `openidconnect` crate does
//! discovery, PKCE, code exchange, ID-token verification and userinfo; the `oauth2` crate does refresh,
//! introspection and revocation, and an rmcp-like public native client registered through DCR.

use std::future::Future;
use std::pin::Pin;

use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpHandle, DevUser};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    IntrospectionUrl, PkceCodeChallenge, RedirectUrl, RequestTokenError, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse as _, TokenResponse as _, TokenUrl,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{IssuerUrl, Nonce, TokenResponse as _};
use serde_json::{Value, json};
use url::Url;

const PROXY_REDIRECT: &str = "http://127.0.0.1:8000/auth/callback";
const RESOURCE: &str = "http://127.0.0.1:8000/mcp";

/// The HTTP client the `oauth2` and `openidconnect` crates call: a thin adapter over `reqwest` 0.13
/// that never follows redirects (as both crates require, against SSRF).
#[derive(Debug, Clone)]
struct ReqwestHttp(reqwest::Client);

impl ReqwestHttp {
    fn new() -> Self {
        Self(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap())
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for ReqwestHttp {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut request = reqwest::Request::try_from(request)?;
            // The oauth2 crate only revokes through https URLs (RFC 7009 §2); the dev IdP serves plain
            // http on loopback, so the test hands oauth2 an https revocation URL and carries the request
            // as http to that same loopback address.
            if request.url().scheme() == "https" && request.url().host_str() == Some("127.0.0.1") {
                let _ = request.url_mut().set_scheme("http");
            }
            let response = self.0.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            let mut http_response = HttpResponse::new(body);
            *http_response.status_mut() = status;
            *http_response.headers_mut() = headers;
            Ok(http_response)
        })
    }
}

async fn start() -> DevIdpHandle {
    DevIdp::builder()
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .names("Ada", "Lovelace")
                .picture("https://example.com/ada.png")
                .org_id("org_1")
                .roles(["admin"]),
        )
        .user(DevUser::new("user_bob", "bob@example.com").name("Bob"))
        .client(DevClient::confidential("proxy", "proxy-secret", [PROXY_REDIRECT]))
        .auto_approve(true)
        .start()
        .await
        .unwrap()
}

/// The authorization step as a script: GET the authorize URL without following redirects, read the
/// `code`, `state` and `iss` from the `Location` header.
async fn follow_authorize(http: &ReqwestHttp, url: Url) -> (String, String, String) {
    let response = http.0.get(url).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let get = |name: &str| {
        location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    (get("code"), get("state"), get("iss"))
}

#[tokio::test]
async fn openidconnect_discovery_pkce_code_exchange_id_token_and_userinfo() {
    let idp = start().await;
    let http = ReqwestHttp::new();
    let issuer = IssuerUrl::new(idp.url().to_owned()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        openidconnect::ClientId::new("proxy".into()),
        Some(openidconnect::ClientSecret::new("proxy-secret".into())),
    )
    .set_redirect_uri(openidconnect::RedirectUrl::new(PROXY_REDIRECT.into()).unwrap());

    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            openidconnect::CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(openidconnect::Scope::new("email".into()))
        .add_scope(openidconnect::Scope::new("profile".into()))
        .add_extra_param("resource", RESOURCE)
        .set_pkce_challenge(challenge)
        .url();
    let (code, state, iss) = follow_authorize(&http, url).await;
    assert_eq!(&state, csrf.secret());
    assert_eq!(iss, idp.issuer(), "RFC 9207: iss must equal the discovered issuer exactly");

    let tokens = client
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("openid scope gives an ID token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), "user_ada");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.issuer().as_str(), idp.issuer());
    // The access token hash in the ID token matches the access token.
    let expected_hash = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&client.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    // A wrong nonce is refused.
    assert!(id_token.claims(&client.id_token_verifier(), &Nonce::new("other".into())).is_err());

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(userinfo.given_name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada"));
    assert_eq!(userinfo.family_name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Lovelace"));
    assert_eq!(userinfo.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada Lovelace"));
    assert_eq!(
        userinfo.picture().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("https://example.com/ada.png")
    );
    assert!(tokens.refresh_token().is_some());
}

fn oauth2_proxy_client(
    idp: &DevIdpHandle,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new("proxy".into()))
        .set_client_secret(ClientSecret::new("proxy-secret".into()))
        .set_auth_uri(oauth2::AuthUrl::new(format!("{}/oauth2/authorize", idp.url())).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", idp.url())).unwrap())
        .set_redirect_uri(RedirectUrl::new(PROXY_REDIRECT.into()).unwrap())
        .set_revocation_url(
            RevocationUrl::new(format!("{}/oauth2/revoke", idp.url()).replacen("http://", "https://", 1))
                .unwrap(),
        )
        .set_introspection_url(IntrospectionUrl::new(format!("{}/oauth2/introspection", idp.url())).unwrap())
}

#[tokio::test]
async fn oauth2_refresh_introspection_and_revocation() {
    let idp = start().await;
    let http = ReqwestHttp::new();
    let client = oauth2_proxy_client(&idp);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_extra_param("login_hint", "bob@example.com")
        .set_pkce_challenge(challenge)
        .url();
    let (code, _, iss) = follow_authorize(&http, url).await;
    assert_eq!(iss, idp.issuer());
    let first = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let first_refresh = first.refresh_token().unwrap().clone();

    // Refresh rotates the refresh token.
    let second = client.exchange_refresh_token(&first_refresh).request_async(&http).await.unwrap();
    let second_refresh = second.refresh_token().unwrap().clone();
    assert_ne!(first_refresh.secret(), second_refresh.secret());
    assert_eq!(
        second.scopes().map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["openid".into()])
    );

    // Introspection reports the access token active, with Bob as subject.
    let introspection = client.introspect(second.access_token()).request_async(&http).await.unwrap();
    assert!(introspection.active());
    assert_eq!(introspection.sub(), Some("user_bob"));
    assert_eq!(introspection.client_id().map(|c| c.as_str()), Some("proxy"));

    // Revoking the refresh token kills the family: refresh and introspection both say no.
    client
        .revoke_token(StandardRevocableToken::RefreshToken(second_refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let error = client.exchange_refresh_token(&second_refresh).request_async(&http).await.unwrap_err();
    match error {
        RequestTokenError::ServerResponse(response) => {
            assert_eq!(*response.error(), BasicErrorResponseType::InvalidGrant);
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    let introspection = client.introspect(second.access_token()).request_async(&http).await.unwrap();
    assert!(!introspection.active());
}

/// What the rmcp client does: discovery, DCR as a native public client with a loopback redirect, PKCE
/// authorize with `resource`, code exchange with `resource`, refresh.
#[tokio::test]
async fn rmcp_like_native_public_client_via_dcr() {
    let idp = start().await;
    let http = ReqwestHttp::new();
    let metadata: Value = http
        .0
        .get(format!("{}/.well-known/oauth-authorization-server", idp.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registration: Value = http
        .0
        .post(metadata["registration_endpoint"].as_str().unwrap())
        .json(&json!({
            "client_name": "rmcp-test",
            "redirect_uris": ["http://127.0.0.1:0/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "response_types": ["code"],
            "application_type": "native"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registration["client_id"].as_str().unwrap().to_owned();
    let redirect = "http://127.0.0.1:43117/callback";
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(
            oauth2::AuthUrl::new(metadata["authorization_endpoint"].as_str().unwrap().into()).unwrap(),
        )
        .set_token_uri(TokenUrl::new(metadata["token_endpoint"].as_str().unwrap().into()).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_extra_param("resource", RESOURCE)
        .set_pkce_challenge(challenge)
        .url();
    let (code, state, iss) = follow_authorize(&http, url).await;
    assert_eq!((&state, iss.as_str()), (csrf.secret(), idp.issuer()));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", RESOURCE)
        .request_async(&http)
        .await
        .unwrap();
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .add_extra_param("resource", RESOURCE)
        .request_async(&http)
        .await
        .unwrap();
    // A different resource on refresh is refused with invalid_target.
    let error = client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .add_extra_param("resource", "http://127.0.0.1:9999/other")
        .request_async(&http)
        .await
        .unwrap_err();
    match error {
        RequestTokenError::ServerResponse(response) => {
            assert_eq!(response.error().as_ref(), "invalid_target");
        }
        other => panic!("expected invalid_target, got {other:?}"),
    }
    // The access token carries the resource as its audience and the DCR client id.
    let claims: Value = http
        .0
        .post(format!("{}/oauth2/introspection", idp.url()))
        .form(&[("token", refreshed.access_token().secret().as_str()), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claims["active"], true);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["sub"], "user_ada");
}
