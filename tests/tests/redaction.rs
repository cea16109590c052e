//! No token or secret reaches `Debug` output, whichever type holds it.

use std::sync::Arc;

use mcp_auth_core::settings::Settings;
use mcp_auth_core::{AccessToken, BearerAuthLayer, StaticTokenVerifier};

const SECRET: &str = "s3cr3t-value-that-must-never-print";

fn assert_redacted(what: &str, debug: &str) {
    assert!(!debug.contains(SECRET), "{what} leaks the secret in Debug: {debug}");
}

#[test]
fn core_types_never_print_secrets() {
    let token = AccessToken::new(SECRET).with_subject("user");
    assert_redacted("AccessToken", &format!("{token:?}"));
    assert_redacted("AccessToken (pretty)", &format!("{token:#?}"));

    let verifier = StaticTokenVerifier::new().with_token(SECRET, token.clone());
    assert_redacted("StaticTokenVerifier", &format!("{verifier:?}"));
    assert_redacted("BearerAuthLayer", &format!("{:?}", BearerAuthLayer::new(Arc::new(verifier))));

    let settings = Settings::from_pairs([("MCP_AUTH_CLIENT_SECRET", SECRET)]);
    assert_redacted("Settings::secret", &format!("{:?}", settings.secret("CLIENT_SECRET")));
    let redis_url = format!("redis://default:{SECRET}@redis.internal:6379");
    let settings = Settings::from_pairs([
        ("MCP_AUTH_CLIENT_SECRET", SECRET),
        ("MCP_AUTH_JWT_SIGNING_KEY", SECRET),
        ("MCP_AUTH_FERNET_KEYS", SECRET),
        ("MCP_AUTH_REDIS_URL", redis_url.as_str()),
    ]);
    assert_redacted("Settings", &format!("{settings:?}"));
    assert_redacted("Settings (pretty)", &format!("{settings:#?}"));
    let missing = Settings::from_pairs([("MCP_AUTH_BASE_URL", SECRET)]).require_url("BASE_URL", "https://x");
    assert_redacted(
        "SettingsError",
        &format!("{missing:?} {}", missing.as_ref().err().map(ToString::to_string).unwrap_or_default()),
    );
}
