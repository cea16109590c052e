//! The authorization server: its metadata and its JWKS, fetched with short timeouts.

use mcp_auth::jwt::JwkSet;
use mcp_auth::settings::Settings;
use mcp_auth::workos::AuthKitDomain;
use serde_json::Value;

use super::{Finding, NETWORK_TIMEOUT, Report, set_hint};

/// The most a metadata document or key set may weigh.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Fetches the metadata and the JWKS of the authorization server `provider` uses.
pub(super) async fn authorization_server(settings: &Settings, provider: &str, report: &mut Report<'_>) {
    let client = match reqwest::Client::builder()
        .timeout(NETWORK_TIMEOUT)
        .connect_timeout(NETWORK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            report.add(Finding::fail("HTTP client", err.to_string(), "report this as a bug"));
            return;
        }
    };
    let (setting, issuer, metadata_urls) = match provider {
        "authkit" | "workos" => {
            let Some(domain) = settings.string("AUTHKIT_DOMAIN") else { return };
            match AuthKitDomain::parse(domain.trim()) {
                Ok(domain) => {
                    let base = domain.as_str().to_owned();
                    (
                        "AUTHKIT_DOMAIN",
                        base.clone(),
                        vec![format!("{base}/.well-known/oauth-authorization-server")],
                    )
                }
                Err(err) => {
                    report.add(Finding::fail(
                        settings.describe("AUTHKIT_DOMAIN"),
                        err.to_string(),
                        set_hint(settings, "AUTHKIT_DOMAIN"),
                    ));
                    return;
                }
            }
        }
        _ => {
            let Some(issuer) = settings.string("JWT_ISSUER") else { return };
            let issuer = issuer.trim().to_owned();
            let Ok(parsed) = url::Url::parse(&issuer) else { return };
            let trimmed = issuer.trim_end_matches('/');
            let path = parsed.path().trim_end_matches('/');
            let origin = parsed.origin().ascii_serialization();
            let urls = vec![
                format!("{origin}/.well-known/oauth-authorization-server{path}"),
                format!("{trimmed}/.well-known/openid-configuration"),
            ];
            ("JWT_ISSUER", issuer, urls)
        }
    };
    let subject = settings.describe(setting);
    let unreachable_fix = format!(
        "check {}: it must be the authorization server's address ({}), reachable from this host",
        Settings::var_name(setting),
        super::example(setting)
    );
    let mut metadata: Option<(String, Value)> = None;
    let mut last_error = String::new();
    for url in &metadata_urls {
        match fetch_json(&client, url).await {
            Ok(document) => {
                metadata = Some((url.clone(), document));
                break;
            }
            Err(err) => last_error = format!("{url}: {err}"),
        }
    }
    let jwks_setting = settings.string("JWT_JWKS_URI").filter(|_| provider == "jwt");
    let metadata_read = metadata.is_some();
    let jwks_uri = match metadata {
        Some((url, document)) => {
            let named = document.get("issuer").and_then(Value::as_str).unwrap_or_default();
            if named.trim_end_matches('/') == issuer.trim_end_matches('/') {
                report.add(Finding::pass(subject.clone(), format!("metadata at {url} names issuer {named}")));
            } else {
                report.add(Finding::fail(
                    subject.clone(),
                    format!("the metadata at {url} names issuer `{named}`, not `{issuer}`: tokens would be refused"),
                    format!("set {} to exactly the issuer the metadata names", Settings::var_name(setting)),
                ));
            }
            jwks_setting.or_else(|| document.get("jwks_uri").and_then(Value::as_str).map(str::to_owned))
        }
        None => {
            if provider == "jwt" && (jwks_setting.is_some() || settings.string("JWT_PUBLIC_KEY").is_some()) {
                report.add(Finding::warn(
                    subject.clone(),
                    format!("no metadata could be read ({last_error})"),
                    "clients discover the authorization server through its metadata: check the issuer URL",
                ));
            } else {
                report.add(Finding::fail(
                    subject.clone(),
                    format!("cannot read the metadata: {last_error}"),
                    unreachable_fix,
                ));
            }
            jwks_setting
        }
    };
    if provider == "jwt" && settings.string("JWT_PUBLIC_KEY").is_some() {
        return;
    }
    let Some(jwks_uri) = jwks_uri else {
        if metadata_read {
            report.add(Finding::fail(
                "JWKS",
                "the metadata names no jwks_uri",
                "set MCP_AUTH_JWT_JWKS_URI to the authorization server's key set",
            ));
        }
        return;
    };
    let jwks_subject = if settings.string("JWT_JWKS_URI").is_some() && provider == "jwt" {
        settings.describe("JWT_JWKS_URI")
    } else {
        "JWKS".to_owned()
    };
    match fetch_json(&client, &jwks_uri).await {
        Ok(document) => match serde_json::from_value::<JwkSet>(document) {
            Ok(set) if !set.keys.is_empty() => {
                let kids: Vec<&str> =
                    set.keys.iter().filter_map(|key| key.common.key_id.as_deref()).collect();
                report.add(Finding::pass(
                    jwks_subject,
                    format!("{jwks_uri}: {} key(s) (kid {})", set.keys.len(), kids.join(", ")),
                ));
            }
            Ok(_) => report.add(Finding::fail(
                jwks_subject,
                format!("{jwks_uri} holds no keys: every token would be refused"),
                "check the authorization server's signing keys",
            )),
            Err(err) => report.add(Finding::fail(
                jwks_subject,
                format!("{jwks_uri} is not a JWK set: {err}"),
                "point MCP_AUTH_JWT_JWKS_URI (or the issuer's metadata) at the key set",
            )),
        },
        Err(err) => report.add(Finding::fail(
            jwks_subject,
            format!("cannot read {jwks_uri}: {err}"),
            "check that the key set is reachable from this host",
        )),
    }
}

/// GETs `url` and parses a JSON document of at most [`MAX_DOCUMENT`] bytes.
async fn fetch_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let mut response = client.get(url).send().await.map_err(|err| describe(&err))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| describe(&err))? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("the document is larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|err| format!("not JSON: {err}"))
}

/// A reqwest error with its causes (`error sending request: connection refused`).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", NETWORK_TIMEOUT.as_secs());
    }
    mcp_auth_core::report::chain(err)
}
