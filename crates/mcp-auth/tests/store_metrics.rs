//! The store `McpAuth::from_settings` opens is instrumented: its operations are counted and timed under
//! the backend's name, so `from_env()` users get store metrics without wiring anything.

use mcp_auth_core::metrics::{STORE_DURATION_SECONDS, STORE_OPERATIONS_TOTAL};
use mcp_auth_core::settings::Settings;
use mcp_auth_core::testkit::MetricsCapture;

#[test]
fn the_configured_store_counts_its_operations_under_its_backend() {
    let capture = MetricsCapture::new();
    capture.run(async {
        let settings = Settings::from_pairs([
            ("MCP_AUTH_PROVIDER", "jwt"),
            ("MCP_AUTH_JWT_ISSUER", "https://login.example.com/realms/main"),
            ("MCP_AUTH_BASE_URL", "https://mcp.example.com"),
        ]);
        let auth = mcp_auth::McpAuth::from_settings(&settings).await.unwrap();
        // Forget what building the provider recorded: only the two operations below count.
        let _ = capture.take();
        let store = auth.store();
        store.put("metrics-test", "k", b"v", None).await.unwrap();
        assert_eq!(store.get("metrics-test", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
        let recorded = capture.take();
        assert_eq!(
            recorded.counter(
                STORE_OPERATIONS_TOTAL,
                &[("backend", "memory"), ("operation", "put"), ("outcome", "ok")]
            ),
            1
        );
        assert_eq!(
            recorded.counter(
                STORE_OPERATIONS_TOTAL,
                &[("backend", "memory"), ("operation", "get"), ("outcome", "ok")]
            ),
            1
        );
        assert_eq!(recorded.histogram_count(STORE_DURATION_SECONDS, &[("backend", "memory")]), 2);
    });
}
