//! Parallel states: every branch on the same input; one failure cancels the rest.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::dataflow::{render, resolve_input, shape_result};
use super::states::run_machine;
use super::{RunningBranches, Shared};
use crate::definition::State;
use crate::error::Failure;
use crate::history::Track;

pub(super) async fn run_parallel_attempt(
    shared: &Arc<Shared>,
    state: &State,
    parallel: &crate::definition::ParallelState,
    input: &Value,
    context: &Value,
    track: &mut Track,
) -> Result<Value, Failure> {
    let effective = resolve_input(&parallel.input_path, input, context)?;
    let branch_input = match &parallel.parameters {
        Some(t) => render(t, &effective, context)?,
        None => effective,
    };
    shared.record_bare(track, "ParallelStateStarted");
    let mut running: RunningBranches = JoinSet::new();
    for (index, branch) in parallel.branches.iter().enumerate() {
        let branch_track = Track {
            last: track.last,
            nested: true,
        };
        let run = run_machine(
            shared.clone(),
            branch.clone(),
            branch_input.clone(),
            branch_track,
        );
        shared.spawn_branch(&mut running, async move { (index, run.await) });
    }
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    while let Some(joined) = shared.join_branch(&mut running).await {
        let (index, result) = joined
            .map_err(|e| Failure::runtime(format!("a branch of '{}' panicked: {e}", state.name)))?;
        match result {
            Ok(output) => {
                results.insert(index, output);
            }
            Err(failure) => {
                running.abort_all();
                shared.record_bare(track, "ParallelStateFailed");
                return Err(failure);
            }
        }
    }
    shared.record_bare(track, "ParallelStateSucceeded");
    let results = Value::Array(results.into_values().collect());
    shape_result(
        parallel.result_selector.as_ref(),
        &parallel.result_path,
        &parallel.output_path,
        input,
        results,
        context,
    )
}
