//! Bounded, jittered retries of idempotent HTTP calls, and the one `Retry-After` parser for
//! Grafana's and AWS's answers.
//!
//! Step Functions retries transient step failures too, but a whole Lambda retry re-reads the
//! entire inventory; retrying one idempotent request in place is far cheaper. The budget is kept
//! small so the two layers do not multiply into minutes of waiting. The back-off schedule itself
//! comes from `backon`; this module only says how keyshift's policy maps onto it.

use std::time::{Duration, SystemTime};

use backon::ExponentialBuilder;

/// How often and how long an idempotent call may be retried after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first one; 1 disables retries.
    pub max_attempts: u32,
    /// The first back-off window; each later one doubles, up to `max_delay`. Every wait is
    /// jittered to between one and two windows so competing clients spread out.
    pub base_delay: Duration,
    /// Upper bound of any single back-off window.
    pub max_delay: Duration,
    /// The longest `Retry-After` we are willing to sleep in-process; beyond it the error goes
    /// back to the caller (and the state machine's retrier), since a Lambda should not idle.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries, for calls that must not be repeated blindly.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The back-off schedule: one delay per retry the budget allows.
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        let retries = usize::try_from(self.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(retries)
            .with_jitter()
    }

    /// The wait before the next retry: the server's `Retry-After` when it sent one (and it is
    /// short enough to sleep in-process), otherwise the scheduled back-off; `None` gives up.
    /// `scheduled` is `None` once the budget is spent, and a `Retry-After` cannot extend it.
    pub(crate) fn next_delay(
        &self,
        retry_after: Option<Duration>,
        scheduled: Option<Duration>,
    ) -> Option<Duration> {
        let scheduled = scheduled?;
        match retry_after {
            Some(requested) => (requested <= self.max_retry_after).then_some(requested),
            None => Some(scheduled),
        }
    }
}

/// Parses a `Retry-After` value, delta-seconds or an HTTP date (all three forms HTTP allows),
/// relative to `now`; unparsable values are ignored rather than trusted, since the header comes
/// from a possibly hostile peer. A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let trimmed = value.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(trimmed).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn budget_counts_the_first_attempt() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.backoff().build().count(), 2);
        assert_eq!(RetryPolicy::none().backoff().build().count(), 0);
    }

    #[test]
    fn jitter_stays_inside_twice_the_window() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let delays: Vec<Duration> = policy.backoff().build().collect();
            assert_eq!(delays.len(), 9);
            assert!(delays[0] >= Duration::from_millis(100), "{delays:?}");
            assert!(delays[0] <= Duration::from_millis(200), "{delays:?}");
            for delay in &delays {
                assert!(*delay <= Duration::from_millis(500), "{delay:?}");
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap_and_never_extends_the_budget() {
        let policy = RetryPolicy::default();
        let scheduled = Some(Duration::from_millis(300));
        assert_eq!(
            policy.next_delay(Some(Duration::from_secs(2)), scheduled),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.next_delay(Some(Duration::from_secs(3600)), scheduled),
            None
        );
        assert_eq!(policy.next_delay(None, scheduled), scheduled);
        assert_eq!(policy.next_delay(Some(Duration::from_secs(1)), None), None);
    }

    #[test]
    fn parses_all_retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 01 Jan 2025 00:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 01-Jan-25 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Jan  1 00:00:05 2025", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Tue, 31 Dec 2024 00:00:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
