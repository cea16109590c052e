//! The kit's flow steps counted in `mcp_auth_flow_events_total`: registrations, token grants, refreshes,
//! and the reuse detections of codes and refresh tokens, each under its outcome.

use std::sync::Arc;

use mcp_auth_core::metrics::{FLOW_EVENTS_TOTAL, FlowEvent, FlowOutcome};
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_core::testkit::{MetricsCapture, Recorded};
use mcp_auth_oauth_server::{
    AuthorizationRequest, AuthorizePolicy, Client, ClientRegistry, GrantStore, KeyedHasher, NewCode,
    RegistrationPolicy,
};
use secrecy::SecretString;
use serde_json::json;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:8000/cb";

fn flows(recorded: &Recorded, event: FlowEvent, outcome: FlowOutcome) -> u64 {
    recorded.counter(FLOW_EVENTS_TOTAL, &[("event", event.as_str()), ("outcome", outcome.as_str())])
}

fn registry(store: Arc<dyn KvStorage>) -> ClientRegistry {
    ClientRegistry::new(store, "t", RegistrationPolicy::default())
        .with_client(Client::confidential("proxy", "s", [REDIRECT]).unwrap())
        .unwrap()
}

async fn request(registry: &ClientRegistry) -> AuthorizationRequest {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "proxy"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid mcp"),
        ])
        .finish();
    AuthorizationRequest::parse(Some(&query), registry, &AuthorizePolicy::default()).await.unwrap()
}

#[test]
fn registrations_count_by_outcome() {
    let capture = MetricsCapture::new();
    capture.run(async {
        let registry = registry(Arc::new(MemoryStore::new()));
        let good = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
        registry.register(good.as_object().unwrap()).await.unwrap();
        registry.register(good.as_object().unwrap()).await.unwrap();
        let bad = json!({"redirect_uris": ["not a url"]});
        assert!(registry.register(bad.as_object().unwrap()).await.is_err());
    });
    let recorded = capture.take();
    assert_eq!(flows(&recorded, FlowEvent::Registration, FlowOutcome::Success), 2);
    assert_eq!(flows(&recorded, FlowEvent::Registration, FlowOutcome::Refused), 1);
    assert_eq!(flows(&recorded, FlowEvent::Registration, FlowOutcome::Error), 0);
    // Nothing but the event and the outcome: no client id.
    for labels in recorded.label_sets(FLOW_EVENTS_TOTAL) {
        let keys: Vec<&str> = labels.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["event", "outcome"]);
    }
}

#[test]
fn token_grants_refreshes_and_reuse_detections_count() {
    let capture = MetricsCapture::new();
    capture.run(async {
        let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
        let registry = registry(Arc::clone(&store));
        let hasher = KeyedHasher::from_secret(&SecretString::from("a test secret that is long enough"));
        let grants: GrantStore<()> = GrantStore::new(Arc::clone(&store), "t", hasher);
        let proxy = registry.get("proxy").await.unwrap().unwrap();
        let request = request(&registry).await;

        // A code with the wrong verifier: a refused grant.
        let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
        let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-x";
        assert!(grants.redeem_code(&code, &proxy, REDIRECT, Some(wrong), None).await.is_err());

        // A good grant, then two rotations.
        let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
        let grant = grants.redeem_code(&code, &proxy, REDIRECT, Some(VERIFIER), None).await.unwrap();
        let (_, r1) = grants.start_family(grant).await.unwrap();
        let r2 = grants.rotate_refresh(&r1, &proxy, |_| Ok(())).await.unwrap().refresh_token;
        grants.rotate_refresh(&r2, &proxy, |_| Ok(())).await.unwrap();

        // The spent r1 again: reuse, the family is revoked.
        assert!(grants.rotate_refresh(&r1, &proxy, |_| Ok(())).await.is_err());
        // The code again: reuse too.
        assert!(grants.redeem_code(&code, &proxy, REDIRECT, Some(VERIFIER), None).await.is_err());
    });
    let recorded = capture.take();
    assert_eq!(flows(&recorded, FlowEvent::TokenGrant, FlowOutcome::Success), 1);
    assert_eq!(
        flows(&recorded, FlowEvent::TokenGrant, FlowOutcome::Refused),
        2,
        "wrong verifier, replayed code"
    );
    assert_eq!(flows(&recorded, FlowEvent::Refresh, FlowOutcome::Success), 2);
    assert_eq!(flows(&recorded, FlowEvent::Refresh, FlowOutcome::Refused), 1);
    assert_eq!(flows(&recorded, FlowEvent::RefreshReuse, FlowOutcome::Success), 1);
    assert_eq!(flows(&recorded, FlowEvent::CodeReuse, FlowOutcome::Success), 1);
    assert_eq!(recorded.counter(FLOW_EVENTS_TOTAL, &[]), 8);
}
