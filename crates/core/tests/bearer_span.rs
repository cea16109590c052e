//! The bearer layer's span: it carries the caller's client and user ids once the token is verified, and
//! never the token.
//!
//! In a test binary of its own: `tracing` caches each call site's interest globally, and a test elsewhere
//! hitting the same call sites on another thread, with no subscriber, while this one installs its own, can
//! leave a call site off for this test (seen once on a loaded machine, as a missing "accepted" line).

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, header};
use mcp_auth_core::{AccessToken, BearerAuthLayer, TokenVerifier, VerifyError};
use tower::ServiceExt;

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_bearer_span_carries_the_client_and_user_ids_never_the_token() {
    #[derive(Debug)]
    struct WithClient;
    #[async_trait]
    impl TokenVerifier for WithClient {
        async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
            match token {
                "secret-token-value" => Ok(AccessToken::new(token)
                    .with_subject("user_42")
                    .with_client_id("client_abc")
                    .with_scopes(["mcp:tools"])),
                _ => Err(VerifyError::invalid("unknown token")),
            }
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let app: Router = Router::new()
                .route("/mcp", get(|| async { "ok" }))
                .layer(BearerAuthLayer::new(Arc::new(WithClient)));
            for token in ["secret-token-value", "another-secret-value"] {
                let request = Request::get("/mcp")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap();
                app.clone().oneshot(request).await.unwrap();
            }
        });
    });
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let accepted = logs.lines().find(|line| line.contains("bearer token accepted")).unwrap_or_default();
    assert!(accepted.contains("client_abc") && accepted.contains("user_42"), "{logs}");
    assert!(logs.contains("bearer token refused"), "{logs}");
    assert!(!logs.contains("secret-token-value") && !logs.contains("another-secret-value"), "{logs}");
}
