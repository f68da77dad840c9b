//! The interpreter: runs a [`StateMachine`] with registered handlers, producing the status,
//! output and history that Step Functions would.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use md5::Digest as _;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::choice::{parse_timestamp, string_matches};
use crate::clock::{Clock, RealClock};
use crate::definition::{
    Dynamic, ErrorHandling, FailText, NumberOrPath, PathField, State, StateKind, StateMachine,
    Template, Transition, WaitFor,
};
use crate::error::{DefinitionError, Failure, TaskError, names};
use crate::handlers::{QueueHandler, QueueMessage, TaskContext, TaskHandler};
use crate::history::{History, HistoryEvent, Track};
use crate::intrinsics;
use crate::jsonpath::{JsonPath, Root};

/// Step Functions' payload limit (bytes of UTF-8 JSON) for a task result.
const MAX_PAYLOAD_BYTES: usize = 262_144;
/// Inline Map never runs more than this many iterations at once on AWS.
const INLINE_MAP_CONCURRENCY_CAP: usize = 40;

const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
const SQS_SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";

/// How an execution ended, spelled as Step Functions spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// The machine reached a Succeed state or an `End`; only this status carries output.
    Succeeded,
    /// An error (a task's, a Fail state's or the engine's) escaped every Catch; error and
    /// cause say which.
    Failed,
    /// The machine-level `TimeoutSeconds` passed first; reported as `States.Timeout`.
    TimedOut,
    /// The caller's [`AbortHandle`] fired; no error or cause is reported.
    Aborted,
}

impl ExecutionStatus {
    /// The AWS spelling (`SUCCEEDED`, `TIMED_OUT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// The outcome of [`Engine::start`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResult {
    /// The execution's ARN (synthetic, in the configured region/account).
    pub execution_arn: String,
    /// The name passed to `start`.
    pub name: String,
    /// Final status.
    pub status: ExecutionStatus,
    /// Output on success.
    pub output: Option<Value>,
    /// Error name on failure or timeout.
    pub error: Option<String>,
    /// Cause on failure or timeout.
    pub cause: Option<String>,
    /// When the execution started, on the engine's clock.
    pub start_date: DateTime<Utc>,
    /// When it stopped.
    pub stop_date: DateTime<Utc>,
    /// Every event, in order.
    pub history: Vec<HistoryEvent>,
}

impl ExecutionResult {
    /// Names of the top-level states entered, in order (Map iterations and Parallel branches
    /// are not included).
    pub fn states_path(&self) -> Vec<String> {
        self.history
            .iter()
            .filter(|e| !e.nested)
            .filter_map(HistoryEvent::entered_state_name)
            .map(str::to_string)
            .collect()
    }

    /// Names of every state entered at any depth, in history order.
    pub fn all_states_entered(&self) -> Vec<String> {
        self.history
            .iter()
            .filter_map(HistoryEvent::entered_state_name)
            .map(str::to_string)
            .collect()
    }
}

/// Lets the caller stop a running execution, which then ends as ABORTED.
#[derive(Debug, Clone)]
pub struct AbortHandle {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for AbortHandle {
    fn default() -> Self {
        AbortHandle {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl AbortHandle {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        AbortHandle::default()
    }

    /// Stops the execution(s) started with this handle.
    pub fn abort(&self) {
        self.sender.send_replace(true);
    }

    async fn aborted(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|aborted| *aborted).await;
    }
}

/// Per-execution options.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// `$$.Execution.RoleArn`; a synthetic role when absent.
    pub role_arn: Option<String>,
    /// Aborts the execution when triggered.
    pub abort: Option<AbortHandle>,
}

/// Identity of the simulated state machine, used in ARNs and the context object.
#[derive(Debug, Clone)]
pub struct EngineIdentity {
    /// `$$.StateMachine.Name`.
    pub state_machine_name: String,
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account: String,
}

impl Default for EngineIdentity {
    fn default() -> Self {
        EngineIdentity {
            state_machine_name: "local".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }
}

/// A loaded definition plus the handlers that run its tasks; cheap to clone, and one engine
/// can run any number of executions concurrently.
#[derive(Clone)]
pub struct Engine {
    machine: Arc<StateMachine>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    identity: EngineIdentity,
}

#[derive(Clone, Default)]
struct Registry {
    tasks: Vec<(String, Arc<dyn TaskHandler>)>,
    queues: Vec<(String, Arc<dyn QueueHandler>)>,
    state_overrides: HashMap<String, Arc<dyn TaskHandler>>,
}

impl Registry {
    fn find_task(&self, key: &str) -> Option<Arc<dyn TaskHandler>> {
        let short = lambda_function_name(key);
        self.tasks
            .iter()
            .find(|(k, _)| k == key || short.is_some_and(|s| k == s))
            .or_else(|| {
                self.tasks
                    .iter()
                    .find(|(k, _)| k.contains('*') && string_matches(key, k))
            })
            .map(|(_, h)| h.clone())
    }

    fn find_queue(&self, url: &str) -> Option<Arc<dyn QueueHandler>> {
        self.queues
            .iter()
            .find(|(k, _)| k == url)
            .or_else(|| {
                self.queues
                    .iter()
                    .find(|(k, _)| k.contains('*') && string_matches(url, k))
            })
            .map(|(_, h)| h.clone())
    }
}

/// `my-fn` from `arn:aws:lambda:r:a:function:my-fn[:alias]` or `a:function:my-fn`.
fn lambda_function_name(name_or_arn: &str) -> Option<&str> {
    let (_, rest) = name_or_arn.split_once(":function:")?;
    Some(rest.split(':').next().unwrap_or(rest))
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("start_at", &self.machine.start_at)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Loads a definition from JSON text.
    pub fn from_json_str(definition: &str) -> Result<Self, DefinitionError> {
        Ok(Engine::new(StateMachine::from_json_str(definition)?))
    }

    /// Loads a definition from a JSON value.
    pub fn from_value(definition: &Value) -> Result<Self, DefinitionError> {
        Ok(Engine::new(StateMachine::from_value(definition)?))
    }

    /// Wraps an already parsed definition; runs on the real clock until told otherwise.
    pub fn new(machine: StateMachine) -> Self {
        Engine {
            machine: Arc::new(machine),
            registry: Arc::new(Registry::default()),
            clock: Arc::new(RealClock),
            identity: EngineIdentity::default(),
        }
    }

    /// The parsed definition.
    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Replaces the clock (use [`crate::VirtualClock`] to fast-forward Waits and retries).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the names used in ARNs and `$$.StateMachine`.
    pub fn with_identity(mut self, identity: EngineIdentity) -> Self {
        self.identity = identity;
        self
    }

    fn registry_mut(&mut self) -> &mut Registry {
        Arc::make_mut(&mut self.registry)
    }

    /// Registers a handler for a Lambda function (matched against `FunctionName` of
    /// `lambda:invoke`, by exact text or by the function-name part of an ARN) or for any other
    /// resource ARN. `*` in `key` is a wildcard.
    pub fn register_task(&mut self, key: impl Into<String>, handler: impl TaskHandler + 'static) {
        self.registry_mut()
            .tasks
            .push((key.into(), Arc::new(handler)));
    }

    /// Registers the receiver of `sqs:sendMessage` for a `QueueUrl` (`*` is a wildcard).
    pub fn register_queue(
        &mut self,
        queue_url: impl Into<String>,
        handler: impl QueueHandler + 'static,
    ) {
        self.registry_mut()
            .queues
            .push((queue_url.into(), Arc::new(handler)));
    }

    /// Replaces whatever a Task state's resource would do with `handler`, which receives the
    /// state's effective parameters and returns the raw task result (no Lambda wrapper), the
    /// way mocked responses behave in Step Functions Local.
    pub fn register_state_override(
        &mut self,
        state_name: impl Into<String>,
        handler: impl TaskHandler + 'static,
    ) {
        self.registry_mut()
            .state_overrides
            .insert(state_name.into(), Arc::new(handler));
    }

    /// Runs one execution to completion.
    pub async fn start(&self, name: &str, input: Value, options: StartOptions) -> ExecutionResult {
        let start = self.clock.now();
        let id = &self.identity;
        let state_machine_arn = format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            id.region, id.account, id.state_machine_name
        );
        let execution_arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            id.region, id.account, id.state_machine_name, name
        );
        let role_arn = options
            .role_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/local-sfn", id.account));
        let base_context = json!({
            "Execution": {
                "Id": execution_arn,
                "Name": name,
                "Input": input,
                "StartTime": format_time(start),
                "RoleArn": role_arn,
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": state_machine_arn, "Name": id.state_machine_name},
        });
        let shared = Arc::new(Shared {
            registry: self.registry.clone(),
            clock: self.clock.clone(),
            history: History::default(),
            base_context,
            execution_name: name.to_string(),
            region: id.region.clone(),
        });
        let mut track = Track {
            last: 0,
            nested: false,
        };
        shared.record(
            &mut track,
            "ExecutionStarted",
            "executionStartedEventDetails",
            json!({"input": to_text(&input), "inputDetails": {"truncated": false}, "roleArn": role_arn}),
        );

        let run = run_machine(shared.clone(), self.machine.clone(), input, track);
        let deadline = self
            .machine
            .timeout_seconds
            .map(|seconds| start + chrono::Duration::seconds(seconds as i64));
        let timeout = {
            let clock = self.clock.clone();
            async move {
                match deadline {
                    Some(deadline) => clock.wait_until(deadline).await,
                    None => std::future::pending::<()>().await,
                }
            }
        };
        let abort = async {
            match &options.abort {
                Some(handle) => handle.aborted().await,
                None => std::future::pending::<()>().await,
            }
        };
        enum Ending {
            Done(Result<Value, Failure>),
            TimedOut,
            Aborted,
        }
        let ending = tokio::select! {
            biased;
            _ = abort => Ending::Aborted,
            _ = timeout => Ending::TimedOut,
            result = run => Ending::Done(result),
        };
        // On a virtual clock a Wait jumps time in one step, so the run can finish in the same
        // poll that carried time past the deadline: it still took longer than TimeoutSeconds.
        let ending = match (ending, deadline) {
            (Ending::Done(_), Some(deadline)) if self.clock.now() >= deadline => Ending::TimedOut,
            (ending, _) => ending,
        };
        let mut track = Track {
            last: shared.history.snapshot().len() as u64,
            nested: false,
        };
        let (status, output, error, cause) = match ending {
            Ending::Done(Ok(output)) => {
                shared.record(
                    &mut track,
                    "ExecutionSucceeded",
                    "executionSucceededEventDetails",
                    json!({"output": to_text(&output), "outputDetails": {"truncated": false}}),
                );
                (ExecutionStatus::Succeeded, Some(output), None, None)
            }
            Ending::Done(Err(failure)) => {
                shared.record(
                    &mut track,
                    "ExecutionFailed",
                    "executionFailedEventDetails",
                    json!({"error": failure.error, "cause": failure.cause}),
                );
                // A Fail state may omit Error/Cause; AWS then reports none rather than "".
                let present = |text: String| (!text.is_empty()).then_some(text);
                (
                    ExecutionStatus::Failed,
                    None,
                    present(failure.error),
                    present(failure.cause),
                )
            }
            Ending::TimedOut => {
                let cause = "The execution exceeded the state machine's TimeoutSeconds".to_string();
                shared.record(
                    &mut track,
                    "ExecutionTimedOut",
                    "executionTimedOutEventDetails",
                    json!({"error": names::TIMEOUT, "cause": cause}),
                );
                (
                    ExecutionStatus::TimedOut,
                    None,
                    Some(names::TIMEOUT.to_string()),
                    Some(cause),
                )
            }
            Ending::Aborted => {
                shared.record(
                    &mut track,
                    "ExecutionAborted",
                    "executionAbortedEventDetails",
                    json!({}),
                );
                (ExecutionStatus::Aborted, None, None, None)
            }
        };
        ExecutionResult {
            execution_arn: shared.base_context["Execution"]["Id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            name: name.to_string(),
            status,
            output,
            error,
            cause,
            start_date: start,
            stop_date: self.clock.now(),
            history: shared.history.snapshot(),
        }
    }
}

/// Sets `key` on an object value (no-op on anything else, which cannot happen for the objects
/// the engine builds itself).
fn set_member(target: &mut Value, key: &str, value: Value) {
    if let Some(object) = target.as_object_mut() {
        object.insert(key.to_string(), value);
    }
}

fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn to_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Everything the states of one execution share.
struct Shared {
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    history: History,
    base_context: Value,
    execution_name: String,
    region: String,
}

impl Shared {
    fn record(&self, track: &mut Track, event_type: &str, details_key: &str, details: Value) {
        self.history.record(
            track,
            self.clock.now(),
            event_type,
            Some((details_key, details)),
        );
    }

    fn record_bare(&self, track: &mut Track, event_type: &str) {
        self.history
            .record(track, self.clock.now(), event_type, None);
    }

    fn context(&self, state: &str, entered: DateTime<Utc>, retry_count: u32) -> Value {
        let mut context = self.base_context.clone();
        set_member(
            &mut context,
            "State",
            json!({
                "Name": state,
                "EnteredTime": format_time(entered),
                "RetryCount": retry_count,
            }),
        );
        context
    }
}

type BoxedRun = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send>>;

fn run_machine(
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

fn resolve_input(path: &PathField, input: &Value, context: &Value) -> Result<Value, Failure> {
    match path {
        PathField::Default => Ok(input.clone()),
        PathField::Null => Ok(json!({})),
        PathField::Path(p) => evaluate_path(p, input, context),
    }
}

fn evaluate_path(path: &JsonPath, input: &Value, context: &Value) -> Result<Value, Failure> {
    let doc = match path.root() {
        Root::Input => input,
        Root::Context => context,
    };
    path.evaluate(doc)
        .map_err(|e| Failure::runtime(format!("Invalid path '{path}': {e}")))
}

fn apply_result_path(path: &PathField, input: &Value, result: Value) -> Result<Value, Failure> {
    match path {
        PathField::Default => Ok(result),
        PathField::Null => Ok(input.clone()),
        PathField::Path(p) => p
            .write(input.clone(), result)
            .map_err(|e| Failure::runtime(e.to_string())),
    }
}

/// Fills a Parameters/ItemSelector/ResultSelector template.
pub(crate) fn render(
    template: &Template,
    input: &Value,
    context: &Value,
) -> Result<Value, Failure> {
    match template {
        Template::Literal(v) => Ok(v.clone()),
        Template::Array(items) => items
            .iter()
            .map(|t| render(t, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Template::Object(members) => {
            let mut out = serde_json::Map::new();
            for (key, member) in members {
                out.insert(key.clone(), render(member, input, context)?);
            }
            Ok(Value::Object(out))
        }
        Template::Dynamic(dynamic) => evaluate_dynamic(dynamic, input, context),
    }
}

fn evaluate_dynamic(dynamic: &Dynamic, input: &Value, context: &Value) -> Result<Value, Failure> {
    match dynamic {
        Dynamic::Path(p) => evaluate_path(p, input, context),
        Dynamic::Intrinsic(expr) => intrinsics::evaluate(expr, input, context),
    }
}

fn transition_target(transition: &Transition) -> Option<String> {
    match transition {
        Transition::Next(next) => Some(next.clone()),
        Transition::End => None,
    }
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
        json!({"name": state.name, "input": to_text(&input), "inputDetails": {"truncated": false}}),
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
        json!({"name": state.name, "output": to_text(&output), "outputDetails": {"truncated": false}}),
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
            let value = path
                .evaluate(input)
                .map_err(|e| Failure::runtime(format!("Invalid path '{path}': {e}")))?;
            value.as_u64().map(Duration::from_secs).ok_or_else(|| {
                Failure::runtime(format!(
                    "SecondsPath '{path}' must point to a non-negative integer, got {value}"
                ))
            })
        }
        WaitFor::Timestamp(text) => until(text),
        WaitFor::TimestampPath(path) => {
            let value = path
                .evaluate(input)
                .map_err(|e| Failure::runtime(format!("Invalid path '{path}': {e}")))?;
            let text = value.as_str().ok_or_else(|| {
                Failure::runtime(format!(
                    "TimestampPath '{path}' must point to a timestamp string, got {value}"
                ))
            })?;
            until(text)
        }
    }
}

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

/// Runs `attempt` under the state's Retry and Catch rules. Retrier budgets live for this one
/// visit of the state; each retrier's budget is shared by all errors it matches.
/// The states whose work is an attempt wrapped in Retry and Catch; one type so they share the
/// attempt loop, its context (with the retry count) and the transition that follows.
#[derive(Clone, Copy)]
enum Attempted<'a> {
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
async fn run_with_error_handling(
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

fn resource_parts(resource: &str) -> (String, String) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::")
        && let Some((service, action)) = rest.split_once(':')
    {
        return (service.to_string(), action.to_string());
    }
    if resource.starts_with("arn:aws:lambda:") {
        return ("lambda".into(), resource.to_string());
    }
    if resource.contains(":activity:") {
        return ("activity".into(), resource.to_string());
    }
    ("custom".into(), resource.to_string())
}

fn positive_seconds(value: &Value, what: &str) -> Result<u64, Failure> {
    value
        .as_u64()
        .filter(|v| *v > 0)
        .ok_or_else(|| Failure::runtime(format!("{what} must be a positive integer, got {value}")))
}

#[allow(clippy::too_many_arguments)]
async fn run_task_attempt(
    shared: &Arc<Shared>,
    state: &State,
    task: &crate::definition::TaskState,
    input: &Value,
    context: &Value,
    retry_count: u32,
    track: &mut Track,
) -> Result<Value, Failure> {
    let effective = resolve_input(&task.input_path, input, context)?;
    let parameters = match &task.parameters {
        Some(t) => render(t, &effective, context)?,
        None => effective,
    };
    let timeout = match (&task.timeout_seconds, &task.timeout_seconds_path) {
        (Some(s), _) => Some(*s),
        (None, Some(path)) => Some(positive_seconds(
            &evaluate_path(path, input, context)?,
            "TimeoutSecondsPath",
        )?),
        (None, None) => None,
    };
    let (resource_type, resource) = resource_parts(&task.resource);
    let mut scheduled = json!({
        "resourceType": resource_type,
        "resource": resource,
        "region": shared.region,
        "parameters": to_text(&parameters),
    });
    if let Some(t) = timeout {
        set_member(&mut scheduled, "timeoutInSeconds", json!(t));
    }
    shared.record(
        track,
        "TaskScheduled",
        "taskScheduledEventDetails",
        scheduled,
    );
    shared.record(
        track,
        "TaskStarted",
        "taskStartedEventDetails",
        json!({"resourceType": resource_type, "resource": resource}),
    );
    let started = shared.clock.now();
    let invocation = dispatch(shared, state, task, parameters, retry_count);
    let result = match timeout {
        Some(seconds) => {
            let deadline = started + chrono::Duration::seconds(seconds as i64);
            tokio::select! {
                result = invocation => result,
                _ = shared.clock.wait_until(deadline) => {
                    let failure = Failure::new(names::TIMEOUT, format!("The task did not complete within {seconds} seconds"));
                    shared.record(
                        track,
                        "TaskTimedOut",
                        "taskTimedOutEventDetails",
                        json!({"resourceType": resource_type, "resource": resource, "error": failure.error, "cause": failure.cause}),
                    );
                    return Err(failure);
                }
            }
        }
        None => invocation.await,
    };
    let result = result.and_then(|value| {
        if to_text(&value).len() > MAX_PAYLOAD_BYTES {
            Err(Failure::new(
                names::DATA_LIMIT_EXCEEDED,
                format!("The task result is larger than {MAX_PAYLOAD_BYTES} bytes"),
            ))
        } else {
            Ok(value)
        }
    });
    let value = match result {
        Ok(value) => {
            shared.record(
                track,
                "TaskSucceeded",
                "taskSucceededEventDetails",
                json!({"resourceType": resource_type, "resource": resource,
                       "output": to_text(&value), "outputDetails": {"truncated": false}}),
            );
            value
        }
        Err(failure) => {
            shared.record(
                track,
                "TaskFailed",
                "taskFailedEventDetails",
                json!({"resourceType": resource_type, "resource": resource,
                       "error": failure.error, "cause": failure.cause}),
            );
            return Err(failure);
        }
    };
    let selected = match &task.result_selector {
        Some(t) => render(t, &value, context)?,
        None => value,
    };
    let output = apply_result_path(&task.result_path, input, selected)?;
    resolve_input(&task.output_path, &output, context)
}

fn task_failure(error: TaskError) -> Failure {
    Failure::new(error.error, error.cause)
}

async fn dispatch(
    shared: &Arc<Shared>,
    state: &State,
    task: &crate::definition::TaskState,
    parameters: Value,
    retry_count: u32,
) -> Result<Value, Failure> {
    let resource = task.resource.as_str();
    let mut context = TaskContext {
        state_name: state.name.clone(),
        retry_count,
        resource: resource.to_string(),
        function_name: None,
        execution_name: shared.execution_name.clone(),
        clock: shared.clock.clone(),
    };
    if let Some(handler) = shared.registry.state_overrides.get(&state.name) {
        return handler
            .call(parameters, context)
            .await
            .map_err(task_failure);
    }
    if resource == LAMBDA_INVOKE {
        let function_name = parameters
            .get("FunctionName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Failure::runtime(format!(
                    "state '{}': lambda:invoke needs a string FunctionName parameter",
                    state.name
                ))
            })?
            .to_string();
        // UNCONFIRMED what AWS sends when Payload is omitted; null keeps it visible.
        let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
        let handler = shared.registry.find_task(&function_name).ok_or_else(|| {
            Failure::new(
                names::LAMBDA_RESOURCE_NOT_FOUND,
                format!("Function not found: {function_name}"),
            )
        })?;
        context.function_name = Some(function_name);
        return match handler.call(payload, context).await {
            Ok(result) => {
                let request_id = uuid::Uuid::new_v4().to_string();
                Ok(json!({
                    "ExecutedVersion": "$LATEST",
                    "Payload": result,
                    "SdkHttpMetadata": {
                        "HttpHeaders": {
                            "Content-Type": "application/json",
                            "X-Amz-Executed-Version": "$LATEST",
                            "x-amzn-RequestId": request_id,
                        },
                        "HttpStatusCode": 200,
                    },
                    "SdkResponseMetadata": {"RequestId": request_id},
                    "StatusCode": 200,
                }))
            }
            Err(error) => Err(lambda_failure(error)),
        };
    }
    if resource.starts_with("arn:aws:lambda:") {
        let handler = shared.registry.find_task(resource).ok_or_else(|| {
            Failure::new(
                names::LAMBDA_RESOURCE_NOT_FOUND,
                format!("Function not found: {resource}"),
            )
        })?;
        context.function_name = Some(resource.to_string());
        return handler
            .call(parameters, context)
            .await
            .map_err(lambda_failure);
    }
    if resource == SQS_SEND_MESSAGE {
        let queue_url = parameters
            .get("QueueUrl")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Failure::runtime(format!(
                    "state '{}': sqs:sendMessage needs a string QueueUrl parameter",
                    state.name
                ))
            })?
            .to_string();
        let body = match parameters.get("MessageBody") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => to_text(other),
            None => {
                return Err(Failure::runtime(format!(
                    "state '{}': sqs:sendMessage needs a MessageBody parameter",
                    state.name
                )));
            }
        };
        let handler = shared.registry.find_queue(&queue_url).ok_or_else(|| {
            Failure::new(
                "SQS.QueueDoesNotExistException",
                format!("The specified queue does not exist: {queue_url}"),
            )
        })?;
        let md5 = hex::encode(md5::Md5::digest(body.as_bytes()));
        let message_id = handler
            .send(QueueMessage {
                queue_url,
                body,
                parameters,
            })
            .await
            .map_err(task_failure)?;
        return Ok(json!({
            "MD5OfMessageBody": md5,
            "MessageId": message_id,
            "SdkHttpMetadata": {"HttpStatusCode": 200},
        }));
    }
    let handler = shared.registry.find_task(resource).ok_or_else(|| {
        // A missing handler is a wiring mistake, not a task outcome: make it uncatchable so it
        // cannot be silently routed down an error path.
        Failure::runtime(format!(
            "state '{}': no handler is registered for resource '{resource}'",
            state.name
        ))
    })?;
    handler
        .call(parameters, context)
        .await
        .map_err(task_failure)
}

/// A Lambda function error as Step Functions reports it: the function's error type is the
/// error name, and the cause is the function's error object serialised to a string.
fn lambda_failure(error: TaskError) -> Failure {
    let cause = to_text(&json!({"errorMessage": error.cause, "errorType": error.error}));
    Failure::new(error.error, cause)
}

fn resolve_number(spec: &NumberOrPath, input: &Value, what: &str) -> Result<f64, Failure> {
    match spec {
        NumberOrPath::Number(n) => Ok(*n),
        NumberOrPath::Path(path) => {
            let value = path
                .evaluate(input)
                .map_err(|e| Failure::runtime(format!("Invalid path '{path}': {e}")))?;
            value
                .as_f64()
                .filter(|v| *v >= 0.0)
                .ok_or_else(|| Failure::runtime(format!("{what} must be a non-negative number")))
        }
    }
}

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

async fn run_map_attempt(
    shared: &Arc<Shared>,
    state: &State,
    map: &crate::definition::MapState,
    input: &Value,
    context: &Value,
    track: &mut Track,
) -> Result<Value, Failure> {
    let effective = resolve_input(&map.input_path, input, context)?;
    let items = match &map.items_path {
        Some(path) => evaluate_path(path, &effective, context)?,
        None => effective.clone(),
    };
    let Value::Array(items) = items else {
        return Err(Failure::runtime(format!(
            "state '{}': ItemsPath must select an array",
            state.name
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
                let mut item_context = context.clone();
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
    shared.record(
        track,
        "MapStateStarted",
        "mapStateStartedEventDetails",
        json!({"length": total}),
    );
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    let mut failures = 0usize;
    let mut first_failure: Option<Failure> = None;
    let mut pending = iteration_inputs.into_iter().enumerate();
    let mut running: JoinSet<(usize, Result<Value, Failure>)> = JoinSet::new();
    let launch = |running: &mut JoinSet<_>, track: &mut Track, index: usize, item: Value| {
        shared.record(
            track,
            "MapIterationStarted",
            "mapIterationStartedEventDetails",
            json!({"name": state.name, "index": index}),
        );
        let iteration_track = Track {
            last: track.last,
            nested: true,
        };
        let run = run_machine(shared.clone(), map.processor.clone(), item, iteration_track);
        running.spawn(async move { (index, run.await) });
    };
    for _ in 0..limit {
        if let Some((index, item)) = pending.next() {
            launch(&mut running, track, index, item);
        }
    }
    let mut threshold_failure: Option<Failure> = None;
    while let Some(joined) = running.join_next().await {
        let (index, result) = joined.map_err(|e| {
            Failure::runtime(format!("a Map iteration of '{}' panicked: {e}", state.name))
        })?;
        match result {
            Ok(output) => {
                shared.record(
                    track,
                    "MapIterationSucceeded",
                    "mapIterationSucceededEventDetails",
                    json!({"name": state.name, "index": index}),
                );
                results.insert(index, output);
            }
            Err(failure) => {
                shared.record(
                    track,
                    "MapIterationFailed",
                    "mapIterationFailedEventDetails",
                    json!({"name": state.name, "index": index}),
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
                            state.name
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
            shared.record_bare(track, "MapIterationAborted");
        }
        shared.record_bare(track, "MapStateFailed");
        return Err(failure);
    }
    shared.record_bare(track, "MapStateSucceeded");
    let results = Value::Array(results.into_values().collect());
    let selected = match &map.result_selector {
        Some(t) => render(t, &results, context)?,
        None => results,
    };
    let output = apply_result_path(&map.result_path, input, selected)?;
    resolve_input(&map.output_path, &output, context)
}

async fn run_parallel_attempt(
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
    let mut running: JoinSet<(usize, Result<Value, Failure>)> = JoinSet::new();
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
        running.spawn(async move { (index, run.await) });
    }
    let mut results: BTreeMap<usize, Value> = BTreeMap::new();
    while let Some(joined) = running.join_next().await {
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
    let selected = match &parallel.result_selector {
        Some(t) => render(t, &results, context)?,
        None => results,
    };
    let output = apply_result_path(&parallel.result_path, input, selected)?;
    resolve_input(&parallel.output_path, &output, context)
}
