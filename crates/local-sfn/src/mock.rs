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

use serde_json::Value;

use crate::engine::{Engine, ExecutionResult, StartOptions};
use crate::error::TaskError;
use crate::handlers::TaskContext;

/// Why a mock file cannot be run; each variant names the part of the file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// The file has no `StateMachines` object, so no test case can be found.
    #[error("missing StateMachines")]
    MissingStateMachines,
    /// `StateMachines.<name>` is missing.
    #[error("no state machine named {0:?}")]
    UnknownStateMachine(String),
    /// `TestCases.<case>` is missing (or is not an object).
    #[error("state machine {machine:?} has no test case {case:?}")]
    UnknownTestCase {
        /// The state machine that was found.
        machine: String,
        /// The test case it lacks.
        case: String,
    },
    /// A test case maps a state to something other than a response name.
    #[error("TestCases.{case}.{state} must name a mocked response")]
    NotAResponseName {
        /// The test case at fault.
        case: String,
        /// The state whose entry is not a string.
        state: String,
    },
    /// A test case refers to a response that `MockedResponses` does not define.
    #[error(
        "test case {case:?} maps state {state:?} to {response:?}, which MockedResponses does not define"
    )]
    UnknownResponse {
        /// The test case at fault.
        case: String,
        /// The state whose mock is dangling.
        state: String,
        /// The response name the test case gave for it.
        response: String,
    },
    /// A mocked response does not have the documented shape.
    #[error("invalid mock config: MockedResponses.{response}: {message}")]
    InvalidResponse {
        /// The response at fault.
        response: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One mocked outcome.
#[derive(Debug, Clone, PartialEq)]
enum MockOutcome {
    /// The task result.
    Return(Value),
    /// The task fails with this error and cause.
    Throw { error: String, cause: String },
}

/// A mocked response: outcomes by inclusive invocation ranges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockedResponse {
    ranges: Vec<(u64, u64, MockOutcome)>,
}

impl MockedResponse {
    /// Parses `{"0": {"Return": …}, "1-2": {"Throw": {…}}}`; `name` is the response's name,
    /// quoted in errors.
    pub fn parse(name: &str, value: &Value) -> Result<Self, MockError> {
        let bad = |message: String| MockError::InvalidResponse {
            response: name.to_string(),
            message,
        };
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
    fn outcome(&self, invocation: u64) -> Option<&MockOutcome> {
        self.ranges
            .iter()
            .find(|(from, to, _)| (*from..=*to).contains(&invocation))
            .map(|(_, _, outcome)| outcome)
    }

    /// The task result of the next call, counting calls in `counter`.
    fn answer(&self, counter: &Mutex<u64>, state: &str) -> Result<Value, TaskError> {
        let invocation = {
            let mut count = counter
                .lock()
                .map_err(|_| TaskError::new("LocalSfn.MockFailure", "counter poisoned"))?;
            let current = *count;
            *count += 1;
            current
        };
        match self.outcome(invocation) {
            Some(MockOutcome::Return(value)) => Ok(value.clone()),
            Some(MockOutcome::Throw { error, cause }) => {
                Err(TaskError::new(error.clone(), cause.clone()))
            }
            None => Err(TaskError::new(
                "LocalSfn.MockExhausted",
                format!("no mocked response for invocation {invocation} of state '{state}'"),
            )),
        }
    }
}

/// One test case: the mocked response of each mocked state. The one way to run a definition
/// with mocked task results, whether the case comes from a MockConfigFile or is built in code.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockTestCase {
    mocks: HashMap<String, MockedResponse>,
}

impl MockTestCase {
    /// A case built in code, from responses by state name.
    pub fn new(mocks: HashMap<String, MockedResponse>) -> Self {
        MockTestCase { mocks }
    }

    /// Looks up `StateMachines.<state_machine>.TestCases.<case>` in `mock_config` and parses
    /// every response it names from `MockedResponses`.
    pub fn from_config(
        mock_config: &Value,
        state_machine: &str,
        case: &str,
    ) -> Result<Self, MockError> {
        let test_case = mock_config
            .get("StateMachines")
            .ok_or(MockError::MissingStateMachines)?
            .get(state_machine)
            .ok_or_else(|| MockError::UnknownStateMachine(state_machine.to_string()))?
            .get("TestCases")
            .and_then(|cases| cases.get(case))
            .and_then(Value::as_object)
            .ok_or_else(|| MockError::UnknownTestCase {
                machine: state_machine.to_string(),
                case: case.to_string(),
            })?;
        let responses = mock_config.get("MockedResponses");
        let mut mocks = HashMap::new();
        for (state, response_name) in test_case {
            let response_name =
                response_name
                    .as_str()
                    .ok_or_else(|| MockError::NotAResponseName {
                        case: case.to_string(),
                        state: state.clone(),
                    })?;
            let response = responses
                .and_then(|all| all.get(response_name))
                .ok_or_else(|| MockError::UnknownResponse {
                    case: case.to_string(),
                    state: state.clone(),
                    response: response_name.to_string(),
                })?;
            mocks.insert(
                state.clone(),
                MockedResponse::parse(response_name, response)?,
            );
        }
        Ok(MockTestCase { mocks })
    }

    /// Runs `engine` on `input` as execution `execution_name`, each mocked state answering
    /// from its response (invocations counted per state, retries included) instead of its
    /// handler. Give the engine a [`VirtualClock`](crate::VirtualClock) so Waits and retry
    /// intervals pass at once.
    pub async fn run(
        self,
        mut engine: Engine,
        execution_name: &str,
        input: Value,
    ) -> ExecutionResult {
        for (state, response) in self.mocks {
            let counter = Arc::new(Mutex::new(0u64));
            let response = Arc::new(response);
            let state_name = state.clone();
            engine.register_state_override(state, move |_input: Value, _ctx: TaskContext| {
                let answer = response.answer(&counter, &state_name);
                async move { answer }
            });
        }
        engine
            .start(execution_name, input, StartOptions::default())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::engine::ExecutionStatus;
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
                "dangling": {"Call": "nope"},
                "unnamed": {"Call": 3}
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

    async fn run(case: &str, input: Value) -> ExecutionResult {
        let engine = Engine::from_value(&definition())
            .unwrap()
            .with_clock(Arc::new(VirtualClock::starting_now()));
        MockTestCase::from_config(&config(), "m", case)
            .unwrap()
            .run(engine, case, input)
            .await
    }

    #[tokio::test]
    async fn happy_path_uses_the_returned_value() {
        let result = run("happy", json!({})).await;
        assert_eq!(result.status, ExecutionStatus::Succeeded);
        assert_eq!(result.output, Some(json!({"value": 42})));
        assert_eq!(result.states_path(), vec!["Call", "Done"]);
        assert_eq!(result.name, "happy");
    }

    #[tokio::test]
    async fn ranges_drive_retries_without_real_waiting() {
        let result = run("flaky", json!({})).await;
        assert_eq!(result.status, ExecutionStatus::Succeeded);
        assert_eq!(result.output, Some(json!({"value": 7})));
        assert!(result.stop_date - result.start_date >= chrono::Duration::hours(2));
    }

    #[tokio::test]
    async fn throw_is_caught() {
        let result = run("broken", json!({"k": 1})).await;
        assert_eq!(result.states_path(), vec!["Call", "Recover", "Done"]);
        assert_eq!(
            result.output,
            Some(json!({"k": 1, "error": {"Error": "Boom", "Cause": "broken"}}))
        );
    }

    #[tokio::test]
    async fn running_past_the_last_range_fails_naming_the_state() {
        let mut responses = HashMap::new();
        responses.insert(
            "Call".to_string(),
            MockedResponse::parse("r", &json!({"0": {"Throw": {"Error": "Flaky"}}})).unwrap(),
        );
        let engine = Engine::from_value(&definition())
            .unwrap()
            .with_clock(Arc::new(VirtualClock::starting_now()));
        let result = MockTestCase::new(responses)
            .run(engine, "x", json!({}))
            .await;
        assert_eq!(
            result.output.as_ref().map(|output| &output["error"]),
            Some(&json!({
                "Error": "LocalSfn.MockExhausted",
                "Cause": "no mocked response for invocation 1 of state 'Call'"
            }))
        );
    }

    #[test]
    fn config_errors_are_named() {
        let cfg = config();
        let lookup = |machine: &str, case: &str| MockTestCase::from_config(&cfg, machine, case);
        assert_eq!(
            MockTestCase::from_config(&json!({}), "m", "happy"),
            Err(MockError::MissingStateMachines)
        );
        assert_eq!(
            lookup("x", "happy"),
            Err(MockError::UnknownStateMachine("x".into()))
        );
        assert_eq!(
            lookup("m", "nope").unwrap_err().to_string(),
            r#"state machine "m" has no test case "nope""#
        );
        assert_eq!(
            lookup("m", "dangling").unwrap_err().to_string(),
            r#"test case "dangling" maps state "Call" to "nope", which MockedResponses does not define"#
        );
        assert_eq!(
            lookup("m", "unnamed").unwrap_err().to_string(),
            "TestCases.unnamed.Call must name a mocked response"
        );
        assert_eq!(
            MockedResponse::parse("r", &json!({"a": {"Return": 1}}))
                .unwrap_err()
                .to_string(),
            "invalid mock config: MockedResponses.r: 'a' is not an invocation index or range"
        );
        assert!(matches!(
            MockedResponse::parse("r", &json!({"0": {"Return": 1, "Throw": {"Error": "E"}}})),
            Err(MockError::InvalidResponse { .. })
        ));
        assert!(matches!(
            MockedResponse::parse("r", &json!({"2-1": {"Return": 1}})),
            Err(MockError::InvalidResponse { .. })
        ));
    }
}
