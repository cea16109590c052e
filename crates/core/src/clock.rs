//! An injectable source of the current time.
//!
//! Everything in mcp-auth that compares against "now" (token expiry, store TTLs, cache lifetimes) asks a
//! [`Clock`], so tests can move time forward instead of sleeping.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::clock::{Clock, SystemClock};
///
/// let now = SystemClock.now();
/// assert!(now > std::time::UNIX_EPOCH);
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time as whole seconds since the Unix epoch (0 for times before it).
    fn unix_seconds(&self) -> u64 {
        unix_seconds(self.now())
    }
}

/// `time` as whole seconds since the Unix epoch (0 for times before it).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use mcp_auth_core::clock::unix_seconds;
///
/// assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(90_500)), 90);
/// assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0);
/// ```
#[must_use]
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The real clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to: for tests of expiry, TTLs and key rotation.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.unix_seconds(), 1_700_000_060);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        Self { now: Arc::new(Mutex::new(now)) }
    }

    /// A clock stopped at `seconds` after the Unix epoch.
    #[must_use]
    pub fn at_unix(seconds: u64) -> Self {
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// A clock stopped at the machine's current time.
    #[must_use]
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A shared clock handle, as held by verifiers, stores and caches.
pub type SharedClock = Arc<dyn Clock>;

/// The default shared clock: [`SystemClock`].
#[must_use]
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}
