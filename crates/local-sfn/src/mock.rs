//! The Step Functions Local MockConfigFile format, so users can test edits of their ASL with
//! the same mock files they would give AWS's own local runner:
//!
//! ```json
//! {"StateMachines": {"<machine>": {"TestCases": {"<case>": {"<state>": "<response>"}}}},
//!  "MockedResponses": {"<response>": {"0": {"Return": {}}, "1-2": {"Throw": {"Error": "E", "Cause": "C"}}}}}
//! ```
//!
//! Keys of a mocked response are invocation indexes (0-based, counted per state and execution,
//! retries included) or inclusive ranges.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::clock::VirtualClock;
use crate::engine::{Engine, ExecutionStatus, StartOptions};
use crate::error::{DefinitionError, TaskError};
use crate::handlers::TaskContext;

/// What `keyshift asl test` prints: the outcome and the path taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MockRunReport {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: ExecutionStatus,
    /// Output on success.
    pub output: Option<Value>,
    /// Error name on failure.
    pub error: Option<String>,
    /// Cause on failure.
    pub cause: Option<String>,
    /// Top-level states entered, in order.
    pub states_path: Vec<String>,
}

/// Why a mock run could not start; each variant names the part of the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// The state machine definition is invalid.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The mock file does not have the documented shape.
    #[error("invalid mock config: {0}")]
    InvalidConfig(String),
    /// `StateMachines.<name>` is missing.
    #[error("the mock config has no state machine named '{0}'")]
    UnknownStateMachine(String),
    /// `TestCases.<case>` is missing.
    #[error("state machine '{machine}' has no test case named '{case}'")]
    UnknownTestCase {
        /// The state machine that was found.
        machine: String,
        /// The test case it lacks.
        case: String,
    },
    /// A test case refers to a response that `MockedResponses` does not define.
    #[error(
        "test case maps state '{state}' to '{response}', which MockedResponses does not define"
    )]
    UnknownResponse {
        /// The state whose mock is dangling.
        state: String,
        /// The response name the test case gave for it.
        response: String,
    },
}

/// One mocked outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum MockOutcome {
    /// The task result.
    Return(Value),
    /// The task fails with this error and cause.
    Throw {
        /// The ASL error name that Retry and Catch match on.
        error: String,
        /// The explanation passed on with it.
        cause: String,
    },
}

/// A mocked response: outcomes by inclusive invocation ranges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockedResponse {
    ranges: Vec<(u64, u64, MockOutcome)>,
}

impl MockedResponse {
    /// Parses `{"0": {"Return": …}, "1-2": {"Throw": {…}}}`.
    pub fn parse(name: &str, value: &Value) -> Result<Self, MockError> {
        let bad = |m: String| MockError::InvalidConfig(format!("MockedResponses.{name}: {m}"));
        let object = value
            .as_object()
            .ok_or_else(|| bad("must be an object".into()))?;
        let mut ranges = Vec::new();
        for (key, entry) in object {
            let parse_index = |s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(format!("'{key}' is not an invocation index or range")))
            };
            let (from, to) = match key.split_once('-') {
                Some((a, b)) => (parse_index(a)?, parse_index(b)?),
                None => {
                    let i = parse_index(key)?;
                    (i, i)
                }
            };
            if from > to {
                return Err(bad(format!("range '{key}' is reversed")));
            }
            let outcome = match (entry.get("Return"), entry.get("Throw")) {
                (Some(v), None) => MockOutcome::Return(v.clone()),
                (None, Some(t)) => MockOutcome::Throw {
                    error: t
                        .get("Error")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("'{key}'.Throw needs a string Error")))?
                        .to_string(),
                    cause: t
                        .get("Cause")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                },
                _ => {
                    return Err(bad(format!("'{key}' needs exactly one of Return or Throw")));
                }
            };
            ranges.push((from, to, outcome));
        }
        Ok(MockedResponse { ranges })
    }

    /// The outcome for the `invocation`-th call (0-based).
    pub fn outcome(&self, invocation: u64) -> Option<&MockOutcome> {
        self.ranges
            .iter()
            .find(|(from, to, _)| (*from..=*to).contains(&invocation))
            .map(|(_, _, outcome)| outcome)
    }
}

/// Registers one state override per mocked state on `engine`, each with its own invocation
/// counter. Used by [`run_mock_case`] and by tests that build cases programmatically.
pub fn install_mocks(engine: &mut Engine, mocks: HashMap<String, MockedResponse>) {
    for (state, response) in mocks {
        let counter = Arc::new(Mutex::new(0u64));
        let response = Arc::new(response);
        let state_name = state.clone();
        engine.register_state_override(state, move |_input: Value, _ctx: TaskContext| {
            let counter = counter.clone();
            let response = response.clone();
            let state_name = state_name.clone();
            async move {
                let invocation = {
                    let mut count = counter
                        .lock()
                        .map_err(|_| TaskError::new("LocalSfn.MockFailure", "counter poisoned"))?;
                    let current = *count;
                    *count += 1;
                    current
                };
                match response.outcome(invocation) {
                    Some(MockOutcome::Return(value)) => Ok(value.clone()),
                    Some(MockOutcome::Throw { error, cause }) => {
                        Err(TaskError::new(error.clone(), cause.clone()))
                    }
                    None => Err(TaskError::new(
                        "LocalSfn.MockExhausted",
                        format!(
                            "no mocked response for invocation {invocation} of state '{state_name}'"
                        ),
                    )),
                }
            }
        });
    }
}

/// Runs `definition` on `input` with the task results of test case `case_name` of state
/// machine `state_machine_name` in `mock_config`. Waits and retries run on a virtual clock,
/// so a run with a week-long Wait finishes at once.
pub async fn run_mock_case(
    definition: &Value,
    input: Value,
    mock_config: &Value,
    state_machine_name: &str,
    case_name: &str,
) -> Result<MockRunReport, MockError> {
    let mut engine =
        Engine::from_value(definition)?.with_clock(Arc::new(VirtualClock::starting_now()));
    let case = mock_config
        .get("StateMachines")
        .ok_or_else(|| MockError::InvalidConfig("missing StateMachines".into()))?
        .get(state_machine_name)
        .ok_or_else(|| MockError::UnknownStateMachine(state_machine_name.to_string()))?
        .get("TestCases")
        .and_then(|cases| cases.get(case_name))
        .and_then(Value::as_object)
        .ok_or_else(|| MockError::UnknownTestCase {
            machine: state_machine_name.to_string(),
            case: case_name.to_string(),
        })?;
    let responses = mock_config.get("MockedResponses");
    let mut mocks = HashMap::new();
    for (state, response_name) in case {
        let response_name = response_name.as_str().ok_or_else(|| {
            MockError::InvalidConfig(format!(
                "TestCases.{case_name}.{state} must name a mocked response"
            ))
        })?;
        let response = responses
            .and_then(|r| r.get(response_name))
            .ok_or_else(|| MockError::UnknownResponse {
                state: state.clone(),
                response: response_name.to_string(),
            })?;
        mocks.insert(
            state.clone(),
            MockedResponse::parse(response_name, response)?,
        );
    }
    install_mocks(&mut engine, mocks);
    let result = engine
        .start(&format!("mock-{case_name}"), input, StartOptions::default())
        .await;
    Ok(MockRunReport {
        status: result.status,
        states_path: result.states_path(),
        output: result.output,
        error: result.error,
        cause: result.cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> Value {
        json!({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                     "Parameters": {"FunctionName": "f", "Payload.$": "$"},
                     "ResultSelector": {"value.$": "$.Payload.value"},
                     "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2, "IntervalSeconds": 3600}],
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}],
                     "Next": "Done"},
            "Recover": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }})
    }

    fn config() -> Value {
        json!({
            "StateMachines": {"m": {"TestCases": {
                "happy": {"Call": "ok"},
                "flaky": {"Call": "flaky-then-ok"},
                "broken": {"Call": "always-fails"},
                "dangling": {"Call": "nope"}
            }}},
            "MockedResponses": {
                "ok": {"0": {"Return": {"StatusCode": 200, "Payload": {"value": 42}}}},
                "flaky-then-ok": {
                    "0-1": {"Throw": {"Error": "Flaky", "Cause": "try again"}},
                    "2": {"Return": {"Payload": {"value": 7}}}
                },
                "always-fails": {"0-9": {"Throw": {"Error": "Boom", "Cause": "broken"}}}
            }
        })
    }

    #[tokio::test]
    async fn happy_path_uses_the_returned_value() {
        let report = run_mock_case(&definition(), json!({}), &config(), "m", "happy")
            .await
            .unwrap();
        assert_eq!(report.status, ExecutionStatus::Succeeded);
        assert_eq!(report.output, Some(json!({"value": 42})));
        assert_eq!(report.states_path, vec!["Call", "Done"]);
    }

    #[tokio::test]
    async fn ranges_drive_retries_without_real_waiting() {
        let report = run_mock_case(&definition(), json!({}), &config(), "m", "flaky")
            .await
            .unwrap();
        assert_eq!(report.status, ExecutionStatus::Succeeded);
        assert_eq!(report.output, Some(json!({"value": 7})));
    }

    #[tokio::test]
    async fn throw_is_caught() {
        let report = run_mock_case(&definition(), json!({"k": 1}), &config(), "m", "broken")
            .await
            .unwrap();
        assert_eq!(report.states_path, vec!["Call", "Recover", "Done"]);
        assert_eq!(
            report.output,
            Some(json!({"k": 1, "error": {"Error": "Boom", "Cause": "broken"}}))
        );
    }

    #[tokio::test]
    async fn config_errors_are_named() {
        let cfg = config();
        let def = definition();
        assert_eq!(
            run_mock_case(&def, json!({}), &cfg, "x", "happy").await,
            Err(MockError::UnknownStateMachine("x".into()))
        );
        assert!(matches!(
            run_mock_case(&def, json!({}), &cfg, "m", "nope").await,
            Err(MockError::UnknownTestCase { .. })
        ));
        assert!(matches!(
            run_mock_case(&def, json!({}), &cfg, "m", "dangling").await,
            Err(MockError::UnknownResponse { .. })
        ));
        assert!(matches!(
            MockedResponse::parse("r", &json!({"a": {"Return": 1}})),
            Err(MockError::InvalidConfig(_))
        ));
        assert!(matches!(
            MockedResponse::parse("r", &json!({"0": {"Return": 1, "Throw": {"Error": "E"}}})),
            Err(MockError::InvalidConfig(_))
        ));
    }
}
