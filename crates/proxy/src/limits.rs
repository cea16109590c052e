//! [`SourceLimiter`]: requests counted per source in a fixed window, in memory, bounded.
//! It is a ceiling per source, high enough for hosted clients that share egress addresses; the kit's
//! hourly ceiling (shared by every instance through the store) bounds the total of registrations.
//!
//! A source is an IPv4 address or an IPv6 `/64` prefix: one subscriber usually gets a whole `/64`
//! (RFC 6177), so counting each IPv6 address apart would give one attacker 2^64 sources. An
//! IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, as a dual-stack socket reports IPv4 peers) counts as
//! its IPv4 address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most sources tracked at once.
const MAX_SOURCES: usize = 65_536;

/// The key a source is counted under: the IPv4 address, or the IPv6 address with its last 64 bits
/// cleared.
fn source_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[derive(Debug)]
pub(crate) struct SourceLimiter {
    max: u32,
    window: Duration,
    capacity: usize,
    seen: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    windows: HashMap<IpAddr, (Instant, u32)>,
    /// When the oldest tracked window started (so a full table is swept only once one has ended).
    oldest: Option<Instant>,
}

impl SourceLimiter {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self::with_capacity(max, window, MAX_SOURCES)
    }

    fn with_capacity(max: u32, window: Duration, capacity: usize) -> Self {
        Self { max, window, capacity, seen: Mutex::new(Table::default()) }
    }

    /// Counts one request from `source` (an IPv4 address or an IPv6 `/64`); `Err(seconds to wait)`
    /// past the ceiling, or when the table is full and `source` is not in it.
    ///
    /// A full table (as many sources as [`MAX_SOURCES`] with windows still running) refuses sources it
    /// does not know until a window ends, rather than forgetting some: forgetting the oldest, or
    /// everyone, would let an attacker with enough addresses reset the count of a source that is
    /// over its ceiling, and the attacker's own. Refusing newcomers only while so many sources are
    /// active is the lesser harm, and it lasts at most one window.
    pub(crate) fn check(&self, source: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let source = source_key(source);
        let mut table = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if table.windows.len() >= self.capacity && !table.windows.contains_key(&source) {
            let window = self.window;
            if table.oldest.is_none_or(|oldest| now.duration_since(oldest) >= window) {
                table.windows.retain(|_, (started, _)| now.duration_since(*started) < window);
                table.oldest = table.windows.values().map(|(started, _)| *started).min();
            }
            if table.windows.len() >= self.capacity {
                let oldest = table.oldest.unwrap_or(now);
                let left = window.saturating_sub(now.duration_since(oldest));
                return Err(left.as_secs().max(1));
            }
        }
        let entry = table.windows.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        if table.oldest.is_none() {
            table.oldest = Some(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_past_its_ceiling_waits_for_the_window_others_do_not() {
        let limiter = SourceLimiter::new(3, Duration::from_secs(600));
        let a = ip("203.0.113.7");
        let b = ip("203.0.113.8");
        for _ in 0..3 {
            limiter.check(a).unwrap();
        }
        let wait = limiter.check(a).unwrap_err();
        assert!((1..=600).contains(&wait));
        limiter.check(b).unwrap();
    }

    #[test]
    fn the_window_resets() {
        let limiter = SourceLimiter::new(1, Duration::from_millis(20));
        let a = ip("::1");
        limiter.check(a).unwrap();
        assert!(limiter.check(a).is_err());
        std::thread::sleep(Duration::from_millis(30));
        limiter.check(a).unwrap();
    }

    #[test]
    fn an_ipv6_64_is_one_source() {
        let limiter = SourceLimiter::new(2, Duration::from_secs(600));
        limiter.check(ip("2001:db8:1:2::1")).unwrap();
        limiter.check(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).unwrap();
        assert!(limiter.check(ip("2001:db8:1:2:abcd::9")).is_err(), "another address in the same /64");
        limiter.check(ip("2001:db8:1:3::1")).unwrap();
        assert_eq!(source_key(ip("2001:db8:1:2:abcd::9")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_address() {
        let limiter = SourceLimiter::new(1, Duration::from_secs(600));
        limiter.check(ip("198.51.100.4")).unwrap();
        assert!(limiter.check(ip("::ffff:198.51.100.4")).is_err());
        limiter.check(ip("::ffff:198.51.100.5")).unwrap();
        assert_eq!(source_key(ip("::ffff:198.51.100.4")), ip("198.51.100.4"));
    }

    #[test]
    fn a_full_table_refuses_newcomers_and_keeps_every_count() {
        let limiter = SourceLimiter::with_capacity(1, Duration::from_secs(600), 3);
        let throttled = ip("203.0.113.1");
        limiter.check(throttled).unwrap();
        assert!(limiter.check(throttled).is_err());
        limiter.check(ip("203.0.113.2")).unwrap();
        limiter.check(ip("2001:db8::1")).unwrap();
        // Full: a new source waits, and nobody's count was forgotten to make room.
        let wait = limiter.check(ip("203.0.113.9")).unwrap_err();
        assert!((1..=600).contains(&wait));
        assert!(limiter.check(throttled).is_err(), "the throttled source stays throttled");
        assert!(limiter.check(ip("2001:db8::2")).is_err(), "a known /64 keeps its count too");
    }

    #[test]
    fn a_full_table_makes_room_once_a_window_ends() {
        let limiter = SourceLimiter::with_capacity(1, Duration::from_millis(20), 2);
        limiter.check(ip("203.0.113.1")).unwrap();
        limiter.check(ip("203.0.113.2")).unwrap();
        assert!(limiter.check(ip("203.0.113.3")).is_err());
        std::thread::sleep(Duration::from_millis(30));
        limiter.check(ip("203.0.113.3")).unwrap();
    }
}
