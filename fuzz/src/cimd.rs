//! Client ID Metadata Documents.

use std::sync::OnceLock;

use mcp_auth_oauth_server::{ClientMetadataResolver as _, RedirectUri, RegistrationPolicy};
use mcp_auth_proxy::MetadataDocuments;

use crate::{split_line, text};

/// The document URL used when the input's first line is not one this resolver handles.
const CLIENT_ID: &str = "https://app.example.com/oauth/client.json";

fn documents() -> &'static MetadataDocuments {
    static DOCUMENTS: OnceLock<MetadataDocuments> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        MetadataDocuments::builder(RegistrationPolicy::default()).build().expect("valid settings")
    })
}

/// A metadata document (second line) served at a client id (first line, or a fixed URL when the first
/// line is not one) through `MetadataDocuments::validate_document`, the checks a fetched document meets.
/// A client it accepts has the URL as its id, is public, has a name, and only valid redirect URIs.
pub fn cimd_document(data: &[u8]) {
    let (first, body) = split_line(data);
    let Some(first) = text(first) else { return };
    let client_id = if documents().handles(first) { first } else { CLIENT_ID };
    let Ok(client) = documents().validate_document(client_id, body) else { return };
    assert_eq!(client.client_id, client_id);
    assert!(!client.is_confidential(), "a document described a confidential client");
    assert!(client.client_name.as_deref().is_some_and(|name| !name.trim().is_empty()));
    assert!(!client.redirect_uris.is_empty());
    for raw in &client.redirect_uris {
        let uri = RedirectUri::parse(raw).expect("a document registered a redirect URI that does not parse");
        assert!(uri.check_registration(client.application_type).is_ok(), "{raw:?}");
    }
    assert!(MetadataDocuments::verified_host(&client).is_some());
}
