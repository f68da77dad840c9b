//! Parallel states: every branch on the same input; one failure cancels the rest.

use std::collections::BTreeMap;

use serde_json::Value;
use tokio::task::JoinSet;

use super::RunningBranches;
use super::retry::Attempt;
use super::states::run_machine;
use crate::error::Failure;
use crate::history::Track;

pub(super) async fn run_parallel_attempt(
    attempt: Attempt<'_>,
    parallel: &crate::definition::ParallelState,
    track: &mut Track,
) -> Result<Value, Failure> {
    let branch_input = attempt.parameters(parallel.parameters.as_ref())?;
    attempt.shared.record_bare(track, "ParallelStateStarted");
    let mut running: RunningBranches = JoinSet::new();
    for (index, branch) in parallel.branches.iter().enumerate() {
        let branch_track = Track {
            last: track.last,
            nested: true,
        };
        let run = run_machine(
            attempt.shared.clone(),
            branch.clone(),
            branch_input.clone(),
            branch_track,
        );
        attempt
            .shared
            .spawn_branch(&mut running, async move { (index, run.await) });
    }
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    while let Some((index, result)) = attempt.join(&mut running, "a branch").await? {
        match result {
            Ok(output) => {
                results.insert(index, output);
            }
            Err(failure) => {
                running.abort_all();
                attempt.shared.record_bare(track, "ParallelStateFailed");
                return Err(failure);
            }
        }
    }
    attempt.shared.record_bare(track, "ParallelStateSucceeded");
    let results = Value::Array(results.into_values().collect());
    attempt.shape(results)
}
