//! The metrics every mcp-auth crate records, through the [`metrics`](https://docs.rs/metrics) facade:
//! the one list of names, labels and units, which `docs/observability.md` is checked against.
//!
//! Nothing is recorded anywhere until the application installs a recorder (for example
//! `metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()`); without one every call
//! here is a no-op. Call [`describe`] once after installing it, so the exporter knows each metric's
//! help text and unit.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | [`REQUESTS_TOTAL`] | counter | `outcome` ([`AuthOutcome`]) | requests judged by the bearer layer |
//! | [`VERIFY_DURATION_SECONDS`] | histogram, seconds | none | time the bearer layer's verifier took |
//! | [`TOKEN_CACHE_TOTAL`] | counter | `cache` ([`TokenCache`]), `result` ([`CacheResult`]) | verified-token cache lookups |
//! | [`UPSTREAM_REQUESTS_TOTAL`] | counter | `target` ([`UpstreamTarget`]), `outcome` ([`UpstreamOutcome`]) | outbound HTTP calls |
//! | [`UPSTREAM_DURATION_SECONDS`] | histogram, seconds | `target` | time each outbound call took |
//! | [`STORE_OPERATIONS_TOTAL`] | counter | `backend`, `operation` ([`StoreOperation`]), `outcome` ([`StoreOutcome`]) | store operations, through [`InstrumentedStore`](crate::store::InstrumentedStore) |
//! | [`STORE_DURATION_SECONDS`] | histogram, seconds | `backend`, `operation` | time each store operation took |
//! | [`FLOW_EVENTS_TOTAL`] | counter | `event` ([`FlowEvent`]), `outcome` ([`FlowOutcome`]) | the authorization server's flow steps |
//!
//! Every label takes its values from a short fixed list (the `backend` label: the name the application
//! gives its store, such as `memory`, `file` or `redis`), so the number of series stays bounded. No label
//! ever carries a token, a client id, a user id or a URL.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{Key, Label, Level, Metadata};

use crate::verifier::VerifyError;

/// The prefix every metric name starts with.
pub const PREFIX: &str = "mcp_auth_";

/// Counter: requests the bearer layer judged, by [`AuthOutcome`] (label `outcome`). Each request counts
/// once.
pub const REQUESTS_TOTAL: &str = "mcp_auth_requests_total";
/// Histogram, in seconds: how long the bearer layer's [`TokenVerifier`](crate::TokenVerifier) took to
/// answer, whatever it answered. Requests refused before verification (no token, malformed header) are
/// not timed.
pub const VERIFY_DURATION_SECONDS: &str = "mcp_auth_verify_duration_seconds";
/// Counter: lookups in a verified-token cache, by [`TokenCache`] (label `cache`) and [`CacheResult`]
/// (label `result`).
pub const TOKEN_CACHE_TOTAL: &str = "mcp_auth_token_cache_total";
/// Counter: outbound HTTP calls, by [`UpstreamTarget`] (label `target`) and [`UpstreamOutcome`] (label
/// `outcome`).
pub const UPSTREAM_REQUESTS_TOTAL: &str = "mcp_auth_upstream_requests_total";
/// Histogram, in seconds: how long each outbound HTTP call took, by [`UpstreamTarget`] (label `target`).
pub const UPSTREAM_DURATION_SECONDS: &str = "mcp_auth_upstream_duration_seconds";
/// Counter: store operations through an [`InstrumentedStore`](crate::store::InstrumentedStore), by
/// `backend`, [`StoreOperation`] (label `operation`) and [`StoreOutcome`] (label `outcome`).
pub const STORE_OPERATIONS_TOTAL: &str = "mcp_auth_store_operations_total";
/// Histogram, in seconds: how long each store operation took, by `backend` and `operation`.
pub const STORE_DURATION_SECONDS: &str = "mcp_auth_store_duration_seconds";
/// Counter: the authorization server's flow steps (registrations, authorizations, consents, token
/// grants, refreshes, reuse detections, revocations), by [`FlowEvent`] (label `event`) and
/// [`FlowOutcome`] (label `outcome`).
pub const FLOW_EVENTS_TOTAL: &str = "mcp_auth_flow_events_total";

/// Every metric name above.
pub const ALL: [&str; 8] = [
    REQUESTS_TOTAL,
    VERIFY_DURATION_SECONDS,
    TOKEN_CACHE_TOTAL,
    UPSTREAM_REQUESTS_TOTAL,
    UPSTREAM_DURATION_SECONDS,
    STORE_OPERATIONS_TOTAL,
    STORE_DURATION_SECONDS,
    FLOW_EVENTS_TOTAL,
];

/// The label keys.
pub mod label {
    /// How a request, call or operation ended.
    pub const OUTCOME: &str = "outcome";
    /// Which verified-token cache ([`TokenCache`](super::TokenCache)).
    pub const CACHE: &str = "cache";
    /// A cache lookup's result ([`CacheResult`](super::CacheResult)).
    pub const RESULT: &str = "result";
    /// Which outbound call ([`UpstreamTarget`](super::UpstreamTarget)).
    pub const TARGET: &str = "target";
    /// The store backend's name (`memory`, `file`, `redis`, or what the application named it).
    pub const BACKEND: &str = "backend";
    /// The store operation ([`StoreOperation`](super::StoreOperation)).
    pub const OPERATION: &str = "operation";
    /// The flow step ([`FlowEvent`](super::FlowEvent)).
    pub const EVENT: &str = "event";
}

/// Declares a label-value enum with its `as_str` and `ALL`.
macro_rules! label_values {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the documented order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The label value.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }
    };
}

label_values! {
    /// How the bearer layer judged a request: the `outcome` label of [`REQUESTS_TOTAL`].
    AuthOutcome {
        /// A valid token with the scopes needed: the request went on to the service.
        Accepted => "accepted",
        /// No bearer token (401 without an error code).
        Missing => "missing",
        /// A malformed request: two `Authorization` headers, an empty token (400), or an MCP body the
        /// per-operation scope check could not read (400, 413).
        Malformed => "malformed",
        /// An invalid token other than the two below: bad signature, unknown, revoked, oversized (401).
        Invalid => "invalid",
        /// An expired token (401), as the verifier said with [`VerifyError::expired`].
        Expired => "expired",
        /// A token for another audience (401), as the verifier said with [`VerifyError::wrong_audience`].
        WrongAudience => "wrong_audience",
        /// A valid token without a scope the resource or the MCP operation needs (403).
        InsufficientScope => "insufficient_scope",
        /// The verifier could not decide: key source or upstream unreachable (503).
        Unavailable => "unavailable",
    }
}

impl AuthOutcome {
    /// The outcome a verifier's error stands for.
    #[must_use]
    pub fn of(error: &VerifyError) -> Self {
        match error {
            VerifyError::Invalid { reason, .. } => match reason.as_ref() {
                VerifyError::EXPIRED => Self::Expired,
                VerifyError::WRONG_AUDIENCE | "token audience mismatch" => Self::WrongAudience,
                _ => Self::Invalid,
            },
            VerifyError::InsufficientScope { .. } => Self::InsufficientScope,
            VerifyError::Unavailable { .. } => Self::Unavailable,
        }
    }
}

label_values! {
    /// Which verified-token cache: the `cache` label of [`TOKEN_CACHE_TOTAL`].
    TokenCache {
        /// The JWT verifier's verified tokens (`mcp-auth-jwt`, `JwtVerifierBuilder::token_cache`).
        Jwt => "jwt",
        /// The WorkOS userinfo answers, valid and refused (`mcp-auth-workos`, `WorkOSTokenVerifier`).
        WorkosUserinfo => "workos_userinfo",
    }
}

label_values! {
    /// A cache lookup's result: the `result` label of [`TOKEN_CACHE_TOTAL`].
    CacheResult {
        /// The answer came from the cache (a cached refusal counts too).
        Hit => "hit",
        /// Not cached: the token is verified (or looked up) again.
        Miss => "miss",
    }
}

label_values! {
    /// Which outbound HTTP call: the `target` label of [`UPSTREAM_REQUESTS_TOTAL`] and
    /// [`UPSTREAM_DURATION_SECONDS`].
    UpstreamTarget {
        /// A JSON Web Key Set (`mcp-auth-jwt`).
        Jwks => "jwks",
        /// An authorization server's RFC 8414 / OpenID metadata, to find its `jwks_uri` (`mcp-auth-jwt`).
        AuthServerMetadata => "auth_server_metadata",
        /// The WorkOS userinfo endpoint, checking an opaque token (`mcp-auth-workos`).
        WorkosUserinfo => "workos_userinfo",
        /// The upstream's token endpoint, exchanging an authorization code (`mcp-auth-proxy`).
        UpstreamToken => "upstream_token",
        /// The upstream's token endpoint, refreshing its tokens (`mcp-auth-proxy`).
        UpstreamRefresh => "upstream_refresh",
        /// The upstream's revocation endpoint (`mcp-auth-proxy`).
        UpstreamRevoke => "upstream_revoke",
    }
}

label_values! {
    /// How an outbound call ended: the `outcome` label of [`UPSTREAM_REQUESTS_TOTAL`].
    UpstreamOutcome {
        /// A usable answer.
        Success => "success",
        /// A definite refusal (the token or grant was refused): retrying will not help.
        Rejected => "rejected",
        /// Unreachable, timed out, an error status, or an answer that could not be used.
        Failure => "failure",
    }
}

label_values! {
    /// A store operation: the `operation` label of [`STORE_OPERATIONS_TOTAL`] and
    /// [`STORE_DURATION_SECONDS`], one per [`KvStorage`](crate::KvStorage) method.
    StoreOperation {
        /// [`KvStorage::get`](crate::KvStorage::get).
        Get => "get",
        /// [`KvStorage::put`](crate::KvStorage::put).
        Put => "put",
        /// [`KvStorage::put_if_absent`](crate::KvStorage::put_if_absent).
        PutIfAbsent => "put_if_absent",
        /// [`KvStorage::compare_and_swap`](crate::KvStorage::compare_and_swap).
        CompareAndSwap => "compare_and_swap",
        /// [`KvStorage::delete`](crate::KvStorage::delete).
        Delete => "delete",
        /// [`KvStorage::take`](crate::KvStorage::take).
        Take => "take",
        /// [`KvStorage::remaining_ttl`](crate::KvStorage::remaining_ttl).
        RemainingTtl => "remaining_ttl",
        /// [`KvStorage::list_keys`](crate::KvStorage::list_keys).
        ListKeys => "list_keys",
    }
}

label_values! {
    /// How a store operation ended: the `outcome` label of [`STORE_OPERATIONS_TOTAL`].
    StoreOutcome {
        /// `Ok`, whatever it held (a missing entry is a success).
        Ok => "ok",
        /// [`StoreError::Unavailable`](crate::StoreError::Unavailable): the backend cannot be reached.
        Unavailable => "unavailable",
        /// Any other [`StoreError`](crate::StoreError): corrupt value, full store, invalid key...
        Error => "error",
    }
}

label_values! {
    /// A step of the OAuth flows: the `event` label of [`FLOW_EVENTS_TOTAL`].
    FlowEvent {
        /// A dynamic client registration (RFC 7591), in the authorization-server kit.
        Registration => "registration",
        /// An authorization request accepted or refused at `/authorize`, in the proxy.
        Authorization => "authorization",
        /// A consent answer (approve or deny) at the proxy's consent page.
        Consent => "consent",
        /// The upstream's answer at the proxy's callback (the person signed in, or did not).
        Callback => "callback",
        /// An authorization code redeemed at the token endpoint, in the kit.
        TokenGrant => "token_grant",
        /// A refresh-token rotation at the token endpoint, in the kit (a retry answered within the grace
        /// window counts as a success).
        Refresh => "refresh",
        /// A spent refresh token presented again: its whole family was revoked (counted beside the
        /// refused `refresh`).
        RefreshReuse => "refresh_reuse",
        /// An authorization code presented again: the tokens issued from it were revoked.
        CodeReuse => "code_reuse",
        /// A revocation request (RFC 7009), in the proxy.
        Revocation => "revocation",
    }
}

label_values! {
    /// How a flow step ended: the `outcome` label of [`FLOW_EVENTS_TOTAL`].
    FlowOutcome {
        /// Done (for a consent: approved; for a reuse detection: the family was revoked).
        Success => "success",
        /// Refused: the client's or person's request was wrong or denied (a 4xx answer).
        Refused => "refused",
        /// The server failed: store or upstream unavailable, internal error (a 5xx answer).
        Error => "error",
    }
}

/// What the `counter!` and `histogram!` macros would give the recorder for a metric recorded here.
static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The keys of a metric recorded on every request, built once: one per combination of its label values,
/// so recording it costs neither an allocation nor a hash (the `counter!` macro builds and hashes a key
/// on each call when its label values are not literals).
fn request_keys(name: &'static str, labels: &[&[(&'static str, &'static str)]]) -> Vec<Key> {
    labels
        .iter()
        .map(|pairs| {
            let labels =
                pairs.iter().map(|&(key, value)| Label::from_static_parts(key, value)).collect::<Vec<_>>();
            Key::from_parts(name, labels)
        })
        .collect()
}

/// Counts one request judged by the bearer layer.
pub fn record_auth(outcome: AuthOutcome) {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let labels =
            AuthOutcome::ALL.iter().map(|outcome| [(label::OUTCOME, outcome.as_str())]).collect::<Vec<_>>();
        request_keys(REQUESTS_TOTAL, &labels.iter().map(|pairs| &pairs[..]).collect::<Vec<_>>())
    });
    let key = &keys[outcome as usize];
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA)).increment(1);
}

/// Records how long the verifier took.
pub fn record_verify_duration(elapsed: Duration) {
    static KEY: Key = Key::from_static_name(VERIFY_DURATION_SECONDS);
    ::metrics::with_recorder(|recorder| recorder.register_histogram(&KEY, &METADATA))
        .record(elapsed.as_secs_f64());
}

/// Counts one lookup in a verified-token cache.
pub fn record_cache(cache: TokenCache, result: CacheResult) {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let labels = TokenCache::ALL
            .iter()
            .flat_map(|cache| {
                CacheResult::ALL
                    .iter()
                    .map(|result| [(label::CACHE, cache.as_str()), (label::RESULT, result.as_str())])
            })
            .collect::<Vec<_>>();
        request_keys(TOKEN_CACHE_TOTAL, &labels.iter().map(|pairs| &pairs[..]).collect::<Vec<_>>())
    });
    let key = &keys[cache as usize * CacheResult::ALL.len() + result as usize];
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA)).increment(1);
}

/// Counts one outbound call and records how long it took.
pub fn record_upstream(target: UpstreamTarget, outcome: UpstreamOutcome, elapsed: Duration) {
    ::metrics::counter!(
        UPSTREAM_REQUESTS_TOTAL,
        label::TARGET => target.as_str(),
        label::OUTCOME => outcome.as_str()
    )
    .increment(1);
    ::metrics::histogram!(UPSTREAM_DURATION_SECONDS, label::TARGET => target.as_str())
        .record(elapsed.as_secs_f64());
}

/// Counts one store operation and records how long it took.
pub fn record_store(
    backend: &'static str,
    operation: StoreOperation,
    outcome: StoreOutcome,
    elapsed: Duration,
) {
    ::metrics::counter!(
        STORE_OPERATIONS_TOTAL,
        label::BACKEND => backend,
        label::OPERATION => operation.as_str(),
        label::OUTCOME => outcome.as_str()
    )
    .increment(1);
    ::metrics::histogram!(
        STORE_DURATION_SECONDS,
        label::BACKEND => backend,
        label::OPERATION => operation.as_str()
    )
    .record(elapsed.as_secs_f64());
}

/// Counts one flow step.
pub fn record_flow(event: FlowEvent, outcome: FlowOutcome) {
    ::metrics::counter!(FLOW_EVENTS_TOTAL, label::EVENT => event.as_str(), label::OUTCOME => outcome.as_str())
        .increment(1);
}

/// Gives the installed recorder each metric's help text and unit (the `# HELP` lines of a Prometheus
/// page). Call it once, after installing the recorder; metrics recorded before still count.
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(REQUESTS_TOTAL, Unit::Count, "Requests judged by the bearer-auth layer, by outcome.");
    describe_histogram!(VERIFY_DURATION_SECONDS, Unit::Seconds, "Time the token verifier took.");
    describe_counter!(TOKEN_CACHE_TOTAL, Unit::Count, "Verified-token cache lookups, by cache and result.");
    describe_counter!(UPSTREAM_REQUESTS_TOTAL, Unit::Count, "Outbound HTTP calls, by target and outcome.");
    describe_histogram!(UPSTREAM_DURATION_SECONDS, Unit::Seconds, "Time each outbound HTTP call took.");
    describe_counter!(
        STORE_OPERATIONS_TOTAL,
        Unit::Count,
        "Key-value store operations, by backend, operation and outcome."
    );
    describe_histogram!(STORE_DURATION_SECONDS, Unit::Seconds, "Time each key-value store operation took.");
    describe_counter!(FLOW_EVENTS_TOTAL, Unit::Count, "OAuth flow steps, by event and outcome.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_the_prefix_and_are_distinct() {
        for name in ALL {
            assert!(name.starts_with(PREFIX), "{name}");
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        }
        let mut sorted = ALL.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL.len());
    }

    #[test]
    fn verifier_errors_map_to_outcomes() {
        assert_eq!(AuthOutcome::of(&VerifyError::expired()), AuthOutcome::Expired);
        assert_eq!(AuthOutcome::of(&VerifyError::wrong_audience()), AuthOutcome::WrongAudience);
        assert_eq!(
            AuthOutcome::of(&VerifyError::invalid("token audience mismatch")),
            AuthOutcome::WrongAudience
        );
        assert_eq!(AuthOutcome::of(&VerifyError::invalid("unknown token")), AuthOutcome::Invalid);
        assert_eq!(
            AuthOutcome::of(&VerifyError::InsufficientScope { required: vec!["a".into()] }),
            AuthOutcome::InsufficientScope
        );
        assert_eq!(AuthOutcome::of(&VerifyError::unavailable("down", "cause")), AuthOutcome::Unavailable);
    }
}
