//! Retry and Catch around the attempts of Task, Map and Parallel states.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::Value;

use super::dataflow::{apply_result_path, render, resolve_input, shape_result, transition_target};
use super::map::run_map_attempt;
use super::parallel::run_parallel_attempt;
use super::task::run_task_attempt;
use super::{RunningBranches, Shared};
use crate::definition::{ErrorHandling, State, Template, Transition};
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

/// The field `$field` of whichever state `$work` attempts: Task, Map and Parallel name their
/// shared fields alike.
macro_rules! field_of {
    ($work:expr, $field:ident) => {
        match $work {
            Attempted::Task(state) => &state.$field,
            Attempted::Map(state) => &state.$field,
            Attempted::Parallel(state) => &state.$field,
        }
    };
}

impl Attempted<'_> {
    fn errors(&self) -> &ErrorHandling {
        field_of!(self, errors)
    }

    fn transition(&self) -> &Transition {
        field_of!(self, transition)
    }
}

/// One attempt of a Task, Map or Parallel state: the run, the state, what it attempts, the
/// state's input and this attempt's context object (with its retry count).
#[derive(Clone, Copy)]
pub(super) struct Attempt<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) state: &'a State,
    work: Attempted<'a>,
    pub(super) input: &'a Value,
    pub(super) context: &'a Value,
}

impl Attempt<'_> {
    /// The part of the state input the state works on (`InputPath`).
    pub(super) fn effective_input(&self) -> Result<Value, Failure> {
        resolve_input(field_of!(self.work, input_path), self.input, self.context)
    }

    /// The effective input with `template` (`Parameters`) rendered over it, or as it is
    /// without one: what a Task's handler or every Parallel branch receives.
    pub(super) fn parameters(&self, template: Option<&Template>) -> Result<Value, Failure> {
        let effective = self.effective_input()?;
        match template {
            Some(template) => render(template, &effective, self.context),
            None => Ok(effective),
        }
    }

    /// The next Map iteration or Parallel branch to end, `None` once all have; a panic in one
    /// is a runtime failure naming `what` of this state.
    pub(super) async fn join(
        &self,
        running: &mut RunningBranches,
        what: &str,
    ) -> Result<Option<(usize, Result<Value, Failure>)>, Failure> {
        self.shared
            .join_branch(running)
            .await
            .transpose()
            .map_err(|e| Failure::runtime(format!("{what} of '{}' panicked: {e}", self.state.name)))
    }

    /// The state's output: its `ResultSelector`, `ResultPath` and `OutputPath` applied to the
    /// attempt's raw result against the state input.
    pub(super) fn shape(&self, raw: Value) -> Result<Value, Failure> {
        shape_result(
            field_of!(self.work, result_selector).as_ref(),
            field_of!(self.work, result_path),
            field_of!(self.work, output_path),
            self.input,
            raw,
            self.context,
        )
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
                let attempt = Attempt {
                    shared: &shared,
                    state,
                    work,
                    input: &input,
                    context: &context,
                };
                let track = &mut inner_track;
                let result = match work {
                    Attempted::Task(task) => {
                        run_task_attempt(attempt, task, retry_count, track).await
                    }
                    Attempted::Map(map) => run_map_attempt(attempt, map, track).await,
                    Attempted::Parallel(parallel) => {
                        run_parallel_attempt(attempt, parallel, track).await
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
