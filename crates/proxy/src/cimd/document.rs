//! What a fetched document must say (draft-ietf-oauth-client-id-metadata-document §4 and the MCP
//! specification's "Client ID Metadata Documents"): a JSON object whose `client_id` is its URL exactly,
//! with a `client_name` and `redirect_uris`, describing a public client (no secret, no
//! `token_endpoint_auth_method` but `none`), and passing every rule dynamic registration applies.

use mcp_auth_oauth_server::{Client, MetadataDocumentError, RegistrationPolicy};
use serde_json::Value;

use super::client_id::shown;

/// Turns the document served at `url` into the client it describes.
pub(crate) fn validate(
    url: &str,
    body: &[u8],
    policy: &RegistrationPolicy,
) -> Result<Client, MetadataDocumentError> {
    let at = shown(url);
    let refused =
        |what: String| MetadataDocumentError::refused(format!("the client metadata document at {at} {what}"));
    let document: Value =
        serde_json::from_slice(body).map_err(|error| refused(format!("is not valid JSON ({error})")))?;
    let Value::Object(mut metadata) = document else {
        return Err(refused("is not a JSON object".to_owned()));
    };
    match metadata.get("client_id") {
        Some(Value::String(client_id)) if client_id == url => {}
        Some(Value::String(_)) => {
            return Err(MetadataDocumentError::refused(format!(
                "the client_id in the client metadata document at {at} differs from its URL"
            )));
        }
        Some(_) => return Err(refused("has a client_id that is not a string".to_owned())),
        None => return Err(refused("has no client_id".to_owned())),
    }
    for secret in ["client_secret", "client_secret_expires_at"] {
        if metadata.contains_key(secret) {
            return Err(refused(format!(
                "holds {secret}; a metadata document describes a public client and never holds a secret"
            )));
        }
    }
    match metadata.get("token_endpoint_auth_method") {
        None => {
            // Registration's default is client_secret_basic; a document's client has no secret.
            metadata.insert("token_endpoint_auth_method".to_owned(), Value::from("none"));
        }
        Some(Value::String(method)) if method == "none" => {}
        Some(Value::String(method)) if method.len() <= 40 => {
            return Err(refused(format!(
                "asks for token_endpoint_auth_method {method:?}; clients described by a metadata document \
                 must use \"none\" here"
            )));
        }
        Some(_) => {
            return Err(refused(
                "has a token_endpoint_auth_method other than \"none\"; clients described by a metadata \
                 document must use \"none\" here"
                    .to_owned(),
            ));
        }
    }
    let named =
        metadata.get("client_name").and_then(Value::as_str).is_some_and(|name| !name.trim().is_empty());
    if !named {
        return Err(refused("has no client_name, which the MCP specification requires".to_owned()));
    }
    let validated = policy
        .validate(&metadata)
        .map_err(|error| refused(format!("is not acceptable: {}", error.description())))?;
    Ok(Client::from_metadata_document(url, validated))
}

#[cfg(test)]
mod tests {
    use mcp_auth_oauth_server::{ApplicationType, ClientOrigin, RedirectAllowList};
    use serde_json::json;

    use super::*;

    const URL: &str = "https://app.example.com/client.json";

    fn check(document: &Value) -> Result<Client, MetadataDocumentError> {
        validate(URL, document.to_string().as_bytes(), &RegistrationPolicy::default())
    }

    fn good() -> Value {
        json!({
            "client_id": URL,
            "client_name": "Example",
            "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut document = good();
        document[field] = value;
        document
    }

    #[test]
    fn a_good_document_is_a_public_native_client() {
        let client = check(&good()).unwrap();
        assert_eq!(client.client_id, URL);
        assert_eq!(client.origin, ClientOrigin::MetadataDocument);
        assert_eq!(client.application_type, ApplicationType::Native);
        assert_eq!(client.client_name.as_deref(), Some("Example"));
        assert!(!client.is_confidential());
        assert_eq!(client.token_endpoint_auth_method.as_ref(), "none");
    }

    #[test]
    fn refusals_name_the_problem() {
        let mut no_client_id = good();
        no_client_id.as_object_mut().unwrap().remove("client_id");
        let mut no_name = good();
        no_name.as_object_mut().unwrap().remove("client_name");
        for (document, reason) in [
            (json!([1, 2]), "is not a JSON object"),
            (json!("text"), "is not a JSON object"),
            (no_client_id, "has no client_id"),
            (with("client_id", json!(5)), "not a string"),
            (with("client_id", json!("https://app.example.com/other.json")), "differs from its URL"),
            (with("client_id", json!("https://APP.example.com/client.json")), "differs from its URL"),
            (with("client_secret", json!("s3cret")), "holds client_secret"),
            (with("client_secret_expires_at", json!(0)), "holds client_secret_expires_at"),
            (with("token_endpoint_auth_method", json!("private_key_jwt")), "\"private_key_jwt\""),
            (with("token_endpoint_auth_method", json!("client_secret_basic")), "must use \"none\""),
            (with("token_endpoint_auth_method", json!("x".repeat(500))), "must use \"none\""),
            (with("token_endpoint_auth_method", json!(null)), "must use \"none\""),
            (no_name, "has no client_name"),
            (with("client_name", json!("  ")), "has no client_name"),
            (with("client_name", json!(["x"])), "has no client_name"),
            (with("redirect_uris", json!([])), "is not acceptable: redirect_uris is required"),
            (with("redirect_uris", json!(["javascript:alert(1)"])), "is not acceptable"),
            (with("grant_types", json!(["client_credentials"])), "is not acceptable"),
        ] {
            let error = check(&document).unwrap_err();
            assert!(!error.is_unavailable());
            assert!(error.to_string().contains(reason), "{document}: {error}");
            assert!(error.to_string().len() < 700, "{error}");
        }
        let error = validate(URL, b"{\"client_id\": ", &RegistrationPolicy::default()).unwrap_err();
        assert!(error.to_string().contains("is not valid JSON"), "{error}");
        let deep = "[".repeat(100_000);
        assert!(validate(URL, deep.as_bytes(), &RegistrationPolicy::default()).is_err());
    }

    #[test]
    fn private_use_schemes_need_a_native_application_type() {
        let native = with("redirect_uris", json!(["com.example.app:/cb"]));
        let error = check(&native).unwrap_err();
        assert!(error.to_string().contains("com.example.app"), "{error}");
        let mut native = native;
        native["application_type"] = json!("native");
        assert_eq!(check(&native).unwrap().application_type, ApplicationType::Native);
    }

    #[test]
    fn the_policy_allow_list_applies() {
        let policy = RegistrationPolicy::default()
            .allowed_redirect_uris(RedirectAllowList::parse(["https://*.example.com/**"]).unwrap());
        let error = validate(URL, good().to_string().as_bytes(), &policy).unwrap_err();
        assert!(error.to_string().contains("is not acceptable"), "{error}");
        let web = with("redirect_uris", json!(["https://app.example.com/cb"]));
        assert!(validate(URL, web.to_string().as_bytes(), &policy).is_ok());
    }
}
