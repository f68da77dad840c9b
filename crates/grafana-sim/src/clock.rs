//! The simulator's controllable clock.
//!
//! Token expiry is the behaviour keyshift cares most about, and waiting real days in a test
//! is not an option, so every time-dependent decision in the simulator reads this clock:
//! real wall-clock time shifted by an offset that tests move forward through `/_sim/clock`.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, SubsecRound, Utc};

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
    /// tokens without waiting.
    pub fn advance_seconds(&self, seconds: i64) {
        self.offset_millis
            .fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
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
}
