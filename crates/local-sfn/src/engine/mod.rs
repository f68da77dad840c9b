//! The interpreter: runs a [`StateMachine`] with registered handlers, producing the status,
//! output and history that Step Functions would.

mod dataflow;
mod map;
mod parallel;
mod retry;
mod states;
mod task;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use crate::choice::string_matches;
use crate::clock::{Clock, Participation, RealClock};
use crate::definition::StateMachine;
use crate::error::{DefinitionError, Failure, names};
use crate::handlers::{QueueHandler, TaskHandler};
use crate::history::{History, HistoryDetail, HistoryEvent, Track};

use dataflow::{format_time, set_member, to_text};
use states::run_machine;

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
    /// How much of each history event the execution keeps.
    pub history: HistoryDetail,
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
        let registry = self.registry_mut();
        registry.tasks.push((key.into(), Arc::new(handler)));
    }

    /// Registers the receiver of `sqs:sendMessage` for a `QueueUrl` (`*` is a wildcard).
    pub fn register_queue(
        &mut self,
        queue_url: impl Into<String>,
        handler: impl QueueHandler + 'static,
    ) {
        let registry = self.registry_mut();
        registry.queues.push((queue_url.into(), Arc::new(handler)));
    }

    /// Replaces whatever a Task state's resource would do with `handler`, which receives the
    /// state's effective parameters and returns the raw task result (no Lambda wrapper), the
    /// way mocked responses behave in Step Functions Local.
    pub fn register_state_override(
        &mut self,
        state_name: impl Into<String>,
        handler: impl TaskHandler + 'static,
    ) {
        let registry = self.registry_mut();
        registry
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
            history: History::new(options.history),
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
            json!({"input": shared.payload_text(&input), "inputDetails": {"truncated": false}, "roleArn": role_arn}),
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
            last: shared.history.len() as u64,
            nested: false,
        };
        let (status, output, error, cause) = match ending {
            Ending::Done(Ok(output)) => {
                shared.record(
                    &mut track,
                    "ExecutionSucceeded",
                    "executionSucceededEventDetails",
                    json!({"output": shared.payload_text(&output), "outputDetails": {"truncated": false}}),
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
            history: shared.history.take(),
        }
    }
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

/// The branches of a Map or Parallel state running on the clock: each finishes with its
/// index and result, and gives back its participation only when it has finished.
pub(super) type RunningBranches = JoinSet<((usize, Result<Value, Failure>), Participation)>;

impl Shared {
    /// Spawns a branch (a Map iteration, a Parallel branch) that counts as its own
    /// participant of the clock while it runs, so a branch sleeping while another works does
    /// not let time pass.
    fn spawn_branch<T: Send + 'static>(
        &self,
        running: &mut JoinSet<(T, Participation)>,
        branch: impl Future<Output = T> + Send + 'static,
    ) {
        let participation = self.clock.participate();
        running.spawn(async move { (branch.await, participation) });
    }

    /// Waits for the next branch to end. Meanwhile the caller steps aside, since only its
    /// branches work; it counts again before the ended branch stops counting, so there is no
    /// moment in which neither does. With no branch left it returns at once without stepping
    /// aside, which would leave nobody counting for the caller.
    async fn join_branch<T: Send + 'static>(
        &self,
        running: &mut JoinSet<(T, Participation)>,
    ) -> Option<Result<T, JoinError>> {
        if running.is_empty() {
            return None;
        }
        let aside = self.clock.step_aside();
        let joined = running.join_next().await;
        drop(aside);
        joined.map(|result| result.map(|(value, _participation)| value))
    }

    /// A state's input or output as its history event carries it: the JSON text, or nothing
    /// when the history keeps no payloads (not rendering them is most of their cost).
    fn payload_text(&self, value: &Value) -> String {
        if self.history.keeps_payloads() {
            to_text(value)
        } else {
            String::new()
        }
    }

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
