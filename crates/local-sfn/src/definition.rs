//! Typed ASL definitions. Parsing happens once, up front: every path, template, intrinsic call
//! and choice rule is compiled here, and every transition is checked, so a definition that
//! loads can only fail at run time because of its data.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::choice::{ChoiceRule, parse_timestamp};
use crate::error::{DefinitionError, names};
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

// ---- raw serde shapes --------------------------------------------------------------------

fn some_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawMachine {
    start_at: String,
    states: Map<String, Value>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
    #[serde(default)]
    processor_config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "Type")]
#[allow(clippy::large_enum_variant)] // parsed once per state and immediately compiled
enum RawState {
    Task(RawTask),
    Pass(RawPass),
    Choice(RawChoice),
    Wait(RawWait),
    Succeed(RawSucceed),
    Fail(RawFail),
    Map(RawMap),
    Parallel(RawParallel),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawTask {
    resource: String,
    #[serde(default)]
    parameters: Option<Template>,
    #[serde(default)]
    result_selector: Option<Template>,
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    result_path: PathField,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    timeout_seconds_path: Option<JsonPath>,
    #[serde(default)]
    heartbeat_seconds: Option<u64>,
    #[serde(default)]
    heartbeat_seconds_path: Option<JsonPath>,
    #[serde(default)]
    credentials: Option<Value>,
    #[serde(default)]
    retry: Vec<Retrier>,
    #[serde(default)]
    catch: Vec<Catcher>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawPass {
    #[serde(default)]
    parameters: Option<Template>,
    #[serde(default, deserialize_with = "some_value")]
    result: Option<Value>,
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    result_path: PathField,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawChoice {
    choices: Vec<ChoiceRule>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawWait {
    #[serde(default)]
    seconds: Option<u64>,
    #[serde(default)]
    seconds_path: Option<JsonPath>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    timestamp_path: Option<JsonPath>,
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawSucceed {
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawFail {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_path: Option<Dynamic>,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    cause_path: Option<Dynamic>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawMap {
    #[serde(default)]
    items_path: Option<JsonPath>,
    #[serde(default)]
    item_selector: Option<Template>,
    #[serde(default)]
    parameters: Option<Template>,
    #[serde(default)]
    item_processor: Option<Value>,
    #[serde(default)]
    iterator: Option<Value>,
    #[serde(default)]
    max_concurrency: Option<f64>,
    #[serde(default)]
    max_concurrency_path: Option<JsonPath>,
    #[serde(default)]
    tolerated_failure_count: Option<f64>,
    #[serde(default)]
    tolerated_failure_count_path: Option<JsonPath>,
    #[serde(default)]
    tolerated_failure_percentage: Option<f64>,
    #[serde(default)]
    tolerated_failure_percentage_path: Option<JsonPath>,
    #[serde(default)]
    result_selector: Option<Template>,
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    result_path: PathField,
    #[serde(default)]
    retry: Vec<Retrier>,
    #[serde(default)]
    catch: Vec<Catcher>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    item_reader: Option<Value>,
    #[serde(default)]
    item_batcher: Option<Value>,
    #[serde(default)]
    result_writer: Option<Value>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawParallel {
    branches: Vec<Value>,
    #[serde(default)]
    parameters: Option<Template>,
    #[serde(default)]
    result_selector: Option<Template>,
    #[serde(default)]
    input_path: PathField,
    #[serde(default)]
    output_path: PathField,
    #[serde(default)]
    result_path: PathField,
    #[serde(default)]
    retry: Vec<Retrier>,
    #[serde(default)]
    catch: Vec<Catcher>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    query_language: Option<String>,
}

// ---- compilation and validation ----------------------------------------------------------

struct Ctx<'a> {
    state: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::InvalidState {
            state: self.state.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Pulls the field name out of a serde message such as "unknown field `Foo`, expected ...".
fn field_from_serde_message(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "-".to_string())
}

fn check_query_language(ctx: &Ctx<'_>, language: &Option<String>) -> Result<(), DefinitionError> {
    match language.as_deref() {
        None | Some("JSONPath") => Ok(()),
        Some("JSONata") => Err(DefinitionError::Unsupported(format!(
            "state '{}' uses QueryLanguage JSONata; only JSONPath is implemented",
            ctx.state
        ))),
        Some(other) => Err(ctx.err("QueryLanguage", format!("unknown query language '{other}'"))),
    }
}

fn transition(
    ctx: &Ctx<'_>,
    next: Option<String>,
    end: Option<bool>,
) -> Result<Transition, DefinitionError> {
    match (next, end) {
        (Some(next), None | Some(false)) => Ok(Transition::Next(next)),
        (None, Some(true)) => Ok(Transition::End),
        (Some(_), Some(true)) => Err(ctx.err("Next", "a state cannot have both Next and End")),
        (None, _) => Err(ctx.err("Next", "a non-terminal state needs Next or \"End\": true")),
    }
}

fn check_result_path(ctx: &Ctx<'_>, field: &str, path: &PathField) -> Result<(), DefinitionError> {
    if let PathField::Path(p) = path
        && !p.is_reference_path()
    {
        return Err(ctx.err(
            field,
            format!("'{p}' must be a reference path (definite, rooted at '$')"),
        ));
    }
    Ok(())
}

fn check_error_equals(
    ctx: &Ctx<'_>,
    field: &str,
    lists: &[&[String]],
) -> Result<(), DefinitionError> {
    let count = lists.len();
    for (i, list) in lists.iter().enumerate() {
        if list.is_empty() {
            return Err(ctx.err(field, "ErrorEquals must not be empty"));
        }
        if list.iter().any(|e| e == names::ALL) {
            if list.len() != 1 {
                return Err(ctx.err(
                    field,
                    "States.ALL must appear alone in its ErrorEquals array",
                ));
            }
            if i + 1 != count {
                return Err(ctx.err(field, "the entry with States.ALL must be the last one"));
            }
        }
    }
    Ok(())
}

fn error_handling(
    ctx: &Ctx<'_>,
    retry: Vec<Retrier>,
    catch: Vec<Catcher>,
) -> Result<ErrorHandling, DefinitionError> {
    let retry_lists: Vec<&[String]> = retry.iter().map(|r| r.error_equals.as_slice()).collect();
    check_error_equals(ctx, "Retry", &retry_lists)?;
    for retrier in &retry {
        if retrier.interval_seconds < 1.0 || retrier.interval_seconds.fract() != 0.0 {
            return Err(ctx.err("Retry", "IntervalSeconds must be a positive integer"));
        }
        if retrier.backoff_rate < 1.0 {
            return Err(ctx.err("Retry", "BackoffRate must be at least 1.0"));
        }
        if retrier.max_delay_seconds.is_some_and(|d| d < 1.0) {
            return Err(ctx.err("Retry", "MaxDelaySeconds must be at least 1"));
        }
    }
    let catch_lists: Vec<&[String]> = catch.iter().map(|c| c.error_equals.as_slice()).collect();
    check_error_equals(ctx, "Catch", &catch_lists)?;
    for catcher in &catch {
        check_result_path(ctx, "Catch.ResultPath", &catcher.result_path)?;
    }
    Ok(ErrorHandling { retry, catch })
}

fn number_or_path(
    ctx: &Ctx<'_>,
    field: &str,
    number: Option<f64>,
    path: Option<JsonPath>,
) -> Result<Option<NumberOrPath>, DefinitionError> {
    match (number, path) {
        (Some(_), Some(_)) => Err(ctx.err(field, format!("{field} and {field}Path are exclusive"))),
        (Some(n), None) if n < 0.0 => Err(ctx.err(field, "must not be negative")),
        (Some(n), None) => Ok(Some(NumberOrPath::Number(n))),
        (None, Some(p)) => Ok(Some(NumberOrPath::Path(p))),
        (None, None) => Ok(None),
    }
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

    fn compile(value: &Value, scope: &str) -> Result<Self, DefinitionError> {
        let raw: RawMachine = serde_json::from_value(value.clone()).map_err(|e| {
            DefinitionError::Malformed(if scope.is_empty() {
                e.to_string()
            } else {
                format!("in {scope}: {e}")
            })
        })?;
        if let Some("JSONata") = raw.query_language.as_deref() {
            return Err(DefinitionError::Unsupported(
                "QueryLanguage JSONata; only JSONPath is implemented".into(),
            ));
        }
        let _ = (raw.comment, raw.version, raw.processor_config);
        if raw.states.is_empty() {
            return Err(DefinitionError::Malformed(format!(
                "{}States must not be empty",
                if scope.is_empty() {
                    String::new()
                } else {
                    format!("in {scope}: ")
                }
            )));
        }
        let mut states = BTreeMap::new();
        for (name, state_value) in &raw.states {
            states.insert(name.clone(), compile_state(name, state_value)?);
        }
        let machine = StateMachine {
            start_at: raw.start_at,
            states,
            timeout_seconds: raw.timeout_seconds,
        };
        machine.check_targets(scope)?;
        Ok(machine)
    }

    fn check_targets(&self, scope: &str) -> Result<(), DefinitionError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(DefinitionError::UnknownTarget {
                state: if scope.is_empty() {
                    "(top level)".into()
                } else {
                    scope.to_string()
                },
                field: "StartAt".into(),
                target: self.start_at.clone(),
            });
        }
        for (name, state) in &self.states {
            let mut targets: Vec<(&str, &str)> = Vec::new();
            let transition = match &state.kind {
                StateKind::Task(t) => Some(&t.transition),
                StateKind::Pass(p) => Some(&p.transition),
                StateKind::Wait(w) => Some(&w.transition),
                StateKind::Map(m) => Some(&m.transition),
                StateKind::Parallel(p) => Some(&p.transition),
                _ => None,
            };
            if let Some(Transition::Next(next)) = transition {
                targets.push(("Next", next));
            }
            let errors = match &state.kind {
                StateKind::Task(t) => Some(&t.errors),
                StateKind::Map(m) => Some(&m.errors),
                StateKind::Parallel(p) => Some(&p.errors),
                _ => None,
            };
            if let Some(errors) = errors {
                for catcher in &errors.catch {
                    targets.push(("Catch.Next", &catcher.next));
                }
            }
            if let StateKind::Choice(choice) = &state.kind {
                for rule in &choice.choices {
                    targets.push(("Choices.Next", &rule.next));
                }
                if let Some(default) = &choice.default {
                    targets.push(("Default", default));
                }
            }
            for (field, target) in targets {
                if !self.states.contains_key(target) {
                    return Err(DefinitionError::UnknownTarget {
                        state: name.clone(),
                        field: field.into(),
                        target: target.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Looks a state up by name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}

fn compile_state(name: &str, value: &Value) -> Result<State, DefinitionError> {
    let ctx = Ctx { state: name };
    let raw: RawState = serde_json::from_value(value.clone()).map_err(|e| {
        let message = e.to_string();
        ctx.err(&field_from_serde_message(&message), message)
    })?;
    let kind = match raw {
        RawState::Task(t) => {
            check_query_language(&ctx, &t.query_language)?;
            let _ = (t.comment, t.credentials);
            if t.heartbeat_seconds.is_some() || t.heartbeat_seconds_path.is_some() {
                tracing::debug!(
                    state = name,
                    "HeartbeatSeconds is accepted but not enforced"
                );
            }
            if t.timeout_seconds.is_some() && t.timeout_seconds_path.is_some() {
                return Err(ctx.err(
                    "TimeoutSeconds",
                    "TimeoutSeconds and TimeoutSecondsPath are exclusive",
                ));
            }
            if t.timeout_seconds == Some(0) {
                return Err(ctx.err("TimeoutSeconds", "must be a positive integer"));
            }
            check_result_path(&ctx, "ResultPath", &t.result_path)?;
            if t.resource.is_empty() {
                return Err(ctx.err("Resource", "must not be empty"));
            }
            StateKind::Task(Box::new(TaskState {
                resource: t.resource,
                parameters: t.parameters,
                result_selector: t.result_selector,
                input_path: t.input_path,
                output_path: t.output_path,
                result_path: t.result_path,
                timeout_seconds: t.timeout_seconds,
                timeout_seconds_path: t.timeout_seconds_path,
                errors: error_handling(&ctx, t.retry, t.catch)?,
                transition: transition(&ctx, t.next, t.end)?,
            }))
        }
        RawState::Pass(p) => {
            check_query_language(&ctx, &p.query_language)?;
            let _ = p.comment;
            check_result_path(&ctx, "ResultPath", &p.result_path)?;
            StateKind::Pass(PassState {
                parameters: p.parameters,
                result: p.result,
                input_path: p.input_path,
                output_path: p.output_path,
                result_path: p.result_path,
                transition: transition(&ctx, p.next, p.end)?,
            })
        }
        RawState::Choice(c) => {
            check_query_language(&ctx, &c.query_language)?;
            let _ = c.comment;
            if c.choices.is_empty() {
                return Err(ctx.err("Choices", "must contain at least one rule"));
            }
            StateKind::Choice(ChoiceState {
                choices: c.choices,
                default: c.default,
                input_path: c.input_path,
                output_path: c.output_path,
            })
        }
        RawState::Wait(w) => {
            check_query_language(&ctx, &w.query_language)?;
            let _ = w.comment;
            let mut options = Vec::new();
            if let Some(s) = w.seconds {
                options.push(WaitFor::Seconds(s));
            }
            if let Some(p) = w.seconds_path {
                if !p.is_reference_path() {
                    return Err(ctx.err("SecondsPath", "must be a reference path"));
                }
                options.push(WaitFor::SecondsPath(p));
            }
            if let Some(t) = w.timestamp {
                if parse_timestamp(&t).is_none() {
                    return Err(ctx.err("Timestamp", format!("'{t}' is not an RFC 3339 timestamp")));
                }
                options.push(WaitFor::Timestamp(t));
            }
            if let Some(p) = w.timestamp_path {
                if !p.is_reference_path() {
                    return Err(ctx.err("TimestampPath", "must be a reference path"));
                }
                options.push(WaitFor::TimestampPath(p));
            }
            if options.len() != 1 {
                return Err(ctx.err(
                    "Seconds",
                    "exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required",
                ));
            }
            StateKind::Wait(WaitState {
                wait: options.remove(0),
                input_path: w.input_path,
                output_path: w.output_path,
                transition: transition(&ctx, w.next, w.end)?,
            })
        }
        RawState::Succeed(s) => {
            check_query_language(&ctx, &s.query_language)?;
            let _ = s.comment;
            StateKind::Succeed(SucceedState {
                input_path: s.input_path,
                output_path: s.output_path,
            })
        }
        RawState::Fail(f) => {
            check_query_language(&ctx, &f.query_language)?;
            let _ = f.comment;
            let error = match (f.error, f.error_path) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err("Error", "Error and ErrorPath are exclusive"));
                }
                (Some(e), None) => Some(FailText::Fixed(e)),
                (None, Some(p)) => Some(FailText::Computed(p)),
                (None, None) => None,
            };
            let cause = match (f.cause, f.cause_path) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err("Cause", "Cause and CausePath are exclusive"));
                }
                (Some(c), None) => Some(FailText::Fixed(c)),
                (None, Some(p)) => Some(FailText::Computed(p)),
                (None, None) => None,
            };
            StateKind::Fail(FailState { error, cause })
        }
        RawState::Map(m) => {
            check_query_language(&ctx, &m.query_language)?;
            let _ = (m.comment, m.label);
            if m.item_reader.is_some() || m.item_batcher.is_some() || m.result_writer.is_some() {
                return Err(DefinitionError::Unsupported(format!(
                    "state '{name}': ItemReader, ItemBatcher and ResultWriter (Distributed Map over S3) are not implemented"
                )));
            }
            let item_selector = match (m.item_selector, m.parameters) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        "ItemSelector",
                        "ItemSelector and the legacy Parameters are exclusive",
                    ));
                }
                (selector, legacy) => selector.or(legacy),
            };
            let processor_value = match (m.item_processor, m.iterator) {
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        "ItemProcessor",
                        "ItemProcessor and the legacy Iterator are exclusive",
                    ));
                }
                (Some(p), None) | (None, Some(p)) => p,
                (None, None) => {
                    return Err(ctx.err("ItemProcessor", "a Map state needs ItemProcessor"));
                }
            };
            let processor = StateMachine::compile(&processor_value, &format!("Map '{name}'"))?;
            check_result_path(&ctx, "ResultPath", &m.result_path)?;
            StateKind::Map(Box::new(MapState {
                items_path: m.items_path,
                item_selector,
                processor: Arc::new(processor),
                max_concurrency: number_or_path(
                    &ctx,
                    "MaxConcurrency",
                    m.max_concurrency,
                    m.max_concurrency_path,
                )?,
                tolerated_failure_count: number_or_path(
                    &ctx,
                    "ToleratedFailureCount",
                    m.tolerated_failure_count,
                    m.tolerated_failure_count_path,
                )?,
                tolerated_failure_percentage: number_or_path(
                    &ctx,
                    "ToleratedFailurePercentage",
                    m.tolerated_failure_percentage,
                    m.tolerated_failure_percentage_path,
                )?,
                result_selector: m.result_selector,
                input_path: m.input_path,
                output_path: m.output_path,
                result_path: m.result_path,
                errors: error_handling(&ctx, m.retry, m.catch)?,
                transition: transition(&ctx, m.next, m.end)?,
            }))
        }
        RawState::Parallel(p) => {
            check_query_language(&ctx, &p.query_language)?;
            let _ = p.comment;
            if p.branches.is_empty() {
                return Err(ctx.err("Branches", "must contain at least one branch"));
            }
            let mut branches = Vec::with_capacity(p.branches.len());
            for (i, branch) in p.branches.iter().enumerate() {
                branches.push(Arc::new(StateMachine::compile(
                    branch,
                    &format!("Parallel '{name}' branch {i}"),
                )?));
            }
            check_result_path(&ctx, "ResultPath", &p.result_path)?;
            StateKind::Parallel(ParallelState {
                branches,
                parameters: p.parameters,
                result_selector: p.result_selector,
                input_path: p.input_path,
                output_path: p.output_path,
                result_path: p.result_path,
                errors: error_handling(&ctx, p.retry, p.catch)?,
                transition: transition(&ctx, p.next, p.end)?,
            })
        }
    };
    Ok(State {
        name: name.to_string(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(states: Value) -> Result<StateMachine, DefinitionError> {
        StateMachine::from_value(&json!({"StartAt": "A", "States": states}))
    }

    #[test]
    fn valid_definition_loads() {
        let machine = load(json!({
            "A": {"Type": "Pass", "Result": null, "ResultPath": "$.r", "Next": "B"},
            "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "f", "Payload.$": "$"},
                  "Retry": [{"ErrorEquals": ["X"]}, {"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
            "C": {"Type": "Fail", "Error": "E", "CausePath": "States.Format('x{}', $.a)"}
        }))
        .unwrap();
        let StateKind::Pass(pass) = &machine.state("A").unwrap().kind else {
            panic!("A is a Pass state");
        };
        assert_eq!(pass.result, Some(Value::Null));
        let StateKind::Task(task) = &machine.state("B").unwrap().kind else {
            panic!("B is a Task state");
        };
        assert_eq!(task.errors.retry[0].max_attempts, 3);
        assert_eq!(task.errors.retry[0].backoff_rate, 2.0);
        assert_eq!(task.errors.retry[0].interval_seconds, 1.0);
    }

    #[test]
    fn errors_name_state_and_field() {
        let cases = [
            (
                json!({"A": {"Type": "Pass", "Bogus": 1, "End": true}}),
                "A",
                "Bogus",
            ),
            (json!({"A": {"Type": "Task", "End": true}}), "A", "Resource"),
            (json!({"A": {"Type": "Pass"}}), "A", "Next"),
            (
                json!({"A": {"Type": "Pass", "Next": "B", "End": true}}),
                "A",
                "Next",
            ),
            (json!({"A": {"Type": "Wait", "End": true}}), "A", "Seconds"),
            (
                json!({"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}}),
                "A",
                "Seconds",
            ),
            (
                json!({"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}),
                "A",
                "ResultPath",
            ),
            (
                json!({"A": {"Type": "Fail", "Error": "x", "ErrorPath": "$.e"}}),
                "A",
                "Error",
            ),
            (
                json!({"A": {"Type": "Task", "Resource": "r", "End": true,
                          "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}}),
                "A",
                "Retry",
            ),
            (
                json!({"A": {"Type": "Task", "Resource": "r", "End": true,
                          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"},
                                    {"ErrorEquals": ["X"], "Next": "A"}]}}),
                "A",
                "Catch",
            ),
        ];
        for (states, state, field) in cases {
            match load(states.clone()) {
                Err(DefinitionError::InvalidState {
                    state: s, field: f, ..
                }) => {
                    assert_eq!((s.as_str(), f.as_str()), (state, field), "{states}");
                }
                other => panic!("{states}: expected InvalidState, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_targets_are_reported() {
        let err = load(json!({"A": {"Type": "Pass", "Next": "Nowhere"}})).unwrap_err();
        assert_eq!(
            err,
            DefinitionError::UnknownTarget {
                state: "A".into(),
                field: "Next".into(),
                target: "Nowhere".into()
            }
        );
        let err = StateMachine::from_value(
            &json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}}),
        )
        .unwrap_err();
        assert!(matches!(err, DefinitionError::UnknownTarget { field, .. } if field == "StartAt"));
        let err = load(json!({"A": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "IsPresent": true, "Next": "Gone"}]}}))
        .unwrap_err();
        assert!(
            matches!(err, DefinitionError::UnknownTarget { field, .. } if field == "Choices.Next")
        );
    }

    #[test]
    fn jsonata_is_a_named_unsupported_error() {
        let err = StateMachine::from_value(&json!({"QueryLanguage": "JSONata", "StartAt": "A",
            "States": {"A": {"Type": "Succeed"}}}))
        .unwrap_err();
        assert!(matches!(err, DefinitionError::Unsupported(_)));
        let err = load(json!({"A": {"Type": "Pass", "QueryLanguage": "JSONata", "End": true}}))
            .unwrap_err();
        assert!(matches!(err, DefinitionError::Unsupported(_)));
    }

    #[test]
    fn nested_machines_are_validated() {
        let err = load(json!({"A": {"Type": "Map", "End": true, "ItemProcessor": {
            "StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}}}))
        .unwrap_err();
        assert!(matches!(err, DefinitionError::UnknownTarget { target, .. } if target == "Y"));
        let err = load(json!({"A": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Task", "End": true}}}]}}))
        .unwrap_err();
        assert!(
            matches!(err, DefinitionError::InvalidState { state, field, .. } if state == "X" && field == "Resource")
        );
    }

    #[test]
    fn retry_delay_formula() {
        let retrier: Retrier = serde_json::from_value(json!({
            "ErrorEquals": ["X"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxDelaySeconds": 30
        }))
        .unwrap();
        let delays: Vec<f64> = (0..4).map(|a| retrier.base_delay_seconds(a)).collect();
        assert_eq!(delays, vec![2.0, 6.0, 18.0, 30.0]);
    }
}
