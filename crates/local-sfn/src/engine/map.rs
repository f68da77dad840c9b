//! Inline Map states: iterations under MaxConcurrency and the tolerated-failure threshold.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::RunningBranches;
use super::dataflow::{evaluate_path, render, resolve_number, set_member};
use super::retry::Attempt;
use super::states::run_machine;
use crate::error::{Failure, names};
use crate::history::Track;

/// Inline Map never runs more than this many iterations at once on AWS.
const INLINE_MAP_CONCURRENCY_CAP: usize = 40;

struct Tolerance {
    count: Option<f64>,
    percentage: Option<f64>,
}

impl Tolerance {
    fn is_set(&self) -> bool {
        self.count.is_some() || self.percentage.is_some()
    }
    fn exceeded(&self, failures: usize, total: usize) -> bool {
        let failures_f = failures as f64;
        let over_count = self.count.is_some_and(|c| failures_f > c);
        let over_percentage = self
            .percentage
            .is_some_and(|p| total > 0 && failures_f * 100.0 / total as f64 > p);
        over_count || over_percentage
    }
}

pub(super) async fn run_map_attempt(
    attempt: Attempt<'_>,
    map: &crate::definition::MapState,
    track: &mut Track,
) -> Result<Value, Failure> {
    let effective = attempt.effective_input()?;
    let items = match &map.items_path {
        Some(path) => evaluate_path(path, &effective, attempt.context)?,
        None => effective.clone(),
    };
    let Value::Array(items) = items else {
        return Err(Failure::runtime(format!(
            "state '{}': ItemsPath must select an array",
            attempt.state.name
        )));
    };
    let limit = match &map.max_concurrency {
        Some(spec) => resolve_number(spec, &effective, "MaxConcurrency")? as usize,
        None => 0,
    };
    let limit = if limit == 0 {
        INLINE_MAP_CONCURRENCY_CAP
    } else {
        limit.min(INLINE_MAP_CONCURRENCY_CAP)
    };
    let tolerance = Tolerance {
        count: map
            .tolerated_failure_count
            .as_ref()
            .map(|s| resolve_number(s, &effective, "ToleratedFailureCount"))
            .transpose()?,
        percentage: map
            .tolerated_failure_percentage
            .as_ref()
            .map(|s| resolve_number(s, &effective, "ToleratedFailurePercentage"))
            .transpose()?,
    };
    let total = items.len();
    let mut iteration_inputs = Vec::with_capacity(total);
    for (index, item) in items.into_iter().enumerate() {
        let iteration_input = match &map.item_selector {
            Some(selector) => {
                let mut item_context = attempt.context.clone();
                set_member(
                    &mut item_context,
                    "Map",
                    json!({"Item": {"Index": index, "Value": item}}),
                );
                render(selector, &effective, &item_context)?
            }
            None => item,
        };
        iteration_inputs.push(iteration_input);
    }
    attempt.shared.record(
        track,
        "MapStateStarted",
        "mapStateStartedEventDetails",
        json!({"length": total}),
    );
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    let mut failures = 0usize;
    let mut first_failure: Option<Failure> = None;
    let mut pending = iteration_inputs.into_iter().enumerate();
    let mut running: RunningBranches = JoinSet::new();
    let launch = |running: &mut JoinSet<_>, track: &mut Track, index: usize, item: Value| {
        attempt.shared.record(
            track,
            "MapIterationStarted",
            "mapIterationStartedEventDetails",
            json!({"name": attempt.state.name, "index": index}),
        );
        let iteration_track = Track {
            last: track.last,
            nested: true,
        };
        let run = run_machine(
            attempt.shared.clone(),
            map.processor.clone(),
            item,
            iteration_track,
        );
        attempt
            .shared
            .spawn_branch(running, async move { (index, run.await) });
    };
    for _ in 0..limit {
        if let Some((index, item)) = pending.next() {
            launch(&mut running, track, index, item);
        }
    }
    let mut threshold_failure: Option<Failure> = None;
    while let Some((index, result)) = attempt.join(&mut running, "a Map iteration").await? {
        match result {
            Ok(output) => {
                attempt.shared.record(
                    track,
                    "MapIterationSucceeded",
                    "mapIterationSucceededEventDetails",
                    json!({"name": attempt.state.name, "index": index}),
                );
                results.insert(index, output);
            }
            Err(failure) => {
                attempt.shared.record(
                    track,
                    "MapIterationFailed",
                    "mapIterationFailedEventDetails",
                    json!({"name": attempt.state.name, "index": index}),
                );
                failures += 1;
                if failure.is_terminal() || !tolerance.is_set() {
                    first_failure = Some(failure);
                    break;
                }
                if tolerance.exceeded(failures, total) {
                    threshold_failure = Some(Failure::new(
                        names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        format!(
                            "The Map state '{}' exceeded its tolerated failures: {failures} of {total} iterations failed",
                            attempt.state.name
                        ),
                    ));
                    break;
                }
                results.insert(index, failure.to_json());
            }
        }
        if let Some((index, item)) = pending.next() {
            launch(&mut running, track, index, item);
        }
    }
    if let Some(failure) = first_failure.or(threshold_failure) {
        let aborted = running.len();
        running.abort_all();
        for _ in 0..aborted {
            attempt.shared.record_bare(track, "MapIterationAborted");
        }
        attempt.shared.record_bare(track, "MapStateFailed");
        return Err(failure);
    }
    attempt.shared.record_bare(track, "MapStateSucceeded");
    let results = Value::Array(results.into_values().collect());
    attempt.shape(results)
}
