//! [`Breaker`]: a circuit breaker with exponential back-off, and [`TokenBucket`]: a rate limit. Both
//! read time from the caller (the injectable clock), so tests move time instead of sleeping.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// Stops calls to an upstream that is failing, for a back-off that doubles with each failure in a row.
///
/// - **Closed** (healthy): every call is let through.
/// - **Open** (after a failure): no call is let through until the back-off has passed; callers are told
///   how long remains.
/// - **Half-open** (the back-off has passed): the first caller is let through as a probe, and the
///   breaker re-arms for the base back-off so the others keep waiting for the probe's answer (a probe
///   that never reports back, because its request was dropped, only delays the next probe). A success
///   closes the breaker; a failure opens it for twice as long as before, up to the maximum.
///
/// An upstream's own `Retry-After` lengthens a back-off (up to the maximum), never shortens it.
pub(crate) struct Breaker {
    base: Duration,
    max: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    open_until: Option<SystemTime>,
    failures: u32,
    /// A probe was let through (half-open) and has not reported back.
    probing: bool,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Breaker")
            .field("base", &self.base)
            .field("max", &self.max)
            .field("failures", &state.failures)
            .finish()
    }
}

impl Breaker {
    /// A closed breaker whose back-off starts at `base` and doubles up to `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, state: Mutex::new(BreakerState::default()) }
    }

    /// `Ok` when a call may go upstream at `now`, or how long the caller should wait.
    pub(crate) fn admit(&self, now: SystemTime) -> Result<(), Duration> {
        let mut state = lock(&self.state);
        match state.open_until {
            None => Ok(()),
            Some(until) if now < until => Err(until.duration_since(now).unwrap_or_default()),
            Some(_) => {
                state.open_until = Some(later(now, self.base));
                state.probing = true;
                Ok(())
            }
        }
    }

    /// The upstream answered: close the breaker.
    pub(crate) fn succeeded(&self) {
        *lock(&self.state) = BreakerState::default();
    }

    /// The upstream failed at `now` (asking, when `retry_after` is given, to wait that long): opens the
    /// breaker and returns the back-off.
    ///
    /// Failures of calls that were already in flight when the breaker opened belong to the same outage:
    /// they do not double the back-off again (32 timeouts of one stall are one failure, not 32). Only the
    /// first failure while closed and a failed probe count.
    pub(crate) fn failed(&self, now: SystemTime, retry_after: Option<Duration>) -> Duration {
        let mut state = lock(&self.state);
        let same_outage = !state.probing && state.open_until.is_some_and(|until| until > now);
        if !same_outage {
            state.failures = state.failures.saturating_add(1);
        }
        state.probing = false;
        let doublings = state.failures.saturating_sub(1).min(31);
        let exponential = self.base.saturating_mul(1 << doublings).min(self.max);
        let backoff = retry_after.map_or(exponential, |asked| asked.min(self.max).max(exponential));
        let until = later(now, backoff);
        let until = match state.open_until {
            Some(current) if same_outage => current.max(until),
            _ => until,
        };
        state.open_until = Some(until);
        until.duration_since(now).unwrap_or(backoff)
    }
}

/// A token bucket: `burst` calls at once, then `per_second` calls a second on average.
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Option<SystemTime>,
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucket")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish()
    }
}

impl TokenBucket {
    /// A full bucket. Both figures are at least 1 (the builders check).
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        let (per_second, burst) = (f64::from(per_second.max(1)), f64::from(burst.max(1)));
        Self { per_second, burst, state: Mutex::new(BucketState { tokens: burst, last: None }) }
    }

    /// Takes one token at `now`, or says how long until one is back.
    pub(crate) fn take(&self, now: SystemTime) -> Result<(), Duration> {
        let mut state = lock(&self.state);
        if let Some(last) = state.last {
            // A clock that went back refills nothing.
            let elapsed = now.duration_since(last).unwrap_or_default().as_secs_f64();
            state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst);
        }
        if state.last.is_none_or(|last| now > last) {
            state.last = Some(now);
        }
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - state.tokens) / self.per_second))
        }
    }
}

/// `now + duration`, saturating far in the future instead of overflowing (a TTL or back-off configured
/// near `Duration::MAX` must not panic).
pub(crate) fn later(now: SystemTime, duration: Duration) -> SystemTime {
    now.checked_add(duration).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// `duration` rounded up to whole seconds, at least one: the form of a `Retry-After` header.
pub(crate) fn whole_seconds(duration: Duration) -> Duration {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    Duration::from_secs(seconds.max(1))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both states are consistent after every statement: keep serving after a panic elsewhere.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_breaker_doubles_its_back_off_probes_once_and_closes_on_success() {
        let breaker = Breaker::new(S, 4 * S);
        assert_eq!(breaker.admit(at(0)), Ok(()));
        assert_eq!(breaker.failed(at(0), None), S);
        assert_eq!(breaker.admit(at(0)), Err(S));
        assert_eq!(breaker.admit(at(1)), Ok(()), "the probe");
        assert_eq!(breaker.admit(at(1)), Err(S), "the others wait for the probe");
        assert_eq!(breaker.failed(at(1), None), 2 * S);
        assert_eq!(breaker.admit(at(2)), Err(S));
        assert_eq!(breaker.admit(at(3)), Ok(()));
        assert_eq!(breaker.failed(at(3), None), 4 * S);
        assert_eq!(breaker.admit(at(7)), Ok(()));
        assert_eq!(breaker.failed(at(7), None), 4 * S, "capped");
        assert_eq!(breaker.admit(at(11)), Ok(()));
        breaker.succeeded();
        assert_eq!(breaker.admit(at(11)), Ok(()));
        assert_eq!(breaker.admit(at(11)), Ok(()), "closed: everyone goes");
        assert_eq!(breaker.failed(at(11), None), S, "the doubling starts over");
    }

    /// Review finding: 32 lookups in flight when WorkOS stalled each reported a failure and each doubled
    /// the back-off, so one short blip opened the breaker for the maximum.
    #[test]
    fn failures_of_calls_already_in_flight_count_as_one_outage() {
        let breaker = Breaker::new(S, 30 * S);
        for _ in 0..32 {
            assert_eq!(breaker.failed(at(0), None), S, "one outage, one failure");
        }
        assert_eq!(breaker.admit(at(1)), Ok(()), "the probe");
        assert_eq!(breaker.failed(at(1), None), 2 * S, "a failed probe doubles");
        assert_eq!(breaker.failed(at(2), Some(5 * S)), 5 * S, "a Retry-After still lengthens it");
    }

    #[test]
    fn far_future_times_saturate_instead_of_panicking() {
        let breaker = Breaker::new(S, Duration::MAX);
        assert!(breaker.failed(at(0), Some(Duration::MAX)) > 365 * 24 * 3600 * S);
        assert!(later(at(0), Duration::MAX) > at(0));
    }

    #[test]
    fn retry_after_lengthens_the_back_off_up_to_the_maximum() {
        let breaker = Breaker::new(S, 60 * S);
        assert_eq!(breaker.failed(at(0), Some(7 * S)), 7 * S);
        assert_eq!(breaker.admit(at(6)), Err(S));
        assert_eq!(Breaker::new(S, 60 * S).failed(at(0), Some(3600 * S)), 60 * S);
        let doubled = Breaker::new(S, 60 * S);
        doubled.failed(at(0), None);
        doubled.failed(at(1), None);
        assert_eq!(doubled.failed(at(3), Some(S)), 4 * S, "never shortened");
    }

    #[test]
    fn the_bucket_allows_its_burst_then_its_rate() {
        let bucket = TokenBucket::new(5, 10);
        for _ in 0..10 {
            assert_eq!(bucket.take(at(0)), Ok(()));
        }
        let wait = bucket.take(at(0)).unwrap_err();
        assert_eq!(wait, Duration::from_millis(200));
        assert_eq!(whole_seconds(wait), S);
        for _ in 0..5 {
            assert_eq!(bucket.take(at(1)), Ok(()));
        }
        assert!(bucket.take(at(1)).is_err());
        assert!(bucket.take(at(0)).is_err(), "a clock going back refills nothing");
        for _ in 0..10 {
            assert_eq!(bucket.take(at(100)), Ok(()));
        }
        assert!(bucket.take(at(100)).is_err(), "never more than the burst");
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::ZERO), S);
        assert_eq!(whole_seconds(Duration::from_millis(1_001)), 2 * S);
        assert_eq!(whole_seconds(7 * S), 7 * S);
    }
}
