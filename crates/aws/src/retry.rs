//! Bounded retries with full jitter for idempotent HTTP calls.
//!
//! Step Functions retries transient step failures too, but a whole Lambda retry re-reads the
//! entire inventory; retrying one idempotent request in place is far cheaper. The budget is kept
//! small so the two layers do not multiply into minutes of waiting.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// How often and how long an idempotent call may be retried after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first one; 1 disables retries.
    pub max_attempts: u32,
    /// Base of the exponential backoff window.
    pub base_delay: Duration,
    /// Upper bound of any single backoff window.
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

    /// The delay before retry number `retry_index` (0 for the first retry), or `None` when the
    /// budget is spent or the server asked for a longer pause than we accept in-process.
    pub fn delay_before_retry(
        &self,
        retry_index: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if retry_index.saturating_add(1) >= self.max_attempts {
            return None;
        }
        if let Some(requested) = retry_after {
            return (requested <= self.max_retry_after).then_some(requested);
        }
        Some(self.full_jitter(retry_index))
    }

    /// Full jitter: a uniform delay in `[0, min(max_delay, base * 2^n)]`, which spreads
    /// competing clients better than equal or decorrelated jitter for small budgets.
    fn full_jitter(&self, retry_index: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry_index.min(16));
        let window = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let window_millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        if window_millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=window_millis))
    }
}

/// Parses a `Retry-After` value (delta-seconds or an HTTP date) relative to `now`; unparsable
/// values are ignored rather than trusted, since the header comes from a possibly hostile peer.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let trimmed = value.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(trimmed).ok()?;
    let delta = date.with_timezone(&Utc).signed_duration_since(now);
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn budget_counts_the_first_attempt() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.delay_before_retry(0, None).is_some());
        assert!(policy.delay_before_retry(1, None).is_some());
        assert_eq!(policy.delay_before_retry(2, None), None);
        assert_eq!(RetryPolicy::none().delay_before_retry(0, None), None);
    }

    #[test]
    fn jitter_stays_inside_the_window() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(1),
        };
        for retry in 0..8 {
            for _ in 0..50 {
                let delay = policy.delay_before_retry(retry, None).unwrap();
                assert!(delay <= Duration::from_millis(250), "{delay:?}");
                if retry == 0 {
                    assert!(delay <= Duration::from_millis(100));
                }
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay_before_retry(0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.delay_before_retry(0, Some(Duration::from_secs(3600))),
            None
        );
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 31 Dec 2024 00:00:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
