//! Retry and Catch around the attempts of Task, Map and Parallel states.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::Value;

use super::Shared;
use super::dataflow::{apply_result_path, transition_target};
use super::map::run_map_attempt;
use super::parallel::run_parallel_attempt;
use super::task::run_task_attempt;
use crate::definition::{ErrorHandling, State, Transition};
use crate::error::Failure;
use crate::history::Track;

/// How a state's attempts ended when no error escaped: its own result, or a Catch's target
/// and output.
enum Handled {
    Completed(Value),
    Caught(String, Value),
}

/// The delay before the next retry: the retrier's backoff for this attempt, randomised under
/// FULL jitter. Public within the crate so tests can check the formula directly.
pub(crate) fn retry_delay(retrier: &crate::definition::Retrier, attempt: u32) -> Duration {
    let base = retrier.base_delay_seconds(attempt).max(0.0);
    let seconds = match retrier.jitter_strategy {
        crate::definition::Jitter::None => base,
        crate::definition::Jitter::Full => rand::rng().random_range(0.0..=base),
    };
    Duration::from_secs_f64(seconds.min(1.0e9))
}

/// The states whose work is an attempt wrapped in Retry and Catch; one type so they share the
/// attempt loop, its context (with the retry count) and the transition that follows.
#[derive(Clone, Copy)]
pub(super) enum Attempted<'a> {
    Task(&'a crate::definition::TaskState),
    Map(&'a crate::definition::MapState),
    Parallel(&'a crate::definition::ParallelState),
}

impl Attempted<'_> {
    fn errors(&self) -> &ErrorHandling {
        match self {
            Self::Task(task) => &task.errors,
            Self::Map(map) => &map.errors,
            Self::Parallel(parallel) => &parallel.errors,
        }
    }

    fn transition(&self) -> &Transition {
        match self {
            Self::Task(task) => &task.transition,
            Self::Map(map) => &map.transition,
            Self::Parallel(parallel) => &parallel.transition,
        }
    }
}

/// Runs a Task, Map or Parallel state's attempts under its Retry/Catch rules and picks the
/// next state: its own transition on success, the catcher's target when a Catch handled it.
pub(super) async fn run_with_error_handling(
    shared: &Arc<Shared>,
    state: &State,
    work: Attempted<'_>,
    entered: DateTime<Utc>,
    input: &Value,
    track: &mut Track,
) -> Result<(Option<String>, Value), Failure> {
    let outcome = with_error_handling(shared, state, work.errors(), input, track, {
        |retry_count, mut inner_track: Track| {
            let context = shared.context(&state.name, entered, retry_count);
            let shared = shared.clone();
            let input = input.clone();
            async move {
                let result = match work {
                    Attempted::Task(task) => {
                        run_task_attempt(
                            &shared,
                            state,
                            task,
                            &input,
                            &context,
                            retry_count,
                            &mut inner_track,
                        )
                        .await
                    }
                    Attempted::Map(map) => {
                        run_map_attempt(&shared, state, map, &input, &context, &mut inner_track)
                            .await
                    }
                    Attempted::Parallel(parallel) => {
                        run_parallel_attempt(
                            &shared,
                            state,
                            parallel,
                            &input,
                            &context,
                            &mut inner_track,
                        )
                        .await
                    }
                };
                (result, inner_track)
            }
        }
    })
    .await?;
    Ok(match outcome {
        Handled::Completed(output) => (transition_target(work.transition()), output),
        Handled::Caught(next, output) => (Some(next), output),
    })
}

/// Runs `attempt` under the state's Retry and Catch rules. Retrier budgets live for this one
/// visit of the state; each retrier's budget is shared by all errors it matches.
async fn with_error_handling<F, Fut>(
    shared: &Arc<Shared>,
    state: &State,
    errors: &ErrorHandling,
    input: &Value,
    track: &mut Track,
    attempt: F,
) -> Result<Handled, Failure>
where
    F: Fn(u32, Track) -> Fut,
    Fut: Future<Output = (Result<Value, Failure>, Track)>,
{
    let mut used = vec![0u32; errors.retry.len()];
    let mut retry_count = 0u32;
    loop {
        let (result, new_track) = attempt(retry_count, *track).await;
        *track = new_track;
        let failure = match result {
            Ok(output) => return Ok(Handled::Completed(output)),
            Err(failure) => failure,
        };
        let retrier = errors.retry.iter().enumerate().find(|(_, r)| {
            r.error_equals
                .iter()
                .any(|pattern| failure.matches(pattern))
        });
        if let Some((index, retrier)) = retrier
            && let Some(count) = used.get_mut(index)
            && *count < retrier.max_attempts
        {
            let delay = retry_delay(retrier, *count);
            *count += 1;
            retry_count += 1;
            tracing::debug!(
                state = %state.name,
                error = %failure.error,
                attempt = retry_count,
                delay_ms = delay.as_millis() as u64,
                "retrying state"
            );
            shared.clock.sleep(delay).await;
            continue;
        }
        let catcher = errors.catch.iter().find(|c| {
            c.error_equals
                .iter()
                .any(|pattern| failure.matches(pattern))
        });
        if let Some(catcher) = catcher {
            let output = apply_result_path(&catcher.result_path, input, failure.to_json())?;
            return Ok(Handled::Caught(catcher.next.clone(), output));
        }
        return Err(failure);
    }
}
