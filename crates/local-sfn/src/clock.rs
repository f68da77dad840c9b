//! Time as the engine sees it. Wait states, retry back-off and timeouts all go through a
//! [`Clock`], so tests and demos can replace days of waiting with a virtual clock that jumps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The engine's source of time.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current instant, used for history timestamps, `$$` times and Timestamp waits.
    fn now(&self) -> DateTime<Utc>;

    /// Lets `duration` pass on behalf of the engine (Wait states, retry intervals). A virtual
    /// clock moves time forward instead of sleeping.
    async fn sleep(&self, duration: Duration);

    /// Resolves once the clock reaches `deadline`, without moving time itself; timeouts use
    /// this so they fire only when time really (or virtually) passes.
    async fn wait_until(&self, deadline: DateTime<Utc>);
}

/// Wall-clock time and real sleeps; the clock for real runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

#[async_trait]
impl Clock for RealClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn wait_until(&self, deadline: DateTime<Utc>) {
        if let Ok(remaining) = (deadline - Utc::now()).to_std() {
            tokio::time::sleep(remaining).await;
        }
    }
}

/// A clock that never blocks: `sleep` advances virtual time at once and records how long was
/// asked for, so tests can assert the computed delays rather than measure wall time.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<VirtualInner>,
}

#[derive(Debug)]
struct VirtualInner {
    now: watch::Sender<DateTime<Utc>>,
    sleeps: Mutex<Vec<Duration>>,
}

impl VirtualClock {
    /// Starts the virtual time at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        VirtualClock {
            inner: Arc::new(VirtualInner {
                now: watch::Sender::new(start),
                sleeps: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts the virtual time at the current wall-clock time.
    pub fn starting_now() -> Self {
        VirtualClock::new(Utc::now())
    }

    /// Moves time forward by hand (for example to let a handler's timeout expire).
    pub fn advance(&self, duration: Duration) {
        let delta = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        self.inner
            .now
            .send_modify(|now| *now = now.checked_add_signed(delta).unwrap_or(*now));
    }

    /// Every duration passed to [`Clock::sleep`], in call order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner
            .sleeps
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.inner.now.borrow()
    }

    async fn sleep(&self, duration: Duration) {
        if let Ok(mut sleeps) = self.inner.sleeps.lock() {
            sleeps.push(duration);
        }
        // Concurrent sleepers must not add up: each one moves time to its own deadline only.
        let deadline = chrono::Duration::from_std(duration)
            .ok()
            .and_then(|d| self.now().checked_add_signed(d));
        if let Some(deadline) = deadline {
            self.inner.now.send_modify(|now| {
                if *now < deadline {
                    *now = deadline;
                }
            });
        }
        tokio::task::yield_now().await;
    }

    async fn wait_until(&self, deadline: DateTime<Utc>) {
        let mut receiver = self.inner.now.subscribe();
        // `wait_for` only fails when the sender is gone, which cannot happen while `self` lives.
        let _ = receiver.wait_for(|now| *now >= deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleep_advances_without_blocking() {
        let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = VirtualClock::new(start);
        clock.sleep(Duration::from_secs(86_400 * 30)).await;
        assert_eq!(clock.now() - start, chrono::Duration::days(30));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(86_400 * 30)]);
    }

    #[tokio::test]
    async fn wait_until_fires_when_time_is_advanced() {
        let clock = VirtualClock::starting_now();
        let deadline = clock.now() + chrono::Duration::seconds(10);
        let waiter = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.wait_until(deadline).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        clock.advance(Duration::from_secs(10));
        waiter.await.unwrap();
        assert!(clock.now() >= deadline);
    }
}
