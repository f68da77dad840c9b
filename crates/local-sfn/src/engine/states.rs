//! The interpreter loop: one (sub-)machine from StartAt to its end, one state at a time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use serde_json::json;

use super::Shared;
use super::dataflow::{
    apply_result_path, evaluate_dynamic, evaluate_on, render, resolve_input, transition_target,
};
use super::retry::{Attempted, run_with_error_handling};
use crate::choice::parse_timestamp;
use crate::definition::{FailText, State, StateKind, StateMachine, WaitFor};
use crate::error::{Failure, names};
use crate::history::Track;

pub(super) type BoxedRun = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send>>;

pub(super) fn run_machine(
    shared: Arc<Shared>,
    machine: Arc<StateMachine>,
    input: Value,
    track: Track,
) -> BoxedRun {
    Box::pin(async move {
        let mut track = track;
        let mut current = machine.start_at.clone();
        let mut data = input;
        loop {
            let state = machine.state(&current).ok_or_else(|| {
                Failure::runtime(format!("the state machine has no state named '{current}'"))
            })?;
            let (next, output) = run_state(&shared, state, data, &mut track).await?;
            match next {
                Some(next) => {
                    current = next;
                    data = output;
                }
                None => return Ok(output),
            }
        }
    })
}

async fn run_state(
    shared: &Arc<Shared>,
    state: &State,
    input: Value,
    track: &mut Track,
) -> Result<(Option<String>, Value), Failure> {
    let type_name = state.kind.type_name();
    let entered = shared.clock.now();
    shared.record(
        track,
        &format!("{type_name}StateEntered"),
        "stateEnteredEventDetails",
        json!({"name": state.name, "input": shared.payload_text(&input), "inputDetails": {"truncated": false}}),
    );
    let context = shared.context(&state.name, entered, 0);
    let (next, output) = match &state.kind {
        StateKind::Pass(pass) => {
            let effective = resolve_input(&pass.input_path, &input, &context)?;
            let effective = match &pass.parameters {
                Some(t) => render(t, &effective, &context)?,
                None => effective,
            };
            let result = pass.result.clone().unwrap_or(effective);
            let output = apply_result_path(&pass.result_path, &input, result)?;
            let output = resolve_input(&pass.output_path, &output, &context)?;
            (transition_target(&pass.transition), output)
        }
        StateKind::Choice(choice) => {
            let effective = resolve_input(&choice.input_path, &input, &context)?;
            let mut next = None;
            for rule in &choice.choices {
                if rule.condition.evaluate(&effective)? {
                    next = Some(rule.next.clone());
                    break;
                }
            }
            let next = next.or_else(|| choice.default.clone()).ok_or_else(|| {
                Failure::new(
                    names::NO_CHOICE_MATCHED,
                    format!(
                        "No Choice Rules matched and no Default was specified in state '{}'",
                        state.name
                    ),
                )
            })?;
            let output = resolve_input(&choice.output_path, &effective, &context)?;
            (Some(next), output)
        }
        StateKind::Wait(wait) => {
            let effective = resolve_input(&wait.input_path, &input, &context)?;
            let duration = wait_duration(&wait.wait, &effective, shared.clock.now())?;
            shared.clock.sleep(duration).await;
            let output = resolve_input(&wait.output_path, &effective, &context)?;
            (transition_target(&wait.transition), output)
        }
        StateKind::Succeed(succeed) => {
            let effective = resolve_input(&succeed.input_path, &input, &context)?;
            let output = resolve_input(&succeed.output_path, &effective, &context)?;
            (None, output)
        }
        StateKind::Fail(fail) => {
            let text = |field: &Option<FailText>| -> Result<String, Failure> {
                match field {
                    None => Ok(String::new()),
                    Some(FailText::Fixed(s)) => Ok(s.clone()),
                    Some(FailText::Computed(d)) => match evaluate_dynamic(d, &input, &context)? {
                        Value::String(s) => Ok(s),
                        other => Err(Failure::runtime(format!(
                            "the ErrorPath/CausePath of state '{}' must produce a string, got {other}",
                            state.name
                        ))),
                    },
                }
            };
            return Err(Failure::new(text(&fail.error)?, text(&fail.cause)?));
        }
        StateKind::Task(task) => {
            run_with_error_handling(shared, state, Attempted::Task(task), entered, &input, track)
                .await?
        }
        StateKind::Map(map) => {
            run_with_error_handling(shared, state, Attempted::Map(map), entered, &input, track)
                .await?
        }
        StateKind::Parallel(parallel) => {
            let work = Attempted::Parallel(parallel);
            run_with_error_handling(shared, state, work, entered, &input, track).await?
        }
    };
    shared.record(
        track,
        &format!("{type_name}StateExited"),
        "stateExitedEventDetails",
        json!({"name": state.name, "output": shared.payload_text(&output), "outputDetails": {"truncated": false}}),
    );
    Ok((next, output))
}

fn wait_duration(wait: &WaitFor, input: &Value, now: DateTime<Utc>) -> Result<Duration, Failure> {
    let until = |text: &str| -> Result<Duration, Failure> {
        let target = parse_timestamp(text)
            .ok_or_else(|| Failure::runtime(format!("'{text}' is not an RFC 3339 timestamp")))?;
        // Step Functions truncates timestamps to whole seconds.
        let target_seconds = target.timestamp();
        let remaining = target_seconds - now.timestamp();
        Ok(Duration::from_secs(u64::try_from(remaining).unwrap_or(0)))
    };
    match wait {
        WaitFor::Seconds(s) => Ok(Duration::from_secs(*s)),
        WaitFor::SecondsPath(path) => {
            let value = evaluate_on(path, input)?;
            value.as_u64().map(Duration::from_secs).ok_or_else(|| {
                Failure::runtime(format!(
                    "SecondsPath '{path}' must point to a non-negative integer, got {value}"
                ))
            })
        }
        WaitFor::Timestamp(text) => until(text),
        WaitFor::TimestampPath(path) => {
            let value = evaluate_on(path, input)?;
            let text = value.as_str().ok_or_else(|| {
                Failure::runtime(format!(
                    "TimestampPath '{path}' must point to a timestamp string, got {value}"
                ))
            })?;
            until(text)
        }
    }
}
