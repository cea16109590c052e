//! `GrantStore` over real stores: single-use codes, refresh rotation as one atomic step, reuse detection
//! that revokes the family, and the same races across two Redis connections (two instances).

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::ManualClock;
use mcp_auth_core::store::{KvStorage, MemoryStore};
use mcp_auth_oauth_server::{
    AuthorizationRequest, AuthorizePolicy, Client, ClientRegistry, GrantStore, KeyedHasher, NewCode,
    OAuthError, Refreshed, RegistrationPolicy, narrow_scopes,
};
use mcp_auth_store_redis::RedisStore;
use secrecy::SecretString;
use tokio::sync::Barrier;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:8000/cb";

fn registry(store: Arc<dyn KvStorage>) -> ClientRegistry {
    ClientRegistry::new(store, "t", RegistrationPolicy::default())
        .with_client(Client::confidential("proxy", "s", [REDIRECT]).unwrap())
        .unwrap()
        .with_client(Client::confidential("other", "s", [REDIRECT]).unwrap())
        .unwrap()
}

fn hasher() -> KeyedHasher {
    KeyedHasher::from_secret(&SecretString::from("a test secret that is long enough"))
}

async fn request(registry: &ClientRegistry, client: &str) -> AuthorizationRequest {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", REDIRECT),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid mcp"),
            ("resource", "http://127.0.0.1:8000/mcp"),
        ])
        .finish();
    AuthorizationRequest::parse(Some(&query), registry, &AuthorizePolicy::default()).await.unwrap()
}

async fn family(grants: &GrantStore<()>, registry: &ClientRegistry) -> String {
    let request = request(registry, "proxy").await;
    let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
    let client = registry.get("proxy").await.unwrap().unwrap();
    let grant = grants.redeem_code(&code, &client, REDIRECT, Some(VERIFIER), None).await.unwrap();
    grants.start_family(grant).await.unwrap().1
}

fn code_of(error: &OAuthError) -> &str {
    error.code().as_str()
}

#[tokio::test]
async fn codes_are_single_use_bound_and_replay_revokes() {
    let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
    let registry = registry(Arc::clone(&store));
    let grants: GrantStore<()> = GrantStore::new(Arc::clone(&store), "t", hasher());
    let proxy = registry.get("proxy").await.unwrap().unwrap();
    let other = registry.get("other").await.unwrap().unwrap();
    let request = request(&registry, "proxy").await;

    for (client, redirect, verifier, resource) in [
        (&other, REDIRECT, Some(VERIFIER), None),
        (&proxy, "http://127.0.0.1:8000/other", Some(VERIFIER), None),
        (&proxy, REDIRECT, Some("wrong-verifier-wrong-verifier-wrong-verifier-x"), None),
        (&proxy, REDIRECT, Some(VERIFIER), Some("https://elsewhere.example/mcp")),
    ] {
        let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
        let error = grants.redeem_code(&code, client, redirect, verifier, resource).await.unwrap_err();
        assert!(["invalid_grant", "invalid_target"].contains(&code_of(&error)), "{error}");
        // A failed redemption still spent the code.
        let again = grants.redeem_code(&code, &proxy, REDIRECT, Some(VERIFIER), None).await.unwrap_err();
        assert_eq!(code_of(&again), "invalid_grant");
    }
    let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
    assert_eq!(
        code_of(&grants.redeem_code(&code, &proxy, REDIRECT, None, None).await.unwrap_err()),
        "invalid_grant",
        "no verifier"
    );

    // Replaying a redeemed code revokes the family it started.
    let (code, _) = grants.issue_code(NewCode::new(&request, "user_1", ())).await.unwrap();
    let grant = grants.redeem_code(&code, &proxy, REDIRECT, Some(VERIFIER), None).await.unwrap();
    let sid = grant.sid.clone();
    let (_, refresh) = grants.start_family(grant).await.unwrap();
    assert!(!grants.is_session_revoked(&sid).await.unwrap());
    assert!(grants.redeem_code(&code, &proxy, REDIRECT, Some(VERIFIER), None).await.is_err());
    assert!(grants.is_session_revoked(&sid).await.unwrap());
    assert!(grants.rotate_refresh(&refresh, &proxy, |_| Ok(())).await.is_err());
}

#[tokio::test]
async fn rotation_narrows_without_persisting_and_reuse_revokes() {
    let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
    let registry = registry(Arc::clone(&store));
    let grants: GrantStore<()> = GrantStore::new(Arc::clone(&store), "t", hasher());
    let proxy = registry.get("proxy").await.unwrap().unwrap();
    let other = registry.get("other").await.unwrap().unwrap();
    let r1 = family(&grants, &registry).await;

    // A refused check or a foreign client does not spend the token.
    let widen = grants.rotate_refresh(&r1, &proxy, |f| narrow_scopes(Some("openid admin"), &f.scopes)).await;
    assert_eq!(code_of(&widen.unwrap_err()), "invalid_scope");
    assert!(grants.rotate_refresh(&r1, &other, |_| Ok(())).await.is_err());

    let narrowed =
        grants.rotate_refresh(&r1, &proxy, |f| narrow_scopes(Some("mcp"), &f.scopes)).await.unwrap();
    assert_eq!(narrowed.checked, ["mcp"]);
    assert_eq!(narrowed.family.scopes, ["openid", "mcp"], "the family keeps every granted scope");
    assert_eq!(narrowed.family.generation(), 2);
    let r2 = narrowed.refresh_token;
    let wide_again = grants.rotate_refresh(&r2, &proxy, |f| narrow_scopes(None, &f.scopes)).await.unwrap();
    assert_eq!(wide_again.checked, ["openid", "mcp"], "a later refresh may ask for every scope again");
    let r3 = wide_again.refresh_token;

    assert!(grants.refresh_family(&r3, &proxy).await.unwrap().is_some());
    assert!(grants.refresh_family(&r2, &proxy).await.unwrap().is_none(), "a spent token is not live");
    // Reusing r1 revokes the family: r3 dies too.
    let reuse = grants.rotate_refresh(&r1, &proxy, |_| Ok(())).await.unwrap_err();
    assert!(reuse.description().contains("already used"), "{reuse}");
    assert_eq!(code_of(&grants.rotate_refresh(&r3, &proxy, |_| Ok(())).await.unwrap_err()), "invalid_grant");
    assert!(grants.refresh_family(&r3, &proxy).await.unwrap().is_none());
}

#[tokio::test]
async fn families_expire_on_the_injected_clock() {
    let clock = ManualClock::starting_now();
    let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::builder().clock(Arc::new(clock.clone())).build());
    let registry = registry(Arc::clone(&store));
    let grants: GrantStore<()> = GrantStore::new(Arc::clone(&store), "t", hasher())
        .with_clock(Arc::new(clock.clone()))
        .with_refresh_ttl(Duration::from_secs(100));
    let proxy = registry.get("proxy").await.unwrap().unwrap();
    let r1 = family(&grants, &registry).await;
    clock.advance(Duration::from_secs(60));
    let r2 = grants.rotate_refresh(&r1, &proxy, |_| Ok(())).await.unwrap().refresh_token;
    clock.advance(Duration::from_secs(41));
    assert!(grants.rotate_refresh(&r2, &proxy, |_| Ok(())).await.is_err(), "the family's end does not move");
}

#[tokio::test]
async fn revoking_a_refresh_token_needs_its_client() {
    let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
    let registry = registry(Arc::clone(&store));
    let grants: GrantStore<()> = GrantStore::new(Arc::clone(&store), "t", hasher());
    let proxy = registry.get("proxy").await.unwrap().unwrap();
    let other = registry.get("other").await.unwrap().unwrap();
    let token = family(&grants, &registry).await;
    assert_eq!(code_of(&grants.revoke_refresh(&token, &other).await.unwrap_err()), "unauthorized_client");
    assert!(!grants.revoke_refresh("never-issued", &proxy).await.unwrap());
    assert!(grants.revoke_refresh(&token, &proxy).await.unwrap());
    assert!(grants.rotate_refresh(&token, &proxy, |_| Ok(())).await.is_err());
    grants.revoke_access_token("jti-1", u64::MAX / 4).await.unwrap();
    assert!(grants.is_access_token_revoked(Some("jti-1"), None).await.unwrap());
    assert!(!grants.is_access_token_revoked(Some("jti-2"), Some("session_none")).await.unwrap());
}

#[tokio::test]
async fn within_the_grace_window_a_retry_gets_the_remembered_answer_and_after_it_reuse_revokes() {
    let clock = ManualClock::starting_now();
    let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::builder().clock(Arc::new(clock.clone())).build());
    let registry = registry(Arc::clone(&store));
    let grants: GrantStore<()> = GrantStore::new(Arc::clone(&store), "t", hasher())
        .with_clock(Arc::new(clock.clone()))
        .with_refresh_grace(Duration::from_secs(10));
    let proxy = registry.get("proxy").await.unwrap().unwrap();
    let other = registry.get("other").await.unwrap().unwrap();
    let r1 = family(&grants, &registry).await;
    let Refreshed::Rotated(rotation) =
        grants.rotate_refresh_with_grace(&r1, &proxy, |_| Ok(())).await.unwrap()
    else {
        panic!("the first refresh rotates");
    };
    let answer = serde_json::json!({"refresh_token": rotation.refresh_token, "access_token": "at-2"});
    grants.remember_rotation(&r1, &answer).await.unwrap();

    // A retry within the window: the same answer, the family intact.
    clock.advance(Duration::from_secs(5));
    match grants.rotate_refresh_with_grace(&r1, &proxy, |_| Ok(())).await.unwrap() {
        Refreshed::Replayed(replayed) => assert_eq!(replayed, answer),
        Refreshed::Rotated(_) => panic!("a retry must not rotate again"),
        _ => unreachable!(),
    }
    // Another client never gets it.
    let foreign = grants.rotate_refresh_with_grace(&r1, &other, |_| Ok(())).await.unwrap_err();
    assert_eq!(code_of(&foreign), "invalid_grant");
    // The new token still works; rotating it makes r1 two generations old: reuse.
    let Refreshed::Rotated(next) =
        grants.rotate_refresh_with_grace(&rotation.refresh_token, &proxy, |_| Ok(())).await.unwrap()
    else {
        panic!("the new token rotates");
    };
    let error = grants.rotate_refresh_with_grace(&r1, &proxy, |_| Ok(())).await.unwrap_err();
    assert_eq!(code_of(&error), "invalid_grant");
    assert!(grants.rotate_refresh(&next.refresh_token, &proxy, |_| Ok(())).await.is_err(), "family revoked");

    // Past the window, presenting the just-rotated token revokes the family.
    let r1 = family(&grants, &registry).await;
    let Refreshed::Rotated(rotation) =
        grants.rotate_refresh_with_grace(&r1, &proxy, |_| Ok(())).await.unwrap()
    else {
        panic!("rotates");
    };
    grants.remember_rotation(&r1, &answer).await.unwrap();
    clock.advance(Duration::from_secs(11));
    assert!(grants.rotate_refresh_with_grace(&r1, &proxy, |_| Ok(())).await.is_err());
    assert!(
        grants.rotate_refresh(&rotation.refresh_token, &proxy, |_| Ok(())).await.is_err(),
        "family revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_within_the_grace_window_all_get_the_winners_answer() {
    let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
    let registry = registry(Arc::clone(&store));
    let grants: GrantStore<()> =
        GrantStore::new(Arc::clone(&store), "t", hasher()).with_refresh_grace(Duration::from_secs(30));
    let token = family(&grants, &registry).await;
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (grants, registry, token, barrier) =
            (grants.clone(), registry.clone(), token.clone(), Arc::clone(&barrier));
        tasks.spawn(async move {
            let client = registry.get("proxy").await.unwrap().unwrap();
            barrier.wait().await;
            match grants.rotate_refresh_with_grace(&token, &client, |_| Ok(())).await.unwrap() {
                Refreshed::Rotated(rotation) => {
                    let answer = serde_json::json!({"refresh_token": rotation.refresh_token});
                    grants.remember_rotation(&token, &answer).await.unwrap();
                    (true, answer)
                }
                Refreshed::Replayed(answer) => (false, answer),
                _ => unreachable!(),
            }
        });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|(won, _)| *won).count(), 1, "one rotation");
    assert!(results.iter().all(|(_, answer)| *answer == results[0].1), "every caller got the same pair");
    let client = registry.get("proxy").await.unwrap().unwrap();
    let new = results[0].1["refresh_token"].as_str().unwrap();
    assert!(grants.rotate_refresh(new, &client, |_| Ok(())).await.is_ok(), "the family lives on");
}

/// `instances` grant stores (one per simulated server instance) race `callers` refreshes of one token.
async fn race(instances: Vec<(GrantStore<()>, ClientRegistry)>, callers: usize) {
    let (grants, registry) = &instances[0];
    let token = family(grants, registry).await;
    let barrier = Arc::new(Barrier::new(callers));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..callers {
        let (grants, registry) = instances[i % instances.len()].clone();
        let (token, barrier) = (token.clone(), Arc::clone(&barrier));
        tasks.spawn(async move {
            let client = registry.get("proxy").await.unwrap().unwrap();
            barrier.wait().await;
            grants.rotate_refresh(&token, &client, |_| Ok(())).await.map(|r| r.refresh_token)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one refresh may win: {results:?}");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(code_of(loser), "invalid_grant");
    }
    // The losers were reuse: the whole family, the winner's new token included, is revoked.
    let client = registry.get("proxy").await.unwrap().unwrap();
    assert!(grants.rotate_refresh(winners[0], &client, |_| Ok(())).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_on_one_instance_have_one_winner() {
    for _ in 0..10 {
        let store: Arc<dyn KvStorage> = Arc::new(MemoryStore::new());
        let instance = (GrantStore::new(Arc::clone(&store), "t", hasher()), registry(store));
        race(vec![instance], 16).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_across_two_redis_instances_have_one_winner() {
    let url = std::env::var("MCP_AUTH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("mcp-auth-test:grants:{}:{}", std::process::id(), rand_suffix());
    let connect = || async {
        let store = RedisStore::builder(&url).prefix(&prefix).connect().await.unwrap_or_else(|e| {
            panic!(
                "no Redis at {url} ({e}); start one with `redis-server --port 6379 --save '' --daemonize yes`"
            )
        });
        Arc::new(store) as Arc<dyn KvStorage>
    };
    for _ in 0..5 {
        // Two independent connections to one Redis: two server instances sharing their state.
        let (a, b) = (connect().await, connect().await);
        // Short lifetimes, so nothing this test writes to the shared Redis outlives it by much.
        let grants = |store: &Arc<dyn KvStorage>| {
            GrantStore::new(Arc::clone(store), "t", hasher())
                .with_refresh_ttl(Duration::from_secs(120))
                .with_access_ttl(Duration::from_secs(60))
        };
        let instances = vec![(grants(&a), registry(a)), (grants(&b), registry(b))];
        race(instances, 16).await;
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
