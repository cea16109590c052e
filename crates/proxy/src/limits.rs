//! [`SourceLimiter`]: registrations counted per source address in a fixed window, in memory, bounded.
//! It is a ceiling per source, high enough for hosted clients that share egress addresses; the kit's
//! hourly ceiling (shared by every instance through the store) bounds the total.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most sources tracked at once; past it the oldest window is forgotten.
const MAX_SOURCES: usize = 65_536;

#[derive(Debug)]
pub(crate) struct SourceLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl SourceLimiter {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self { max, window, seen: Mutex::new(HashMap::new()) }
    }

    /// Counts one request from `source`; `Err(seconds until the window ends)` past the ceiling.
    pub(crate) fn check(&self, source: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_SOURCES && !seen.contains_key(&source) {
            let window = self.window;
            seen.retain(|_, (started, _)| now.duration_since(*started) < window);
            if seen.len() >= MAX_SOURCES {
                seen.clear();
            }
        }
        let entry = seen.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_past_its_ceiling_waits_for_the_window_others_do_not() {
        let limiter = SourceLimiter::new(3, Duration::from_secs(600));
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
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
        let a: IpAddr = "::1".parse().unwrap();
        limiter.check(a).unwrap();
        assert!(limiter.check(a).is_err());
        std::thread::sleep(Duration::from_millis(30));
        limiter.check(a).unwrap();
    }
}
