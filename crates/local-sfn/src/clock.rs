//! Time as the engine sees it. Wait states, retry back-off and timeouts all go through a
//! [`Clock`], so tests and demos can replace days of waiting with a virtual clock that jumps.
//!
//! Two virtual clocks exist. [`VirtualClock`] jumps as soon as anyone sleeps, which suits one
//! execution at a time. [`FleetClock`] is a discrete-event clock for many executions at once:
//! each unit of concurrent work registers as a participant, and time jumps to the earliest
//! deadline only when every participant sleeps, so one execution's Wait never moves time
//! under another that is still working or waiting on I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};

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

    /// Registers one more unit of concurrent work (an execution, a Map iteration, a Parallel
    /// branch) until the returned guard is dropped. Only clocks that decide when time may pass
    /// ([`FleetClock`]) care; the others return an inert guard.
    fn participate(&self) -> Participation {
        Participation::inert()
    }

    /// Stops counting the calling participant until the guard is dropped, while it only waits
    /// for participants it started (a Map or Parallel state awaiting its branches): it is then
    /// neither working nor sleeping, and must not keep time from passing for its branches.
    fn step_aside(&self) -> Participation {
        Participation::inert()
    }
}

/// A registration with a [`Clock`], undone when dropped; see [`Clock::participate`].
#[must_use = "the registration ends when the guard is dropped"]
pub struct Participation {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl Participation {
    /// A guard that does nothing, for clocks that do not track participants.
    pub fn inert() -> Self {
        Participation { release: None }
    }

    /// A guard that runs `release` once when dropped, for clocks implemented outside this
    /// crate that track participants themselves.
    pub fn on_drop(release: impl FnOnce() + Send + 'static) -> Self {
        Participation {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for Participation {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl std::fmt::Debug for Participation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participation")
            .field("tracked", &self.release.is_some())
            .finish()
    }
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

/// A discrete-event clock for concurrent executions: virtual time stands still while any
/// participant works and jumps to the earliest sleeper's deadline once all of them sleep.
///
/// Every concurrent unit of work must hold a [`Clock::participate`] guard while it runs (the
/// engine registers Map iterations and Parallel branches itself; the caller registers each
/// execution, all of them before starting any, so none moves time before the others count).
/// Sleepers that are not participants are treated as if every participant slept, which is
/// [`VirtualClock`]'s behaviour for a single execution.
#[derive(Debug, Clone)]
pub struct FleetClock {
    inner: Arc<FleetInner>,
}

#[derive(Debug)]
struct FleetInner {
    now: watch::Sender<DateTime<Utc>>,
    state: Mutex<FleetState>,
}

#[derive(Debug, Default)]
struct FleetState {
    /// Registered participants minus those stepped aside.
    participants: isize,
    /// Pending sleeps by deadline (the id keeps equal deadlines apart).
    sleepers: BTreeMap<(DateTime<Utc>, u64), oneshot::Sender<()>>,
    next_id: u64,
}

impl FleetInner {
    fn state(&self) -> MutexGuard<'_, FleetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    /// Moves time to `target` when later than now and wakes every sleeper due by then; woken
    /// sleepers stop counting as asleep at once, before their tasks even run.
    fn move_to(&self, state: &mut FleetState, target: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let later = *now < target;
            if later {
                *now = target;
            }
            later
        });
        let now = self.now();
        while let Some(entry) = state.sleepers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            // A receiver gone means its sleep was cancelled meanwhile; nothing to wake.
            let _ = entry.remove().send(());
        }
    }

    /// Jumps to the earliest deadline for as long as every participant sleeps.
    fn advance_if_idle(&self, state: &mut FleetState) {
        loop {
            let sleeping = state.sleepers.len() as isize;
            if sleeping == 0 || sleeping < state.participants {
                return;
            }
            let Some(((earliest, _), _)) = state.sleepers.first_key_value() else {
                return;
            };
            let earliest = *earliest;
            self.move_to(state, earliest);
        }
    }

    fn change_participants(self: &Arc<Self>, delta: isize) {
        let mut state = self.state();
        state.participants += delta;
        self.advance_if_idle(&mut state);
    }
}

/// Removes a sleep from the queue when its future is dropped before it was woken.
struct PendingSleep<'a> {
    inner: &'a FleetInner,
    key: (DateTime<Utc>, u64),
}

impl Drop for PendingSleep<'_> {
    fn drop(&mut self) {
        self.inner.state().sleepers.remove(&self.key);
    }
}

impl FleetClock {
    /// Starts the virtual time at `start`, with no participants.
    pub fn new(start: DateTime<Utc>) -> Self {
        FleetClock {
            inner: Arc::new(FleetInner {
                now: watch::Sender::new(start),
                state: Mutex::new(FleetState::default()),
            }),
        }
    }

    /// Moves time forward by hand (the gap between two rounds of executions), waking every
    /// sleeper due by then.
    pub fn advance(&self, duration: Duration) {
        let delta = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        let mut state = self.inner.state();
        let now = self.inner.now();
        let target = now.checked_add_signed(delta).unwrap_or(now);
        self.inner.move_to(&mut state, target);
    }

    /// How many sleeps are waiting for time to pass, so tests can tell a sleeper was queued.
    pub fn sleeping(&self) -> usize {
        self.inner.state().sleepers.len()
    }
}

#[async_trait]
impl Clock for FleetClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    async fn sleep(&self, duration: Duration) {
        let Ok(delta) = chrono::Duration::from_std(duration) else {
            return;
        };
        if delta.is_zero() {
            tokio::task::yield_now().await;
            return;
        }
        let (sender, receiver) = oneshot::channel();
        let key = {
            let mut state = self.inner.state();
            let now = self.inner.now();
            let Some(deadline) = now.checked_add_signed(delta) else {
                return;
            };
            let key = (deadline, state.next_id);
            state.next_id += 1;
            state.sleepers.insert(key, sender);
            self.inner.advance_if_idle(&mut state);
            key
        };
        let _pending = PendingSleep {
            inner: &self.inner,
            key,
        };
        // The sender is only dropped after sending, or with the clock itself.
        let _ = receiver.await;
    }

    async fn wait_until(&self, deadline: DateTime<Utc>) {
        let mut receiver = self.inner.now.subscribe();
        // `wait_for` only fails when the sender is gone, which cannot happen while `self` lives.
        let _ = receiver.wait_for(|now| *now >= deadline).await;
    }

    fn participate(&self) -> Participation {
        self.inner.change_participants(1);
        let inner = self.inner.clone();
        Participation::on_drop(move || inner.change_participants(-1))
    }

    fn step_aside(&self) -> Participation {
        self.inner.change_participants(-1);
        let inner = self.inner.clone();
        Participation::on_drop(move || inner.change_participants(1))
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

    fn fleet_start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Lets spawned tasks run until they block again.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// A participant that sleeps `seconds` once its guard is registered, then ends.
    fn sleeper(clock: &FleetClock, seconds: u64) -> tokio::task::JoinHandle<DateTime<Utc>> {
        let guard = clock.participate();
        let clock = clock.clone();
        tokio::spawn(async move {
            clock.sleep(Duration::from_secs(seconds)).await;
            let woke = clock.now();
            drop(guard);
            woke
        })
    }

    #[tokio::test]
    async fn fleet_clock_stands_still_while_one_participant_is_busy() {
        let clock = FleetClock::new(fleet_start());
        let busy = clock.participate();
        let sleeping = sleeper(&clock, 3_600);
        settle().await;
        assert_eq!(clock.sleeping(), 1, "the sleeper must be queued");
        assert_eq!(clock.now(), fleet_start());
        assert!(!sleeping.is_finished());
        drop(busy);
        assert_eq!(
            sleeping.await.unwrap(),
            fleet_start() + chrono::Duration::hours(1)
        );
    }

    #[tokio::test]
    async fn fleet_clock_jumps_to_the_earliest_deadline_once_everyone_sleeps() {
        let clock = FleetClock::new(fleet_start());
        let hold = clock.participate();
        let late = sleeper(&clock, 86_400);
        let early = sleeper(&clock, 60);
        settle().await;
        assert_eq!(clock.sleeping(), 2);
        assert_eq!(clock.now(), fleet_start(), "the holder still works");
        drop(hold);
        assert_eq!(
            early.await.unwrap(),
            fleet_start() + chrono::Duration::seconds(60)
        );
        // The early sleeper ended, so the late one is alone and time jumps to its deadline:
        // one day in all, not a day plus a minute.
        assert_eq!(
            late.await.unwrap(),
            fleet_start() + chrono::Duration::days(1)
        );
        assert_eq!(clock.now(), fleet_start() + chrono::Duration::days(1));
    }

    #[tokio::test]
    async fn a_woken_sleeper_counts_as_busy_until_it_sleeps_again() {
        let clock = FleetClock::new(fleet_start());
        let guard = clock.participate();
        let other = sleeper(&clock, 600);
        let first = {
            let clock = clock.clone();
            tokio::spawn(async move {
                clock.sleep(Duration::from_secs(60)).await;
                let woke = clock.now();
                (woke, guard)
            })
        };
        let (woke, guard) = first.await.unwrap();
        assert_eq!(woke, fleet_start() + chrono::Duration::seconds(60));
        settle().await;
        assert_eq!(
            clock.now(),
            fleet_start() + chrono::Duration::seconds(60),
            "the woken participant is working: the other sleeper must not move time"
        );
        assert!(!other.is_finished());
        drop(guard);
        assert_eq!(
            other.await.unwrap(),
            fleet_start() + chrono::Duration::seconds(600)
        );
    }

    #[tokio::test]
    async fn a_dropped_participant_unblocks_the_sleepers() {
        let clock = FleetClock::new(fleet_start());
        let stuck = clock.participate();
        let waiting = sleeper(&clock, 30);
        settle().await;
        assert!(!waiting.is_finished());
        drop(stuck);
        assert_eq!(
            waiting.await.unwrap(),
            fleet_start() + chrono::Duration::seconds(30)
        );
    }

    #[tokio::test]
    async fn a_cancelled_sleep_leaves_the_queue() {
        let clock = FleetClock::new(fleet_start());
        let busy = clock.participate();
        let cancelled = sleeper(&clock, 30);
        settle().await;
        assert_eq!(clock.sleeping(), 1);
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        assert_eq!(clock.sleeping(), 0);
        drop(busy);
        assert_eq!(clock.now(), fleet_start(), "nobody sleeps, so time stays");
    }

    #[tokio::test]
    async fn stepping_aside_lets_branches_decide_alone() {
        let clock = FleetClock::new(fleet_start());
        let parent = clock.participate();
        let branch = sleeper(&clock, 120);
        settle().await;
        assert_eq!(
            clock.now(),
            fleet_start(),
            "the parent counts until it steps aside"
        );
        let aside = clock.step_aside();
        assert_eq!(
            branch.await.unwrap(),
            fleet_start() + chrono::Duration::seconds(120)
        );
        drop(aside);
        drop(parent);
    }

    #[tokio::test]
    async fn timeouts_fire_when_a_jump_passes_them() {
        let clock = FleetClock::new(fleet_start());
        let deadline = fleet_start() + chrono::Duration::seconds(10);
        let watcher = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.wait_until(deadline).await })
        };
        let sleeping = sleeper(&clock, 100);
        sleeping.await.unwrap();
        watcher.await.unwrap();
        assert_eq!(clock.now(), fleet_start() + chrono::Duration::seconds(100));
    }

    #[tokio::test]
    async fn advancing_by_hand_wakes_due_sleepers() {
        let clock = FleetClock::new(fleet_start());
        let busy = clock.participate();
        let sleeping = sleeper(&clock, 3_600);
        settle().await;
        clock.advance(Duration::from_secs(7_200));
        assert_eq!(
            sleeping.await.unwrap(),
            fleet_start() + chrono::Duration::hours(2)
        );
        drop(busy);
    }
}
