//! RFC 7591 dynamic client registration (open: no initial access token).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{AppState, OAuthError, body_bytes, no_store};
use crate::config::ApplicationType;
use crate::server::{ClientRecord, Inner};
use crate::util::{check_redirect_uri, hash_key, is_valid_scope, random_token};

const MAX_REDIRECT_URIS: usize = 32;
const MAX_STRING: usize = 2048;

fn metadata_error(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::bad_request("invalid_client_metadata", description)
}

/// `POST /oauth2/register`.
pub(super) async fn register(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&inner, &headers, body).await {
        Ok(body) => (StatusCode::CREATED, no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn string_field(map: &Map<String, Value>, name: &str) -> Result<Option<String>, OAuthError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_STRING => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(metadata_error(format!("{name} is too long"))),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

fn string_list(map: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) if s.len() <= MAX_STRING => Ok(s.clone()),
                _ => Err(metadata_error(format!("{name} must be an array of strings"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!("{name} must be an array of strings"))),
    }
}

async fn handle(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::invalid_request("the body must be application/json"));
    }
    let bytes = body_bytes(body)?;
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(metadata_error("the body must be a JSON object of client metadata"));
    };
    let application_type = match string_field(&map, "application_type")?.as_deref() {
        None | Some("web") => ApplicationType::Web,
        Some("native") => ApplicationType::Native,
        Some(other) => {
            return Err(metadata_error(format!("application_type {other:?} is not web or native")));
        }
    };
    let auth_method =
        string_field(&map, "token_endpoint_auth_method")?.unwrap_or_else(|| "client_secret_basic".into());
    if !matches!(auth_method.as_str(), "none" | "client_secret_basic" | "client_secret_post") {
        return Err(metadata_error(format!(
            "token_endpoint_auth_method {auth_method:?} is not supported; use none, client_secret_basic or client_secret_post"
        )));
    }
    let grant_types = string_list(&map, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty() {
        return Err(metadata_error("grant_types must not be empty"));
    }
    for grant in &grant_types {
        if !matches!(grant.as_str(), "authorization_code" | "refresh_token" | "client_credentials") {
            return Err(metadata_error(format!("grant type {grant:?} is not supported")));
        }
    }
    if grant_types.iter().any(|g| g == "client_credentials") && auth_method == "none" {
        return Err(metadata_error(
            "client_credentials needs a confidential client (not token_endpoint_auth_method none)",
        ));
    }
    let response_types = string_list(&map, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("only the code response type is supported"));
    }
    let redirect_uris = string_list(&map, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::bad_request("invalid_redirect_uri", "too many redirect URIs"));
    }
    if grant_types.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err(OAuthError::bad_request(
            "invalid_redirect_uri",
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri, application_type)
            .map_err(|why| OAuthError::bad_request("invalid_redirect_uri", why))?;
    }
    let scope = string_field(&map, "scope")?;
    if scope.as_deref().is_some_and(|s| !is_valid_scope(s)) {
        return Err(metadata_error("scope is malformed"));
    }
    let client_name = string_field(&map, "client_name")?;
    for field in ["client_uri", "logo_uri", "tos_uri", "policy_uri"] {
        string_field(&map, field)?;
    }

    let client_id = format!("client_{}", random_token(16));
    let secret = (auth_method != "none").then(|| format!("secret_{}", random_token(32)));
    let record = ClientRecord {
        client_id: client_id.clone(),
        secret_sha256: secret.as_deref().map(hash_key),
        redirect_uris: redirect_uris.clone(),
        token_endpoint_auth_method: auth_method.clone(),
        grant_types: grant_types.clone(),
        application_type,
        client_name: client_name.clone(),
        dynamic: true,
    };
    inner.store.clients.put(&client_id, &record, None).await?;
    tracing::info!(client_id, ?application_type, auth_method, "client registered");

    // Echo the registered metadata (RFC 7591 §3.2.1), known fields first, then the rest as sent.
    let mut response = map;
    response.remove("client_secret");
    response.remove("client_secret_expires_at");
    response.insert("client_id".into(), json!(client_id));
    response.insert("client_id_issued_at".into(), json!(inner.now()));
    response.insert("redirect_uris".into(), json!(redirect_uris));
    response.insert("token_endpoint_auth_method".into(), json!(auth_method));
    response.insert("grant_types".into(), json!(grant_types));
    response.insert("response_types".into(), json!(response_types));
    response.insert("application_type".into(), json!(application_type));
    if let Some(secret) = secret {
        response.insert("client_secret".into(), json!(secret));
        response.insert("client_secret_expires_at".into(), json!(0));
    }
    Ok(Value::Object(response))
}
