//! The authorization server's request readers: redirect URIs and patterns, registration bodies, token
//! and authorize parameters.

use std::sync::{Arc, OnceLock};

use mcp_auth_core::store::MemoryStore;
use mcp_auth_oauth_server::openidconnect::core::CoreGrantType;
use mcp_auth_oauth_server::{
    ApplicationType, AuthorizationRequest, AuthorizeError, AuthorizePolicy, Client, ClientRegistry, Params,
    RedirectAllowList, RedirectPattern, RedirectUri, RegistrationPolicy, ResourcePolicy, ScopePolicy,
    TokenRequest, registration_response,
};
use serde_json::{Map, Value};
use url::Url;

use crate::{block_on, split_line, text};

const SCOPES: [&str; 3] = ["openid", "mcp:read", "mcp:write"];
const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";

/// What every redirect URI that parses satisfies, whatever the client.
fn check_parsed(raw: &str, uri: &RedirectUri) {
    let url = uri.url();
    assert!(url.username().is_empty() && url.password().is_none(), "{raw:?} has user information");
    assert!(!raw.contains(['#', '\\', ' ']), "{raw:?} has a fragment, a backslash or a space");
    assert!(!raw.bytes().any(|b| b.is_ascii_control()), "{raw:?} has a control character");
    assert!(
        !["javascript", "data", "file", "vbscript", "blob", "about", "filesystem"].contains(&url.scheme()),
        "{raw:?} has a forbidden scheme"
    );
    assert_eq!(uri.as_str(), raw);
    assert!(uri.matches(raw, ApplicationType::Web), "{raw:?} does not match itself");
    let _ = uri.display_host();
    let _ = uri.check_configured(ApplicationType::Web);
    let _ = uri.check_configured(ApplicationType::Native);
    if uri.check_registration(ApplicationType::Web).is_ok() {
        assert_eq!(url.scheme(), "https", "{raw:?} registered by a web client");
        assert!(!uri.is_loopback(), "{raw:?} registered by a web client");
    }
}

/// The host a pattern names (its text between `://` and the port or path), if it has one.
fn pattern_host(pattern: &str) -> Option<&str> {
    let (_, rest) = pattern.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let end = match authority.rfind(']') {
        Some(bracket) => bracket + 1,
        None => authority.rfind(':').unwrap_or(authority.len()),
    };
    Some(&authority[..end])
}

/// The host `host` names, as the URL standard writes it.
fn normal_host(host: &str) -> Option<String> {
    Url::parse(&format!("https://{host}/")).ok()?.host_str().map(str::to_owned)
}

/// Redirect URIs and patterns: the first line is a pattern and a registered URI, the second a presented
/// URI. Every URI that parses has no user information, fragment, backslash or forbidden scheme; a
/// pattern admits only URIs of its scheme and of its host (or, for `*.`, its subdomains), and never another
/// port than it names; a registered URI matches only itself, or for a native loopback client itself on
/// another port.
pub fn redirect_uri(data: &[u8]) {
    let (first, second) = split_line(data);
    let (Some(first), Some(second)) = (text(first), text(second)) else { return };
    let registered = RedirectUri::parse(first).ok();
    let presented = RedirectUri::parse(second).ok();
    for (raw, uri) in [(first, &registered), (second, &presented)] {
        if let Some(uri) = uri {
            check_parsed(raw, uri);
        }
    }
    if let Ok(pattern) = RedirectPattern::parse(first)
        && let Some(uri) = &presented
        && pattern.matches(uri)
    {
        assert!(RedirectAllowList::parse([first]).expect("the pattern parsed").permits(uri));
        let url = uri.url();
        let scheme = first.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        assert_eq!(Some(url.scheme()), scheme.as_deref(), "{second:?} admitted by {first:?}");
        if let Some(host) = pattern_host(first) {
            let actual = url.host_str().expect("admitted a URI without a host");
            let actual = actual.strip_suffix('.').unwrap_or(actual);
            let admitted = match host.strip_prefix("*.") {
                Some(suffix) => {
                    normal_host(suffix).is_some_and(|suffix| actual.ends_with(&format!(".{suffix}")))
                }
                None => normal_host(host).is_some_and(|host| host == url.host_str().unwrap_or_default()),
            };
            assert!(admitted, "{second:?} (host {actual}) admitted by {first:?}");
            let names_port = first.split_once("://").is_some_and(|(_, rest)| {
                let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
                authority.len() > host.len()
            });
            if !names_port {
                assert_eq!(url.port(), None, "{second:?} on another port admitted by {first:?}");
            }
        } else {
            assert!(url.host().is_none(), "{second:?} admitted by {first:?}, which names no host");
        }
    }
    if let Some(registered) = &registered {
        assert_eq!(registered.matches(second, ApplicationType::Web), first == second);
        if registered.matches(second, ApplicationType::Native) && first != second {
            let presented = presented.as_ref().expect("matched a URI that does not parse");
            let (r, p) = (registered.url(), presented.url());
            assert!(registered.is_loopback() && r.scheme() == "http" && p.scheme() == "http");
            assert_eq!((r.host_str(), r.path(), r.query()), (p.host_str(), p.path(), p.query()));
        }
    }
}

fn strict_registration() -> &'static RegistrationPolicy {
    static POLICY: OnceLock<RegistrationPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        RegistrationPolicy::default()
            .allowed_redirect_uris(
                RedirectAllowList::parse(["https://*.example.com/**", "http://127.0.0.1:*"])
                    .expect("valid patterns"),
            )
            .scopes_supported(SCOPES)
    })
}

/// A dynamic registration body given to `RegistrationPolicy::validate`, with the default policy and
/// with one that has a redirect URI allow-list and supported scopes. A client that validates asks for
/// the code grant, and each of its redirect URIs parses, suits its application type and passes the
/// allow-list; its scopes are supported ones.
pub fn registration_body(data: &[u8]) {
    let Ok(metadata) = serde_json::from_slice::<Map<String, Value>>(data) else { return };
    for (policy, strict) in [(&RegistrationPolicy::default(), false), (strict_registration(), true)] {
        let Ok(client) = policy.validate(&metadata) else { continue };
        assert!(client.grant_types.contains(&CoreGrantType::AuthorizationCode));
        assert!(!client.redirect_uris.is_empty());
        for raw in &client.redirect_uris {
            let uri = RedirectUri::parse(raw).expect("registered a redirect URI that does not parse");
            check_parsed(raw, &uri);
            assert!(uri.check_registration(client.application_type).is_ok(), "registered {raw:?}");
            if strict {
                let allow = RedirectAllowList::parse(["https://*.example.com/**", "http://127.0.0.1:*"]);
                assert!(allow.expect("valid patterns").permits(&uri), "{raw:?} outside the allow-list");
            }
        }
        if strict && let Some(scope) = &client.scope {
            // An empty `scope` is kept as sent: no scopes.
            let scopes = scope.split(' ').filter(|s| !s.is_empty());
            assert!(scopes.clone().all(|s| SCOPES.contains(&s)), "registered the scope {scope:?}");
        }
        let response = registration_response(&client, Some("secret"));
        assert_eq!(response["client_id"], client.client_id.as_str());
    }
}

/// A token request body through `Params::parse`, `TokenRequest::grant_type` and `TokenRequest::parse`.
/// The grant read is the one `grant_type` names; every required parameter is present and is the value
/// sent.
pub fn token_params(data: &[u8]) {
    let Ok(params) = Params::parse(data) else { return };
    if params.repeated().is_none() {
        assert!(params.clone().refuse_repeats().is_ok());
    } else {
        assert!(params.clone().refuse_repeats().is_err());
    }
    let supported =
        [CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken, CoreGrantType::ClientCredentials];
    let Ok(grant) = TokenRequest::grant_type(&params, &supported) else { return };
    assert_eq!(Some(grant.as_ref()), params.get("grant_type"));
    assert!(TokenRequest::grant_type(&params, &[]).is_err(), "a grant type nobody supports");
    let Ok(request) = TokenRequest::parse(&params, &grant) else { return };
    match request {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resource } => {
            assert_eq!(grant, CoreGrantType::AuthorizationCode);
            assert_eq!(Some(code.as_str()), params.get("code"));
            assert_eq!(Some(redirect_uri.as_str()), params.get("redirect_uri"));
            assert_eq!(code_verifier.as_deref(), params.get("code_verifier"));
            assert_eq!(resource.as_deref(), params.get("resource"));
        }
        TokenRequest::RefreshToken { refresh_token, scope, resource } => {
            assert_eq!(grant, CoreGrantType::RefreshToken);
            assert_eq!(Some(refresh_token.as_str()), params.get("refresh_token"));
            assert_eq!(scope.as_deref(), params.get("scope"));
            assert_eq!(resource.as_deref(), params.get("resource"));
        }
        TokenRequest::ClientCredentials { scope, resource } => {
            assert_eq!(grant, CoreGrantType::ClientCredentials);
            assert_eq!(scope.as_deref(), params.get("scope"));
            assert_eq!(resource.as_deref(), params.get("resource"));
        }
        _ => {}
    }
}

/// The registered redirect URIs of the authorize target's clients.
const WEB_REDIRECT: &str = "https://app.example.com/cb";
const NATIVE_REDIRECTS: [&str; 2] = ["http://127.0.0.1/cb", "com.example.app:/cb"];

fn registry() -> &'static ClientRegistry {
    static REGISTRY: OnceLock<ClientRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let web = Client::public("web-app", [WEB_REDIRECT]).expect("a valid client");
        let native = Client::from_config(
            "native-app",
            None,
            NATIVE_REDIRECTS.map(str::to_owned).to_vec(),
            ApplicationType::Native,
        )
        .expect("a valid client");
        ClientRegistry::new(Arc::new(MemoryStore::new()), "clients", RegistrationPolicy::default())
            .with_client(web)
            .and_then(|registry| registry.with_client(native))
            .expect("distinct clients")
    })
}

/// Scheme, host and path: what a response may be sent to (a loopback port may differ).
fn target(uri: &str) -> Option<(String, Option<String>, String)> {
    let url = Url::parse(uri).ok()?;
    Some((url.scheme().to_owned(), url.host_str().map(str::to_owned), url.path().to_owned()))
}

/// An authorization request's query through `AuthorizationRequest::parse`, against a registry of a web
/// and a native client. Nothing is ever sent to a redirect URI that is not registered: both a checked
/// request and a redirected error go to a registered URI (a loopback one possibly on another port); a
/// checked request has PKCE, supported scopes and the one allowed resource.
pub fn authorize_params(data: &[u8]) {
    let Some(query) = text(data) else { return };
    let policy = AuthorizePolicy {
        scopes: ScopePolicy::supported(SCOPES),
        resources: ResourcePolicy::only([RESOURCE]),
        trusted_redirect_uris: None,
    };
    let registered: Vec<_> =
        [WEB_REDIRECT].iter().chain(NATIVE_REDIRECTS.iter()).filter_map(|uri| target(uri)).collect();
    let location = match block_on(AuthorizationRequest::parse(Some(query), registry(), &policy)) {
        Ok(request) => {
            let uri = request.client.matching_redirect_uri(&request.redirect_uri);
            assert!(uri.is_some(), "accepted the redirect URI {:?}", request.redirect_uri);
            assert!(request.scopes.iter().all(|s| SCOPES.contains(&s.as_str())), "{:?}", request.scopes);
            assert!(request.resource.as_deref().is_none_or(|r| r == RESOURCE), "{:?}", request.resource);
            request.code_response("code").location(ISSUER).expect("a location")
        }
        Err(AuthorizeError::Redirect(response)) => response.location(ISSUER).expect("a location"),
        Err(_) => return,
    };
    let sent_to = target(&location).expect("a location that does not parse");
    assert!(registered.contains(&sent_to), "sent a response to {location:?}");
}
