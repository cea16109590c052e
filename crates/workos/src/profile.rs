//! Filling in the profile (email, name, picture) that AuthKit's access tokens do not carry.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::clock::SharedClock;
use mcp_auth_core::fingerprint::{FingerprintCache, RandomnessUnavailable, TokenFingerprint};
use mcp_auth_core::{AccessToken, TokenInfo, TokenVerifier, VerifyError, async_trait};
use serde_json::Value;

use crate::userinfo::WorkOSTokenVerifier;

/// The userinfo fields copied into a token's claims when the token lacks them.
const PROFILE_CLAIMS: [&str; 7] =
    ["email", "email_verified", "name", "given_name", "family_name", "picture", "preferred_username"];

/// Shards of the merged-profile table, as many as the verified-token cache has.
const SHARDS: usize = 16;

/// Wraps a verifier: after it accepts a token, the profile claims AuthKit's access tokens leave out are
/// read from userinfo (cached by token hash) and added, so [`AuthUser`](mcp_auth_core::AuthUser) has an
/// email and a name. Only an answer about the same subject is used. The profile is best-effort: when
/// userinfo cannot be reached the token is still accepted, without the profile. The userinfo verifier's
/// back-off is the circuit breaker: after a failure (including a timeout, which `AuthKitProvider` keeps
/// short) no lookup is tried until it has passed, so during an outage requests do not each wait out the
/// timeout.
///
/// The merged token info is remembered for as long as the userinfo answer is (and never past the token's
/// expiry), tied to the very [`TokenInfo`] the inner verifier returned: when the inner verifier answers
/// from its verified-token cache (the same shared info), the merged info is handed out as it is, with no
/// userinfo lookup and no copy. Anything else (the inner cache off, or its entry replaced after a key
/// rotation) goes through userinfo again.
#[derive(Debug)]
pub(crate) struct WithUserinfoProfile {
    inner: Arc<dyn TokenVerifier>,
    userinfo: WorkOSTokenVerifier,
    merged: FingerprintCache<MergedProfile>,
    clock: SharedClock,
    ttl: Duration,
}

/// The info the inner verifier returned for a token, and the same info with the profile claims added.
#[derive(Debug)]
struct MergedProfile {
    source: Arc<TokenInfo>,
    merged: Arc<TokenInfo>,
}

impl WithUserinfoProfile {
    /// Adds `userinfo`'s profile to what `inner` accepts, remembering up to `max_entries` merged
    /// profiles (0 remembers none: right when `inner` keeps no verified-token cache) for as long as
    /// `userinfo` keeps an answer, by its clock.
    pub(crate) fn new(
        inner: Arc<dyn TokenVerifier>,
        userinfo: WorkOSTokenVerifier,
        max_entries: usize,
    ) -> Result<Self, RandomnessUnavailable> {
        let (clock, ttl) = (userinfo.clock(), userinfo.positive_ttl());
        Ok(Self { inner, userinfo, merged: FingerprintCache::new(max_entries, SHARDS)?, clock, ttl })
    }

    /// The merged-profile table's key for the info the inner verifier returned: its address. An entry
    /// holds that info, so while it lives no other info can have that address, and a hit is checked
    /// with [`Arc::ptr_eq`] all the same. Hashing the 16 hex digits of an address costs a tenth of
    /// fingerprinting the token again.
    /// `access` with the profile merged in, if that merge is remembered for its very info; else `access`
    /// back as it came.
    fn known_merge(&self, access: AccessToken) -> Result<AccessToken, AccessToken> {
        if self.merged.capacity() == 0 {
            return Err(access);
        }
        match self.merged.get(&self.info_key(access.info()), self.clock.now(), 0) {
            Some(known) if Arc::ptr_eq(&known.source, access.info()) => {
                Ok(AccessToken::from_info(access.token, Arc::clone(&known.merged)))
            }
            _ => Err(access),
        }
    }

    fn info_key(&self, info: &Arc<TokenInfo>) -> TokenFingerprint {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let address = Arc::as_ptr(info).addr();
        let mut digits = [b'0'; 16];
        for (place, digit) in digits.iter_mut().rev().enumerate() {
            *digit = HEX[(address >> (4 * place)) & 0xf];
        }
        self.merged.fingerprint(std::str::from_utf8(&digits).unwrap_or_default())
    }
}

#[async_trait]
impl TokenVerifier for WithUserinfoProfile {
    async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let access = self.inner.verify(token).await?;
        let mut access = match self.known_merge(access) {
            Ok(merged) => return Ok(merged),
            Err(access) => access,
        };
        let now = self.clock.now();
        match self.userinfo.verify(token).await {
            Ok(profile) if profile.subject.is_some() && profile.subject == access.subject => {
                // The inner verifier's info is held as the memo's key only when there is a memo: held, it
                // is shared, and the merge below copies the token's info instead of changing it in place.
                let source = (self.merged.capacity() > 0).then(|| Arc::clone(access.info()));
                for name in PROFILE_CLAIMS {
                    if let Some(value) = profile.claims.get(name).filter(|value| !value.is_null())
                        && !access.claims.contains_key(name)
                    {
                        Arc::make_mut(&mut access.claims).insert(name.to_owned(), Value::clone(value));
                    }
                }
                let mut until = now + self.ttl;
                if let Some(expires_at) = access.expires_at {
                    until = until.min(expires_at);
                }
                if let Some(source) = source
                    && until > now
                {
                    let key = self.info_key(&source);
                    let merged = MergedProfile { source, merged: Arc::clone(access.info()) };
                    self.merged.insert(key, merged, until, 0);
                }
            }
            Ok(_) => tracing::warn!("userinfo answered for another subject; profile not added"),
            // The verifier logs an outage once per back-off; each request going on without is routine.
            Err(err) if err.is_unavailable() => {
                tracing::debug!(error = %err, "userinfo profile unavailable; continuing without it");
            }
            Err(err) => {
                tracing::info!(error = %err, "userinfo refused a valid token; continuing without the profile");
            }
        }
        Ok(access)
    }

    /// At once when the inner verifier answers at once and the merged info is known. Otherwise `None`,
    /// and `verify` asks the inner verifier again: its cache then counts that token's hit twice, once per
    /// userinfo answer's lifetime at most.
    fn verify_now(&self, token: &str) -> Option<Result<AccessToken, VerifyError>> {
        match self.inner.verify_now(token)? {
            Ok(access) => self.known_merge(access).ok().map(Ok),
            Err(refused) => Some(Err(refused)),
        }
    }

    fn required_scopes(&self) -> &[String] {
        self.inner.required_scopes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use mcp_auth_core::StaticTokenVerifier;
    use serde_json::json;

    use super::*;

    /// A userinfo endpoint (standing in for WorkOS) that answers by token.
    async fn userinfo_server() -> (String, tokio::task::JoinHandle<()>) {
        let app = Router::new().route(
            "/oauth2/userinfo",
            get(|headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
                match auth {
                    "Bearer mine" => {
                        axum::Json(json!({"sub": "u1", "email": "u1@example.com", "name": "U One"}))
                    }
                    _ => axum::Json(json!({"sub": "someone-else", "email": "evil@example.com"})),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (url, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
    }

    fn wrapper(domain: &str) -> WithUserinfoProfile {
        let inner = StaticTokenVerifier::new()
            .with_token("mine", AccessToken::new("mine").with_subject("u1"))
            .with_token(
                "theirs",
                AccessToken::new("theirs")
                    .with_subject("u2")
                    .with_claims(json!({"name": "Kept"}).as_object().cloned().unwrap()),
            );
        let userinfo = WorkOSTokenVerifier::builder().authkit_domain(domain).build().unwrap();
        WithUserinfoProfile::new(Arc::new(inner), userinfo, 100).unwrap()
    }

    #[tokio::test]
    async fn profile_of_the_same_subject_is_added() {
        let (url, server) = userinfo_server().await;
        let user = wrapper(&url).verify("mine").await.unwrap().user().unwrap();
        assert_eq!(user.email.as_deref(), Some("u1@example.com"));
        assert_eq!(user.name.as_deref(), Some("U One"));
        server.abort();
    }

    #[tokio::test]
    async fn profile_of_another_subject_is_ignored() {
        let (url, server) = userinfo_server().await;
        let user = wrapper(&url).verify("theirs").await.unwrap().user().unwrap();
        assert_eq!(user.email, None);
        assert_eq!(user.name.as_deref(), Some("Kept"));
        server.abort();
    }

    /// A userinfo endpoint in an outage: it answers `status` (or, for `None`, never answers) and counts
    /// the requests it gets.
    async fn failing_userinfo(
        status: Option<StatusCode>,
    ) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let app = Router::new().route(
            "/oauth2/userinfo",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    match status {
                        Some(status) => status,
                        None => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (url, calls, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
    }

    #[tokio::test]
    async fn profile_lookup_failures_open_a_circuit_breaker_and_requests_proceed_without_the_profile() {
        for status in [Some(StatusCode::SERVICE_UNAVAILABLE), None] {
            let (url, calls, server) = failing_userinfo(status).await;
            let wrapper = WithUserinfoProfile::new(
                Arc::new(
                    StaticTokenVerifier::new()
                        .with_token("mine", AccessToken::new("mine").with_subject("u1")),
                ),
                WorkOSTokenVerifier::builder()
                    .authkit_domain(&url)
                    .timeout(Duration::from_millis(200))
                    .build()
                    .unwrap(),
                100,
            )
            .unwrap();
            for _ in 0..5 {
                let access = wrapper.verify("mine").await.unwrap();
                assert_eq!(access.subject.as_deref(), Some("u1"), "{status:?}");
                assert!(access.claims.get("email").is_none());
            }
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{status:?}: the outage is remembered");
            server.abort();
        }
    }

    #[tokio::test]
    async fn unreachable_userinfo_keeps_the_token_valid() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let access = wrapper(&url).verify("mine").await.unwrap();
        assert_eq!(access.subject.as_deref(), Some("u1"));
        assert!(access.claims.get("email").is_none());
        assert!(wrapper(&url).verify("unknown").await.is_err(), "the inner verifier still decides");
    }

    /// A verifier that answers every token with freshly built claims, as one without a cache does.
    #[derive(Debug)]
    struct Uncached;

    #[async_trait]
    impl TokenVerifier for Uncached {
        async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
            Ok(AccessToken::new(token).with_subject("u1").with_claims(serde_json::Map::new()))
        }
    }

    #[tokio::test]
    async fn the_merged_profile_is_reused_while_the_inner_verifier_returns_the_same_claims() {
        let (url, server) = userinfo_server().await;
        let wrapper = wrapper(&url);
        let first = wrapper.verify("mine").await.unwrap();
        let second = wrapper.verify("mine").await.unwrap();
        assert_eq!(second.claims.get("email"), Some(&json!("u1@example.com")));
        assert!(Arc::ptr_eq(&first.claims, &second.claims), "the second answer shares the merged claims");
        server.abort();
    }

    #[tokio::test]
    async fn verify_now_answers_once_the_merged_profile_is_known() {
        let (url, server) = userinfo_server().await;
        let wrapper = wrapper(&url);
        assert!(wrapper.verify_now("mine").is_none(), "the profile must be fetched first");
        assert!(
            matches!(wrapper.verify_now("unknown"), Some(Err(VerifyError::Invalid { .. }))),
            "the inner verifier's refusal is passed on at once"
        );
        let verified = wrapper.verify("mine").await.unwrap();
        let now = wrapper.verify_now("mine").expect("the merged profile is known").unwrap();
        assert!(Arc::ptr_eq(verified.info(), now.info()), "the very merged info");
        assert_eq!(now.claims.get("email"), Some(&json!("u1@example.com")));
        assert_eq!(now.expose_token(), "mine");
        server.abort();
    }

    #[tokio::test]
    async fn other_claims_from_the_inner_verifier_are_merged_afresh() {
        let (url, server) = userinfo_server().await;
        let userinfo = WorkOSTokenVerifier::builder().authkit_domain(&url).build().unwrap();
        let wrapper = WithUserinfoProfile::new(Arc::new(Uncached), userinfo, 100).unwrap();
        let first = wrapper.verify("mine").await.unwrap();
        let second = wrapper.verify("mine").await.unwrap();
        assert!(!Arc::ptr_eq(&first.claims, &second.claims), "new inner claims are never swapped out");
        assert_eq!(second.claims.get("name"), Some(&json!("U One")), "and still get the profile");
        server.abort();
    }

    #[tokio::test]
    async fn a_merged_profile_is_not_kept_past_the_token_expiry() {
        let (url, server) = userinfo_server().await;
        use mcp_auth_core::clock::{Clock, ManualClock};
        let clock = Arc::new(ManualClock::starting_now());
        let expires_at = clock.now() + Duration::from_secs(10);
        let inner = StaticTokenVerifier::new()
            .with_token("mine", AccessToken::new("mine").with_subject("u1").with_expires_at(expires_at));
        let userinfo =
            WorkOSTokenVerifier::builder().authkit_domain(&url).clock(clock.clone()).build().unwrap();
        let wrapper = WithUserinfoProfile::new(Arc::new(inner), userinfo, 100).unwrap();
        let first = wrapper.verify("mine").await.unwrap();
        assert!(Arc::ptr_eq(&first.claims, &wrapper.verify("mine").await.unwrap().claims));
        clock.advance(Duration::from_secs(10));
        let later = wrapper.verify("mine").await.unwrap();
        assert!(!Arc::ptr_eq(&first.claims, &later.claims), "merged again once the token's expiry passed");
        assert_eq!(later.claims.get("email"), Some(&json!("u1@example.com")));
        server.abort();
    }

    #[tokio::test]
    async fn no_merged_profiles_are_remembered_with_zero_entries() {
        let (url, server) = userinfo_server().await;
        let inner =
            StaticTokenVerifier::new().with_token("mine", AccessToken::new("mine").with_subject("u1"));
        let userinfo = WorkOSTokenVerifier::builder().authkit_domain(&url).build().unwrap();
        let wrapper = WithUserinfoProfile::new(Arc::new(inner), userinfo, 0).unwrap();
        let first = wrapper.verify("mine").await.unwrap();
        let second = wrapper.verify("mine").await.unwrap();
        assert!(!Arc::ptr_eq(&first.claims, &second.claims));
        assert_eq!(second.claims.get("email"), Some(&json!("u1@example.com")));
        server.abort();
    }
}
