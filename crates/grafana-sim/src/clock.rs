//! The simulator's controllable clock.
//!
//! Token expiry is the behaviour keyshift cares most about, and waiting real days in a test
//! is not an option, so every time-dependent decision in the simulator reads this clock:
//! real wall-clock time shifted by an offset that tests move forward through `/_sim/clock`.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// The furthest the clock may be moved from real time (about 1000 years either way): far
/// beyond any token TTL, yet far from the edge of the representable date range, so the
/// clock can never overflow whatever a test or a hostile control request asks for.
pub const MAX_OFFSET_SECONDS: i64 = 1000 * 366 * 86_400;

/// Wall-clock time plus a test-controlled offset; shared by the HTTP and AMG layers so both
/// agree on which tokens have expired.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_millis: AtomicI64,
}

impl SimClock {
    /// A clock that starts at real time; offsets are added later by tests.
    pub fn new() -> Self {
        Self::default()
    }

    /// The simulated "now", the only time source the simulator uses for expiry decisions.
    /// Whole seconds, like the timestamps Grafana stores and returns.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::milliseconds(self.offset_millis.load(Ordering::SeqCst));
        now.trunc_subsecs(0)
    }

    /// Moves simulated time forward (or back, with a negative value) so tests can expire
    /// tokens without waiting. The resulting offset is clamped to ±[`MAX_OFFSET_SECONDS`].
    pub fn advance_seconds(&self, seconds: i64) {
        let limit = MAX_OFFSET_SECONDS.saturating_mul(1000);
        let delta = seconds.clamp(-MAX_OFFSET_SECONDS, MAX_OFFSET_SECONDS) * 1000;
        let _ = self
            .offset_millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                Some(current.saturating_add(delta).clamp(-limit, limit))
            });
    }

    /// How far simulated time is ahead of real time, reported by the control API so a test
    /// can tell what it has done.
    pub fn offset_seconds(&self) -> i64 {
        self.offset_millis.load(Ordering::SeqCst) / 1000
    }

    /// Returns to real time, used when the fleet is reset to its initial state.
    pub fn reset(&self) {
        self.offset_millis.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_the_requested_amount() {
        let clock = SimClock::new();
        let before = clock.now();
        clock.advance_seconds(86_400);
        let moved = clock.now() - before;
        assert!(moved >= Duration::seconds(86_400));
        assert!(moved < Duration::seconds(86_400 + 60));
        assert_eq!(clock.offset_seconds(), 86_400);
        clock.reset();
        assert_eq!(clock.offset_seconds(), 0);
    }

    #[test]
    fn huge_advances_are_clamped_instead_of_overflowing() {
        let clock = SimClock::new();
        clock.advance_seconds(i64::MAX);
        clock.advance_seconds(i64::MAX);
        assert_eq!(clock.offset_seconds(), MAX_OFFSET_SECONDS);
        assert!(clock.now() > Utc::now());
        clock.advance_seconds(i64::MIN);
        clock.advance_seconds(i64::MIN);
        assert_eq!(clock.offset_seconds(), -MAX_OFFSET_SECONDS);
        assert!(clock.now() < Utc::now());
    }
}
