//! Typed ASL definitions. Parsing happens once, up front: every path, template, intrinsic call
//! and choice rule is compiled here, and every transition is checked, so a definition that
//! loads can only fail at run time because of its data.

mod compile;
mod raw;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::choice::ChoiceRule;
use crate::error::DefinitionError;
use crate::intrinsics::{self, Expr, looks_like_intrinsic};
use crate::jsonpath::JsonPath;

/// A whole state machine, or the sub-machine of a Map iteration or Parallel branch.
#[derive(Debug, Clone)]
pub struct StateMachine {
    /// The first state.
    pub start_at: String,
    /// States by name.
    pub states: BTreeMap<String, State>,
    /// Execution-wide timeout; `States.Timeout` when exceeded.
    pub timeout_seconds: Option<u64>,
}

/// A state and the fields every state type shares.
#[derive(Debug, Clone)]
pub struct State {
    /// The state's name (its key in `States`).
    pub name: String,
    /// The type-specific part.
    pub kind: StateKind,
}

/// The eight ASL state types.
#[derive(Debug, Clone)]
pub enum StateKind {
    /// Hands work to a registered handler; the only state that talks to the outside world.
    /// Boxed because it is much larger than the other variants.
    Task(Box<TaskState>),
    /// Reshapes data without side effects, e.g. to seed defaults before a Choice.
    Pass(PassState),
    /// Branches on the input; it never changes data, only picks the next state.
    Choice(ChoiceState),
    /// Pauses on the engine's clock, which a virtual clock can skip in tests.
    Wait(WaitState),
    /// Ends the (sub-)machine successfully, e.g. as the target of a Choice branch.
    Succeed(SucceedState),
    /// Ends the (sub-)machine with an error that enclosing Catchers can handle.
    Fail(FailState),
    /// Runs a sub-machine once per array item (inline Map only); boxed for its size.
    Map(Box<MapState>),
    /// Runs several sub-machines on the same input concurrently.
    Parallel(ParallelState),
}

impl StateKind {
    /// The `Type` string, used as the prefix of history event names (`TaskStateEntered`).
    pub fn type_name(&self) -> &'static str {
        match self {
            StateKind::Task(_) => "Task",
            StateKind::Pass(_) => "Pass",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed(_) => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Map(_) => "Map",
            StateKind::Parallel(_) => "Parallel",
        }
    }
}

/// InputPath/OutputPath/ResultPath: absent (default `$`), `null` (special meaning) or a path.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PathField {
    /// Not given: behaves as `$`.
    #[default]
    Default,
    /// Explicit `null`: `{}` for Input/OutputPath, "discard the result" for ResultPath.
    Null,
    /// A path.
    Path(JsonPath),
}

impl<'de> Deserialize<'de> for PathField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(PathField::Null),
            Some(text) => JsonPath::parse(&text)
                .map(PathField::Path)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A string computed at run time from a path or an intrinsic call (Fail's ErrorPath/CausePath,
/// the values of `.$` keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Dynamic {
    /// `$...` or `$$...`.
    Path(JsonPath),
    /// `States.X(...)`.
    Intrinsic(Expr),
}

impl Dynamic {
    fn parse(text: &str) -> Result<Self, String> {
        if looks_like_intrinsic(text) {
            intrinsics::parse(text)
                .map(Dynamic::Intrinsic)
                .map_err(|e| e.to_string())
        } else {
            JsonPath::parse(text)
                .map(Dynamic::Path)
                .map_err(|e| e.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Dynamic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Dynamic::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A payload template (Parameters, ItemSelector, ResultSelector) with `.$` keys compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// Copied as is.
    Literal(Value),
    /// An object whose members are templates (keys have `.$` removed).
    Object(Vec<(String, Template)>),
    /// An array of templates.
    Array(Vec<Template>),
    /// The value of a `.$` key.
    Dynamic(Dynamic),
}

impl Template {
    /// Compiles a template from its JSON form.
    pub fn compile(value: &Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => {
                let mut members = Vec::with_capacity(map.len());
                for (key, member) in map {
                    if let Some(stripped) = key.strip_suffix(".$") {
                        let text = member
                            .as_str()
                            .ok_or_else(|| format!("the value of '{key}' must be a string"))?;
                        let dynamic = Dynamic::parse(text).map_err(|e| format!("'{key}': {e}"))?;
                        members.push((stripped.to_string(), Template::Dynamic(dynamic)));
                    } else {
                        members.push((key.clone(), Template::compile(member)?));
                    }
                }
                Ok(Template::Object(members))
            }
            Value::Array(items) => items
                .iter()
                .map(Template::compile)
                .collect::<Result<Vec<_>, _>>()
                .map(Template::Array),
            other => Ok(Template::Literal(other.clone())),
        }
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Template::compile(&value).map_err(serde::de::Error::custom)
    }
}

/// `Next` or `End`.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Go to the named state.
    Next(String),
    /// The (sub-)machine ends here.
    End,
}

/// JitterStrategy of a retrier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Jitter {
    /// Wait exactly the computed interval.
    #[default]
    None,
    /// Wait a random time between 0 and the computed interval.
    Full,
}

fn default_interval() -> f64 {
    1.0
}
fn default_attempts() -> u32 {
    3
}
fn default_backoff() -> f64 {
    2.0
}

/// One entry of `Retry`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Retrier {
    /// Error names this retrier handles.
    pub error_equals: Vec<String>,
    /// First delay in seconds.
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    /// Retries allowed per state visit (0 = never).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Multiplier applied to the interval after each attempt.
    #[serde(default = "default_backoff")]
    pub backoff_rate: f64,
    /// Upper bound on one delay.
    #[serde(default)]
    pub max_delay_seconds: Option<f64>,
    /// Randomisation of the delay.
    #[serde(default)]
    pub jitter_strategy: Jitter,
    /// Ignored.
    #[serde(default)]
    pub comment: Option<String>,
}

impl Retrier {
    /// The delay before retry number `attempt` (0-based) before jitter, as Step Functions
    /// computes it: `IntervalSeconds * BackoffRate^attempt`, capped by MaxDelaySeconds.
    pub fn base_delay_seconds(&self, attempt: u32) -> f64 {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let delay = self.interval_seconds * self.backoff_rate.powi(exponent);
        match self.max_delay_seconds {
            Some(cap) if delay > cap => cap,
            _ => delay,
        }
    }
}

/// One entry of `Catch`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Catcher {
    /// Error names this catcher handles.
    pub error_equals: Vec<String>,
    /// Where to go.
    pub next: String,
    /// Where to put `{"Error","Cause"}` in the state input.
    #[serde(default)]
    pub result_path: PathField,
    /// Ignored.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Fields shared by Task, Map and Parallel (the states that have Retry/Catch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorHandling {
    /// Retriers, scanned in order.
    pub retry: Vec<Retrier>,
    /// Catchers, scanned in order.
    pub catch: Vec<Catcher>,
}

/// A Task state.
#[derive(Debug, Clone)]
pub struct TaskState {
    /// The `Resource` ARN: selects the integration (`lambda:invoke`, a Lambda ARN, SQS)
    /// unless a handler is registered for this state by name. Must not be empty.
    pub resource: String,
    /// `Parameters`: the template that builds the request from the effective input, so the
    /// handler sees only what it needs.
    pub parameters: Option<Template>,
    /// `ResultSelector`: trims the raw result (e.g. the Lambda envelope) before `ResultPath`
    /// merges it.
    pub result_selector: Option<Template>,
    /// `InputPath`: which part of the state input the state works on.
    pub input_path: PathField,
    /// `OutputPath`: which part of the merged output is passed on.
    pub output_path: PathField,
    /// `ResultPath`: where the result lands in the state input; must be a reference path
    /// (`null` discards the result and keeps the input).
    pub result_path: PathField,
    /// `TimeoutSeconds`: a hung handler fails with `States.Timeout` instead of stalling the
    /// execution. Must be positive; exclusive with `TimeoutSecondsPath`.
    pub timeout_seconds: Option<u64>,
    /// `TimeoutSecondsPath`: the same limit read from the input at run time, so callers can
    /// tune it per execution.
    pub timeout_seconds_path: Option<JsonPath>,
    /// `Retry` and `Catch`, applied to failures of the handler call.
    pub errors: ErrorHandling,
    /// `Next` or `End`; exactly one must be given.
    pub transition: Transition,
}

/// A Pass state.
#[derive(Debug, Clone)]
pub struct PassState {
    /// `Parameters`: a template applied to the effective input when no `Result` is given.
    pub parameters: Option<Template>,
    /// `Result`: a fixed value used instead of the input; `Some(Value::Null)` when the
    /// definition says `null`, so that differs from an absent field.
    pub result: Option<Value>,
    /// `InputPath`: which part of the state input is used.
    pub input_path: PathField,
    /// `OutputPath`: which part of the merged output is passed on.
    pub output_path: PathField,
    /// `ResultPath`: where the result lands in the state input; must be a reference path.
    pub result_path: PathField,
    /// `Next` or `End`; exactly one must be given.
    pub transition: Transition,
}

/// A Choice state.
#[derive(Debug, Clone)]
pub struct ChoiceState {
    /// `Choices`: rules tried in order, the first true one wins; at least one is required.
    pub choices: Vec<ChoiceRule>,
    /// `Default`: where to go when no rule matches; without it that case fails with
    /// `States.NoChoiceMatched`.
    pub default: Option<String>,
    /// `InputPath`: the part of the input the rules see (and that is passed on).
    pub input_path: PathField,
    /// `OutputPath`: which part of the effective input is passed on.
    pub output_path: PathField,
}

/// How long a Wait state waits.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    /// `Seconds`: a fixed delay.
    Seconds(u64),
    /// `SecondsPath`: a delay read from the input; it must be a reference path and, at run
    /// time, a non-negative integer, else `States.Runtime`.
    SecondsPath(JsonPath),
    /// `Timestamp`: wait until this instant (validated at load; no wait if it has passed).
    Timestamp(String),
    /// `TimestampPath`: the instant read from the input, so a plan can schedule a later step.
    TimestampPath(JsonPath),
}

/// A Wait state.
#[derive(Debug, Clone)]
pub struct WaitState {
    /// How long to wait; the definition must give exactly one of the four forms.
    pub wait: WaitFor,
    /// `InputPath`: the part of the input that path-based waits read and that is passed on.
    pub input_path: PathField,
    /// `OutputPath`: which part of the effective input is passed on.
    pub output_path: PathField,
    /// `Next` or `End`; exactly one must be given.
    pub transition: Transition,
}

/// A Succeed state.
#[derive(Debug, Clone)]
pub struct SucceedState {
    /// `InputPath`: which part of the input becomes the (sub-)machine's output.
    pub input_path: PathField,
    /// `OutputPath`: a further selection applied after `InputPath`.
    pub output_path: PathField,
}

/// Error or Cause of a Fail state: fixed or computed.
#[derive(Debug, Clone, PartialEq)]
pub enum FailText {
    /// `Error`/`Cause`: a literal string.
    Fixed(String),
    /// `ErrorPath`/`CausePath`: taken from the input or an intrinsic at run time, so one Fail
    /// state can re-raise a caught error; must yield a string, else `States.Runtime`.
    Computed(Dynamic),
}

/// A Fail state.
#[derive(Debug, Clone)]
pub struct FailState {
    /// `Error` or `ErrorPath`: the error name Catchers match on; empty when absent.
    pub error: Option<FailText>,
    /// `Cause` or `CausePath`: the human-readable detail; empty when absent.
    pub cause: Option<FailText>,
}

/// A number given literally or through a path (MaxConcurrency, ToleratedFailure*).
#[derive(Debug, Clone, PartialEq)]
pub enum NumberOrPath {
    /// The plain field, fixed in the definition.
    Number(f64),
    /// The `*Path` field, read from the effective input so a caller can tune it per run.
    Path(JsonPath),
}

/// A Map state.
#[derive(Debug, Clone)]
pub struct MapState {
    /// `ItemsPath`: where the array lives in the effective input (the whole input when
    /// absent); anything but an array fails with `States.Runtime`.
    pub items_path: Option<JsonPath>,
    /// `ItemSelector` (or the legacy `Parameters`, exclusive with it): builds each
    /// iteration's input, with `$$.Map.Item.Index`/`Value` available.
    pub item_selector: Option<Template>,
    /// `ItemProcessor` (or the legacy `Iterator`): the sub-machine run per item; shared so
    /// concurrent iterations need not clone it.
    pub processor: Arc<StateMachine>,
    /// `MaxConcurrency`(`Path`): iterations in flight at once; 0 or absent means the
    /// inline-Map cap of 40, which also bounds larger values.
    pub max_concurrency: Option<NumberOrPath>,
    /// `ToleratedFailureCount`(`Path`): failed iterations allowed before the state fails
    /// with `States.ExceedToleratedFailureThreshold`; must not be negative.
    pub tolerated_failure_count: Option<NumberOrPath>,
    /// `ToleratedFailurePercentage`(`Path`): the same allowance as a share of all items;
    /// must not be negative.
    pub tolerated_failure_percentage: Option<NumberOrPath>,
    /// `ResultSelector`: reshapes the array of iteration outputs before `ResultPath`.
    pub result_selector: Option<Template>,
    /// `InputPath`: which part of the state input the state works on.
    pub input_path: PathField,
    /// `OutputPath`: which part of the merged output is passed on.
    pub output_path: PathField,
    /// `ResultPath`: where the results array lands in the state input; must be a reference
    /// path.
    pub result_path: PathField,
    /// `Retry` and `Catch`; a retry reruns every iteration.
    pub errors: ErrorHandling,
    /// `Next` or `End`; exactly one must be given.
    pub transition: Transition,
}

/// A Parallel state.
#[derive(Debug, Clone)]
pub struct ParallelState {
    /// `Branches`: the sub-machines, each given the same input; at least one is required.
    /// Shared so concurrent runs need not clone them.
    pub branches: Vec<Arc<StateMachine>>,
    /// `Parameters`: a template building the input every branch receives.
    pub parameters: Option<Template>,
    /// `ResultSelector`: reshapes the array of branch outputs before `ResultPath`.
    pub result_selector: Option<Template>,
    /// `InputPath`: which part of the state input the state works on.
    pub input_path: PathField,
    /// `OutputPath`: which part of the merged output is passed on.
    pub output_path: PathField,
    /// `ResultPath`: where the outputs array lands in the state input; must be a reference
    /// path.
    pub result_path: PathField,
    /// `Retry` and `Catch`: one failed branch cancels the others and fails the state, and a
    /// retry reruns every branch.
    pub errors: ErrorHandling,
    /// `Next` or `End`; exactly one must be given.
    pub transition: Transition,
}

impl StateMachine {
    /// Parses and validates a definition given as JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, DefinitionError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| DefinitionError::Malformed(e.to_string()))?;
        StateMachine::from_value(&value)
    }

    /// Parses and validates a definition given as a JSON value.
    pub fn from_value(value: &Value) -> Result<Self, DefinitionError> {
        StateMachine::compile(value, "")
    }

    /// Looks a state up by name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}
